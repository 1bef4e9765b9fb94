/* Typed readers for aerie-leaf's config tree (common/conf.h): each checks one value's type
 * and range and, on error, returns AE_EINVAL with a message naming file, line and key. Shared
 * by the option loaders (opts.c, opts_auth.c). */
#ifndef AERIE_LEAF_OPTS_READ_H
#define AERIE_LEAF_OPTS_READ_H

#include "common/conf.h"
#include "common/err.h"

#include <stdbool.h>
#include <stdint.h>

/* "FILE:LINE: key: what" as AE_EINVAL. */
int ae_opt_bad(ae_err *err, const ae_conf_node *n, const char *what);
/* An unknown key inside `where`, listing the keys that are known. */
int ae_opt_unknown(ae_err *err, const ae_conf_node *n, const char *where, const char *known);
bool ae_opt_key_is(const ae_conf_node *n, const char *key); /* ignoring case */

/* Replaces *out with a copy of the value (strings; numbers as written). */
int ae_opt_string(const ae_conf_node *n, char **out, ae_err *err);
int ae_opt_bool(const ae_conf_node *n, bool *out, ae_err *err);
/* A byte size: 1048576, 64KB, "1GB". */
int ae_opt_size(const ae_conf_node *n, int64_t *out, ae_err *err);
/* A whole number in [lo, hi]. */
int ae_opt_int(const ae_conf_node *n, int64_t lo, int64_t hi, int64_t *out, ae_err *err);
/* A duration: a number of seconds, or "2s", "500ms", 10m. */
int ae_opt_duration(const ae_conf_node *n, int64_t *out, ae_err *err);
/* "host:port", ":port", "host" or a bare port. */
int ae_opt_hostport(const ae_conf_node *n, char **host, int *port, ae_err *err);
/* A string or a list of strings; replaces *out (freeing the old list). */
int ae_opt_strv(const ae_conf_node *n, char ***out, int *count, ae_err *err);
void ae_opt_free_strv(char **v, int n);

#endif
