/* Unit tests for the NATS protocol parser (src/leaf/proto.c).
 *
 * Every parse in this file runs on bytes placed so that they end exactly at a PROT_NONE
 * guard page (as picohttpparser's tests do): reading one byte past what the parser was
 * given crashes the case. Parsed ops are rendered to one-line summaries and compared as
 * strings, so a failure shows both sides.
 *
 * The split tests replay multi-op transcripts as a connection would receive them: cut at
 * every byte offset, and one byte at a time. After each delivery every complete op is
 * consumed; a prefix may only yield complete ops or "need more", never an error, and the
 * final op sequence must equal the one parsed from the whole buffer.
 *
 * Wire vectors come from the project's NATS wire notes (nats-server 2.9.10 and libnats
 * 3.4.1 captures): the libnats transcript of §1.12 and the leafnode captures of §2.5/2.6
 * are copied below verbatim. */
#include "harness/harness.h"
#include "leaf/proto.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- guard-page placement ----------------------------------------------------------- */

#define GUARD_DATA (256 * 1024)

static uint8_t *guard_base; /* GUARD_DATA readable bytes, then one PROT_NONE page */

/* Copies data to end right before the guard page and returns where it starts. */
static const uint8_t *guarded(const void *data, size_t len)
{
    if (!guard_base) {
        long pg = sysconf(_SC_PAGESIZE);
        AH_ASSERT(pg > 0 && GUARD_DATA % pg == 0);
        void *m = mmap(NULL, GUARD_DATA + (size_t)pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        AH_ASSERT(m != MAP_FAILED);
        AH_ASSERT(mprotect((uint8_t *)m + GUARD_DATA, (size_t)pg, PROT_NONE) == 0);
        guard_base = m;
    }
    AH_ASSERT(len <= GUARD_DATA);
    uint8_t *dst = guard_base + GUARD_DATA - len;
    if (len)
        memmove(dst, data, len);
    return dst;
}

static ptrdiff_t gparse(const ae_proto_limits *lim, const void *data, size_t len, ae_op *op,
                        size_t *need)
{
    return ae_proto_parse(lim, guarded(data, len), len, op, need);
}

/* ---- op summaries ------------------------------------------------------------------- */

static const char *kind_name(ae_op_kind k)
{
    switch (k) {
    case AE_OP_CONNECT:
        return "CONNECT";
    case AE_OP_INFO:
        return "INFO";
    case AE_OP_PUB:
        return "PUB";
    case AE_OP_HPUB:
        return "HPUB";
    case AE_OP_SUB:
        return "SUB";
    case AE_OP_UNSUB:
        return "UNSUB";
    case AE_OP_PING:
        return "PING";
    case AE_OP_PONG:
        return "PONG";
    case AE_OP_OK:
        return "OK";
    case AE_OP_ERR:
        return "ERR";
    case AE_OP_LSUB:
        return "LS+";
    case AE_OP_LUNSUB:
        return "LS-";
    case AE_OP_LMSG:
        return "LMSG";
    case AE_OP_HMSG:
        return "HMSG";
    default:
        return "?";
    }
}

typedef struct sbuf {
    char s[16384];
    size_t n;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    AH_ASSERT(w >= 0 && (size_t)w < sizeof b->s - b->n);
    b->n += (size_t)w;
}

/* Appends a slice with CR/LF/tab made visible so summaries stay on one line. */
static void put_bytes(sbuf *b, const char *tag, const void *p, size_t n)
{
    put(b, " %s=", tag);
    const uint8_t *q = p;
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '\r')
            put(b, "\\r");
        else if (q[i] == '\n')
            put(b, "\\n");
        else if (q[i] == '\t')
            put(b, "\\t");
        else if (q[i] < 0x20 || q[i] >= 0x7f)
            put(b, "\\x%02x", q[i]);
        else
            put(b, "%c", q[i]);
    }
}

static void put_slice(sbuf *b, const char *tag, ae_slice s)
{
    if (s.len)
        put_bytes(b, tag, s.ptr, s.len);
}

/* One line per op; only fields that matter for the kind are shown. */
static void summarize(sbuf *b, const ae_op *op)
{
    if (b->n)
        put(b, "\n");
    put(b, "%s", kind_name(op->kind));
    put_slice(b, "s", op->subject);
    put_slice(b, "r", op->reply);
    put_slice(b, "q", op->queue);
    put_slice(b, "qs", op->queues);
    put_slice(b, "sid", op->sid);
    if (op->max_msgs != -1)
        put(b, " max=%lld", (long long)op->max_msgs);
    if (op->kind == AE_OP_LSUB && op->queue.len)
        put(b, " w=%d", (int)op->weight);
    if (op->kind == AE_OP_CONNECT || op->kind == AE_OP_INFO || op->kind == AE_OP_ERR)
        put_bytes(b, "a", op->arg.ptr, op->arg.len);
    if (op->kind == AE_OP_HPUB || op->kind == AE_OP_HMSG)
        put(b, " h=%zu", op->hdr_len);
    if (op->kind == AE_OP_PUB || op->kind == AE_OP_HPUB || op->kind == AE_OP_LMSG ||
        op->kind == AE_OP_HMSG) {
        put(b, " t=%zu", op->total_len);
        put_bytes(b, "p", op->payload, op->total_len);
    }
}

