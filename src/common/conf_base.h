/* The configuration parser's ground floor (not part of conf.h's API): the parser's state,
 * the tree's nodes and file names, error messages, the per-parse budget, and the input
 * reader (peek, adv, skip_*: small and hot, so inline here).
 *
 * The parser is split by layer, and each file calls only into those below it:
 *   conf.c         the grammar: values, arrays, maps, $variables, includes, files, the API;
 *   conf_scalar.c  scalar literals: quoted and block strings with their escapes, integers
 *                  with size suffixes, floats, booleans (conf_scalar.h);
 *   conf_base.c    this header. */
#ifndef AERIE_COMMON_CONF_BASE_H
#define AERIE_COMMON_CONF_BASE_H

#include "common/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_FILE_BYTES   (16u << 20) /* one file or string */
#define MAX_TOTAL_BYTES  (64u << 20) /* everything read plus every string held, per parse */
#define MAX_NODES        1000000     /* per parse, after variable substitution */
#define MAX_DEPTH        AE_CONF_MAX_DEPTH
#define MAX_INCLUDE_NEST 16  /* include inside include inside ... */
#define MAX_INCLUDES     256 /* include statements per parse */
#define MAX_ENV_NEST     8   /* $A whose environment value says $B whose value says ... */

/* File names are shared by all nodes read from the file, so they live in a list owned by
 * the root; ae_conf_free releases them after the nodes. */
typedef struct fname {
    struct fname *next;
    char name[];
} fname;

typedef struct conf_root {
    ae_conf_node node; /* must be first: the caller sees &root->node */
    fname *names;
} conf_root;

/* State shared by the top-level parser and the parsers of its includes and environment
 * values. */
typedef struct shared {
    conf_root *root;
    ae_err *err;
    bool allow_include;
    size_t nodes, bytes;
    int includes;
    char *incstack[MAX_INCLUDE_NEST + 1]; /* real paths of the files being read */
    int ninc;
    const char *envstack[MAX_ENV_NEST]; /* environment variables being expanded */
    int nenv;
} shared;

typedef struct parser {
    shared *sh;
    const char *src;
    size_t len, pos;
    int line;
    size_t bol;                          /* offset of the current line's first byte, for columns */
    const char *file;                    /* name for messages and node->file (owned by the root) */
    const char *dir;                     /* base for relative includes; NULL: working directory */
    const char *envvar;                  /* set while parsing an environment variable's value */
    int envline;                         /* the line of the $reference, used for messages then */
    int depth;                           /* nesting of the container being filled (root map: 0) */
    ae_conf_node *scopes[MAX_DEPTH + 1]; /* open maps, outermost first, for $variables */
    int nscopes;
} parser;

/* A container being filled: appending needs the tail. */
typedef struct builder {
    ae_conf_node *node;
    ae_conf_node *tail;
} builder;

/* A growable byte buffer for decoded strings and keys. */
typedef struct sbuf {
    char *d;
    size_t n, cap;
} sbuf;

/* ---- conf_base.c -------------------------------------------------------------------------- */

/* Appends n (and the chain it heads, for spliced includes) to the container b. */
void conf_append(builder *b, ae_conf_node *n);
/* Frees n, its siblings after it and their children. Accepts NULL. */
void conf_free_nodes(ae_conf_node *n);
/* Reports "FILE:LINE: message" (with the environment variable named when parsing one) and
 * returns `code`. Only the first error of a parse is kept. */
int conf_report(parser *p, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define SYNTAX(p, line, ...) conf_report((p), AE_EINVAL, (line), __VA_ARGS__)
/* One input byte for a message: `"x"`, or a name for the invisible ones (in buf or static). */
const char *conf_show_char(const parser *p, size_t pos, char *buf, size_t cap);
/* s, or its start with "..." in buf when it is longer than cap - 1. */
const char *conf_clip(const char *s, char *buf, size_t cap);
/* Charges bytes to the per-parse budget: 0, or an error when it is spent. */
int conf_charge(parser *p, size_t bytes);
/* A zeroed node of type t at line (charged to the budget), or an error. */
int conf_new_node(parser *p, ae_conf_type t, int line, ae_conf_node **out);
/* A NUL-terminated copy of n bytes of s (charged to the budget), or an error. */
int conf_dup_mem(parser *p, const char *s, size_t n, char **out);
/* Registers a file name with the root so that nodes can point at it; NULL when out of memory. */
const char *conf_add_name(shared *sh, const char *name);
/* Appends n bytes of s to b, keeping it NUL-terminated: 0 or an error. */
int conf_sb_put(parser *p, sbuf *b, const char *s, size_t n);

/* ---- reading the input (inline) --------------------------------------------------------- */

static inline int cur_line(const parser *p)
{
    return p->envvar ? p->envline : p->line;
}

static inline int col_of(const parser *p, size_t pos)
{
    return (int)(pos - p->bol) + 1;
}

static inline int peek(const parser *p)
{
    return p->pos < p->len ? (unsigned char)p->src[p->pos] : -1;
}

static inline int peek_at(const parser *p, size_t off)
{
    return p->pos + off < p->len ? (unsigned char)p->src[p->pos + off] : -1;
}

static inline void adv(parser *p)
{
    if (p->pos >= p->len)
        return;
    if (p->src[p->pos++] == '\n') {
        p->line++;
        p->bol = p->pos;
    }
}

static inline bool is_ws(int c)
{
    return c == ' ' || c == '\t';
}

static inline bool is_nl(int c)
{
    return c == '\n' || c == '\r';
}

static inline bool at_comment(const parser *p)
{
    return peek(p) == '#' || (peek(p) == '/' && peek_at(p, 1) == '/');
}

static inline void skip_ws(parser *p)
{
    while (is_ws(peek(p)))
        adv(p);
}

static inline void skip_comment(parser *p)
{
    while (p->pos < p->len && !is_nl(peek(p)))
        adv(p);
}

/* Skips blanks, line ends and comments: what may separate entries or array elements. */
static inline void skip_all(parser *p)
{
    for (;;) {
        int c = peek(p);
        if (is_ws(c) || is_nl(c))
            adv(p);
        else if (at_comment(p))
            skip_comment(p);
        else
            return;
    }
}

#endif
