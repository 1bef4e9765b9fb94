/* Compatibility: the official C client (libnats 3.4.1, the library our vehicle programs use)
 * against the broker under test. Each case is a scenario a real program depends on: pub/sub,
 * wildcards, queue groups, request/reply, headers, no-responders, auto-unsubscribe, no-echo,
 * payloads up to max_payload, hundreds of connections, and reconnecting after a broker
 * restart on the same port. The broker is chosen by AERIE_BROKER (see tests/wire/interop.h);
 * nothing here knows which one it talks to. */
#include <nats/nats.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "interop.h"

#define CHECK(call)                                                                                \
    do {                                                                                           \
        natsStatus st_ = (call);                                                                   \
        if (st_ != NATS_OK)                                                                        \
            ah_fail(__FILE__, __LINE__, "%s: %s (%s)", #call, natsStatus_GetText(st_),             \
                    nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");                       \
    } while (0)

static void url_of(const ai_broker *b, char *url, size_t cap)
{
    snprintf(url, cap, "nats://127.0.0.1:%d", b->port);
}

/* A connection with a name and short timeouts; extra options may be preset in opts. */
static natsConnection *connect_opts(const ai_broker *b, natsOptions *opts)
{
    char url[64];
    url_of(b, url, sizeof url);
    CHECK(natsOptions_SetURL(opts, url));
    CHECK(natsOptions_SetTimeout(opts, 3000));
    natsConnection *nc = NULL;
    CHECK(natsConnection_Connect(&nc, opts));
    return nc;
}

static natsConnection *connect_plain(const ai_broker *b)
{
    natsOptions *opts = NULL;
    CHECK(natsOptions_Create(&opts));
    CHECK(natsOptions_SetName(opts, "interop"));
    natsConnection *nc = connect_opts(b, opts);
    natsOptions_Destroy(opts);
    return nc;
}

/* Next message of a sync subscription, which must arrive within 3 s. */
static natsMsg *next(natsSubscription *sub)
{
    natsMsg *m = NULL;
    CHECK(natsSubscription_NextMsg(&m, sub, 3000));
    return m;
}

/* Requires that no message arrives within ms. */
static void expect_none(natsSubscription *sub, int ms)
{
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, ms);
    AH_ASSERT_MSG(s == NATS_TIMEOUT, "expected no message, got %s (%s)", natsStatus_GetText(s),
                  m ? natsMsg_GetSubject(m) : "-");
}

static void expect_msg(natsSubscription *sub, const char *subject, const char *data)
{
    natsMsg *m = next(sub);
    AH_ASSERT_EQ_STR(natsMsg_GetSubject(m), subject);
    AH_ASSERT_EQ_INT(natsMsg_GetDataLength(m), strlen(data));
    AH_ASSERT(memcmp(natsMsg_GetData(m), data, strlen(data)) == 0);
    natsMsg_Destroy(m);
}

static void begin(ai_broker *b, const ai_broker_opts *o)
{
    CHECK(nats_Open(-1));
    ai_broker_start(b, o);
}

static void end(ai_broker *b)
{
    ai_broker_free(b);
    /* Waits for libnats' threads, so LeakSanitizer sees a clean process. */
    nats_CloseAndWait(5000);
}

static void case_pub_sub(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *nc = connect_plain(&b);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, nc, "lib.ps"));
    CHECK(natsConnection_PublishString(nc, "lib.ps", "hello"));
    CHECK(natsConnection_Publish(nc, "lib.ps", "\0\r\n\xff", 4));
    CHECK(natsConnection_Publish(nc, "lib.ps", NULL, 0));
    CHECK(natsConnection_Flush(nc));
    expect_msg(sub, "lib.ps", "hello");
    natsMsg *m = next(sub);
    AH_ASSERT_EQ_INT(natsMsg_GetDataLength(m), 4);
    AH_ASSERT(memcmp(natsMsg_GetData(m), "\0\r\n\xff", 4) == 0);
    natsMsg_Destroy(m);
    expect_msg(sub, "lib.ps", "");
    /* A reply subject travels with the message. */
    CHECK(natsConnection_PublishRequestString(nc, "lib.ps", "lib.reply", "r"));
    m = next(sub);
    AH_ASSERT_EQ_STR(natsMsg_GetReply(m), "lib.reply");
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    end(&b);
}

