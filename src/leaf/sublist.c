/* The subscription index: a token trie plus a bounded cache of match results (see
 * sublist.h for the contract).
 *
 * Shape. Each trie level holds an open-addressing table of literal children keyed by token
 * and two separate links for the `*` and `>` children, as nats-server's sublist does, so a
 * match visits only the branches that can match: at every token it takes the `>` child (a
 * hit), recurses into the `*` child, and follows the literal child. A node keeps its plain
 * subscriptions in one array and its queue subscriptions in one array per queue name.
 * Nodes left without subscriptions or children are freed at once, so subscription churn
 * (request/reply inboxes) does not leave garbage behind.
 *
 * Bookkeeping. A pointer set (subpos.h) maps each inserted ae_sub to its index in its
 * node's array.
 * That makes duplicate inserts (AE_EEXIST) and unknown removes (AE_ENOENT) one lookup, and
 * removal a swap with the last element instead of a scan: a node may hold thousands of
 * subscriptions on one subject.
 *
 * Results. A miss tokenises the subject once, walks the trie into reusable scratch arrays,
 * and then groups queue members by name across all matching nodes (a group "g" with
 * members on `foo.*` and on `foo.bar` is one group for foo.bar). When the cache is on, the
 * result is copied into one allocation (header, arrays and the subject key together),
 * usually reusing the block of the entry just evicted, so a steady miss stream does not
 * allocate. A hit is one hash of the subject, one probe sequence and one memcmp.
 *
 * Cache invalidation. An insert or remove of a literal subject can only change the result
 * for that exact subject, so it drops at most one entry. A wildcard subject drops every
 * cached entry it matches: one pass over the slot array, which skips without touching the
 * entry every key whose first token differs from a literal first pattern token. That is
 * cheap next to how rarely wildcard subscriptions change (a client's inbox wildcard lives
 * as long as its connection). Eviction when full takes the next occupied slot after a rotating
 * cursor, which behaves like random replacement and costs O(1) on average.
 *
 * Not thread-safe: the broker uses a sublist from its loop thread only. */
#include "leaf/sublist.h"
#include "leaf/subject.h"
#include "leaf/subpos.h"
#include "common/err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ------------------------------------------------------------------------- */

/* A word-at-a-time multiplicative hash: several times faster than byte-wise FNV-1a on
 * typical 20–60 byte subjects, and well spread in the low bits used by the tables. */
static inline uint64_t hash_bytes(const char *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = 0x243f6a8885a308d3ULL ^ (n * k);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * k;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = (h ^ v) * k;
        h ^= h >> 31;
    }
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h;
}

/* ---- trie types ---------------------------------------------------------------------- */

typedef struct qgrp {
    const char *name; /* a member's queue bytes; refreshed when that member leaves */
    size_t name_len;
    uint64_t hash;
    ae_sub **subs;
    uint32_t n, cap;
} qgrp;

typedef struct node node;

/* A literal child with its token hash beside it, so probing never touches other nodes. */
typedef struct lslot {
    uint64_t hash;
    node *n; /* NULL: empty */
} lslot;

typedef struct level {
    lslot *tab; /* literal children; open addressing, linear probing, no tombstones */
    uint32_t cap, count;
    node *pwc; /* `*` child */
    node *fwc; /* `>` child */
} level;

struct node {
    level next; /* children, embedded: one pointer chase fewer per token on a match */
    ae_sub **psubs;
    uint32_t np, pcap;
    qgrp *qs;
    uint32_t nq, qcap;
    uint64_t hash; /* of tok */
    size_t len;
    char tok[]; /* owned copy of the token: subscriptions come and go, the node stays */
};

typedef struct tok {
    const char *p;
    size_t len;
    uint64_t hash;
    node *n;  /* insert/remove: the node for this token */
    level *l; /* ... and the level holding it */
} tok;

/* ---- cache --------------------------------------------------------------------------- */

/* One cached result in one allocation: this header, then the subject bytes (padded to 8),
 * then nqgroups ae_qgroup, then the plain subs and all queue members (ae_sub *). */
typedef struct centry {
    ae_match m;
    size_t size; /* bytes allocated, for reuse */
    size_t len;  /* subject length */
    uint64_t hash;
} centry;