static ae_proto_limits limits(ae_proto_kind kind)
{
    ae_proto_limits l = {.kind = kind, .max_control_line = 4096, .max_payload = 1048576};
    if (kind == AE_PROTO_LEAF) {
        l.max_control_line = 0;
        l.max_payload = 0;
    }
    return l;
}

/* Parses a whole buffer as a connection would: ops until 0 or an error. Returns the
 * final result (0 when everything was consumed or the tail is incomplete, else -perr)
 * and the summary of the ops before it. */
static ptrdiff_t parse_whole(const ae_proto_limits *lim, const char *data, size_t len, sbuf *out)
{
    size_t pos = 0;
    out->n = 0;
    out->s[0] = 0;
    for (;;) {
        ae_op op;
        size_t need = 0;
        ptrdiff_t r = gparse(lim, data + pos, len - pos, &op, &need);
        if (r <= 0)
            return r;
        summarize(out, &op);
        pos += (size_t)r;
    }
}

static void expect_ops(ae_proto_kind kind, const char *in, const char *want)
{
    ae_proto_limits lim = limits(kind);
    sbuf got;
    ptrdiff_t r = parse_whole(&lim, in, strlen(in), &got);
    AH_ASSERT_MSG(r == 0, "input %s: final result %td", in, r);
    AH_ASSERT_EQ_STR(got.s, want);
}

/* Asserts that the first op of `in` fails with `err` under `lim`. */
static void expect_err_lim(const ae_proto_limits *lim, const char *in, size_t len, ae_perr err)
{
    ae_op op;
    size_t need = 12345;
    ptrdiff_t r = gparse(lim, in, len, &op, &need);
    AH_ASSERT_MSG(r == -(ptrdiff_t)err, "input \"%.*s\": got %td, want %d", (int)len, in, r,
                  -(int)err);
    AH_ASSERT_EQ_INT(need, 0);
}

/* ---- transcripts -------------------------------------------------------------------- */

/* What libnats 3.4.1 sent to a fake server (wire notes §1.12), byte for byte. */
static const char LIBNATS[] =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"\","
    "\"lang\":\"C\",\"version\":\"3.4.1\",\"protocol\":1,\"echo\":true,\"headers\":true,"
    "\"no_responders\":true}\r\n"
    "PING\r\n"
    "SUB plain.subj  1\r\n"
    "SUB q.subj grp 2\r\n"
    "PUB pub.subj 2\r\n"
    "hi\r\n"
    "HPUB hpub.subj rep.subj 18 22\r\n"
    "NATS/1.0\r\n"
    "K: v\r\n"
    "\r\n"
    "body\r\n"
    "PING\r\n"
    "UNSUB 1 5\r\n"
    "UNSUB 2 \r\n"
    "PING\r\n";

static const char LIBNATS_OPS[] =
    "CONNECT a={\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"\","
    "\"lang\":\"C\",\"version\":\"3.4.1\",\"protocol\":1,\"echo\":true,\"headers\":true,"
    "\"no_responders\":true}\n"
    "PING\n"
    "SUB s=plain.subj sid=1\n"
    "SUB s=q.subj q=grp sid=2\n"
    "PUB s=pub.subj t=2 p=hi\n"
    "HPUB s=hpub.subj r=rep.subj h=18 t=22 p=NATS/1.0\\r\\nK: v\\r\\n\\r\\nbody\n"
    "PING\n"
    "UNSUB sid=1 max=5\n"
    "UNSUB sid=2\n"
    "PING";

/* A client with odd but legal habits: case, tabs, bare LF, blanks, payloads that look
 * like protocol. */
static const char CLIENT_MIX[] = "connect {}\n"
                                 "Sub\tfoo.*\t1\r\n"
                                 "sub  foo.bar   workers \t 22  \r\n"
                                 "pub foo.bar reply.to 5\r\nhello\r\n"
                                 "PuB\tx\t0\r\n\r\n"
                                 "PUB a 12\r\nPUB b 1\r\nx\r\n\r\n"
                                 "hpub h 12 12\r\nNATS/1.0\r\n\r\n\r\n"
                                 "HPUB h r 5 7\nK\r\n\r\nzz\r\n"
                                 "ping\n"
                                 "Pong\r\n"
                                 "+ok\r\n"
                                 "-err 'Unknown Protocol Operation'\r\n"
                                 "INFO {\"server_id\":\"X\"} \r\n"
                                 "unsub\t7\t\t3\n"
                                 "UNSUB 8\r\n";

