/* Tests for the subject rules (subject.c) and the subscription index (sublist.c).
 *
 * The tables come from the verified cases in the project's NATS wire notes (§1.7: tokens,
 * whole-token wildcards, `foo*` literal, `>` last, forbidden whitespace, UTF-8 byte-wise).
 * The randomised cases are the backbone: a sublist under thousands of random inserts,
 * removes and matches must return exactly what a brute-force scan of the live subs with
 * ae_subject_matches returns, and ae_subject_matches itself must agree with a small
 * independent matcher written here. Each randomised case prints its seed on failure;
 * set SUBLIST_SEED=<n> to replay one. */
#include "harness/harness.h"
#include "common/err.h"
#include "leaf/subject.h"
#include "leaf/sublist.h"

#include <stdlib.h>
#include <string.h>

#define S(x) (x), strlen(x)

/* ---- a deterministic PRNG (xorshift64*) ---------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnext(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static unsigned rbelow(rng *r, unsigned n)
{
    return (unsigned)(rnext(r) % n);
}

static uint64_t test_seed(uint64_t dflt)
{
    const char *e = getenv("SUBLIST_SEED");
    return e && *e ? strtoull(e, NULL, 0) : dflt;
}

/* ---- an independent reference: split into C strings, compare token lists ------------- */

#define REF_MAXTOK 32

/* Splits a NUL-terminated copy on '.', keeping empty tokens. Returns the token count, or
 * -1 when there are too many. */
static int ref_split(char *buf, char **toks)
{
    int n = 0;
    char *p = buf;
    for (;;) {
        if (n == REF_MAXTOK)
            return -1;
        toks[n++] = p;
        char *dot = strchr(p, '.');
        if (!dot)
            return n;
        *dot = '\0';
        p = dot + 1;
    }
}

static bool ref_valid(const char *s)
{
    char buf[512];
    char *t[REF_MAXTOK];
    if (strlen(s) >= sizeof buf || strpbrk(s, " \t\r\n\f"))
        return false;
    strcpy(buf, s);
    int n = ref_split(buf, t);
    if (n < 0)
        return false;
    for (int i = 0; i < n; i++) {
        if (t[i][0] == '\0')
            return false;
        if (strcmp(t[i], ">") == 0 && i != n - 1)
            return false;
    }
    return true;
}

static bool ref_match_toks(char **p, int np, char **s, int ns)
{
    if (np == 0)
        return ns == 0;
    if (strcmp(p[0], ">") == 0)
        return ns >= 1;
    if (ns == 0)
        return false;
    if (strcmp(p[0], "*") != 0 && strcmp(p[0], s[0]) != 0)
        return false;
    return ref_match_toks(p + 1, np - 1, s + 1, ns - 1);
}

static bool ref_matches(const char *pat, const char *subj)
{
    if (!ref_valid(pat) || !ref_valid(subj))
        return false;
    char pb[512], sb[512];
    char *pt[REF_MAXTOK], *st[REF_MAXTOK];
    strcpy(pb, pat);
    strcpy(sb, subj);
    int np = ref_split(pb, pt), ns = ref_split(sb, st);
    return ref_match_toks(pt, np, st, ns);
}

/* ---- tables -------------------------------------------------------------------------- */

