/* Fuzz target for the subject rules and the subscription index.
 *
 * Input: lines separated by '\n' (a byte no subject may contain). Lines 0–2 are strings a,
 * b, x for the subject functions; every further line is one sublist operation:
 *   "+<pattern>[ <queue>]"  insert into the next pool slot (EEXIST if that slot is in use)
 *   "-<k>"                   remove pool slot k (byte value mod the pool size)
 *   "?<subject>"             match, compared with a brute-force scan of the live pool
 *   "!<subject>"             match twice: the cached result equals the first
 * Any broken invariant calls abort() so libFuzzer keeps the input. */
#include "common/err.h"
#include "leaf/subject.h"
#include "leaf/sublist.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL 24

typedef struct slot {
    ae_sub sub;
    char *buf; /* owned copy of pattern and queue bytes */
    bool in;
} slot;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void subject_invariants(const char *a, size_t al, const char *b, size_t bl, const char *x,
                               size_t xl)
{
    bool va = ae_subject_valid(a, al), vb = ae_subject_valid(b, bl), vx = ae_subject_valid(x, xl);
    bool la = ae_subject_valid_literal(a, al), lx = ae_subject_valid_literal(x, xl);
    check(!la || va);
    check(!ae_subject_matches(a, al, x, xl) || (va && vx));
    check(!ae_subject_subset(a, al, b, bl) || (va && vb));
    check(ae_subject_matches(">", 1, x, xl) == vx);
    if (va)
        check(ae_subject_subset(a, al, a, al));
    if (vx)
        check(ae_subject_matches(x, xl, x, xl)); /* wildcard tokens in x match themselves */
    if (lx && vb)
        check(ae_subject_subset(x, xl, b, bl) == ae_subject_matches(b, bl, x, xl));
    if (la && vx)
        check(ae_subject_subset(a, al, x, xl) == ae_subject_matches(x, xl, a, al));
    /* Subset is transitive through matching: a ⊆ b and a matches x imply b matches x. */
    if (ae_subject_subset(a, al, b, bl) && ae_subject_matches(a, al, x, xl))
        check(ae_subject_matches(b, bl, x, xl));
}

static bool in_match(const ae_match *m, const ae_sub *s)
{
    for (size_t i = 0; i < m->npsubs; i++)
        if (m->psubs[i] == s)
            return true;
    for (size_t g = 0; g < m->nqgroups; g++) {
        const ae_qgroup *q = &m->qgroups[g];
        for (size_t i = 0; i < q->n; i++)
            if (q->subs[i] == s)
                return s->queue_len == q->name_len && memcmp(s->queue, q->name, q->name_len) == 0;
    }
    return false;
}

/* Every live sub that brute force says matches is in m (under its own group's name), and
 * m holds nothing else: sizes agree and group names are distinct. */
static void compare(const ae_match *m, const slot *pool, const char *s, size_t n)
{
    size_t want = 0, got = m->npsubs;
    for (int i = 0; i < POOL; i++) {
        if (!pool[i].in || !ae_subject_matches(pool[i].sub.subject, pool[i].sub.subject_len, s, n))
            continue;
        want++;
        check(in_match(m, &pool[i].sub));
    }
    for (size_t g = 0; g < m->nqgroups; g++) {
        check(m->qgroups[g].n > 0);
        got += m->qgroups[g].n;
        for (size_t h = 0; h < g; h++)
            check(m->qgroups[g].name_len != m->qgroups[h].name_len ||
                  memcmp(m->qgroups[g].name, m->qgroups[h].name, m->qgroups[g].name_len) != 0);
    }
    check(got == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *line[3] = {"", "", ""};
    size_t len[3] = {0, 0, 0};
    for (int i = 0; i < 3 && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        line[i] = p;
        len[i] = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p = nl ? nl + 1 : end;
    }
    subject_invariants(line[0], len[0], line[1], len[1], line[2], len[2]);

    ae_sublist *sl = ae_sublist_new(size % 3 == 0 ? 0 : 4);
    if (!sl)
        return 0;
    slot pool[POOL];
    memset(pool, 0, sizeof pool);
    size_t next = 0, live = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *arg = p + 1;
        size_t an = n ? n - 1 : 0;
        char op = n ? p[0] : 0;
        p = nl ? nl + 1 : end;
        if (op == '+') {
            slot *s = &pool[next++ % POOL];
            if (s->in) {
                check(ae_sublist_insert(sl, &s->sub) == AE_EEXIST);
                continue;
            }
            s->buf = malloc(an ? an : 1);
            if (!s->buf)
                break;
            memcpy(s->buf, arg, an);
            const char *sp = memchr(s->buf, ' ', an);
            s->sub.subject = s->buf;
            s->sub.subject_len = sp ? (size_t)(sp - s->buf) : an;
            s->sub.queue = sp ? sp + 1 : NULL;
            s->sub.queue_len = sp ? an - s->sub.subject_len - 1 : 0;
            int rc = ae_sublist_insert(sl, &s->sub);
            check(rc == 0 || rc == AE_EINVAL || rc == AE_ENOMEM);
            check((rc == AE_EINVAL) == !ae_subject_valid(s->sub.subject, s->sub.subject_len));
            if (rc == 0) {
                s->in = true;
                live++;
            } else {
                free(s->buf);
                s->buf = NULL;
            }
        } else if (op == '-') {
            slot *s = &pool[(an ? (unsigned char)arg[0] : 0) % POOL];
            int rc = ae_sublist_remove(sl, &s->sub);
            check(rc == (s->in ? 0 : AE_ENOENT));
            if (s->in) {
                free(s->buf);
                memset(s, 0, sizeof *s);
                live--;
            }
        } else if (op == '?') {
            compare(ae_sublist_match(sl, arg, an), pool, arg, an);
        } else if (op == '!') {
            /* A second match of the same subject (now cached) agrees with the first. */
            const ae_match *m = ae_sublist_match(sl, arg, an);
            size_t np = m->npsubs, nq = m->nqgroups;
            m = ae_sublist_match(sl, arg, an);
            check(m->npsubs == np && m->nqgroups == nq);
        }
        check(ae_sublist_count(sl) == live);
    }
    for (int i = 0; i < POOL; i++) {
        if (pool[i].in)
            check(ae_sublist_remove(sl, &pool[i].sub) == 0);
        free(pool[i].buf);
    }
    check(ae_sublist_count(sl) == 0 && ae_sublist_node_count(sl) == 0);
    ae_sublist_free(sl);
    return 0;
}