/* A slot keeps enough to reject most entries without touching them: the low half of the
 * subject hash (the table never has more than 2^25 slots, so it also gives the home slot)
 * and the hash of the subject's first token, which lets a wildcard invalidation such as
 * "_INBOX.x.*" skip every cached "fleet...." subject by looking at the slot array alone. */
typedef struct cslot {
    uint32_t h32;
    uint32_t t0; /* hash of the first token */
    centry *e;   /* NULL: empty */
} cslot;

static const char *centry_key(const centry *e)
{
    return (const char *)(e + 1);
}

/* Caps the cache table so cache_max cannot overflow the size computation. */
#define CACHE_MAX_LIMIT ((size_t)1 << 24)

struct ae_sublist {
    level root;
    ae_subpos set; /* each inserted ae_sub -> its index in its node's array */
    size_t count;
    size_t nodes; /* allocated trie nodes */

    cslot *ctab;
    size_t ccap, ccount, cmax, cursor;
    centry *spare; /* an evicted entry's block, kept for the next miss */

    /* Scratch, reused by every call. */
    tok *toks;
    size_t ntok, tcap;
    ae_sub **ps; /* plain results */
    size_t nps, pscap;
    const qgrp **qr; /* queue groups of the matching nodes, before grouping by name */
    uint32_t *qgid;  /* qr[i] belongs to output group qgid[i] */
    size_t nqr, qrcap;
    size_t qgidcap;
    ae_qgroup *og; /* output groups */
    size_t nog, ogcap;
    uint64_t *ogh; /* their name hashes */
    size_t oghcap;
    ae_sub **om; /* output group members, contiguous per group */
    size_t omcap;
    ae_match res;
    bool oom; /* an allocation failed during this match */

    ae_sublist_stats st;
};

static const ae_match empty_match;

/* ---- small growable arrays ----------------------------------------------------------- */

/* Ensures *arr has room for `need` elements of `elem` bytes; doubles. Returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Same for the uint32_t capacities inside nodes. */
static int grow32(void **arr, uint32_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    if (need > UINT32_MAX / 2)
        return -1;
    uint32_t nc = *cap ? *cap * 2 : 2;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* ---- levels and nodes ---------------------------------------------------------------- */

static bool level_empty(const level *l)
{
    return l->count == 0 && !l->pwc && !l->fwc;
}

static node *level_get(const level *l, const char *t, size_t len, uint64_t h)
{
    if (!l->count)
        return NULL;
    uint32_t mask = l->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        const lslot *e = &l->tab[i];
        if (!e->n)
            return NULL;
        if (e->hash == h && e->n->len == len && memcmp(e->n->tok, t, len) == 0)
            return e->n;
    }
}

static void level_place(lslot *tab, uint32_t cap, node *n)
{
    uint32_t mask = cap - 1, i = (uint32_t)n->hash & mask;
    while (tab[i].n)
        i = (i + 1) & mask;
    tab[i].hash = n->hash;
    tab[i].n = n;
}

static int level_rehash(level *l, uint32_t nc)
{
    lslot *t = calloc(nc, sizeof *t);
    if (!t)
        return -1;
    for (uint32_t i = 0; i < l->cap; i++)
        if (l->tab[i].n)
            level_place(t, nc, l->tab[i].n);
    free(l->tab);
    l->tab = t;
    l->cap = nc;
    return 0;
}

static int level_put(level *l, node *n)
{
    if ((l->count + 1) * 3 > l->cap * 2) { /* at most 2/3 full: short probe runs */
        if (l->cap >= (1u << 30) || level_rehash(l, l->cap ? l->cap * 2 : 4) != 0)
            return -1;
    }
    level_place(l->tab, l->cap, n);
    l->count++;
    return 0;
}

static void level_del(level *l, node *n)
{
    uint32_t mask = l->cap - 1, i = (uint32_t)n->hash & mask;
    while (l->tab[i].n != n)
        i = (i + 1) & mask;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!l->tab[j].n)
            break;
        uint32_t k = (uint32_t)l->tab[j].hash & mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        l->tab[i] = l->tab[j];
        i = j;
    }
    l->tab[i].n = NULL;
    l->count--;
    if (l->count == 0) {
        free(l->tab);
        l->tab = NULL;
        l->cap = 0;
    } else if (l->cap > 64 && l->count * 8 < l->cap) {
        /* A level that once held many inboxes shrinks back; failure just keeps it big. */
        (void)level_rehash(l, l->cap / 4);
    }
}

