/* aerie-leaf's uplink against real nats-server 2.9 hubs: the leafnode protocol as a hub
 * cluster sees it, end to end through libnats clients on both sides.
 *
 * Every case starts its own hub (ah_hub_start / ah_hub_start_opts: JetStream domain "hub",
 * the seed's leaf user vehicle/secret as a top-level user limited to LEAFNODE connections)
 * and its own aerie-leaf, both on free loopback ports, and stops them by PID. Where a relay
 * (aerie-relay) sits in front of a hub node, that node advertises the relay's address:
 * nats-server otherwise tells the leaf its real leafnode address in leafnode_urls and a
 * redialling leaf would route around the relay.
 *
 * Cases (run a subset by naming them on the command line; ctest runs them in three groups,
 * see CMakeLists.txt):
 *   cross_cluster        pub/sub, wildcards, queue groups, request/reply and headers in
 *                        both directions, with the hub clients on another cluster node
 *   only_interest_crosses  a leaf publish without hub interest never reaches the hub
 *   nkey_auth            a leaf authenticated by an nkey made with our own nkeys code
 *   loop_detected        an echoed $LDS subject closes the uplink and delays redialling
 *   failover             the hub node the leaf is on is killed: traffic flows again < 5 s
 *   blackhole            a silently dead link is detected by PINGs and healed
 *   link_down_local      local pub/sub keeps working while the link is cut; the link
 *                        status message, /leafz and /varz follow the link
 *   slow_link            a 64 kbit/s link carries a steady stream without flapping
 *   auth_failures        wrong password / no credentials: a clear error, bounded retries
 *   tls                  TLS with a CA and client certificates made at test time; a wrong
 *                        CA and a missing client certificate are rejected */
#include "common/nkeys.h"
#include "harness/relay_ctl.h"
#include "leaf/ws_handshake.h"
#include "uplink_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOW_MS 15000 /* waits for interest to propagate; generous for loaded machines */

static void start_hub(ah_hub *h, int nodes)
{
    AH_ASSERT_MSG(ah_hub_start(h, nodes, NULL) == 0, "hub of %d nodes did not start", nodes);
    ut_watch_hub(h);
}

/* A remote block for the vehicle user towards hub node ports. */
static void remote_for(char *buf, size_t cap, const int *ports, int n, const char *userinfo)
{
    size_t off = (size_t)snprintf(buf, cap, "urls: [");
    for (int i = 0; i < n; i++) {
        char url[200];
        ut_leaf_url(url, sizeof url, ports[i], userinfo);
        off += (size_t)snprintf(buf + off, cap - off, "%s\"%s\"", i ? ", " : "", url);
    }
    snprintf(buf + off, cap - off, "]");
}

static void sub_sync(natsSubscription **sub, natsConnection *nc, const char *subj,
                     const char *queue)
{
    natsStatus st = queue ? natsConnection_QueueSubscribeSync(sub, nc, subj, queue)
                          : natsConnection_SubscribeSync(sub, nc, subj);
    UT_ASSERT(st == NATS_OK, "subscribe %s: %s", subj, natsStatus_GetText(st));
    natsSubscription_SetPendingLimits(*sub, -1, -1);
}

static void publish_n(natsConnection *nc, const char *subj, int n)
{
    for (int i = 0; i < n; i++) {
        char p[32];
        snprintf(p, sizeof p, "m%d", i);
        UT_ASSERT(natsConnection_PublishString(nc, subj, p) == NATS_OK, "publish %s", subj);
    }
    natsConnection_FlushTimeout(nc, 5000);
}

/* Requires messages m0..m(n-1) in order on sub. */
static void expect_in_order(natsSubscription *sub, const char *what, int n)
{
    for (int i = 0; i < n; i++) {
        natsMsg *m = ut_next(sub, 5000);
        UT_ASSERT(m != NULL, "%s: message %d of %d did not arrive", what, i, n);
        char want[32];
        snprintf(want, sizeof want, "m%d", i);
        UT_ASSERT((size_t)natsMsg_GetDataLength(m) == strlen(want) &&
                      !memcmp(natsMsg_GetData(m), want, strlen(want)),
                  "%s: expected %s, got %.*s", what, want, natsMsg_GetDataLength(m),
                  natsMsg_GetData(m));
        natsMsg_Destroy(m);
    }
}

/* Requires that nothing (but probes) arrives on sub within ms. */
static void expect_quiet(natsSubscription *sub, const char *what, int ms)
{
    natsMsg *m = ut_next(sub, ms);
    if (m) {
        char got[128];
        snprintf(got, sizeof got, "%s: %.*s", natsMsg_GetSubject(m), natsMsg_GetDataLength(m),
                 natsMsg_GetData(m));
        natsMsg_Destroy(m);
        UT_ASSERT(false, "%s: unexpected message %s", what, got);
    }
}

/* Receives from every sub in turn until `total` messages arrived (or 5 s pass without
 * progress); counts each payload, requiring that none arrives twice. */
static void expect_each_once(natsSubscription **subs, int nsubs, int total, const char *what,
                             int *per_sub)
{
    char *seen = calloc((size_t)total, 1);
    int got = 0;
    int64_t idle_deadline = ah_now_ms() + 5000;
    while (got < total && ah_now_ms() < idle_deadline) {
        for (int s = 0; s < nsubs; s++) {
            natsMsg *m = ut_next(subs[s], 20);
            if (!m)
                continue;
            int k = -1;
            sscanf(natsMsg_GetData(m), "m%d", &k);
            natsMsg_Destroy(m);
            UT_ASSERT(k >= 0 && k < total, "%s: unexpected payload", what);
            UT_ASSERT(!seen[k], "%s: m%d delivered twice (once per queue group expected)", what, k);
            seen[k] = 1;
            got++;
            if (per_sub)
                per_sub[s]++;
            idle_deadline = ah_now_ms() + 5000;
        }
    }
    free(seen);
    UT_ASSERT(got == total, "%s: %d of %d messages arrived", what, got, total);
    for (int s = 0; s < nsubs; s++)
        expect_quiet(subs[s], what, 200);
}

/* ---- cross_cluster ------------------------------------------------------------------- */