static void case_wildcards(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *nc = connect_plain(&b);
    natsSubscription *one = NULL, *all = NULL, *lit = NULL;
    CHECK(natsConnection_SubscribeSync(&one, nc, "w.*"));
    CHECK(natsConnection_SubscribeSync(&all, nc, "w.>"));
    CHECK(natsConnection_SubscribeSync(&lit, nc, "w.x*"));
    CHECK(natsConnection_PublishString(nc, "w.a", "1"));
    CHECK(natsConnection_PublishString(nc, "w.a.b", "2"));
    CHECK(natsConnection_PublishString(nc, "w", "3"));
    CHECK(natsConnection_PublishString(nc, "w.x*", "4"));
    CHECK(natsConnection_Flush(nc));
    expect_msg(one, "w.a", "1");
    expect_msg(one, "w.x*", "4");
    expect_msg(all, "w.a", "1");
    expect_msg(all, "w.a.b", "2");
    expect_msg(all, "w.x*", "4");
    expect_msg(lit, "w.x*", "4");
    expect_none(one, 200);
    expect_none(all, 50);
    expect_none(lit, 50);
    natsSubscription_Destroy(one);
    natsSubscription_Destroy(all);
    natsSubscription_Destroy(lit);
    natsConnection_Destroy(nc);
    end(&b);
}

enum { QMEMBERS = 3, QMSGS = 300 };
static atomic_int q_counts[QMEMBERS];

static void on_queue_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    atomic_fetch_add(&q_counts[(intptr_t)closure], 1);
    natsMsg_Destroy(msg);
}

