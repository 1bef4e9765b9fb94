/* bench_sf: store-and-forward through the broker, aerie-leaf against the nats-server way.
 *
 *   bench_sf [--runs N] [--append-msgs N] [--catchup-msgs N] [--realtime]
 *            [--backlog-mib N] [--skip-nats]
 *
 * Four measurements, each reported as a median over --runs (default 3) except the RSS one:
 *
 *  1. Append rate through the broker: a raw-socket publisher sends --append-msgs (200000)
 *     128-byte messages on uplink subjects to aerie-leaf (hub link cut, so nothing is
 *     forwarded), with a PING every 1000 messages, and the rate is counted up to the last
 *     PONG — which aerie-leaf sends only when the log holds everything before it. Once per
 *     sync policy (always, 10ms, never), plus a non-uplink subject as the broker's baseline.
 *     The nats-server leaf's figure is the rate at which its local JetStream stream holds
 *     them (its PONG does not wait for the stream).
 *  2. Catch-up: with the link cut, --catchup-msgs (60000) messages, then heal; seconds from
 *     heal until the hub stream holds them all, msgs/s, and lost/duplicated/reordered in the
 *     hub stream; split at the first stored message into the link's return (redial, the
 *     hub's first answer) and the forwarding rate from there. By default the backlog is
 *     published as fast as the leaf takes it; --realtime publishes it at 1 kHz (60 s for
 *     60000) as a real outage would.
 *  3. Vehicle RSS while holding a --backlog-mib (256) MiB backlog of 1 KiB messages, link cut.
 *  4. The same for a nats-server 2.9 leaf done the nats-server way: its own JetStream domain
 *     vehicle1 with a local stream VEH on the vehicle subjects, and a hub stream HUBVEH
 *     sourcing from it through $JS.vehicle1.API.
 *
 * The hub is one nats-server node (JetStream domain "hub", R1 streams): the vehicle side
 * is what is compared, and one node keeps the runs short. The hub is reached through
 * aerie-relay (cut/heal) in both cases; the hub advertises the relay.
 *
 *   bench_sf --rtt-ms N | --rtt-sweep  [--runs N] [--steady-s N] [--outage-s N]
 *            [--after-s N] [--drain-cap-s N]
 *
 * The cellular comparison (issue 9) instead of the four measurements above: a 3-node hub
 * (R3 streams) behind aerie-relays that hold every chunk N/2 ms each way (round trip +N
 * ms; --rtt-sweep runs N = 0, 100 and 300), both vehicles behind the same relays. One
 * vehicle publishes 4 subjects at 50 Hz each with its wall-clock time in every payload:
 * until the first message reaches the hub stream and 1 s more (warm-up, not measured),
 * --steady-s (10) connected, --outage-s (20) with every relay cut, --after-s (10) after
 * the heal, then stops. Reported per way, medians over --runs (1): the steady lag from the
 * payload's time to the time the hub stream stored it, over the steady phase but its last
 * second (p50, p99; a message not stored by the end counts as infinitely late), the catch-up time
 * from the heal until the hub holds as many messages as were published before it, the rate it
 * stored them at meanwhile, the drain time from the publishers stopping until it holds them all
 * (given up after
 * --drain-cap-s, 60), the vehicle's RSS at the end of the outage and its peak, and
 * lost/duplicated/reordered over all runs with what was still undelivered at the cap.
 *
 * sf_util.c (tests/sf) is compiled in: bench/CMakeLists.txt links every benchmark with the
 * same fixed libraries, and the helpers are the ones the tests use. */
#include "stats.h"
#include "sf/sf_util.c"

#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int opt_runs = 3;
static int opt_append = 200000;
static int opt_catchup = 60000;
static bool opt_realtime;
static int opt_backlog_mib = 256;
static bool opt_skip_nats;
static int opt_rtt_ms = -1; /* >= 0: the cellular comparison at this round trip */
static bool opt_rtt_sweep;  /* the cellular comparison at 0, 100 and 300 ms */
static int opt_steady_s = 10, opt_outage_s = 20, opt_after_s = 10, opt_drain_cap_s = 60;

static double now_s(void)
{
    return (double)ah_now_ms() / 1000.0;
}

static long rss_kib(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = ah_read_file(path);
    if (!s)
        return -1;
    char *p = strstr(s, field);
    long v = p ? strtol(p + strlen(field) + 1, NULL, 10) : -1;
    free(s);
    return v;
}

/* ---- the nats-server leaf ---------------------------------------------------------- */

typedef struct natsleaf {
    ah_proc proc;
    char dir[512];
    int port, http_port;
} natsleaf;