static void case_cross_cluster(void)
{
    ah_hub h;
    start_hub(&h, 3);
    char remote[512];
    remote_for(remote, sizeof remote, &h.leaf_port[0], 1, "vehicle:secret");
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");

    /* Hub clients sit on hub2: everything also crosses a cluster route. */
    natsConnection *hub = ut_nc_hub(&h, 1);
    natsConnection *hub2 = ut_nc_hub(&h, 2);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsConnection *leaf2 = ut_nc_leaf(&l);

    /* Plain subjects, both directions, order kept. */
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "up.plain", NULL);
    sub_sync(&down, leaf, "down.plain", NULL);
    ut_await_flow(leaf, "up.plain", &up, 1, FLOW_MS);
    ut_await_flow(hub, "down.plain", &down, 1, FLOW_MS);
    publish_n(leaf, "up.plain", 50);
    expect_in_order(up, "leaf->hub up.plain", 50);
    publish_n(hub, "down.plain", 50);
    expect_in_order(down, "hub->leaf down.plain", 50);

    /* Wildcards on the hub side, published on the leaf, and the other way round. */
    natsSubscription *pos = NULL, *all = NULL, *arm = NULL, *cmd = NULL;
    sub_sync(&pos, hub, "tele.*.pos", NULL);
    sub_sync(&all, hub, "tele.>", NULL);
    sub_sync(&arm, leaf, "cmd.*.arm", NULL);
    sub_sync(&cmd, leaf, "cmd.>", NULL);
    natsSubscription *two[2] = {pos, all};
    ut_await_flow(leaf, "tele.probe.pos", two, 2, FLOW_MS);
    natsSubscription *two_l[2] = {arm, cmd};
    ut_await_flow(hub, "cmd.probe.arm", two_l, 2, FLOW_MS);
    natsConnection_PublishString(leaf, "tele.d1.pos", "m0");
    natsConnection_PublishString(leaf, "tele.d1.bat", "m1");
    natsConnection_FlushTimeout(leaf, 2000);
    natsConnection_PublishString(hub, "cmd.v1.arm", "m0");
    natsConnection_PublishString(hub, "cmd.v1.land.now", "m1");
    natsConnection_FlushTimeout(hub, 2000);
    natsMsg *m = ut_next(pos, 5000);
    UT_ASSERT(m && !strcmp(natsMsg_GetSubject(m), "tele.d1.pos"), "tele.*.pos missed tele.d1.pos");
    natsMsg_Destroy(m);
    for (int i = 0; i < 2; i++) {
        m = ut_next(all, 5000);
        UT_ASSERT(m && !strcmp(natsMsg_GetSubject(m), i ? "tele.d1.bat" : "tele.d1.pos"),
                  "tele.> message %d wrong or missing", i);
        natsMsg_Destroy(m);
    }
    m = ut_next(arm, 5000);
    UT_ASSERT(m && !strcmp(natsMsg_GetSubject(m), "cmd.v1.arm"), "cmd.*.arm missed cmd.v1.arm");
    natsMsg_Destroy(m);
    for (int i = 0; i < 2; i++) {
        m = ut_next(cmd, 5000);
        UT_ASSERT(m && !strcmp(natsMsg_GetSubject(m), i ? "cmd.v1.land.now" : "cmd.v1.arm"),
                  "cmd.> message %d wrong or missing", i);
        natsMsg_Destroy(m);
    }
    expect_quiet(pos, "tele.*.pos must not see tele.d1.bat", 300);
    expect_quiet(arm, "cmd.*.arm must not see cmd.v1.land.now", 300);

    /* Queue groups. (a) Two members on the leaf plus a plain leaf subscriber, publisher on
     * the hub: the plain one sees all, the group each message once. */
    enum { NQ = 60 };
    natsSubscription *lq[2] = {NULL, NULL}, *lplain = NULL;
    sub_sync(&lq[0], leaf, "work.down", "w");
    sub_sync(&lq[1], leaf2, "work.down", "w");
    sub_sync(&lplain, leaf, "work.down", NULL);
    /* The leaf sends the group's LS+ before the plain one (subscription order), so once
     * the plain subscriber sees probes the hub knows the group too. Probes that reach a
     * group member are skipped by ut_next. */
    ut_await_flow(hub, "work.down", &lplain, 1, FLOW_MS);
    publish_n(hub, "work.down", NQ);
    expect_in_order(lplain, "hub->leaf plain subscriber next to a queue group", NQ);
    int per[3] = {0};
    expect_each_once(lq, 2, NQ, "hub->leaf queue group w", per);

    /* (b) Two members on the hub (two nodes), publisher on the leaf. */
    natsSubscription *hq[2] = {NULL, NULL};
    sub_sync(&hq[0], hub, "work.up", "w");
    sub_sync(&hq[1], hub2, "work.up", "w");
    ut_await_flow(leaf, "work.up", hq, 1, FLOW_MS);
    ah_sleep_ms(300); /* hub3's member's interest reaches hub1 over its route */
    publish_n(leaf, "work.up", NQ);
    memset(per, 0, sizeof per);
    expect_each_once(hq, 2, NQ, "leaf->hub queue group w", per);

    /* (c) One group with members on both sides: each message once, whichever side
     * publishes (the leaf must not deliver locally and also forward to the hub's member). */
    natsSubscription *mix[2] = {NULL, NULL};
    sub_sync(&mix[0], hub, "work.mix", "mixed");
    sub_sync(&mix[1], leaf, "work.mix", "mixed");
    natsConnection_FlushTimeout(hub, 2000);
    natsConnection_FlushTimeout(leaf, 2000);
    UT_ASSERT(ut_wait_leafz_has(&l, "work.mix mixed", FLOW_MS),
              "the hub's queue interest work.mix/mixed never reached the leaf");
    UT_ASSERT(ut_wait_hub_leafz_has(h.http_port[0], "work.mix", FLOW_MS),
              "the leaf's queue interest work.mix never reached hub1");
    ah_sleep_ms(300); /* and from hub1 to hub2 over the route */
    publish_n(leaf, "work.mix", NQ);
    memset(per, 0, sizeof per);
    expect_each_once(mix, 2, NQ, "leaf publishes to a group with members on both sides", per);
    publish_n(hub, "work.mix", NQ);
    memset(per, 0, sizeof per);
    expect_each_once(mix, 2, NQ, "hub publishes to a group with members on both sides", per);

    /* Request/reply: leaf asks a hub service, the hub asks a leaf service (a queue group,
     * as services are), and a leaf request nobody serves gets the leaf's own 503. */
    natsSubscription *svc_hub = ut_responder(hub, "svc.hub", NULL);
    natsSubscription *svc_leaf = ut_responder(leaf2, "svc.leaf", "svcq");
    for (int i = 0; i < 10; i++) {
        char q[16], want[20];
        snprintf(q, sizeof q, "q%d", i);
        snprintf(want, sizeof want, "re:q%d", i);
        natsMsg *r = ut_request(leaf, "svc.hub", q, i ? 3000 : FLOW_MS);
        UT_ASSERT(r && (size_t)natsMsg_GetDataLength(r) == strlen(want) &&
                      !memcmp(natsMsg_GetData(r), want, strlen(want)),
                  "leaf->hub request %d not answered", i);
        natsMsg_Destroy(r);
        r = ut_request(hub, "svc.leaf", q, i ? 3000 : FLOW_MS);
        UT_ASSERT(r && (size_t)natsMsg_GetDataLength(r) == strlen(want) &&
                      !memcmp(natsMsg_GetData(r), want, strlen(want)),
                  "hub->leaf request %d not answered", i);
        natsMsg_Destroy(r);
    }
    natsMsg *nr = NULL;
    int64_t t0 = ah_now_ms();
    natsStatus st = natsConnection_RequestString(&nr, leaf, "svc.nobody", "x", 3000);
    UT_ASSERT(st == NATS_NO_RESPONDERS,
              "a leaf request without responders anywhere: %s (want no responders)",
              natsStatus_GetText(st));
    UT_ASSERT(ah_now_ms() - t0 < 2000, "no-responders took %lld ms", (long long)(ah_now_ms() - t0));

    /* Headers both ways, with a reply subject on the way down. */
    natsSubscription *hup = NULL, *hdown = NULL;
    sub_sync(&hup, hub, "hdr.up", NULL);
    sub_sync(&hdown, leaf, "hdr.down", NULL);
    ut_await_flow(leaf, "hdr.up", &hup, 1, FLOW_MS);
    ut_await_flow(hub, "hdr.down", &hdown, 1, FLOW_MS);
    natsMsg *hm = NULL;
    natsMsg_Create(&hm, "hdr.up", NULL, "body-up", 7);
    natsMsgHeader_Set(hm, "X-Aerie", "v1");
    natsMsgHeader_Add(hm, "X-Multi", "a");
    natsMsgHeader_Add(hm, "X-Multi", "b");
    UT_ASSERT(natsConnection_PublishMsg(leaf, hm) == NATS_OK, "HPUB on the leaf");
    natsMsg_Destroy(hm);
    natsMsg_Create(&hm, "hdr.down", "reply.to.hub", "body-down", 9);
    natsMsgHeader_Set(hm, "X-Hub", "h1");
    UT_ASSERT(natsConnection_PublishMsg(hub, hm) == NATS_OK, "HPUB on the hub");
    natsMsg_Destroy(hm);
    m = ut_next(hup, 5000);
    UT_ASSERT(m != NULL, "leaf->hub message with headers missing");
    const char *hv = NULL;
    const char **vals = NULL;
    int nvals = 0;
    UT_ASSERT(natsMsgHeader_Get(m, "X-Aerie", &hv) == NATS_OK && !strcmp(hv, "v1"),
              "leaf->hub header X-Aerie lost");
    UT_ASSERT(natsMsgHeader_Values(m, "X-Multi", &vals, &nvals) == NATS_OK && nvals == 2,
              "leaf->hub multi-valued header: %d values", nvals);
    free((void *)vals);
    UT_ASSERT(natsMsg_GetDataLength(m) == 7 && !memcmp(natsMsg_GetData(m), "body-up", 7),
              "leaf->hub body with headers");
    natsMsg_Destroy(m);
    m = ut_next(hdown, 5000);
    UT_ASSERT(m != NULL, "hub->leaf message with headers missing");
    UT_ASSERT(natsMsgHeader_Get(m, "X-Hub", &hv) == NATS_OK && !strcmp(hv, "h1"),
              "hub->leaf header X-Hub lost");
    UT_ASSERT(natsMsg_GetReply(m) && !strcmp(natsMsg_GetReply(m), "reply.to.hub"),
              "hub->leaf reply subject lost");
    UT_ASSERT(natsMsg_GetDataLength(m) == 9 && !memcmp(natsMsg_GetData(m), "body-down", 9),
              "hub->leaf body with headers");
    natsMsg_Destroy(m);

    natsSubscription *subs[] = {up,     down,    pos,      all,   arm,   cmd,
                                lq[0],  lq[1],   lplain,   hq[0], hq[1], mix[0],
                                mix[1], svc_hub, svc_leaf, hup,   hdown};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(hub2);
    natsConnection_Destroy(leaf);
    natsConnection_Destroy(leaf2);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    nats_CloseAndWait(5000);
}