static const char CLIENT_MIX_OPS[] = "CONNECT a={}\n"
                                     "SUB s=foo.* sid=1\n"
                                     "SUB s=foo.bar q=workers sid=22\n"
                                     "PUB s=foo.bar r=reply.to t=5 p=hello\n"
                                     "PUB s=x t=0 p=\n"
                                     "PUB s=a t=12 p=PUB b 1\\r\\nx\\r\\n\n"
                                     "HPUB s=h h=12 t=12 p=NATS/1.0\\r\\n\\r\\n\n"
                                     "HPUB s=h r=r h=5 t=7 p=K\\r\\n\\r\\nzz\n"
                                     "PING\n"
                                     "PONG\n"
                                     "OK\n"
                                     "ERR a=Unknown Protocol Operation\n"
                                     "INFO a={\"server_id\":\"X\"}\n"
                                     "UNSUB sid=7 max=3\n"
                                     "UNSUB sid=8";

/* What a hub sends a soliciting leaf (wire notes §2.5, §2.6, §1.1), plus the forms the
 * leaf itself sends, which the same parser must read. */
static const char LEAF_MIX[] =
    "INFO {\"server_id\":\"NHUB\",\"leafnode_urls\":[\"127.0.0.1:14422\"]} \r\n"
    "PING\r\n"
    "PONG\r\n"
    "LS+ mix\r\n"
    "LS+ mix q1 1\r\n"
    "LS+ mix q2 1\r\n"
    "LS+ cmd.* workers 2\r\n"
    "LS- cmd.* workers\r\n"
    "LS- mix\r\n"
    "LMSG mix | q1 q2 1\r\na\r\n"
    "LMSG mix + _INBOX.r q1 q2 1\r\nb\r\n"
    "LMSG svc.echo + _INBOX.leaf.1 svc 4\r\nping\r\n"
    "HMSG other.x 18 22\r\nNATS/1.0\r\nK: v\r\n\r\nBODY\r\n"
    "LMSG _INBOX.leaf.1 4\r\npong\r\n"
    "LMSG _INBOX.lj.2 $JS.ACK.RP.puller.4.6.5.1795666552697121206.0@rp.a 6\r\nlate-6\r\n"
    "HMSG _INBOX.x  16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    "LMSG _INBOX.js.2  40\r\n0123456789012345678901234567890123456789\r\n"
    "HMSG a | g1  g2 2 3\r\nhhp\r\n"
    "HMSG a + r g1 12 14\r\nNATS/1.0\r\n\r\nok\r\n"
    "+OK\r\n"
    "-ERR 'Permissions Violation for Subscription to \"telem.x\"'\r\n"
    "lmsg lower 0\r\n\r\n"
    "ls+ lower\r\n";

static const char LEAF_MIX_OPS[] =
    "INFO a={\"server_id\":\"NHUB\",\"leafnode_urls\":[\"127.0.0.1:14422\"]}\n"
    "PING\n"
    "PONG\n"
    "LS+ s=mix\n"
    "LS+ s=mix q=q1 w=1\n"
    "LS+ s=mix q=q2 w=1\n"
    "LS+ s=cmd.* q=workers w=2\n"
    "LS- s=cmd.* q=workers\n"
    "LS- s=mix\n"
    "LMSG s=mix qs=q1 q2 t=1 p=a\n"
    "LMSG s=mix r=_INBOX.r qs=q1 q2 t=1 p=b\n"
    "LMSG s=svc.echo r=_INBOX.leaf.1 qs=svc t=4 p=ping\n"
    "HMSG s=other.x h=18 t=22 p=NATS/1.0\\r\\nK: v\\r\\n\\r\\nBODY\n"
    "LMSG s=_INBOX.leaf.1 t=4 p=pong\n"
    "LMSG s=_INBOX.lj.2 r=$JS.ACK.RP.puller.4.6.5.1795666552697121206.0@rp.a t=6 p=late-6\n"
    "HMSG s=_INBOX.x h=16 t=16 p=NATS/1.0 503\\r\\n\\r\\n\n"
    "LMSG s=_INBOX.js.2 t=40 p=0123456789012345678901234567890123456789\n"
    "HMSG s=a qs=g1  g2 h=2 t=3 p=hhp\n"
    "HMSG s=a r=r qs=g1 h=12 t=14 p=NATS/1.0\\r\\n\\r\\nok\n"
    "OK\n"
    "ERR a=Permissions Violation for Subscription to \"telem.x\"\n"
    "LMSG s=lower t=0 p=\n"
    "LS+ s=lower";

/* ---- cases: ops and forms ----------------------------------------------------------- */

static void t_libnats(void)
{
    expect_ops(AE_PROTO_CLIENT, LIBNATS, LIBNATS_OPS);
}

static void t_client_mix(void)
{
    expect_ops(AE_PROTO_CLIENT, CLIENT_MIX, CLIENT_MIX_OPS);
}

static void t_leaf_mix(void)
{
    expect_ops(AE_PROTO_LEAF, LEAF_MIX, LEAF_MIX_OPS);
}