static void natsleaf_start(natsleaf *l, const char *hub_url)
{
    memset(l, 0, sizeof *l);
    char *d = ah_mkdtemp("natsleaf");
    snprintf(l->dir, sizeof l->dir, "%s", d);
    free(d);
    l->port = ah_free_port();
    l->http_port = ah_free_port();
    char conf[600], log[600];
    snprintf(conf, sizeof conf, "%s/leaf.conf", l->dir);
    snprintf(log, sizeof log, "%s/leaf.log", l->dir);
    AH_ASSERT(ah_write_file(conf,
                            "server_name: vehicle1\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"
                            "jetstream { store_dir: \"%s/js\", domain: vehicle1 }\n"
                            "leafnodes { remotes = [ { urls: [ %s ] } ] }\n",
                            l->port, l->http_port, l->dir, hub_url) == 0);
    char *argv[] = {(char *)ah_nats_server(), "-c", conf, NULL};
    AH_ASSERT(ah_spawn(&l->proc, log, argv) == 0);
    AH_ASSERT_MSG(ah_wait_tcp(l->port, 15000) == 0, "nats-server leaf did not start");
    /* wait for its JetStream */
    for (int i = 0; i < 100; i++) {
        int st = 0;
        char *b = ah_http_get(l->http_port, "/healthz?js-enabled-only=true", &st);
        free(b);
        if (st == 200)
            break;
        ah_sleep_ms(100);
    }
}

static void natsleaf_stop(natsleaf *l)
{
    ah_stop(&l->proc, SIGTERM, 10000);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(l->dir);
}

static natsConnection *plain_conn(int port, const char *user)
{
    char url[128];
    snprintf(url, sizeof url, "nats://%s%s127.0.0.1:%d", user ? user : "", user ? "@" : "", port);
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    AH_ASSERT_MSG(s == NATS_OK, "connect %s: %s", url, natsStatus_GetText(s));
    return nc;
}

static long stream_msgs(natsConnection *nc, const char *stream)
{
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    jsStreamInfo *si = NULL;
    long n = -1;
    if (js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK)
        n = (long)si->State.Msgs;
    if (si)
        jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    return n;
}

static void add_stream(natsConnection *nc, jsStreamConfig *cfg)
{
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = NATS_ERR;
    for (int i = 0; i < 40 && s != NATS_OK; i++) {
        s = js_AddStream(&si, js, cfg, NULL, &jerr);
        if (si)
            jsStreamInfo_Destroy(si);
        si = NULL;
        if (s != NATS_OK)
            ah_sleep_ms(250);
    }
    AH_ASSERT_MSG(s == NATS_OK, "add stream %s: %s (%d) %s", cfg->Name, natsStatus_GetText(s),
                  (int)jerr, nats_GetLastError(NULL));
    jsCtx_Destroy(js);
}

/* Local stream VEH on the nats-server leaf, and HUBVEH on the hub (`replicas`) sourcing
 * from it. */
static void nats_way_streams(natsleaf *l, ah_hub *h, int replicas)
{
    natsConnection *lc = plain_conn(l->port, NULL);
    const char *subjects[] = {"fleet.*.veh.*.state.>"};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "VEH";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    add_stream(lc, &cfg);
    natsConnection_Destroy(lc);

    natsConnection *hc = sf_hub_conn(h, 0);
    jsExternalStream ext;
    jsExternalStream_Init(&ext);
    ext.APIPrefix = "$JS.vehicle1.API";
    ext.DeliverPrefix = ""; /* libnats 3.4.1 formats it unconditionally; NULL crashes */
    jsStreamSource src;
    jsStreamSource_Init(&src);
    src.Name = "VEH";
    src.External = &ext;
    jsStreamSource *srcs[] = {&src};
    jsStreamConfig hcfg;
    jsStreamConfig_Init(&hcfg);
    hcfg.Name = "HUBVEH";
    hcfg.Storage = js_FileStorage;
    hcfg.Sources = srcs;
    hcfg.SourcesLen = 1;
    hcfg.Replicas = replicas;
    add_stream(hc, &hcfg);
    natsConnection_Destroy(hc);
}

/* Waits until the hub lists one leaf connection (the nats-server leaf joined). */
static void wait_hub_leaf(ah_hub *h)
{
    for (int i = 0; i < 150; i++) {
        int st = 0;
        char *b = ah_http_get(h->http_port[0], "/leafz", &st);
        json_t *j = b ? json_loads(b, 0, NULL) : NULL;
        free(b);
        long n = (long)json_integer_value(json_object_get(j, "leafnodes"));
        json_decref(j);
        if (n == 1)
            return;
        ah_sleep_ms(100);
    }
    AH_ASSERT_MSG(0, "the nats-server leaf did not join the hub");
}

/* ---- pieces ------------------------------------------------------------------------- */

/* Publishes n messages as fast as the peer takes them, a PING every `every`; returns the
 * seconds until the last PONG. */
static double blast(sf_pub *p, int n, int every)
{
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        AH_ASSERT_MSG(sf_pub_send(p, (i + 1) % every == 0 || i == n - 1) == 0,
                      "publisher lost the broker");
        if ((i + 1) % every == 0)
            sf_pub_poll(p, 0);
    }
    AH_ASSERT_MSG(sf_pub_flush(p, 600000), "no final PONG");
    return now_s() - t0;
}

