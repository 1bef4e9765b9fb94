/* The forwarder's note; see fwdnote.h. */
#include "leaf/fwdnote.h"

#include <stdlib.h>
#include <string.h>

#define MAGIC "AFN1"

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t *ae_fwdnote_encode(const ae_fwdnote_entry *e, size_t n, size_t *len)
{
    size_t cap = 4;
    for (size_t i = 0; i < n; i++) {
        size_t sl = strlen(e[i].stream);
        if (e[i].subject_len > UINT16_MAX || sl > UINT8_MAX)
            return NULL;
        cap += 2 + e[i].subject_len + 1 + sl + 16;
    }
    uint8_t *b = malloc(cap);
    if (!b)
        return NULL;
    memcpy(b, MAGIC, 4);
    size_t o = 4;
    for (size_t i = 0; i < n; i++) {
        size_t sl = strlen(e[i].stream);
        b[o] = (uint8_t)e[i].subject_len;
        b[o + 1] = (uint8_t)(e[i].subject_len >> 8);
        memcpy(b + o + 2, e[i].subject, e[i].subject_len);
        o += 2 + e[i].subject_len;
        b[o++] = (uint8_t)sl;
        memcpy(b + o, e[i].stream, sl);
        o += sl;
        put_u64(b + o, e[i].retired_seq);
        put_u64(b + o + 8, e[i].retired_sseq);
        o += 16;
    }
    *len = o;
    return b;
}

size_t ae_fwdnote_decode(const void *blob, size_t len,
                         void (*fn)(void *ctx, const char *subject, size_t subject_len,
                                    const char *stream, size_t stream_len, uint64_t retired_seq,
                                    uint64_t retired_sseq),
                         void *ctx)
{
    const uint8_t *p = blob, *end = p + len;
    if (len < 4 || memcmp(p, MAGIC, 4) != 0)
        return 0;
    p += 4;
    size_t n = 0;
    while (end - p >= 3) {
        size_t sl = (size_t)p[0] | (size_t)p[1] << 8;
        if ((size_t)(end - p) < 2 + sl + 1)
            break;
        size_t tl = p[2 + sl];
        if ((size_t)(end - p) < 2 + sl + 1 + tl + 16)
            break;
        const uint8_t *nums = p + 3 + sl + tl;
        fn(ctx, (const char *)p + 2, sl, (const char *)p + 3 + sl, tl, get_u64(nums),
           get_u64(nums + 8));
        n++;
        p += 2 + sl + 1 + tl + 16;
    }
    return n;
}
