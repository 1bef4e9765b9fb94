/* getrandom(2) wrappers; see random.h for why there is no fallback. */
#include "common/random.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int ae_random_bytes(void *buf, size_t len, ae_err *err)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return ae_err_set(err, AE_EIO, "getrandom: %s (the kernel gave no random bytes)",
                              n < 0 ? strerror(errno) : "no data");
        got += (size_t)n;
    }
    return 0;
}

int ae_random_below(uint32_t bound, uint32_t *out, ae_err *err)
{
    if (bound == 0)
        return ae_err_set(err, AE_EINVAL, "ae_random_below: the bound must be positive");
    /* Reject draws from the incomplete last block of the 32-bit range, so that every value
     * below bound is equally likely. */
    uint32_t limit = UINT32_MAX - (UINT32_MAX % bound);
    for (;;) {
        uint32_t r;
        int rc = ae_random_bytes(&r, sizeof r, err);
        if (rc)
            return rc;
        if (r < limit) {
            *out = r % bound;
            return 0;
        }
    }
}

int ae_random_secret(char *out, size_t cap, ae_err *err)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (cap < 2)
        return ae_err_set(err, AE_EINVAL, "ae_random_secret: the buffer holds no character");
    unsigned char raw[256];
    size_t n = cap - 1;
    if (n > sizeof raw)
        return ae_err_set(err, AE_EINVAL, "ae_random_secret: at most %zu characters", sizeof raw);
    int rc = ae_random_bytes(raw, n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[raw[i] & 63]; /* 64 letters: every byte maps evenly */
    out[n] = 0;
    memset(raw, 0, sizeof raw);
    return 0;
}