static void publish_backlog(sf_pub *p, int n)
{
    if (opt_realtime) {
        sf_pub_run(p, 1000, n);
        while (p->next_g < (uint64_t)n) /* the paced loop may end one message short */
            AH_ASSERT(sf_pub_send(p, true) == 0);
        AH_ASSERT(sf_pub_flush(p, 60000));
    } else {
        blast(p, n, 100);
    }
}

/* 1. append rate with aerie-leaf for one sync policy (or the plain subject baseline) */
static double aerie_append(const char *sync, bool uplink_subject)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_net_cmd(&n, "cut");
    char store[96];
    snprintf(store, sizeof store, "sync: %s\n  max_bytes: 4GB", sync);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, store, "live: false", NULL);
    sf_leaf_start(&l);
    sf_pub p;
    /* a non-uplink subject: vid "x" publishes on fleet.test.veh.x.state.* */
    sf_pub_open(&p, l.port, uplink_subject ? "v1" : "x", 4, 128, (size_t)opt_append + 10);
    double secs = blast(&p, opt_append, 1000);
    long long captured = sf_leafz_int(&l, "captured");
    if (uplink_subject)
        AH_ASSERT_MSG(captured == opt_append, "captured %lld of %d", captured, opt_append);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
    return opt_append / secs;
}

static double nats_append(void)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_net_cmd(&n, "cut");
    natsleaf l;
    natsleaf_start(&l, n.urls);
    nats_way_streams(&l, &n.hub, 1);
    natsConnection *lc = plain_conn(l.port, NULL);
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", 4, 128, (size_t)opt_append + 10);
    double t0 = now_s();
    blast(&p, opt_append, 1000);
    while (stream_msgs(lc, "VEH") < opt_append)
        ah_sleep_ms(5);
    double secs = now_s() - t0;
    natsConnection_Destroy(lc);
    sf_pub_close(&p);
    natsleaf_stop(&l);
    sf_net_stop(&n);
    return opt_append / secs;
}

typedef struct catchup {
    double secs, rate;
    /* The catch-up in two parts: the link coming back (the leaf's redial, the hub's first
     * answer) until the first message is stored, then the forwarding from there. */
    double first_s, flow_rate;
    long lost, dup, reordered, stored;
} catchup;

/* Polls `stream` every 5 ms from the heal at t0 until it holds the whole backlog (or 600 s
 * passed), filling the catch-up times and rates. */
static void time_catchup(catchup *c, natsConnection *hc, const char *stream, double t0)
{
    double first = 0;
    long n;
    while ((n = stream_msgs(hc, stream)) < opt_catchup && now_s() - t0 < 600) {
        if (n > 0 && first == 0)
            first = now_s();
        ah_sleep_ms(5);
    }
    double end = now_s();
    if (first == 0)
        first = end;
    c->secs = end - t0;
    c->rate = opt_catchup / c->secs;
    c->first_s = first - t0;
    c->flow_rate = end > first ? opt_catchup / (end - first) : 0;
}

static void report_check(catchup *c, ah_hub *h, const char *stream, sf_pub *p)
{
    sf_check ck;
    sf_check_stream(h, 0, stream, p, &ck);
    c->lost = ck.lost + ck.unflushed_lost;
    c->dup = ck.duplicated;
    c->reordered = ck.reordered;
    c->stored = ck.read;
    sf_check_free(&ck);
}

/* 2. catch-up with aerie-leaf */
static catchup aerie_catchup(void)
{
    catchup c = {0};
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: \"10ms\"", NULL, NULL);
    sf_leaf_start(&l);
    AH_ASSERT_MSG(sf_wait_state(&l, "connected", 15000), "aerie-leaf did not connect");
    sf_net_cmd(&n, "cut");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", 4, 128, (size_t)opt_catchup + 10);
    publish_backlog(&p, opt_catchup);
    natsConnection *hc = sf_hub_conn(&n.hub, 0);
    double t0 = now_s();
    sf_net_cmd(&n, "heal");
    time_catchup(&c, hc, "VEH", t0);
    AH_ASSERT(sf_wait_drained(&l, 60000));
    natsConnection_Destroy(hc);
    report_check(&c, &n.hub, "VEH", &p);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
    return c;
}

static catchup nats_catchup(void)
{
    catchup c = {0};
    sf_net n;
    sf_net_start(&n, 1, true);
    natsleaf l;
    natsleaf_start(&l, n.urls);
    wait_hub_leaf(&n.hub);
    nats_way_streams(&l, &n.hub, 1);
    sf_net_cmd(&n, "cut");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", 4, 128, (size_t)opt_catchup + 10);
    publish_backlog(&p, opt_catchup);
    natsConnection *lc = plain_conn(l.port, NULL);
    while (stream_msgs(lc, "VEH") < opt_catchup)
        ah_sleep_ms(10);
    natsConnection_Destroy(lc);
    natsConnection *hc = sf_hub_conn(&n.hub, 0);
    double t0 = now_s();
    sf_net_cmd(&n, "heal");
    time_catchup(&c, hc, "HUBVEH", t0);
    ah_sleep_ms(1000); /* anything extra (duplicates) would arrive now */
    natsConnection_Destroy(hc);
    report_check(&c, &n.hub, "HUBVEH", &p);
    sf_pub_close(&p);
    natsleaf_stop(&l);
    sf_net_stop(&n);
    return c;
}

