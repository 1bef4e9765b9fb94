/* bench_broker: the same client workloads against nats-server and aerie-leaf in one run,
 * with two kinds of clients: raw sockets (which read as fast as the kernel delivers, so the
 * broker is the bottleneck) and the official C client, libnats (what vehicle programs use,
 * whose reader is slower than a publisher: bursts pile up in the broker).
 *
 * Measures 1->1 throughput (16 B, 128 B, 1 KiB), 1->10 fan-out on a wildcard subject,
 * request/reply latency (back to back and at 1000/s, against both brokers at once with
 * requests alternating between them, so both see the same moment of a loaded machine), RSS
 * (idle, with 100 connections, the peak during the throughput runs, after the load),
 * start-up time and stripped binary size. Every run checks that every message arrived (and every
 * request was answered): a run that lost anything is counted as failed and gives no figure; the
 * tables show the median of the runs that delivered everything and how many did. Runs alternate
 * brokers and client kinds so a noisy machine hits all of them.
 *
 *   bench_broker [--runs N] [--scale F] [--clients raw|libnats|both]
 *                [--only throughput|latency]
 */
#include "harness/harness.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct server {
    const char *label;
    const char *path;
    ah_proc proc;
    int port;
    double startup_ms;
} server;

enum kind { RAW, LIB, NKINDS };
static const char *kind_names[NKINDS] = {"raw sockets", "libnats 3.4.1"};

static double scale = 1.0;
static bool do_throughput = true, do_latency = true;