/* ---- only_interest_crosses ----------------------------------------------------------- */

static void case_only_interest_crosses(void)
{
    ah_hub h;
    start_hub(&h, 1);
    char remote[512];
    remote_for(remote, sizeof remote, &h.leaf_port[0], 1, "vehicle:secret");
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");
    natsConnection *hub = ut_nc_hub(&h, 0);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *wanted = NULL;
    sub_sync(&wanted, hub, "wanted.x", NULL);
    ut_await_flow(leaf, "wanted.x", &wanted, 1, FLOW_MS);

    long long in0 = ut_hub_leaf_counter(h.http_port[0], "in_msgs");
    long long out0 = ut_uplink_int(&l, "out_msgs");
    UT_ASSERT(in0 > 0 && out0 > 0, "counters before: hub in_msgs %lld, leaf out_msgs %lld", in0,
              out0);
    /* Nobody on the hub wants these: they must stay on the vehicle. */
    publish_n(leaf, "unwanted.x", 200);
    publish_n(leaf, "wanted.y", 50);
    ah_sleep_ms(500);
    long long in1 = ut_hub_leaf_counter(h.http_port[0], "in_msgs");
    long long out1 = ut_uplink_int(&l, "out_msgs");
    UT_ASSERT(in1 == in0, "the hub received %lld leaf messages nobody subscribed to", in1 - in0);
    UT_ASSERT(out1 == out0, "the leaf sent %lld messages without hub interest", out1 - out0);

    /* The counters do move for wanted traffic (so the check above can fail). */
    publish_n(leaf, "wanted.x", 10);
    expect_in_order(wanted, "wanted.x", 10);
    long long in2 = ut_hub_leaf_counter(h.http_port[0], "in_msgs");
    UT_ASSERT(in2 == in0 + 10, "hub in_msgs %lld, want %lld", in2, in0 + 10);

    /* An unsubscribe on the hub withdraws the interest (LS-) and the flow stops again. */
    natsSubscription_Unsubscribe(wanted);
    natsConnection_FlushTimeout(hub, 2000);
    int64_t deadline = ah_now_ms() + (int64_t)(FLOW_MS * ah_timeout_scale());
    while (ut_wait_leafz_has(&l, "wanted.x", 0) && ah_now_ms() < deadline)
        ah_sleep_ms(20);
    UT_ASSERT(!ut_wait_leafz_has(&l, "wanted.x", 0), "LS- wanted.x never reached the leaf");
    publish_n(leaf, "wanted.x", 20);
    ah_sleep_ms(300);
    UT_ASSERT(ut_hub_leaf_counter(h.http_port[0], "in_msgs") == in2,
              "messages crossed after the hub lost interest");

    /* The link's bytes in /varz (and the same object in /leafz): over websocket with
     * compression the wire carries fewer bytes than the protocol. */
    char tr[32];
    ut_uplink_str(&l, "transport", tr, sizeof tr);
    UT_ASSERT(!strcmp(tr, ah_uplink_ws() ? "websocket" : "tcp"), "/varz uplink.transport %s", tr);
    UT_ASSERT(ut_uplink_int(&l, "link_bytes_out") > 0 && ut_uplink_int(&l, "link_bytes_in") > 0,
              "no link bytes in /varz");
    if (ah_uplink_ws()) {
        json_t *u = ut_leaf_uplink(&l);
        double ratio = json_real_value(json_object_get(u, "compression_ratio_in"));
        UT_ASSERT(json_is_true(json_object_get(u, "ws_compression")) &&
                      ut_uplink_int(&l, "ws_protocol_bytes_in") >
                          ut_uplink_int(&l, "link_bytes_in") &&
                      ratio > 0 && ratio < 1,
                  "websocket compression not seen in /varz (ratio in %.3f)", ratio);
        json_decref(u);
        char *body = ah_http_get(l.http_port, "/leafz", NULL);
        UT_ASSERT(body && strstr(body, "\"compression_ratio_out\""), "/leafz: %s",
                  body ? body : "(none)");
        free(body);
    }

    natsSubscription_Destroy(wanted);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    nats_CloseAndWait(5000);
}

/* ---- nkey_auth ----------------------------------------------------------------------- */

/* Makes a user nkey with our own code and writes its seed to dir/name.nk; returns the
 * public key in pub (57 bytes). */
static void make_nkey(const char *dir, const char *name, char *path, size_t cap, char *pub)
{
    ae_nkey k;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_nkey_generate('U', &k, &err) == 0, "ae_nkey_generate: %s", err.msg);
    char seed[64];
    AH_ASSERT(ae_nkey_seed(&k, seed, sizeof seed) == 0);
    AH_ASSERT(ae_nkey_public(&k, pub, 57) == 0);
    snprintf(path, cap, "%s/%s.nk", dir, name);
    AH_ASSERT(ah_write_file(path, "%s\n", seed) == 0);
}

static void case_nkey_auth(void)
{
    char *dir = ah_mkdtemp("nkeys");
    AH_ASSERT(dir != NULL);
    char good_path[600], bad_path[600], good_pub[64], bad_pub[64];
    make_nkey(dir, "veh1", good_path, sizeof good_path, good_pub);
    make_nkey(dir, "intruder", bad_path, sizeof bad_path, bad_pub);
    AH_ASSERT(good_pub[0] == 'U' && strlen(good_pub) == 56);

    char auth[1024];
    snprintf(auth, sizeof auth,
             "authorization {\n  users = [\n"
             "    { nkey: %s, allowed_connection_types: [\"LEAFNODE\", \"LEAFNODE_WS\"] }\n"
             "    { user: operator, password: secret, allowed_connection_types: [\"STANDARD\"] }\n"
             "  ]\n}\n",
             good_pub);
    ah_hub_opts ho = {.nodes = 1, .authorization = auth};
    ah_hub h;
    AH_ASSERT_MSG(ah_hub_start_opts(&h, &ho) == 0, "hub with an nkey user did not start");
    ut_watch_hub(&h);

    char url[200], remote[1024];
    ut_leaf_url(url, sizeof url, h.leaf_port[0], NULL);
    snprintf(remote, sizeof remote, "urls: [\"%s\"], nkey: \"%s\"", url, good_path);
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the nkey leaf did not connect");

    natsConnection *hub = ut_nc_hub(&h, 0);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "nk.up", NULL);
    sub_sync(&down, leaf, "nk.down", NULL);
    ut_await_flow(leaf, "nk.up", &up, 1, FLOW_MS);
    ut_await_flow(hub, "nk.down", &down, 1, FLOW_MS);
    publish_n(leaf, "nk.up", 5);
    expect_in_order(up, "nkey leaf->hub", 5);
    publish_n(hub, "nk.down", 5);
    expect_in_order(down, "hub->nkey leaf", 5);

    /* A key the hub does not know is refused with a clear message. */
    ut_leaf bad;
    snprintf(remote, sizeof remote, "urls: [\"%s\"], nkey: \"%s\"", url, bad_path);
    ut_leaf_start(&bad, "veh2", remote, NULL, NULL);
    int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    char err[300] = "";
    while (ah_now_ms() < deadline && !strstr(err, "Authorization Violation")) {
        ut_uplink_str(&bad, "last_error", err, sizeof err);
        ah_sleep_ms(50);
    }
    UT_ASSERT(strstr(err, "refused our credentials") && strstr(err, "Authorization Violation"),
              "unknown nkey: last_error \"%s\"", err);
    char st[64];
    UT_ASSERT(strcmp(ut_leaf_state(&bad, st, sizeof st), "connected") != 0,
              "a leaf with an unknown nkey got in");
    ut_leaf_stop(&bad);

    natsSubscription_Destroy(up);
    natsSubscription_Destroy(down);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    ah_rmrf(dir);
    free(dir);
    nats_CloseAndWait(5000);
}

/* ---- loop_detected ------------------------------------------------------------------- */

/* A listening socket on 127.0.0.1:port. */
static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    AH_ASSERT(listen(fd, 8) == 0);
    return fd;
}