/* 3. RSS with a large backlog */
static void rss_backlog(long *aerie_rss, long *aerie_hwm, long *nats_rss, long *nats_hwm,
                        double *aerie_fill_s, double *nats_fill_s)
{
    int msgs = opt_backlog_mib * 1024; /* 1 KiB payloads */
    {
        sf_net n;
        sf_net_start(&n, 1, true);
        sf_net_cmd(&n, "cut");
        sf_leaf l;
        sf_leaf_init(&l, "v1", n.urls, NULL, "sync: \"10ms\"\n  max_bytes: 8GB", NULL, NULL);
        sf_leaf_start(&l);
        sf_pub p;
        sf_pub_open(&p, l.port, "v1", 4, 1024, (size_t)msgs + 10);
        *aerie_fill_s = blast(&p, msgs, 1000);
        ah_sleep_ms(2000);
        *aerie_rss = rss_kib(l.proc.pid, "VmRSS:");
        *aerie_hwm = rss_kib(l.proc.pid, "VmHWM:");
        long long backlog = sf_leafz_int(&l, "backlog_msgs");
        AH_ASSERT_MSG(backlog == msgs, "backlog %lld, want %d", backlog, msgs);
        sf_pub_close(&p);
        sf_leaf_stop(&l, false);
        sf_net_stop(&n);
    }
    if (opt_skip_nats)
        return;
    {
        sf_net n;
        sf_net_start(&n, 1, true);
        natsleaf l;
        natsleaf_start(&l, n.urls);
        nats_way_streams(&l, &n.hub, 1);
        sf_net_cmd(&n, "cut");
        natsConnection *lc = plain_conn(l.port, NULL);
        sf_pub p;
        sf_pub_open(&p, l.port, "v1", 4, 1024, (size_t)msgs + 10);
        double t0 = now_s();
        blast(&p, msgs, 1000);
        while (stream_msgs(lc, "VEH") < msgs && now_s() - t0 < 600)
            ah_sleep_ms(20);
        *nats_fill_s = now_s() - t0;
        ah_sleep_ms(2000);
        *nats_rss = rss_kib(l.proc.pid, "VmRSS:");
        *nats_hwm = rss_kib(l.proc.pid, "VmHWM:");
        natsConnection_Destroy(lc);
        sf_pub_close(&p);
        natsleaf_stop(&l);
        sf_net_stop(&n);
    }
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* ---- the cellular comparison (--rtt-ms, --rtt-sweep) ---------------------------------- */

#define CELL_SUBJ 4
#define CELL_HZ   (CELL_SUBJ * 50)

typedef struct cell {
    double lag_p50_ms, lag_p99_ms; /* steady phase; INFINITY when not stored by the end */
    double catchup_s;              /* heal -> the hub holds everything published before it */
    bool caught_up;
    double rate;    /* msgs/s stored while catching up */
    double drain_s; /* publishers stopped -> the hub holds every message */
    bool drained;
    long left; /* messages not in the hub at the drain cap */
    long rss_kib, hwm_kib;
    long lost, dup, reordered, published;
} cell;

/* Waits until the hub leaf count over all nodes is 1 (the nats-server leaf joined). */
static void wait_hub_leaf_any(ah_hub *h)
{
    for (int i = 0; i < 300; i++) {
        long total = 0;
        for (int k = 0; k < h->nodes; k++) {
            int st = 0;
            char *b = ah_http_get(h->http_port[k], "/leafz", &st);
            json_t *j = b ? json_loads(b, 0, NULL) : NULL;
            free(b);
            total += (long)json_integer_value(json_object_get(j, "leafnodes"));
            json_decref(j);
        }
        if (total == 1)
            return;
        ah_sleep_ms(100);
    }
    AH_ASSERT_MSG(0, "the nats-server leaf did not join the hub");
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads the hub stream and fills the steady phase's lag percentiles (messages from <= g <
 * to; a message never stored counts as infinitely late). */
static void steady_lag(ah_hub *h, const char *stream, uint64_t from, uint64_t to, cell *c)
{
    uint64_t steady_n = to - from;
    int64_t *lag = malloc((size_t)steady_n * sizeof *lag);
    AH_ASSERT(lag && steady_n > 0);
    for (uint64_t i = 0; i < steady_n; i++)
        lag[i] = INT64_MAX;
    natsConnection *nc = sf_hub_conn(h, 0);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    long total = stream_msgs(nc, stream);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    natsSubscription *sub = NULL;
    AH_ASSERT(js_SubscribeSync(&sub, js, "fleet.*.veh.*.state.>", NULL, &so, NULL) == NATS_OK);
    for (long i = 0; i < total; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 10000) != NATS_OK)
            break;
        const char *d = natsMsg_GetData(m);
        int dl = natsMsg_GetDataLength(m);
        long g = dl > 2 && d[0] == 'g' ? strtol(d + 2, NULL, 10) : -1;
        int64_t sent = sf_payload_time(d, dl);
        jsMsgMetaData *md = NULL;
        if (g >= 0 && (uint64_t)g >= from && (uint64_t)g < to && sent > 0 &&
            natsMsg_GetMetaData(&md, m) == NATS_OK && md->Timestamp - sent < lag[g - from])
            lag[g - from] = md->Timestamp - sent;
        jsMsgMetaData_Destroy(md);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    qsort(lag, (size_t)steady_n, sizeof *lag, cmp_int64);
    int64_t p50 = lag[steady_n / 2], p99 = lag[steady_n * 99 / 100];
    c->lag_p50_ms = p50 == INT64_MAX ? INFINITY : (double)p50 / 1e6;
    c->lag_p99_ms = p99 == INT64_MAX ? INFINITY : (double)p99 / 1e6;
    free(lag);
}