static void case_queue_groups(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *members[QMEMBERS];
    natsSubscription *subs[QMEMBERS];
    for (intptr_t i = 0; i < QMEMBERS; i++) {
        members[i] = connect_plain(&b);
        CHECK(natsConnection_QueueSubscribe(&subs[i], members[i], "jobs", "workers", on_queue_msg,
                                            (void *)i));
        CHECK(natsConnection_Flush(members[i]));
    }
    natsConnection *pub = connect_plain(&b);
    for (int i = 0; i < QMSGS; i++)
        CHECK(natsConnection_PublishString(pub, "jobs", "job"));
    CHECK(natsConnection_Flush(pub));
    int64_t deadline = ah_now_ms() + 5000;
    int total = 0;
    while (ah_now_ms() < deadline) {
        total = 0;
        for (int i = 0; i < QMEMBERS; i++)
            total += atomic_load(&q_counts[i]);
        if (total >= QMSGS)
            break;
        ah_sleep_ms(10);
    }
    ah_sleep_ms(200); /* room for any duplicate to show up */
    total = 0;
    for (int i = 0; i < QMEMBERS; i++) {
        int n = atomic_load(&q_counts[i]);
        /* Random distribution: a member with no share out of 300 has chance ~1e-53. */
        AH_ASSERT_MSG(n > 0, "queue member %d got nothing", i);
        total += n;
    }
    AH_ASSERT_EQ_INT(total, QMSGS); /* exactly once across the group */
    printf("  queue distribution: %d %d %d\n", q_counts[0], q_counts[1], q_counts[2]);
    for (int i = 0; i < QMEMBERS; i++) {
        natsSubscription_Destroy(subs[i]);
        natsConnection_Destroy(members[i]);
    }
    natsConnection_Destroy(pub);
    end(&b);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char reply[256];
    snprintf(reply, sizeof reply, "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), reply);
    natsMsg_Destroy(msg);
}

static void case_request_reply(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *srv = connect_plain(&b);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_Subscribe(&sub, srv, "svc.echo", on_request, NULL));
    CHECK(natsConnection_Flush(srv));
    natsConnection *cli = connect_plain(&b);
    for (int i = 0; i < 20; i++) {
        char body[32], want[40];
        snprintf(body, sizeof body, "ping-%d", i);
        snprintf(want, sizeof want, "re:%s", body);
        natsMsg *reply = NULL;
        CHECK(natsConnection_RequestString(&reply, cli, "svc.echo", body, 3000));
        AH_ASSERT_EQ_INT(natsMsg_GetDataLength(reply), strlen(want));
        AH_ASSERT(memcmp(natsMsg_GetData(reply), want, strlen(want)) == 0);
        natsMsg_Destroy(reply);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(cli);
    natsConnection_Destroy(srv);
    end(&b);
}

static void case_headers(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *nc = connect_plain(&b);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, nc, "hdr"));
    natsMsg *out = NULL;
    CHECK(natsMsg_Create(&out, "hdr", "hdr.reply", "body", 4));
    CHECK(natsMsgHeader_Set(out, "Vehicle", "uav-7"));
    CHECK(natsMsgHeader_Add(out, "Tag", "a"));
    CHECK(natsMsgHeader_Add(out, "Tag", "b"));
    CHECK(natsConnection_PublishMsg(nc, out));
    natsMsg_Destroy(out);
    CHECK(natsConnection_Flush(nc));
    natsMsg *in = next(sub);
    AH_ASSERT_EQ_STR(natsMsg_GetReply(in), "hdr.reply");
    AH_ASSERT_EQ_INT(natsMsg_GetDataLength(in), 4);
    const char *v = NULL;
    CHECK(natsMsgHeader_Get(in, "Vehicle", &v));
    AH_ASSERT_EQ_STR(v, "uav-7");
    const char **vals = NULL;
    int n = 0;
    CHECK(natsMsgHeader_Values(in, "Tag", &vals, &n));
    AH_ASSERT_EQ_INT(n, 2);
    AH_ASSERT_EQ_STR(vals[0], "a");
    AH_ASSERT_EQ_STR(vals[1], "b");
    free((void *)vals);
    AH_ASSERT_EQ_INT(natsMsgHeader_Get(in, "Missing", &v), NATS_NOT_FOUND);
    natsMsg_Destroy(in);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    end(&b);
}

static void case_no_responders(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *nc = connect_plain(&b);
    natsMsg *reply = NULL;
    int64_t t0 = ah_now_ms();
    natsStatus s = natsConnection_RequestString(&reply, nc, "nobody.home", "hi", 5000);
    int64_t took = ah_now_ms() - t0;
    AH_ASSERT_MSG(s == NATS_NO_RESPONDERS, "request to nobody: %s", natsStatus_GetText(s));
    /* "Fast": the broker answers at once instead of letting the 5 s timeout run. */
    AH_ASSERT_MSG(took < 2000, "no-responders took %lld ms", (long long)took);
    AH_ASSERT(reply == NULL);
    natsConnection_Destroy(nc);
    end(&b);
}

static void case_auto_unsubscribe(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *nc = connect_plain(&b);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, nc, "au"));
    CHECK(natsSubscription_AutoUnsubscribe(sub, 3));
    for (int i = 0; i < 6; i++)
        CHECK(natsConnection_PublishString(nc, "au", "x"));
    CHECK(natsConnection_Flush(nc));
    for (int i = 0; i < 3; i++)
        natsMsg_Destroy(next(sub));
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, 300);
    AH_ASSERT_MSG(s != NATS_OK, "a 4th message arrived after AutoUnsubscribe(3)");
    /* The broker removed the interest too: a second connection's view via a fresh
     * subscriber on the same subject sees new messages, the old sub does not. */
    natsSubscription *fresh = NULL;
    CHECK(natsConnection_SubscribeSync(&fresh, nc, "au"));
    CHECK(natsConnection_PublishString(nc, "au", "y"));
    CHECK(natsConnection_Flush(nc));
    expect_msg(fresh, "au", "y");
    natsSubscription_Destroy(fresh);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    end(&b);
}