static void t_valid_table(void)
{
    static const struct {
        const char *s;
        bool valid, literal;
    } cases[] = {
        {"foo", true, true},         {"foo.bar", true, true},
        {"foo.bar.baz", true, true}, {"*", true, false},
        {">", true, false},          {"foo.*", true, false},
        {"foo.>", true, false},      {"*.bar.>", true, false},
        {"foo*", true, true}, /* wildcards only as whole tokens */
        {"a.*b", true, true},        {"a.b>", true, true},
        {"*foo.>x", true, true},     {"été.x", true, true}, /* UTF-8 is just bytes */
        {"$SYS.x", true, true},      {"_INBOX.abc.*", true, false},
        {"a-b_c:d/e", true, true},   {"", false, false},
        {".", false, false},         {"a..b", false, false},
        {".a", false, false},        {"a.", false, false},
        {"a.>.b", false, false}, /* `>` must be last */
        {">.a", false, false},       {"a b", false, false},
        {"a\tb", false, false},      {"a\rb", false, false},
        {"a\nb", false, false},      {"a\fb", false, false},
        {" a", false, false},        {"a.* ", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].s;
        AH_ASSERT_MSG(ae_subject_valid(S(s)) == cases[i].valid, "valid(\"%s\") != %d", s,
                      cases[i].valid);
        AH_ASSERT_MSG(ae_subject_valid_literal(S(s)) == cases[i].literal,
                      "valid_literal(\"%s\") != %d", s, cases[i].literal);
        AH_ASSERT_MSG(ref_valid(s) == cases[i].valid, "reference disagrees on \"%s\"", s);
    }
    /* Length is honoured: no reliance on a terminating NUL. */
    AH_ASSERT(ae_subject_valid("foo.bar", 3));
    AH_ASSERT(!ae_subject_valid("foo.bar", 4)); /* "foo." */
    AH_ASSERT(!ae_subject_valid(NULL, 0));
    /* NUL bytes are ordinary bytes (nats-server only refuses whitespace). */
    AH_ASSERT(ae_subject_valid("a\0b", 3));
}

static void t_match_table(void)
{
    static const struct {
        const char *pat, *subj;
        bool m;
    } cases[] = {
        {"foo", "foo", true},
        {"foo", "bar", false},
        {"foo", "foo.bar", false},
        {"foo.bar", "foo", false},
        {"foo.*", "foo.bar", true},
        {"foo.*", "foo", false},
        {"foo.*", "foo.bar.baz", false},
        {"foo.>", "foo.bar", true},
        {"foo.>", "foo.bar.baz", true},
        {"foo.>", "foo", false},
        {">", "foo", true},
        {">", "foo.bar.baz", true},
        {"*", "foo", true},
        {"*", "foo.bar", false},
        {"*.*", "a.b", true},
        {"*.bar.>", "x.bar.y.z", true},
        {"*.bar.>", "x.baz.y", false},
        {"a.*.c", "a.b.c", true},
        {"a.*.c", "a.b.d", false},
        {"foo*", "foo*", true}, /* literal token */
        {"foo*", "foobar", false},
        {"a.*b", "a.xb", false},
        {"a.*b", "a.*b", true},
        {"été.*", "été.x", true},
        {"été.*", "ete.x", false},
        /* A published "a.*" is matched literally (non-pedantic server). */
        {"a.*", "a.*", true},
        {">", "a.*", true},
        {"a.b", "a.*", false},
        {"a.>", "a.>", true},
        /* Invalid inputs never match. */
        {"a..b", "a..b", false},
        {"a.>.b", "a.x.b", false},
        {"foo", "foo ", false},
        {"", "", false},
        {"foo.>", "foo.", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].pat, *s = cases[i].subj;
        AH_ASSERT_MSG(ae_subject_matches(S(p), S(s)) == cases[i].m, "matches(\"%s\", \"%s\") != %d",
                      p, s, cases[i].m);
        AH_ASSERT_MSG(ref_matches(p, s) == cases[i].m, "reference disagrees on (\"%s\", \"%s\")", p,
                      s);
    }
}