/* Publishes at CELL_HZ for ms, polling the hub stream's count every 50 ms; records when it
 * first reaches `target` (seconds since `since`) in *reached_at if that is still < 0. */
static void publish_watching(sf_pub *p, natsConnection *hc, const char *stream, int ms, long target,
                             double since, double *reached_at)
{
    double end = now_s() + ms / 1000.0;
    while (now_s() < end) {
        sf_pub_run(p, CELL_HZ, 50);
        if (*reached_at < 0 && stream_msgs(hc, stream) >= target)
            *reached_at = now_s() - since;
    }
}

/* One run of the scenario for one way. `nats_way` picks the nats-server leaf. */
static cell cellular_run(int rtt_ms, bool nats_way)
{
    cell c = {0};
    sf_net n;
    sf_net_start(&n, 3, true);
    char delay[32];
    snprintf(delay, sizeof delay, "delay %d", rtt_ms / 2);
    sf_net_cmd(&n, delay);
    sf_leaf l;
    natsleaf nl;
    const char *stream = nats_way ? "HUBVEH" : "VEH";
    pid_t pid;
    int port;
    if (nats_way) {
        natsleaf_start(&nl, n.urls);
        wait_hub_leaf_any(&n.hub);
        nats_way_streams(&nl, &n.hub, 3);
        pid = nl.proc.pid;
        port = nl.port;
    } else {
        sf_stream_create(&n.hub, "VEH", 3, 0);
        sf_leaf_init(&l, "v1", n.urls, NULL, "sync: \"10ms\"", NULL, NULL);
        sf_leaf_start(&l);
        AH_ASSERT_MSG(sf_wait_state(&l, "connected", 15000), "aerie-leaf did not connect");
        pid = l.proc.pid;
        port = l.port;
    }
    natsConnection *hc = sf_hub_conn(&n.hub, 0);
    sf_pub p;
    size_t total = (size_t)(opt_steady_s + opt_outage_s + opt_after_s + 5) * CELL_HZ;
    sf_pub_open(&p, port, "v1", CELL_SUBJ, 64, total);
    p.stamp = true;

    /* Warm-up, not measured: the first message takes a while to reach the hub stream (the
     * nats-server way sets up its source consumer first). */
    double w0 = now_s();
    while (stream_msgs(hc, stream) < 1 && now_s() - w0 < 30)
        sf_pub_run(&p, CELL_HZ, 100);
    sf_pub_run(&p, CELL_HZ, 1000);
    uint64_t steady_from = p.next_g;
    sf_pub_run(&p, CELL_HZ, (opt_steady_s - 1) * 1000);
    uint64_t steady_n = p.next_g;
    /* The steady phase's last second is not measured: what is still on the link when the cut
     * comes waits for the outage, which is no steady-state lag. */
    sf_pub_run(&p, CELL_HZ, 1000);
    sf_net_cmd(&n, "cut");
    sf_pub_run(&p, CELL_HZ, opt_outage_s * 1000);
    c.rss_kib = rss_kib(pid, "VmRSS:");
    long before_heal = (long)p.next_g;
    long stored_at_heal = stream_msgs(hc, stream);
    double heal = now_s();
    sf_net_cmd(&n, "heal");
    double caught = -1;
    publish_watching(&p, hc, stream, opt_after_s * 1000, before_heal, heal, &caught);
    AH_ASSERT_MSG(sf_pub_flush(&p, 10000), "the vehicle did not answer the last PINGs");
    double stop = now_s();
    long all = (long)p.next_g, stored = 0;
    double drained = -1;
    while (now_s() - stop < opt_drain_cap_s) {
        stored = stream_msgs(hc, stream);
        if (caught < 0 && stored >= before_heal)
            caught = now_s() - heal;
        if (stored >= all) {
            drained = now_s() - stop;
            break;
        }
        ah_sleep_ms(50);
    }
    c.caught_up = caught >= 0;
    c.catchup_s = c.caught_up ? caught : now_s() - heal;
    c.rate = (double)((c.caught_up ? before_heal : stored) - stored_at_heal) / c.catchup_s;
    c.drained = drained >= 0;
    c.drain_s = c.drained ? drained : now_s() - stop;
    if (!nats_way && c.drained)
        sf_wait_drained(&l, 10000); /* the last acks: the stream holds them already */
    ah_sleep_ms(500);               /* duplicates, if any, would land now */
    c.hwm_kib = rss_kib(pid, "VmHWM:");
    natsConnection_Destroy(hc);

    steady_lag(&n.hub, stream, steady_from, steady_n, &c);
    sf_check ck;
    sf_check_stream(&n.hub, 0, stream, &p, &ck);
    c.published = all;
    c.left = ck.lost + ck.unflushed_lost;
    c.dup = ck.duplicated;
    c.reordered = ck.reordered;
    c.lost = c.drained ? c.left : 0; /* undelivered at the cap is not a loss (yet) */
    sf_check_free(&ck);
    sf_pub_close(&p);
    if (nats_way)
        natsleaf_stop(&nl);
    else
        sf_leaf_stop(&l, false);
    sf_net_stop(&n);
    fprintf(stderr,
            "%s rtt %d ms: lag p50 %.0f ms p99 %.0f ms, catch-up %s%.2f s, rate %.0f/s, drain "
            "%s%.2f s, left %ld, dup %ld, reordered %ld, RSS %ld KiB\n",
            nats_way ? "nats-server" : "aerie-leaf", rtt_ms, c.lag_p50_ms, c.lag_p99_ms,
            c.caught_up ? "" : ">", c.catchup_s, c.rate, c.drained ? "" : ">", c.drain_s, c.left,
            c.dup, c.reordered, c.rss_kib);
    return c;
}

