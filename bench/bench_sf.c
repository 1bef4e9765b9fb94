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
 *     hub stream. By default the backlog is published as fast as the leaf takes it;
 *     --realtime publishes it at 1 kHz (60 s for 60000) as a real outage would.
 *  3. Vehicle RSS while holding a --backlog-mib (256) MiB backlog of 1 KiB messages, link cut.
 *  4. The same for a nats-server 2.9 leaf done the nats-server way: its own JetStream domain
 *     vehicle1 with a local stream VEH on the vehicle subjects, and a hub stream HUBVEH
 *     sourcing from it through $JS.vehicle1.API.
 *
 * The hub is one nats-server node (JetStream domain "hub", R1 streams): the vehicle side
 * is what is compared, and one node keeps the runs short. The hub is reached through
 * aerie-relay (cut/heal) in both cases; the hub advertises the relay.
 *
 * sf_util.c (tests/sf) is compiled in: bench/CMakeLists.txt links every benchmark with the
 * same fixed libraries, and the helpers are the ones the tests use. */
#include "sf/sf_util.c"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int opt_runs = 3;
static int opt_append = 200000;
static int opt_catchup = 60000;
static bool opt_realtime;
static int opt_backlog_mib = 256;
static bool opt_skip_nats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

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

/* Local stream VEH on the nats-server leaf, and HUBVEH on the hub sourcing from it. */
static void nats_way_streams(natsleaf *l, ah_hub *h)
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
    nats_way_streams(&l, &n.hub);
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
    long lost, dup, reordered, stored;
} catchup;

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
    while (stream_msgs(hc, "VEH") < opt_catchup && now_s() - t0 < 600)
        ah_sleep_ms(10);
    c.secs = now_s() - t0;
    c.rate = opt_catchup / c.secs;
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
    nats_way_streams(&l, &n.hub);
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
    while (stream_msgs(hc, "HUBVEH") < opt_catchup && now_s() - t0 < 600)
        ah_sleep_ms(10);
    c.secs = now_s() - t0;
    c.rate = opt_catchup / c.secs;
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
        nats_way_streams(&l, &n.hub);
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

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            opt_runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--append-msgs") && i + 1 < argc)
            opt_append = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--catchup-msgs") && i + 1 < argc)
            opt_catchup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backlog-mib") && i + 1 < argc)
            opt_backlog_mib = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--realtime"))
            opt_realtime = true;
        else if (!strcmp(argv[i], "--skip-nats"))
            opt_skip_nats = true;
        else {
            fprintf(stderr, "usage: bench_sf [--runs N] [--append-msgs N] [--catchup-msgs N] "
                            "[--realtime] [--backlog-mib N] [--skip-nats]\n");
            return 2;
        }
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
        app[k] = median(v, R);
        fprintf(stderr, "append %s: %.0f msgs/s\n", policies[k], app[k]);
    }
    for (int r = 0; r < R; r++)
        v[r] = aerie_append("always", false);
    base = median(v, R);
    if (!opt_skip_nats) {
        for (int r = 0; r < R; r++)
            v[r] = nats_append();
        napp = median(v, R);
    }

    catchup ac[16], nc[16];
    double as[16], ns[16];
    int RC = R > 16 ? 16 : R;
    for (int r = 0; r < RC; r++) {
        ac[r] = aerie_catchup();
        as[r] = ac[r].secs;
        fprintf(stderr, "aerie catch-up run %d: %.2f s\n", r + 1, ac[r].secs);
        if (!opt_skip_nats) {
            nc[r] = nats_catchup();
            ns[r] = nc[r].secs;
            fprintf(stderr, "nats catch-up run %d: %.2f s\n", r + 1, nc[r].secs);
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
    double acs = median(as, RC), ncs = opt_skip_nats ? 0 : median(ns, RC);

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