static node *node_new(const char *t, size_t len, uint64_t h)
{
    node *n = calloc(1, sizeof *n + len);
    if (!n)
        return NULL;
    memcpy(n->tok, t, len);
    n->len = len;
    n->hash = h;
    return n;
}

static void node_free(node *n)
{
    free(n->psubs);
    for (uint32_t i = 0; i < n->nq; i++)
        free(n->qs[i].subs);
    free(n->qs);
    free(n);
}

static void level_free_all(level *l);

static void node_free_all(node *n)
{
    level_free_all(&n->next);
    node_free(n);
}

/* Frees everything below l, but not l itself (the root is embedded). */
static void level_free_all(level *l)
{
    for (uint32_t i = 0; i < l->cap; i++)
        if (l->tab[i].n)
            node_free_all(l->tab[i].n);
    free(l->tab);
    if (l->pwc)
        node_free_all(l->pwc);
    if (l->fwc)
        node_free_all(l->fwc);
    memset(l, 0, sizeof *l);
}

static bool is_queue(const ae_sub *s)
{
    return s->queue && s->queue_len > 0;
}

static qgrp *node_qgrp(node *n, const char *q, size_t qlen, uint64_t h)
{
    for (uint32_t i = 0; i < n->nq; i++) {
        qgrp *g = &n->qs[i];
        if (g->hash == h && g->name_len == qlen && memcmp(g->name, q, qlen) == 0)
            return g;
    }
    return NULL;
}

/* ---- tokenising ---------------------------------------------------------------------- */

/* Splits s into sl->toks with the rules of ae_subject_valid. Returns 0, AE_EINVAL or
 * AE_ENOMEM. Wildcard tokens are recorded like any other; callers tell them apart. */
static int tokenize(ae_sublist *sl, const char *s, size_t n)
{
    sl->ntok = 0;
    if (!s || n == 0)
        return AE_EINVAL;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f')
                return AE_EINVAL;
            continue;
        }
        /* A token ends at [start, i). */
        size_t tl = i - start;
        if (tl == 0)
            return AE_EINVAL;
        if (tl == 1 && s[start] == '>' && i != n)
            return AE_EINVAL;
        if (sl->ntok == sl->tcap &&
            grow((void **)&sl->toks, &sl->tcap, sl->ntok + 1, sizeof *sl->toks) != 0)
            return AE_ENOMEM;
        tok *t = &sl->toks[sl->ntok++];
        t->p = s + start;
        t->len = tl;
        t->hash = hash_bytes(t->p, tl);
        t->n = NULL;
        t->l = NULL;
        start = i + 1;
    }
    return 0;
}

static bool tok_is(const tok *t, char w)
{
    return t->len == 1 && t->p[0] == w;
}

static bool has_wildcard(const ae_sublist *sl)
{
    for (size_t i = 0; i < sl->ntok; i++)
        if (tok_is(&sl->toks[i], '*') || tok_is(&sl->toks[i], '>'))
            return true;
    return false;
}

/* ---- pruning ------------------------------------------------------------------------- */

/* Walks toks[0..depth) from the deepest node up, freeing nodes that have neither
 * subscriptions nor children and levels that became empty. */
static void prune(ae_sublist *sl, size_t depth)
{
    for (size_t i = depth; i-- > 0;) {
        node *n = sl->toks[i].n;
        if (!n)
            continue;
        if (n->np || n->nq || !level_empty(&n->next))
            break;
        level *l = sl->toks[i].l;
        if (l->pwc == n)
            l->pwc = NULL;
        else if (l->fwc == n)
            l->fwc = NULL;
        else
            level_del(l, n);
        node_free(n);
        sl->nodes--;
    }
}

/* ---- cache --------------------------------------------------------------------------- */