/* Accepts one connection within ms, or returns -1. */
static int accept_within(int lfd, int ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* A loop needs aerie-leaf's interest to come back to it through the hub side. With one
 * remote per leaf that takes a second path into the same hub account, which aerie-leaf
 * cannot make by itself; so the "hub" here is a socket that speaks the hub's side of the
 * handshake byte for byte as nats-server 2.9.10 does and then echoes the leaf's own $LDS
 * subject, exactly what a real hub relays when a loop exists. */
static void case_loop_detected(void)
{
    int port = ah_free_port();
    int lfd = listen_on(port);
    char remote[300], url[200];
    ut_leaf_url(url, sizeof url, port, "vehicle:secret");
    snprintf(remote, sizeof remote, "urls: [\"%s\"]", url);
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);

    int fd = accept_within(lfd, (int)(10000 * ah_timeout_scale()));
    UT_ASSERT(fd >= 0, "the leaf did not dial the fake hub");
    char info[512];
    snprintf(info, sizeof info,
             "INFO {\"server_id\":\"NFAKEHUB\",\"server_name\":\"fakehub\",\"version\":"
             "\"2.9.10\",\"proto\":1,\"headers\":true,\"auth_required\":true,\"max_payload\":"
             "1048576,\"client_id\":7,\"nonce\":\"abcdefghijklmno\",\"info_on_connect\":true,"
             "\"leafnode_urls\":[\"127.0.0.1:%d\"]} \r\n",
             port);
    AH_ASSERT(ah_send(fd, info) == 0);
    static char buf[65536];
    int n = ah_read_until(fd, buf, sizeof buf, "\r\n", 5000);
    UT_ASSERT(n > 0 && !strncmp(buf, "CONNECT {", 9), "expected CONNECT, got: %s", buf);
    UT_ASSERT(strstr(buf, "\"headers\":true") && !strstr(buf, "\"lang\""),
              "leaf CONNECT must ask for headers and carry no lang: %s", buf);
    snprintf(info, sizeof info,
             "INFO {\"server_id\":\"NFAKEHUB\",\"server_name\":\"fakehub\",\"version\":"
             "\"2.9.10\",\"proto\":1,\"headers\":true,\"max_payload\":1048576,\"client_id\":7,"
             "\"info_on_connect\":true,\"connect_info\":true,\"leafnode_urls\":"
             "[\"127.0.0.1:%d\"],\"remote_account\":\"$G\"} \r\nLS+ $LDS.hubsOwnSubject0000000\r\n",
             port);
    AH_ASSERT(ah_send(fd, info) == 0);
    n = ah_read_until(fd, buf, sizeof buf, "LS+ $LDS.", 5000);
    UT_ASSERT(n > 0, "no LS+ $LDS from the leaf");
    n += ah_read_until(fd, buf + n, sizeof buf - (size_t)n, "\r\n", 2000);
    const char *p = strstr(buf, "LS+ $LDS.");
    UT_ASSERT(p && strstr(p, "\r\n"), "no complete $LDS line in: %s", buf);
    char lds[64];
    snprintf(lds, sizeof lds, "%.*s", (int)(strstr(p, "\r\n") - p - 4), p + 4);
    UT_ASSERT(strlen(lds) == 5 + 22, "unexpected loop-detection subject \"%s\"", lds);
    UT_ASSERT(strcmp(lds, "$LDS.hubsOwnSubject0000000") != 0,
              "the leaf reflected the hub's own $LDS subject");
    UT_ASSERT(ut_wait_state(&l, "connected", 5000), "the leaf did not accept the fake hub");

    /* The hub's own $LDS (already sent) did not hurt; our own coming back does. */
    char echo[96];
    snprintf(echo, sizeof echo, "LS+ %s\r\n", lds);
    AH_ASSERT(ah_send(fd, echo) == 0);
    bool closed = ah_wait_closed(fd, buf, sizeof buf, (int)(5000 * ah_timeout_scale()));
    UT_ASSERT(closed, "the leaf did not close a looping connection");
    UT_ASSERT(strstr(buf, "-ERR 'Loop detected"), "no loop -ERR before the close: %s", buf);
    close(fd);
    char err[300];
    UT_ASSERT(strstr(ut_uplink_str(&l, "last_error", err, sizeof err), "loop"),
              "last_error after a loop: \"%s\"", err);
    /* nats-server stays away 30 s after a loop; with reconnect at 200 ms a redial within
     * 3 s would mean the delay was ignored. */
    int again = accept_within(lfd, 3000);
    UT_ASSERT(again < 0, "the leaf redialled at once after a loop");
    close(lfd);
    ut_leaf_stop(&l);
}

/* ---- failover ------------------------------------------------------------------------ */

/* Index of the hub node the leaf is connected to (from /varz uplink.url), or -1. */
static int leaf_node(ut_leaf *l, ah_hub *h)
{
    char url[128];
    ut_uplink_str(l, "url", url, sizeof url);
    const char *colon = strrchr(url, ':');
    int port = colon ? atoi(colon + 1) : -1;
    for (int i = 0; i < h->nodes; i++)
        if (ah_uplink_port(h->leaf_port[i]) == port)
            return i;
    return -1;
}

static void case_failover(void)
{
    ah_hub h;
    start_hub(&h, 3);
    char remote[512];
    remote_for(remote, sizeof remote, h.leaf_port, 3, "vehicle:secret");
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");
    int victim = leaf_node(&l, &h);
    UT_ASSERT(victim >= 0, "cannot tell which hub node the leaf is on");
    int other = (victim + 1) % 3;

    natsConnection *hub = ut_nc_hub(&h, other);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "fo.up", NULL);
    sub_sync(&down, leaf, "fo.down", NULL);
    ut_await_flow(leaf, "fo.up", &up, 1, FLOW_MS);
    ut_await_flow(hub, "fo.down", &down, 1, FLOW_MS);

    int64_t kill_at = ah_now_ms();
    ah_stop(&h.proc[victim], SIGKILL, 5000);
    /* Publish on both sides every 50 ms and note when each direction delivers again. */
    int64_t up_at = 0, down_at = 0;
    int64_t deadline = kill_at + (int64_t)(20000 * ah_timeout_scale());
    int seq = 0;
    while ((!up_at || !down_at) && ah_now_ms() < deadline) {
        char p[32];
        snprintf(p, sizeof p, "after-%d", seq++);
        natsConnection_PublishString(leaf, "fo.up", p);
        natsConnection_PublishString(hub, "fo.down", p);
        natsConnection_Flush(leaf);
        natsConnection_Flush(hub);
        int64_t until = ah_now_ms() + 50;
        while (ah_now_ms() < until) {
            natsMsg *m = NULL;
            if (!up_at && natsSubscription_NextMsg(&m, up, 5) == NATS_OK) {
                if (!strncmp(natsMsg_GetData(m), "after-", 6))
                    up_at = ah_now_ms();
                natsMsg_Destroy(m);
            }
            if (!down_at && natsSubscription_NextMsg(&m, down, 5) == NATS_OK) {
                if (!strncmp(natsMsg_GetData(m), "after-", 6))
                    down_at = ah_now_ms();
                natsMsg_Destroy(m);
            }
        }
    }
    int now_on = leaf_node(&l, &h);
    fprintf(stderr,
            "failover: leaf moved from hub%d to hub%d; leaf->hub after %lld ms, "
            "hub->leaf after %lld ms\n",
            victim + 1, now_on + 1, up_at ? (long long)(up_at - kill_at) : -1LL,
            down_at ? (long long)(down_at - kill_at) : -1LL);
    UT_ASSERT(up_at && down_at, "traffic did not flow again after hub%d was killed", victim + 1);
    UT_ASSERT(now_on >= 0 && now_on != victim, "the leaf is not on another node (%d)", now_on);
    UT_ASSERT(up_at - kill_at < 5000, "leaf->hub flowed again only after %lld ms (bound 5 s)",
              (long long)(up_at - kill_at));
    UT_ASSERT(down_at - kill_at < 5000, "hub->leaf flowed again only after %lld ms (bound 5 s)",
              (long long)(down_at - kill_at));
    UT_ASSERT(ut_uplink_int(&l, "reconnects") >= 2, "reconnects counter did not move");

    natsSubscription_Destroy(up);
    natsSubscription_Destroy(down);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    nats_CloseAndWait(5000);
}

/* ---- a hostile websocket "hub" ---------------------------------------------------------- */

/* Accepts the leaf's next websocket dial and reads its upgrade request. */
static int ws_accept_request(int lfd, char *req, size_t cap)
{
    int fd = accept_within(lfd, (int)(10000 * ah_timeout_scale()));
    UT_ASSERT(fd >= 0, "the leaf did not dial (again)");
    int n = ah_read_until(fd, req, cap, "\r\n\r\n", 5000);
    UT_ASSERT(n > 0 && !strncmp(req, "GET /leafnode HTTP/1.1\r\n", 24),
              "expected the upgrade request, got: %s", req);
    return fd;
}

