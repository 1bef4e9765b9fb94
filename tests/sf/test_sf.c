/* Store-and-forward end to end: aerie-leaf's durable uplink against a real 3-node
 * nats-server JetStream hub, with real link faults (aerie-relay), real crashes (SIGKILL of
 * the leaf and of hub nodes), damaged store files and a full disk.
 *
 * Every case publishes numbered messages through a raw socket with a PING after each (a
 * PONG from aerie-leaf means the preceding uplink publishes are durable), lets the backlog
 * drain, reads the hub stream back with an ordered consumer and counts what was lost
 * (flushed but not in the stream), duplicated and reordered (per subject). The contract
 * (docs/store-and-forward.md, architecture.md "Store-and-forward: the contract") says all
 * three are zero; the cases that destroy data on purpose assert exactly how much was lost
 * and that the leaf reported it.
 *
 * ctest groups (see CMakeLists.txt): the two 30 s outages run as separate entries so
 * `ctest -j2` overlaps them. SF_SEED (env) fixes the random kill points. */
#include "sf_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NSUBJ 4

static unsigned seed_rand(void)
{
    const char *s = getenv("SF_SEED");
    unsigned seed = s && *s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)(time(NULL) ^ getpid());
    printf("  SF_SEED=%u\n", seed);
    fflush(stdout);
    srand(seed);
    return seed;
}

static int rand_between(int lo, int hi)
{
    return lo + rand() % (hi - lo + 1);
}

/* Waits until the backlog is gone, then reads the stream back. */
static void drain_and_check(sf_leaf *l, sf_net *n, int node, sf_pub *p, sf_check *c, int timeout_ms)
{
    SF_ASSERT(sf_pub_flush(p, 10000), "the leaf did not answer the publisher's last PINGs");
    int64_t t0 = ah_now_ms();
    SF_ASSERT(sf_wait_drained(l, timeout_ms), "backlog not drained within %d ms: %lld left",
              timeout_ms, sf_leafz_int(l, "backlog_msgs"));
    printf("  drained in %lld ms; leaf: acked=%lld duplicates=%lld skipped_stored=%lld "
           "resends=%lld\n",
           (long long)(ah_now_ms() - t0), sf_leafz_int(l, "acked"), sf_leafz_int(l, "duplicates"),
           sf_leafz_int(l, "skipped_stored"), sf_leafz_int(l, "resends"));
    sf_check_stream(&n->hub, node, "VEH", p, c);
}

/* ---- 30 s outages at 100 Hz --------------------------------------------------------- */

/* Reads the link status messages that arrived on the leaf-side subscription; remembers
 * whether one said offline with a backlog. (libnats answers the leaf's PINGs, so the
 * subscriber is not dropped as stale while the test publishes.) */
static void scan_status(natsSubscription *sub, bool *offline_with_backlog, long long *max_backlog)
{
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 1) == NATS_OK) {
        json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        long long b = (long long)json_integer_value(json_object_get(j, "backlog_msgs"));
        if (b > *max_backlog)
            *max_backlog = b;
        if (json_is_false(json_object_get(j, "online")) && b > 0)
            *offline_with_backlog = true;
        json_decref(j);
        natsMsg_Destroy(m);
    }
}