static void t_case_insensitive(void)
{
    expect_ops(AE_PROTO_CLIENT,
               "pub a 0\r\n\r\nPub a 0\r\n\r\npUB a 0\r\n\r\nhPuB a 0 0\r\n\r\n"
               "sUb a 1\r\nUnSuB 1\r\nping\r\nPiNg\r\npong\r\nPONG\r\n+ok\r\n+Ok\r\n"
               "-err x\r\n-Err 'y'\r\ncOnNeCt {}\r\ninfo {}\r\n",
               "PUB s=a t=0 p=\nPUB s=a t=0 p=\nPUB s=a t=0 p=\nHPUB s=a h=0 t=0 p=\n"
               "SUB s=a sid=1\nUNSUB sid=1\nPING\nPING\nPONG\nPONG\nOK\nOK\n"
               "ERR a=x\nERR a=y\nCONNECT a={}\nINFO a={}");
    expect_ops(AE_PROTO_LEAF,
               "lmsg a 0\r\n\r\nLmSg a 0\r\n\r\nhmsg a 0 0\r\n\r\nls+ a\r\nLs- a\r\n"
               "Ping\r\npong\r\n",
               "LMSG s=a t=0 p=\nLMSG s=a t=0 p=\nHMSG s=a h=0 t=0 p=\nLS+ s=a\nLS- s=a\n"
               "PING\nPONG");
}

static void t_spacing(void)
{
    /* Tabs and runs of blanks anywhere between fields, blanks before the line end,
     * bare LF, and a stray CR before CRLF. */
    expect_ops(AE_PROTO_CLIENT,
               "PUB\ta\t\t2\r\nhi\r\n"
               "PUB  \t a  \t r \t 2 \t \r\nhi\r\n"
               "SUB a\t\tq\t9\n"
               "SUB   a   9   \r\n"
               "UNSUB  4  \t\n"
               "PING \t \r\n"
               "PONG\r\r\n"
               "CONNECT \t {\"a\": 1}  \t\r\n"
               "-ERR   'spaced text'  \r\n"
               "HPUB\t a \t 1\t 3 \nh\r\n\r\n",
               "PUB s=a t=2 p=hi\n"
               "PUB s=a r=r t=2 p=hi\n"
               "SUB s=a q=q sid=9\n"
               "SUB s=a sid=9\n"
               "UNSUB sid=4\n"
               "PING\n"
               "PONG\n"
               "CONNECT a={\"a\": 1}\n"
               "ERR a=spaced text\n"
               "HPUB s=a h=1 t=3 p=h\\r\\n");
}

static void t_err_text_forms(void)
{
    expect_ops(AE_PROTO_LEAF,
               "-ERR 'Stale Connection'\r\n-ERR bare words\r\n-ERR ''\r\n-ERR '\r\n-ERR\r\n",
               "ERR a=Stale Connection\nERR a=bare words\nERR a=\nERR a='\nERR a=");
}

static void t_unsub_and_lsub_numbers(void)
{
    expect_ops(AE_PROTO_CLIENT, "UNSUB s 0\r\nUNSUB s 9223372036854775807\r\nUNSUB s 007\r\n",
               "UNSUB sid=s max=0\nUNSUB sid=s max=9223372036854775807\nUNSUB sid=s max=7");
    /* As nats-server: a max that is not a number, negative or too large means no max. */
    expect_ops(AE_PROTO_CLIENT, "UNSUB 1 x\r\nUNSUB 1 -1\r\nUNSUB 1 9223372036854775808\r\n",
               "UNSUB sid=1\nUNSUB sid=1\nUNSUB sid=1");
    expect_ops(AE_PROTO_LEAF, "LS+ a q 0\r\nLS+ a q 2147483647\r\n",
               "LS+ s=a q=q w=1\nLS+ s=a q=q w=2147483647");
    ae_proto_limits lim = limits(AE_PROTO_LEAF);
    ae_op op;
    AH_ASSERT(gparse(&lim, "LS+ a\r\n", 7, &op, NULL) == 7);
    AH_ASSERT_EQ_INT(op.weight, 1);
    AH_ASSERT_EQ_INT(op.queue.len, 0);
    AH_ASSERT_EQ_INT(op.max_msgs, -1);
}

static void t_queue_iteration(void)
{
    ae_proto_limits lim = limits(AE_PROTO_LEAF);
    ae_op op;
    const char *in = "LMSG s + r q1  q2\tq3 1\r\nx\r\n";
    AH_ASSERT_EQ_INT(gparse(&lim, in, strlen(in), &op, NULL), (ptrdiff_t)strlen(in));
    const char *want[] = {"q1", "q2", "q3"};
    size_t pos = 0, n = 0;
    ae_slice name;
    while (ae_proto_next_queue(op.queues, &pos, &name)) {
        AH_ASSERT(n < 3);
        AH_ASSERT_MSG(name.len == strlen(want[n]) && memcmp(name.ptr, want[n], name.len) == 0,
                      "queue %zu: %.*s", n, (int)name.len, name.ptr);
        n++;
    }
    AH_ASSERT_EQ_INT(n, 3);
    AH_ASSERT(!ae_proto_next_queue(op.queues, &pos, &name));
    /* An empty slice yields nothing. */
    pos = 0;
    AH_ASSERT(!ae_proto_next_queue((ae_slice){NULL, 0}, &pos, &name));
    /* Without queue names the slice is empty. */
    AH_ASSERT(gparse(&lim, "LMSG s r 1\r\nx\r\n", 15, &op, NULL) == 15);
    AH_ASSERT_EQ_INT(op.queues.len, 0);
}

