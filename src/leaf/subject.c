/* Subject rules: validity, wildcard matching and pattern subsets, byte-wise as nats-server
 * does (see subject.h).
 *
 * Every function here walks the bytes once and allocates nothing, so they are safe on any
 * input, including ones that are not NUL-terminated. A subject given to ae_subject_matches
 * may itself contain `*` or `>` tokens (a non-pedantic client may publish to "a.*"); such
 * tokens are compared literally, exactly as the sublist does when it matches them. */
#include "leaf/subject.h"

#include <string.h>

/* Bytes nats-server refuses inside a subject. */
static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/* Shared validity walk; `literal` additionally refuses wildcard tokens. */
static bool check(const char *s, size_t n, bool literal)
{
    if (!s || n == 0)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (is_space((unsigned char)s[i]))
                return false;
            continue;
        }
        /* A token ends at [start, i). */
        size_t tl = i - start;
        if (tl == 0)
            return false;
        if (tl == 1 && (s[start] == '*' || s[start] == '>')) {
            if (literal)
                return false;
            if (s[start] == '>' && i != n)
                return false; /* `>` must be the last token */
        }
        start = i + 1;
    }
    return true;
}

bool ae_subject_valid(const char *s, size_t n)
{
    return check(s, n, false);
}

bool ae_subject_valid_literal(const char *s, size_t n)
{
    return check(s, n, true);
}

/* The token starting at `*pos` (which must be < n): returns its length and moves `*pos` just
 * past the following dot. Inputs are already validated, so tokens are non-empty. */
static size_t next_token(const char *s, size_t n, size_t *pos)
{
    size_t b = *pos, e = b;
    while (e < n && s[e] != '.')
        e++;
    *pos = e + 1;
    return e - b;
}

static bool is_wild(const char *t, size_t tl, char w)
{
    return tl == 1 && t[0] == w;
}

bool ae_subject_matches(const char *pattern, size_t plen, const char *subj, size_t slen)
{
    if (!ae_subject_valid(pattern, plen) || !ae_subject_valid(subj, slen))
        return false;
    size_t pi = 0, si = 0;
    while (pi < plen) {
        const char *pt = pattern + pi;
        size_t ptl = next_token(pattern, plen, &pi);
        if (is_wild(pt, ptl, '>'))
            return si < slen; /* one or more subject tokens remain */
        if (si >= slen)
            return false;
        const char *st = subj + si;
        size_t stl = next_token(subj, slen, &si);
        if (is_wild(pt, ptl, '*'))
            continue;
        if (ptl != stl || memcmp(pt, st, ptl) != 0)
            return false;
    }
    return si >= slen;
}

bool ae_subject_subset(const char *inner, size_t ilen, const char *outer, size_t olen)
{
    if (!ae_subject_valid(inner, ilen) || !ae_subject_valid(outer, olen))
        return false;
    size_t ii = 0, oi = 0;
    while (oi < olen) {
        const char *ot = outer + oi;
        size_t otl = next_token(outer, olen, &oi);
        if (is_wild(ot, otl, '>'))
            return ii < ilen; /* covers whatever inner still has, wildcards included */
        if (ii >= ilen)
            return false;
        const char *it = inner + ii;
        size_t itl = next_token(inner, ilen, &ii);
        if (is_wild(it, itl, '>'))
            return false; /* inner spans several tokens where outer takes exactly one */
        if (is_wild(ot, otl, '*'))
            continue; /* one token, literal or `*`, is covered */
        if (is_wild(it, itl, '*'))
            return false; /* inner takes any token where outer insists on one */
        if (itl != otl || memcmp(it, ot, itl) != 0)
            return false;
    }
    return ii >= ilen;
}