/* A 101 for the request in req (with permessage-deflate), then `frame`. */
static void ws_upgrade_then(int fd, const char *req, const void *frame, size_t n)
{
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    UT_ASSERT(k != NULL, "no Sec-WebSocket-Key in %s", req);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)strcspn(k + 19, "\r"), k + 19);
    char acc[29], resp[512];
    ae_ws_accept_for(key, acc);
    snprintf(resp, sizeof resp,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate; "
             "server_no_context_takeover; client_no_context_takeover\r\n\r\n",
             acc);
    AH_ASSERT(ah_send(fd, resp) == 0);
    if (n)
        AH_ASSERT(ah_send_n(fd, frame, n) == 0);
}

/* Waits until the leaf's last_error contains `want`. */
static void ws_wait_error(ut_leaf *l, const char *want)
{
    int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    char err[300] = "";
    while (ah_now_ms() < deadline && !strstr(err, want)) {
        ut_uplink_str(l, "last_error", err, sizeof err);
        ah_sleep_ms(50);
    }
    UT_ASSERT(strstr(err, want), "expected last_error with \"%s\", got \"%s\"", want, err);
}

/* Bad servers on a ws:// URL: each gives a clear last_error and another dial, never a crash
 * or a hang (the leaf must still exit cleanly). */
static void case_ws_bad_servers(void)
{
    int port = ah_free_port();
    int lfd = listen_on(port);
    char remote[300];
    snprintf(remote, sizeof remote,
             "urls: [\"ws://vehicle:secret@127.0.0.1:%d\"], "
             "ws_compression: true",
             port);
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    static char req[8192];

    /* 1. not an upgrade */
    int fd = ws_accept_request(lfd, req, sizeof req);
    AH_ASSERT_CONTAINS(req, "Sec-WebSocket-Extensions: permessage-deflate; "
                            "server_no_context_takeover; client_no_context_takeover");
    AH_ASSERT(ah_send(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") == 0);
    ws_wait_error(&l, "status is not 101");
    close(fd);

    /* 2. an unknown opcode after the upgrade */
    fd = ws_accept_request(lfd, req, sizeof req);
    static const uint8_t op3[] = {0x83, 0x00};
    ws_upgrade_then(fd, req, op3, sizeof op3);
    ws_wait_error(&l, "unknown opcode 3");
    close(fd);

    /* 3. compressed garbage */
    fd = ws_accept_request(lfd, req, sizeof req);
    static const uint8_t bad[] = {0xc2, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ws_upgrade_then(fd, req, bad, sizeof bad);
    ws_wait_error(&l, "bad compressed");
    close(fd);

    /* 4. a frame far above any limit */
    fd = ws_accept_request(lfd, req, sizeof req);
    static const uint8_t huge[] = {0x82, 0x7f, 0, 0, 0x01, 0, 0, 0, 0, 0};
    ws_upgrade_then(fd, req, huge, sizeof huge);
    ws_wait_error(&l, "longer than");
    close(fd);

    /* 5. a server that never answers the upgrade: the handshake times out */
    fd = ws_accept_request(lfd, req, sizeof req);
    ws_wait_error(&l, "no answer from hub");
    close(fd);
    fd = ws_accept_request(lfd, req, sizeof req);
    close(fd);

    char st[64];
    UT_ASSERT(strcmp(ut_leaf_state(&l, st, sizeof st), "connected") != 0, "connected to junk");
    ut_leaf_stop(&l);
    close(lfd);
}

/* ---- relayed hubs -------------------------------------------------------------------- */

/* A 1-node hub behind a relay, the node advertising the relay (see the top comment). */
static void start_relayed_hub(ah_hub *h, ah_relay *r, const char *extra_leaf_conf)
{
    /* over websocket (AH_UPLINK_TRANSPORT=ws) the relay sits in front of the websocket port */
    bool ws = ah_uplink_ws();
    int leaf_port = ah_free_port();
    AH_ASSERT_MSG(ah_relay_start(r, leaf_port) == 0, "relay did not start");
    char leafconf[1024], adv[64];
    snprintf(adv, sizeof adv, "  advertise: \"127.0.0.1:%d\"\n", r->port);
    snprintf(leafconf, sizeof leafconf, "%s%s", ws ? "" : adv,
             extra_leaf_conf ? extra_leaf_conf : "");
    ah_hub_opts ho = {.nodes = 1, .leaf_conf = {leafconf}};
    if (ws) {
        ho.ws_port[0] = leaf_port;
        ho.ws_conf[0] = adv;
    } else {
        ho.leaf_port[0] = leaf_port;
    }
    AH_ASSERT_MSG(ah_hub_start_opts(h, &ho) == 0, "relayed hub did not start");
    ut_watch_hub(h);
}

static void relay(ah_relay *r, const char *cmd)
{
    char reply[512];
    UT_ASSERT(ah_relay_cmd(r, cmd, reply, sizeof reply) == 0, "relay %s: %s", cmd, reply);
}

/* Both directions flow (fresh probes on the given subscriptions). */
static void flow_both(natsConnection *leaf, natsConnection *hub, natsSubscription *up,
                      const char *up_subj, natsSubscription *down, const char *down_subj)
{
    ut_await_flow(leaf, up_subj, &up, 1, FLOW_MS);
    ut_await_flow(hub, down_subj, &down, 1, FLOW_MS);
}

static void case_blackhole(void)
{
    ah_hub h;
    ah_relay r;
    start_relayed_hub(&h, &r, NULL);
    char remote[512];
    remote_for(remote, sizeof remote, &r.port, 1, "vehicle:secret");
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");
    natsConnection *hub = ut_nc_hub(&h, 0);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "bh.up", NULL);
    sub_sync(&down, leaf, "bh.down", NULL);
    flow_both(leaf, hub, up, "bh.up", down, "bh.down");

    int64_t t0 = ah_now_ms();
    relay(&r, "blackhole");
    UT_ASSERT(ut_wait_not_state(&l, "connected", 15000), "the dead link was never detected");
    int64_t detected = ah_now_ms() - t0;
    char err[300];
    ut_uplink_str(&l, "last_error", err, sizeof err);
    fprintf(stderr, "blackhole: detected after %lld ms: %s\n", (long long)detected, err);
    /* dead_link_timeout is 3 s; detection needs PINGs to go unanswered for that long. */
    UT_ASSERT(detected >= 1500, "detected after only %lld ms: not by keepalive?",
              (long long)detected);
    UT_ASSERT(detected < (int64_t)(7000 * ah_timeout_scale()),
              "detection took %lld ms with dead_link_timeout 3s", (long long)detected);
    UT_ASSERT(strstr(err, "dead"), "last_error should say the link is dead: \"%s\"", err);

    ah_sleep_ms(1000);
    int64_t t1 = ah_now_ms();
    relay(&r, "heal");
    UT_ASSERT(ut_wait_state(&l, "connected", 20000), "the uplink did not come back after heal");
    fprintf(stderr, "blackhole: connected again %lld ms after heal\n",
            (long long)(ah_now_ms() - t1));
    flow_both(leaf, hub, up, "bh.up", down, "bh.down");
    publish_n(leaf, "bh.up", 20);
    expect_in_order(up, "leaf->hub after heal", 20);
    publish_n(hub, "bh.down", 20);
    expect_in_order(down, "hub->leaf after heal", 20);
    /* Exactly one leaf connection on the hub once things settle (the old one was dropped). */
    int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    while (ut_hub_leaf_count(h.http_port[0]) != 1 && ah_now_ms() < deadline)
        ah_sleep_ms(50);
    UT_ASSERT(ut_hub_leaf_count(h.http_port[0]) == 1, "hub sees %d leaf connections",
              ut_hub_leaf_count(h.http_port[0]));

    natsSubscription_Destroy(up);
    natsSubscription_Destroy(down);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    ah_relay_stop(&r);
    nats_CloseAndWait(5000);
}

/* ---- link_down_local ----------------------------------------------------------------- */

/* Reads link status messages until one has "online" == want (true) or timeout_ms. */
static bool expect_status(natsSubscription *st, bool want, int timeout_ms, char *last, size_t cap)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    for (;;) {
        int left = (int)(deadline - ah_now_ms());
        if (left <= 0)
            return false;
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, st, left) != NATS_OK)
            return false;
        json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        snprintf(last, cap, "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
        natsMsg_Destroy(m);
        json_t *online = json_object_get(j, "online");
        bool match = json_is_boolean(online) && json_boolean_value(online) == want &&
                     !strcmp(json_string_value(json_object_get(j, "vid")) ?: "", "veh1");
        json_decref(j);
        if (match)
            return true;
    }
}