static cslot *cache_find(const ae_sublist *sl, const char *s, size_t len, uint64_t h)
{
    size_t mask = sl->ccap - 1;
    uint32_t h32 = (uint32_t)h;
    for (size_t i = h32 & mask;; i = (i + 1) & mask) {
        cslot *c = &sl->ctab[i];
        if (!c->e)
            return NULL;
        if (c->h32 == h32 && c->e->len == len && memcmp(centry_key(c->e), s, len) == 0)
            return c;
    }
}

/* Removes the entry in slot c, keeping its block as the spare when there is none. */
static void cache_del(ae_sublist *sl, cslot *c)
{
    if (!sl->spare)
        sl->spare = c->e;
    else
        free(c->e);
    size_t mask = sl->ccap - 1, i = (size_t)(c - sl->ctab), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!sl->ctab[j].e)
            break;
        size_t k = sl->ctab[j].h32 & mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        sl->ctab[i] = sl->ctab[j];
        i = j;
    }
    sl->ctab[i].e = NULL;
    sl->ccount--;
}

static void cache_evict_one(ae_sublist *sl)
{
    size_t mask = sl->ccap - 1;
    for (size_t n = 0; n < sl->ccap; n++) {
        size_t i = (sl->cursor + n) & mask;
        if (sl->ctab[i].e) {
            sl->cursor = (i + 1) & mask;
            cache_del(sl, &sl->ctab[i]);
            return;
        }
    }
}

/* Copies result r for subject s (hash h, first-token hash t0) into a new cache entry. Returns the
 * entry's match, or NULL when no memory (the caller then returns r itself). */
static const ae_match *cache_add(ae_sublist *sl, const char *s, size_t len, uint64_t h, uint64_t t0,
                                 const ae_match *r)
{
    size_t nmem = 0;
    for (size_t i = 0; i < r->nqgroups; i++)
        nmem += r->qgroups[i].n;
    size_t kpad = (len + 7) & ~(size_t)7;
    size_t need = sizeof(centry) + kpad + r->nqgroups * sizeof(ae_qgroup) +
                  (r->npsubs + nmem) * sizeof(ae_sub *);
    if (sl->ccount >= sl->cmax)
        cache_evict_one(sl);
    centry *e;
    if (sl->spare && sl->spare->size >= need && sl->spare->size <= 2 * need + 256) {
        e = sl->spare;
    } else {
        e = realloc(sl->spare, need);
        if (!e)
            return NULL; /* the spare, if any, is still valid and still ours */
        e->size = need;
    }
    sl->spare = NULL;

    memcpy((char *)(e + 1), s, len);
    ae_qgroup *qg = (ae_qgroup *)((char *)(e + 1) + kpad);
    ae_sub **subs = (ae_sub **)(qg + r->nqgroups);
    e->m.qgroups = r->nqgroups ? qg : NULL;
    e->m.nqgroups = r->nqgroups;
    e->m.psubs = r->npsubs ? subs : NULL;
    e->m.npsubs = r->npsubs;
    if (r->npsubs)
        memcpy(subs, r->psubs, r->npsubs * sizeof *subs);
    subs += r->npsubs;
    for (size_t i = 0; i < r->nqgroups; i++) {
        qg[i] = r->qgroups[i];
        qg[i].subs = subs;
        memcpy(subs, r->qgroups[i].subs, r->qgroups[i].n * sizeof *subs);
        subs += r->qgroups[i].n;
    }
    e->len = len;
    e->hash = h;

    size_t mask = sl->ccap - 1, i = (uint32_t)h & mask;
    while (sl->ctab[i].e)
        i = (i + 1) & mask;
    sl->ctab[i].h32 = (uint32_t)h;
    sl->ctab[i].t0 = (uint32_t)t0;
    sl->ctab[i].e = e;
    sl->ccount++;
    return &e->m;
}

/* True if the pattern in sl->toks matches the (valid) subject s; no validation here. */
static bool toks_match(const ae_sublist *sl, const char *s, size_t n)
{
    size_t si = 0;
    for (size_t i = 0; i < sl->ntok; i++) {
        const tok *t = &sl->toks[i];
        if (tok_is(t, '>'))
            return si < n;
        if (si >= n)
            return false;
        size_t b = si;
        while (si < n && s[si] != '.')
            si++;
        size_t stl = si - b;
        si++;
        if (tok_is(t, '*'))
            continue;
        if (stl != t->len || memcmp(s + b, t->p, stl) != 0)
            return false;
    }
    return si >= n;
}

