/* bench_monitor: does monitoring hold up clients? The same work against nats-server and
 * aerie-leaf in one run, alternating brokers run by run.
 *
 * One connection holds N subscriptions (default 1 M). A requester sends requests at a fixed
 * rate to a responder (raw sockets) and records each round trip while, in turn: nothing
 * else happens; a monitoring client reads GET /connz?subs=1 in a loop; one reads
 * GET /subsz?subs=1&limit=N in a loop. For each phase the worst and the 99th-percentile
 * round trip are printed, with how long one full answer took and its size; then the same
 * while the connection holding the N subscriptions closes; and finally how long the broker
 * takes to exit after SIGTERM (N subscriptions again) while a /connz answer is half read.
 * Every request must be answered (a lost reply fails the run). Medians of --runs runs.
 *
 *   bench_monitor [--subs N] [--runs R] [--rate PER_SECOND] [--phase-ms MS]
 */
#include "harness/harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static long nsubs = 1000000;
static int rate = 500;
static int phase_ms = 4000;

static void die(const char *what)
{
    fprintf(stderr, "bench_monitor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int client(int port)
{
    int fd = ah_connect(port);
    if (fd < 0)
        die("connect");
    char buf[4096];
    ah_read_until(fd, buf, sizeof buf, "\r\n", 5000);
    ah_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n");
    if (ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000) <= 0)
        die("handshake");
    return fd;
}

/* ---- the subscriptions ----------------------------------------------------------------- */

static int subscribe_many(int port, double *ms)
{
    int fd = client(port);
    size_t cap = (size_t)nsubs * 40 + 64, len = 0;
    char *cmds = malloc(cap);
    if (!cmds)
        die("malloc");
    for (long i = 0; i < nsubs; i++)
        len += (size_t)snprintf(cmds + len, cap - len, "SUB fleet.veh%ld.state %ld\r\n", i, i);
    len += (size_t)snprintf(cmds + len, cap - len, "PING\r\n");
    double t0 = now_ms();
    if (ah_send_n(fd, cmds, len) != 0)
        die("subscribe");
    char buf[256];
    if (ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 600000) <= 0)
        die("no PONG after the subscriptions");
    *ms = now_ms() - t0;
    free(cmds);
    return fd;
}

/* ---- request/reply ---------------------------------------------------------------------- */

typedef struct responder {
    int fd;
    atomic_bool stop;
} responder;

/* Answers "MSG svc.echo 1 <reply> 2" with "PUB <reply> 2". */
static void *respond(void *arg)
{
    responder *r = arg;
    static char buf[1 << 16];
    size_t len = 0;
    while (!atomic_load(&r->stop)) {
        ssize_t n = read(r->fd, buf + len, sizeof buf - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
        char *p = buf;
        for (;;) {
            char *eol = strstr(p, "\r\n");
            if (!eol)
                break;
            if (!strncmp(p, "MSG ", 4)) {
                if ((size_t)(buf + len - eol) < 2 + 2 + 2)
                    break; /* payload not here yet */
                char subj[64], sid[16], reply[128];
                if (sscanf(p, "MSG %63s %15s %127s", subj, sid, reply) == 3) {
                    char out[200];
                    int k = snprintf(out, sizeof out, "PUB %s 2\r\nok\r\n", reply);
                    ah_send_n(r->fd, out, (size_t)k);
                }
                p = eol + 2 + 2 + 2;
            } else {
                if (!strncmp(p, "PING", 4))
                    ah_send(r->fd, "PONG\r\n");
                p = eol + 2;
            }
        }
        len = (size_t)(buf + len - p);
        memmove(buf, p, len);
    }
    return NULL;
}

/* One round trip; returns milliseconds, or -1 if no reply came within 10 s. */
static double request(int fd)
{
    static char buf[4096];
    double t0 = now_ms();
    ah_send(fd, "PUB svc.echo _INBOX.bench 2\r\nhi\r\n");
    size_t len = 0;
    while (len < 6 || !strstr(buf, "ok\r\n")) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, sizeof buf - len - 1);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = 0;
    }
    return now_ms() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Requests at `rate` for phase_ms; fills the worst and the 99th percentile. Returns the
 * number of requests that went unanswered. */
