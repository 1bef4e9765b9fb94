/* Compatibility: message routing on the raw client protocol, with exact bytes. Publish and
 * subscribe, `*` and `>` wildcards versus literal tokens such as `foo*`, one MSG per matching
 * subscription, queue groups, UNSUB with a maximum, sid corner cases, headers (HPUB/HMSG and
 * stripping for clients without headers), the no-responders status message, zero-length
 * payloads, PING as a flush barrier, and the lenient spellings real clients send.
 * Facts: nats-wire-notes §1.1, §1.4, §1.5, §1.12 (verified against nats-server 2.9.10).
 *
 * Cross-connection checks use the same barrier everywhere: PING/PONG on the publisher (the
 * broker has processed the PUBs), then PING/PONG on the subscriber (its PONG is queued after
 * any MSG the broker produced for it). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"

#define QUIET     "{\"verbose\":false,\"pedantic\":false}"
#define QUIET_HDR "{\"verbose\":false,\"pedantic\":false,\"headers\":true}"

/* Barrier on `pub`, then require exactly `expect` on `sub` (in any order of units when
 * sorted is true). */
static void deliver(int pub, int sub, const char *expect, bool sorted)
{
    char buf[16384];
    ai_sync(pub, buf, sizeof buf, 3000);
    if (!sorted) {
        ai_expect_sync(sub, expect);
        return;
    }
    ai_sync(sub, buf, sizeof buf, 3000);
    char *got = ai_sorted_units(buf);
    char want_raw[16384];
    snprintf(want_raw, sizeof want_raw, "%sPONG\r\n", expect);
    char *want = ai_sorted_units(want_raw);
    AH_ASSERT_EQ_STR(got, want);
    free(got);
    free(want);
}

static void case_pub_sub_exact(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int sub = ai_client(b.port, QUIET);
    int pub = ai_client(b.port, QUIET);
    AH_ASSERT(ah_send(sub, "SUB foo.bar 1\r\n") == 0);
    ai_expect_sync(sub, "");
    AH_ASSERT(ah_send(pub, "PUB foo.bar 5\r\nhello\r\n"
                           "PUB foo.bar reply.to 3\r\nabc\r\n"
                           "PUB foo.baz 3\r\nnot\r\n"
                           "PUB foo 3\r\nnot\r\n") == 0);
    deliver(pub, sub, "MSG foo.bar 1 5\r\nhello\r\nMSG foo.bar 1 reply.to 3\r\nabc\r\n", false);
    /* Binary-safe payload: CR, LF and "PING" inside the payload are just bytes. */
    AH_ASSERT(ah_send(pub, "PUB foo.bar 10\r\n\r\nPING\r\n\t\t\r\n") == 0);
    deliver(pub, sub, "MSG foo.bar 1 10\r\n\r\nPING\r\n\t\t\r\n", false);
    close(sub);
    close(pub);
    ai_broker_free(&b);
}

static void case_wildcards(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int sub = ai_client(b.port, QUIET);
    int pub = ai_client(b.port, QUIET);
    AH_ASSERT(ah_send(sub, "SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB *.bar 4\r\n"
                           "SUB foo.*.baz 5\r\nSUB foo* 6\r\nSUB a.*b 7\r\n") == 0);
    ai_expect_sync(sub, "");
    AH_ASSERT(ah_send(pub, "PUB foo.bar 1\r\n1\r\n") == 0);
    deliver(pub, sub,
            "MSG foo.bar 1 1\r\n1\r\nMSG foo.bar 2 1\r\n1\r\n"
            "MSG foo.bar 3 1\r\n1\r\nMSG foo.bar 4 1\r\n1\r\n",
            true);
    AH_ASSERT(ah_send(pub, "PUB foo.x.baz 1\r\n2\r\n") == 0);
    deliver(pub, sub,
            "MSG foo.x.baz 2 1\r\n2\r\nMSG foo.x.baz 3 1\r\n2\r\n"
            "MSG foo.x.baz 5 1\r\n2\r\n",
            true);
    /* `>` needs at least one token after the prefix; `*` exactly one. */
    AH_ASSERT(ah_send(pub, "PUB foo 1\r\n3\r\n") == 0);
    deliver(pub, sub, "MSG foo 3 1\r\n3\r\n", true);
    /* `foo*` and `a.*b` are literal tokens: only an identical subject matches them. */
    AH_ASSERT(ah_send(pub, "PUB foo* 1\r\n4\r\nPUB foox 1\r\n5\r\nPUB a.*b 1\r\n6\r\n"
                           "PUB a.xb 1\r\n7\r\n") == 0);
    deliver(pub, sub,
            "MSG foo* 6 1\r\n4\r\nMSG foo* 3 1\r\n4\r\nMSG foox 3 1\r\n5\r\n"
            "MSG a.*b 7 1\r\n6\r\nMSG a.*b 3 1\r\n6\r\nMSG a.xb 3 1\r\n7\r\n",
            true);
    close(sub);
    close(pub);
    ai_broker_free(&b);
}

