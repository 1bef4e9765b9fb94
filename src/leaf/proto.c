/* The NATS protocol parser (see proto.h for the contract).
 *
 * One call recognises one operation at the front of the caller's buffer. The work is a
 * single pass: name the op from its first few bytes, find the end of the control line
 * with memchr (bounded by the control-line limit so an endless line costs at most
 * limit + a little per call), split the arguments from both ends, then look at exactly
 * two bytes after the payload. Nothing is copied and nothing is remembered between
 * calls, so a caller that gets 0 simply calls again with more bytes.
 *
 * The parser is built so that a prefix of any byte stream never reports an error that
 * the whole stream would not report at the same position: every early verdict (unknown
 * op name, over-long control line, bad payload terminator) is based only on bytes that
 * the longer stream has too, and is the same verdict the longer stream reaches. The fuzz
 * target (tests/fuzz/fuzz_proto.c) asserts this. */
#include "leaf/proto.h"

#include <string.h>

/* Room for whitespace around the arguments (the separator after the op name, trailing
 * blanks, the CR) that the limit on the argument text itself does not count. Bytes
 * beyond limit + SLACK without a line end are rejected before the line end arrives. */
#define CTL_SLACK 16
/* A hub's control lines (INFO with many URLs, LMSG with many queue names) are bounded by
 * this when the caller sets no limit for a leaf connection. */
#define LEAF_HARD_CAP (64 * 1024)
/* "CONNECT" is the longest op name. */
#define MAX_OP_NAME 7

/* ---- op names ----------------------------------------------------------------------- */

enum { FOR_CLIENT = 1, FOR_LEAF = 2 };

typedef struct op_name {
    const char *lower; /* lower-case spelling */
    uint8_t len;
    uint8_t kinds; /* FOR_CLIENT | FOR_LEAF */
    ae_op_kind op;
} op_name;

static const op_name OP_NAMES[] = {
    {"pub", 3, FOR_CLIENT, AE_OP_PUB},
    {"hpub", 4, FOR_CLIENT, AE_OP_HPUB},
    {"sub", 3, FOR_CLIENT, AE_OP_SUB},
    {"unsub", 5, FOR_CLIENT, AE_OP_UNSUB},
    {"ping", 4, FOR_CLIENT | FOR_LEAF, AE_OP_PING},
    {"pong", 4, FOR_CLIENT | FOR_LEAF, AE_OP_PONG},
    {"+ok", 3, FOR_CLIENT | FOR_LEAF, AE_OP_OK},
    {"-err", 4, FOR_CLIENT | FOR_LEAF, AE_OP_ERR},
    {"connect", 7, FOR_CLIENT | FOR_LEAF, AE_OP_CONNECT},
    {"info", 4, FOR_CLIENT | FOR_LEAF, AE_OP_INFO},
    {"lmsg", 4, FOR_LEAF, AE_OP_LMSG},
    {"hmsg", 4, FOR_LEAF, AE_OP_HMSG},
    {"ls+", 3, FOR_LEAF, AE_OP_LSUB},
    {"ls-", 3, FOR_LEAF, AE_OP_LUNSUB},
};
#define N_OP_NAMES (sizeof OP_NAMES / sizeof OP_NAMES[0])

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Field separators inside a control line. CR counts so that "CRLF" and a stray CR before
 * the LF both vanish when the arguments are trimmed, as nats-server's argument splitter
 * also treats it. */
static inline bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* What ends an op name: a blank or the line end. */
static inline bool ends_name(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Packs up to four lower-cased bytes so an op name compares as one integer. */
#define PACK4(a, b, c, d)                                                                          \
    ((uint32_t)(uint8_t)(a) | (uint32_t)(uint8_t)(b) << 8 | (uint32_t)(uint8_t)(c) << 16 |         \
     (uint32_t)(uint8_t)(d) << 24)

static bool name_eq(const uint8_t *t, const char *lower_name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(t[i]) != (uint8_t)lower_name[i])
            return false;
    return true;
}

/* Names the complete op token t[0..n), or AE_OP_NONE. The switch keeps the hot ops (PUB,
 * HPUB, LMSG, HMSG) to one integer compare. Legality for the connection kind is checked
 * by the caller. */
