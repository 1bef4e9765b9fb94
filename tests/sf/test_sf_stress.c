/* Store-and-forward stress: the exactly-once scenario of issue 20, over and over.
 *
 *   test_sf_stress [--iterations N | --budget SECONDS] [--window-ms MS] [--subjects N]
 *                  [--delay-ms MS] [--no-stepdown] [--trace-hub] [stress]
 *
 * One vehicle publishes at 200 Hz in all on --subjects (4) uplink subjects (a PING after
 * every message, so the test knows which messages a PONG made durable) into an R3 stream
 * on a 3-node hub whose duplicate window is --window-ms (2000), through relays that hold
 * every chunk --delay-ms (5) each way. Each iteration, on a fresh stream and a fresh leaf:
 *
 *   1. 1-3 s connected;
 *   2. a `cut` of every relay for 2-2.4 windows (acks lost in flight are older than the
 *      window when the link returns), heal, and a stream-leader stepdown
 *      ($JS.API.STREAM.LEADER.STEPDOWN) just before the heal or within 1 s of the leaf
 *      reconnecting -- during its resync and catch-up;
 *   3. 0-2 s later a kill -9 of the leaf (the acks it saw since the ack floor last reached
 *      the disk are forgotten), restarted after 0-1.5 s, and another stepdown;
 *   4. 1-3 s later a `blackhole` of every relay for 1.6 windows (at least 5 s: the leaf
 *      must declare the link dead and dial again), so bytes it wrote meanwhile are held and
 *      reach the hub at the heal on the old connection; heal, another stepdown;
 *   5. 2 s more, then the backlog drains and the whole stream is read back.
 *
 * Every flushed message must be in the stream exactly once, in order: lost, duplicated
 * and reordered are totalled over the iterations and must all be zero. A duplicate's
 * copies are printed with their stream sequence, stored time and Nats-Msg-Id, beside the
 * leaf's `forward:` log lines (the leaf runs with `debug: true`, so the resync's
 * "the hub holds up to our seq N" is there) and the test's own events, stamped with the
 * wall clock of those logs.
 *
 * In CI (ctest sf_stress) the case runs as many iterations as fit in --budget (75 s). The
 * relay delay and the four subjects make it likely that some record is stored but not yet
 * acknowledged when the black hole starts, the case that stores a record twice on the
 * forwarder of issue 20 (see "Investigations" in docs/store-and-forward.md). The issue's
 * own scenario, for the 20-run campaign: `--iterations 20 --window-ms 5000 --subjects 1
 * --delay-ms 0 --no-stepdown`. SF_SEED (env) replays the random timings; the seed and
 * the arguments to pass are printed. --trace-hub runs the hub nodes with `debug: true,
 * trace: true` (their logs, kept with AH_KEEP_TMP=1, show every publish, DIRECT.GET and
 * which node answered it). */
#include "sf_util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HZ 200

static int opt_iterations; /* 0: as many as fit in opt_budget_s */
static int opt_budget_s = 75;
static int opt_window_ms = 2000;
static int opt_subjects = 4;
static int opt_delay_ms = 5; /* relay delay each way: the acks spend time on the link */
static bool opt_stepdown = true;
static bool opt_trace_hub;

static unsigned seed_rand(void)
{
    const char *s = getenv("SF_SEED");
    unsigned seed = s && *s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)(time(NULL) ^ getpid());
    srand(seed);
    return seed;
}

static int rand_between(int lo, int hi)
{
    return lo + rand() % (hi - lo + 1);
}

/* Prints one line stamped with the wall-clock time (UTC), the clock of the leaf's and the
 * hub nodes' logs, so events line up with them. */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    int64_t ns = sf_wall_ns();
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    printf("  [%s.%03d] ", ts, (int)(ns % 1000000000 / 1000000));
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* What one run of the test has seen so far. */
typedef struct totals {
    int iterations, with_dup, with_loss, with_reorder;
    long long flushed, stored, lost, dup, reordered, unknown, skipped_stored, stepdowns;
} totals;

