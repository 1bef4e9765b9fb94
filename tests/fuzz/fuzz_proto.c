/* libFuzzer target for the NATS protocol parser (src/leaf/proto.c).
 *
 * Input layout: byte 0 picks the connection kind and a limits profile, byte 1 picks
 * where to cut the stream in two, the rest is the byte stream a peer sent.
 *
 * The stream is parsed as a connection would (consume ops until "need more" or an error)
 * from an exact-size heap copy, so ASan catches any read past what the parser was given.
 * Every result is checked for sanity (slices inside the op, need larger than what is
 * buffered, known error codes). Then the stream is replayed in two pieces, and the
 * invariant that makes split reads safe is asserted: parsing a prefix of the bytes at
 * some position yields either "need more" or exactly what the whole buffer yields there
 * -- the same op with the same length, or the same error. In particular a prefix never
 * errors where the whole stream has a complete op, and a reported need is the final op
 * length. Violations abort(). */
#include "leaf/proto.h"

#include <stdlib.h>
#include <string.h>

#define MAX_OPS 4096

typedef struct fp {
    ptrdiff_t r;  /* result at this position */
    size_t pos;   /* stream offset of the op */
    size_t need;  /* need reported with r == 0 */
    int kind;     /* op fields below only when r > 0 */
    size_t so[6]; /* slice offsets from pos (SIZE_MAX for NULL) */
    size_t sl[6]; /* slice lengths */
    int64_t max_msgs;
    int32_t weight;
    size_t hdr_len, total_len, payload_off;
} fp;

static void check(int cond)
{
    if (!cond)
        abort();
}

/* Checks one result and renders it as a position-independent fingerprint. */
static void fingerprint(fp *f, const uint8_t *base, size_t avail, ptrdiff_t r, const ae_op *op,
                        size_t need)
{
    memset(f, 0, sizeof *f);
    f->r = r;
    if (r < 0) {
        check(r >= -AE_PERR_PAYLOAD_END);
        check(need == 0);
        return;
    }
    if (r == 0) {
        check(need == 0 || need > avail);
        f->need = need;
        return;
    }
    check((size_t)r <= avail);
    check(need == (size_t)r);
    const ae_slice s[6] = {op->subject, op->reply, op->queue, op->queues, op->sid, op->arg};
    for (int i = 0; i < 6; i++) {
        if (s[i].len == 0) {
            f->so[i] = SIZE_MAX;
            continue;
        }
        const uint8_t *p = (const uint8_t *)s[i].ptr;
        check(p >= base && p + s[i].len <= base + r);
        f->so[i] = (size_t)(p - base);
        f->sl[i] = s[i].len;
    }
    f->kind = op->kind;
    check(op->kind > AE_OP_NONE && op->kind <= AE_OP_HMSG);
    f->max_msgs = op->max_msgs;
    f->weight = op->weight;
    f->hdr_len = op->hdr_len;
    f->total_len = op->total_len;
    if (op->kind == AE_OP_PUB || op->kind == AE_OP_HPUB || op->kind == AE_OP_LMSG ||
        op->kind == AE_OP_HMSG) {
        check(op->hdr_len <= op->total_len);
        check(op->payload >= base && op->payload + op->total_len + 2 == base + r);
        check(op->payload[op->total_len] == '\r' && op->payload[op->total_len + 1] == '\n');
        f->payload_off = (size_t)(op->payload - base);
    }
}

/* Parses at stream offset pos of a buffer holding `have` stream bytes. */
static void step(const ae_proto_limits *lim, const uint8_t *buf, size_t have, size_t pos, fp *f)
{
    ae_op op;
    size_t need = 77;
    ptrdiff_t r = ae_proto_parse(lim, buf + pos, have - pos, &op, &need);
    fingerprint(f, buf + pos, have - pos, r, &op, need);
    f->pos = pos;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (!d)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

/* A prefix result must be "need more" or identical to the whole result. */
static void agree(const fp *prefix, const fp *whole)
{
    if (prefix->r == 0) {
        /* A need learned early is the length the op finally has. */
        if (prefix->need && whole->r > 0)
            check(prefix->need == (size_t)whole->r);
        if (prefix->need && whole->r == 0)
            check(whole->need == prefix->need);
        return;
    }
    check(memcmp(prefix, whole, sizeof *prefix) == 0);
}

static fp whole_ops[MAX_OPS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const struct {
        size_t mcl, mp;
    } profiles[4] = {{0, 0}, {16, 8}, {4096, 1048576}, {1, 0}};
    ae_proto_limits lim = {
        .kind = (data[0] & 1) ? AE_PROTO_LEAF : AE_PROTO_CLIENT,
        .max_control_line = profiles[(data[0] >> 1) & 3].mcl,
        .max_payload = profiles[(data[0] >> 1) & 3].mp,
    };
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    size_t cut = n ? (size_t)data[1] * (n + 1) / 256 : 0;

    /* 1. The whole stream, op by op, as a connection would consume it. */
    uint8_t *whole = dup_exact(in, n);
    size_t nops = 0, pos = 0;
    for (;;) {
        fp *f = &whole_ops[nops];
        step(&lim, whole, n, pos, f);
        nops++;
        if (f->r <= 0 || nops == MAX_OPS)
            break;
        pos += (size_t)f->r;
    }

    /* 2. The same stream in two pieces: the first `cut` bytes, then all of it. */
    uint8_t *first = dup_exact(in, cut);
    size_t i = 0;
    pos = 0;
    for (; i < nops; i++) {
        fp f;
        step(&lim, first, cut, pos, &f);
        agree(&f, &whole_ops[i]);
        if (f.r <= 0)
            break;
        pos += (size_t)f.r;
    }
    if (i < nops && whole_ops[i].r >= 0) {
        for (; i < nops; i++) {
            fp f;
            step(&lim, whole, n, pos, &f);
            check(memcmp(&f, &whole_ops[i], sizeof f) == 0);
            if (f.r <= 0)
                break;
            pos += (size_t)f.r;
        }
    }

    /* 3. Every shorter prefix of the first op agrees with it (cheap: ops are short). */
    size_t lim_k = n < 512 ? n : 512;
    for (size_t k = 0; k < lim_k; k++) {
        uint8_t *p = dup_exact(in, k);
        fp f;
        step(&lim, p, k, 0, &f);
        agree(&f, &whole_ops[0]);
        free(p);
    }

    free(first);
    free(whole);
    return 0;
}
