/* Per-user permissions; see perms.h. Rules are short lists (a user has a handful), so they
 * are matched by a linear scan; publish verdicts are cached per connection because a
 * publisher usually repeats a few subjects. */
#include "leaf/perms.h"
#include "common/hmap.h"
#include "leaf/subject.h"

#include <stdlib.h>
#include <string.h>

/* Bounds of the per-connection caches (nats-server prunes at similar sizes). */
#define PUB_CACHE_MAX 4096
#define REPLIES_MAX   10000

typedef struct rule {
    char *subject;
    size_t subject_len;
    char *queue; /* NULL for a plain entry */
} rule;

typedef struct rule_list {
    rule *v;
    int n;
    bool set; /* false: no list (everything allowed for allow lists) */
} rule_list;

/* Cached keys are byte strings with a length: subjects may hold any byte but blanks. */
typedef struct verdict {
    char *subject;
    size_t len;
    bool allowed;
} verdict;

typedef struct reply_grant {
    char *subject;
    size_t len;
    int64_t granted; /* monotonic ns */
    int64_t used;
} reply_grant;

static char *memdup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

struct ae_perms {
    rule_list pub_allow, pub_deny, sub_allow, sub_deny;
    bool responses;
    int64_t resp_max, resp_ttl_ns;
    ae_hmap pub_cache; /* subject -> verdict */
    ae_hmap replies;   /* reply subject -> reply_grant */
    bool filter_deliveries;
};

/* Splits "subject [queue]" (blank separated) into a rule. */
static bool parse_rule(const char *entry, rule *r)
{
    const char *p = entry;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *s = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    size_t sl = (size_t)(p - s);
    while (*p == ' ' || *p == '\t')
        p++;
    const char *q = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    size_t ql = (size_t)(p - q);
    while (*p == ' ' || *p == '\t')
        p++;
    if (sl == 0 || *p)
        return false;
    r->subject = strndup(s, sl);
    r->subject_len = sl;
    r->queue = ql ? strndup(q, ql) : NULL;
    return r->subject && (ql == 0 || r->queue);
}

int ae_perm_check_entry(const char *entry, ae_err *err)
{
    if (ae_subject_valid(entry, strlen(entry)))
        return 0;
    rule r = {0};
    bool ok = parse_rule(entry, &r);
    bool valid = ok && r.queue && ae_subject_valid(r.subject, r.subject_len);
    int rc = 0;
    if (!valid)
        rc = ae_err_set(err, AE_EINVAL, "subject \"%s\" is not a valid subject",
                        ok && r.queue ? r.subject : entry);
    free(r.subject);
    free(r.queue);
    return rc;
}

static void free_rules(rule_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].subject);
        free(l->v[i].queue);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool compile(rule_list *l, char **entries, int n, bool set)
{
    l->set = set;
    if (n == 0)
        return true;
    l->v = calloc((size_t)n, sizeof *l->v);
    if (!l->v)
        return false;
    for (int i = 0; i < n; i++) {
        if (!parse_rule(entries[i], &l->v[l->n]))
            continue; /* refused at load time already; nats-server skips it too */
        l->n++;
    }
    return true;
}