static void case_link_down_local(void)
{
    ah_hub h;
    ah_relay r;
    start_relayed_hub(&h, &r, NULL);
    char remote[512];
    remote_for(remote, sizeof remote, &r.port, 1, "vehicle:secret");
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, "status_interval: \"60s\"", NULL);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *status = NULL;
    sub_sync(&status, leaf, "fleet.test.veh.veh1.link", NULL);
    natsConnection_FlushTimeout(leaf, 2000);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");

    /* Connected: /leafz and /varz say so. */
    json_t *lz = ut_http_json(l.http_port, "/leafz");
    json_t *l0 = json_array_get(json_object_get(lz, "leafs"), 0);
    UT_ASSERT(json_integer_value(json_object_get(lz, "leafnodes")) == 1, "/leafz leafnodes");
    UT_ASSERT(!strcmp(json_string_value(json_object_get(l0, "state")) ?: "", "connected") &&
                  !strcmp(json_string_value(json_object_get(l0, "name")) ?: "", "hub1") &&
                  json_integer_value(json_object_get(l0, "subscriptions")) > 0,
              "/leafz while connected");
    json_decref(lz);
    json_t *vz = ut_http_json(l.http_port, "/varz");
    UT_ASSERT(json_integer_value(json_object_get(vz, "leafnodes")) == 1 &&
                  json_is_true(json_object_get(json_object_get(vz, "uplink"), "online")),
              "/varz while connected");
    json_decref(vz);

    natsConnection *hub = ut_nc_hub(&h, 0);
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "ld.up", NULL);
    sub_sync(&down, leaf, "ld.down", NULL);
    flow_both(leaf, hub, up, "ld.up", down, "ld.down");

    /* The link goes down. */
    relay(&r, "cut");
    UT_ASSERT(ut_wait_not_state(&l, "connected", 10000), "the cut was not noticed");
    char last[1024];
    UT_ASSERT(expect_status(status, false, 5000, last, sizeof last),
              "no offline link status message (last: %s)", last);
    lz = ut_http_json(l.http_port, "/leafz");
    l0 = json_array_get(json_object_get(lz, "leafs"), 0);
    UT_ASSERT(json_integer_value(json_object_get(lz, "leafnodes")) == 0 &&
                  json_is_false(json_object_get(l0, "online")) &&
                  json_string_value(json_object_get(l0, "last_error")),
              "/leafz while down");
    json_decref(lz);
    vz = ut_http_json(l.http_port, "/varz");
    UT_ASSERT(json_integer_value(json_object_get(vz, "leafnodes")) == 0 &&
                  json_is_false(json_object_get(json_object_get(vz, "uplink"), "online")),
              "/varz while down");
    json_decref(vz);

    /* Local traffic is unaffected: pub/sub, queue groups, request/reply on the vehicle. */
    natsConnection *leaf2 = ut_nc_leaf(&l);
    natsSubscription *loc = NULL;
    sub_sync(&loc, leaf2, "local.>", NULL);
    natsConnection_FlushTimeout(leaf2, 2000);
    publish_n(leaf, "local.x", 30);
    expect_in_order(loc, "local pub/sub while the link is down", 30);
    natsSubscription *svc = ut_responder(leaf2, "local.svc", "q");
    natsMsg *rep = NULL;
    natsStatus st = natsConnection_RequestString(&rep, leaf, "local.svc", "hi", 3000);
    UT_ASSERT(st == NATS_OK && natsMsg_GetDataLength(rep) == 5, "local request: %s",
              natsStatus_GetText(st));
    natsMsg_Destroy(rep);
    /* Publishing towards the hub while it is away neither blocks nor breaks anything. */
    publish_n(leaf, "ld.up", 20);
    UT_ASSERT(natsConnection_Status(leaf) == NATS_CONN_STATUS_CONNECTED,
              "the local client lost its connection");

    /* The link comes back: status, monitoring and traffic follow. */
    relay(&r, "heal");
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not come back");
    UT_ASSERT(expect_status(status, true, 5000, last, sizeof last),
              "no online link status message after heal (last: %s)", last);
    UT_ASSERT(strstr(last, "\"hub\":\"hub1\""), "online status names no hub: %s", last);
    flow_both(leaf, hub, up, "ld.up", down, "ld.down");
    lz = ut_http_json(l.http_port, "/leafz");
    UT_ASSERT(json_integer_value(json_object_get(lz, "leafnodes")) == 1, "/leafz after heal");
    json_decref(lz);

    natsSubscription *subs[] = {status, up, down, loc, svc};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    natsConnection_Destroy(leaf2);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    ah_relay_stop(&r);
    nats_CloseAndWait(5000);
}

/* ---- slow_link ----------------------------------------------------------------------- */

static void case_slow_link(void)
{
    ah_hub h;
    ah_relay r;
    start_relayed_hub(&h, &r, NULL);
    relay(&r, "rate 8000"); /* 64 kbit/s each way */
    char remote[512];
    remote_for(remote, sizeof remote, &r.port, 1, "vehicle:secret");
    ut_leaf l;
    /* The leaf paces its data a little under the link rate, so PINGs are never stuck
     * behind seconds of queued data in the relay. */
    ut_leaf_start(&l, "veh1", remote, "rate: 7000", NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");
    natsConnection *hub = ut_nc_hub(&h, 0);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "slow.up", NULL);
    sub_sync(&down, leaf, "slow.down", NULL);
    flow_both(leaf, hub, up, "slow.up", down, "slow.down");
    long long reconnects0 = ut_uplink_int(&l, "reconnects");

    /* 8 s of 50 msg/s x 100 B up (~6.5 kB/s on the wire with the LMSG lines, ~80 % of the
     * link) and 5 msg/s down. */
    enum { SECS = 8, RATE = 50, NUP = SECS * RATE, NDOWN = SECS * 5 };
    char payload[101];
    memset(payload, 'x', 100);
    payload[100] = 0;
    int64_t start = ah_now_ms();
    int sent_down = 0;
    for (int i = 0; i < NUP; i++) {
        int64_t due = start + (int64_t)i * 1000 / RATE;
        while (ah_now_ms() < due)
            ah_sleep_ms(1);
        char p[128];
        snprintf(p, sizeof p, "m%d %s", i, payload + 10);
        natsConnection_PublishString(leaf, "slow.up", p);
        if (i % 10 == 0) {
            snprintf(p, sizeof p, "m%d", sent_down++);
            natsConnection_PublishString(hub, "slow.down", p);
        }
    }
    natsConnection_FlushTimeout(leaf, 5000);
    natsConnection_FlushTimeout(hub, 5000);
    int got = 0, got_down = 0;
    int64_t deadline = ah_now_ms() + (int64_t)(15000 * ah_timeout_scale());
    while ((got < NUP || got_down < NDOWN) && ah_now_ms() < deadline) {
        natsMsg *m = ut_next(up, 20);
        if (m) {
            int k = -1;
            sscanf(natsMsg_GetData(m), "m%d", &k);
            UT_ASSERT(k == got, "slow link: up message %d arrived as #%d", k, got);
            got++;
            natsMsg_Destroy(m);
        }
        m = ut_next(down, 1);
        if (m) {
            int k = -1;
            sscanf(natsMsg_GetData(m), "m%d", &k);
            UT_ASSERT(k == got_down, "slow link: down message %d arrived as #%d", k, got_down);
            got_down++;
            natsMsg_Destroy(m);
        }
    }
    char stats[512];
    ah_relay_cmd(&r, "stats", stats, sizeof stats);
    fprintf(stderr, "slow_link: up %d/%d, down %d/%d in %lld ms; relay %s\n", got, NUP, got_down,
            NDOWN, (long long)(ah_now_ms() - start), stats);
    UT_ASSERT(got == NUP && got_down == NDOWN, "slow link lost messages: up %d/%d, down %d/%d", got,
              NUP, got_down, NDOWN);
    UT_ASSERT(ut_uplink_int(&l, "reconnects") == reconnects0,
              "the link flapped: reconnects went from %lld to %lld", reconnects0,
              ut_uplink_int(&l, "reconnects"));
    UT_ASSERT(ut_leaf_log_count(&l, "uplink: disconnected from") == 0,
              "the leaf logged a disconnect");
    UT_ASSERT(ut_uplink_int(&l, "dropped_msgs") == 0, "the leaf dropped messages");

    natsSubscription_Destroy(up);
    natsSubscription_Destroy(down);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    ah_relay_stop(&r);
    nats_CloseAndWait(5000);
}