static void t_subset_table(void)
{
    static const struct {
        const char *inner, *outer;
        bool sub;
    } cases[] = {
        {"foo", "foo", true},       {"foo", "bar", false},     {"foo.bar", "foo.*", true},
        {"foo.bar", "foo.>", true}, {"foo.*", "foo.*", true},  {"foo.*", "foo.>", true},
        {"foo.>", "foo.>", true},   {"foo.>", "foo.*", false}, {"foo.*", "foo.bar", false},
        {"foo.>", ">", true},       {">", "foo.>", false},     {">", ">", true},
        {"*", ">", true},           {"*.>", ">", true},        {">", "*.>", false},
        {"a.*.c", "a.>", true},     {"a.*.c", "*.*.c", true},  {"a.*.c", "*.*.d", false},
        {"a.b.c", "a.*", false},    {"a", "a.>", false},       {"a.>", "a.*.>", false},
        {"a.*.>", "a.>", true},     {"foo*", "*", true},       {"*", "foo*", false},
        {"a..b", ">", false},       {"a", "a..b", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *a = cases[i].inner, *b = cases[i].outer;
        AH_ASSERT_MSG(ae_subject_subset(S(a), S(b)) == cases[i].sub, "subset(\"%s\", \"%s\") != %d",
                      a, b, cases[i].sub);
    }
}

/* Random strings over a small alphabet, valid or not, checked against the reference. */
static void t_random_subject_functions(void)
{
    static const char *pieces[] = {"a", "b", "*", ">", ".", ".", ".", "ab", "*x", " ", "z"};
    uint64_t seed = test_seed(0x5eed0001);
    rng r = {seed};
    char p[64], s[64];
    for (int iter = 0; iter < 200000; iter++) {
        p[0] = s[0] = '\0';
        int np = 1 + rbelow(&r, 7), ns = 1 + rbelow(&r, 7);
        for (int i = 0; i < np; i++)
            strcat(p, pieces[rbelow(&r, sizeof pieces / sizeof pieces[0])]);
        for (int i = 0; i < ns; i++)
            strcat(s, pieces[rbelow(&r, sizeof pieces / sizeof pieces[0])]);
        bool want_v = ref_valid(p);
        AH_ASSERT_MSG(ae_subject_valid(S(p)) == want_v, "seed %llu: valid(\"%s\") != %d",
                      (unsigned long long)seed, p, want_v);
        bool want = ref_matches(p, s);
        AH_ASSERT_MSG(ae_subject_matches(S(p), S(s)) == want,
                      "seed %llu: matches(\"%s\", \"%s\") != %d", (unsigned long long)seed, p, s,
                      want);
    }
}

/* Subset against its definition: every subject over the patterns' own tokens plus one
 * fresh token (standing for all others), up to one token longer than either pattern, that
 * inner matches must be matched by outer. */
static bool enum_subset(const char *inner, const char *outer, const char **alpha, int na, char *buf,
                        int depth, int maxdepth)
{
    if (depth > 0 && ae_subject_matches(S(inner), S(buf)) && !ae_subject_matches(S(outer), S(buf)))
        return false;
    if (depth == maxdepth)
        return true;
    size_t len = strlen(buf);
    for (int i = 0; i < na; i++) {
        if (depth > 0)
            strcat(buf, ".");
        strcat(buf, alpha[i]);
        if (!enum_subset(inner, outer, alpha, na, buf, depth + 1, maxdepth))
            return false;
        buf[len] = '\0';
    }
    return true;
}

static void t_random_subset(void)
{
    static const char *toks[] = {"a", "b", "*", ">"};
    static const char *alpha[] = {"a", "b", "z"};
    uint64_t seed = test_seed(0x5eed0002);
    rng r = {seed};
    int checked = 0;
    for (int iter = 0; iter < 600; iter++) {
        char in[32] = "", out[32] = "";
        int ni = 1 + rbelow(&r, 3), no = 1 + rbelow(&r, 3);
        for (int i = 0; i < ni; i++) {
            if (i)
                strcat(in, ".");
            strcat(in, toks[rbelow(&r, i == ni - 1 ? 4 : 3)]);
        }
        for (int i = 0; i < no; i++) {
            if (i)
                strcat(out, ".");
            strcat(out, toks[rbelow(&r, i == no - 1 ? 4 : 3)]);
        }
        char buf[128] = "";
        int maxd = (ni > no ? ni : no) + 1;
        bool want = enum_subset(in, out, alpha, 3, buf, 0, maxd);
        AH_ASSERT_MSG(ae_subject_subset(S(in), S(out)) == want,
                      "seed %llu: subset(\"%s\", \"%s\") != %d", (unsigned long long)seed, in, out,
                      want);
        checked++;
    }
    AH_ASSERT_EQ_INT(checked, 600);
}

/* ---- sublist: basics ----------------------------------------------------------------- */

static ae_sub mksub(const char *subj, const char *queue)
{
    ae_sub s = {subj, strlen(subj), queue, queue ? strlen(queue) : 0, NULL};
    return s;
}

/* True if anything matches the subject. */
static bool any_match(ae_sublist *sl, const char *subject, size_t len)
{
    const ae_match *m = ae_sublist_match(sl, subject, len);
    return m->npsubs > 0 || m->nqgroups > 0;
}

static bool has_psub(const ae_match *m, const ae_sub *s)
{
    for (size_t i = 0; i < m->npsubs; i++)
        if (m->psubs[i] == s)
            return true;
    return false;
}

static const ae_qgroup *find_group(const ae_match *m, const char *name)
{
    for (size_t i = 0; i < m->nqgroups; i++)
        if (m->qgroups[i].name_len == strlen(name) &&
            memcmp(m->qgroups[i].name, name, m->qgroups[i].name_len) == 0)
            return &m->qgroups[i];
    return NULL;
}

static bool group_has(const ae_qgroup *g, const ae_sub *s)
{
    for (size_t i = 0; g && i < g->n; i++)
        if (g->subs[i] == s)
            return true;
    return false;
}

static void t_insert_remove(void)
{
    ae_sublist *sl = ae_sublist_new(64);
    AH_ASSERT(sl);
    ae_sub a = mksub("foo.bar", NULL), b = mksub("foo.*", NULL), c = mksub("foo.>", NULL);
    ae_sub bad1 = mksub("foo..bar", NULL), bad2 = mksub("a.>.b", NULL), bad3 = mksub("", NULL);
    ae_sub bad4 = mksub("a b", NULL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &bad1), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &bad2), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &bad3), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &bad4), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, NULL), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_sublist_count(sl), 0);

    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &a), 0);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &b), 0);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &c), 0);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &a), AE_EEXIST);
    AH_ASSERT_EQ_INT(ae_sublist_count(sl), 3);

    /* A second ae_sub with the same subject is a different subscription. */
    ae_sub a2 = mksub("foo.bar", NULL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &a2), 0);
    const ae_match *m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 4);
    AH_ASSERT_EQ_INT(m->nqgroups, 0);
    m = ae_sublist_match(sl, S("foo.bar.baz"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    AH_ASSERT(has_psub(m, &c));
    m = ae_sublist_match(sl, S("foo"));
    AH_ASSERT_EQ_INT(m->npsubs, 0);

    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &a), 0);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &a), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &bad1), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, NULL), AE_ENOENT);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 3);
    AH_ASSERT(!has_psub(m, &a));
    AH_ASSERT(has_psub(m, &a2) && has_psub(m, &b) && has_psub(m, &c));

    /* Re-inserting after removal works. */
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &a), 0);
    AH_ASSERT_EQ_INT(ae_sublist_count(sl), 4);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &a), 0);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &a2), 0);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &b), 0);
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &c), 0);
    AH_ASSERT_EQ_INT(ae_sublist_count(sl), 0);
    AH_ASSERT_EQ_INT(ae_sublist_node_count(sl), 0);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs + m->nqgroups, 0);
    ae_sublist_free(sl);
    ae_sublist_free(NULL);
}