static ae_op_kind name_op(const uint8_t *t, size_t n)
{
    uint32_t w;
    switch (n) {
    case 3:
        w = PACK4(lower(t[0]), lower(t[1]), lower(t[2]), 0);
        if (w == PACK4('p', 'u', 'b', 0))
            return AE_OP_PUB;
        if (w == PACK4('s', 'u', 'b', 0))
            return AE_OP_SUB;
        if (w == PACK4('+', 'o', 'k', 0))
            return AE_OP_OK;
        if (w == PACK4('l', 's', '+', 0))
            return AE_OP_LSUB;
        if (w == PACK4('l', 's', '-', 0))
            return AE_OP_LUNSUB;
        return AE_OP_NONE;
    case 4:
        w = PACK4(lower(t[0]), lower(t[1]), lower(t[2]), lower(t[3]));
        if (w == PACK4('h', 'p', 'u', 'b'))
            return AE_OP_HPUB;
        if (w == PACK4('l', 'm', 's', 'g'))
            return AE_OP_LMSG;
        if (w == PACK4('h', 'm', 's', 'g'))
            return AE_OP_HMSG;
        if (w == PACK4('p', 'i', 'n', 'g'))
            return AE_OP_PING;
        if (w == PACK4('p', 'o', 'n', 'g'))
            return AE_OP_PONG;
        if (w == PACK4('i', 'n', 'f', 'o'))
            return AE_OP_INFO;
        if (w == PACK4('-', 'e', 'r', 'r'))
            return AE_OP_ERR;
        return AE_OP_NONE;
    case 5:
        return name_eq(t, "unsub", 5) ? AE_OP_UNSUB : AE_OP_NONE;
    case 7:
        return name_eq(t, "connect", 7) ? AE_OP_CONNECT : AE_OP_NONE;
    default:
        return AE_OP_NONE;
    }
}

/* Which connection kinds may send each op, indexed by ae_op_kind (mirrors OP_NAMES). */
static const uint8_t OP_KINDS[AE_OP_HMSG + 1] = {
    [AE_OP_CONNECT] = FOR_CLIENT | FOR_LEAF,
    [AE_OP_INFO] = FOR_CLIENT | FOR_LEAF,
    [AE_OP_PUB] = FOR_CLIENT,
    [AE_OP_HPUB] = FOR_CLIENT,
    [AE_OP_SUB] = FOR_CLIENT,
    [AE_OP_UNSUB] = FOR_CLIENT,
    [AE_OP_PING] = FOR_CLIENT | FOR_LEAF,
    [AE_OP_PONG] = FOR_CLIENT | FOR_LEAF,
    [AE_OP_OK] = FOR_CLIENT | FOR_LEAF,
    [AE_OP_ERR] = FOR_CLIENT | FOR_LEAF,
    [AE_OP_LSUB] = FOR_LEAF,
    [AE_OP_LUNSUB] = FOR_LEAF,
    [AE_OP_LMSG] = FOR_LEAF,
    [AE_OP_HMSG] = FOR_LEAF,
};

/* True if t[0..n) (no separator seen yet) could still grow into an op name this
 * connection kind may send. Only runs while an op name is split across reads. */
static bool could_be_op(const uint8_t *t, size_t n, uint8_t kinds)
{
    for (size_t i = 0; i < N_OP_NAMES; i++)
        if ((OP_NAMES[i].kinds & kinds) && n <= OP_NAMES[i].len && name_eq(t, OP_NAMES[i].lower, n))
            return true;
    return false;
}

/* ---- argument fields ---------------------------------------------------------------- */

/* Takes the first field of [*p, end) (which starts with a non-blank byte) and moves *p past
 * it and the blanks that follow, so *p == end means no fields are left. */
static ae_slice take_front(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *s = *p, *q = s;
    while (q < end && !is_blank(*q))
        q++;
    ae_slice f = {(const char *)s, (size_t)(q - s)};
    while (q < end && is_blank(*q))
        q++;
    *p = q;
    return f;
}

/* Takes the last field of [start, *end) (which ends with a non-blank byte) and moves *end
 * back over it and the blanks before it. */
static ae_slice take_back(const uint8_t *start, const uint8_t **end)
{
    const uint8_t *e = *end, *q = e;
    while (q > start && !is_blank(q[-1]))
        q--;
    ae_slice f = {(const char *)q, (size_t)(e - q)};
    while (q > start && is_blank(q[-1]))
        q--;
    *end = q;
    return f;
}