static void die(const char *what)
{
    fprintf(stderr, "bench_broker: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void start_server(server *s)
{
    s->port = ah_free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    char *argv[] = {(char *)s->path, "-a", "127.0.0.1", "-p", port, NULL};
    double t0 = now_s();
    if (ah_spawn(&s->proc, "/dev/null", argv) != 0)
        die("spawn");
    /* Poll the port finely: start-up time is a figure we report. */
    for (;;) {
        int fd = ah_connect(s->port);
        if (fd >= 0) {
            close(fd);
            break;
        }
        if (now_s() - t0 > 5)
            die("server did not start");
        usleep(200);
    }
    s->startup_ms = (now_s() - t0) * 1e3;
}

/* VmRSS or VmHWM (the peak) of a process, in KiB. */
static long status_kib(pid_t pid, const char *field)
{
    char path[64], line[256], fmt[32];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    snprintf(fmt, sizeof fmt, "%s: %%ld kB", field);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, fmt, &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* ---- raw-socket clients --------------------------------------------------------------- */

/* Connects and completes the CONNECT/PING/PONG handshake. */
static int raw_client(int port)
{
    int fd = ah_connect(port);
    if (fd < 0)
        die("connect");
    char buf[4096];
    ah_read_until(fd, buf, sizeof buf, "\r\n", 2000);
    ah_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\nPING\r\n");
    if (ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000) <= 0)
        die("handshake");
    return fd;
}

static void raw_sync(int fd)
{
    char buf[4096];
    ah_send(fd, "PING\r\n");
    if (ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 10000) <= 0)
        die("sync");
}

/* An incremental reader that counts MSGs and answers PINGs. */
typedef struct reader {
    int fd;
    char *buf;
    size_t len, cap;
    long msgs;
} reader;

/* Reads once and consumes complete ops; returns false on EOF/error. */
static bool reader_step(reader *r, char *reply_out, size_t reply_cap, bool *got_reply)
{
    if (r->cap - r->len < 65536) {
        r->cap = r->cap ? r->cap * 2 : 1 << 20;
        r->buf = realloc(r->buf, r->cap);
    }
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (n <= 0)
        return false;
    r->len += (size_t)n;
    size_t off = 0;
    for (;;) {
        char *line = r->buf + off;
        char *eol = memmem(line, r->len - off, "\r\n", 2);
        if (!eol)
            break;
        size_t ll = (size_t)(eol - line);
        if (ll >= 4 && memcmp(line, "MSG ", 4) == 0) {
            /* MSG subject sid [reply] size */
            char *sp = eol;
            while (sp > line && sp[-1] != ' ')
                sp--;
            size_t size = strtoul(sp, NULL, 10);
            size_t total = ll + 2 + size + 2;
            if (r->len - off < total)
                break;
            if (reply_out) {
                char tmp[512];
                size_t k = ll < sizeof tmp - 1 ? ll : sizeof tmp - 1;
                memcpy(tmp, line, k);
                tmp[k] = 0;
                char *save, *t[6];
                int nt = 0;
                for (char *p = strtok_r(tmp, " ", &save); p && nt < 6;
                     p = strtok_r(NULL, " ", &save))
                    t[nt++] = p;
                if (nt == 5) {
                    snprintf(reply_out, reply_cap, "%s", t[3]);
                    *got_reply = true;
                }
            }
            r->msgs++;
            off += total;
        } else {
            if (ll == 4 && memcmp(line, "PING", 4) == 0)
                ah_send(r->fd, "PONG\r\n");
            off += ll + 2;
        }
        if (reply_out && *got_reply)
            break;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
    return true;
}

typedef struct pub_job {
    int fd;
    size_t size;
    long count;
} pub_job;

static void *raw_publisher(void *arg)
{
    pub_job *j = arg;
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "PUB bench.x %zu\r\n", j->size);
    size_t one = (size_t)hl + j->size + 2;
    size_t per = 65536 / one + 1;
    char *block = malloc(per * one);
    for (size_t i = 0; i < per; i++) {
        char *p = block + i * one;
        memcpy(p, hdr, (size_t)hl);
        memset(p + hl, 'x', j->size);
        memcpy(p + hl + j->size, "\r\n", 2);
    }
    long left = j->count;
    while (left > 0) {
        long k = left < (long)per ? left : (long)per;
        if (ah_send_n(j->fd, block, (size_t)k * one) != 0)
            break; /* the broker cut us: the subscriber side reports the loss */
        left -= k;
    }
    free(block);
    return NULL;
}

/* Messages per second delivered to all subscribers together; *delivered counts them. */
static double raw_throughput(server *s, size_t size, long count, int nsubs, bool wildcard,
                             long *delivered)
{
    int subs[16];
    reader rd[16];
    for (int i = 0; i < nsubs; i++) {
        subs[i] = raw_client(s->port);
        ah_send(subs[i], wildcard ? "SUB bench.> 1\r\n" : "SUB bench.x 1\r\n");
        raw_sync(subs[i]);
        rd[i] = (reader){.fd = subs[i]};
    }
    int pub = raw_client(s->port);
    pub_job job = {pub, size, count};
    double t0 = now_s();
    pthread_t th;
    pthread_create(&th, NULL, raw_publisher, &job);
    *delivered = 0;
    for (int i = 0; i < nsubs; i++) {
        while (rd[i].msgs < count && reader_step(&rd[i], NULL, 0, NULL))
            ;
        *delivered += rd[i].msgs;
    }
    double secs = now_s() - t0;
    shutdown(pub, SHUT_RDWR);
    pthread_join(th, NULL);
    for (int i = 0; i < nsubs; i++) {
        close(subs[i]);
        free(rd[i].buf);
    }
    close(pub);
    return (double)*delivered / secs;
}

typedef struct raw_responder {
    int fd;
    atomic_bool stop;
} raw_responder;

static void *raw_respond(void *arg)
{
    raw_responder *r = arg;
    reader rd = {.fd = r->fd};
    while (!atomic_load(&r->stop)) {
        char reply[256];
        bool got = false;
        if (!reader_step(&rd, reply, sizeof reply, &got))
            break;
        if (got) {
            /* One request is in flight at a time, so one reply per read suffices. */
            char out[300];
            int n = snprintf(out, sizeof out, "PUB %s 2\r\nok\r\n", reply);
            ah_send_n(r->fd, out, (size_t)n);
        }
    }
    free(rd.buf);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void percentiles(double *lat, long n, double out[3])
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    out[0] = lat[n / 2];
    out[1] = lat[(long)(n * 0.99)];
    out[2] = lat[(long)(n * 0.999)];
}

/* Request/reply is measured against both brokers at once, alternating request by request
 * (who goes first alternates too), so both see exactly the same machine: on a loaded
 * machine the tail is mostly the scheduler, and sequential runs compare different moments.
 * A "side" is one broker's requester and responder. */
typedef struct side {
    enum kind kind;
    /* raw */
    int req;
    raw_responder resp;
    pthread_t th;
    reader rd;
    /* libnats */
    natsConnection *rc, *nc;
    natsSubscription *rs;
    double *lat;
    bool ok;
} side;

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
static natsConnection *lib_client(int port, bool send_asap);

static void side_open(side *sd, enum kind k, int port, long count)
{
    memset(sd, 0, sizeof *sd);
    sd->kind = k;
    sd->ok = true;
    sd->lat = calloc((size_t)count, sizeof *sd->lat);
    if (k == RAW) {
        int rfd = raw_client(port);
        ah_send(rfd, "SUB svc.echo 1\r\n");
        raw_sync(rfd);
        sd->resp.fd = rfd;
        pthread_create(&sd->th, NULL, raw_respond, &sd->resp);
        sd->req = raw_client(port);
        ah_send(sd->req, "SUB _INBOX.bench 1\r\n");
        raw_sync(sd->req);
        sd->rd = (reader){.fd = sd->req};
    } else {
        sd->rc = lib_client(port, true);
        if (natsConnection_Subscribe(&sd->rs, sd->rc, "svc.echo", on_request, NULL) != NATS_OK ||
            natsConnection_Flush(sd->rc) != NATS_OK)
            die("libnats responder");
        sd->nc = lib_client(port, true);
    }
}

/* One round trip, in microseconds; clears sd->ok if the reply never came. */
static double side_request(side *sd)
{
    double t0 = now_s();
    if (sd->kind == RAW) {
        ah_send(sd->req, "PUB svc.echo _INBOX.bench 2\r\nhi\r\n");
        long want = sd->rd.msgs + 1;
        while (sd->rd.msgs < want && sd->ok)
            sd->ok = reader_step(&sd->rd, NULL, 0, NULL);
    } else {
        natsMsg *reply = NULL;
        sd->ok = natsConnection_Request(&reply, sd->nc, "svc.echo", "hi", 2, 5000) == NATS_OK;
        natsMsg_Destroy(reply);
    }
    return (now_s() - t0) * 1e6;
}

static void side_close(side *sd)
{
    if (sd->kind == RAW) {
        atomic_store(&sd->resp.stop, true);
        shutdown(sd->resp.fd, SHUT_RDWR);
        pthread_join(sd->th, NULL);
        close(sd->resp.fd);
        close(sd->req);
        free(sd->rd.buf);
    } else {
        natsSubscription_Destroy(sd->rs);
        natsConnection_Destroy(sd->rc);
        natsConnection_Destroy(sd->nc);
    }
    free(sd->lat);
}

/* count round trips per broker at `rate` per broker per second (0: back to back); fills
 * out[b] with p50/p99/p99.9 in microseconds and returns which brokers answered everything. */
static void paired_latency(enum kind k, server sv[2], long count, int rate, double out[2][3],
                           bool ok[2])
{
    side sd[2];
    for (int b = 0; b < 2; b++)
        side_open(&sd[b], k, sv[b].port, count);
    double start = now_s();
    for (long i = 0; i < count && sd[0].ok && sd[1].ok; i++) {
        for (int j = 0; j < 2; j++) {
            int b = (i % 2) ? 1 - j : j;
            if (rate > 0) {
                double wait = start + (2.0 * (double)i + j) / (2.0 * rate) - now_s();
                if (wait > 0)
                    usleep((useconds_t)(wait * 1e6));
            }
            sd[b].lat[i] = side_request(&sd[b]);
        }
    }
    for (int b = 0; b < 2; b++) {
        ok[b] = sd[b].ok;
        if (ok[b])
            percentiles(sd[b].lat, count, out[b]);
        side_close(&sd[b]);
    }
}

/* ---- libnats clients ------------------------------------------------------------------- */

/* send_asap: write each publish at once (latency runs) instead of letting libnats' flusher
 * gather writes for a millisecond (its default, right for throughput). */
static natsConnection *lib_client(int port, bool send_asap)
{
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url) != NATS_OK ||
        natsOptions_SetAllowReconnect(o, false) != NATS_OK ||
        natsOptions_SetSendAsap(o, send_asap) != NATS_OK ||
        natsConnection_Connect(&nc, o) != NATS_OK)
        die("libnats connect");
    natsOptions_Destroy(o);
    return nc;
}