static void t_literal_wildcard_tokens(void)
{
    ae_sublist *sl = ae_sublist_new(16);
    ae_sub lit = mksub("foo*", NULL), star = mksub("*", NULL), astar = mksub("a.*", NULL);
    ae_sub ab = mksub("a.b", NULL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &lit), 0);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &star), 0);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &astar), 0);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &ab), 0);
    const ae_match *m = ae_sublist_match(sl, S("foo*"));
    AH_ASSERT_EQ_INT(m->npsubs, 2); /* foo* literally, and * */
    m = ae_sublist_match(sl, S("foox"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    AH_ASSERT(has_psub(m, &star));
    /* A wildcard publish subject is matched literally: a.* reaches a.* but not a.b. */
    m = ae_sublist_match(sl, S("a.*"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    AH_ASSERT(has_psub(m, &astar));
    /* Invalid subjects match nothing and are not cached. */
    m = ae_sublist_match(sl, S("a..b"));
    AH_ASSERT_EQ_INT(m->npsubs + m->nqgroups, 0);
    m = ae_sublist_match(sl, NULL, 0);
    AH_ASSERT_EQ_INT(m->npsubs + m->nqgroups, 0);
    ae_sublist_stats st;
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT_EQ_INT(st.num_cache, 3);
    ae_sublist_free(sl);
}

static void t_queue_grouping(void)
{
    ae_sublist *sl = ae_sublist_new(16);
    ae_sub g1 = mksub("foo.*", "g"), g2 = mksub("foo.bar", "g"), g3 = mksub("foo.>", "g");
    ae_sub h1 = mksub("foo.bar", "h"), p1 = mksub("foo.bar", NULL);
    /* A queue pointer with length 0 is a plain subscription. */
    ae_sub p2 = {"foo.bar", 7, "zzz", 0, NULL};
    char gname[] = "g"; /* a distinct pointer with the same name bytes */
    ae_sub g4 = {"*.bar", 5, gname, 1, NULL};
    ae_sub *all[] = {&g1, &g2, &g3, &h1, &p1, &p2, &g4};
    for (size_t i = 0; i < 7; i++)
        AH_ASSERT_EQ_INT(ae_sublist_insert(sl, all[i]), 0);

    for (int round = 0; round < 2; round++) { /* miss, then cache hit */
        const ae_match *m = ae_sublist_match(sl, S("foo.bar"));
        AH_ASSERT_EQ_INT(m->npsubs, 2);
        AH_ASSERT(has_psub(m, &p1) && has_psub(m, &p2));
        AH_ASSERT_EQ_INT(m->nqgroups, 2);
        const ae_qgroup *g = find_group(m, "g"), *h = find_group(m, "h");
        AH_ASSERT(g && h);
        AH_ASSERT_EQ_INT(g->n, 4);
        AH_ASSERT(group_has(g, &g1) && group_has(g, &g2) && group_has(g, &g3) && group_has(g, &g4));
        AH_ASSERT_EQ_INT(h->n, 1);
        AH_ASSERT(group_has(h, &h1));
    }
    const ae_match *m = ae_sublist_match(sl, S("foo.baz.x"));
    AH_ASSERT_EQ_INT(m->npsubs, 0);
    AH_ASSERT_EQ_INT(m->nqgroups, 1);
    AH_ASSERT_EQ_INT(m->qgroups[0].n, 1);
    AH_ASSERT(m->qgroups[0].subs[0] == &g3);

    /* Removing the member whose bytes name the group keeps the name readable. */
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &g2), 0);
    m = ae_sublist_match(sl, S("foo.bar"));
    const ae_qgroup *g = find_group(m, "g");
    AH_ASSERT(g && g->n == 3 && !group_has(g, &g2));
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &h1), 0);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->nqgroups, 1);
    AH_ASSERT(find_group(m, "h") == NULL);
    ae_sublist_stats st;
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT_EQ_INT(st.num_subs, 5);
    AH_ASSERT_EQ_INT(st.max_fanout, 4); /* 2 plain + groups g and h */
    ae_sublist_free(sl);
}