static void case_no_echo(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsOptions *opts = NULL;
    CHECK(natsOptions_Create(&opts));
    CHECK(natsOptions_SetNoEcho(opts, true));
    natsConnection *quiet = connect_opts(&b, opts);
    natsOptions_Destroy(opts);
    natsConnection *other = connect_plain(&b);
    natsSubscription *qs = NULL, *os = NULL;
    CHECK(natsConnection_SubscribeSync(&qs, quiet, "echo"));
    CHECK(natsConnection_SubscribeSync(&os, other, "echo"));
    CHECK(natsConnection_Flush(quiet));
    CHECK(natsConnection_Flush(other));
    CHECK(natsConnection_PublishString(quiet, "echo", "mine"));
    CHECK(natsConnection_Flush(quiet));
    expect_msg(os, "echo", "mine");
    expect_none(qs, 300);
    CHECK(natsConnection_PublishString(other, "echo", "theirs"));
    CHECK(natsConnection_Flush(other));
    expect_msg(qs, "echo", "theirs");
    expect_msg(os, "echo", "theirs");
    natsSubscription_Destroy(qs);
    natsSubscription_Destroy(os);
    natsConnection_Destroy(quiet);
    natsConnection_Destroy(other);
    end(&b);
}

static void case_large_payloads(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsConnection *nc = connect_plain(&b);
    AH_ASSERT_EQ_INT(natsConnection_GetMaxPayload(nc), 1048576);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, nc, "big"));
    size_t sizes[] = {65536, 500000, 1048576};
    char *buf = malloc(1048577);
    AH_ASSERT(buf != NULL);
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < sizes[k]; i++)
            buf[i] = (char)((i * 31 + k) & 0xff);
        CHECK(natsConnection_Publish(nc, "big", buf, (int)sizes[k]));
        CHECK(natsConnection_Flush(nc));
        natsMsg *m = next(sub);
        AH_ASSERT_EQ_INT(natsMsg_GetDataLength(m), sizes[k]);
        AH_ASSERT_MSG(memcmp(natsMsg_GetData(m), buf, sizes[k]) == 0, "payload of %zu corrupted",
                      sizes[k]);
        natsMsg_Destroy(m);
    }
    /* One byte over max_payload is refused (libnats checks against INFO's max_payload). */
    natsStatus s = natsConnection_Publish(nc, "big", buf, 1048577);
    AH_ASSERT_MSG(s == NATS_MAX_PAYLOAD, "over-size publish: %s", natsStatus_GetText(s));
    /* The connection is still usable. */
    CHECK(natsConnection_PublishString(nc, "big", "small"));
    CHECK(natsConnection_Flush(nc));
    expect_msg(sub, "big", "small");
    free(buf);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    end(&b);
}