static void t_payload_pointer_and_need(void)
{
    ae_proto_limits lim = limits(AE_PROTO_CLIENT);
    const char *in = "PUB a 5\r\nhello\r\n";
    const uint8_t *g = guarded(in, strlen(in));
    ae_op op;
    size_t need = 0;
    AH_ASSERT_EQ_INT(ae_proto_parse(&lim, g, strlen(in), &op, &need), 16);
    AH_ASSERT(op.payload == g + 9);
    AH_ASSERT(op.subject.ptr == (const char *)g + 4);
    /* Control line incomplete: need is 0. */
    for (size_t k = 0; k <= 8; k++) {
        need = 99;
        AH_ASSERT_EQ_INT(gparse(&lim, in, k, &op, &need), 0);
        AH_ASSERT_EQ_INT(need, 0);
    }
    /* Control line complete, payload missing: need is the whole op. */
    for (size_t k = 9; k < 16; k++) {
        need = 0;
        AH_ASSERT_EQ_INT(gparse(&lim, in, k, &op, &need), 0);
        AH_ASSERT_EQ_INT(need, 16);
    }
    /* NULL need is allowed. */
    AH_ASSERT_EQ_INT(gparse(&lim, in, 12, &op, NULL), 0);
    /* A big declared size is reported exactly, before the payload arrives. */
    lim.max_payload = 0;
    AH_ASSERT_EQ_INT(gparse(&lim, "PUB a 1000000000\r\n", 18, &op, &need), 0);
    AH_ASSERT_EQ_INT(need, 18 + 1000000000u + 2);
}

static void t_err_text(void)
{
    AH_ASSERT_EQ_STR(ae_proto_err_text(AE_PERR_UNKNOWN_OP), "Unknown Protocol Operation");
    AH_ASSERT_EQ_STR(ae_proto_err_text(AE_PERR_PAYLOAD_END), "Unknown Protocol Operation");
    AH_ASSERT_EQ_STR(ae_proto_err_text(AE_PERR_MAX_CONTROL), "maximum control line exceeded");
    AH_ASSERT_EQ_STR(ae_proto_err_text(AE_PERR_MAX_PAYLOAD), "Maximum Payload Violation");
    AH_ASSERT(ae_proto_err_text(AE_PERR_BAD_ARGS) == NULL);
    AH_ASSERT(ae_proto_err_text(AE_PERR_NONE) == NULL);
}

/* ---- cases: errors ------------------------------------------------------------------ */

typedef struct bad_vec {
    ae_proto_kind kind;
    const char *in;
    ae_perr err;
} bad_vec;

static const bad_vec BAD[] = {
    /* ops the connection kind may not send, or that do not exist */
    {AE_PROTO_CLIENT, "MSG a 1 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "msg a 1 1\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "FOO bar\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "LMSG a 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "HMSG a 1 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "LS+ a\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "LS- a\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, " PING\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "PINGPONG\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "PUBX a 1\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "CONNECTX {}\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT,
     "P\x0b"
     "B a 1\r\n",
     AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "LS\x0b a\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_CLIENT, "\x00PING\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "PUB a 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "HPUB a 1 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "SUB a 1\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "UNSUB 1\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "MSG a 1 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "RMSG $G a 1\r\nx\r\n", AE_PERR_UNKNOWN_OP},
    {AE_PROTO_LEAF, "LS* a\r\n", AE_PERR_UNKNOWN_OP},
    /* argument counts and sizes */
    {AE_PROTO_CLIENT, "PUB\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB \r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a b c\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a b c 1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a -1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a +1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a 1x\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a 0x10\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a 1.5\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a 123456789012345678901\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PUB a 18446744073709551616\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "HPUB a 10 5\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "HPUB a 5\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "HPUB a r 5\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "HPUB a r s 1 5\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "HPUB a -1 5\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "SUB\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "SUB a\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "SUB a b c d 2\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "SUB a b c 2\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "UNSUB\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "UNSUB \r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "UNSUB 1 2 3\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "CONNECT\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "CONNECT  \t \r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "INFO\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PING x\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "PONG 1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_CLIENT, "+OK now\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a x\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a | 1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a + 1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a + r 1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a x y 1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a -1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LMSG a 18446744073709551615\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "HMSG a 5 3\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "HMSG a 3\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "HMSG a | q 5 3\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "HMSG a + r 1 3\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS+\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS+ a q\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS+ a q x\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS+ a q -1\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS+ a q 1 2\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS+ a q 2147483648\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS-\r\n", AE_PERR_BAD_ARGS},
    {AE_PROTO_LEAF, "LS- a q x\r\n", AE_PERR_BAD_ARGS},
    /* the payload must be followed by exactly CRLF */
    {AE_PROTO_CLIENT, "PUB a 2\r\nxyz\r\n", AE_PERR_PAYLOAD_END},
    {AE_PROTO_CLIENT, "PUB a 1\r\nx\n", AE_PERR_PAYLOAD_END},
    {AE_PROTO_CLIENT, "PUB a 1\r\nx\rX", AE_PERR_PAYLOAD_END},
    {AE_PROTO_CLIENT, "PUB a 0\r\nPING\r\n", AE_PERR_PAYLOAD_END},
    {AE_PROTO_CLIENT, "HPUB a 1 2\r\nhpp\r\n", AE_PERR_PAYLOAD_END},
    {AE_PROTO_LEAF, "LMSG a 1\r\nxx\r\n", AE_PERR_PAYLOAD_END},
    {AE_PROTO_LEAF, "HMSG a 1 1\r\nx\n\r\n", AE_PERR_PAYLOAD_END},
};

static void t_errors(void)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        ae_proto_limits lim = limits(BAD[i].kind);
        /* strlen would stop at the NUL of one vector; that one is 7 bytes. */
        size_t len = BAD[i].in[0] ? strlen(BAD[i].in) : 7;
        expect_err_lim(&lim, BAD[i].in, len, BAD[i].err);
    }
}

