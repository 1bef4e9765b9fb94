/* The Prometheus text exposition writer; see prom.h. */
#include "common/prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ae_prom_init(ae_prom *p)
{
    memset(p, 0, sizeof *p);
}

void ae_prom_free(ae_prom *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

static bool reserve(ae_prom *p, size_t more)
{
    if (p->oom)
        return false;
    if (p->len + more + 1 <= p->cap)
        return true;
    size_t cap = p->cap ? p->cap : 4096;
    while (cap < p->len + more + 1)
        cap *= 2;
    char *nb = realloc(p->buf, cap);
    if (!nb) {
        p->oom = true;
        return false;
    }
    p->buf = nb;
    p->cap = cap;
    return true;
}

static void put(ae_prom *p, const char *s, size_t n)
{
    if (!reserve(p, n))
        return;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = 0;
}

static void puts_(ae_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

/* Copies s escaping backslash and newline, and the double quote too inside label values. */
static void put_escaped(ae_prom *p, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(p, "\\\\", 2);
        else if (*s == '\n')
            put(p, "\\n", 2);
        else if (*s == '"' && quote)
            put(p, "\\\"", 2);
        else
            put(p, s, 1);
    }
}

void ae_prom_family(ae_prom *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

/* name{k="v",...,extra_key="extra_val"} and the separating space. */
static void sample_head(ae_prom *p, const char *name, const char *const *labels,
                        const char *extra_key, const char *extra_val)
{
    puts_(p, name);
    bool any = (labels && labels[0]) || extra_key;
    if (!any) {
        puts_(p, " ");
        return;
    }
    puts_(p, "{");
    bool first = true;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (!first)
            puts_(p, ",");
        first = false;
        puts_(p, labels[i]);
        puts_(p, "=\"");
        put_escaped(p, labels[i + 1] ? labels[i + 1] : "", true);
        puts_(p, "\"");
    }
    if (extra_key) {
        if (!first)
            puts_(p, ",");
        puts_(p, extra_key);
        puts_(p, "=\"");
        put_escaped(p, extra_val, true);
        puts_(p, "\"");
    }
    puts_(p, "} ");
}

/* The shortest of %.15g and %.17g that reads back as the same double. */
static void format_f64(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, cap, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, cap, "%.17g", v);
    }
}

void ae_prom_f64(ae_prom *p, const char *name, const char *const *labels, double v)
{
    char num[40];
    format_f64(num, sizeof num, v);
    sample_head(p, name, labels, NULL, NULL);
    puts_(p, num);
    puts_(p, "\n");
}

void ae_prom_u64(ae_prom *p, const char *name, const char *const *labels, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    sample_head(p, name, labels, NULL, NULL);
    puts_(p, num);
    puts_(p, "\n");
}

void ae_prom_i64(ae_prom *p, const char *name, const char *const *labels, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    sample_head(p, name, labels, NULL, NULL);
    puts_(p, num);
    puts_(p, "\n");
}

void ae_prom_histogram(ae_prom *p, const char *name, const char *const *labels,
                       const double *bounds, const uint64_t *counts, size_t n, double sum)
{
    char series[160], le[40], num[24];
    uint64_t cum = 0;
    snprintf(series, sizeof series, "%s_bucket", name);
    for (size_t i = 0; i <= n; i++) {
        cum += counts[i];
        if (i < n)
            format_f64(le, sizeof le, bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        sample_head(p, series, labels, "le", le);
        snprintf(num, sizeof num, "%" PRIu64, cum);
        puts_(p, num);
        puts_(p, "\n");
    }
    snprintf(series, sizeof series, "%s_sum", name);
    ae_prom_f64(p, series, labels, sum);
    snprintf(series, sizeof series, "%s_count", name);
    ae_prom_u64(p, series, labels, cum);
}

char *ae_prom_take(ae_prom *p, size_t *len)
{
    if (p->oom) {
        ae_prom_free(p);
        *len = 0;
        return NULL;
    }
    if (!p->buf && !reserve(p, 0)) {
        ae_prom_free(p);
        *len = 0;
        return NULL;
    }
    char *out = p->buf;
    *len = p->len;
    memset(p, 0, sizeof *p);
    return out;
}
