/* bench_uplink: traffic across a leafnode connection, aerie-leaf against nats-server 2.9
 * running as a leaf, both attached to the same nats-server hub (1 node, JetStream on, the
 * seed's vehicle user). One leaf runs at a time so they never compete for the CPU.
 *
 * Figures, each the median of --runs runs (leaf kinds alternate within a run):
 *   - throughput leaf->hub and hub->leaf (messages/s, 128 B and 1 KiB payloads): a libnats
 *     publisher on one side, an async libnats subscriber on the other, with a window of
 *     WINDOW messages in flight so neither leaf has to drop (aerie-leaf drops best-effort
 *     traffic beyond its 8 MiB uplink queue, nats-server closes slow consumers; either
 *     would measure the drop policy, not the link);
 *   - request/reply round trip leaf->hub service and hub->leaf service, back to back
 *     over raw sockets with TCP_NODELAY (median and 99th percentile, microseconds).
 * Printed side by side with the ratio aerie/nats (for throughput higher is better, for
 * latency lower is better).
 *
 *   bench_uplink [--runs N] [--msgs N] [--reqs N]
 */
#include "harness/harness.h"

#include <nats/nats.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW  20000
#define MAXRUNS 15

enum { K_AERIE, K_NATS, NKINDS };
static const char *kind_name[NKINDS] = {"aerie-leaf", "nats-server"};

enum {
    F_UP128,
    F_DOWN128,
    F_UP1K,
    F_DOWN1K,
    F_RR_UP_MED,
    F_RR_UP_P99,
    F_RR_DOWN_MED,
    F_RR_DOWN_P99,
    NFIG
};
static const char *fig_name[NFIG] = {
    "leaf->hub 128 B (msgs/s)",  "hub->leaf 128 B (msgs/s)",  "leaf->hub 1 KiB (msgs/s)",
    "hub->leaf 1 KiB (msgs/s)",  "req leaf->hub median (us)", "req leaf->hub p99 (us)",
    "req hub->leaf median (us)", "req hub->leaf p99 (us)",
};

typedef struct leaf {
    ah_proc proc;
    char dir[512];
    int port;
} leaf;

static void die(const char *msg)
{
    fprintf(stderr, "bench_uplink: %s\n", msg);
    exit(1);
}

static void start_leaf(leaf *l, int kind, int hub_leaf_port)
{
    char *dir = ah_mkdtemp("bench-leaf");
    if (!dir)
        die("mkdtemp");
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    free(dir);
    l->port = ah_free_port();
    char conf[600], log[600];
    snprintf(conf, sizeof conf, "%s/leaf.conf", l->dir);
    snprintf(log, sizeof log, "%s/leaf.log", l->dir);
    /* The same remote for both; each leaf needs a distinct name on the hub. */
    if (ah_write_file(
            conf,
            "server_name: %s\nlisten: 127.0.0.1:%d\n"
            "leafnodes { remotes = [ { urls: [\"nats-leaf://vehicle:secret@127.0.0.1:%d\"] "
            "} ] }\n",
            kind == K_AERIE ? "bench-aerie" : "bench-nats", l->port, hub_leaf_port) != 0)
        die("write leaf config");
    const char *bin = kind == K_AERIE ? ah_bin("aerie-leaf") : ah_nats_server();
    char *argv[] = {(char *)bin, "-c", conf, NULL};
    if (ah_spawn(&l->proc, log, argv) != 0 || ah_wait_tcp(l->port, 10000) != 0)
        die("leaf did not start");
}

static void stop_leaf(leaf *l)
{
    ah_stop(&l->proc, SIGTERM, 10000);
    ah_rmrf(l->dir);
}

/* Waits until the hub node lists exactly one leaf connection. */
static void wait_leaf_on_hub(int hub_http)
{
    int64_t deadline = ah_now_ms() + 15000;
    while (ah_now_ms() < deadline) {
        char *body = ah_http_get(hub_http, "/leafz", NULL);
        bool one = body && strstr(body, "\"leafnodes\": 1");
        free(body);
        if (one)
            return;
        ah_sleep_ms(20);
    }
    die("the leaf did not connect to the hub");
}

static natsConnection *connect_to(int port, const char *user)
{
    char url[128];
    if (user)
        snprintf(url, sizeof url, "nats://%s:secret@127.0.0.1:%d", user, port);
    else
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetAllowReconnect(o, false);
    natsOptions_SetIOBufSize(o, 256 * 1024);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        die("libnats connect");
    natsOptions_Destroy(o);
    return nc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static atomic_long received;

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    atomic_fetch_add(&received, 1);
    natsMsg_Destroy(msg);
}