/* Drops cached results that the subscription pattern in sl->toks (subject s) can change. */
static void cache_invalidate(ae_sublist *sl, const char *s, size_t len)
{
    if (!sl->ccount)
        return;
    if (!has_wildcard(sl)) {
        cslot *c = cache_find(sl, s, len, hash_bytes(s, len));
        if (c)
            cache_del(sl, c);
        return;
    }
    const tok *t0 = &sl->toks[0];
    bool filter = !tok_is(t0, '*') && !tok_is(t0, '>');
    uint32_t want = (uint32_t)t0->hash;
    for (size_t i = 0; i < sl->ccap && sl->ccount;) {
        cslot *c = &sl->ctab[i];
        if (c->e && (!filter || c->t0 == want) && toks_match(sl, centry_key(c->e), c->e->len))
            cache_del(sl, c); /* an entry may have shifted into slot i: look again */
        else
            i++;
    }
}

/* ---- public: lifecycle --------------------------------------------------------------- */

ae_sublist *ae_sublist_new(size_t cache_max)
{
    ae_sublist *sl = calloc(1, sizeof *sl);
    if (!sl)
        return NULL;
    if (cache_max > CACHE_MAX_LIMIT)
        cache_max = CACHE_MAX_LIMIT;
    if (cache_max) {
        size_t cap = 8;
        while (cap < cache_max * 2)
            cap *= 2;
        sl->ctab = calloc(cap, sizeof *sl->ctab);
        if (!sl->ctab) {
            free(sl);
            return NULL;
        }
        sl->ccap = cap;
        sl->cmax = cache_max;
    }
    return sl;
}

void ae_sublist_free(ae_sublist *sl)
{
    if (!sl)
        return;
    level_free_all(&sl->root);
    ae_subpos_free(&sl->set);
    for (size_t i = 0; i < sl->ccap; i++)
        free(sl->ctab[i].e);
    free(sl->ctab);
    free(sl->spare);
    free(sl->toks);
    free(sl->ps);
    free(sl->qr);
    free(sl->qgid);
    free(sl->og);
    free(sl->ogh);
    free(sl->om);
    free(sl);
}

/* ---- public: insert/remove ----------------------------------------------------------- */

int ae_sublist_insert(ae_sublist *sl, ae_sub *sub)
{
    if (!sub)
        return AE_EINVAL;
    int rc = tokenize(sl, sub->subject, sub->subject_len);
    if (rc != 0)
        return rc;
    if (ae_subpos_find(&sl->set, sub))
        return AE_EEXIST;
    if (ae_subpos_reserve(&sl->set) != 0)
        return AE_ENOMEM;

    level *l = &sl->root;
    node *n = NULL;
    size_t depth = 0;
    for (size_t i = 0; i < sl->ntok; i++) {
        tok *t = &sl->toks[i];
        node **wild = tok_is(t, '*') ? &l->pwc : tok_is(t, '>') ? &l->fwc : NULL;
        n = wild ? *wild : level_get(l, t->p, t->len, t->hash);
        if (!n) {
            n = node_new(t->p, t->len, t->hash);
            if (!n)
                goto oom;
            if (wild) {
                *wild = n;
            } else if (level_put(l, n) != 0) {
                free(n);
                goto oom;
            }
            sl->nodes++;
        }
        t->n = n;
        t->l = l;
        depth = i + 1;
        l = &n->next;
    }

    uint32_t idx;
    if (is_queue(sub)) {
        uint64_t qh = hash_bytes(sub->queue, sub->queue_len);
        qgrp *g = node_qgrp(n, sub->queue, sub->queue_len, qh);
        if (!g) {
            if (grow32((void **)&n->qs, &n->qcap, n->nq + 1, sizeof *n->qs) != 0)
                goto oom;
            g = &n->qs[n->nq++];
            memset(g, 0, sizeof *g);
            g->name = sub->queue;
            g->name_len = sub->queue_len;
            g->hash = qh;
        }
        if (grow32((void **)&g->subs, &g->cap, g->n + 1, sizeof *g->subs) != 0) {
            if (g->n == 0)
                n->nq--; /* the group was new: drop it again */
            goto oom;
        }
        idx = g->n;
        g->subs[g->n++] = sub;
    } else {
        if (grow32((void **)&n->psubs, &n->pcap, n->np + 1, sizeof *n->psubs) != 0)
            goto oom;
        idx = n->np;
        n->psubs[n->np++] = sub;
    }
    ae_subpos_add(&sl->set, sub, idx);
    sl->count++;
    sl->st.num_inserts++;
    cache_invalidate(sl, sub->subject, sub->subject_len);
    return 0;

oom:
    prune(sl, depth);
    return AE_ENOMEM;
}

