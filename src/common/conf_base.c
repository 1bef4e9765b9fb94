/* The configuration parser's ground floor (conf_base.h): the tree's nodes and shared
 * file names, error messages that name the file and line, and the per-parse budget that
 * bounds nodes and bytes so that variable substitution cannot blow up. */
#include "common/conf_base.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conf_append(builder *b, ae_conf_node *n)
{
    if (b->tail)
        b->tail->next = n;
    else
        b->node->child = n;
    b->tail = n;
    while (b->tail->next) /* spliced include lists arrive as chains */
        b->tail = b->tail->next;
}

void conf_free_nodes(ae_conf_node *n)
{
    while (n) {
        ae_conf_node *next = n->next;
        conf_free_nodes(n->child); /* depth is bounded by MAX_DEPTH */
        free(n->key);
        free(n->str);
        free(n);
        n = next;
    }
}

void ae_conf_free(ae_conf_node *root)
{
    if (!root)
        return;
    conf_root *r = (conf_root *)root;
    conf_free_nodes(root->child);
    free(root->key);
    free(root->str);
    for (fname *f = r->names; f;) {
        fname *next = f->next;
        free(f);
        f = next;
    }
    free(r);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Reports "FILE:LINE: message" (with the environment variable named when parsing one) and
 * returns `code`. Only the first error of a parse is kept: callers return as soon as any
 * helper fails, so this is called once. */
int conf_report(parser *p, int code, int line, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->envvar)
        return ae_err_set(p->sh->err, code,
                          "%s:%d: in the value of environment variable \"%s\": %s", p->file,
                          p->envline, p->envvar, what);
    return ae_err_set(p->sh->err, code, "%s:%d: %s", p->file, line, what);
}

/* Shows one input byte in a message: `"x"`, or a name for the invisible ones. */
const char *conf_show_char(const parser *p, size_t pos, char *buf, size_t cap)
{
    if (pos >= p->len)
        return "the end of the file";
    unsigned char c = (unsigned char)p->src[pos];
    if (c == '\n' || c == '\r')
        return "the end of the line";
    if (c < 0x20 || c == 0x7f)
        snprintf(buf, cap, "byte 0x%02x", c);
    else
        snprintf(buf, cap, "\"%c\"", c);
    return buf;
}

/* Shortens text quoted in messages so that the message keeps its point. */
const char *conf_clip(const char *s, char *buf, size_t cap)
{
    size_t n = strlen(s);
    if (n < cap)
        return s;
    snprintf(buf, cap, "%.*s...", (int)(cap - 4), s);
    return buf;
}

/* ---- budget and allocation --------------------------------------------------------------- */

int conf_charge(parser *p, size_t bytes)
{
    if (p->sh->bytes + bytes > MAX_TOTAL_BYTES)
        return SYNTAX(p, cur_line(p),
                      "configuration too large: more than %u MiB of text and values (after "
                      "includes and variable substitution)",
                      MAX_TOTAL_BYTES >> 20);
    p->sh->bytes += bytes;
    return 0;
}

int conf_new_node(parser *p, ae_conf_type t, int line, ae_conf_node **out)
{
    if (p->sh->nodes >= MAX_NODES)
        return SYNTAX(p, line,
                      "configuration too large: more than %d values (after includes and "
                      "variable substitution)",
                      MAX_NODES);
    int rc = conf_charge(p, sizeof(ae_conf_node));
    if (rc)
        return rc;
    ae_conf_node *n = calloc(1, sizeof *n);
    if (!n)
        return conf_report(p, AE_ENOMEM, line, "out of memory");
    p->sh->nodes++;
    n->type = t;
    n->file = p->file;
    n->line = p->envvar ? p->envline : line; /* a value from the environment: its $reference */
    *out = n;
    return 0;
}

int conf_dup_mem(parser *p, const char *s, size_t n, char **out)
{
    int rc = conf_charge(p, n + 1);
    if (rc)
        return rc;
    char *d = malloc(n + 1);
    if (!d)
        return conf_report(p, AE_ENOMEM, cur_line(p), "out of memory");
    memcpy(d, s, n);
    d[n] = '\0';
    *out = d;
    return 0;
}

/* Registers a file name with the root so nodes can point at it. */
const char *conf_add_name(shared *sh, const char *name)
{
    size_t n = strlen(name);
    fname *f = malloc(sizeof *f + n + 1);
    if (!f)
        return NULL;
    memcpy(f->name, name, n + 1);
    f->next = sh->root->names;
    sh->root->names = f;
    return f->name;
}

int conf_sb_put(parser *p, sbuf *b, const char *s, size_t n)
{
    /* No string in a config file gets near this; the check keeps the size arithmetic below
     * from wrapping (and tells the compiler so, which otherwise warns at -O3). */
    if (n > SIZE_MAX / 4 || b->n > SIZE_MAX / 4)
        return conf_report(p, AE_ELIMIT, cur_line(p), "string too long");
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *d = realloc(b->d, cap);
        if (!d)
            return conf_report(p, AE_ENOMEM, cur_line(p), "out of memory");
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, s, n);
    b->n += n;
    b->d[b->n] = '\0';
    return 0;
}