static void case_one_msg_per_sub(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, QUIET);
    /* Three overlapping subscriptions on one connection: three copies, each with its sid. */
    AH_ASSERT(ah_send(c, "SUB foo.* 1\r\nSUB foo.bar 2\r\nSUB > 3\r\nSUB foo.bar 4\r\n") == 0);
    ai_expect_sync(c, "");
    AH_ASSERT(ah_send(c, "PUB foo.bar 2\r\nhi\r\n") == 0);
    char buf[4096];
    ai_sync(c, buf, sizeof buf, 3000);
    char *got = ai_sorted_units(buf);
    char *want = ai_sorted_units("MSG foo.bar 1 2\r\nhi\r\nMSG foo.bar 2 2\r\nhi\r\n"
                                 "MSG foo.bar 3 2\r\nhi\r\nMSG foo.bar 4 2\r\nhi\r\nPONG\r\n");
    AH_ASSERT_EQ_STR(got, want);
    free(got);
    free(want);
    close(c);
    ai_broker_free(&b);
}

static void case_queue_groups(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    enum { N = 60 };
    int m1 = ai_client(b.port, QUIET), m2 = ai_client(b.port, QUIET);
    int plain = ai_client(b.port, QUIET), pub = ai_client(b.port, QUIET);
    AH_ASSERT(ah_send(m1, "SUB work g1 1\r\n") == 0);
    AH_ASSERT(ah_send(m2, "SUB work g1 7\r\nSUB work g2 8\r\n") == 0);
    AH_ASSERT(ah_send(plain, "SUB work 1\r\n") == 0);
    ai_expect_sync(m1, "");
    ai_expect_sync(m2, "");
    ai_expect_sync(plain, "");
    for (int i = 0; i < N; i++)
        AH_ASSERT(ah_send(pub, "PUB work 1\r\nw\r\n") == 0);
    char buf[16384];
    ai_sync(pub, buf, sizeof buf, 3000);
    ai_sync(m1, buf, sizeof buf, 3000);
    int n1 = ai_count(buf, "MSG work 1 1\r\nw\r\n");
    AH_ASSERT_EQ_INT(ai_count(buf, "MSG "), n1);
    ai_sync(m2, buf, sizeof buf, 3000);
    int n7 = ai_count(buf, "MSG work 7 1\r\nw\r\n"), n8 = ai_count(buf, "MSG work 8 1\r\nw\r\n");
    AH_ASSERT_EQ_INT(ai_count(buf, "MSG "), n7 + n8);
    ai_sync(plain, buf, sizeof buf, 3000);
    /* Group g1: every message exactly once across its two members; group g2 (one member)
     * and the plain subscriber get every message. */
    AH_ASSERT_EQ_INT(n1 + n7, N);
    AH_ASSERT_EQ_INT(n8, N);
    AH_ASSERT_EQ_INT(ai_count(buf, "MSG work 1 1\r\nw\r\n"), N);
    /* Both members get a share (random choice: chance of a miss is 2^-59). */
    AH_ASSERT_MSG(n1 > 0 && n7 > 0, "queue members got %d and %d of %d", n1, n7, N);
    close(m1);
    close(m2);
    close(plain);
    close(pub);
    ai_broker_free(&b);
}

