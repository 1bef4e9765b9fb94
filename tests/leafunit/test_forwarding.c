/* Unit tests of the durable forwarder's pure parts, without a hub: keyed message ids
 * (msgid.h), the JetStream replies it reads (jsapi.h), and the per-subject pipeline that
 * keeps the stream in order (pipeline.h) -- case by case, and against a simulated hub that
 * loses publishes and acks the way nats-server 2.9 does in a leader change (a run of
 * publishes dropped while later ones are stored), which must always end with every record
 * in the stream exactly once and in order. */
#include "harness/harness.h"
#include "leaf/fwdnote.h"
#include "leaf/jsapi.h"
#include "leaf/msgid.h"
#include "leaf/pipeline.h"
#include "leaf/walk.h"

#include <stdlib.h>
#include <string.h>

/* ---- message ids ------------------------------------------------------------------------ */

static ae_msgid_key test_key(const char *vid, uint64_t epoch, uint8_t fill)
{
    ae_msgid_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.vid, sizeof k.vid, "%s", vid);
    k.epoch = epoch;
    memset(k.secret, fill, sizeof k.secret);
    return k;
}

/* Parses from an exact-size heap copy, so ASan catches any read past the length. */
static ae_msgid_verdict parse_exact(const ae_msgid_key *k, const char *id, uint64_t *seq,
                                    uint32_t *inc)
{
    size_t n = strlen(id);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, id, n);
    ae_msgid_verdict v = ae_msgid_parse(k, copy, n, seq, inc);
    free(copy);
    return v;
}

static void test_msgid_roundtrip(void)
{
    ae_msgid_key k = test_key("VID-001", 0x0123456789abcdefULL, 7);
    char id[AE_MSGID_MAX];
    AH_ASSERT(ae_msgid_format(&k, 42, 0, id, sizeof id) > 0);
    AH_ASSERT_CONTAINS(id, "VID-001.0123456789abcdef.42-");
    uint64_t seq = 0;
    uint32_t inc = 9;
    AH_ASSERT_EQ_INT(parse_exact(&k, id, &seq, &inc), AE_MSGID_OURS);
    AH_ASSERT_EQ_INT(seq, 42);
    AH_ASSERT_EQ_INT(inc, 0);
    AH_ASSERT(ae_msgid_format(&k, 43, 77, id, sizeof id) > 0);
    AH_ASSERT_CONTAINS(id, ".43r77-");
    AH_ASSERT_EQ_INT(parse_exact(&k, id, &seq, &inc), AE_MSGID_OURS);
    AH_ASSERT_EQ_INT(seq, 43);
    AH_ASSERT_EQ_INT(inc, 77);
    char tiny[8];
    AH_ASSERT_EQ_INT(ae_msgid_format(&k, 1, 0, tiny, sizeof tiny), -1);
}

static void test_msgid_foreign_and_forged(void)
{
    ae_msgid_key k = test_key("VID-001", 0xabcULL, 7);
    ae_msgid_key other_vehicle = test_key("VID-002", 0xabcULL, 7);
    ae_msgid_key other_epoch = test_key("VID-001", 0xabdULL, 7);
    ae_msgid_key other_secret = test_key("VID-001", 0xabcULL, 8);
    char id[AE_MSGID_MAX];
    uint64_t seq;
    uint32_t inc;
    ae_msgid_format(&other_vehicle, 5, 0, id, sizeof id);
    AH_ASSERT_EQ_INT(parse_exact(&k, id, &seq, &inc), AE_MSGID_FOREIGN);
    ae_msgid_format(&other_epoch, 5, 0, id, sizeof id);
    AH_ASSERT_EQ_INT(parse_exact(&k, id, &seq, &inc), AE_MSGID_FOREIGN);
    /* same vid and epoch, no secret: what a program on another vehicle could write */
    ae_msgid_format(&other_secret, 999999999, 0, id, sizeof id);
    AH_ASSERT_EQ_INT(parse_exact(&k, id, &seq, &inc), AE_MSGID_FORGED);
    /* a real id with its seq changed */
    ae_msgid_format(&k, 5, 0, id, sizeof id);
    char *dot = strstr(id, ".5-");
    AH_ASSERT(dot);
    dot[1] = '6';
    AH_ASSERT_EQ_INT(parse_exact(&k, id, &seq, &inc), AE_MSGID_FORGED);
    /* the old format without a tag, and garbage after our prefix */
    AH_ASSERT_EQ_INT(parse_exact(&k, "VID-001.0000000000000abc.5", &seq, &inc), AE_MSGID_FOREIGN);
    AH_ASSERT_EQ_INT(parse_exact(&k, "VID-001.0000000000000abc.5x-0123abcd", &seq, &inc),
                     AE_MSGID_FORGED);
    AH_ASSERT_EQ_INT(
        parse_exact(&k, "VID-001.0000000000000abc.99999999999999999999999-0123abcd", &seq, &inc),
        AE_MSGID_FORGED);
    AH_ASSERT_EQ_INT(parse_exact(&k, "", &seq, &inc), AE_MSGID_FOREIGN);
}

/* ---- JetStream replies ------------------------------------------------------------------ */

static bool parse_body(const char *body, ae_js_reply *r)
{
    return ae_js_reply_parse(NULL, 0, (const uint8_t *)body, strlen(body), r);
}

