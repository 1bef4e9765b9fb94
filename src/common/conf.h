/* A parser for nats-server's configuration syntax, producing a tree that knows where
 * every value came from, so that a typed loader can say "leaf.conf:12: max_payload: ...".
 *
 * The syntax (as nats-server's conf package reads it): `key: value`, `key = value` or
 * `key value`; maps in `{}` and arrays in `[]`, items separated by newlines, commas or
 * semicolons; `#` and `//` comments; strings double-quoted (with escapes), single-quoted
 * (raw) or bare; block strings `( ... )`; integers with size suffixes (1K = 1000,
 * 1KB/1KiB = 1024, also M/G/T); floats; booleans true/false/yes/no/on/off; `$name`
 * variables that refer to a key defined earlier in an enclosing block or to an
 * environment variable; `include "file"` relative to the including file.
 * Keys are kept as written; lookups ignore case, as nats-server does. */
#ifndef AERIE_COMMON_CONF_H
#define AERIE_COMMON_CONF_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Maps and arrays may nest this deep (counted across includes and $variable substitution). */
#define AE_CONF_MAX_DEPTH 64

typedef enum ae_conf_type {
    AE_CONF_MAP,
    AE_CONF_ARRAY,
    AE_CONF_STRING,
    AE_CONF_INT,
    AE_CONF_FLOAT,
    AE_CONF_BOOL,
} ae_conf_type;

typedef struct ae_conf_node ae_conf_node;
struct ae_conf_node {
    ae_conf_type type;
    char *key;           /* map entries: the key as written; NULL for array items and the root */
    const char *file;    /* the file this node was read from (shared, owned by the tree) */
    int line;            /* 1-based line of the key (or of the value for array items) */
    char *str;           /* STRING: the decoded text. INT/FLOAT/BOOL: the literal as written */
    int64_t i;           /* INT: the value with any size suffix applied */
    double f;            /* FLOAT */
    bool b;              /* BOOL */
    ae_conf_node *child; /* MAP/ARRAY: first entry */
    ae_conf_node *next;  /* next entry of the enclosing map or array */
};

/* Parses a file. On success returns 0 and a root MAP in *out (free with ae_conf_free).
 * On error returns AE_EINVAL (syntax; the message is "FILE:LINE: what is wrong") or AE_EIO
 * (cannot read; the message names the path and strerror). */
int ae_conf_parse_file(const char *path, ae_conf_node **out, ae_err *err);
/* Parses text held in memory; `name` is used as the file name in messages and as the base
 * for relative includes (NULL: "<string>", includes relative to the working directory). */
int ae_conf_parse_string(const char *text, size_t len, const char *name, ae_conf_node **out,
                         ae_err *err);
/* As ae_conf_parse_string, but an `include` is an error ("includes are not allowed here"):
 * for text from untrusted sources (the fuzzer, text received over the network) that must
 * not make the process read files. Environment variables are still consulted. */
int ae_conf_parse_string_noinclude(const char *text, size_t len, const char *name,
                                   ae_conf_node **out, ae_err *err);
/* Frees a tree returned by a parse function (the root only; its nodes and file names go
 * with it). Accepts NULL. */
void ae_conf_free(ae_conf_node *root);

/* The entry of `map` whose key equals `key` ignoring case (the last one if repeated), or NULL. */
const ae_conf_node *ae_conf_get(const ae_conf_node *map, const char *key);
/* "map", "array", "string", ... for messages. */
const char *ae_conf_type_name(ae_conf_type t);

#endif