static void t_cache_invalidation(void)
{
    ae_sublist *sl = ae_sublist_new(8);
    ae_sub a = mksub("foo.bar", NULL), w = mksub("foo.*", NULL), f = mksub(">", NULL);
    ae_sub other = mksub("zzz", NULL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &a), 0);
    const ae_match *m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    ae_sublist_stats st;
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT_EQ_INT(st.cache_hits, 1);

    /* A new wildcard sub shows up in the next match of a cached subject. */
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &w), 0);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 2);
    AH_ASSERT(has_psub(m, &w));
    /* A literal sub elsewhere leaves the entry alone (and its result correct). */
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &other), 0);
    ae_sublist_get_stats(sl, &st);
    uint64_t hits = st.cache_hits;
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 2);
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT_EQ_INT(st.cache_hits, hits + 1);

    /* A cached empty result is invalidated too. */
    m = ae_sublist_match(sl, S("nothing.here"));
    AH_ASSERT_EQ_INT(m->npsubs, 0);
    AH_ASSERT(!any_match(sl, S("nothing.here")));
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &f), 0);
    AH_ASSERT(any_match(sl, S("nothing.here")));
    m = ae_sublist_match(sl, S("nothing.here"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    AH_ASSERT(has_psub(m, &f));

    /* Removes: gone from the next match. */
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &w), 0);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 2);
    AH_ASSERT(!has_psub(m, &w));
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &a), 0);
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    AH_ASSERT(has_psub(m, &f));
    AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &f), 0);
    AH_ASSERT(!any_match(sl, S("foo.bar")));
    m = ae_sublist_match(sl, S("foo.bar"));
    AH_ASSERT_EQ_INT(m->npsubs, 0);

    /* The cache stays bounded: many distinct subjects, at most 8 entries. */
    char subj[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(subj, sizeof subj, "s.%d", i);
        (void)ae_sublist_match(sl, S(subj));
    }
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT(st.num_cache <= 8);
    AH_ASSERT(st.num_cache > 0);
    ae_sublist_free(sl);
}