/* ---- goes_home ------------------------------------------------------------------------- */

/* Waits until the uplink's url is 127.0.0.1:port. */
static bool wait_on_port(ut_leaf *l, int port, int timeout_ms)
{
    char want[64], url[128];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        char st[64];
        if (!strcmp(ut_leaf_state(l, st, sizeof st), "connected") &&
            !strcmp(ut_uplink_str(l, "url", url, sizeof url), want))
            return true;
        ah_sleep_ms(100);
    }
    return false;
}

/* A vehicle failed over to its fallback region's hub goes back home once home answers
 * again (remote `home_urls`), instead of staying away until the fallback link drops. */
static void case_goes_home(void)
{
    ah_hub home, away;
    ah_relay rh, ra;
    start_relayed_hub(&home, &rh, NULL);
    start_relayed_hub(&away, &ra, NULL);
    int ports[2] = {rh.port, ra.port};
    char remote[768], list[512];
    remote_for(list, sizeof list, ports, 2, "vehicle:secret");
    snprintf(remote, sizeof remote,
             "%s\n  ignore_discovered_urls: true\n  home_urls: 1\n"
             "  home_check: \"1s\"",
             list);
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(wait_on_port(&l, rh.port, 15000), "the leaf did not start on its home hub");
    relay(&rh, "cut");
    UT_ASSERT(wait_on_port(&l, ra.port, 20000), "the leaf did not fail over to the fallback hub");
    ah_sleep_ms(2500); /* home is still cut: the leaf stays where it is */
    UT_ASSERT(wait_on_port(&l, ra.port, 100), "the leaf left the fallback hub while home was down");
    int64_t t0 = ah_now_ms();
    relay(&rh, "heal");
    UT_ASSERT(wait_on_port(&l, rh.port, 15000),
              "the leaf stayed on the fallback hub after home came back");
    fprintf(stderr, "goes_home: back home %lld ms after the heal\n", (long long)(ah_now_ms() - t0));
    UT_ASSERT(ut_leaf_log_count(&l, "answers again: leaving") >= 1, "no log line about going home");
    ut_leaf_stop(&l);
    ah_hub_stop(&home);
    ah_hub_stop(&away);
    ah_relay_stop(&rh);
    ah_relay_stop(&ra);
}

/* ---- big_message_paced --------------------------------------------------------------- */

/* One message that takes seconds to send at the configured uplink.rate (256 KiB at
 * 32 KB/s: 8 s, against a dead-link timeout of 3 s). Keepalive PINGs queued behind it must
 * not count as unanswered: the link stays up and everything after it arrives. Before the
 * fix the leaf declared the link dead every few seconds and dropped what was queued. */
static void case_big_message_paced(void)
{
    ah_hub h;
    start_hub(&h, 1);
    char remote[512];
    remote_for(remote, sizeof remote, &h.leaf_port[0], 1, "vehicle:secret");
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, "rate: \"32KB\"", NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the uplink did not connect");
    natsConnection *hub = ut_nc_hub(&h, 0);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *up = NULL;
    sub_sync(&up, hub, "big.up", NULL);
    ut_await_flow(leaf, "big.up", &up, 1, FLOW_MS);
    long long reconnects0 = ut_uplink_int(&l, "reconnects");
    enum { BIG = 256 * 1024, SMALL = 20 };
    char *big = malloc(BIG);
    memset(big, 'b', BIG);
    memcpy(big, "m0 ", 3);
    UT_ASSERT(natsConnection_Publish(leaf, "big.up", big, BIG) == NATS_OK, "publish failed");
    free(big);
    for (int i = 1; i <= SMALL; i++) {
        char p[32];
        snprintf(p, sizeof p, "m%d", i);
        natsConnection_PublishString(leaf, "big.up", p);
    }
    natsConnection_FlushTimeout(leaf, 5000);
    int got = 0;
    int64_t start = ah_now_ms(), deadline = start + (int64_t)(40000 * ah_timeout_scale());
    while (got <= SMALL && ah_now_ms() < deadline) {
        natsMsg *m = ut_next(up, 100);
        if (!m)
            continue;
        int k = -1;
        sscanf(natsMsg_GetData(m), "m%d", &k);
        UT_ASSERT(k == got, "message m%d arrived as #%d", k, got);
        if (k == 0)
            UT_ASSERT(natsMsg_GetDataLength(m) == BIG, "the big message arrived with %d bytes",
                      natsMsg_GetDataLength(m));
        got++;
        natsMsg_Destroy(m);
    }
    fprintf(stderr, "big_message_paced: %d of %d in %lld ms\n", got, SMALL + 1,
            (long long)(ah_now_ms() - start));
    UT_ASSERT(got == SMALL + 1, "%d of %d messages arrived", got, SMALL + 1);
    UT_ASSERT(ut_uplink_int(&l, "reconnects") == reconnects0,
              "the link was dropped while the big message went out (reconnects %lld -> %lld)",
              reconnects0, ut_uplink_int(&l, "reconnects"));
    UT_ASSERT(ut_leaf_log_count(&l, "uplink: disconnected from") == 0,
              "the leaf logged a disconnect");
    natsSubscription_Destroy(up);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    nats_CloseAndWait(5000);
}

/* ---- auth_failures ------------------------------------------------------------------- */

/* Wrong password against the seed's hub shape (top-level users). The credentials-less leaf
 * goes to a second hub with the leaf users inside `leafnodes { authorization {} }`: with
 * only top-level users, nats-server 2.9.10 lets a leaf that sends no credentials in (it
 * binds it to $G; verified while writing this test, see docs/uplink.md), so a missing
 * password can only be refused by a hub configured that way. */
static void case_auth_failures(void)
{
    ah_hub h, ha;
    start_hub(&h, 1);
    ah_hub_opts ho = {.nodes = 1,
                      .leaf_conf = {"  authorization { users = [ {user: vehicle, password: "
                                    "secret} ] }\n"}};
    AH_ASSERT_MSG(ah_hub_start_opts(&ha, &ho) == 0, "hub with leafnodes authorization");
    char wrong[512], none[512];
    remote_for(wrong, sizeof wrong, &h.leaf_port[0], 1, "vehicle:wrong");
    remote_for(none, sizeof none, &ha.leaf_port[0], 1, NULL);
    ut_leaf a, b;
    ut_leaf_start(&a, "veh-wrongpass", wrong, NULL, NULL);
    ut_leaf_start(&b, "veh-nocreds", none, NULL, NULL);

    ut_leaf *leaves[2] = {&a, &b};
    int first[2];
    for (int i = 0; i < 2; i++) {
        char err[300] = "";
        int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
        while (ah_now_ms() < deadline && !strstr(err, "Authorization Violation")) {
            ut_uplink_str(leaves[i], "last_error", err, sizeof err);
            ah_sleep_ms(50);
        }
        /* What an operator needs: who refused, the hub's words, and what to check. */
        UT_ASSERT(strstr(err, "refused our credentials") &&
                      strstr(err, "Authorization Violation") && strstr(err, "leafnodes.remotes"),
                  "%s: last_error \"%s\"", leaves[i]->name, err);
        UT_ASSERT(ut_leaf_log_count(leaves[i], "[ERR] uplink: the hub refused our credentials") >=
                      1,
                  "%s: the refusal is not in the log at error level", leaves[i]->name);
        first[i] = ut_leaf_log_count(leaves[i], "uplink: connecting to hub");
    }
    /* Retries continue (the hub may be fixed) but back off: reconnect 200 ms doubling to a
     * 2 s ceiling allows about 5 attempts in 6 s, a fixed 200 ms retry would make 30. */
    ah_sleep_ms(6000);
    for (int i = 0; i < 2; i++) {
        int n = ut_leaf_log_count(leaves[i], "uplink: connecting to hub") - first[i];
        fprintf(stderr, "%s: %d attempts in 6 s\n", leaves[i]->name, n);
        UT_ASSERT(n >= 2, "%s: gave up retrying (%d attempts in 6 s)", leaves[i]->name, n);
        UT_ASSERT(n <= 8, "%s: %d attempts in 6 s: retries are not backing off", leaves[i]->name,
                  n);
        char st[64];
        UT_ASSERT(strcmp(ut_leaf_state(leaves[i], st, sizeof st), "connected") != 0, "%s got in",
                  leaves[i]->name);
        /* The vehicle's own broker keeps serving its clients meanwhile. */
        natsConnection *nc = ut_nc_leaf(leaves[i]);
        natsSubscription *s = NULL;
        sub_sync(&s, nc, "local.y", NULL);
        publish_n(nc, "local.y", 3);
        expect_in_order(s, "local pub/sub with a refused uplink", 3);
        natsSubscription_Destroy(s);
        natsConnection_Destroy(nc);
    }
    UT_ASSERT(ut_hub_leaf_count(h.http_port[0]) == 0 && ut_hub_leaf_count(ha.http_port[0]) == 0,
              "a hub lists a refused leaf");
    ut_leaf_stop(&a);
    ut_leaf_stop(&b);
    ah_hub_stop(&h);
    ah_hub_stop(&ha);
    nats_CloseAndWait(5000);
}