static void test_js_replies(void)
{
    ae_js_reply r;
    /* the exact bytes nats-server 2.9.10 sends (nats-wire-notes 4.3) */
    AH_ASSERT(parse_body("{\"stream\":\"TELEM\", \"domain\":\"hub\", \"seq\":2}", &r));
    AH_ASSERT(r.ok && !r.duplicate && r.seq == 2);
    AH_ASSERT_EQ_STR(r.stream, "TELEM");
    AH_ASSERT(parse_body(
        "{\"stream\":\"TELEM\", \"domain\":\"hub\", \"seq\":2,\"duplicate\": true}", &r));
    AH_ASSERT(r.ok && r.duplicate && r.seq == 2);
    AH_ASSERT(parse_body("{\"error\":{\"code\":400,\"err_code\":10071,\"description\":\"wrong last "
                         "sequence: 2\"},\"stream\":\"TELEM\",\"seq\":0}",
                         &r));
    uint64_t last = 0;
    AH_ASSERT(!r.ok && r.err_code == 10071);
    AH_ASSERT(ae_js_reply_wrong_last_seq(&r, &last) && last == 2);
    AH_ASSERT(!ae_js_reply_is_permanent(&r));
    AH_ASSERT(parse_body("{\"error\":{\"code\":400,\"err_code\":10054,\"description\":\"message "
                         "size exceeds maximum allowed\"},\"stream\":\"S\",\"seq\":0}",
                         &r));
    AH_ASSERT(ae_js_reply_is_permanent(&r));
    const char *st = "NATS/1.0 503\r\n\r\n";
    AH_ASSERT(ae_js_reply_parse((const uint8_t *)st, strlen(st), NULL, 0, &r));
    AH_ASSERT(!r.ok && r.status == 503);
    AH_ASSERT(!parse_body("not json", &r));
    AH_ASSERT(!parse_body("[1,2]", &r));
    AH_ASSERT(parse_body("{\"error\":{\"code\":400,\"err_code\":10071,\"description\":\"wrong last "
                         "sequence: 99999999999999999999999\"}}",
                         &r));
    AH_ASSERT(!ae_js_reply_wrong_last_seq(&r, &last));
}

static void test_js_delivery(void)
{
    ae_js_delivery d;
    const char *r9 = "$JS.ACK.RP.puller.1.4.1.1795666552696582546.2";
    AH_ASSERT(ae_js_delivery_parse(r9, strlen(r9), &d));
    AH_ASSERT(d.stream_seq == 4 && d.consumer_seq == 1 && d.pending == 2);
    const char *at = "$JS.ACK.RP.puller.1.6.3.1795666552697121206.0@rp.a";
    AH_ASSERT(ae_js_delivery_parse(at, strlen(at), &d));
    AH_ASSERT(d.stream_seq == 6 && d.pending == 0);
    const char *r11 = "$JS.ACK.hub.ACCHASH.RP.puller.1.7.4.1795666552697121206.1.xyz";
    AH_ASSERT(ae_js_delivery_parse(r11, strlen(r11), &d));
    AH_ASSERT(d.stream_seq == 7 && d.pending == 1);
    const char *bad[] = {"$JS.ACK.RP.puller.1.x.1.1.2", "$JS.ACK.RP.1.2", "_INBOX.abc", "",
                         "$JS.ACK.RP.puller.1.4.1.1795666552696582546.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        AH_ASSERT(!ae_js_delivery_parse(bad[i], strlen(bad[i]), &d));
}

static void test_headers(void)
{
    const char *orig = "NATS/1.0\r\nX-A: 1\r\nNats-Msg-Id: theirs\r\nnats-expected-stream: "
                       "WRONG\r\nNats-Rollup: sub\r\nX-B: 2\r\n\r\n";
    char out[1024];
    int stripped = 0;
    size_t n = ae_js_build_headers(out, sizeof out, "ours-1", "2026-01-01T00:00:00Z",
                                   (const uint8_t *)orig, strlen(orig), &stripped);
    AH_ASSERT(n > 0);
    out[n] = 0;
    AH_ASSERT_EQ_INT(stripped, 3);
    AH_ASSERT_EQ_STR(out, "NATS/1.0\r\nNats-Msg-Id: ours-1\r\nAerie-Event-Time: "
                          "2026-01-01T00:00:00Z\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
    const char *v;
    size_t vl;
    AH_ASSERT(ae_hdr_get((const uint8_t *)out, n, "nats-msg-id", &v, &vl));
    AH_ASSERT(vl == 6 && !memcmp(v, "ours-1", 6));
    AH_ASSERT(!ae_hdr_get((const uint8_t *)out, n, "Nats-Msg", &v, &vl));
    /* a header block of any size fits in ae_js_headers_cap */
    size_t big = 60000;
    char *h = malloc(big + 64);
    memcpy(h, "NATS/1.0\r\nX-Big: ", 17);
    memset(h + 17, 'x', big);
    memcpy(h + 17 + big, "\r\n\r\n", 4);
    size_t hl = 17 + big + 4;
    char *o = malloc(ae_js_headers_cap(hl));
    stripped = 0;
    size_t on =
        ae_js_build_headers(o, ae_js_headers_cap(hl), "id", "t", (const uint8_t *)h, hl, &stripped);
    AH_ASSERT(on > big);
    free(h);
    free(o);
    AH_ASSERT_EQ_INT(ae_hdr_status((const uint8_t *)"NATS/1.0 408 Request Timeout\r\n\r\n", 32),
                     408);
    AH_ASSERT_EQ_INT(ae_hdr_status((const uint8_t *)"NATS/1.0\r\n\r\n", 12), 0);
}

/* ---- the pipeline, case by case ----------------------------------------------------------- */

static uint32_t next_inc_value;
static uint32_t counting_inc(void)
{
    return ++next_inc_value;
}

static ae_prec *rec(uint64_t seq)
{
    ae_prec *r = calloc(1, sizeof *r + 4);
    r->seq = seq;
    r->payload_len = 4;
    memcpy(r->data, "data", 4);
    return r;
}

/* Sends what the pipeline offers (at most max); returns how many. */
static int send_all(ae_pipeline *p, int max)
{
    int n = 0;
    ae_prec *r;
    while (n < max && (r = ae_pipeline_next(p))) {
        ae_pipeline_sent(p, r, 1);
        n++;
    }
    return n;
}

static int retire_all(ae_pipeline *p, uint64_t *seqs)
{
    int n = 0;
    ae_prec *r;
    while ((r = ae_pipeline_pop_retired(p))) {
        if (seqs)
            seqs[n] = r->seq;
        n++;
        free(r);
    }
    return n;
}

static void test_pipeline_in_order(void)
{
    uint64_t del = 0;
    ae_pipeline p;
    ae_pipeline_init(&p, counting_inc);
    for (uint64_t s = 1; s <= 10; s++)
        ae_pipeline_push(&p, rec(s));
    AH_ASSERT_EQ_INT(send_all(&p, 100), 10);
    AH_ASSERT_EQ_INT(p.nsent, 10);
    for (uint64_t s = 1; s <= 10; s++)
        AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, s, 100 + s, false, &del), AE_PIPE_OK);
    uint64_t got[16];
    AH_ASSERT_EQ_INT(retire_all(&p, got), 10);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(got[i], i + 1);
    AH_ASSERT_EQ_INT(p.retired_sseq, 110);
    AH_ASSERT(!p.head && p.bytes == 0);
    ae_pipeline_free(&p);
}

