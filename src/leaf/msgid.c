/* Keyed message ids; see msgid.h. */
#include "leaf/msgid.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define TAG_HEX 8

static void tag_of(const ae_msgid_key *k, const char *body, size_t len, char out[TAG_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), k->secret, AE_MSGID_KEY_LEN, (const unsigned char *)body, len, mac, &maclen);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < TAG_HEX / 2; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[TAG_HEX] = 0;
}

int ae_msgid_format(const ae_msgid_key *k, uint64_t seq, uint32_t inc, char *buf, size_t cap)
{
    char body[AE_MSGID_MAX];
    int n = inc ? snprintf(body, sizeof body, "%s.%016" PRIx64 ".%" PRIu64 "r%" PRIu32, k->vid,
                           k->epoch, seq, inc)
                : snprintf(body, sizeof body, "%s.%016" PRIx64 ".%" PRIu64, k->vid, k->epoch, seq);
    if (n < 0 || (size_t)n >= sizeof body)
        return -1;
    char tag[TAG_HEX + 1];
    tag_of(k, body, (size_t)n, tag);
    int m = snprintf(buf, cap, "%s-%s", body, tag);
    return m < 0 || (size_t)m >= cap ? -1 : m;
}

/* Reads decimal digits [p, end) into *v; false when empty, not all digits, or too large. */
static bool read_u64(const char *p, const char *end, uint64_t *v)
{
    if (p >= end || end - p > 20)
        return false;
    uint64_t x = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        uint64_t d = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

ae_msgid_verdict ae_msgid_parse(const ae_msgid_key *k, const char *id, size_t len, uint64_t *seq,
                                uint32_t *inc)
{
    char prefix[AE_MSGID_MAX];
    int pl = snprintf(prefix, sizeof prefix, "%s.%016" PRIx64 ".", k->vid, k->epoch);
    if (pl < 0 || (size_t)pl >= sizeof prefix || len <= (size_t)pl + TAG_HEX + 1 ||
        memcmp(id, prefix, (size_t)pl) != 0)
        return AE_MSGID_FOREIGN;
    const char *end = id + len;
    const char *dash = end - TAG_HEX - 1;
    if (*dash != '-')
        return AE_MSGID_FORGED;
    const char *p = id + pl;
    const char *r = memchr(p, 'r', (size_t)(dash - p));
    uint64_t s = 0, i = 0;
    if (!read_u64(p, r ? r : dash, &s) || s == 0 ||
        (r && (!read_u64(r + 1, dash, &i) || i == 0 || i > UINT32_MAX)))
        return AE_MSGID_FORGED;
    char tag[TAG_HEX + 1];
    tag_of(k, id, (size_t)(dash - id), tag);
    if (CRYPTO_memcmp(tag, dash + 1, TAG_HEX) != 0)
        return AE_MSGID_FORGED;
    *seq = s;
    *inc = (uint32_t)i;
    return AE_MSGID_OURS;
}
