/* bench_broker: the same client workloads against nats-server and aerie-leaf in one run.
 *
 * Measures 1->1 throughput (16 B, 128 B, 1 KiB), 1->10 fan-out on a wildcard subject,
 * request/reply latency (back to back and at a fixed rate), RSS (idle, with 100
 * connections, after the load), start-up time and stripped binary size, and prints both
 * servers side by side with the ratio aerie/nats. Clients are raw sockets so that the
 * client library is never the bottleneck. Each figure is the median of --runs runs.
 *
 *   bench_broker [--runs N] [--scale F]
 */
#include "harness/harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
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

static double scale = 1.0;

static void die(const char *what)
{
    fprintf(stderr, "bench_broker: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int start_server(server *s)
{
    s->port = ah_free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    char *argv[] = {(char *)s->path, "-a", "127.0.0.1", "-p", port, NULL};
    int64_t t0 = ah_now_ms();
    struct timespec ts0;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    if (ah_spawn(&s->proc, "/dev/null", argv) != 0)
        die("spawn");
    /* Poll the port finely: start-up time is a figure we report. */
    for (;;) {
        int fd = ah_connect(s->port);
        if (fd >= 0) {
            close(fd);
            break;
        }
        if (ah_now_ms() - t0 > 5000)
            die("server did not start");
        usleep(200);
    }
    struct timespec ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    s->startup_ms = (ts1.tv_sec - ts0.tv_sec) * 1e3 + (ts1.tv_nsec - ts0.tv_nsec) / 1e6;
    return 0;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

/* Connects and completes the CONNECT/PING/PONG handshake. */
static int client(int port)
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

static void sync_conn(int fd)
{
    char buf[4096];
    ah_send(fd, "PING\r\n");
    if (ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 10000) <= 0)
        die("sync");
}

/* ---- an incremental reader that counts MSGs and answers PINGs ------------------------ */

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
                /* third token is the reply when there are 4 fields */
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

/* ---- throughput --------------------------------------------------------------------- */

typedef struct pub_job {
    int fd;
    const char *subject;
    size_t size;
    long count;
} pub_job;

static void *publisher(void *arg)
{
    pub_job *j = arg;
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "PUB %s %zu\r\n", j->subject, j->size);
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
            die("publish");
        left -= k;
    }
    free(block);
    return NULL;
}