/* Every prefix of a bad vector yields 0 or the same error, never another error. */
static void t_error_prefixes(void)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        ae_proto_limits lim = limits(BAD[i].kind);
        size_t len = BAD[i].in[0] ? strlen(BAD[i].in) : 7;
        for (size_t k = 0; k <= len; k++) {
            ae_op op;
            ptrdiff_t r = gparse(&lim, BAD[i].in, k, &op, NULL);
            AH_ASSERT_MSG(r == 0 || r == -(ptrdiff_t)BAD[i].err,
                          "vector %zu (\"%s\") prefix %zu: got %td", i, BAD[i].in, k, r);
        }
    }
}

/* An op name that cannot become legal is refused before its separator arrives, so a peer
 * cannot park junk in our buffer; one that still can is waited for. */
static void t_unknown_name_early(void)
{
    ae_proto_limits cl = limits(AE_PROTO_CLIENT), lf = limits(AE_PROTO_LEAF);
    ae_op op;
    const struct {
        const ae_proto_limits *lim;
        const char *in;
        ptrdiff_t want;
    } v[] = {
        {&cl, "F", -AE_PERR_UNKNOWN_OP},
        {&cl, "FO", -AE_PERR_UNKNOWN_OP},
        {&cl, "MS", -AE_PERR_UNKNOWN_OP},
        {&cl, "L", -AE_PERR_UNKNOWN_OP},
        {&cl, "PUBX", -AE_PERR_UNKNOWN_OP},
        {&cl, "CONNECTX", -AE_PERR_UNKNOWN_OP},
        {&cl, "CONNECTXYZ", -AE_PERR_UNKNOWN_OP},
        {&cl, "P", 0},
        {&cl, "pu", 0},
        {&cl, "CONNEC", 0},
        {&cl, "CONNECT", 0},
        {&cl, "-E", 0},
        {&cl, "+o", 0},
        {&cl, "uNsU", 0},
        {&lf, "PU", -AE_PERR_UNKNOWN_OP},
        {&lf, "S", -AE_PERR_UNKNOWN_OP},
        {&lf, "LS*", -AE_PERR_UNKNOWN_OP},
        {&lf, "LS", 0},
        {&lf, "ls-", 0},
        {&lf, "Hm", 0},
        {&lf, "lMsG", 0},
        {&lf, "P", 0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ptrdiff_t r = gparse(v[i].lim, v[i].in, strlen(v[i].in), &op, NULL);
        AH_ASSERT_MSG(r == v[i].want, "\"%s\": got %td, want %td", v[i].in, r, v[i].want);
    }
}

/* ---- cases: limits ------------------------------------------------------------------ */

static void t_max_payload(void)
{
    ae_proto_limits lim = {.kind = AE_PROTO_CLIENT, .max_control_line = 4096, .max_payload = 5};
    ae_op op;
    size_t need;
    /* exactly max_payload is accepted */
    AH_ASSERT_EQ_INT(gparse(&lim, "PUB a 5\r\nhello\r\n", 16, &op, &need), 16);
    AH_ASSERT_EQ_INT(gparse(&lim, "HPUB a 2 5\r\nhhbbb\r\n", 19, &op, &need), 19);
    /* one more is refused as soon as the control line is complete */
    expect_err_lim(&lim, "PUB a 6\r\n", 9, AE_PERR_MAX_PAYLOAD);
    expect_err_lim(&lim, "PUB a 6\n", 8, AE_PERR_MAX_PAYLOAD);
    expect_err_lim(&lim, "HPUB a 2 6\r\n", 12, AE_PERR_MAX_PAYLOAD);
    expect_err_lim(&lim, "PUB a 18446744073709551615\r\n", 28, AE_PERR_MAX_PAYLOAD);
    /* and not before: the size might still grow a digit */
    AH_ASSERT_EQ_INT(gparse(&lim, "PUB a 6", 7, &op, &need), 0);
    /* header/total consistency is judged before the limit */
    expect_err_lim(&lim, "HPUB a 7 6\r\n", 12, AE_PERR_BAD_ARGS);
    /* 0 means no limit */
    lim.max_payload = 0;
    AH_ASSERT_EQ_INT(gparse(&lim, "PUB a 6\r\n", 9, &op, &need), 0);
    AH_ASSERT_EQ_INT(need, 17);
    /* The header ties max_payload to PUB/HPUB; a hub's LMSG is not limited by it. */
    ae_proto_limits leaf = {.kind = AE_PROTO_LEAF, .max_payload = 5};
    AH_ASSERT_EQ_INT(gparse(&leaf, "LMSG a 6\r\n123456\r\n", 18, &op, &need), 18);
}

static void t_max_control_line(void)
{
    ae_proto_limits lim = {.kind = AE_PROTO_CLIENT, .max_control_line = 10};
    ae_op op;
    size_t need;
    /* argument text of exactly 10 bytes passes, 11 fails */
    AH_ASSERT_EQ_INT(gparse(&lim, "SUB abcdef 123\r\n", 16, &op, &need), 16);
    expect_err_lim(&lim, "SUB abcdefg 123\r\n", 17, AE_PERR_MAX_CONTROL);
    expect_err_lim(&lim, "CONNECT {\"a\":12345}\r\n", 21, AE_PERR_MAX_CONTROL);
    /* blanks around the arguments are not counted ... */
    AH_ASSERT_EQ_INT(gparse(&lim, "SUB  abcdef 123  \r\n", 19, &op, &need), 19);
    /* ... within reason: a flood of blanks is refused too */
    char flood[256];
    memcpy(flood, "PING", 4);
    memset(flood + 4, ' ', 200);
    memcpy(flood + 204, "\r\n", 2);
    expect_err_lim(&lim, flood, 206, AE_PERR_MAX_CONTROL);
    /* Before the line end arrives: a few bytes over the limit may still turn out to be
     * blanks, but far over is refused without waiting for the LF. */
    char big[300];
    memcpy(big, "PUB ", 4);
    memset(big + 4, 'a', sizeof big - 4);
    AH_ASSERT_EQ_INT(gparse(&lim, big, 4 + 10, &op, &need), 0);
    AH_ASSERT_EQ_INT(need, 0);
    expect_err_lim(&lim, big, sizeof big, AE_PERR_MAX_CONTROL);
    expect_err_lim(&lim, flood, 204, AE_PERR_MAX_CONTROL);
    /* The limit is about the control line only, not the payload. */
    lim.max_control_line = 10;
    AH_ASSERT_EQ_INT(gparse(&lim, "PUB a 20\r\n01234567890123456789\r\n", 32, &op, &need), 32);
    /* 0 = no limit for a client: a 200 KiB line is simply incomplete. */
    lim.max_control_line = 0;
    size_t n = 200 * 1024;
    char *huge = malloc(n);
    AH_ASSERT(huge);
    memcpy(huge, "CONNECT ", 8);
    memset(huge + 8, 'x', n - 8);
    AH_ASSERT_EQ_INT(gparse(&lim, huge, n, &op, &need), 0);
    free(huge);
}

static void t_leaf_hard_cap(void)
{
    ae_proto_limits lim = {.kind = AE_PROTO_LEAF}; /* no limits given */
    ae_op op;
    size_t need;
    size_t n = 100 * 1024;
    char *buf = malloc(n);
    AH_ASSERT(buf);
    memcpy(buf, "INFO {", 6);
    memset(buf + 6, 'x', n - 6);
    /* A 60 KiB INFO line is fine ... */
    size_t ok = 60 * 1024;
    buf[ok - 3] = '}';
    buf[ok - 2] = '\r';
    buf[ok - 1] = '\n';
    AH_ASSERT_EQ_INT(gparse(&lim, buf, ok, &op, &need), (ptrdiff_t)ok);
    AH_ASSERT_EQ_INT(op.arg.len, ok - 2 - 5);
    /* ... an unterminated 100 KiB one is refused before its end. */
    memset(buf + 6, 'x', n - 6);
    expect_err_lim(&lim, buf, n, AE_PERR_MAX_CONTROL);
    /* A caller-given limit applies to leaf connections too. */
    lim.max_control_line = 8;
    expect_err_lim(&lim, "LS+ abcdefghi\r\n", 15, AE_PERR_MAX_CONTROL);
    free(buf);
}

/* ---- cases: split reads ------------------------------------------------------------- */

typedef struct conn {
    const ae_proto_limits *lim;
    const char *data;
    size_t have;      /* bytes delivered so far */
    size_t pos;       /* bytes consumed by complete ops */
    size_t last_need; /* need reported for the op at pos, 0 if none yet */
    ptrdiff_t err;    /* first error, 0 if none */
    sbuf ops;
} conn;

/* Delivers bytes up to `upto` and consumes every complete op, checking that a reported
 * need is what the op finally takes and never shrinks below what is buffered. */
static void deliver(conn *c, size_t upto)
{
    c->have = upto;
    while (c->err == 0) {
        ae_op op;
        size_t need = 0;
        ptrdiff_t r = gparse(c->lim, c->data + c->pos, c->have - c->pos, &op, &need);
        if (r < 0) {
            c->err = r;
            return;
        }
        if (r == 0) {
            if (need) {
                AH_ASSERT_MSG(need > c->have - c->pos, "need %zu with %zu buffered", need,
                              c->have - c->pos);
                AH_ASSERT_MSG(c->last_need == 0 || c->last_need == need,
                              "need changed from %zu to %zu at %zu", c->last_need, need, c->pos);
                c->last_need = need;
            }
            return;
        }
        AH_ASSERT_MSG(c->last_need == 0 || c->last_need == (size_t)r,
                      "op at %zu took %td after need %zu", c->pos, r, c->last_need);
        summarize(&c->ops, &op);
        c->pos += (size_t)r;
        c->last_need = 0;
    }
}

static void conn_init(conn *c, const ae_proto_limits *lim, const char *data)
{
    memset(c, 0, sizeof *c);
    c->lim = lim;
    c->data = data;
}

static void check_splits(ae_proto_kind kind, const ae_proto_limits *lim_in, const char *data,
                         size_t len)
{
    ae_proto_limits lim = lim_in ? *lim_in : limits(kind);
    sbuf whole;
    ptrdiff_t whole_r = parse_whole(&lim, data, len, &whole);
    static conn c; /* large; keep it off the stack */

    /* Cut in two at every offset. */
    for (size_t k = 0; k <= len; k++) {
        conn_init(&c, &lim, data);
        deliver(&c, k);
        AH_ASSERT_MSG(c.err == 0 || c.err == whole_r,
                      "prefix of %zu bytes gave %td, whole gives %td", k, c.err, whole_r);
        deliver(&c, len);
        AH_ASSERT_MSG(c.err == whole_r, "split at %zu: final %td, whole %td", k, c.err, whole_r);
        AH_ASSERT_MSG(strcmp(c.ops.s, whole.s) == 0, "split at %zu:\n%s\n--- whole:\n%s", k,
                      c.ops.s, whole.s);
    }
    /* One byte at a time. */
    conn_init(&c, &lim, data);
    for (size_t k = 1; k <= len && c.err == 0; k++)
        deliver(&c, k);
    AH_ASSERT_MSG(c.err == whole_r, "byte by byte: final %td, whole %td", c.err, whole_r);
    AH_ASSERT_EQ_STR(c.ops.s, whole.s);
}

static void t_split_libnats(void)
{
    check_splits(AE_PROTO_CLIENT, NULL, LIBNATS, strlen(LIBNATS));
}

static void t_split_client_mix(void)
{
    check_splits(AE_PROTO_CLIENT, NULL, CLIENT_MIX, strlen(CLIENT_MIX));
}

static void t_split_leaf_mix(void)
{
    check_splits(AE_PROTO_LEAF, NULL, LEAF_MIX, strlen(LEAF_MIX));
}

/* Transcripts that end in an error: the ops before it and the error itself must be the
 * same however the bytes arrive. */
static void t_split_errors(void)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s%s", "PING\r\nPUB a 3\r\nabc\r\n", "PUB a 2\r\nxyz\r\n");
    check_splits(AE_PROTO_CLIENT, NULL, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "%s", "SUB a 1\r\nMSG a 1 1\r\nx\r\n");
    check_splits(AE_PROTO_CLIENT, NULL, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "%s", "LS+ a\r\nLMSG a | 1\r\nx\r\n");
    check_splits(AE_PROTO_LEAF, NULL, buf, (size_t)n);
    ae_proto_limits small = {.kind = AE_PROTO_CLIENT, .max_control_line = 12, .max_payload = 4};
    n = snprintf(buf, sizeof buf, "%s", "PUB a 4\r\nabcd\r\nPUB a 5\r\nabcde\r\n");
    check_splits(AE_PROTO_CLIENT, &small, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "%s", "PING\r\nSUB abcdefghijklmnopqrstuvwxyz 1\r\n");
    check_splits(AE_PROTO_CLIENT, &small, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "PING\r\nPUB%80s", "");
    check_splits(AE_PROTO_CLIENT, &small, buf, (size_t)n);
}