typedef struct counter {
    atomic_long n;
} counter;

static void on_count(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    atomic_fetch_add(&((counter *)closure)->n, 1);
    natsMsg_Destroy(msg);
}

/* As raw_throughput, with libnats publisher and subscribers (async callbacks, no client-side
 * pending limit, so whatever is lost is lost in the broker). */
static double lib_throughput(server *s, size_t size, long count, int nsubs, bool wildcard,
                             long *delivered)
{
    natsConnection *subs[16];
    natsSubscription *sub[16];
    counter cnt[16];
    for (int i = 0; i < nsubs; i++) {
        atomic_init(&cnt[i].n, 0);
        subs[i] = lib_client(s->port, false);
        if (natsConnection_Subscribe(&sub[i], subs[i], wildcard ? "bench.>" : "bench.x", on_count,
                                     &cnt[i]) != NATS_OK ||
            natsSubscription_SetPendingLimits(sub[i], -1, -1) != NATS_OK ||
            natsConnection_Flush(subs[i]) != NATS_OK)
            die("libnats subscribe");
    }
    natsConnection *pub = lib_client(s->port, false);
    char *payload = malloc(size);
    memset(payload, 'x', size);
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        if (natsConnection_Publish(pub, "bench.x", payload, (int)size) != NATS_OK)
            break;
    }
    natsConnection_FlushTimeout(pub, 120000);
    /* Wait until every subscriber has everything, or nothing moved for 5 s. */
    long total = (long)count * nsubs, last = -1;
    double last_move = now_s();
    for (;;) {
        long got = 0;
        for (int i = 0; i < nsubs; i++)
            got += atomic_load(&cnt[i].n);
        if (got >= total)
            break;
        if (got != last) {
            last = got;
            last_move = now_s();
        } else if (now_s() - last_move > 5) {
            break;
        }
        usleep(200);
    }
    double secs = now_s() - t0;
    *delivered = 0;
    for (int i = 0; i < nsubs; i++) {
        *delivered += atomic_load(&cnt[i].n);
        natsSubscription_Destroy(sub[i]);
        natsConnection_Destroy(subs[i]);
    }
    natsConnection_Destroy(pub);
    free(payload);
    return (double)*delivered / secs;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    natsConnection_Publish(nc, natsMsg_GetReply(msg), "ok", 2);
    natsMsg_Destroy(msg);
}

