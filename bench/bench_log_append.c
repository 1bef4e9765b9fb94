/* Benchmark of the durable uplink log (src/store): append rate per sync policy and cursor
 * read rate, medians of several runs, plus an optional large-backlog run that reports the
 * process's peak RSS after recovering and reading the whole backlog (the leaf's RSS must
 * not grow with the backlog).
 *
 *   bench_log_append [--records N] [--runs R] [--payload B] [--dir D] [--backlog-mib M]
 *
 * Each run appends N records (subject "fleet.v0001.tel", B-byte payload, 128 by default)
 * to a fresh store as fast as the loop can, then waits until all are durable; the rate is
 * records over that whole time, so for sync=always it includes every fsync (group commit
 * lets appends proceed while one runs). Then a cursor reads everything back. Results go to
 * stdout with the machine's details; the store directory lives under $TMPDIR or --dir. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "harness/harness.h"
#include "store/store.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            v = atol(line + kl + 1);
            break;
        }
    fclose(f);
    return v;
}

static int open_store(const char *dir, ae_sync_policy pol, ae_store **st)
{
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.sync = pol;
    o.sync_interval_ns = 10 * AE_NS_PER_MS;
    o.segment_bytes = 64u << 20;
    ae_err e = {0};
    int rc = ae_store_open(dir, &o, st, &e);
    if (rc)
        fprintf(stderr, "open %s: %s\n", dir, e.msg);
    return rc;
}

/* Appends n records; returns seconds until all durable, or -1. */
static double append_run(ae_store *st, long n, const ae_store_msg *m)
{
    int64_t t0 = ae_mono_ns();
    for (long i = 0; i < n; i++) {
        ae_err e = {0};
        if (ae_store_append(st, m, NULL, &e) != 0) {
            fprintf(stderr, "append: %s\n", e.msg);
            return -1;
        }
    }
    if (ae_store_flush(st, -1, NULL) != 0)
        return -1;
    return (double)(ae_mono_ns() - t0) / 1e9;
}

/* Reads everything; returns seconds, or -1. */
static double read_run(ae_store *st, long expect)
{
    ae_store_cursor *c;
    if (ae_store_cursor_new(st, &c, NULL) != 0)
        return -1;
    int64_t t0 = ae_mono_ns();
    ae_store_rec r;
    long got = 0;
    while (ae_store_cursor_next(c, &r, NULL) == 0)
        got++;
    double s = (double)(ae_mono_ns() - t0) / 1e9;
    ae_store_cursor_free(c);
    if (got != expect) {
        fprintf(stderr, "read %ld records, expected %ld\n", got, expect);
        return -1;
    }
    return s;
}

int main(int argc, char **argv)
{
    long records = 300000, backlog_mib = 0;
    int runs = 5;
    size_t payload = 128;
    const char *base = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--records"))
            records = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--payload"))
            payload = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            base = argv[i + 1];
        else if (!strcmp(argv[i], "--backlog-mib"))
            backlog_mib = atol(argv[i + 1]);
    }
    if (runs < 1 || runs > 50 || records < 1) {
        fprintf(stderr, "bad --runs or --records\n");
        return 2;
    }
    ae_log_set_level(AE_LOG_WARN);
    if (base)
        setenv("TMPDIR", base, 1);
    char *dir = ah_mkdtemp("bench-log");
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    struct utsname u;
    uname(&u);
    printf("bench_log_append: %s %s, %ld CPUs, dir %s\n", u.sysname, u.release,
           sysconf(_SC_NPROCESSORS_ONLN), dir);
    printf("records/run %ld, payload %zu B (+ 15 B subject, 36 B record header), runs %d, "
           "medians\n",
           records, payload, runs);

    uint8_t *pay = calloc(1, payload ? payload : 1);
    for (size_t i = 0; i < payload; i++)
        pay[i] = (uint8_t)i;
    ae_store_msg m = {
        .subject = "fleet.v0001.tel", .subject_len = 15, .payload = pay, .payload_len = payload};
    double rec_bytes = 36.0 + 15 + (double)payload;

    static const struct {
        ae_sync_policy pol;
        const char *name;
    } pols[] = {
        {AE_SYNC_NEVER, "never"}, {AE_SYNC_INTERVAL, "interval 10ms"}, {AE_SYNC_ALWAYS, "always"}};
    double *ap = calloc((size_t)runs, sizeof *ap), *rd = calloc((size_t)runs, sizeof *rd);
    for (size_t p = 0; p < 3; p++) {
        for (int r = 0; r < runs; r++) {
            ah_rmrf(dir);
            ae_store *st;
            if (open_store(dir, pols[p].pol, &st) != 0)
                return 1;
            double s = append_run(st, records, &m);
            double t = s > 0 ? read_run(st, records) : -1;
            ae_store_close(st, NULL);
            if (s <= 0 || t <= 0)
                return 1;
            ap[r] = (double)records / s;
            rd[r] = (double)records / t;
        }
        double a = median(ap, runs), rr = median(rd, runs);
        printf("sync=%-14s append %10.0f msg/s %8.1f MB/s   read %10.0f msg/s %8.1f MB/s\n",
               pols[p].name, a, a * rec_bytes / 1e6, rr, rr * rec_bytes / 1e6);
        fflush(stdout);
    }

    if (backlog_mib > 0) {
        /* Build a backlog of the given size, reopen (full recovery scan), read it all. */
        ah_rmrf(dir);
        ae_store *st;
        if (open_store(dir, AE_SYNC_NEVER, &st) != 0)
            return 1;
        long n = (long)((double)backlog_mib * 1048576.0 / rec_bytes);
        double s = append_run(st, n, &m);
        ae_store_close(st, NULL);
        long rss_before = status_kib("VmRSS:");
        int64_t t0 = ae_mono_ns();
        if (open_store(dir, AE_SYNC_NEVER, &st) != 0)
            return 1;
        double open_s = (double)(ae_mono_ns() - t0) / 1e9;
        double t = read_run(st, n);
        ae_store_stats ss;
        ae_store_stats_get(st, &ss);
        printf("backlog %ld MiB: %ld records, %" PRIu64 " segments; append %.1f s, reopen %.2f "
               "s, read %.2f s; RSS %ld KiB before reopen, %ld KiB after reading all (peak "
               "%ld KiB)\n",
               backlog_mib, n, ss.segments, s, open_s, t, rss_before, status_kib("VmRSS:"),
               status_kib("VmHWM:"));
        ae_store_close(st, NULL);
    }
    ah_rmrf(dir);
    free(dir);
    free(pay);
    free(ap);
    free(rd);
    return 0;
}
