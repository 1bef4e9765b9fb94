/* Typed config readers; see opts_read.h. */
#include "leaf/opts_read.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ae_opt_free_strv(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int ae_opt_bad(ae_err *err, const ae_conf_node *n, const char *what)
{
    return ae_err_set(err, AE_EINVAL, "%s:%d: %s: %s", n->file ? n->file : "<config>", n->line,
                      n->key ? n->key : "value", what);
}

int ae_opt_string(const ae_conf_node *n, char **out, ae_err *err)
{
    if (n->type != AE_CONF_STRING && n->type != AE_CONF_INT && n->type != AE_CONF_FLOAT)
        return ae_opt_bad(err, n, "expected a string");
    char *s = strdup(n->str ? n->str : "");
    if (!s)
        return AE_ENOMEM;
    free(*out);
    *out = s;
    return 0;
}

int ae_opt_bool(const ae_conf_node *n, bool *out, ae_err *err)
{
    if (n->type != AE_CONF_BOOL)
        return ae_opt_bad(err, n, "expected true or false");
    *out = n->b;
    return 0;
}

int ae_opt_size(const ae_conf_node *n, int64_t *out, ae_err *err)
{
    if (n->type == AE_CONF_INT) {
        if (n->i < 0)
            return ae_opt_bad(err, n, "must not be negative");
        *out = n->i;
        return 0;
    }
    if (n->type == AE_CONF_STRING && ae_parse_size(n->str, out) == 0)
        return 0;
    return ae_opt_bad(err, n, "expected a size such as 1048576, 64KB or \"1GB\"");
}

int ae_opt_int(const ae_conf_node *n, int64_t lo, int64_t hi, int64_t *out, ae_err *err)
{
    if (n->type != AE_CONF_INT || n->i < lo || n->i > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected a whole number from %lld to %lld", (long long)lo,
                 (long long)hi);
        return ae_opt_bad(err, n, msg);
    }
    *out = n->i;
    return 0;
}

/* A duration: a number is seconds (as nats-server reads ping_interval), a string like "2s". */
int ae_opt_duration(const ae_conf_node *n, int64_t *out, ae_err *err)
{
    /* The config syntax reads 10m as ten million; a duration key means ten minutes. */
    if (n->type == AE_CONF_INT && n->str &&
        strpbrk(n->str, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
        if (ae_parse_duration(n->str, out) == 0)
            return 0;
        return ae_opt_bad(err, n, "expected a duration such as \"2s\", \"500ms\" or \"10m\"");
    }
    if (n->type == AE_CONF_INT && n->i >= 0) {
        *out = n->i * AE_NS_PER_SEC;
        return 0;
    }
    if (n->type == AE_CONF_FLOAT && n->f >= 0) {
        *out = (int64_t)(n->f * 1e9);
        return 0;
    }
    if (n->type == AE_CONF_STRING && ae_parse_duration(n->str, out) == 0)
        return 0;
    return ae_opt_bad(err, n,
                      "expected a duration such as \"2s\", \"500ms\" or a number of seconds");
}

/* "host:port", ":port", "host" or a bare port number. */
int ae_opt_hostport(const ae_conf_node *n, char **host, int *port, ae_err *err)
{
    if (n->type == AE_CONF_INT) {
        if (n->i < 0 || n->i > 65535)
            return ae_opt_bad(err, n, "port must be 0..65535");
        *port = (int)n->i;
        return 0;
    }
    if (n->type != AE_CONF_STRING)
        return ae_opt_bad(err, n, "expected \"host:port\" or a port number");
    const char *s = n->str;
    const char *colon = strrchr(s, ':');
    if (!colon) {
        free(*host);
        *host = strdup(s);
        return 0;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return ae_opt_bad(err, n, "bad port in \"host:port\"");
    if (colon > s) {
        free(*host);
        *host = strndup(s, (size_t)(colon - s));
    }
    *port = (int)p;
    return 0;
}

int ae_opt_strv(const ae_conf_node *n, char ***out, int *count, ae_err *err)
{
    ae_opt_free_strv(*out, *count);
    *out = NULL;
    *count = 0;
    if (n->type == AE_CONF_STRING) {
        *out = calloc(1, sizeof(char *));
        (*out)[0] = strdup(n->str);
        *count = 1;
        return 0;
    }
    if (n->type != AE_CONF_ARRAY)
        return ae_opt_bad(err, n, "expected a list of strings");
    int k = 0;
    for (const ae_conf_node *c = n->child; c; c = c->next)
        k++;
    char **v = calloc((size_t)k + 1, sizeof *v);
    if (!v)
        return AE_ENOMEM;
    k = 0;
    for (const ae_conf_node *c = n->child; c; c = c->next) {
        if (c->type != AE_CONF_STRING) {
            ae_opt_free_strv(v, k);
            return ae_opt_bad(err, c, "list items must be strings");
        }
        v[k++] = strdup(c->str);
    }
    *out = v;
    *count = k;
    return 0;
}

bool ae_opt_key_is(const ae_conf_node *n, const char *a)
{
    return strcasecmp(n->key, a) == 0;
}

int ae_opt_unknown(ae_err *err, const ae_conf_node *n, const char *where, const char *known)
{
    return ae_err_set(err, AE_EINVAL, "%s:%d: unknown key \"%s\" in %s (aerie-leaf supports: %s)",
                      n->file ? n->file : "<config>", n->line, n->key, where, known);
}