/* Publishes until the subscriber has seen something: interest has crossed the link. */
static void await_flow(natsConnection *pub, const char *subj)
{
    int64_t deadline = ah_now_ms() + 15000;
    while (atomic_load(&received) == 0) {
        if (ah_now_ms() > deadline)
            die("no flow across the leaf connection");
        natsConnection_PublishString(pub, subj, "probe");
        natsConnection_Flush(pub);
        ah_sleep_ms(20);
    }
    ah_sleep_ms(300);
}

/* Messages per second from pub to a subscriber on subc, `n` messages of `size` bytes. */
static double throughput(natsConnection *pub, natsConnection *subc, const char *subj, long n,
                         int size)
{
    natsSubscription *sub = NULL;
    atomic_store(&received, 0);
    if (natsConnection_Subscribe(&sub, subc, subj, on_msg, NULL) != NATS_OK)
        die("subscribe");
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(subc);
    await_flow(pub, subj);
    long base = atomic_load(&received);
    char *buf = calloc(1, (size_t)size);
    int64_t t0 = ah_now_ms();
    for (long i = 0; i < n; i++) {
        while (i - (atomic_load(&received) - base) > WINDOW)
            usleep(20);
        natsConnection_Publish(pub, subj, buf, size);
    }
    natsConnection_Flush(pub);
    long last = -1;
    int64_t idle_since = ah_now_ms();
    while (atomic_load(&received) - base < n) {
        long now = atomic_load(&received);
        if (now != last) {
            last = now;
            idle_since = ah_now_ms();
        } else if (ah_now_ms() - idle_since > 5000) {
            fprintf(stderr, "bench_uplink: %s lost %ld of %ld messages\n", subj, n - (now - base),
                    n);
            break;
        }
        usleep(100);
    }
    int64_t t1 = ah_now_ms();
    long got = atomic_load(&received) - base;
    natsSubscription_Destroy(sub);
    free(buf);
    return (double)got * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
}

/* ---- request/reply over raw sockets ----------------------------------------------------
 * libnats adds its own flusher wake-ups to every request (about 1 ms here, the same for both
 * leaves), which would hide the leaf's share; raw sockets with TCP_NODELAY do not. */

static int raw_client(int port, const char *user)
{
    int fd = ah_connect(port);
    if (fd < 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[8192];
    if (ah_read_until(fd, buf, sizeof buf, "\r\n", 5000) <= 0)
        die("no INFO");
    char c[256];
    if (user)
        snprintf(c, sizeof c,
                 "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"%s\",\"pass\":"
                 "\"secret\"}\r\nPING\r\n",
                 user);
    else
        snprintf(c, sizeof c, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n");
    ah_send(fd, c);
    if (ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000) <= 0 || !strstr(buf, "PONG"))
        die("no PONG after CONNECT");
    return fd;
}

typedef struct responder {
    int fd;
    pthread_t th;
} responder;

/* Echoes every "MSG <subj> <sid> <reply> <len>" back to <reply> until the socket closes. */
static void *respond_loop(void *arg)
{
    responder *r = arg;
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(r->fd, buf + len, sizeof buf - len);
        if (n <= 0)
            return NULL;
        len += (size_t)n;
        size_t off = 0;
        for (;;) {
            char *eol = memmem(buf + off, len - off, "\r\n", 2);
            if (!eol)
                break;
            size_t line_len = (size_t)(eol - (buf + off));
            if (line_len >= 4 && !memcmp(buf + off, "MSG ", 4)) {
                char subj[256], sid[32], reply[256];
                int plen = 0;
                char line[600];
                snprintf(line, sizeof line, "%.*s", (int)line_len, buf + off);
                if (sscanf(line, "MSG %255s %31s %255s %d", subj, sid, reply, &plen) != 4)
                    die("responder: unexpected MSG line");
                size_t need = line_len + 2 + (size_t)plen + 2;
                if (len - off < need)
                    break;
                char out[1024];
                int on =
                    snprintf(out, sizeof out, "PUB %s %d\r\n%.*s\r\n", reply, plen, plen, eol + 2);
                ah_send_n(r->fd, out, (size_t)on);
                off += need;
            } else if (line_len == 4 && !memcmp(buf + off, "PING", 4)) {
                ah_send(r->fd, "PONG\r\n");
                off += 6;
            } else {
                off += line_len + 2;
            }
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}

/* One request over the raw requester socket; true if the reply arrived within ms. */
static bool raw_request(int fd, const char *subj, int ms)
{
    char req[256];
    int n = snprintf(req, sizeof req, "PUB %s _INBOX.benchlat.1 16\r\n0123456789abcdef\r\n", subj);
    ah_send_n(fd, req, (size_t)n);
    char buf[4096];
    int got = ah_read_until(fd, buf, sizeof buf, "0123456789abcdef\r\n", ms);
    return got > 0 && strstr(buf, "0123456789abcdef\r\n");
}

/* Back-to-back request/reply; writes median and p99 in microseconds. */
static void latency(int req_port, const char *req_user, int rep_port, const char *rep_user,
                    const char *subj, int n, double *median, double *p99)
{
    responder r = {.fd = raw_client(rep_port, rep_user)};
    char sub[128];
    snprintf(sub, sizeof sub, "SUB %s 1\r\nPING\r\n", subj);
    ah_send(r.fd, sub);
    char buf[4096];
    ah_read_until(r.fd, buf, sizeof buf, "PONG\r\n", 5000);
    pthread_create(&r.th, NULL, respond_loop, &r);
    int fd = raw_client(req_port, req_user);
    ah_send(fd, "SUB _INBOX.benchlat.* 1\r\nPING\r\n");
    ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000);
    int64_t deadline = ah_now_ms() + 15000;
    while (!raw_request(fd, subj, 200))
        if (ah_now_ms() > deadline)
            die("service not reachable across the leaf connection");
    ah_read_for(fd, buf, sizeof buf, 200); /* late replies of the probing */
    for (int i = 0; i < 300; i++)
        raw_request(fd, subj, 2000);
    double *us = calloc((size_t)n, sizeof *us);
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        bool ok = raw_request(fd, subj, 2000);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (ok)
            us[k++] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
    }
    qsort(us, (size_t)k, sizeof *us, cmp_double);
    *median = k ? us[k / 2] : -1;
    *p99 = k ? us[(k * 99) / 100] : -1;
    free(us);
    close(fd);
    shutdown(r.fd, SHUT_RDWR);
    pthread_join(r.th, NULL);
    close(r.fd);
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[n / 2] : 0;
}