static void test_pipeline_hole_repair(void)
{
    uint64_t del = 0;
    ae_pipeline p;
    ae_pipeline_init(&p, counting_inc);
    for (uint64_t s = 1; s <= 5; s++)
        ae_pipeline_push(&p, rec(s));
    send_all(&p, 100);
    uint32_t g = p.gen;
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, g, 1, 11, false, &del), AE_PIPE_OK);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, g, 2, 12, false, &del), AE_PIPE_OK);
    /* 3 was dropped by the hub, 4 and 5 stored: an ack behind an unanswered send */
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, g, 4, 14, false, &del), AE_PIPE_PAUSE);
    AH_ASSERT(ae_pipeline_next(&p) == NULL);
    ae_pipeline_push(&p, rec(6));
    AH_ASSERT(ae_pipeline_next(&p) == NULL); /* paused: nothing new goes out */
    AH_ASSERT_EQ_INT(retire_all(&p, NULL), 2);
    /* 3 times out: recall and walk; the stream holds 4 and 5 after 2 */
    ae_pipeline_recall(&p);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, g, 5, 15, false, &del),
                     AE_PIPE_IGNORED); /* old generation */
    ae_stored_ref found[] = {{.seq = 4, .sseq = 14}, {.seq = 5, .sseq = 15}};
    ae_stored_ref disp[8];
    size_t nd = 0, matched = 0;
    ae_pipeline_apply_walk(&p, found, 2, 15, disp, &nd);
    AH_ASSERT_EQ_INT(nd, 0);
    AH_ASSERT(ae_pipeline_next(&p) == NULL); /* results not settled yet */
    AH_ASSERT(ae_pipeline_settle(&p, disp, &nd, 8, &matched));
    AH_ASSERT_EQ_INT(matched, 0);
    AH_ASSERT_EQ_INT(nd, 2); /* 4 and 5 are out of place: 3 is not in the stream */
    AH_ASSERT_EQ_INT(disp[0].sseq, 14);
    AH_ASSERT_EQ_INT(disp[1].sseq, 15);
    AH_ASSERT_EQ_INT(send_all(&p, 100), 4); /* 3, then 4 and 5 under new ids, and 6 */
    AH_ASSERT_EQ_INT(p.head->seq, 3);
    AH_ASSERT_EQ_INT(p.head->inc, 0); /* never stored: its id is unused */
    AH_ASSERT(p.head->next->inc != 0 && p.head->next->next->inc != 0); /* 4, 5: new ids */
    AH_ASSERT_EQ_INT(p.head->next->next->next->inc, 0);                /* 6 */
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 3, 16, false, &del), AE_PIPE_OK);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 4, 17, false, &del), AE_PIPE_OK);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 5, 18, false, &del), AE_PIPE_OK);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 6, 19, false, &del), AE_PIPE_OK);
    uint64_t got[8];
    AH_ASSERT_EQ_INT(retire_all(&p, got), 4);
    AH_ASSERT(got[0] == 3 && got[1] == 4 && got[2] == 5 && got[3] == 6);
    ae_pipeline_free(&p);
}

