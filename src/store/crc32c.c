/* Table-driven CRC32C, slicing by 8 (see crc32c.h). The reflected polynomial 0x82F63B78 is
 * the one iSCSI, ext4 and NATS JetStream use, so known vectors exist: "123456789" gives
 * 0xE3069283. */
#include "store/crc32c.h"

#include <pthread.h>
#include <string.h>

/* The only process-wide state in the store: eight 256-entry tables, written once by
 * build_tables under pthread_once and read-only afterwards. */
static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

uint32_t ae_crc32c(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    pthread_once(&tab_once, build_tables);
    crc = ~crc;
    while (n >= 8) {
        /* Byte-wise loads keep this independent of alignment and host byte order. */
        uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                             (uint32_t)b[3] << 24);
        crc = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
              tab[4][lo >> 24] ^ tab[3][b[4]] ^ tab[2][b[5]] ^ tab[1][b[6]] ^ tab[0][b[7]];
        b += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ tab[0][(crc ^ *b++) & 0xff];
    return ~crc;
}