int main(int argc, char **argv)
{
    int runs = 3, reqs = 3000;
    long msgs = 300000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--msgs") && i + 1 < argc)
            msgs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--reqs") && i + 1 < argc)
            reqs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_uplink [--runs N] [--msgs N] [--reqs N]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAXRUNS || msgs < 1 || reqs < 10)
        die("bad arguments");
    signal(SIGPIPE, SIG_IGN);
    ah_hub hub;
    if (ah_hub_start(&hub, 1, NULL) != 0)
        die("hub did not start");
    static double fig[NKINDS][NFIG][MAXRUNS];
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < NKINDS; k++) {
            leaf l;
            start_leaf(&l, k, hub.leaf_port[0]);
            wait_leaf_on_hub(hub.http_port[0]);
            natsConnection *hc = connect_to(hub.client_port[0], "operator");
            natsConnection *lc = connect_to(l.port, NULL);
            fig[k][F_UP128][r] = throughput(lc, hc, "bench.up.128", msgs, 128);
            fig[k][F_DOWN128][r] = throughput(hc, lc, "bench.down.128", msgs, 128);
            fig[k][F_UP1K][r] = throughput(lc, hc, "bench.up.1k", msgs / 4, 1024);
            fig[k][F_DOWN1K][r] = throughput(hc, lc, "bench.down.1k", msgs / 4, 1024);
            latency(l.port, NULL, hub.client_port[0], "operator", "bench.svc.hub", reqs,
                    &fig[k][F_RR_UP_MED][r], &fig[k][F_RR_UP_P99][r]);
            latency(hub.client_port[0], "operator", l.port, NULL, "bench.svc.leaf", reqs,
                    &fig[k][F_RR_DOWN_MED][r], &fig[k][F_RR_DOWN_P99][r]);
            fprintf(stderr,
                    "run %d %-11s up128 %.0f down128 %.0f up1k %.0f down1k %.0f "
                    "rr-up %.0f/%.0f rr-down %.0f/%.0f\n",
                    r + 1, kind_name[k], fig[k][0][r], fig[k][1][r], fig[k][2][r], fig[k][3][r],
                    fig[k][4][r], fig[k][5][r], fig[k][6][r], fig[k][7][r]);
            natsConnection_Destroy(hc);
            natsConnection_Destroy(lc);
            stop_leaf(&l);
            /* Let the hub notice the leaf left before the next one (same account). */
            ah_sleep_ms(300);
        }
    }
    printf("bench_uplink: %d run(s), %ld msgs (128 B) / %ld msgs (1 KiB), %d requests; hub "
           "nats-server 1 node; medians\n",
           runs, msgs, msgs / 4, reqs);
    printf("%-30s %14s %14s %8s\n", "figure", kind_name[K_AERIE], kind_name[K_NATS], "aerie/nats");
    for (int f = 0; f < NFIG; f++) {
        double a = median_of(fig[K_AERIE][f], runs), n = median_of(fig[K_NATS][f], runs);
        printf("%-30s %14.0f %14.0f %8.2f\n", fig_name[f], a, n, n > 0 ? a / n : 0);
    }
    ah_hub_stop(&hub);
    nats_CloseAndWait(5000);
    return 0;
}