/* Parses a non-negative decimal no larger than max. */
static bool parse_uint(ae_slice s, uint64_t max, uint64_t *out)
{
    if (s.len == 0 || s.len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned)((uint8_t)s.ptr[i] - '0');
        if (d > 9)
            return false;
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Parses a decimal byte count: digits only, no sign, no overflow. */
static bool parse_size(ae_slice s, size_t *out)
{
    uint64_t v;
    if (!parse_uint(s, SIZE_MAX, &v))
        return false;
    *out = (size_t)v;
    return true;
}

static bool is_marker(ae_slice s, char c)
{
    return s.len == 1 && s.ptr[0] == c;
}

/* LMSG/HMSG arguments: subject [reply | "|" queues | "+" reply queues] [hdr] total. */
static int parse_lmsg_args(ae_op *op, const uint8_t *a, const uint8_t *b)
{
    ae_slice f;
    if (a == b)
        return -AE_PERR_BAD_ARGS;
    op->subject = take_front(&a, b);
    if (a == b)
        return -AE_PERR_BAD_ARGS;
    if (!parse_size(take_back(a, &b), &op->total_len))
        return -AE_PERR_BAD_ARGS;
    if (op->kind == AE_OP_HMSG) {
        if (a == b || !parse_size(take_back(a, &b), &op->hdr_len))
            return -AE_PERR_BAD_ARGS;
    }
    if (a == b)
        return 0;
    f = take_front(&a, b);
    if (a == b) {
        /* A lone "|" or "+" would be a queue form without queues. */
        if (is_marker(f, '|') || is_marker(f, '+'))
            return -AE_PERR_BAD_ARGS;
        op->reply = f;
        return 0;
    }
    if (is_marker(f, '+')) {
        op->reply = take_front(&a, b);
        if (a == b)
            return -AE_PERR_BAD_ARGS;
    } else if (!is_marker(f, '|')) {
        return -AE_PERR_BAD_ARGS;
    }
    op->queues = (ae_slice){(const char *)a, (size_t)(b - a)};
    return 0;
}

/* Fills *op from the trimmed arguments [a, b) of a control line whose op is op->kind.
 * Returns 0 or -AE_PERR_BAD_ARGS. */
static int parse_args(ae_op *op, const uint8_t *a, const uint8_t *b)
{
    ae_slice f;
    uint64_t u;
    switch (op->kind) {
    case AE_OP_PUB:
    case AE_OP_HPUB:
        /* subject [reply] [hdr] total */
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->subject = take_front(&a, b);
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        if (!parse_size(take_back(a, &b), &op->total_len))
            return -AE_PERR_BAD_ARGS;
        if (op->kind == AE_OP_HPUB) {
            if (a == b || !parse_size(take_back(a, &b), &op->hdr_len))
                return -AE_PERR_BAD_ARGS;
        }
        if (a < b) {
            op->reply = take_front(&a, b);
            if (a < b)
                return -AE_PERR_BAD_ARGS;
        }
        break;
    case AE_OP_LMSG:
    case AE_OP_HMSG:
        return parse_lmsg_args(op, a, b);
    case AE_OP_SUB:
        /* subject [queue] sid */
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->subject = take_front(&a, b);
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->sid = take_back(a, &b);
        if (a < b) {
            op->queue = take_front(&a, b);
            if (a < b)
                return -AE_PERR_BAD_ARGS;
        }
        break;
    case AE_OP_UNSUB:
        /* sid [max_msgs] */
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->sid = take_front(&a, b);
        if (a < b) {
            /* nats-server reads a max that is not a number (or overflows) as "none": the
             * subscription goes at once. A third argument is an error. */
            f = take_front(&a, b);
            if (a < b)
                return -AE_PERR_BAD_ARGS;
            op->max_msgs = parse_uint(f, INT64_MAX, &u) ? (int64_t)u : -1;
        }
        break;
    case AE_OP_LSUB:
        /* subject [queue weight] */
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->subject = take_front(&a, b);
        if (a == b)
            break;
        op->queue = take_front(&a, b);
        if (a == b || !parse_uint(take_front(&a, b), INT32_MAX, &u) || a < b)
            return -AE_PERR_BAD_ARGS;
        /* nats-server treats a weight below 1 as 1; so do we. */
        op->weight = u < 1 ? 1 : (int32_t)u;
        break;
    case AE_OP_LUNSUB:
        /* subject [queue] */
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->subject = take_front(&a, b);
        if (a < b) {
            op->queue = take_front(&a, b);
            if (a < b)
                return -AE_PERR_BAD_ARGS;
        }
        break;
    case AE_OP_CONNECT:
    case AE_OP_INFO:
        /* nats-server closes on an empty CONNECT (its JSON does not parse). */
        if (a == b)
            return -AE_PERR_BAD_ARGS;
        op->arg = (ae_slice){(const char *)a, (size_t)(b - a)};
        break;
    case AE_OP_ERR:
        if (b - a >= 2 && a[0] == '\'' && b[-1] == '\'') {
            a++;
            b--;
        }
        op->arg = (ae_slice){(const char *)a, (size_t)(b - a)};
        break;
    case AE_OP_PING:
    case AE_OP_PONG:
    case AE_OP_OK:
        if (a != b)
            return -AE_PERR_BAD_ARGS;
        break;
    default:
        return -AE_PERR_UNKNOWN_OP;
    }
    return 0;
}

/* ---- the parser --------------------------------------------------------------------- */

ptrdiff_t ae_proto_parse(const ae_proto_limits *lim, const uint8_t *buf, size_t len, ae_op *op,
                         size_t *need)
{
    const uint8_t kinds = lim->kind == AE_PROTO_LEAF ? FOR_LEAF : FOR_CLIENT;
    if (need)
        *need = 0;
    if (len == 0)
        return 0;

    /* 1. The op name: up to the first blank or line end. */
    size_t scan = len < MAX_OP_NAME + 1 ? len : MAX_OP_NAME + 1;
    size_t nlen = 0;
    while (nlen < scan && !ends_name(buf[nlen]))
        nlen++;
    if (nlen == scan) {
        /* No separator yet: wait only while the bytes can still become a legal name. */
        if (nlen <= MAX_OP_NAME && could_be_op(buf, nlen, kinds))
            return 0;
        return -AE_PERR_UNKNOWN_OP;
    }
    ae_op_kind kind = name_op(buf, nlen);
    if (!(OP_KINDS[kind] & kinds))
        return -AE_PERR_UNKNOWN_OP;

    /* 2. The line end, searched no further than the limit allows, so a peer that never
     * sends LF is refused after limit + slack bytes instead of growing our buffer. */
    size_t limit = lim->max_control_line;
    if (limit == 0 && lim->kind == AE_PROTO_LEAF)
        limit = LEAF_HARD_CAP;
    size_t rest = len - nlen;
    size_t window = rest;
    if (limit != 0 && limit <= SIZE_MAX - CTL_SLACK && window > limit + CTL_SLACK)
        window = limit + CTL_SLACK;
    const uint8_t *lf = memchr(buf + nlen, '\n', window);
    if (!lf)
        return window < rest ? -AE_PERR_MAX_CONTROL : 0;

    /* 3. Trim the argument part; its text must fit the limit. */
    const uint8_t *a = buf + nlen, *b = lf;
    while (a < b && is_blank(*a))
        a++;
    while (b > a && is_blank(b[-1]))
        b--;
    if (limit != 0 && (size_t)(b - a) > limit)
        return -AE_PERR_MAX_CONTROL;

    op->kind = kind;
    op->subject = op->reply = op->queue = op->queues = op->sid = op->arg = (ae_slice){NULL, 0};
    op->max_msgs = -1;
    op->weight = 1;
    op->hdr_len = 0;
    op->total_len = 0;
    op->payload = NULL;
    int rc = parse_args(op, a, b);
    if (rc < 0)
        return rc;

    size_t ctl = (size_t)(lf - buf) + 1;
    if (kind != AE_OP_PUB && kind != AE_OP_HPUB && kind != AE_OP_LMSG && kind != AE_OP_HMSG) {
        if (need)
            *need = ctl;
        return (ptrdiff_t)ctl;
    }

    /* 4. Payload ops: sizes are checked before a single payload byte is waited for. */
    if (op->hdr_len > op->total_len)
        return -AE_PERR_BAD_ARGS;
    if ((kind == AE_OP_PUB || kind == AE_OP_HPUB) && lim->max_payload != 0 &&
        op->total_len > lim->max_payload)
        return -AE_PERR_MAX_PAYLOAD;
    if (op->total_len > (size_t)PTRDIFF_MAX - ctl - 2)
        return -AE_PERR_BAD_ARGS;
    size_t end = ctl + op->total_len; /* where the CRLF after the payload sits */
    op->payload = buf + ctl;
    /* Judge each terminator byte as soon as it is there: a payload longer than declared is
     * refused without waiting for the rest. */
    if (len > end && buf[end] != '\r')
        return -AE_PERR_PAYLOAD_END;
    if (len > end + 1 && buf[end + 1] != '\n')
        return -AE_PERR_PAYLOAD_END;
    if (need)
        *need = end + 2;
    if (len < end + 2)
        return 0;
    return (ptrdiff_t)(end + 2);
}

const char *ae_proto_err_text(ae_perr err)
{
    switch (err) {
    case AE_PERR_UNKNOWN_OP:
    case AE_PERR_PAYLOAD_END:
        return "Unknown Protocol Operation";
    case AE_PERR_MAX_CONTROL:
        return "maximum control line exceeded";
    case AE_PERR_MAX_PAYLOAD:
        return "Maximum Payload Violation";
    case AE_PERR_BAD_ARGS:
    case AE_PERR_NONE:
    default:
        return NULL;
    }
}

bool ae_proto_next_queue(ae_slice queues, size_t *pos, ae_slice *name)
{
    const uint8_t *p = (const uint8_t *)queues.ptr;
    size_t i = *pos;
    while (i < queues.len && is_blank(p[i]))
        i++;
    if (i >= queues.len) {
        *pos = queues.len;
        return false;
    }
    size_t start = i;
    while (i < queues.len && !is_blank(p[i]))
        i++;
    name->ptr = queues.ptr + start;
    name->len = i - start;
    *pos = i;
    return true;
}