typedef struct iter_ctx {
    sf_net *n;
    sf_leaf *l;
    sf_pub *p;
    totals *t;
    int it;
} iter_ctx;

/* Publishes at HZ until the leaf reports `connected` (true) or timeout_ms passes. */
static bool publish_until_connected(iter_ctx *x, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    char state[64];
    while (ah_now_ms() < deadline) {
        if (!strcmp(sf_leafz_str(x->l, "state", state, sizeof state), "connected"))
            return true;
        sf_pub_run(x->p, HZ, 50);
    }
    return false;
}

static void stepdown(iter_ctx *x, const char *when)
{
    if (!opt_stepdown)
        return;
    char err[512] = "";
    int via = rand_between(0, x->n->nodes - 1);
    int before = sf_stream_leader(&x->n->hub, "VEH");
    int rc = sf_stream_stepdown(&x->n->hub, via, "VEH", err, sizeof err);
    x->t->stepdowns += rc == 0;
    event("it %d: stepdown of the stream leader hub%d %s: %s", x->it, before + 1, when,
          rc == 0 ? "done" : err);
}

/* Bytes on their way from the leaf to the hub that a black hole holds right now: the
 * relays' own queues (`stats` queued_up) plus what the kernel holds for them -- the
 * receive queues of the relays' accepted sockets and the send queues of the leaf's sockets
 * to them (/proc/net/tcp), since a black-holed relay stops reading. */
static long long held_towards_hub(sf_net *n)
{
    long long held = 0;
    for (int i = 0; i < n->nodes; i++) {
        char reply[512];
        if (ah_relay_cmd(&n->relay[i], "stats", reply, sizeof reply) != 0)
            continue;
        const char *js = strchr(reply, '{');
        json_t *j = js ? json_loads(js, 0, NULL) : NULL;
        held += (long long)json_integer_value(json_object_get(j, "queued_up"));
        json_decref(j);
    }
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        unsigned lport, rport;
        unsigned long txq, rxq;
        if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %lx:%lx", &lport, &rport, &txq, &rxq) != 4)
            continue;
        for (int i = 0; i < n->nodes; i++) {
            if (lport == (unsigned)n->relay[i].port)
                held += (long long)rxq; /* the relay's side: not read yet */
            if (rport == (unsigned)n->relay[i].port)
                held += (long long)txq; /* the leaf's side: not sent yet */
        }
    }
    if (f)
        fclose(f);
    return held;
}

/* Heals the link; the leader changes just before the heal or within 1 s after the leaf
 * reconnected, i.e. while it resyncs and catches up. */
static void heal_with_stepdown(iter_ctx *x, const char *fault)
{
    bool before = rand() % 3 == 0;
    int after_ms = rand_between(0, 1000);
    event("it %d: heal after the %s; %lld bytes held on their way to the hub", x->it, fault,
          held_towards_hub(x->n));
    if (before)
        stepdown(x, "just before the heal");
    sf_net_cmd(x->n, "heal");
    SF_ASSERT(publish_until_connected(x, 20000), "the leaf did not reconnect after the %s", fault);
    event("it %d: leaf connected again", x->it);
    if (!before) {
        sf_pub_run(x->p, HZ, after_ms);
        stepdown(x, "during the resync/catch-up");
    }
}

/* Prints the leaf's forwarder lines (resync results, resends, errors), at most `max`. */
static void print_forward_log(sf_leaf *l, int max)
{
    char *log = ah_read_file(l->log_path);
    if (!log)
        return;
    int shown = 0;
    for (char *line = log, *eol; *line && shown < max; line = eol + 1) {
        eol = strchr(line, '\n');
        if (!eol)
            eol = line + strlen(line) - 1;
        if (memmem(line, (size_t)(eol - line), "forward:", 8) ||
            memmem(line, (size_t)(eol - line), "uplink: connected", 17)) {
            printf("    leaf: %.*s\n", (int)(eol - line), line);
            shown++;
        }
        if (!eol[1])
            break;
    }
    free(log);
    fflush(stdout);
}

