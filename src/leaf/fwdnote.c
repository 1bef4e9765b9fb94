/* The forwarder's note; see fwdnote.h. */
#include "leaf/fwdnote.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
        size_t dl = strlen(e[i].domain), sl = strlen(e[i].stream);
        if (e[i].subject_len > UINT16_MAX || dl > UINT8_MAX || sl > UINT8_MAX)
            return NULL;
        cap += 2 + e[i].subject_len + 1 + dl + 1 + sl + 16;
    }
    uint8_t *b = malloc(cap);
    if (!b)
        return NULL;
    memcpy(b, "AFN2", 4);
    size_t o = 4;
    for (size_t i = 0; i < n; i++) {
        size_t dl = strlen(e[i].domain), sl = strlen(e[i].stream);
        b[o] = (uint8_t)e[i].subject_len;
        b[o + 1] = (uint8_t)(e[i].subject_len >> 8);
        memcpy(b + o + 2, e[i].subject, e[i].subject_len);
        o += 2 + e[i].subject_len;
        b[o++] = (uint8_t)dl;
        memcpy(b + o, e[i].domain, dl);
        o += dl;
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

/* Takes a length-prefixed (u8) string at *p into out (NUL-terminated). */
static int take_str(const uint8_t **p, const uint8_t *end, char *out)
{
    if (end - *p < 1)
        return -1;
    size_t l = **p;
    if ((size_t)(end - *p) < 1 + l)
        return -1;
    memcpy(out, *p + 1, l);
    out[l] = 0;
    *p += 1 + l;
    return 0;
}

size_t ae_fwdnote_decode(const void *blob, size_t len,
                         void (*fn)(void *ctx, const ae_fwdnote_entry *e), void *ctx)
{
    const uint8_t *p = blob, *end = p + len;
    if (len < 4 || (memcmp(p, "AFN1", 4) != 0 && memcmp(p, "AFN2", 4) != 0))
        return 0;
    bool with_domain = p[3] == '2';
    p += 4;
    size_t n = 0;
    char *subject = malloc(UINT16_MAX + 1);
    if (!subject)
        return 0;
    char domain[UINT8_MAX + 1] = "", stream[UINT8_MAX + 1];
    while (end - p >= 2) {
        size_t sl = (size_t)p[0] | (size_t)p[1] << 8;
        if ((size_t)(end - p) < 2 + sl)
            break;
        memcpy(subject, p + 2, sl);
        subject[sl] = 0;
        p += 2 + sl;
        if ((with_domain && take_str(&p, end, domain) != 0) || take_str(&p, end, stream) != 0 ||
            end - p < 16)
            break;
        ae_fwdnote_entry e = {.subject = subject,
                              .subject_len = sl,
                              .domain = domain,
                              .stream = stream,
                              .retired_seq = get_u64(p),
                              .retired_sseq = get_u64(p + 8)};
        p += 16;
        fn(ctx, &e);
        n++;
    }
    free(subject);
    return n;
}
