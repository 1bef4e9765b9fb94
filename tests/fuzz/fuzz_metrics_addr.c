/* libFuzzer target: aerie-gw's metrics address (--metrics / metrics:, gw/metrics.h). Any
 * text either fails cleanly or yields a NUL-terminated host that fits and a port 1..65535;
 * a host never contains brackets or blanks. */
#include "gw/metrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *addr = malloc(size + 1);
    if (!addr)
        return 0;
    memcpy(addr, data, size);
    addr[size] = 0;
    for (size_t cap = 1; cap <= 64; cap *= 4) {
        char host[64];
        memset(host, 'x', sizeof host);
        int port = -1;
        if (ae_gw_metrics_parse_addr(addr, host, cap, &port) == 0) {
            if (!memchr(host, 0, cap) || port < 1 || port > 65535 || strpbrk(host, "[] \t\n"))
                abort();
        }
    }
    free(addr);
    return 0;
}