static int requests(int fd, double *worst, double *p99)
{
    int n = (int)((long)rate * phase_ms / 1000);
    double *lat = calloc((size_t)n, sizeof *lat);
    int lost = 0;
    double start = now_ms();
    for (int i = 0; i < n; i++) {
        double due = start + i * 1000.0 / rate, wait = due - now_ms();
        if (wait > 0)
            usleep((useconds_t)(wait * 1000));
        lat[i] = request(fd);
        if (lat[i] < 0) {
            lost++;
            lat[i] = 1e9;
        }
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    *worst = lat[n - 1];
    *p99 = lat[(int)(n * 0.99)];
    free(lat);
    return lost;
}

/* ---- monitoring readers ----------------------------------------------------------------- */

typedef struct http_loop {
    int port;
    const char *path;
    atomic_bool stop;
    double first_ms; /* duration of the first complete answer */
    long bytes;      /* its size */
    int answers;
} http_loop;

/* GETs path and reads the whole answer; returns the body size, or -1. */
static long get_all(int port, const char *path)
{
    int fd = ah_connect(port);
    if (fd < 0)
        return -1;
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    ah_send(fd, req);
    static char buf[1 << 16];
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        total += n;
    }
    close(fd);
    return total;
}

static void *http_reader(void *arg)
{
    http_loop *h = arg;
    while (!atomic_load(&h->stop)) {
        double t0 = now_ms();
        long n = get_all(h->port, h->path);
        if (n > 0 && h->answers++ == 0) {
            h->first_ms = now_ms() - t0;
            h->bytes = n;
        }
    }
    return NULL;
}

/* ---- one run ------------------------------------------------------------------------------ */

enum {
    M_SUBSCRIBE,
    M_IDLE_MAX,
    M_IDLE_P99,
    M_CONNZ_MAX,
    M_CONNZ_P99,
    M_CONNZ_MS,
    M_CONNZ_MB,
    M_SUBSZ_MAX,
    M_SUBSZ_P99,
    M_SUBSZ_MS,
    M_SUBSZ_MB,
    M_CLOSE_MAX,
    M_CLOSE_P99,
    M_RSS,
    M_SIGTERM,
    M_COUNT
};
static const char *names[M_COUNT] = {"subscribe N (ms)",
                                     "req/rep idle: worst (ms)",
                                     "req/rep idle: p99 (ms)",
                                     "req/rep during /connz?subs=1: worst (ms)",
                                     "req/rep during /connz?subs=1: p99 (ms)",
                                     "one /connz?subs=1 answer (ms)",
                                     "its size (MB)",
                                     "req/rep during /subsz?subs=1: worst (ms)",
                                     "req/rep during /subsz?subs=1: p99 (ms)",
                                     "one /subsz?subs=1&limit=N answer (ms)",
                                     "its size (MB)",
                                     "req/rep while the N-subscription client closes: worst (ms)",
                                     "req/rep while the N-subscription client closes: p99 (ms)",
                                     "RSS with N subscriptions (MiB)",
                                     "exit after SIGTERM mid-answer (ms)"};

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static bool phase(int req, int http_port, const char *path, double *m_max, double *m_p99,
                  double *m_ms, double *m_mb)
{
    http_loop h = {.port = http_port, .path = path};
    pthread_t th;
    if (path)
        pthread_create(&th, NULL, http_reader, &h);
    int lost = requests(req, m_max, m_p99);
    if (path) {
        atomic_store(&h.stop, true);
        pthread_join(th, NULL);
        *m_ms = h.answers ? h.first_ms : -1;
        *m_mb = h.answers ? h.bytes / 1e6 : -1;
        fprintf(stderr, "  %s: %d answers, %d requests lost\n", path, h.answers, lost);
    }
    return lost == 0;
}