static void test_pipeline_anomalies(void)
{
    uint64_t del = 0;
    ae_pipeline p;
    ae_pipeline_init(&p, counting_inc);
    for (uint64_t s = 1; s <= 4; s++)
        ae_pipeline_push(&p, rec(s));
    send_all(&p, 100);
    /* stored below its predecessor: out of order */
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 2, 20, false, &del), AE_PIPE_PAUSE);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 1, 25, false, &del), AE_PIPE_RESYNC);
    ae_pipeline_recall(&p);
    /* a walk that saw copies twice and in the wrong order */
    ae_stored_ref found[] = {{.seq = 2, .sseq = 20},
                             {.seq = 1, .sseq = 25},
                             {.seq = 2, .sseq = 26},
                             {.seq = 3, .sseq = 27}};
    ae_stored_ref disp[8];
    size_t nd = 0, matched = 0;
    ae_pipeline_apply_walk(&p, found, 4, 27, disp, &nd);
    AH_ASSERT_EQ_INT(nd, 2); /* 1 after 2, and the second 2 */
    AH_ASSERT_EQ_INT(disp[0].sseq, 25);
    AH_ASSERT_EQ_INT(disp[1].sseq, 26);
    AH_ASSERT(ae_pipeline_settle(&p, disp, &nd, 8, &matched));
    AH_ASSERT_EQ_INT(nd, 4); /* then 2 and 3 follow a missing 1 */
    /* an error reply (a lost publish): recall and walk */
    AH_ASSERT_EQ_INT(send_all(&p, 100), 4);
    AH_ASSERT_EQ_INT(ae_pipeline_refused(&p, p.gen, 1, false), AE_PIPE_RESYNC);
    ae_pipeline_recall(&p);
    /* a duplicate reply pointing before the walk's horizon: that copy was deleted */
    size_t n2 = 0;
    ae_pipeline_apply_walk(&p, NULL, 0, 40, disp, &n2);
    AH_ASSERT_EQ_INT(send_all(&p, 1), 1);
    uint32_t inc0 = p.head->inc;
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 1, 35, true, &del), AE_PIPE_RESYNC);
    AH_ASSERT(p.head->inc != inc0);
    /* a reply the hub can never turn into a success */
    ae_pipeline_recall(&p);
    ae_pipeline_apply_walk(&p, NULL, 0, 40, disp, &n2);
    send_all(&p, 1);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 1, 41, false, &del), AE_PIPE_OK);
    AH_ASSERT_EQ_INT(send_all(&p, 100), 3);
    AH_ASSERT_EQ_INT(ae_pipeline_refused(&p, p.gen, 2, true), AE_PIPE_SET_ASIDE);
    ae_pipeline_drop(&p, 2);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 3, 42, false, &del), AE_PIPE_OK);
    AH_ASSERT_EQ_INT(ae_pipeline_ack(&p, p.gen, 4, 43, false, &del), AE_PIPE_OK);
    uint64_t got[8];
    AH_ASSERT_EQ_INT(retire_all(&p, got), 3);
    AH_ASSERT(got[0] == 1 && got[1] == 3 && got[2] == 4);
    ae_pipeline_free(&p);
}

static void test_pipeline_walk_ahead_of_reading(void)
{
    ae_pipeline p;
    ae_pipeline_init(&p, counting_inc);
    ae_pipeline_push(&p, rec(1));
    ae_pipeline_recall(&p);
    ae_stored_ref found[] = {{.seq = 1, .sseq = 5}, {.seq = 2, .sseq = 6}};
    ae_stored_ref disp[4];
    size_t nd = 0, matched = 0;
    ae_pipeline_apply_walk(&p, found, 2, 6, disp, &nd);
    AH_ASSERT(!ae_pipeline_settle(&p, disp, &nd, 4, &matched)); /* 2 not read yet */
    AH_ASSERT_EQ_INT(matched, 1);
    AH_ASSERT(ae_pipeline_next(&p) == NULL);
    ae_pipeline_push(&p, rec(2));
    ae_pipeline_push(&p, rec(3));
    AH_ASSERT(ae_pipeline_settle(&p, disp, &nd, 4, &matched));
    AH_ASSERT_EQ_INT(matched, 2);
    AH_ASSERT_EQ_INT(nd, 0);
    AH_ASSERT_EQ_INT(retire_all(&p, NULL), 2);
    AH_ASSERT(ae_pipeline_next(&p) && ae_pipeline_next(&p)->seq == 3);
    /* eviction keeps what is sent and the oldest waiting records */
    for (uint64_t s = 4; s <= 20; s++)
        ae_pipeline_push(&p, rec(s));
    size_t before = p.bytes;
    size_t freed = ae_pipeline_evict(&p, 3 * (sizeof(ae_prec) + 4));
    AH_ASSERT(freed > 0 && p.bytes == before - freed);
    AH_ASSERT_EQ_INT(p.max_seq, 5);
    ae_pipeline_free(&p);
}

/* ---- the pipeline against a simulated hub ------------------------------------------------
 * One subject, N records. The hub stores publishes in arrival order; in "leader change"
 * spans it drops publishes without a reply while later ones are stored; replies get lost;
 * publishes from before a recall keep arriving late (an old connection's bytes);
 * duplicate ids are remembered forever, also for deleted messages (the hardest case for
 * re-publishing). No guard headers (a stored expectation header would stall every stream
 * sourcing this one). The driver does what forward.c does: send within a window, recall and
 * walk on a timeout or a RESYNC verdict, delete what the walk or settle displaces. */

typedef struct sim_msg {
    uint64_t seq, sseq;
    uint32_t inc;
    bool deleted;
} sim_msg;