static void case_unsub_max(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, QUIET);
    /* The maximum counts deliveries made before the UNSUB too. */
    AH_ASSERT(ah_send(c, "SUB m 9\r\nPUB m 1\r\n1\r\n") == 0);
    ai_expect_sync(c, "MSG m 9 1\r\n1\r\n");
    AH_ASSERT(ah_send(c, "UNSUB 9 2\r\nPUB m 1\r\n2\r\nPUB m 1\r\n3\r\nPUB m 1\r\n4\r\n") == 0);
    ai_expect_sync(c, "MSG m 9 1\r\n2\r\n");
    /* Already at or over the maximum: removed at once. */
    AH_ASSERT(ah_send(c, "SUB n 5\r\nPUB n 1\r\na\r\nPUB n 1\r\nb\r\n") == 0);
    ai_expect_sync(c, "MSG n 5 1\r\na\r\nMSG n 5 1\r\nb\r\n");
    AH_ASSERT(ah_send(c, "UNSUB 5 1\r\nPUB n 1\r\nc\r\n") == 0);
    ai_expect_sync(c, "");
    /* A maximum on a fresh sub, then plain UNSUB of another. */
    AH_ASSERT(ah_send(c, "SUB o 6\r\nUNSUB 6 3\r\nSUB p 7\r\nUNSUB 7\r\n") == 0);
    for (int i = 0; i < 5; i++)
        AH_ASSERT(ah_send(c, "PUB o 1\r\no\r\nPUB p 1\r\np\r\n") == 0);
    ai_expect_sync(c, "MSG o 6 1\r\no\r\nMSG o 6 1\r\no\r\nMSG o 6 1\r\no\r\n");
    close(c);
    ai_broker_free(&b);
}

static void case_sid_corners(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, QUIET);
    /* Unknown sid: accepted silently, connection goes on. */
    AH_ASSERT(ah_send(c, "UNSUB 99\r\nUNSUB 98 5\r\n") == 0);
    ai_expect_sync(c, "");
    /* A second SUB with a sid in use is ignored: the first subscription stays. */
    AH_ASSERT(ah_send(c, "SUB a 1\r\nSUB b 1\r\nPUB a 1\r\nA\r\nPUB b 1\r\nB\r\n") == 0);
    ai_expect_sync(c, "MSG a 1 1\r\nA\r\n");
    /* Sids are opaque strings, not only numbers. */
    AH_ASSERT(ah_send(c, "SUB c my-sid.x\r\nPUB c 1\r\nC\r\n") == 0);
    ai_expect_sync(c, "MSG c my-sid.x 1\r\nC\r\n");
    close(c);
    ai_broker_free(&b);
}

static void case_headers(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int hs = ai_client(b.port, QUIET_HDR);
    int ps = ai_client(b.port, QUIET); /* did not negotiate headers */
    int pub = ai_client(b.port, QUIET_HDR);
    AH_ASSERT(ah_send(hs, "SUB q 1\r\n") == 0);
    AH_ASSERT(ah_send(ps, "SUB q 1\r\n") == 0);
    ai_expect_sync(hs, "");
    ai_expect_sync(ps, "");
    /* 18 header bytes, 21 in total. */
    AH_ASSERT(ah_send(pub, "HPUB q 18 21\r\nNATS/1.0\r\nK: v\r\n\r\nxyz\r\n") == 0);
    deliver(pub, hs, "HMSG q 1 18 21\r\nNATS/1.0\r\nK: v\r\n\r\nxyz\r\n", false);
    /* A subscriber without headers support gets a plain MSG with the header block cut. */
    ai_expect_sync(ps, "MSG q 1 3\r\nxyz\r\n");
    /* With a reply subject, repeated keys, and an empty body. */
    AH_ASSERT(ah_send(pub, "HPUB q r.1 30 30\r\nNATS/1.0\r\nA: 1\r\nA: 2\r\nB: x\r\n\r\n\r\n") ==
              0);
    deliver(pub, hs, "HMSG q 1 r.1 30 30\r\nNATS/1.0\r\nA: 1\r\nA: 2\r\nB: x\r\n\r\n\r\n", false);
    ai_expect_sync(ps, "MSG q 1 r.1 0\r\n\r\n");
    /* A plain PUB reaches a headers subscriber as MSG, not HMSG. */
    AH_ASSERT(ah_send(pub, "PUB q 2\r\nok\r\n") == 0);
    deliver(pub, hs, "MSG q 1 2\r\nok\r\n", false);
    ai_expect_sync(ps, "MSG q 1 2\r\nok\r\n");
    close(hs);
    close(ps);
    close(pub);
    ai_broker_free(&b);
}