/* Median of one field over runs; `over` is set when the median run never got there. */
static double cell_median(const cell *v, int n, size_t off, size_t flag_off, bool *over)
{
    double x[16];
    int nover = 0;
    for (int i = 0; i < n; i++) {
        x[i] = *(const double *)((const char *)&v[i] + off);
        if (flag_off != (size_t)-1 && !*(const bool *)((const char *)&v[i] + flag_off))
            nover++;
    }
    if (over)
        *over = nover * 2 > n;
    return bench_median(x, n);
}

static void fmt_s(char *out, size_t cap, double v, bool over, int decimals)
{
    if (isinf(v))
        snprintf(out, cap, "never");
    else
        snprintf(out, cap, "%s%.*f", over ? ">" : "", decimals, v);
}

static void cellular_table(int rtt_ms, const cell *a, const cell *b, int n)
{
    printf("\nround trip %d ms (relay delay %d ms each way), medians of %d\n", rtt_ms, rtt_ms / 2,
           n);
    printf("%-52s %14s %14s %8s\n", "measure", "aerie-leaf", "nats-server", "ratio");
    struct {
        const char *label;
        size_t off, flag;
        int decimals;
    } rows[] = {
        {"steady lag publish -> hub stream p50 (ms)", offsetof(cell, lag_p50_ms), (size_t)-1, 1},
        {"steady lag publish -> hub stream p99 (ms)", offsetof(cell, lag_p99_ms), (size_t)-1, 1},
        {"catch-up after the link returned (s)", offsetof(cell, catchup_s),
         offsetof(cell, caught_up), 2},
        {"forwarding rate while catching up (msgs/s)", offsetof(cell, rate), (size_t)-1, 0},
        {"drain after the publishers stopped (s)", offsetof(cell, drain_s), offsetof(cell, drained),
         2},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        bool oa = false, ob = false;
        double va = cell_median(a, n, rows[r].off, rows[r].flag, &oa);
        double vb = cell_median(b, n, rows[r].off, rows[r].flag, &ob);
        char sa[32], sb[32], sr[32] = "";
        fmt_s(sa, sizeof sa, va, oa, rows[r].decimals);
        fmt_s(sb, sizeof sb, vb, ob, rows[r].decimals);
        if (!oa && !ob && !isinf(va) && !isinf(vb) && va >= 0.01 && vb >= 0.01)
            snprintf(sr, sizeof sr, "%.2f", va / vb);
        printf("%-52s %14s %14s %8s\n", rows[r].label, sa, sb, sr);
    }
    double ra[16], rb[16], ha[16], hb[16];
    long pub = 0, pubn = 0, la = 0, lb = 0, da = 0, db = 0, oa_ = 0, ob_ = 0, lfa = 0, lfb = 0;
    for (int i = 0; i < n; i++) {
        ra[i] = a[i].rss_kib / 1024.0;
        rb[i] = b[i].rss_kib / 1024.0;
        ha[i] = a[i].hwm_kib / 1024.0;
        hb[i] = b[i].hwm_kib / 1024.0;
        pub += a[i].published;
        pubn += b[i].published;
        la += a[i].lost, lb += b[i].lost, da += a[i].dup, db += b[i].dup;
        oa_ += a[i].reordered, ob_ += b[i].reordered;
        lfa += a[i].drained ? 0 : a[i].left, lfb += b[i].drained ? 0 : b[i].left;
    }
    double mra = bench_median(ra, n), mrb = bench_median(rb, n), mha = bench_median(ha, n),
           mhb = bench_median(hb, n);
    printf("%-52s %14.1f %14.1f %8.2f\n", "vehicle RSS at the end of the outage (MiB)", mra, mrb,
           ratio(mra, mrb));
    printf("%-52s %14.1f %14.1f %8.2f\n", "vehicle peak RSS (VmHWM, MiB)", mha, mhb,
           ratio(mha, mhb));
    char sa[48], sb[48];
    snprintf(sa, sizeof sa, "%ld/%ld/%ld", la, da, oa_);
    snprintf(sb, sizeof sb, "%ld/%ld/%ld", lb, db, ob_);
    printf("%-52s %14s %14s\n", "lost/duplicated/reordered (all runs)", sa, sb);
    printf("%-52s %14ld %14ld\n", "undelivered at the drain cap (all runs)", lfa, lfb);
    printf("%-52s %14ld %14ld\n", "messages published (all runs)", pub, pubn);
    fflush(stdout);
}