static void iteration(sf_net *n, totals *t, int it)
{
    int window = opt_window_ms;
    sf_stream_create(&n->hub, "VEH", 3, window);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n->urls, NULL, "sync: always", "ack_timeout: \"1s\"", "debug: true");
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "leaf did not connect");
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", opt_subjects, 64, (size_t)HZ * 600);
    iter_ctx x = {n, &l, &p, t, it};

    sf_pub_run(&p, HZ, rand_between(1000, 3000));
    int cut_ms = rand_between(window * 2, window * 2 + window * 2 / 5);
    event("it %d: cut for %d ms (window %d ms)", it, cut_ms, window);
    sf_net_cmd(n, "cut");
    sf_pub_run(&p, HZ, cut_ms);
    heal_with_stepdown(&x, "cut");

    sf_pub_run(&p, HZ, rand_between(0, 2000));
    int down_ms = rand_between(0, 1500);
    event("it %d: kill -9 of the leaf, restart after %d ms", it, down_ms);
    sf_leaf_kill(&l);
    ah_sleep_ms(down_ms);
    sf_leaf_start(&l);
    SF_ASSERT(sf_pub_reconnect(&p, 15000) == 0, "publisher cannot reach the leaf again");
    SF_ASSERT(publish_until_connected(&x, 20000), "the restarted leaf did not connect");
    event("it %d: restarted leaf connected", it);
    sf_pub_run(&p, HZ, rand_between(0, 1000));
    stepdown(&x, "after the restart");

    sf_pub_run(&p, HZ, rand_between(1000, 3000));
    int hole_ms = window * 8 / 5 > 5000 ? window * 8 / 5 : 5000;
    event("it %d: blackhole for %d ms", it, hole_ms);
    sf_net_cmd(n, "blackhole");
    sf_pub_run(&p, HZ, hole_ms);
    heal_with_stepdown(&x, "blackhole");
    sf_pub_run(&p, HZ, 2000);

    SF_ASSERT(sf_pub_flush(&p, 10000), "the leaf did not answer the publisher's last PINGs");
    int64_t t0 = ah_now_ms();
    bool drained = sf_wait_drained(&l, 60000);
    sf_check c;
    sf_check_stream(&n->hub, 0, "VEH", &p, &c);
    event("it %d: %s in %lld ms; flushed %llu of %llu; leaf: skipped_stored=%lld "
          "duplicates=%lld resends=%lld",
          it, drained ? "drained" : "NOT drained", (long long)(ah_now_ms() - t0),
          (unsigned long long)p.nflushed, (unsigned long long)p.next_g,
          sf_leafz_int(&l, "skipped_stored"), sf_leafz_int(&l, "duplicates"),
          sf_leafz_int(&l, "resends"));
    char label[32];
    snprintf(label, sizeof label, "iteration %d", it);
    sf_check_print(label, &c);
    t->iterations++;
    t->flushed += (long long)p.nflushed;
    t->stored += c.read;
    t->lost += c.lost;
    t->dup += c.duplicated;
    t->reordered += c.reordered;
    t->unknown += c.unknown + c.missing_headers;
    t->skipped_stored += sf_leafz_int(&l, "skipped_stored");
    t->with_dup += c.duplicated > 0;
    t->with_loss += c.lost > 0;
    t->with_reorder += c.reordered > 0;
    bool bad = c.lost || c.duplicated || c.reordered || c.unknown || c.missing_headers || !drained;
    if (bad) {
        sf_check_print_duplicates(&n->hub, 0, "VEH", &c, 10);
        if (c.lost)
            printf("  lost g %llu..%llu\n", (unsigned long long)c.first_lost,
                   (unsigned long long)c.last_lost);
        print_forward_log(&l, 200);
        printf("  the leaf's directory is kept: %s\n", l.dir);
    }
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, bad);
    sf_stream_delete(&n->hub, "VEH");
}

