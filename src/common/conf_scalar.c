/* Scalar literals of the configuration syntax (conf_scalar.h): double-quoted strings with
 * their escapes, single-quoted and block strings, and the typing of bare values (integers
 * with size suffixes, floats, booleans), as nats-server reads them (conf.c says where we
 * differ). */
#include "common/conf_scalar.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one escape; p->pos is at the backslash. nats-server knows \t \n \r \" \\ \xHH;
 * we add \uHHHH (encoded as UTF-8) because operators expect it from JSON. */
int conf_escape(parser *p, sbuf *b)
{
    size_t at = p->pos;
    int line = p->line;
    adv(p);
    int c = peek(p);
    char out[4];
    size_t n = 1;
    switch (c) {
    case 't':
        out[0] = '\t';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case '"':
        out[0] = '"';
        break;
    case '\\':
        out[0] = '\\';
        break;
    case 'x': {
        int h = hexval(peek_at(p, 1)), l = hexval(peek_at(p, 2));
        if (h < 0 || l < 0)
            return SYNTAX(p, line, "\\x at column %d needs two hexadecimal digits", col_of(p, at));
        if (h == 0 && l == 0)
            return SYNTAX(p, line, "\\x00 at column %d: NUL characters are not allowed",
                          col_of(p, at));
        out[0] = (char)(h * 16 + l);
        adv(p);
        adv(p);
        break;
    }
    case 'u': {
        unsigned cp = 0;
        for (int i = 1; i <= 4; i++) {
            int h = hexval(peek_at(p, (size_t)i));
            if (h < 0)
                return SYNTAX(p, line, "\\u at column %d needs four hexadecimal digits",
                              col_of(p, at));
            cp = cp * 16 + (unsigned)h;
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
            return SYNTAX(p, line,
                          "\\u%04X at column %d is not a character that can be written this way",
                          cp, col_of(p, at));
        if (cp < 0x80) {
            out[0] = (char)cp;
        } else if (cp < 0x800) {
            out[0] = (char)(0xc0 | (cp >> 6));
            out[1] = (char)(0x80 | (cp & 0x3f));
            n = 2;
        } else {
            out[0] = (char)(0xe0 | (cp >> 12));
            out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[2] = (char)(0x80 | (cp & 0x3f));
            n = 3;
        }
        for (int i = 0; i < 4; i++)
            adv(p);
        break;
    }
    default: {
        char sb[16];
        return SYNTAX(p, line,
                      "invalid escape \"\\\" followed by %s at column %d (allowed: \\t \\n \\r "
                      "\\\" \\\\ \\xHH \\uHHHH; write \\\\ for a backslash)",
                      conf_show_char(p, p->pos, sb, sizeof sb), col_of(p, at));
    }
    }
    adv(p);
    return conf_sb_put(p, b, out, n);
}

/* A quoted string; p->pos is at the opening quote. Double quotes decode escapes, single
 * quotes keep the text as written. Either must end on its line: nats-server lets quoted
 * strings span lines, but then a forgotten quote swallows the rest of the file and the
 * error surfaces far away; `( ... )` blocks are the way to write multi-line text. */
int conf_quoted(parser *p, sbuf *b, const char *what)
{
    int q = peek(p), line = p->line, col = col_of(p, p->pos);
    adv(p);
    for (;;) {
        int c = peek(p);
        if (c < 0 || is_nl(c))
            return SYNTAX(p, line,
                          "unterminated %s starting at column %d (a quoted string ends on its "
                          "line; use a ( ) block for multi-line text)",
                          what, col);
        if (c == q) {
            adv(p);
            return conf_sb_put(p, b, "", 0); /* makes b->d non-NULL for "" */
        }
        if (c == '\\' && q == '"') {
            int rc = conf_escape(p, b);
            if (rc)
                return rc;
            continue;
        }
        size_t start = p->pos;
        while (p->pos < p->len && peek(p) != q && !is_nl(peek(p)) && !(peek(p) == '\\' && q == '"'))
            adv(p);
        int rc = conf_sb_put(p, b, p->src + start, p->pos - start);
        if (rc)
            return rc;
    }
}

/* A block string: `(`, then everything up to a line holding only `)` at its start. As in
 * nats-server the text keeps the line end after `(` and the one before `)`. */
int conf_block(parser *p, sbuf *b)
{
    int line = p->line;
    adv(p);
    size_t start = p->pos;
    for (;;) {
        if (p->pos >= p->len)
            return SYNTAX(p, line,
                          "block string opened with \"(\" is never closed: put \")\" alone at "
                          "the start of a line");
        if (peek(p) == ')' && p->pos > start && p->src[p->pos - 1] == '\n') {
            int after = peek_at(p, 1);
            if (after < 0 || is_nl(after)) {
                int rc = conf_sb_put(p, b, p->src + start, p->pos - start);
                adv(p);
                return rc;
            }
        }
        adv(p);
    }
}

bool conf_bare_end(int c)
{
    return c < 0 || is_ws(c) || is_nl(c) || c == ',' || c == ';' || c == ']' || c == '}' ||
           c == '\'';
}

/* Interprets an unquoted integer with an optional size suffix, as nats-server does:
 * k/m/g/t/p/e are powers of 1000, kb/ki/kib (and so on) powers of 1024, any case.
 * Returns 1 if `s` is such an integer (value in *v), 0 if it is not (it is then a string),
 * or a negative error for one that overflows. */
int conf_as_integer(parser *p, int line, const char *s, int64_t *v)
{
    const char *q = s;
    bool neg = *q == '-';
    if (neg)
        q++;
    if (!isdigit((unsigned char)*q))
        return 0;
    uint64_t mag = 0;
    bool range = false;
    for (; isdigit((unsigned char)*q); q++) {
        if (mag > (UINT64_MAX - 9) / 10)
            range = true;
        else
            mag = mag * 10 + (uint64_t)(*q - '0');
    }
    uint64_t mult = 1;
    if (*q) {
        static const char *const units = "kmgtpe";
        const char *u = strchr(units, tolower((unsigned char)*q));
        if (!u)
            return 0;
        int power = (int)(u - units) + 1;
        const char *rest = q + 1;
        uint64_t base = 1000;
        if (!strcasecmp(rest, "b") || !strcasecmp(rest, "i") || !strcasecmp(rest, "ib"))
            base = 1024;
        else if (*rest)
            return 0;
        for (int i = 0; i < power; i++)
            mult *= base;
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t total;
    if (range || __builtin_mul_overflow(mag, mult, &total) || total > limit) {
        char cb[48];
        return SYNTAX(p, line, "integer \"%s\" is out of range (at most %lld)",
                      conf_clip(s, cb, sizeof cb), (long long)INT64_MAX);
    }
    *v = neg ? (int64_t)(0 - total) : (int64_t)total;
    return 1;
}

bool conf_as_float(const char *s)
{
    const char *q = s + (*s == '-');
    if (!isdigit((unsigned char)*q))
        return false;
    while (isdigit((unsigned char)*q))
        q++;
    if (*q++ != '.' || !isdigit((unsigned char)*q))
        return false;
    while (isdigit((unsigned char)*q))
        q++;
    return *q == '\0';
}

int conf_as_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, yes[i]))
            return 1;
        if (!strcasecmp(s, no[i]))
            return 0;
    }
    return -1;
}
