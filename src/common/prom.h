/* The Prometheus text exposition format, version 0.0.4: what aerie-leaf, aerie-gw and
 * `aerie dashboard` serve on GET /metrics.
 *
 * A family is announced once with ae_prom_family (its # HELP and # TYPE lines), then its
 * samples follow, each with optional labels. Names follow Prometheus's conventions: an
 * `aerie_` prefix, the base unit in the name (`_seconds`, `_bytes`), `_total` on counters.
 * Label values are escaped here (backslash, double quote, newline), so any vehicle id or
 * hub name can be passed as it is. The writer never fails half-way: if memory runs out it
 * remembers that, drops the rest, and ae_prom_take reports it.
 *
 *   ae_prom p;
 *   ae_prom_init(&p);
 *   ae_prom_family(&p, "aerie_connections", "gauge", "Client connections now open.");
 *   ae_prom_u64(&p, "aerie_connections", NULL, 3);
 *   size_t len;
 *   char *text = ae_prom_take(&p, &len);   // caller frees; NULL when out of memory
 */
#ifndef AERIE_COMMON_PROM_H
#define AERIE_COMMON_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Content-Type of the answer. */
#define AE_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct ae_prom {
    char *buf; /* owned */
    size_t len, cap;
    bool oom; /* an allocation failed: the text is incomplete */
} ae_prom;

/* Labels of one sample: name/value pairs ending with a NULL name, or NULL for none.
 *   const char *labels[] = {"vid", "VID-001", NULL};  */
typedef const char *const ae_prom_labels[];

void ae_prom_init(ae_prom *p);
void ae_prom_free(ae_prom *p); /* frees what ae_prom_take did not take */

/* Writes the # HELP and # TYPE lines of a family. type: "counter", "gauge", "histogram",
 * "summary" or "untyped". help is one sentence (escaped here). */
void ae_prom_family(ae_prom *p, const char *name, const char *type, const char *help);

/* One sample: `name{labels} value`. labels may be NULL. A non-finite double is written as
 * NaN, +Inf or -Inf, as the format allows. */
void ae_prom_f64(ae_prom *p, const char *name, const char *const *labels, double v);
void ae_prom_u64(ae_prom *p, const char *name, const char *const *labels, uint64_t v);
void ae_prom_i64(ae_prom *p, const char *name, const char *const *labels, int64_t v);

/* The samples of one histogram (the family is announced separately): for each of the n
 * upper bounds (ascending, in the unit of the name) the cumulative count of observations
 * <= that bound, then +Inf, _sum and _count. counts[i] is the number of observations in
 * bucket i alone (bound[i-1], bound[i]]; counts[n] those above the last bound. */
void ae_prom_histogram(ae_prom *p, const char *name, const char *const *labels,
                       const double *bounds, const uint64_t *counts, size_t n, double sum);

/* Hands over the text (NUL-terminated, *len bytes without the NUL) and resets p. Returns
 * NULL, and frees what was written, when an allocation failed on the way. */
char *ae_prom_take(ae_prom *p, size_t *len);

#endif
