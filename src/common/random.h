/* Randomness from the kernel (getrandom(2)): secrets (passwords the tools generate) and the
 * choices that must differ between processes (ports, jitter). There is no fallback: when the
 * kernel cannot give random bytes the call fails, because a password derived from a clock
 * can be guessed, and two processes seeded from a clock draw the same "random" numbers. */
#ifndef AERIE_COMMON_RANDOM_H
#define AERIE_COMMON_RANDOM_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* Length of the secrets ae_random_secret makes by default: 24 characters of a 64-letter
 * alphabet are 144 bits. */
#define AE_SECRET_LEN 24

/* Fills buf with len random bytes (retrying short reads and EINTR). Returns 0, or AE_EIO
 * with a message naming getrandom and the reason. */
int ae_random_bytes(void *buf, size_t len, ae_err *err);

/* A uniformly random number in [0, bound) (bound > 0; no modulo bias). Returns 0 and the
 * number in *out, or AE_EIO / AE_EINVAL (bound 0). */
int ae_random_below(uint32_t bound, uint32_t *out, ae_err *err);

/* A secret of cap - 1 characters from the URL-safe alphabet A-Z a-z 0-9 '-' '_' (6 bits per
 * character), NUL-terminated, for passwords that go into URLs and quoted config strings.
 * cap must be at least 2; use AE_SECRET_LEN + 1. Returns 0 or AE_EIO / AE_EINVAL. */
int ae_random_secret(char *out, size_t cap, ae_err *err);

#endif