/* ---- driver ------------------------------------------------------------------------------ */

#define MAX_RUNS 15
enum {
    M_T16,
    M_T128,
    M_T1K,
    M_FAN,
    M_L50,
    M_L99,
    M_L999,
    M_R50,
    M_R99,
    M_R999,
    M_RSS_IDLE,
    M_RSS_100,
    M_RSS_PEAK,
    M_RSS_AFTER,
    M_START,
    M_COUNT
};
static const char *names[M_COUNT] = {"1->1 16 B (msg/s)",
                                     "1->1 128 B (msg/s)",
                                     "1->1 1 KiB (msg/s)",
                                     "1->10 fan-out 128 B (deliveries/s)",
                                     "req/rep back-to-back p50 (us)",
                                     "req/rep back-to-back p99 (us)",
                                     "req/rep back-to-back p99.9 (us)",
                                     "req/rep 1000/s p50 (us)",
                                     "req/rep 1000/s p99 (us)",
                                     "req/rep 1000/s p99.9 (us)",
                                     "RSS idle (KiB)",
                                     "RSS 100 connections (KiB)",
                                     "peak RSS, throughput runs (KiB)",
                                     "RSS after load (KiB)",
                                     "start-up (ms)"};
/* The metrics that can fail (a lost message or request) and the check that guards them. */
static const int guard[M_COUNT] = {
    [M_T16] = M_T16,   [M_T128] = M_T128, [M_T1K] = M_T1K,   [M_FAN] = M_FAN,    [M_L50] = M_L50,
    [M_L99] = M_L50,   [M_L999] = M_L50,  [M_R50] = M_R50,   [M_R99] = M_R50,    [M_R999] = M_R50,
    [M_RSS_IDLE] = -1, [M_RSS_100] = -1,  [M_RSS_PEAK] = -1, [M_RSS_AFTER] = -1, [M_START] = -1};

typedef struct result {
    double v[M_COUNT];
    bool ok[M_COUNT];
} result;