static void case_no_responders(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                              "\"no_responders\":true}");
    AH_ASSERT(ah_send(c, "SUB _INBOX.abc.* 1\r\nPUB nobody.listens _INBOX.abc.1 2\r\nhi\r\n") == 0);
    ai_expect_sync(c, "HMSG _INBOX.abc.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
    /* HPUB with a reply to nobody: the same status. */
    AH_ASSERT(ah_send(c, "HPUB nobody.listens _INBOX.abc.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n") == 0);
    ai_expect_sync(c, "HMSG _INBOX.abc.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
    /* No subscription of the publisher on the reply subject: nothing is sent. */
    AH_ASSERT(ah_send(c, "PUB nobody.listens _INBOX.zzz.1 2\r\nhi\r\n") == 0);
    ai_expect_sync(c, "");
    /* A responder exists: the request reaches it and no 503 is generated. */
    int resp = ai_client(b.port, QUIET);
    AH_ASSERT(ah_send(resp, "SUB svc 1\r\n") == 0);
    ai_expect_sync(resp, "");
    AH_ASSERT(ah_send(c, "PUB svc _INBOX.abc.3 2\r\nhi\r\n") == 0);
    ai_expect_sync(c, "");
    ai_expect_sync(resp, "MSG svc 1 _INBOX.abc.3 2\r\nhi\r\n");
    AH_ASSERT(ah_send(resp, "PUB _INBOX.abc.3 3\r\nyes\r\n") == 0);
    deliver(resp, c, "MSG _INBOX.abc.3 1 3\r\nyes\r\n", false);
    /* Publisher that did not ask for no_responders (but has headers): nothing. */
    int old = ai_client(b.port, QUIET_HDR);
    AH_ASSERT(ah_send(old, "SUB _INBOX.x.* 1\r\nPUB nobody.listens _INBOX.x.1 2\r\nhi\r\n") == 0);
    ai_expect_sync(old, "");
    close(c);
    close(resp);
    close(old);
    ai_broker_free(&b);
}

static void case_zero_length(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, QUIET_HDR);
    AH_ASSERT(ah_send(c, "SUB z 1\r\nPUB z 0\r\n\r\nPUB z r 0\r\n\r\n"
                         "HPUB z 12 12\r\nNATS/1.0\r\n\r\n\r\n") == 0);
    ai_expect_sync(c, "MSG z 1 0\r\n\r\nMSG z 1 r 0\r\n\r\nHMSG z 1 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    close(c);
    ai_broker_free(&b);
}

static void case_ping_barrier(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, QUIET);
    enum { N = 500 };
    /* Everything the connection sent before PING is processed, and its output sent, before
     * the PONG: all N echoed messages, in publish order, precede it. */
    static char req[N * 32 + 64];
    static char want[N * 32 + 64];
    size_t off = (size_t)snprintf(req, sizeof req, "SUB seq 1\r\n");
    size_t woff = 0;
    for (int i = 0; i < N; i++) {
        char body[16];
        int bl = snprintf(body, sizeof body, "%d", i);
        off += (size_t)snprintf(req + off, sizeof req - off, "PUB seq %d\r\n%s\r\n", bl, body);
        woff +=
            (size_t)snprintf(want + woff, sizeof want - woff, "MSG seq 1 %d\r\n%s\r\n", bl, body);
    }
    snprintf(req + off, sizeof req - off, "PING\r\n");
    snprintf(want + woff, sizeof want - woff, "PONG\r\n");
    AH_ASSERT(ah_send(c, req) == 0);
    static char got[N * 32 + 64];
    AH_ASSERT(ah_read_until(c, got, sizeof got, "PONG\r\n", 5000) > 0);
    AH_ASSERT_EQ_STR(got, want);
    close(c);
    ai_broker_free(&b);
}