static void run_outage(const char *fault, const char *sync, int outage_ms)
{
    sf_net n;
    sf_net_start(&n, 3, true);
    sf_stream_create(&n.hub, "VEH", 3, 0);
    char store[64];
    snprintf(store, sizeof store, "sync: %s", sync);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, store, NULL, NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");

    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", l.port);
    natsConnection *snc = NULL;
    natsSubscription *ssub = NULL;
    SF_ASSERT(natsConnection_ConnectTo(&snc, url) == NATS_OK &&
                  natsConnection_SubscribeSync(&ssub, snc, "fleet.test.veh.v1.link") == NATS_OK &&
                  natsConnection_Flush(snc) == NATS_OK,
              "status subscriber");

    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 64, 100000);
    sf_pub_run(&p, 100, 5000);
    SF_ASSERT(sf_wait_drained(&l, 10000), "backlog before the outage did not drain");

    printf("  %s for %d ms at 100 Hz\n", fault, outage_ms);
    fflush(stdout);
    sf_net_cmd(&n, fault);
    bool offline_with_backlog = false;
    long long max_backlog = 0;
    char state[64] = "";
    bool went_down = false;
    for (int t = 0; t < outage_ms; t += 1000) {
        sf_pub_run(&p, 100, 1000);
        scan_status(ssub, &offline_with_backlog, &max_backlog);
        if (strcmp(sf_leafz_str(&l, "state", state, sizeof state), "connected"))
            went_down = true;
    }
    long long backlog_at_heal = sf_leafz_int(&l, "backlog_msgs");
    sf_net_cmd(&n, "heal");
    sf_pub_run(&p, 100, 5000);
    scan_status(ssub, &offline_with_backlog, &max_backlog);
    printf("  backlog at heal %lld, max backlog in link status %lld, longest PONG %lld ms, "
           "reconnects %lld\n",
           backlog_at_heal, max_backlog, (long long)p.max_pong_ms, sf_leafz_int(&l, "reconnects"));
    SF_ASSERT(went_down, "the leaf never noticed the %s", fault);
    /* 30 s at 100 Hz: nearly all of it waits in the log; the first ~3 s of a black hole may
     * still have been acked by nobody, so they are in the backlog too. */
    SF_ASSERT(backlog_at_heal >= (long long)outage_ms / 10 * 8 / 10,
              "backlog at heal %lld, expected most of the %d messages of the outage",
              backlog_at_heal, outage_ms / 10);
    SF_ASSERT(offline_with_backlog,
              "no link status on fleet.test.veh.v1.link said offline with a backlog");
    /* Local pub/sub is untouched by the outage: no PONG waited for the hub. */
    SF_ASSERT(p.max_pong_ms < 2000, "a PONG took %lld ms during the %s", (long long)p.max_pong_ms,
              fault);

    sf_check c;
    drain_and_check(&l, &n, 1, &p, &c, 60000);
    sf_check_print(fault, &c);
    sf_check_assert_all(&c, &p);
    sf_check_free(&c);
    sf_pub_close(&p);
    natsSubscription_Destroy(ssub);
    natsConnection_Destroy(snc);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

static void test_cut30(void)
{
    run_outage("cut", "always", 30000);
}

static void test_blackhole30(void)
{
    run_outage("blackhole", "\"10ms\"", 30000);
}

/* ---- kill -9 of the leaf at random points ------------------------------------------- */