static void t_stats(void)
{
    ae_sublist *sl = ae_sublist_new(16);
    ae_sub a = mksub("a.b", NULL), b = mksub("a.*", NULL), c = mksub("a.b", "q");
    ae_sublist_insert(sl, &a);
    ae_sublist_insert(sl, &b);
    ae_sublist_insert(sl, &c);
    ae_sublist_remove(sl, &b);
    (void)ae_sublist_match(sl, S("a.b")); /* fanout 2: one plain + one group */
    (void)ae_sublist_match(sl, S("a.b"));
    (void)ae_sublist_match(sl, S("x"));
    ae_sublist_stats st;
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT_EQ_INT(st.num_subs, 2);
    AH_ASSERT_EQ_INT(st.num_inserts, 3);
    AH_ASSERT_EQ_INT(st.num_removes, 1);
    AH_ASSERT_EQ_INT(st.num_matches, 3);
    AH_ASSERT_EQ_INT(st.cache_hits, 1);
    AH_ASSERT_EQ_INT(st.num_cache, 2);
    AH_ASSERT_EQ_INT(st.max_fanout, 2);
    AH_ASSERT_EQ_INT(st.total_fanout, 4);
    ae_sublist_free(sl);
}

/* Inbox churn: many short-lived unique subjects must leave no nodes behind. */
static void t_churn_frees_nodes(void)
{
    ae_sublist *sl = ae_sublist_new(128);
    static ae_sub subs[2000];
    static char names[2000][48];
    ae_sub keep = mksub("_INBOX.client1.*", NULL);
    AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &keep), 0);
    size_t base = ae_sublist_node_count(sl);
    AH_ASSERT_EQ_INT(base, 3);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 2000; i++) {
            snprintf(names[i], sizeof names[i], "_INBOX.r%d.%d.reply", round, i);
            subs[i] = mksub(names[i], (i % 3) ? NULL : "workers");
            AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &subs[i]), 0);
        }
        AH_ASSERT(ae_sublist_node_count(sl) > 2000);
        for (int i = 0; i < 2000; i += 7)
            (void)ae_sublist_match(sl, S(names[i]));
        for (int i = 0; i < 2000; i++)
            AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &subs[i]), 0);
        AH_ASSERT_EQ_INT(ae_sublist_node_count(sl), base);
        AH_ASSERT_EQ_INT(ae_sublist_count(sl), 1);
    }
    const ae_match *m = ae_sublist_match(sl, S("_INBOX.client1.x"));
    AH_ASSERT_EQ_INT(m->npsubs, 1);
    ae_sublist_free(sl);
}

/* Many subscriptions on one subject: removal in any order keeps the index consistent. */
static void t_many_on_one_subject(void)
{
    ae_sublist *sl = ae_sublist_new(4);
    static ae_sub subs[3000];
    for (int i = 0; i < 3000; i++) {
        subs[i] = mksub("fleet.telemetry", (i % 2) ? "q" : NULL);
        AH_ASSERT_EQ_INT(ae_sublist_insert(sl, &subs[i]), 0);
    }
    rng r = {42};
    int order[3000];
    for (int i = 0; i < 3000; i++)
        order[i] = i;
    for (int i = 2999; i > 0; i--) {
        int j = (int)rbelow(&r, (unsigned)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < 3000; k++) {
        AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &subs[order[k]]), 0);
        if (k % 500 == 0) {
            const ae_match *m = ae_sublist_match(sl, S("fleet.telemetry"));
            size_t total = m->npsubs + (m->nqgroups ? m->qgroups[0].n : 0);
            AH_ASSERT_EQ_INT(total, 3000 - k - 1);
        }
    }
    AH_ASSERT_EQ_INT(ae_sublist_node_count(sl), 0);
    ae_sublist_free(sl);
}