int ae_sublist_remove(ae_sublist *sl, ae_sub *sub)
{
    if (!sub)
        return AE_ENOENT;
    ae_subpos_slot *ps = ae_subpos_find(&sl->set, sub);
    if (!ps)
        return AE_ENOENT;
    if (tokenize(sl, sub->subject, sub->subject_len) != 0)
        return AE_ENOENT; /* the caller changed the subject bytes while inserted */

    level *l = &sl->root;
    node *n = NULL;
    for (size_t i = 0; i < sl->ntok; i++) {
        tok *t = &sl->toks[i];
        n = tok_is(t, '*') ? l->pwc : tok_is(t, '>') ? l->fwc : level_get(l, t->p, t->len, t->hash);
        if (!n)
            return AE_ENOENT;
        t->n = n;
        t->l = l;
        l = &n->next;
    }

    uint32_t idx = ps->idx;
    ae_sub **arr;
    uint32_t *cnt;
    qgrp *g = NULL;
    if (is_queue(sub)) {
        g = node_qgrp(n, sub->queue, sub->queue_len, hash_bytes(sub->queue, sub->queue_len));
        if (!g)
            return AE_ENOENT;
        arr = g->subs;
        cnt = &g->n;
    } else {
        arr = n->psubs;
        cnt = &n->np;
    }
    if (idx >= *cnt || arr[idx] != sub)
        return AE_ENOENT;
    ae_subpos_del(&sl->set, ps);
    ae_sub *last = arr[--*cnt];
    if (last != sub) {
        arr[idx] = last;
        ae_subpos_find(&sl->set, last)->idx = idx;
    }
    if (g) {
        if (g->n == 0) {
            free(g->subs);
            *g = n->qs[--n->nq];
        } else if (g->name == sub->queue) {
            g->name = g->subs[0]->queue; /* the name's owner is leaving */
        }
        if (n->nq == 0) {
            free(n->qs);
            n->qs = NULL;
            n->qcap = 0;
        }
    } else if (n->np == 0) {
        free(n->psubs);
        n->psubs = NULL;
        n->pcap = 0;
    }
    prune(sl, sl->ntok);
    sl->count--;
    sl->st.num_removes++;
    cache_invalidate(sl, sub->subject, sub->subject_len);
    return 0;
}

/* ---- public: matching ---------------------------------------------------------------- */

static void collect(ae_sublist *sl, const node *n)
{
    if (n->np) {
        if (grow((void **)&sl->ps, &sl->pscap, sl->nps + n->np, sizeof *sl->ps) != 0) {
            sl->oom = true;
            return;
        }
        memcpy(sl->ps + sl->nps, n->psubs, n->np * sizeof *sl->ps);
        sl->nps += n->np;
    }
    if (n->nq) {
        if (grow((void **)&sl->qr, &sl->qrcap, sl->nqr + n->nq, sizeof *sl->qr) != 0) {
            sl->oom = true;
            return;
        }
        for (uint32_t i = 0; i < n->nq; i++)
            sl->qr[sl->nqr++] = &n->qs[i];
    }
}

/* Collects the subscriptions under l that match toks[i..]; requires i < ntok. */
static void match_level(ae_sublist *sl, const level *l, size_t i)
{
    const size_t nt = sl->ntok;
    const node *n = NULL;
    for (; i < nt; i++) {
        if (l->fwc)
            collect(sl, l->fwc);
        if (l->pwc) {
            if (i + 1 == nt)
                collect(sl, l->pwc);
            else
                match_level(sl, &l->pwc->next, i + 1);
        }
        const tok *t = &sl->toks[i];
        n = level_get(l, t->p, t->len, t->hash);
        if (!n)
            return;
        l = &n->next;
    }
    collect(sl, n);
}