typedef struct sim_pub { /* a publish on its way, or a reply on its way back */
    int64_t due;
    int conn; /* the connection it travels on: per connection, bytes keep their order */
    uint64_t seq;
    uint32_t inc, gen;
    /* reply */
    bool ok, dup;
    uint64_t sseq;
} sim_pub;

typedef struct sim {
    uint64_t rng;
    sim_msg *stream;
    size_t nstream;
    uint64_t next_sseq;
    sim_pub *net, *back; /* publishes to the hub, replies to the vehicle */
    size_t nnet, nback;
    int64_t now;
    int conn;                     /* the current connection */
    int64_t last_due, last_reply; /* per-connection order on the current connection */
    int drop_span;                /* publishes still to drop in the current leader change */
    uint64_t walks, repairs, deletes, breaks;
} sim;

static uint64_t rnd(sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static void sim_delete(sim *s, uint64_t sseq)
{
    for (size_t i = 0; i < s->nstream; i++) {
        if (s->stream[i].sseq == sseq && !s->stream[i].deleted) {
            s->stream[i].deleted = true;
            s->deletes++;
        }
    }
}

static void sim_hub_process(sim *s, const sim_pub *p)
{
    if (s->drop_span > 0) {
        s->drop_span--;
        return; /* dropped in a leader change: no reply */
    }
    if (rnd(s) % 200 == 0)
        s->drop_span = 1 + (int)(rnd(s) % 6);
    s->next_sseq += 1 + rnd(s) % 3; /* other vehicles' messages in between */
    sim_pub r = *p;
    bool dup = false;
    for (size_t i = 0; i < s->nstream && !dup; i++) {
        if (s->stream[i].seq == p->seq && s->stream[i].inc == p->inc) {
            dup = true; /* remembered also when deleted */
            r.sseq = s->stream[i].sseq;
        }
    }
    r.ok = true;
    r.dup = dup;
    if (!dup) {
        s->stream = realloc(s->stream, (s->nstream + 1) * sizeof *s->stream);
        s->stream[s->nstream++] = (sim_msg){.seq = p->seq, .inc = p->inc, .sseq = s->next_sseq};
        r.sseq = s->next_sseq;
    }
    if (p->conn != s->conn || rnd(s) % 50 == 0)
        return; /* the reply is lost (or its connection is gone) */
    r.due = s->now + 1 + (int64_t)(rnd(s) % 4);
    if (r.due < s->last_reply && rnd(s) % 20)
        r.due = s->last_reply; /* replies keep their order, but for a leader change now and then */
    s->last_reply = r.due;
    s->back = realloc(s->back, (s->nback + 1) * sizeof *s->back);
    s->back[s->nback++] = r;
}

/* The connection breaks: what it still carries is lost, or (its bytes stuck in a dead link
 * that comes back) arrives much later, in order. */
static void sim_break(sim *s)
{
    s->breaks++;
    bool late = rnd(s) % 2;
    int64_t shift = 30 + (int64_t)(rnd(s) % 60);
    for (size_t i = 0; i < s->nnet;) {
        if (s->net[i].conn == s->conn && !late) {
            s->net[i] = s->net[--s->nnet];
            continue;
        }
        if (s->net[i].conn == s->conn)
            s->net[i].due += shift;
        i++;
    }
    s->nback = 0;
    s->conn++;
    s->last_due = s->last_reply = s->now;
}

static void sim_delete_all(sim *s, ae_pipeline *p, const ae_stored_ref *disp, size_t nd)
{
    for (size_t k = 0; k < nd; k++)
        sim_delete(s, disp[k].sseq);
    if (nd) {
        s->repairs++;
    }
}

/* Reads our messages after the last retired one back, as a walk does, applies them and
 * deletes what is displaced. */
static void sim_walk(sim *s, ae_pipeline *p)
{
    s->walks++;
    ae_pipeline_recall(p);
    size_t n = 0;
    ae_stored_ref *found = malloc((s->nstream + 1) * sizeof *found);
    for (size_t i = 0; i < s->nstream; i++) {
        if (!s->stream[i].deleted && s->stream[i].sseq > p->retired_sseq)
            found[n++] = (ae_stored_ref){
                .seq = s->stream[i].seq, .sseq = s->stream[i].sseq, .inc = s->stream[i].inc};
    }
    ae_stored_ref *disp = malloc((n + 1) * sizeof *disp);
    size_t nd = 0;
    ae_pipeline_apply_walk(p, found, n, s->next_sseq, disp, &nd);
    if (getenv("SIM_TRACE")) {
        printf("  t=%lld walk after %llu horizon %llu:", (long long)s->now,
               (unsigned long long)p->retired_sseq, (unsigned long long)s->next_sseq);
        for (size_t i = 0; i < n; i++)
            printf(" %llu@%llu", (unsigned long long)found[i].seq,
                   (unsigned long long)found[i].sseq);
        printf(" displaced %zu\n", nd);
    }
    sim_delete_all(s, p, disp, nd);
    free(found);
    free(disp);
}

static void sim_settle(sim *s, ae_pipeline *p)
{
    if (!p->nahead)
        return;
    ae_stored_ref disp[64];
    size_t nd = 0, matched = 0;
    ae_pipeline_settle(p, disp, &nd, 64, &matched);
    sim_delete_all(s, p, disp, nd);
}

static void sim_send(sim *s, ae_pipeline *p, int window)
{
    ae_prec *r;
    while ((int)p->nsent < window && (r = ae_pipeline_next(p))) {
        ae_pipeline_sent(p, r, s->now);
        if (getenv("SIM_TRACE"))
            printf("  t=%lld send seq %llu inc %u gen %u\n", (long long)s->now,
                   (unsigned long long)r->seq, r->inc, r->gen);
        int64_t due = s->now + 1 + (int64_t)(rnd(s) % 4);
        if (due < s->last_due)
            due = s->last_due;
        s->last_due = due;
        sim_pub pub = {
            .due = due,
            .conn = s->conn,
            .seq = r->seq,
            .inc = r->inc,
            .gen = r->gen,
        };
        s->net = realloc(s->net, (s->nnet + 1) * sizeof *s->net);
        s->net[s->nnet++] = pub;
    }
}

/* Takes the earliest due item (ties: the one queued first) from a queue. */
static bool sim_take(sim_pub *q, size_t *n, int64_t now, sim_pub *out)
{
    size_t best = *n;
    for (size_t i = 0; i < *n; i++) {
        if (q[i].due <= now && (best == *n || q[i].due < q[best].due))
            best = i;
    }
    if (best == *n)
        return false;
    *out = q[best];
    memmove(q + best, q + best + 1, (*n - best - 1) * sizeof *q);
    (*n)--;
    return true;
}

/* The records in state STORED, counted: the pipeline keeps this count for its fast path. */
static unsigned stored_records(const ae_pipeline *p)
{
    unsigned n = 0;
    for (const ae_prec *r = p->head; r; r = r->next)
        n += r->state == AE_PREC_STORED;
    return n;
}

static void sim_run(uint64_t seed, uint64_t nrec, int window)
{
    sim s = {.rng = seed * 2654435761u + 1};
    ae_pipeline p;
    ae_pipeline_init(&p, counting_inc);
    uint64_t pushed = 0, retired = 0;
    const int64_t timeout = 20;
    for (s.now = 0; retired < nrec; s.now++) {
        AH_ASSERT_MSG(s.now < 2000000, "seed %llu: no progress (retired %llu of %llu)",
                      (unsigned long long)seed, (unsigned long long)retired,
                      (unsigned long long)nrec);
        while (pushed < nrec && pushed < retired + 200 && rnd(&s) % 2)
            ae_pipeline_push(&p, rec(++pushed));
        if (rnd(&s) % 400 == 0) {
            sim_break(&s);
            sim_walk(&s, &p); /* a new connection: the forwarder walks first */
        }
        sim_settle(&s, &p);
        sim_send(&s, &p, window);
        sim_pub pub;
        while (sim_take(s.net, &s.nnet, s.now, &pub))
            sim_hub_process(&s, &pub);
        bool resync = false;
        sim_pub b;
        while (sim_take(s.back, &s.nback, s.now, &b)) {
            uint64_t del = 0;
            ae_pipe_verdict v = b.ok ? ae_pipeline_ack(&p, b.gen, b.seq, b.sseq, b.dup, &del)
                                     : ae_pipeline_refused(&p, b.gen, b.seq, false);
            if (getenv("SIM_TRACE"))
                printf(
                    "  t=%lld reply seq %llu inc %u gen %u ok %d dup %d sseq %llu -> %d del %llu\n",
                    (long long)s.now, (unsigned long long)b.seq, b.inc, b.gen, b.ok, b.dup,
                    (unsigned long long)b.sseq, v, (unsigned long long)del);
            if (del)
                sim_delete(&s, del);
            if (v == AE_PIPE_RESYNC)
                resync = true;
        }
        AH_ASSERT_MSG(stored_records(&p) == p.nstored, "seed %llu: %u stored, counted %u",
                      (unsigned long long)seed, stored_records(&p), p.nstored);
        const ae_prec *old = ae_pipeline_oldest_sent(&p);
        if (resync || (old && s.now - old->sent_at > timeout))
            sim_walk(&s, &p);
        ae_prec *r;
        while ((r = ae_pipeline_pop_retired(&p))) {
            AH_ASSERT_MSG(r->seq == retired + 1, "seed %llu: retired %llu after %llu",
                          (unsigned long long)seed, (unsigned long long)r->seq,
                          (unsigned long long)retired);
            retired = r->seq;
            free(r);
        }
    }
    /* let every late copy arrive, then: every record exactly once, in order */
    for (int64_t end = s.now + 200; s.now < end; s.now++) {
        sim_pub pub;
        while (sim_take(s.net, &s.nnet, s.now, &pub))
            sim_hub_process(&s, &pub);
    }
    if (getenv("SIM_DUMP")) {
        for (size_t i = 0; i < s.nstream; i++)
            printf("  [%zu] seq %llu inc %u sseq %llu%s\n", i, (unsigned long long)s.stream[i].seq,
                   s.stream[i].inc, (unsigned long long)s.stream[i].sseq,
                   s.stream[i].deleted ? " deleted" : "");
    }
    uint64_t expect = 1;
    for (size_t i = 0; i < s.nstream; i++) {
        if (s.stream[i].deleted)
            continue;
        AH_ASSERT_MSG(s.stream[i].seq == expect,
                      "seed %llu: stream position %zu holds record %llu, expected %llu",
                      (unsigned long long)seed, i, (unsigned long long)s.stream[i].seq,
                      (unsigned long long)expect);
        expect++;
    }
    AH_ASSERT_MSG(expect == nrec + 1, "seed %llu: %llu of %llu records in the stream",
                  (unsigned long long)seed, (unsigned long long)(expect - 1),
                  (unsigned long long)nrec);
    ae_pipeline_free(&p);
    free(s.stream);
    free(s.net);
    free(s.back);
    static uint64_t total_walks, total_repairs, total_deletes, total_breaks;
    total_walks += s.walks;
    total_repairs += s.repairs;
    total_deletes += s.deletes;
    total_breaks += s.breaks;
    if (seed % 100 == 99)
        printf("  after seed %llu: %llu walks, %llu repairs, %llu copies deleted, %llu broken "
               "connections in all\n",
               (unsigned long long)seed, (unsigned long long)total_walks,
               (unsigned long long)total_repairs, (unsigned long long)total_deletes,
               (unsigned long long)total_breaks);
}

static void test_pipeline_simulated_hub(void)
{
    const char *e = getenv("SIM_RUNS");
    int runs = e ? atoi(e) : 400;
    for (int i = 0; i < runs; i++)
        sim_run((uint64_t)i, 300, 1 + i % 40);
}

/* ---- the walk, against a recorded hub -------------------------------------------------------
 * The walk must never finish on an answer older than the stream leader's: a consumer placed
 * on a follower that is behind delivers less than the probe said the subject holds, and the
 * walk keeps pulling until it has seen that sequence. */

typedef struct sent_msg {
    char subject[256], reply[160];
    char body[512];
} sent_msg;
static sent_msg sent_log[32];
static int nsent_log;

static int record_send(void *ctx, const char *subject, size_t sl, const char *reply, size_t rl,
                       const void *hdr, size_t hl, const void *payload, size_t pl)
{
    (void)ctx;
    (void)hdr;
    (void)hl;
    if (nsent_log < 32) {
        sent_msg *m = &sent_log[nsent_log++];
        snprintf(m->subject, sizeof m->subject, "%.*s", (int)sl, subject);
        snprintf(m->reply, sizeof m->reply, "%.*s", (int)rl, reply);
        snprintf(m->body, sizeof m->body, "%.*s", (int)pl, (const char *)payload);
    }
    return 0;
}

static const sent_msg *sent_to(const char *prefix)
{
    for (int i = nsent_log - 1; i >= 0; i--) {
        if (!strncmp(sent_log[i].subject, prefix, strlen(prefix)))
            return &sent_log[i];
    }
    return NULL;
}

/* A reply or delivery as the uplink hands it over (hdr then body). */
static ae_op reply_op(const char *reply_subject, const char *hdr, const char *body, char *buf)
{
    size_t hl = hdr ? strlen(hdr) : 0, bl = body ? strlen(body) : 0;
    memcpy(buf, hdr ? hdr : "", hl);
    memcpy(buf + hl, body ? body : "", bl);
    ae_op op;
    memset(&op, 0, sizeof op);
    op.reply = (ae_slice){reply_subject, reply_subject ? strlen(reply_subject) : 0};
    op.hdr_len = hl;
    op.total_len = hl + bl;
    op.payload = (const uint8_t *)buf;
    return op;
}

static void test_walk_waits_for_the_leader(void)
{
    ae_msgid_key k = test_key("V1", 0xabcULL, 3);
    ae_walk_env env = {.send = record_send, .inbox = "_INBOX.t.", .domain = "hub", .key = &k};
    ae_walk w;
    memset(&w, 0, sizeof w);
    nsent_log = 0;
    const char *subj = "fleet.p.veh.V1.state.pos";
    ae_walk_begin(&w, &env, 3, subj, strlen(subj), "VEH", 100, false, 7);
    const sent_msg *probe = sent_to(subj);
    AH_ASSERT(probe && !strcmp(probe->reply, "_INBOX.t.p.3.7"));
    const sent_msg *cc = sent_to("$JS.hub.API.CONSUMER.CREATE.VEH.");
    AH_ASSERT(cc);
    AH_ASSERT_CONTAINS(cc->subject, ".fleet.p.veh.V1.state.pos");
    AH_ASSERT_CONTAINS(cc->body, "\"opt_start_seq\":101");
    AH_ASSERT_CONTAINS(cc->body, "\"filter_subject\":\"fleet.p.veh.V1.state.pos\"");
    char buf[1024];
    /* the leader: the subject's newest message is stream seq 110 */
    ae_op op = reply_op(NULL, NULL,
                        "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":\"wrong last "
                        "sequence: 110\"},\"stream\":\"VEH\",\"seq\":0}",
                        buf);
    AH_ASSERT_EQ_INT(ae_walk_reply(&w, &env, 'p', &op), AE_WALK_PENDING);
    op = reply_op(NULL, NULL, "{\"type\":\"io.nats.jetstream.api.v1.consumer_create_response\"}",
                  buf);
    AH_ASSERT_EQ_INT(ae_walk_reply(&w, &env, 'c', &op), AE_WALK_PENDING);
    AH_ASSERT(sent_to("$JS.hub.API.CONSUMER.MSG.NEXT.VEH."));
    /* a follower behind the leader: delivers 105 and says nothing is pending */
    char id[AE_MSGID_MAX], hdr[300];
    ae_msgid_format(&k, 41, 0, id, sizeof id);
    snprintf(hdr, sizeof hdr, "NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n", id);
    op = reply_op("$JS.ACK.VEH.aw1.1.105.1.1795666552696582546.0", hdr, "", buf);
    AH_ASSERT_EQ_INT(ae_walk_reply(&w, &env, 'w', &op), AE_WALK_PENDING);
    int before = nsent_log;
    op = reply_op(NULL, "NATS/1.0 408 Request Timeout\r\n\r\n", "", buf);
    AH_ASSERT_EQ_INT(ae_walk_reply(&w, &env, 'w', &op), AE_WALK_PENDING);
    AH_ASSERT_MSG(nsent_log == before + 1 && sent_to("$JS.hub.API.CONSUMER.MSG.NEXT.VEH."),
                  "the walk did not pull again after a short answer");
    /* the follower caught up: 110 arrives, the walk is done with both of ours */
    ae_msgid_format(&k, 42, 0, id, sizeof id);
    snprintf(hdr, sizeof hdr, "NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n", id);
    op = reply_op("$JS.ACK.VEH.aw1.1.110.2.1795666552696582546.0", hdr, "", buf);
    AH_ASSERT_EQ_INT(ae_walk_reply(&w, &env, 'w', &op), AE_WALK_DONE);
    AH_ASSERT_EQ_INT(w.nfound, 2);
    AH_ASSERT(w.found[0].seq == 41 && w.found[0].sseq == 105);
    AH_ASSERT(w.found[1].seq == 42 && w.found[1].sseq == 110);
    /* a walk whose probe says nothing is after the start is done at once */
    ae_walk_begin(&w, &env, 3, subj, strlen(subj), "VEH", 100, false, 8);
    op = reply_op(NULL, NULL,
                  "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":\"wrong last "
                  "sequence: 100\"},\"stream\":\"VEH\",\"seq\":0}",
                  buf);
    AH_ASSERT_EQ_INT(ae_walk_reply(&w, &env, 'p', &op), AE_WALK_DONE);
    AH_ASSERT_EQ_INT(w.nfound, 0);
    ae_walk_free(&w);
}

/* ---- the note ------------------------------------------------------------------------------ */

typedef struct note_seen {
    char text[512];
    int n;
} note_seen;

static void note_collect(void *ctx, const ae_fwdnote_entry *e)
{
    note_seen *ns = ctx;
    size_t l = strlen(ns->text);
    snprintf(ns->text + l, sizeof ns->text - l, "%s|%s|%s|%llu|%llu;", e->subject, e->domain,
             e->stream, (unsigned long long)e->retired_seq, (unsigned long long)e->retired_sseq);
    ns->n++;
}

static void test_note_roundtrip(void)
{
    ae_fwdnote_entry e[] = {
        {.subject = "a.b",
         .subject_len = 3,
         .domain = "hub-eu",
         .stream = "TWIN",
         .retired_seq = 5,
         .retired_sseq = 70},
        {.subject = "a.b",
         .subject_len = 3,
         .domain = "hub-us",
         .stream = "TWIN_US",
         .retired_seq = 3,
         .retired_sseq = 9},
        {.subject = "c",
         .subject_len = 1,
         .domain = "",
         .stream = "",
         .retired_seq = 0,
         .retired_sseq = 0},
    };
    size_t len = 0;
    uint8_t *b = ae_fwdnote_encode(e, 3, &len);
    AH_ASSERT(b && len > 4);
    note_seen ns = {.text = ""};
    AH_ASSERT_EQ_INT(ae_fwdnote_decode(b, len, note_collect, &ns), 3);
    AH_ASSERT_EQ_STR(ns.text, "a.b|hub-eu|TWIN|5|70;a.b|hub-us|TWIN_US|3|9;c|||0|0;");
    /* every truncation yields a prefix of the entries, never garbage */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, b, cut);
        note_seen part = {.text = ""};
        size_t n = ae_fwdnote_decode(t, cut, note_collect, &part);
        AH_ASSERT(n < 3 && strncmp(ns.text, part.text, strlen(part.text)) == 0);
        free(t);
    }
    free(b);
    /* the first format, without domains */
    uint8_t v1[] = {'A', 'F', 'N', '1', 1, 0, 'x', 1, 'S', 2, 0, 0, 0,
                    0,   0,   0,   0,   9, 0, 0,   0, 0,   0, 0, 0};
    note_seen old = {.text = ""};
    AH_ASSERT_EQ_INT(ae_fwdnote_decode(v1, sizeof v1, note_collect, &old), 1);
    AH_ASSERT_EQ_STR(old.text, "x||S|2|9;");
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"msgid_roundtrip", test_msgid_roundtrip, 10},
        {"msgid_foreign_and_forged", test_msgid_foreign_and_forged, 10},
        {"js_replies", test_js_replies, 10},
        {"js_delivery", test_js_delivery, 10},
        {"headers", test_headers, 10},
        {"pipeline_in_order", test_pipeline_in_order, 10},
        {"pipeline_hole_repair", test_pipeline_hole_repair, 10},
        {"pipeline_anomalies", test_pipeline_anomalies, 10},
        {"pipeline_walk_ahead_of_reading", test_pipeline_walk_ahead_of_reading, 10},
        {"pipeline_simulated_hub", test_pipeline_simulated_hub, 120},
        {"walk_waits_for_the_leader", test_walk_waits_for_the_leader, 10},
        {"note_roundtrip", test_note_roundtrip, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