/* ---- randomised comparison with brute force ------------------------------------------ */

#define POOL 160

typedef struct live {
    ae_sub sub;
    char subj[40];
    bool in;
} live;

static void rand_pattern(rng *r, char *out, bool literal)
{
    static const char *lit[] = {"a", "b", "c", "a*"};
    int n = 1 + (int)rbelow(r, 4);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, ".");
        unsigned k = rbelow(r, literal ? 4 : 7);
        if (literal && k == 3 && rbelow(r, 8) != 0)
            k = rbelow(r, 3); /* "a*" occasionally */
        if (k < 4)
            strcat(out, lit[k]);
        else if (k < 6 || i != n - 1)
            strcat(out, "*");
        else
            strcat(out, ">");
    }
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Checks m against a brute-force scan of the live pool; returns a description of the first
 * difference or NULL. */
static const char *compare(const ae_match *m, live *pool, const char *subj, size_t *expect_n)
{
    static const char *queues[] = {"q1", "q2"};
    ae_sub *want[POOL];
    size_t nw = 0, nwq[2] = {0, 0};
    for (int i = 0; i < POOL; i++) {
        if (!pool[i].in || !ae_subject_matches(S(pool[i].subj), S(subj)))
            continue;
        if (!pool[i].sub.queue)
            want[nw++] = &pool[i].sub;
        else
            nwq[strcmp(pool[i].sub.queue, "q1") == 0 ? 0 : 1]++;
    }
    *expect_n = nw + nwq[0] + nwq[1];
    if (m->npsubs != nw)
        return "plain count differs";
    ae_sub *got[POOL];
    if (nw)
        memcpy(got, m->psubs, nw * sizeof *got);
    qsort(got, nw, sizeof *got, cmp_ptr);
    qsort(want, nw, sizeof *want, cmp_ptr);
    for (size_t i = 0; i < nw; i++) {
        if (got[i] != want[i])
            return "plain subs differ";
        if (i && got[i] == got[i - 1])
            return "plain sub listed twice";
    }
    size_t ngroups = (nwq[0] > 0) + (nwq[1] > 0);
    if (m->nqgroups != ngroups)
        return "queue group count differs";
    for (int q = 0; q < 2; q++) {
        const ae_qgroup *g = find_group(m, queues[q]);
        if (!nwq[q])
            continue;
        if (!g)
            return "queue group missing";
        if (g->n != nwq[q])
            return "queue group size differs";
        ae_sub *mem[POOL];
        memcpy(mem, g->subs, g->n * sizeof *mem);
        qsort(mem, g->n, sizeof *mem, cmp_ptr);
        for (size_t k = 0; k < g->n; k++) {
            const ae_sub *s = mem[k];
            if (k && mem[k] == mem[k - 1])
                return "queue member listed twice";
            if (!s->queue || strcmp(s->queue, queues[q]) != 0 ||
                !ae_subject_matches(s->subject, s->subject_len, S(subj)))
                return "bad queue member";
            if (!((live *)s)->in)
                return "removed sub in a queue group";
        }
    }
    return NULL;
}

/* One randomised run: inserts, removes, matches and interest checks on a pool of subs with
 * frequent overlaps, every answer compared with brute force. */