/* ---- tls ----------------------------------------------------------------------------- */

/* Makes, with the openssl CLI: ca.pem/ca.key, server.pem/.key (IP SAN 127.0.0.1) and
 * client.pem/.key signed by that CA, and other-ca.pem, an unrelated CA. EC P-256 keys keep
 * it fast. */
static void make_certs(const char *dir)
{
    char script[4096];
    snprintf(script, sizeof script,
             "set -e; cd '%s'\n"
             "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
             "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=aerie-test-ca\n"
             "openssl req -x509 $K -keyout other-ca.key -out other-ca.pem -days 2 "
             "-subj /CN=aerie-other-ca\n"
             "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > srv.ext\n"
             "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext\n"
             "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1\n"
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out server.pem -days 2 -extfile srv.ext\n"
             "openssl req $K -keyout client.key -out client.csr -subj /CN=veh1\n"
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out client.pem -days 2 -extfile cli.ext\n",
             dir);
    char *argv[] = {"sh", "-c", script, NULL};
    ah_proc p;
    char log[600];
    snprintf(log, sizeof log, "%s/openssl.log", dir);
    AH_ASSERT(ah_spawn(&p, log, argv) == 0);
    int64_t deadline = ah_now_ms() + (int64_t)(30000 * ah_timeout_scale());
    while (ah_alive(&p) && ah_now_ms() < deadline)
        ah_sleep_ms(20);
    int status = ah_stop(&p, SIGKILL, 1000);
    char *out = ah_read_file(log);
    AH_ASSERT_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "making certificates with openssl failed:\n%s", out ? out : "");
    free(out);
}

/* Waits until the leaf's last_error mentions `needle`; returns it in err. */
static bool wait_error(ut_leaf *l, const char *needle, char *err, size_t cap, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    do {
        if (strstr(ut_uplink_str(l, "last_error", err, cap), needle))
            return true;
        ah_sleep_ms(50);
    } while (ah_now_ms() < deadline);
    return false;
}

static void case_tls(void)
{
    char *dir = ah_mkdtemp("certs");
    AH_ASSERT(dir != NULL);
    make_certs(dir);
    char tlsconf[2048];
    snprintf(tlsconf, sizeof tlsconf,
             "  tls {\n    cert_file: \"%s/server.pem\"\n    key_file: \"%s/server.key\"\n"
             "    ca_file: \"%s/ca.pem\"\n    verify: true\n    timeout: 3\n  }\n",
             dir, dir, dir);
    ah_hub_opts ho = {.nodes = 1, .leaf_conf = {tlsconf}};
    if (ah_uplink_ws()) /* wss: TLS before the upgrade, decided by the tls block */
        ho.ws_conf[0] = tlsconf;
    ah_hub h;
    AH_ASSERT_MSG(ah_hub_start_opts(&h, &ho) == 0, "TLS hub did not start");
    ut_watch_hub(&h);

    char url[200], remote[2048];
    ut_leaf_url(url, sizeof url, h.leaf_port[0], "vehicle:secret");
    snprintf(remote, sizeof remote,
             "urls: [\"%s\"], tls { ca_file: \"%s/ca.pem\", cert_file: \"%s/client.pem\", "
             "key_file: \"%s/client.key\" }",
             url, dir, dir, dir);
    ut_leaf l;
    ut_leaf_start(&l, "veh1", remote, NULL, NULL);
    UT_ASSERT(ut_wait_state(&l, "connected", 15000), "the TLS uplink did not connect");
    json_t *u = ut_leaf_uplink(&l);
    UT_ASSERT(json_is_true(json_object_get(u, "tls")), "/varz uplink.tls is not true");
    json_decref(u);
    UT_ASSERT(ut_leaf_log_count(&l, "TLS established") >= 1, "no TLS line in the leaf log");
    natsConnection *hub = ut_nc_hub(&h, 0);
    natsConnection *leaf = ut_nc_leaf(&l);
    natsSubscription *up = NULL, *down = NULL;
    sub_sync(&up, hub, "tls.up", NULL);
    sub_sync(&down, leaf, "tls.down", NULL);
    flow_both(leaf, hub, up, "tls.up", down, "tls.down");
    publish_n(leaf, "tls.up", 20);
    expect_in_order(up, "leaf->hub over TLS", 20);
    publish_n(hub, "tls.down", 20);
    expect_in_order(down, "hub->leaf over TLS", 20);
    natsMsg *r = NULL;
    natsSubscription *svc = ut_responder(hub, "tls.svc", NULL);
    r = ut_request(leaf, "tls.svc", "x", FLOW_MS);
    UT_ASSERT(r && natsMsg_GetDataLength(r) == 4, "request over TLS");
    natsMsg_Destroy(r);

    /* The hub's certificate does not chain to the CA the leaf trusts: refused by the leaf. */
    ut_leaf wrong;
    snprintf(remote, sizeof remote,
             "urls: [\"%s\"], tls { ca_file: \"%s/other-ca.pem\", cert_file: \"%s/client.pem\", "
             "key_file: \"%s/client.key\" }",
             url, dir, dir, dir);
    ut_leaf_start(&wrong, "veh2", remote, NULL, NULL);
    char err[300];
    UT_ASSERT(wait_error(&wrong, "TLS", err, sizeof err, 10000),
              "wrong CA: no TLS error (last_error \"%s\")", err);
    fprintf(stderr, "tls, wrong CA: %s\n", err);
    UT_ASSERT(strstr(err, "certificate") || strstr(err, "verify"),
              "wrong CA: the error does not say the certificate failed: \"%s\"", err);
    /* A second look a while later: still out (no fallback to plaintext). */
    ah_sleep_ms(1000);
    char st[64];
    UT_ASSERT(strcmp(ut_leaf_state(&wrong, st, sizeof st), "connected") != 0,
              "a leaf trusting the wrong CA connected");
    ut_leaf_stop(&wrong);

    /* No client certificate while the hub verifies clients: refused by the hub. */
    ut_leaf nocert;
    snprintf(remote, sizeof remote, "urls: [\"%s\"], tls { ca_file: \"%s/ca.pem\" }", url, dir);
    ut_leaf_start(&nocert, "veh3", remote, NULL, NULL);
    err[0] = 0;
    int64_t deadline = ah_now_ms() + (int64_t)(8000 * ah_timeout_scale());
    while (ah_now_ms() < deadline && !err[0]) {
        ut_uplink_str(&nocert, "last_error", err, sizeof err);
        ah_sleep_ms(50);
    }
    fprintf(stderr, "tls, no client certificate: %s\n", err);
    UT_ASSERT(err[0], "no client certificate: no error reported");
    ah_sleep_ms(1500);
    UT_ASSERT(strcmp(ut_leaf_state(&nocert, st, sizeof st), "connected") != 0,
              "a leaf without a client certificate connected to a verifying hub");
    UT_ASSERT(ut_hub_leaf_count(h.http_port[0]) == 1, "the hub lists %d leafs, want 1",
              ut_hub_leaf_count(h.http_port[0]));
    ut_leaf_stop(&nocert);

    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(up);
    natsSubscription_Destroy(down);
    natsConnection_Destroy(hub);
    natsConnection_Destroy(leaf);
    ut_leaf_stop(&l);
    ah_hub_stop(&h);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(dir);
    free(dir);
    nats_CloseAndWait(5000);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"cross_cluster", case_cross_cluster, 120},
        {"only_interest_crosses", case_only_interest_crosses, 60},
        {"nkey_auth", case_nkey_auth, 60},
        {"loop_detected", case_loop_detected, 60},
        {"failover", case_failover, 120},
        {"blackhole", case_blackhole, 90},
        {"link_down_local", case_link_down_local, 90},
        {"slow_link", case_slow_link, 90},
        {"big_message_paced", case_big_message_paced, 120},
        {"goes_home", case_goes_home, 120},
        {"auth_failures", case_auth_failures, 60},
        {"tls", case_tls, 90},
        {"ws_bad_servers", case_ws_bad_servers, 90},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