static void free_strv(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void ae_perms_conf_free(ae_perms_conf *p)
{
    if (!p)
        return;
    free_strv(p->pub.allow, p->pub.nallow);
    free_strv(p->pub.deny, p->pub.ndeny);
    free_strv(p->sub.allow, p->sub.nallow);
    free_strv(p->sub.deny, p->sub.ndeny);
    free(p);
}

static char **dup_strv(char **v, int n, bool *ok)
{
    if (n == 0)
        return NULL;
    char **out = calloc((size_t)n, sizeof *out);
    if (!out) {
        *ok = false;
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        out[i] = strdup(v[i]);
        if (!out[i])
            *ok = false;
    }
    return out;
}

ae_perms_conf *ae_perms_conf_dup(const ae_perms_conf *p)
{
    ae_perms_conf *d = malloc(sizeof *d);
    if (!d)
        return NULL;
    *d = *p;
    bool ok = true;
    d->pub.allow = dup_strv(p->pub.allow, p->pub.nallow, &ok);
    d->pub.deny = dup_strv(p->pub.deny, p->pub.ndeny, &ok);
    d->sub.allow = dup_strv(p->sub.allow, p->sub.nallow, &ok);
    d->sub.deny = dup_strv(p->sub.deny, p->sub.ndeny, &ok);
    if (!ok) {
        ae_perms_conf_free(d);
        return NULL;
    }
    return d;
}

ae_perms *ae_perms_new(const ae_perms_conf *conf)
{
    ae_perms *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    bool ok = compile(&p->pub_allow, conf->pub.allow, conf->pub.nallow, conf->pub.allow_set) &&
              compile(&p->pub_deny, conf->pub.deny, conf->pub.ndeny, conf->pub.ndeny > 0) &&
              compile(&p->sub_allow, conf->sub.allow, conf->sub.nallow, conf->sub.nallow > 0) &&
              compile(&p->sub_deny, conf->sub.deny, conf->sub.ndeny, conf->sub.ndeny > 0);
    if (!ok) {
        ae_perms_free(p);
        return NULL;
    }
    p->responses = conf->responses;
    p->resp_max = conf->resp_max;
    p->resp_ttl_ns = conf->resp_ttl_ns;
    return p;
}

static void clear_cache(ae_hmap *m, bool grants)
{
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(m, &pos))) {
        if (grants) {
            reply_grant *g = e->val;
            free(g->subject);
            free(g);
        } else {
            verdict *v = e->val;
            free(v->subject);
            free(v);
        }
    }
    ae_hmap_free(m);
    memset(m, 0, sizeof *m);
}

void ae_perms_free(ae_perms *p)
{
    if (!p)
        return;
    free_rules(&p->pub_allow);
    free_rules(&p->pub_deny);
    free_rules(&p->sub_allow);
    free_rules(&p->sub_deny);
    clear_cache(&p->pub_cache, false);
    clear_cache(&p->replies, true);
    free(p);
}

/* Does a plain (queue-less) rule of l match subject? */
static bool plain_match(const rule_list *l, const char *s, size_t n)
{
    for (int i = 0; i < l->n; i++) {
        if (!l->v[i].queue && ae_subject_matches(l->v[i].subject, l->v[i].subject_len, s, n))
            return true;
    }
    return false;
}

static bool static_publish_verdict(const ae_perms *p, const char *s, size_t n)
{
    bool allowed = !p->pub_allow.set || plain_match(&p->pub_allow, s, n);
    if (allowed && p->pub_deny.set)
        allowed = !plain_match(&p->pub_deny, s, n);
    return allowed;
}

/* A reply subject granted by allow_responses, used once more. */
static bool use_reply_grant(ae_perms *p, const char *s, size_t n, int64_t now)
{
    reply_grant *g = ae_hmap_get(&p->replies, s, n);
    if (!g)
        return false;
    g->used++;
    bool expired = p->resp_ttl_ns > 0 && now - g->granted > p->resp_ttl_ns;
    if ((p->resp_max > 0 && g->used > p->resp_max) || expired) {
        ae_hmap_del(&p->replies, g->subject, g->len);
        free(g->subject);
        free(g);
        return false;
    }
    return true;
}

bool ae_perms_can_publish(ae_perms *p, const char *s, size_t n, int64_t now)
{
    if (!p->pub_allow.set && !p->pub_deny.set)
        return true;
    verdict *v = ae_hmap_get(&p->pub_cache, s, n);
    if (v && (v->allowed || !p->responses))
        return v->allowed;
    bool allowed = v ? v->allowed : static_publish_verdict(p, s, n);
    if (!allowed && p->responses)
        return use_reply_grant(p, s, n, now); /* never cached: grants come and go */
    if (!v) {
        if (p->pub_cache.count >= PUB_CACHE_MAX)
            clear_cache(&p->pub_cache, false);
        v = malloc(sizeof *v);
        if (v && (v->subject = memdup(s, n)) != NULL) {
            v->len = n;
            v->allowed = allowed;
            if (ae_hmap_put(&p->pub_cache, v->subject, n, v) != 0) {
                free(v->subject);
                free(v);
            }
        } else {
            free(v);
        }
    }
    return allowed;
}