static const ah_case CASES[] = {
    {"libnats_transcript", t_libnats, 10},
    {"client_mix", t_client_mix, 10},
    {"leaf_mix", t_leaf_mix, 10},
    {"case_insensitive", t_case_insensitive, 10},
    {"spacing", t_spacing, 10},
    {"err_text_forms", t_err_text_forms, 10},
    {"unsub_and_lsub_numbers", t_unsub_and_lsub_numbers, 10},
    {"queue_iteration", t_queue_iteration, 10},
    {"payload_pointer_and_need", t_payload_pointer_and_need, 10},
    {"err_text", t_err_text, 10},
    {"errors", t_errors, 10},
    {"error_prefixes", t_error_prefixes, 10},
    {"unknown_name_early", t_unknown_name_early, 10},
    {"max_payload", t_max_payload, 10},
    {"max_control_line", t_max_control_line, 10},
    {"leaf_hard_cap", t_leaf_hard_cap, 10},
    {"split_libnats", t_split_libnats, 30},
    {"split_client_mix", t_split_client_mix, 30},
    {"split_leaf_mix", t_split_leaf_mix, 30},
    {"split_errors", t_split_errors, 30},
};

int main(int argc, char **argv)
{
    return ah_run(argc, argv, CASES, sizeof CASES / sizeof CASES[0]);
}