static void test_stress(void)
{
    unsigned seed = seed_rand();
    printf("  SF_SEED=%u window %d ms, %d subjects at %d Hz in all, relay delay %d ms each way, "
           "%s, stepdowns %s\n",
           seed, opt_window_ms, opt_subjects, HZ, opt_delay_ms,
           opt_iterations ? "fixed iterations" : "iterations within the budget",
           opt_stepdown ? "on" : "off");
    fflush(stdout);
    sf_net n;
    sf_net_start_conf(&n, 3, true, opt_trace_hub ? "debug: true\ntrace: true" : NULL);
    char delay[32];
    snprintf(delay, sizeof delay, "delay %d", opt_delay_ms);
    sf_net_cmd(&n, delay);
    totals t = {0};
    int64_t start = ah_now_ms(), longest = 0;
    for (int it = 1;; it++) {
        if (opt_iterations && it > opt_iterations)
            break;
        if (!opt_iterations && it > 1 &&
            ah_now_ms() - start + longest > (int64_t)opt_budget_s * 1000)
            break;
        int64_t t0 = ah_now_ms();
        iteration(&n, &t, it);
        if (ah_now_ms() - t0 > longest)
            longest = ah_now_ms() - t0;
    }
    printf("  replay: SF_SEED=%u test_sf_stress --iterations %d --window-ms %d --subjects %d "
           "--delay-ms %d%s\n",
           seed, t.iterations, opt_window_ms, opt_subjects, opt_delay_ms,
           opt_stepdown ? "" : " --no-stepdown");
    printf("  totals over %d iterations: flushed %lld, stored %lld, lost %lld, duplicated %lld, "
           "reordered %lld, unknown/headerless %lld; iterations with a duplicate %d, a loss %d, "
           "a reorder %d; skipped as already stored %lld; stepdowns %lld\n",
           t.iterations, t.flushed, t.stored, t.lost, t.dup, t.reordered, t.unknown, t.with_dup,
           t.with_loss, t.with_reorder, t.skipped_stored, t.stepdowns);
    fflush(stdout);
    SF_ASSERT(t.lost == 0 && t.dup == 0 && t.reordered == 0 && t.unknown == 0,
              "over %d iterations: %lld lost, %lld duplicated, %lld reordered, %lld unknown",
              t.iterations, t.lost, t.dup, t.reordered, t.unknown);
    sf_net_stop(&n);
}

static int usage(void)
{
    fprintf(stderr, "usage: test_sf_stress [--iterations N | --budget SECONDS] [--window-ms MS] "
                    "[--no-stepdown] [--trace-hub] [stress]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int nargs = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--iterations") && has_val)
            opt_iterations = atoi(argv[++i]);
        else if (!strcmp(a, "--budget") && has_val)
            opt_budget_s = atoi(argv[++i]);
        else if (!strcmp(a, "--window-ms") && has_val)
            opt_window_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--delay-ms") && has_val)
            opt_delay_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--subjects") && has_val)
            opt_subjects = atoi(argv[++i]);
        else if (!strcmp(a, "--no-stepdown"))
            opt_stepdown = false;
        else if (!strcmp(a, "--trace-hub"))
            opt_trace_hub = true;
        else if (a[0] == '-')
            return usage();
        else
            argv[nargs++] = argv[i]; /* a case name for ah_run */
    }
    if (opt_iterations < 0 || opt_budget_s < 1 || opt_window_ms < 500 || opt_subjects < 1 ||
        opt_subjects > 100 || opt_delay_ms < 0 || opt_delay_ms > 1000)
        return usage();
    /* The case's timeout: the budget (or about a minute per iteration) and the set-up. */
    int timeout_s = (opt_iterations ? opt_iterations * 60 : opt_budget_s + 60) + 60;
    const ah_case cases[] = {{"stress", test_stress, timeout_s}};
    return ah_run(nargs, argv, cases, 1);
}