static void test_kill9_always(void)
{
    seed_rand();
    sf_net n;
    sf_net_start(&n, 3, false);
    sf_stream_create(&n.hub, "VEH", 3, 1000); /* 1 s window: dedup alone would not do */
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: always", NULL, NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 64, 200000);
    const int iterations = 15;
    long long skipped = 0, dups = 0;
    for (int i = 0; i < iterations; i++) {
        /* a random point: while publishing, forwarding, resyncing or just after a restart */
        int run_ms = rand_between(0, 1500);
        int hz = rand_between(200, 2000);
        sf_pub_run(&p, hz, run_ms);
        long long s = sf_leafz_int(&l, "skipped_stored"), d = sf_leafz_int(&l, "duplicates");
        skipped += s > 0 ? s : 0;
        dups += d > 0 ? d : 0;
        sf_leaf_kill(&l);
        ah_sleep_ms(rand_between(0, 1500)); /* sometimes beyond the duplicate window */
        sf_leaf_start(&l);
        SF_ASSERT(sf_pub_reconnect(&p, 15000) == 0, "publisher cannot reach the leaf again");
    }
    sf_pub_run(&p, 500, 1000);
    sf_check c;
    drain_and_check(&l, &n, 0, &p, &c, 60000);
    printf("  %d kills, %llu msgs sent, %llu flushed; skipped_stored %lld, duplicates %lld "
           "(summed over the killed leaves)\n",
           iterations, (unsigned long long)p.next_g, (unsigned long long)p.nflushed, skipped, dups);
    sf_check_print("kill9", &c);
    sf_check_assert_clean(&c);
    SF_ASSERT(p.nflushed > 1000, "only %llu messages were flushed", (unsigned long long)p.nflushed);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* ---- an outage longer than the duplicate window -------------------------------------- */

/* Records the hub stored but whose acks the leaf never saw (cut in flight, or forgotten
 * by a kill -9 before the ack floor reached disk) are sent again after 3 s, three times
 * the 1 s duplicate window: only the resync keeps them out of the stream. */
static void test_beyond_window(void)
{
    sf_net n;
    sf_net_start(&n, 3, true);
    sf_stream_create(&n.hub, "VEH", 3, 1000);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: always", NULL, NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 64, 100000);
    sf_pub_run(&p, 1000, 3000);
    sf_net_cmd(&n, "cut");
    sf_leaf_kill(&l);
    sf_leaf_start(&l);
    SF_ASSERT(sf_pub_reconnect(&p, 15000) == 0, "publisher cannot reach the leaf again");
    sf_pub_run(&p, 1000, 3000);
    long long backlog = sf_leafz_int(&l, "backlog_msgs");
    sf_net_cmd(&n, "heal");
    sf_check c;
    drain_and_check(&l, &n, 0, &p, &c, 60000);
    long long skipped = sf_leafz_int(&l, "skipped_stored");
    printf("  backlog after 3 s of outage + restart: %lld; skipped as already stored: %lld\n",
           backlog, skipped);
    sf_check_print("beyond_window", &c);
    sf_check_assert_clean(&c);
    SF_ASSERT(skipped > 0, "no record was found already stored: the hazard was not exercised");
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* ---- hub nodes killed during catch-up ------------------------------------------------ */

static int node_index(const char *name)
{
    return !strncmp(name, "hub", 3) ? atoi(name + 3) - 1 : -1;
}

static int stream_leader_via(sf_net *n, int via)
{
    natsConnection *nc = sf_hub_conn(&n->hub, via);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    jsStreamInfo *si = NULL;
    int leader = -1;
    if (js_GetStreamInfo(&si, js, "VEH", NULL, NULL) == NATS_OK && si->Cluster &&
        si->Cluster->Leader)
        leader = node_index(si->Cluster->Leader);
    if (si)
        jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return leader;
}

/* The stream leader's node index, asking any node, while the cluster elects one. */
static int stream_leader(sf_net *n)
{
    int64_t deadline = ah_now_ms() + (int64_t)(15000 * ah_timeout_scale());
    for (int i = 0;; i++) {
        int leader = stream_leader_via(n, i % n->nodes);
        if (leader >= 0 || ah_now_ms() > deadline)
            return leader;
        ah_sleep_ms(200);
    }
}

static void test_hub_node_kill(void)
{
    sf_net n;
    sf_net_start(&n, 3, false);
    sf_stream_create(&n.hub, "VEH", 3, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: \"10ms\"", "ack_timeout: \"1s\"", NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 128, 100000);
    /* A burst far faster than one-in-flight-per-subject forwarding: a backlog to catch up. */
    for (int i = 0; i < 30000; i++) {
        if (sf_pub_send(&p, i % 100 == 99) != 0)
            SF_ASSERT(0, "publisher lost the leaf");
        if (i % 100 == 99)
            sf_pub_poll(&p, 0);
    }
    SF_ASSERT(sf_pub_flush(&p, 20000), "burst not flushed");
    long long backlog0 = sf_leafz_int(&l, "backlog_msgs");
    char name[64];
    int attached = node_index(sf_leafz_str(&l, "name", name, sizeof name));
    SF_ASSERT(attached >= 0, "leaf not attached to a hub node (%s)", name);
    printf("  backlog %lld; killing hub%d (the leaf's node)\n", backlog0, attached + 1);
    fflush(stdout);
    ah_stop(&n.hub.proc[attached], SIGKILL, 5000);
    sf_pub_run(&p, 200, 2000);
    SF_ASSERT(ah_hub_restart_node(&n.hub, attached) == 0, "hub%d did not come back", attached + 1);
    int leader = stream_leader(&n);
    long long backlog1 = sf_leafz_int(&l, "backlog_msgs");
    printf("  backlog %lld; killing hub%d (the stream leader)\n", backlog1, leader + 1);
    fflush(stdout);
    SF_ASSERT(leader >= 0, "no stream leader");
    ah_stop(&n.hub.proc[leader], SIGKILL, 5000);
    sf_pub_run(&p, 200, 2000);
    SF_ASSERT(ah_hub_restart_node(&n.hub, leader) == 0, "hub%d did not come back", leader + 1);
    sf_check c;
    drain_and_check(&l, &n, (leader + 1) % 3, &p, &c, 90000);
    sf_check_print("hub_node_kill", &c);
    sf_check_assert_all(&c, &p);
    /* The first kill must hit a catch-up; the second may come after the drain on a fast
     * machine, and then still checks that a leader change loses and duplicates nothing. */
    SF_ASSERT(backlog0 > 1000, "backlog %lld at the first kill: not a catch-up test", backlog0);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* ---- no hub stream ------------------------------------------------------------------ */

static void test_no_stream(void)
{
    sf_net n;
    sf_net_start(&n, 1, false);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, NULL, "ack_timeout: \"1s\"", NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 64, 10000);
    sf_pub_run(&p, 100, 1000);
    /* the clear error: which subject, that no stream captures it, what to do */
    char err[512] = "";
    bool named = false;
    int64_t deadline = ah_now_ms() + (int64_t)(5000 * ah_timeout_scale());
    while (ah_now_ms() < deadline && !named) {
        sf_leafz_str(&l, "last_hub_error", err, sizeof err);
        named = strstr(err, "no hub stream") != NULL;
        if (!named)
            sf_pub_run(&p, 100, 100);
    }
    printf("  last_hub_error: %s\n", err);
    SF_ASSERT(named, "last_hub_error does not say the stream is missing: '%s'", err);
    SF_ASSERT(strstr(err, "fleet.test.veh.v1.state.") != NULL, "the error names no subject");
    /* retries keep going, and the error keeps saying why */
    long long r0 = sf_leafz_int(&l, "retries");
    sf_pub_run(&p, 100, 3000);
    long long r1 = sf_leafz_int(&l, "retries");
    sf_leafz_str(&l, "last_hub_error", err, sizeof err);
    printf("  retries %lld -> %lld; last_hub_error after retries: %s\n", r0, r1, err);
    SF_ASSERT(r1 > r0, "no retries while the stream is missing (retries %lld -> %lld)", r0, r1);
    SF_ASSERT(strstr(err, "no hub stream") != NULL,
              "after retries last_hub_error no longer says the stream is missing: '%s'", err);
    SF_ASSERT(sf_leafz_int(&l, "backlog_msgs") >= 300, "backlog %lld while nothing can be stored",
              sf_leafz_int(&l, "backlog_msgs"));
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_pub_run(&p, 100, 1000);
    sf_check c;
    drain_and_check(&l, &n, 0, &p, &c, 30000);
    sf_check_print("no_stream", &c);
    sf_check_assert_all(&c, &p);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* ---- damaged store files -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.seg paths of a store dir; returns the count. */
static int list_segments(const char *dir, char paths[][700], int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len == 24 && !strcmp(e->d_name + 20, ".seg"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k < max)
            snprintf(paths[k++], 700, "%s/%s", dir, names[i]);
        free(names[i]);
    }
    return k;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Fills a store while the hub is unreachable, then kill -9. */
static void fill_offline(sf_net *n, sf_leaf *l, sf_pub *p, const char *store_extra, int msgs,
                         size_t payload)
{
    sf_net_start(n, 1, true);
    sf_net_cmd(n, "cut");
    sf_stream_create(&n->hub, "VEH", 1, 0);
    sf_leaf_init(l, "v1", n->urls, NULL, store_extra, NULL, NULL);
    sf_leaf_start(l);
    sf_pub_open(p, l->port, "v1", NSUBJ, payload, (size_t)msgs * 2);
    for (int i = 0; i < msgs; i++) {
        SF_ASSERT(sf_pub_send(p, true) == 0, "publisher lost the leaf");
        sf_pub_poll(p, 0);
    }
    SF_ASSERT(sf_pub_flush(p, 20000), "not flushed");
    SF_ASSERT(p->nflushed == (uint64_t)msgs, "flushed %llu of %d", (unsigned long long)p->nflushed,
              msgs);
    SF_ASSERT(sf_leafz_int(l, "backlog_msgs") == msgs, "backlog %lld, expected %d",
              sf_leafz_int(l, "backlog_msgs"), msgs);
    sf_leaf_kill(l);
}

static void test_torn_tail(void)
{
    sf_net n;
    sf_leaf l;
    sf_pub p;
    fill_offline(&n, &l, &p, "sync: always", 500, 64);
    char segs[8][700];
    int ns = list_segments(l.store_dir, segs, 8);
    SF_ASSERT(ns >= 1, "no segment in %s", l.store_dir);
    off_t sz = file_size(segs[ns - 1]);
    SF_ASSERT(truncate(segs[ns - 1], sz - 10) == 0, "truncate: %s", strerror(errno));
    sf_leaf_start(&l);
    SF_ASSERT(sf_log_count(&l, "torn tail") == 1, "the leaf did not log the torn tail");
    SF_ASSERT(sf_leafz_int(&l, "backlog_msgs") == 499, "backlog after recovery %lld, want 499",
              sf_leafz_int(&l, "backlog_msgs"));
    SF_ASSERT(sf_pub_reconnect(&p, 15000) == 0, "publisher cannot reach the leaf again");
    for (int i = 0; i < 100; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
    sf_net_cmd(&n, "heal");
    sf_check c;
    drain_and_check(&l, &n, 0, &p, &c, 30000);
    sf_check_print("torn_tail", &c);
    /* exactly the record that was cut, the last one written, is gone; nothing else */
    SF_ASSERT(c.lost == 1 && c.first_lost == 499, "lost %ld (g %llu..%llu), want only g=499",
              c.lost, (unsigned long long)c.first_lost, (unsigned long long)c.last_lost);
    SF_ASSERT(c.duplicated == 0 && c.reordered == 0 && c.unknown == 0 && c.missing_headers == 0,
              "dup %ld reordered %ld unknown %ld", c.duplicated, c.reordered, c.unknown);
    SF_ASSERT(c.distinct == 599, "%ld distinct messages, want 599", c.distinct);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

static void test_corrupt_segment(void)
{
    sf_net n;
    sf_leaf l;
    sf_pub p;
    /* max_bytes 4 MiB makes 1 MiB segments, so 3000 x 1 KiB fill about four */
    fill_offline(&n, &l, &p, "sync: always\n  max_bytes: 4MB", 3000, 1024);
    char segs[16][700];
    int ns = list_segments(l.store_dir, segs, 16);
    SF_ASSERT(ns >= 3, "%d segments, want at least 3", ns);
    off_t sz = file_size(segs[0]);
    int fd = open(segs[0], O_RDWR);
    SF_ASSERT(fd >= 0, "open %s", segs[0]);
    unsigned char b;
    SF_ASSERT(pread(fd, &b, 1, sz / 2) == 1, "pread");
    b ^= 0x5a;
    SF_ASSERT(pwrite(fd, &b, 1, sz / 2) == 1, "pwrite");
    close(fd);
    sf_leaf_start(&l);
    SF_ASSERT(sf_log_count(&l, "corrupt at offset") == 1, "the leaf did not log the corruption");
    long long lost_reported = sf_leafz_int(&l, "lost_msgs");
    printf("  flipped a byte at %lld of %s (%lld bytes); leaf reports lost_msgs=%lld\n",
           (long long)(sz / 2), strrchr(segs[0], '/') + 1, (long long)sz, lost_reported);
    SF_ASSERT(lost_reported > 0, "lost_msgs not reported");
    sf_net_cmd(&n, "heal");
    SF_ASSERT(sf_pub_reconnect(&p, 15000) == 0, "publisher cannot reach the leaf again");
    sf_check c;
    drain_and_check(&l, &n, 0, &p, &c, 30000);
    sf_check_print("corrupt_segment", &c);
    /* what was lost is exactly what the leaf reported, one contiguous run of the first
     * segment, and everything else arrived once, in order */
    SF_ASSERT(c.lost == lost_reported, "lost %ld, leaf reported %lld", c.lost, lost_reported);
    SF_ASSERT((long)(c.last_lost - c.first_lost + 1) == c.lost, "lost g %llu..%llu not contiguous",
              (unsigned long long)c.first_lost, (unsigned long long)c.last_lost);
    SF_ASSERT(c.duplicated == 0 && c.reordered == 0 && c.unknown == 0 && c.missing_headers == 0,
              "dup %ld reordered %ld unknown %ld", c.duplicated, c.reordered, c.unknown);
    SF_ASSERT(c.distinct + c.lost == 3000, "distinct %ld + lost %ld != 3000", c.distinct, c.lost);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
}

/* ---- disk full ---------------------------------------------------------------------- */

/* A 3 MiB tmpfs under the store in a private mount namespace (the case's process and the
 * leaf it starts share it; it vanishes with them). Returns false if mounting is not
 * permitted (not root). */
static bool mount_small_fs(const char *path, const char *size)
{
    if (unshare(CLONE_NEWNS) != 0)
        return false;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    mkdir(path, 0755);
    char opt[64];
    snprintf(opt, sizeof opt, "size=%s", size);
    return mount("sfstore", path, "tmpfs", 0, opt) == 0;
}

static void test_disk_full(void)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_net_cmd(&n, "cut");
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    /* max_bytes 8 MiB (2 MiB segments) is larger than the 3 MiB disk: the disk fills first */
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: always\n  max_bytes: 8MB", NULL, NULL);
    bool tmpfs = mount_small_fs(l.store_dir, "3m");
    if (!tmpfs) {
        /* Not root: a 1 MiB file-size limit on the leaf makes the first segment's writes fail
         * with EFBIG instead. The log then cannot roll, so only the reporting and the loss
         * accounting are checked, not the recovery once space is freed. */
        l.fsize_limit = 1 << 20;
    }
    printf("  disk full via %s\n", tmpfs ? "a 3 MiB tmpfs" : "RLIMIT_FSIZE 1 MiB");
    sf_leaf_start(&l);
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 1024, 20000);
    int sent = 0;
    while (sent < 6000 && sf_leafz_int(&l, "capture_errors") <= 0) {
        for (int i = 0; i < 100; i++, sent++)
            SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
        SF_ASSERT(sf_pub_flush(&p, 10000), "the leaf stopped answering PINGs");
    }
    for (int i = 0; i < 200; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
    SF_ASSERT(sf_pub_flush(&p, 10000), "the leaf stopped answering PINGs on a full disk");
    long long errors = sf_leafz_int(&l, "capture_errors");
    char err[512];
    sf_leafz_str(&l, "last_hub_error", err, sizeof err);
    printf("  after %llu msgs: capture_errors=%lld -ERR notices=%ld backlog=%lld "
           "last_hub_error: %s\n",
           (unsigned long long)p.next_g, errors, p.refused, sf_leafz_int(&l, "backlog_msgs"), err);
    SF_ASSERT(errors >= 200, "capture_errors %lld; the disk never filled", errors);
    /* the publisher was told about each one before the PONG that followed it */
    SF_ASSERT(p.refused == errors,
              "publisher got %ld '-ERR ... not stored for the hub', "
              "capture_errors %lld",
              p.refused, errors);
    SF_ASSERT(strstr(err, tmpfs ? "disk full" : "File too large"), "last_hub_error: %s", err);
    sf_net_cmd(&n, "heal");
    sf_check c;
    drain_and_check(&l, &n, 0, &p, &c, 30000);
    sf_check_print("disk_full", &c);
    /* Every message the leaf could not log was counted, and nothing else is missing. */
    SF_ASSERT(c.lost == errors, "lost %ld, but capture_errors %lld", c.lost, errors);
    SF_ASSERT(c.duplicated == 0 && c.reordered == 0 && c.unknown == 0 && c.missing_headers == 0,
              "dup %ld reordered %ld unknown %ld", c.duplicated, c.reordered, c.unknown);
    sf_check_free(&c);
    if (tmpfs) {
        /* Drained: the acked first segment is gone and the disk has room again. */
        uint64_t from = p.next_g;
        ah_sleep_ms(1500);
        for (int i = 0; i < 300; i++)
            SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
        drain_and_check(&l, &n, 0, &p, &c, 30000);
        long missing = 0;
        for (uint64_t g = from; g < p.next_g; g++)
            missing += c.count[g] == 0;
        printf("  after space was freed: %ld of 300 new messages missing, capture_errors %lld\n",
               missing, sf_leafz_int(&l, "capture_errors"));
        SF_ASSERT(missing == 0, "%ld of 300 messages published after the drain are missing",
                  missing);
        sf_check_free(&c);
    }
    sf_pub_close(&p);
    sf_leaf_stop(&l, true);
    if (tmpfs)
        umount2(l.store_dir, MNT_DETACH);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(l.dir);
    sf_net_stop(&n);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"cut30", test_cut30, 180},
        {"blackhole30", test_blackhole30, 180},
        {"kill9_always", test_kill9_always, 180},
        {"beyond_window", test_beyond_window, 120},
        {"hub_node_kill", test_hub_node_kill, 180},
        {"no_stream", test_no_stream, 120},
        {"torn_tail", test_torn_tail, 90},
        {"corrupt_segment", test_corrupt_segment, 90},
        {"disk_full", test_disk_full, 120},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