static void cellular(void)
{
    int rtts[3] = {0, 100, 300}, nrtt = 3;
    if (!opt_rtt_sweep) {
        rtts[0] = opt_rtt_ms;
        nrtt = 1;
    }
    int R = opt_runs > 16 ? 16 : opt_runs;
    cell a[16][3], b[16][3];
    for (int r = 0; r < R; r++) {
        for (int k = 0; k < nrtt; k++) {
            a[r][k] = cellular_run(rtts[k], false);
            if (!opt_skip_nats)
                b[r][k] = cellular_run(rtts[k], true);
            else
                b[r][k] = (cell){0};
        }
    }
    printf("\nbench_sf cellular: %d subjects x 50 Hz, %d s connected, %d s cut, %d s after the "
           "heal, drain given up after %d s; 3-node hub, R3 streams\n",
           CELL_SUBJ, opt_steady_s, opt_outage_s, opt_after_s, opt_drain_cap_s);
    for (int k = 0; k < nrtt; k++) {
        cell ca[16], cb[16];
        for (int r = 0; r < R; r++) {
            ca[r] = a[r][k];
            cb[r] = b[r][k];
        }
        cellular_table(rtts[k], ca, cb, R);
    }
}

/* Reads the options into the opt_ globals. Returns false (after the usage) on anything
 * unknown. */
