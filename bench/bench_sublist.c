/* Benchmark for the subscription index: match rate with 10, 1k and 100k subscriptions on
 * cache hits, on misses with the cache off (the pure trie walk) and on misses that churn a
 * full cache (insert + evict each time), then insert/remove rates for literal inbox subs
 * and wildcard subs against a warm cache.
 *
 * The subscription mix imitates a fleet broker: per-drone literal telemetry subjects, a
 * per-drone `>` command wildcard on one in ten, one inbox wildcard per client, and a few
 * fleet-wide wildcards. Each figure is the median of 5 repetitions.
 * Usage: bench_sublist [reps-scale], e.g. 0.1 for a quick smoke run. */
#include "leaf/sublist.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, REPS, sizeof *v, cmp_d);
    return v[REPS / 2];
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *kinds[] = {"gps", "att", "bat", "mode"};

typedef struct popn {
    size_t n;
    ae_sub *subs;
    char (*names)[48];
} popn;

static void build(popn *p, size_t n)
{
    p->n = n;
    p->subs = calloc(n + 3, sizeof *p->subs);
    p->names = calloc(n + 3, sizeof *p->names);
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 0)
            snprintf(p->names[i], 48, "_INBOX.c%zu.*", i);
        else if (i % 10 == 1)
            snprintf(p->names[i], 48, "fleet.d%zu.>", i);
        else
            snprintf(p->names[i], 48, "fleet.d%zu.telemetry.%s", i, kinds[i % 4]);
    }
    snprintf(p->names[n], 48, "fleet.*.telemetry.gps");
    snprintf(p->names[n + 1], 48, "fleet.*.telemetry.>");
    snprintf(p->names[n + 2], 48, "fleet.*.event");
    for (size_t i = 0; i < n + 3; i++) {
        p->subs[i].subject = p->names[i];
        p->subs[i].subject_len = strlen(p->names[i]);
        p->subs[i].queue = (i % 7 == 3) ? "workers" : NULL;
        p->subs[i].queue_len = (i % 7 == 3) ? 7 : 0;
    }
}

static ae_sublist *load(const popn *p, size_t cache)
{
    ae_sublist *sl = ae_sublist_new(cache);
    for (size_t i = 0; i < p->n + 3; i++)
        if (ae_sublist_insert(sl, &p->subs[i]) != 0)
            abort();
    return sl;
}

/* Literal telemetry subjects of random drones in [0, n). */
static char (*subjects(size_t count, size_t n))[48]
{
    char(*s)[48] = calloc(count, sizeof *s);
    for (size_t i = 0; i < count; i++) {
        size_t d = (size_t)(rnd() % n);
        snprintf(s[i], 48, "fleet.d%zu.telemetry.%s", d, kinds[rnd() % 4]);
    }
    return s;
}

static volatile size_t sink;

/* ns per match over `iters` matches cycling through `ns` subjects. */
static double time_match(ae_sublist *sl, char (*subj)[48], size_t *lens, size_t ns, size_t iters)
{
    double t0 = now_s();
    size_t acc = 0;
    for (size_t i = 0, k = 0; i < iters; i++) {
        const ae_match *m = ae_sublist_match(sl, subj[k], lens[k]);
        acc += m->npsubs + m->nqgroups;
        if (++k == ns)
            k = 0;
    }
    sink += acc;
    return (now_s() - t0) * 1e9 / (double)iters;
}