static double throughput(enum kind k, server *s, size_t size, long count, int nsubs, bool wildcard,
                         bool *ok)
{
    long delivered = 0, want = count * nsubs;
    double rate = k == RAW ? raw_throughput(s, size, count, nsubs, wildcard, &delivered)
                           : lib_throughput(s, size, count, nsubs, wildcard, &delivered);
    *ok = delivered == want;
    if (!*ok)
        fprintf(stderr, "  %s %s %zu B x %ld to %d: only %ld of %ld delivered: FAILED\n", s->label,
                kind_names[k], size, count, nsubs, delivered, want);
    return rate;
}

static void run_once(server *s, enum kind k, result *res)
{
    double *m = res->v;
    start_server(s);
    m[M_START] = s->startup_ms;
    ah_sleep_ms(200);
    m[M_RSS_IDLE] = (double)status_kib(s->proc.pid, "VmRSS");
    int conns[100];
    natsConnection *lconns[100];
    for (int i = 0; i < 100; i++) {
        char subj[64];
        snprintf(subj, sizeof subj, "idle.%d", i);
        if (k == RAW) {
            conns[i] = raw_client(s->port);
            char sub[80];
            snprintf(sub, sizeof sub, "SUB %s 1\r\n", subj);
            ah_send(conns[i], sub);
            raw_sync(conns[i]);
        } else {
            natsSubscription *sub = NULL;
            lconns[i] = lib_client(s->port, false);
            natsConnection_SubscribeSync(&sub, lconns[i], subj);
            natsConnection_Flush(lconns[i]);
            natsSubscription_Destroy(sub); /* unsubscribes; the connection stays */
        }
    }
    m[M_RSS_100] = (double)status_kib(s->proc.pid, "VmRSS");
    for (int i = 0; i < 100; i++) {
        if (k == RAW)
            close(conns[i]);
        else
            natsConnection_Destroy(lconns[i]);
    }
    if (do_throughput) {
        m[M_T16] = throughput(k, s, 16, (long)(2000000 * scale), 1, false, &res->ok[M_T16]);
        m[M_T128] = throughput(k, s, 128, (long)(1000000 * scale), 1, false, &res->ok[M_T128]);
        m[M_T1K] = throughput(k, s, 1024, (long)(300000 * scale), 1, false, &res->ok[M_T1K]);
        m[M_FAN] = throughput(k, s, 128, (long)(100000 * scale), 10, true, &res->ok[M_FAN]);
    }
    m[M_RSS_PEAK] = (double)status_kib(s->proc.pid, "VmHWM");
    ah_sleep_ms(300);
    m[M_RSS_AFTER] = (double)status_kib(s->proc.pid, "VmRSS");
    ah_stop(&s->proc, SIGTERM, 5000);
}

/* Both brokers up at once: back-to-back and 1000/s request/reply, requests alternating. */
static void run_latency(server sv[2], enum kind k, result *res[2])
{
    for (int b = 0; b < 2; b++)
        start_server(&sv[b]);
    double l[2][3];
    bool ok[2];
    paired_latency(k, sv, (long)(20000 * scale), 0, l, ok);
    for (int b = 0; b < 2; b++) {
        res[b]->ok[M_L50] = ok[b];
        res[b]->v[M_L50] = l[b][0], res[b]->v[M_L99] = l[b][1], res[b]->v[M_L999] = l[b][2];
    }
    paired_latency(k, sv, (long)(10000 * scale), 1000, l, ok);
    for (int b = 0; b < 2; b++) {
        res[b]->ok[M_R50] = ok[b];
        res[b]->v[M_R50] = l[b][0], res[b]->v[M_R99] = l[b][1], res[b]->v[M_R999] = l[b][2];
        if (!res[b]->ok[M_L50] || !res[b]->ok[M_R50])
            fprintf(stderr, "  %s %s: a request went unanswered: FAILED\n", sv[b].label,
                    kind_names[k]);
        ah_stop(&sv[b].proc, SIGTERM, 5000);
    }
}

static long stripped_size(const char *path)
{
    char tmp[] = "/tmp/bench-strip-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "strip -o '%s' '%s' 2>/dev/null", tmp, path);
    long size = -1;
    if (system(cmd) == 0) {
        struct stat st;
        if (stat(tmp, &st) == 0)
            size = (long)st.st_size;
    }
    unlink(tmp);
    return size;
}