/* nats-server's queueMatches: the queue is named by one of the queue rules matched, literally
 * or through a wildcard queue name. */
static bool queue_rule_match(const rule_list *l, const char *s, size_t sl, const char *queue,
                             size_t ql, bool *any)
{
    *any = false;
    for (int i = 0; i < l->n; i++) {
        const rule *r = &l->v[i];
        if (!r->queue || !ae_subject_matches(r->subject, r->subject_len, s, sl))
            continue;
        *any = true;
        size_t rl = strlen(r->queue);
        if ((rl == ql && memcmp(r->queue, queue, ql) == 0) ||
            ((strchr(r->queue, '*') || strchr(r->queue, '>')) &&
             ae_subject_subset(queue, ql, r->queue, rl)))
            return true;
    }
    return false;
}

bool ae_perms_can_subscribe(ae_perms *p, const char *subject, size_t sl, const char *queue,
                            size_t ql)
{
    bool allowed = true, any = false;
    if (p->sub_allow.set) {
        allowed = plain_match(&p->sub_allow, subject, sl);
        if (ql) {
            bool ok = queue_rule_match(&p->sub_allow, subject, sl, queue, ql, &any);
            if (any)
                allowed = ok;
        }
    }
    if (allowed && p->sub_deny.set) {
        allowed = !plain_match(&p->sub_deny, subject, sl);
        if (ql) {
            bool hit = queue_rule_match(&p->sub_deny, subject, sl, queue, ql, &any);
            if (any)
                allowed = !hit;
        }
    }
    return allowed;
}

void ae_perms_note_subscription(ae_perms *p, const char *subject, size_t sl)
{
    if (p->filter_deliveries || !p->sub_deny.set)
        return;
    if (!memchr(subject, '*', sl) && !memchr(subject, '>', sl))
        return;
    for (int i = 0; i < p->sub_deny.n; i++) {
        const rule *r = &p->sub_deny.v[i];
        if (!r->queue && ae_subject_subset(r->subject, r->subject_len, subject, sl)) {
            p->filter_deliveries = true;
            return;
        }
    }
}

bool ae_perms_delivery_denied(ae_perms *p, const char *subject, size_t len)
{
    return p->filter_deliveries && plain_match(&p->sub_deny, subject, len);
}

void ae_perms_note_request(ae_perms *p, const char *reply, size_t len, int64_t now)
{
    if (!p->responses || len == 0)
        return;
    reply_grant *g = ae_hmap_get(&p->replies, reply, len);
    if (g) {
        g->granted = now;
        g->used = 0;
        return;
    }
    if (p->replies.count >= REPLIES_MAX) {
        /* Drop the grants that ran out; if none did, the oldest requests lose theirs. */
        size_t pos = 0;
        ae_hmap_ent *e;
        while ((e = ae_hmap_next(&p->replies, &pos))) {
            reply_grant *old = e->val;
            bool spent = p->resp_ttl_ns > 0 && now - old->granted > p->resp_ttl_ns;
            if (spent || p->replies.count >= REPLIES_MAX) {
                ae_hmap_del(&p->replies, old->subject, old->len);
                free(old->subject);
                free(old);
            }
        }
    }
    g = calloc(1, sizeof *g);
    if (!g || !(g->subject = memdup(reply, len))) {
        free(g);
        return;
    }
    g->len = len;
    g->granted = now;
    if (ae_hmap_put(&p->replies, g->subject, len, g) != 0) {
        free(g->subject);
        free(g);
    }
}