static void random_run(uint64_t seed, size_t cache_max, int ops)
{
    static const char *queues[] = {"q1", "q2"};
    rng r = {seed};
    ae_sublist *sl = ae_sublist_new(cache_max);
    AH_ASSERT(sl);
    live *pool = calloc(POOL, sizeof *pool);
    AH_ASSERT(pool);
    size_t nlive = 0;
    char subj[40];
    for (int op = 0; op < ops; op++) {
        unsigned what = rbelow(&r, 10);
        live *l = &pool[rbelow(&r, POOL)];
        if (what < 3) { /* insert (or re-insert, which must be EEXIST) */
            if (l->in) {
                AH_ASSERT_MSG(ae_sublist_insert(sl, &l->sub) == AE_EEXIST,
                              "seed %llu op %d: duplicate insert not refused",
                              (unsigned long long)seed, op);
                continue;
            }
            rand_pattern(&r, l->subj, false);
            unsigned q = rbelow(&r, 4);
            l->sub.subject = l->subj;
            l->sub.subject_len = strlen(l->subj);
            l->sub.queue = q < 2 ? queues[q] : NULL;
            l->sub.queue_len = q < 2 ? 2 : 0;
            int rc = ae_sublist_insert(sl, &l->sub);
            AH_ASSERT_MSG(rc == 0, "seed %llu op %d: insert %s: %d", (unsigned long long)seed, op,
                          l->subj, rc);
            l->in = true;
            nlive++;
        } else if (what < 5) { /* remove */
            int rc = ae_sublist_remove(sl, &l->sub);
            AH_ASSERT_MSG(rc == (l->in ? 0 : AE_ENOENT), "seed %llu op %d: remove %s: %d",
                          (unsigned long long)seed, op, l->subj, rc);
            if (l->in)
                nlive--;
            l->in = false;
        } else { /* match a literal subject (sometimes with a literal "*" token) */
            rand_pattern(&r, subj, true);
            if (rbelow(&r, 20) == 0)
                strcat(subj, ".*");
            size_t expect = 0;
            if (what < 9) {
                const ae_match *m = ae_sublist_match(sl, S(subj));
                const char *diff = compare(m, pool, subj, &expect);
                AH_ASSERT_MSG(!diff, "seed %llu op %d cache %zu: match %s: %s",
                              (unsigned long long)seed, op, cache_max, subj, diff);
            } else {
                const ae_match dummy = {0};
                (void)compare(&dummy, pool, subj, &expect);
                bool got = any_match(sl, S(subj));
                AH_ASSERT_MSG(got == (expect > 0), "seed %llu op %d: any match %s: %d",
                              (unsigned long long)seed, op, subj, got);
            }
        }
        AH_ASSERT_MSG(ae_sublist_count(sl) == nlive, "seed %llu op %d: count %zu != %zu",
                      (unsigned long long)seed, op, ae_sublist_count(sl), nlive);
    }
    ae_sublist_stats st;
    ae_sublist_get_stats(sl, &st);
    AH_ASSERT(st.num_cache <= cache_max);
    AH_ASSERT(st.num_matches > 0);
    for (int i = 0; i < POOL; i++)
        if (pool[i].in)
            AH_ASSERT_EQ_INT(ae_sublist_remove(sl, &pool[i].sub), 0);
    AH_ASSERT_EQ_INT(ae_sublist_count(sl), 0);
    AH_ASSERT_EQ_INT(ae_sublist_node_count(sl), 0);
    ae_sublist_free(sl);
    free(pool);
}

static void t_random_vs_bruteforce(void)
{
    uint64_t seed = test_seed(0xae12345);
    static const size_t caches[] = {0, 1, 7, 1024};
    for (int run = 0; run < 8; run++)
        random_run(seed + (uint64_t)run, caches[run % 4], 6000);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"valid_table", t_valid_table, 10},
        {"match_table", t_match_table, 10},
        {"subset_table", t_subset_table, 10},
        {"random_subject_functions", t_random_subject_functions, 60},
        {"random_subset", t_random_subset, 60},
        {"insert_remove", t_insert_remove, 10},
        {"literal_wildcard_tokens", t_literal_wildcard_tokens, 10},
        {"queue_grouping", t_queue_grouping, 10},
        {"cache_invalidation", t_cache_invalidation, 10},
        {"stats", t_stats, 10},
        {"churn_frees_nodes", t_churn_frees_nodes, 30},
        {"many_on_one_subject", t_many_on_one_subject, 30},
        {"random_vs_bruteforce", t_random_vs_bruteforce, 120},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