static void bench_matches(size_t n, double scale)
{
    popn p;
    build(&p, n);
    size_t iters = (size_t)(2000000 * scale) + 1000;
    double hit[REPS], miss[REPS], churn[REPS];

    /* Hits: 256 hot subjects in a 1024-entry cache. */
    char(*hot)[48] = subjects(256, n);
    size_t hl[256];
    for (int i = 0; i < 256; i++)
        hl[i] = strlen(hot[i]);
    /* Misses: far more distinct subjects than cache entries. */
    size_t nm = 100000;
    char(*cold)[48] = subjects(nm, n);
    size_t *cl = malloc(nm * sizeof *cl);
    for (size_t i = 0; i < nm; i++)
        cl[i] = strlen(cold[i]);

    ae_sublist *cached = load(&p, 1024), *uncached = load(&p, 0);
    time_match(cached, hot, hl, 256, 256); /* warm */
    for (int r = 0; r < REPS; r++) {
        hit[r] = time_match(cached, hot, hl, 256, iters);
        miss[r] = time_match(uncached, cold, cl, nm, iters);
        churn[r] = time_match(cached, cold, cl, nm, iters);
        time_match(cached, hot, hl, 256, 256); /* rewarm */
    }
    ae_sublist_stats st;
    ae_sublist_get_stats(cached, &st);
    double h = median(hit), m = median(miss), c = median(churn);
    printf("match  subs=%-7zu hit %7.1f ns (%6.2f M/s)  miss/no-cache %7.1f ns (%6.2f M/s)  "
           "miss+cache-churn %7.1f ns (%6.2f M/s)  avg fanout %.2f\n",
           n + 3, h, 1e3 / h, m, 1e3 / m, c, 1e3 / c,
           st.num_matches ? (double)st.total_fanout / (double)st.num_matches : 0.0);
    ae_sublist_free(cached);
    ae_sublist_free(uncached);
    free(hot);
    free(cold);
    free(cl);
    free(p.subs);
    free(p.names);
}

/* Insert then remove `k` subs (literal inbox replies or inbox wildcards) on a loaded
 * sublist whose cache is full; returns ns per operation (insert or remove). */
static double time_churn(ae_sublist *sl, popn *p, bool wildcard, size_t k)
{
    static ae_sub subs[20000];
    static char names[20000][48];
    if (k > 20000)
        k = 20000;
    char(*warm)[48] = subjects(1024, p->n);
    for (size_t i = 0; i < 1024; i++)
        (void)ae_sublist_match(sl, warm[i], strlen(warm[i]));
    for (size_t i = 0; i < k; i++) {
        snprintf(names[i], 48, wildcard ? "_INBOX.r%zu.*" : "_INBOX.r%zu.reply", i);
        subs[i].subject = names[i];
        subs[i].subject_len = strlen(names[i]);
    }
    double t0 = now_s();
    for (size_t i = 0; i < k; i++)
        if (ae_sublist_insert(sl, &subs[i]) != 0)
            abort();
    for (size_t i = 0; i < k; i++)
        if (ae_sublist_remove(sl, &subs[i]) != 0)
            abort();
    double ns = (now_s() - t0) * 1e9 / (double)(2 * k);
    free(warm);
    return ns;
}

static void bench_insert_remove(size_t n, double scale)
{
    popn p;
    build(&p, n);
    size_t k = (size_t)(20000 * scale) + 100;
    double lit[REPS], wild[REPS], bulk[REPS];
    for (int r = 0; r < REPS; r++) {
        ae_sublist *sl = ae_sublist_new(1024);
        double t0 = now_s();
        for (size_t i = 0; i < p.n + 3; i++)
            if (ae_sublist_insert(sl, &p.subs[i]) != 0)
                abort();
        for (size_t i = 0; i < p.n + 3; i++)
            ae_sublist_remove(sl, &p.subs[i]);
        bulk[r] = (now_s() - t0) * 1e9 / (double)(2 * (p.n + 3));
        ae_sublist_free(sl);
        sl = load(&p, 1024);
        lit[r] = time_churn(sl, &p, false, k);
        wild[r] = time_churn(sl, &p, true, k);
        ae_sublist_free(sl);
    }
    double b = median(bulk), l = median(lit), w = median(wild);
    printf("insert/remove subs=%-7zu bulk %7.1f ns/op (%6.2f M/s)  inbox literal (warm cache) "
           "%7.1f ns/op (%6.2f M/s)  inbox wildcard (warm cache) %7.1f ns/op (%6.2f M/s)\n",
           n + 3, b, 1e3 / b, l, 1e3 / l, w, 1e3 / w);
    free(p.subs);
    free(p.names);
}

int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    if (scale <= 0)
        scale = 1.0;
    printf("bench_sublist: medians of %d runs (cache 1024 entries where on)\n", REPS);
    size_t sizes[] = {10, 1000, 100000};
    for (int i = 0; i < 3; i++)
        bench_matches(sizes[i], scale);
    for (int i = 0; i < 3; i++)
        bench_insert_remove(sizes[i], scale);
    return 0;
}