static bool run_once(const char *bin, double m[M_COUNT])
{
    ah_proc proc;
    int port = ah_free_port(), http = ah_free_port();
    char ps[16], hs[16];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(hs, sizeof hs, "%d", http);
    char *argv[] = {(char *)bin, "-a", "127.0.0.1", "-p", ps, "-m", hs, NULL};
    if (ah_spawn(&proc, "/dev/null", argv) != 0 || ah_wait_tcp(port, 10000) != 0 ||
        ah_wait_tcp(http, 10000) != 0)
        die("broker did not start");
    int subs = subscribe_many(port, &m[M_SUBSCRIBE]);
    m[M_RSS] = rss_kib(proc.pid) / 1024.0;
    responder resp = {.fd = client(port)};
    ah_send(resp.fd, "SUB svc.echo 1\r\nPING\r\n");
    char buf[64];
    ah_read_until(resp.fd, buf, sizeof buf, "PONG\r\n", 5000);
    pthread_t rt;
    pthread_create(&rt, NULL, respond, &resp);
    int req = client(port);
    ah_send(req, "SUB _INBOX.bench 1\r\nPING\r\n");
    ah_read_until(req, buf, sizeof buf, "PONG\r\n", 5000);
    char subsz[128];
    snprintf(subsz, sizeof subsz, "/subsz?subs=1&limit=%ld", nsubs + 100);
    double unused;
    bool ok =
        phase(req, http, NULL, &m[M_IDLE_MAX], &m[M_IDLE_P99], &unused, &unused) &&
        phase(req, http, "/connz?subs=1", &m[M_CONNZ_MAX], &m[M_CONNZ_P99], &m[M_CONNZ_MS],
              &m[M_CONNZ_MB]) &&
        phase(req, http, subsz, &m[M_SUBSZ_MAX], &m[M_SUBSZ_P99], &m[M_SUBSZ_MS], &m[M_SUBSZ_MB]);
    /* The connection holding the subscriptions goes away. */
    close(subs);
    ok = phase(req, http, NULL, &m[M_CLOSE_MAX], &m[M_CLOSE_P99], &unused, &unused) && ok;
    double again;
    subs = subscribe_many(port, &again);
    /* SIGTERM while a monitoring client has read only the start of a big answer. */
    int hfd = ah_connect(http);
    ah_send(hfd, "GET /connz?subs=1 HTTP/1.0\r\n\r\n");
    char head[4096];
    (void)!read(hfd, head, sizeof head);
    double t0 = now_ms();
    kill(proc.pid, SIGTERM);
    int st;
    while (waitpid(proc.pid, &st, WNOHANG) == 0 && now_ms() - t0 < 30000)
        usleep(1000);
    m[M_SIGTERM] = now_ms() - t0;
    proc.pid = 0;
    atomic_store(&resp.stop, true);
    shutdown(resp.fd, SHUT_RDWR);
    pthread_join(rt, NULL);
    close(hfd);
    close(req);
    close(resp.fd);
    close(subs);
    return ok;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--subs") && i + 1 < argc)
            nsubs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--phase-ms") && i + 1 < argc)
            phase_ms = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_monitor [--subs N] [--runs R] [--rate PER_SECOND] "
                            "[--phase-ms MS]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 15 || nsubs < 1 || rate < 1 || phase_ms < 100) {
        fprintf(stderr, "bench_monitor: runs 1..15, subs, rate >= 1, phase-ms >= 100\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *bins[2] = {ah_nats_server(), ah_bin("aerie-leaf")};
    const char *labels[2] = {"nats-server", "aerie-leaf"};
    static double res[2][M_COUNT][15];
    int failed[2] = {0, 0};
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            double m[M_COUNT] = {0};
            bool ok = run_once(bins[k], m);
            failed[k] += !ok;
            for (int i = 0; i < M_COUNT; i++)
                res[k][i][r] = m[i];
            fprintf(stderr, "run %d/%d %s %s\n", r + 1, runs, labels[k],
                    ok ? "done, every request answered" : "FAILED: requests were lost");
        }
    }
    printf("N = %ld subscriptions on one connection; requests at %d/s, %d ms per phase\n\n", nsubs,
           rate, phase_ms);
    printf("| metric (median of %d runs) | nats-server | aerie-leaf | aerie/nats |\n", runs);
    printf("|---|---:|---:|---:|\n");
    for (int i = 0; i < M_COUNT; i++) {
        double a = median(res[0][i], runs), b = median(res[1][i], runs);
        printf("| %s | %.1f | %.1f | %.2f |\n", names[i], a, b, a > 0 ? b / a : 0);
    }
    printf("| runs with every request answered | %d of %d | %d of %d | |\n", runs - failed[0], runs,
           runs - failed[1], runs);
    return failed[0] || failed[1] ? 1 : 0;
}