static void case_lenient_spelling(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c = ai_client(b.port, QUIET);
    /* Tabs and runs of blanks between fields, lower-case and mixed-case operations,
     * trailing blanks, empty fields as libnats sends them (`SUB s  1`, `UNSUB 2 `), and bare
     * LF line ends. The broker always answers in canonical form. */
    AH_ASSERT(ah_send(c, "SUB\tx\t1\r\n"
                         "sub  y   2 \r\n"
                         "Sub z  3\r\n"
                         "SUB gone 4\r\n"
                         "unsub 4 \r\n"
                         "pub x 2\r\nhi\r\n"
                         "PUB\ty\t\t2\r\nyo\r\n"
                         "PuB z  2\r\nze\r\n"
                         "PUB gone 1\r\ng\r\n"
                         "PUB x 3\nbar\r\n") == 0);
    ai_expect_sync(c,
                   "MSG x 1 2\r\nhi\r\nMSG y 2 2\r\nyo\r\nMSG z 3 2\r\nze\r\nMSG x 1 3\r\nbar\r\n");
    AH_ASSERT(ah_send(c, "ping\n") == 0);
    char buf[64];
    AH_ASSERT(ah_read_until(c, buf, sizeof buf, "PONG\r\n", 3000) > 0);
    AH_ASSERT_EQ_STR(buf, "PONG\r\n");
    AH_ASSERT(ah_send(c, "PiNg\r\n") == 0);
    AH_ASSERT(ah_read_until(c, buf, sizeof buf, "PONG\r\n", 3000) > 0);
    AH_ASSERT_EQ_STR(buf, "PONG\r\n");
    /* A client PONG (answer to nothing) is accepted silently. */
    AH_ASSERT(ah_send(c, "PONG\r\n") == 0);
    ai_expect_sync(c, "");
    close(c);
    ai_broker_free(&b);
}

static void case_big_fanout_order(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    enum { SUBS = 20, MSGS = 50 };
    int subs[SUBS];
    for (int i = 0; i < SUBS; i++) {
        subs[i] = ai_client(b.port, QUIET);
        AH_ASSERT(ah_send(subs[i], "SUB fan.> 1\r\n") == 0);
        ai_expect_sync(subs[i], "");
    }
    int pub = ai_client(b.port, QUIET);
    static char want[MSGS * 40];
    size_t woff = 0;
    for (int i = 0; i < MSGS; i++) {
        char line[64];
        snprintf(line, sizeof line, "PUB fan.%d 4\r\n%04d\r\n", i, i);
        AH_ASSERT(ah_send(pub, line) == 0);
        woff +=
            (size_t)snprintf(want + woff, sizeof want - woff, "MSG fan.%d 1 4\r\n%04d\r\n", i, i);
    }
    char buf[64];
    ai_sync(pub, buf, sizeof buf, 3000);
    /* Every subscriber sees every message, in the order one publisher sent them. */
    for (int i = 0; i < SUBS; i++) {
        ai_expect_sync(subs[i], want);
        close(subs[i]);
    }
    close(pub);
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"pub_sub_exact", case_pub_sub_exact, 20},
        {"wildcards", case_wildcards, 20},
        {"one_msg_per_sub", case_one_msg_per_sub, 20},
        {"queue_groups", case_queue_groups, 20},
        {"unsub_max", case_unsub_max, 20},
        {"sid_corners", case_sid_corners, 20},
        {"headers", case_headers, 20},
        {"no_responders", case_no_responders, 20},
        {"zero_length", case_zero_length, 20},
        {"ping_barrier", case_ping_barrier, 20},
        {"lenient_spelling", case_lenient_spelling, 20},
        {"big_fanout_order", case_big_fanout_order, 20},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
