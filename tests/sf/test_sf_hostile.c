/* Store-and-forward under hostile input (tests/sf): what another program can send must never
 * make the leaf lose, block or skip its own confirmed messages (architecture contract 6,
 * issue 18 cases 1-3 and 7). Each case reproduces an attack that lost or blocked messages
 * before the fix, against a real nats-server hub.
 *
 *   forged_ids      another publisher writes this vehicle's message ids into the stream: a
 *                   far higher seq (which the resync used to trust, retiring records it
 *                   never delivered) and the vehicle's next ids (which the hub used to drop
 *                   as duplicates of the forgeries)
 *   poison_headers  a local publisher sets Nats-Expected-Stream / -Last-Sequence /
 *                   Nats-Msg-Id on an uplink subject (the hub used to refuse every resend,
 *                   blocking the subject for good)
 *   big_headers     header blocks of 9 KB and 60 KB reach the hub intact (they used to be
 *                   stripped above 8 KB)
 *   subject_flood   publishes on ever new uplink subjects are capped, with an error, and
 *                   idle subjects are forgotten (per-subject state used to grow without
 *                   bound) */
#include "sf_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSUBJ 2

/* A JetStream publish straight to the hub, as any program with access to it could make.
 * Returns 1 when the hub stored it (0 when it was a duplicate id or refused). */
static int hub_publish(natsConnection *nc, const char *subject, const char *msgid,
                       const char *payload)
{
    natsMsg *m = NULL;
    natsMsg_Create(&m, subject, NULL, payload, (int)strlen(payload));
    natsMsgHeader_Set(m, "Nats-Msg-Id", msgid);
    natsMsg *reply = NULL;
    int stored = 0;
    if (natsConnection_RequestMsg(&reply, nc, m, 3000) == NATS_OK) {
        json_t *j =
            json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
        stored = json_integer_value(json_object_get(j, "seq")) > 0 &&
                 !json_is_true(json_object_get(j, "duplicate"));
        json_decref(j);
    }
    natsMsg_Destroy(m);
    natsMsg_Destroy(reply);
    return stored;
}

/* The Nats-Msg-Id of the newest message on subject (direct get through any hub client). */
static void newest_id(natsConnection *nc, const char *subject, char *out, size_t cap)
{
    char api[300];
    snprintf(api, sizeof api, "$JS.API.DIRECT.GET.VEH.%s", subject);
    natsMsg *r = NULL;
    out[0] = 0;
    if (natsConnection_Request(&r, nc, api, NULL, 0, 3000) == NATS_OK) {
        const char *v = NULL;
        if (natsMsgHeader_Get(r, "Nats-Msg-Id", &v) == NATS_OK && v)
            snprintf(out, cap, "%s", v);
        natsMsg_Destroy(r);
    }
}