static bool parse_args(int argc, char **argv, bool *runs_given)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            opt_runs = atoi(argv[++i]);
            *runs_given = true;
        } else if (!strcmp(argv[i], "--append-msgs") && i + 1 < argc)
            opt_append = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--catchup-msgs") && i + 1 < argc)
            opt_catchup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backlog-mib") && i + 1 < argc)
            opt_backlog_mib = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--realtime"))
            opt_realtime = true;
        else if (!strcmp(argv[i], "--skip-nats"))
            opt_skip_nats = true;
        else if (!strcmp(argv[i], "--rtt-ms") && i + 1 < argc)
            opt_rtt_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rtt-sweep"))
            opt_rtt_sweep = true;
        else if (!strcmp(argv[i], "--steady-s") && i + 1 < argc)
            opt_steady_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--outage-s") && i + 1 < argc)
            opt_outage_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--after-s") && i + 1 < argc)
            opt_after_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--drain-cap-s") && i + 1 < argc)
            opt_drain_cap_s = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_sf [--runs N] [--append-msgs N] [--catchup-msgs N] "
                            "[--realtime] [--backlog-mib N] [--skip-nats]\n"
                            "       bench_sf --rtt-ms N | --rtt-sweep [--runs N] [--steady-s N] "
                            "[--outage-s N] [--after-s N] [--drain-cap-s N] [--skip-nats]\n");
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    bool runs_given = false;
    if (!parse_args(argc, argv, &runs_given))
        return 2;
    bool cell_mode = opt_rtt_sweep || opt_rtt_ms >= 0;
    if (cell_mode && (opt_runs < 1 || opt_rtt_ms > 10000 || opt_steady_s < 2 || opt_outage_s < 1 ||
                      opt_after_s < 0 || opt_drain_cap_s < 1)) {
        fprintf(stderr, "bench_sf: bad option value\n");
        return 2;
    }
    if (cell_mode) {
        if (!runs_given)
            opt_runs = 1;
        signal(SIGPIPE, SIG_IGN);
        nats_Open(-1);
        cellular();
        nats_Close();
        return 0;
    }
    if (opt_runs < 1 || opt_append < 1000 || opt_catchup < 100 || opt_backlog_mib < 1) {
        fprintf(stderr, "bench_sf: bad option value\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    nats_Open(-1);
    int R = opt_runs;
    double *v = calloc((size_t)R * 8, sizeof *v);
    const char *policies[] = {"always", "\"10ms\"", "never"};
    double app[3], base, napp = 0;
    for (int k = 0; k < 3; k++) {
        for (int r = 0; r < R; r++)
            v[r] = aerie_append(policies[k], true);
        app[k] = bench_median(v, R);
        fprintf(stderr, "append %s: %.0f msgs/s\n", policies[k], app[k]);
    }
    for (int r = 0; r < R; r++)
        v[r] = aerie_append("always", false);
    base = bench_median(v, R);
    if (!opt_skip_nats) {
        for (int r = 0; r < R; r++)
            v[r] = nats_append();
        napp = bench_median(v, R);
    }

    catchup ac[16], nc[16];
    double as[16], ns[16], afirst[16], nfirst[16], aflow[16], nflow[16];
    int RC = R > 16 ? 16 : R;
    for (int r = 0; r < RC; r++) {
        ac[r] = aerie_catchup();
        as[r] = ac[r].secs;
        afirst[r] = ac[r].first_s;
        aflow[r] = ac[r].flow_rate;
        fprintf(stderr, "aerie catch-up run %d: %.2f s (first stored after %.2f s)\n", r + 1,
                ac[r].secs, ac[r].first_s);
        if (!opt_skip_nats) {
            nc[r] = nats_catchup();
            ns[r] = nc[r].secs;
            nfirst[r] = nc[r].first_s;
            nflow[r] = nc[r].flow_rate;
            fprintf(stderr, "nats catch-up run %d: %.2f s (first stored after %.2f s)\n", r + 1,
                    nc[r].secs, nc[r].first_s);
        }
    }
    long alost = 0, adup = 0, aro = 0, nlost = 0, ndup = 0, nro = 0;
    for (int r = 0; r < RC; r++) {
        alost += ac[r].lost;
        adup += ac[r].dup;
        aro += ac[r].reordered;
        if (!opt_skip_nats) {
            nlost += nc[r].lost;
            ndup += nc[r].dup;
            nro += nc[r].reordered;
        }
    }
    double acs = bench_median(as, RC), ncs = opt_skip_nats ? 0 : bench_median(ns, RC);
    double afs = bench_median(afirst, RC), nfs = opt_skip_nats ? 0 : bench_median(nfirst, RC);
    double afr = bench_median(aflow, RC), nfr = opt_skip_nats ? 0 : bench_median(nflow, RC);

    long arss = 0, ahwm = 0, nrss = 0, nhwm = 0;
    double afill = 0, nfill = 0;
    rss_backlog(&arss, &ahwm, &nrss, &nhwm, &afill, &nfill);

    printf("\nbench_sf: runs=%d append_msgs=%d (128 B) catchup_msgs=%d (128 B, %s) "
           "backlog=%d MiB (1 KiB msgs)\n",
           R, opt_append, opt_catchup, opt_realtime ? "published at 1 kHz" : "published at once",
           opt_backlog_mib);
    printf("%-52s %14s %14s %8s\n", "measure", "aerie-leaf", "nats-server", "ratio");
    printf("%-52s %14.0f %14s %8s\n", "append, sync always (msgs/s to durable PONG)", app[0], "-",
           "");
    printf("%-52s %14.0f %14s %8s\n", "append, sync 10ms", app[1], "-", "");
    printf("%-52s %14.0f %14.0f %8.2f\n", "append, sync never (nats: stored in local stream)",
           app[2], napp, ratio(app[2], napp));
    printf("%-52s %14.0f %14s %8s\n", "broker baseline, non-uplink subject", base, "-", "");
    printf("%-52s %14.2f %14.2f %8.2f\n", "catch-up after outage: seconds to drain (median)", acs,
           ncs, ratio(acs, ncs));
    printf("%-52s %14.0f %14.0f %8.2f\n", "catch-up rate (msgs/s)", opt_catchup / acs,
           ncs > 0 ? opt_catchup / ncs : 0, ratio(ncs, acs));
    printf("%-52s %14.2f %14.2f %8.2f\n", "  of which until the first message was stored (s)", afs,
           nfs, ratio(afs, nfs));
    printf("%-52s %14.0f %14.0f %8.2f\n", "  rate from the first stored message (msgs/s)", afr, nfr,
           ratio(afr, nfr));
    printf("%-52s %14ld %14ld %8s\n", "lost in hub stream (all catch-up runs)", alost, nlost, "");
    printf("%-52s %14ld %14ld %8s\n", "duplicated in hub stream (all runs)", adup, ndup, "");
    printf("%-52s %14ld %14ld %8s\n", "reordered per subject (all runs)", aro, nro, "");
    printf("%-52s %14.1f %14.1f %8.2f\n", "fill backlog: seconds", afill, nfill,
           ratio(afill, nfill));
    printf("%-52s %14.1f %14.1f %8.2f\n", "vehicle RSS holding the backlog (MiB)", arss / 1024.0,
           nrss / 1024.0, ratio((double)arss, (double)nrss));
    printf("%-52s %14.1f %14.1f %8.2f\n", "vehicle peak RSS (VmHWM, MiB)", ahwm / 1024.0,
           nhwm / 1024.0, ratio((double)ahwm, (double)nhwm));
    free(v);
    nats_Close();
    return 0;
}