/* Returns messages per second delivered to all subscribers together. */
static double throughput(server *s, size_t size, long count, int nsubs, bool wildcard)
{
    int subs[16];
    reader rd[16];
    for (int i = 0; i < nsubs; i++) {
        subs[i] = client(s->port);
        ah_send(subs[i], wildcard ? "SUB bench.> 1\r\n" : "SUB bench.x 1\r\n");
        sync_conn(subs[i]);
        rd[i] = (reader){.fd = subs[i]};
    }
    int pub = client(s->port);
    pub_job job = {pub, "bench.x", size, count};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th;
    pthread_create(&th, NULL, publisher, &job);
    for (int i = 0; i < nsubs; i++) {
        while (rd[i].msgs < count) {
            if (!reader_step(&rd[i], NULL, 0, NULL))
                die("subscriber lost its connection");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (int i = 0; i < nsubs; i++) {
        close(subs[i]);
        free(rd[i].buf);
    }
    close(pub);
    return (double)count * nsubs / secs;
}

/* ---- request/reply latency ---------------------------------------------------------- */

typedef struct responder {
    int fd;
    volatile bool stop;
} responder;

static void *respond(void *arg)
{
    responder *r = arg;
    reader rd = {.fd = r->fd};
    while (!r->stop) {
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

/* Fills p50/p99/p999 in microseconds. rate = 0: back to back. */
static void latency(server *s, long count, int rate, double out[3])
{
    int rfd = client(s->port);
    ah_send(rfd, "SUB svc.echo 1\r\n");
    sync_conn(rfd);
    responder resp = {rfd, false};
    pthread_t th;
    pthread_create(&th, NULL, respond, &resp);
    int req = client(s->port);
    ah_send(req, "SUB _INBOX.bench 1\r\n");
    sync_conn(req);
    double *lat = calloc((size_t)count, sizeof *lat);
    reader rd = {.fd = req};
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) {
        if (rate > 0) {
            double due = (double)i / rate;
            for (;;) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                double el = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
                if (el >= due)
                    break;
                usleep((useconds_t)((due - el) * 1e6));
            }
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ah_send(req, "PUB svc.echo _INBOX.bench 2\r\nhi\r\n");
        long want = rd.msgs + 1;
        while (rd.msgs < want) {
            if (!reader_step(&rd, NULL, 0, NULL))
                die("requester lost its connection");
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        lat[i] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    resp.stop = true;
    shutdown(rfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(rfd);
    close(req);
    free(rd.buf);
    qsort(lat, (size_t)count, sizeof *lat, cmp_double);
    out[0] = lat[count / 2];
    out[1] = lat[(long)(count * 0.99)];
    out[2] = lat[(long)(count * 0.999)];
    free(lat);
}

/* ---- driver ------------------------------------------------------------------------- */

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
                                     "RSS after load (KiB)",
                                     "start-up (ms)"};

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void run_once(server *s, double m[M_COUNT])
{
    start_server(s);
    m[M_START] = s->startup_ms;
    ah_sleep_ms(200);
    m[M_RSS_IDLE] = (double)rss_kib(s->proc.pid);
    int conns[100];
    for (int i = 0; i < 100; i++) {
        conns[i] = client(s->port);
        char sub[64];
        snprintf(sub, sizeof sub, "SUB idle.%d 1\r\n", i);
        ah_send(conns[i], sub);
        sync_conn(conns[i]);
    }
    m[M_RSS_100] = (double)rss_kib(s->proc.pid);
    for (int i = 0; i < 100; i++)
        close(conns[i]);
    m[M_T16] = throughput(s, 16, (long)(2000000 * scale), 1, false);
    m[M_T128] = throughput(s, 128, (long)(1000000 * scale), 1, false);
    m[M_T1K] = throughput(s, 1024, (long)(300000 * scale), 1, false);
    m[M_FAN] = throughput(s, 128, (long)(100000 * scale), 10, true);
    double l[3];
    latency(s, (long)(20000 * scale), 0, l);
    m[M_L50] = l[0], m[M_L99] = l[1], m[M_L999] = l[2];
    latency(s, (long)(3000 * scale), 1000, l);
    m[M_R50] = l[0], m[M_R99] = l[1], m[M_R999] = l[2];
    ah_sleep_ms(300);
    m[M_RSS_AFTER] = (double)rss_kib(s->proc.pid);
    ah_stop(&s->proc, SIGTERM, 5000);
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

int main(int argc, char **argv)
{
    int runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_broker [--runs N] [--scale F]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS)
        runs = 3;
    signal(SIGPIPE, SIG_IGN);
    server servers[2] = {{.label = "nats-server", .path = ah_nats_server()},
                         {.label = "aerie-leaf", .path = ah_bin("aerie-leaf")}};
    static double res[2][M_COUNT][MAX_RUNS];
    /* Alternate the servers run by run so slow drift of a noisy machine hits both. */
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            double m[M_COUNT];
            run_once(&servers[k], m);
            for (int i = 0; i < M_COUNT; i++)
                res[k][i][r] = m[i];
            fprintf(stderr, "run %d/%d %s done\n", r + 1, runs, servers[k].label);
        }
    }
    printf("| metric (median of %d runs) | nats-server | aerie-leaf | aerie/nats |\n", runs);
    printf("|---|---:|---:|---:|\n");
    for (int i = 0; i < M_COUNT; i++) {
        double a = median(res[0][i], runs), b = median(res[1][i], runs);
        printf("| %s | %.0f | %.0f | %.2f |\n", names[i], a, b, a > 0 ? b / a : 0);
    }
    long sa = stripped_size(servers[0].path), sb = stripped_size(servers[1].path);
    printf("| stripped binary (bytes) | %ld | %ld | %.3f |\n", sa, sb,
           sa > 0 ? (double)sb / sa : 0);
    return 0;
}