static void test_forged_ids(void)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v2", n.urls, NULL, NULL, "ack_timeout: \"1s\"", NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v2", NSUBJ, 64, 1000);
    for (int i = 0; i < 6; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
    SF_ASSERT(sf_pub_flush(&p, 10000), "not flushed");
    SF_ASSERT(sf_wait_drained(&l, 15000), "first messages not forwarded");

    /* The vehicle goes offline with messages to deliver. */
    sf_net_cmd(&n, "cut");
    SF_ASSERT(sf_wait_state(&l, "disconnected", 15000), "the leaf did not notice the cut");
    for (int i = 0; i < 20; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
    SF_ASSERT(sf_pub_flush(&p, 10000), "not flushed offline");

    /* Meanwhile another program reads the vehicle's newest id and forges ids after it. */
    natsConnection *nc = sf_hub_conn(&n.hub, 0);
    int forged = 0;
    for (int s = 0; s < NSUBJ; s++) {
        char subj[128], id[256], prefix[256], forgery[300];
        snprintf(subj, sizeof subj, "fleet.test.veh.v2.state.s%d", s);
        newest_id(nc, subj, id, sizeof id);
        SF_ASSERT(id[0], "no id found on %s", subj);
        /* "<vid>.<epoch>." and whatever tag the real id carries */
        char *third = strchr(strchr(id, '.') + 1, '.');
        snprintf(prefix, sizeof prefix, "%.*s", (int)(third + 1 - id), id);
        const char *tag = strrchr(id, '-');
        snprintf(forgery, sizeof forgery, "%s999999999", prefix);
        forged += hub_publish(nc, subj, forgery, "forged far ahead");
        snprintf(forgery, sizeof forgery, "%s999999999%s", prefix, tag ? tag : "");
        forged += hub_publish(nc, subj, forgery, "forged far ahead, real tag");
        for (int k = 1; k <= 30; k++) { /* the vehicle's next ids, with and without its tag */
            snprintf(forgery, sizeof forgery, "%s%d", prefix, 6 + k);
            forged += hub_publish(nc, subj, forgery, "forged next id");
            snprintf(forgery, sizeof forgery, "%s%d%s", prefix, 6 + k, tag ? tag : "");
            forged += hub_publish(nc, subj, forgery, "forged next id, real tag");
        }
    }
    natsConnection_Destroy(nc);

    sf_net_cmd(&n, "heal");
    for (int i = 0; i < 10; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
    SF_ASSERT(sf_pub_flush(&p, 10000), "not flushed after heal");
    SF_ASSERT(sf_wait_drained(&l, 30000), "backlog not drained: %lld left",
              sf_leafz_int(&l, "backlog_msgs"));
    long long forged_seen = sf_leafz_int(&l, "forged_ids");
    sf_check c;
    sf_check_stream(&n.hub, 0, "VEH", &p, &c);
    sf_check_print("forged_ids", &c);
    printf("  forgeries stored by the hub %d, seen by the leaf's walks %lld\n", forged,
           forged_seen);
    SF_ASSERT(c.lost == 0 && c.duplicated == 0 && c.reordered == 0,
              "lost %ld, duplicated %ld, reordered %ld", c.lost, c.duplicated, c.reordered);
    SF_ASSERT(c.distinct == (long)p.next_g, "%ld of %llu messages in the stream", c.distinct,
              (unsigned long long)p.next_g);
    SF_ASSERT(forged >= 90, "only %d forgeries were stored: the attack did not happen", forged);
    SF_ASSERT(c.unknown == forged, "%ld foreign messages in the stream, %d forged", c.unknown,
              forged);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* Sends HPUB with the given header lines and payload on a raw connection; waits for PONG. */
static void hpub(int fd, const char *subject, const char *hdr_lines, const char *payload)
{
    size_t hl = strlen("NATS/1.0\r\n") + strlen(hdr_lines) + 2;
    size_t pl = strlen(payload);
    size_t cap = hl + pl + strlen(subject) + 64;
    char *buf = malloc(cap);
    int n = snprintf(buf, cap, "HPUB %s %zu %zu\r\nNATS/1.0\r\n%s\r\n%s\r\nPING\r\n", subject, hl,
                     hl + pl, hdr_lines, payload);
    AH_ASSERT(ah_send_n(fd, buf, (size_t)n) == 0);
    free(buf);
    char in[4096];
    AH_ASSERT_MSG(ah_read_until(fd, in, sizeof in, "PONG", 10000) > 0, "no PONG after HPUB");
}

static int raw_client(int port)
{
    int fd = ah_connect(port);
    AH_ASSERT(fd >= 0);
    char in[4096];
    AH_ASSERT(ah_read_until(fd, in, sizeof in, "\r\n", 5000) > 0);
    AH_ASSERT(ah_send(fd, "CONNECT {\"verbose\":false,\"headers\":true}\r\nPING\r\n") == 0);
    AH_ASSERT(ah_read_until(fd, in, sizeof in, "PONG", 5000) > 0);
    return fd;
}

/* All messages of a subject through an ordered consumer: payloads and a header's values. */
static int read_subject(ah_hub *h, const char *subject, char payloads[][64], char **hdr_vals,
                        const char *hdr, int max)
{
    natsConnection *nc = sf_hub_conn(h, 0);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "VEH";
    so.Ordered = true;
    natsSubscription *sub = NULL;
    jsErrCode je = 0;
    SF_ASSERT(js_SubscribeSync(&sub, js, subject, NULL, &so, &je) == NATS_OK, "subscribe");
    int n = 0;
    natsMsg *m = NULL;
    while (n < max && natsSubscription_NextMsg(&m, sub, 2000) == NATS_OK) {
        snprintf(payloads[n], 64, "%.*s",
                 natsMsg_GetDataLength(m) > 63 ? 63 : natsMsg_GetDataLength(m), natsMsg_GetData(m));
        const char *v = NULL;
        if (hdr_vals)
            hdr_vals[n] = natsMsgHeader_Get(m, hdr, &v) == NATS_OK && v ? strdup(v) : NULL;
        n++;
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n;
}

static void test_poison_headers(void)
{
    sf_net n;
    sf_net_start(&n, 1, false);
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, NULL, "ack_timeout: \"1s\"", NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    int fd = raw_client(l.port);
    const char *subj = "fleet.test.veh.v1.state.p";
    hpub(fd, subj, "X-Keep: 1\r\n", "m0");
    hpub(fd, subj, "Nats-Expected-Stream: WRONG\r\nX-Keep: 2\r\n", "m1");
    hpub(fd, subj, "Nats-Expected-Last-Sequence: 1\r\n", "m2");
    hpub(fd, subj, "nats-expected-last-subject-sequence: 7\r\n", "m3");
    hpub(fd, subj, "Nats-Msg-Id: mine\r\n", "m4");
    hpub(fd, subj, "Nats-Msg-Id: mine\r\n", "m5");
    hpub(fd, subj, "Nats-Rollup: sub\r\n", "m6");
    for (int i = 7; i < 50; i++) {
        char p[16];
        snprintf(p, sizeof p, "m%d", i);
        hpub(fd, subj, "X-Plain: yes\r\n", p);
    }
    SF_ASSERT(sf_wait_drained(&l, 20000), "the subject is blocked: %lld left, last error %s",
              sf_leafz_int(&l, "backlog_msgs"), "see log");
    char payloads[64][64];
    char *keep[64] = {0};
    int got = read_subject(&n.hub, subj, payloads, keep, "X-Keep", 64);
    printf("  %d messages stored; stripped_headers=%lld\n", got,
           sf_leafz_int(&l, "stripped_headers"));
    SF_ASSERT(got == 50, "%d of 50 messages stored", got);
    for (int i = 0; i < got; i++) {
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        SF_ASSERT(!strcmp(payloads[i], want), "message %d is %s", i, payloads[i]);
    }
    SF_ASSERT(keep[1] && !strcmp(keep[1], "2"), "the publisher's own header was not kept");
    SF_ASSERT(sf_leafz_int(&l, "stripped_headers") == 6, "stripped_headers %lld, expected 6",
              sf_leafz_int(&l, "stripped_headers"));
    for (int i = 0; i < got; i++)
        free(keep[i]);
    close(fd);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

static void test_big_headers(void)
{
    sf_net n;
    sf_net_start(&n, 1, false);
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, NULL, NULL, NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    int fd = raw_client(l.port);
    const char *subj = "fleet.test.veh.v1.state.h";
    const size_t sizes[] = {100, 8000, 9000, 60000};
    for (size_t i = 0; i < 4; i++) {
        char *line = malloc(sizes[i] + 16);
        memcpy(line, "X-Big: ", 7);
        memset(line + 7, 'a' + (int)i, sizes[i]);
        memcpy(line + 7 + sizes[i], "\r\n", 3);
        char p[16];
        snprintf(p, sizeof p, "h%zu", i);
        hpub(fd, subj, line, p);
        free(line);
    }
    SF_ASSERT(sf_wait_drained(&l, 20000), "not forwarded: %lld left",
              sf_leafz_int(&l, "backlog_msgs"));
    char payloads[8][64];
    char *vals[8] = {0};
    int got = read_subject(&n.hub, subj, payloads, vals, "X-Big", 8);
    SF_ASSERT(got == 4, "%d of 4 stored", got);
    for (int i = 0; i < 4; i++) {
        size_t len = vals[i] ? strlen(vals[i]) : 0;
        printf("  header of %zu bytes arrived with %zu\n", sizes[i], len);
        SF_ASSERT(len == sizes[i], "a header of %zu bytes arrived with %zu", sizes[i], len);
        free(vals[i]);
    }
    close(fd);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* A program publishing on ever new uplink subjects: the forwarder tracks at most
 * uplink.max_subjects of them and refuses the rest with a clear error (nothing it accepted
 * is lost); drained subjects unused for uplink.subject_idle are forgotten, so the limit is
 * on subjects in use, not on all subjects ever seen. */
static void test_subject_flood(void)
{
    sf_net n;
    sf_net_start(&n, 1, false);
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, NULL, "max_subjects: 100\n  subject_idle: \"1s\"", NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", 150, 32, 1000);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 150; i++)
            SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
        SF_ASSERT(sf_pub_flush(&p, 10000), "not flushed");
        SF_ASSERT(sf_wait_drained(&l, 20000), "not drained");
        char err[512] = "";
        sf_leafz_str(&l, "last_hub_error", err, sizeof err);
        printf("  round %d: refused %ld, capture_errors %lld, subjects %lld; %s\n", round,
               p.refused, sf_leafz_int(&l, "capture_errors"), sf_leafz_int(&l, "uplink_subjects"),
               err);
        SF_ASSERT(p.refused == 50L * (round + 1), "%ld publishes refused, expected %d", p.refused,
                  50 * (round + 1));
        SF_ASSERT(strstr(err, "uplink.max_subjects"), "the error does not name the limit: %s", err);
        /* once idle and drained, the subjects are forgotten */
        int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
        while (sf_leafz_int(&l, "uplink_subjects") != 0 && ah_now_ms() < deadline)
            ah_sleep_ms(200);
        SF_ASSERT(sf_leafz_int(&l, "uplink_subjects") == 0, "%lld subjects still tracked",
                  sf_leafz_int(&l, "uplink_subjects"));
    }
    sf_check c;
    sf_check_stream(&n.hub, 0, "VEH", &p, &c);
    sf_check_print("subject_flood", &c);
    SF_ASSERT(c.lost == p.refused && c.duplicated == 0 && c.reordered == 0 && c.unknown == 0,
              "lost %ld (refused %ld), duplicated %ld, reordered %ld", c.lost, p.refused,
              c.duplicated, c.reordered);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"forged_ids", test_forged_ids, 120},
        {"poison_headers", test_poison_headers, 90},
        {"big_headers", test_big_headers, 90},
        {"subject_flood", test_subject_flood, 120},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