/* The median of the runs that passed metric i's check; false if none did. */
static bool median_ok(result *runs, int n, int i, double *out, int *passed)
{
    double v[MAX_RUNS];
    int k = 0;
    for (int r = 0; r < n; r++) {
        if (guard[i] < 0 || runs[r].ok[guard[i]])
            v[k++] = runs[r].v[i];
    }
    *passed = k;
    if (k == 0)
        return false;
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    *out = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    return true;
}

static void print_table(enum kind k, result res[2][MAX_RUNS], int runs)
{
    printf("\n%s: median of the runs that delivered everything\n\n", kind_names[k]);
    printf("| metric | nats-server | aerie-leaf | aerie/nats | all delivered (nats, aerie) |\n");
    printf("|---|---:|---:|---:|---|\n");
    for (int i = 0; i < M_COUNT; i++) {
        if ((!do_throughput && i >= M_T16 && i <= M_FAN) ||
            (!do_latency && i >= M_L50 && i <= M_R999))
            continue; /* not run (--only) */
        double a = 0, b = 0;
        int pa = 0, pb = 0;
        bool oka = median_ok(res[0], runs, i, &a, &pa);
        bool okb = median_ok(res[1], runs, i, &b, &pb);
        char sa[32], sb[32], ratio[32], runs_col[48] = "";
        snprintf(sa, sizeof sa, oka ? "%.0f" : "failed", a);
        snprintf(sb, sizeof sb, okb ? "%.0f" : "failed", b);
        snprintf(ratio, sizeof ratio, oka && okb && a > 0 ? "%.2f" : "-", b / (a > 0 ? a : 1));
        if (guard[i] == i)
            snprintf(runs_col, sizeof runs_col, "%d/%d, %d/%d", pa, runs, pb, runs);
        printf("| %s | %s | %s | %s | %s |\n", names[i], sa, sb, ratio, runs_col);
    }
}

int main(int argc, char **argv)
{
    int runs = 3;
    bool want[NKINDS] = {true, true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            scale = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            const char *w = argv[++i];
            do_throughput = !strcmp(w, "throughput");
            do_latency = !strcmp(w, "latency");
        } else if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
            const char *c = argv[++i];
            want[RAW] = !strcmp(c, "raw") || !strcmp(c, "both");
            want[LIB] = !strcmp(c, "libnats") || !strcmp(c, "both");
        } else {
            fprintf(stderr, "usage: bench_broker [--runs N] [--scale F] "
                            "[--clients raw|libnats|both] [--only throughput|latency]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || (!want[RAW] && !want[LIB])) {
        fprintf(stderr, "bench_broker: --runs 1..%d, --clients raw, libnats or both\n", MAX_RUNS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (nats_Open(-1) != NATS_OK)
        die("nats_Open");
    server servers[2] = {{.label = "nats-server", .path = ah_nats_server()},
                         {.label = "aerie-leaf", .path = ah_bin("aerie-leaf")}};
    static result res[NKINDS][2][MAX_RUNS];
    /* Alternate servers and client kinds run by run so slow drift of a noisy machine hits
     * all of them. */
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < NKINDS; k++) {
            if (!want[k])
                continue;
            for (int sv = 0; sv < 2; sv++) {
                run_once(&servers[sv], (enum kind)k, &res[k][sv][r]);
                fprintf(stderr, "run %d/%d %s with %s done\n", r + 1, runs, servers[sv].label,
                        kind_names[k]);
            }
            if (do_latency) {
                result *both[2] = {&res[k][0][r], &res[k][1][r]};
                run_latency(servers, (enum kind)k, both);
                fprintf(stderr, "run %d/%d request/reply with %s done\n", r + 1, runs,
                        kind_names[k]);
            }
        }
    }
    for (int k = 0; k < NKINDS; k++) {
        if (want[k])
            print_table((enum kind)k, res[k], runs);
    }
    long sa = stripped_size(servers[0].path), sb = stripped_size(servers[1].path);
    printf("\nstripped binary (bytes): nats-server %ld, aerie-leaf %ld (%.3f)\n", sa, sb,
           sa > 0 ? (double)sb / sa : 0);
    nats_Close();
    return 0;
}