/* Merges the queue groups found on all matching nodes into one entry per name. */
static void group_queues(ae_sublist *sl)
{
    sl->nog = 0;
    if (!sl->nqr)
        return;
    if (grow((void **)&sl->qgid, &sl->qgidcap, sl->nqr, sizeof *sl->qgid) != 0) {
        sl->oom = true;
        return;
    }
    uint32_t *qgid = sl->qgid;
    size_t total = 0;
    for (size_t r = 0; r < sl->nqr; r++) {
        const qgrp *q = sl->qr[r];
        size_t g;
        for (g = 0; g < sl->nog; g++)
            if (sl->ogh[g] == q->hash && sl->og[g].name_len == q->name_len &&
                memcmp(sl->og[g].name, q->name, q->name_len) == 0)
                break;
        if (g == sl->nog) {
            if (grow((void **)&sl->og, &sl->ogcap, g + 1, sizeof *sl->og) != 0 ||
                grow((void **)&sl->ogh, &sl->oghcap, g + 1, sizeof *sl->ogh) != 0) {
                sl->oom = true;
                return;
            }
            sl->og[g].name = q->name;
            sl->og[g].name_len = q->name_len;
            sl->og[g].subs = NULL;
            sl->og[g].n = 0;
            sl->ogh[g] = q->hash;
            sl->nog++;
        }
        qgid[r] = (uint32_t)g;
        sl->og[g].n += q->n;
        total += q->n;
    }
    if (grow((void **)&sl->om, &sl->omcap, total, sizeof *sl->om) != 0) {
        sl->oom = true;
        return;
    }
    size_t off = 0;
    for (size_t g = 0; g < sl->nog; g++) {
        sl->og[g].subs = sl->om + off;
        off += sl->og[g].n;
        sl->og[g].n = 0;
    }
    for (size_t r = 0; r < sl->nqr; r++) {
        const qgrp *q = sl->qr[r];
        ae_qgroup *o = &sl->og[qgid[r]];
        memcpy(o->subs + o->n, q->subs, q->n * sizeof *o->subs);
        o->n += q->n;
    }
}

static void count_fanout(ae_sublist *sl, const ae_match *m)
{
    uint64_t f = m->npsubs + m->nqgroups;
    sl->st.total_fanout += f;
    if (f > sl->st.max_fanout)
        sl->st.max_fanout = f;
}

const ae_match *ae_sublist_match(ae_sublist *sl, const char *subject, size_t len)
{
    sl->st.num_matches++;
    uint64_t h = 0;
    if (sl->cmax && subject) {
        h = hash_bytes(subject, len);
        cslot *c = cache_find(sl, subject, len, h);
        if (c) {
            sl->st.cache_hits++;
            count_fanout(sl, &c->e->m);
            return &c->e->m;
        }
    }
    if (tokenize(sl, subject, len) != 0)
        return &empty_match; /* invalid subject (or no memory): nothing matches */

    sl->nps = sl->nqr = sl->nog = 0;
    sl->oom = false;
    match_level(sl, &sl->root, 0);
    group_queues(sl);
    if (sl->oom)
        return &empty_match;
    sl->res.psubs = sl->nps ? sl->ps : NULL;
    sl->res.npsubs = sl->nps;
    sl->res.qgroups = sl->nog ? sl->og : NULL;
    sl->res.nqgroups = sl->nog;
    const ae_match *r = &sl->res;
    if (sl->cmax) {
        const ae_match *c = cache_add(sl, subject, len, h, sl->toks[0].hash, r);
        if (c)
            r = c;
    }
    count_fanout(sl, r);
    return r;
}

size_t ae_sublist_count(const ae_sublist *sl)
{
    return sl->count;
}

size_t ae_sublist_node_count(const ae_sublist *sl)
{
    return sl->nodes;
}

void ae_sublist_get_stats(const ae_sublist *sl, ae_sublist_stats *out)
{
    *out = sl->st;
    out->num_subs = sl->count;
    out->num_cache = sl->ccount;
}