static void case_many_connections(void)
{
    enum { CONNS = 300 };
    ai_broker b;
    begin(&b, NULL);
    natsConnection **ncs = calloc(CONNS, sizeof *ncs);
    natsSubscription **own = calloc(CONNS, sizeof *own);
    natsSubscription **all = calloc(CONNS, sizeof *all);
    AH_ASSERT(ncs && own && all);
    for (int i = 0; i < CONNS; i++) {
        char subj[32];
        snprintf(subj, sizeof subj, "many.%d", i);
        ncs[i] = connect_plain(&b);
        CHECK(natsConnection_SubscribeSync(&own[i], ncs[i], subj));
        CHECK(natsConnection_SubscribeSync(&all[i], ncs[i], "many.all"));
        CHECK(natsConnection_Flush(ncs[i]));
    }
    natsConnection *pub = connect_plain(&b);
    for (int i = 0; i < CONNS; i++) {
        char subj[32], data[32];
        snprintf(subj, sizeof subj, "many.%d", i);
        snprintf(data, sizeof data, "for-%d", i);
        CHECK(natsConnection_PublishString(pub, subj, data));
    }
    CHECK(natsConnection_PublishString(pub, "many.all", "everyone"));
    CHECK(natsConnection_Flush(pub));
    for (int i = 0; i < CONNS; i++) {
        char subj[32], data[32];
        snprintf(subj, sizeof subj, "many.%d", i);
        snprintf(data, sizeof data, "for-%d", i);
        expect_msg(own[i], subj, data);
        expect_msg(all[i], "many.all", "everyone");
    }
    for (int i = 0; i < CONNS; i++) {
        natsSubscription_Destroy(own[i]);
        natsSubscription_Destroy(all[i]);
        natsConnection_Destroy(ncs[i]);
    }
    natsConnection_Destroy(pub);
    free(ncs);
    free(own);
    free(all);
    end(&b);
}

static atomic_int reconnects;

static void on_reconnected(natsConnection *nc, void *closure)
{
    atomic_fetch_add(&reconnects, 1);
}

static void case_reconnect_after_restart(void)
{
    ai_broker b;
    begin(&b, NULL);
    natsOptions *opts = NULL;
    CHECK(natsOptions_Create(&opts));
    CHECK(natsOptions_SetMaxReconnect(opts, 200));
    CHECK(natsOptions_SetReconnectWait(opts, 100));
    CHECK(natsOptions_SetReconnectJitter(opts, 0, 0));
    CHECK(natsOptions_SetReconnectedCB(opts, on_reconnected, NULL));
    natsConnection *nc = connect_opts(&b, opts);
    natsOptions_Destroy(opts);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, nc, "rc.>"));
    CHECK(natsConnection_PublishString(nc, "rc.before", "1"));
    CHECK(natsConnection_Flush(nc));
    expect_msg(sub, "rc.before", "1");

    /* Stop by PID (not SIGKILL: the broker should close its clients) and start again on
     * the same port. */
    int st = ai_broker_stop(&b, SIGTERM, 5000);
    AH_ASSERT(st != -1);
    ai_broker_restart(&b);
    int64_t deadline = ah_now_ms() + 10000;
    while (atomic_load(&reconnects) == 0 ||
           natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
        AH_ASSERT_MSG(ah_now_ms() < deadline, "client did not reconnect within 10 s (status %d)",
                      (int)natsConnection_Status(nc));
        ah_sleep_ms(20);
    }
    /* The subscription was re-sent on reconnect: messages from another client reach it. */
    CHECK(natsConnection_Flush(nc));
    natsConnection *other = connect_plain(&b);
    CHECK(natsConnection_PublishString(other, "rc.after", "2"));
    CHECK(natsConnection_Flush(other));
    expect_msg(sub, "rc.after", "2");
    CHECK(natsConnection_PublishString(nc, "rc.self", "3"));
    CHECK(natsConnection_Flush(nc));
    expect_msg(sub, "rc.self", "3");
    natsConnection_Destroy(other);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    end(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"pub_sub", case_pub_sub, 20},
        {"wildcards", case_wildcards, 20},
        {"queue_groups", case_queue_groups, 20},
        {"request_reply", case_request_reply, 20},
        {"headers", case_headers, 20},
        {"no_responders", case_no_responders, 20},
        {"auto_unsubscribe", case_auto_unsubscribe, 20},
        {"no_echo", case_no_echo, 20},
        {"large_payloads", case_large_payloads, 30},
        {"many_connections", case_many_connections, 60},
        {"reconnect_after_restart", case_reconnect_after_restart, 40},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
