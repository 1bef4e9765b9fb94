/* /connz and /subsz bodies produced a slice at a time; see monitor_lists.h. */
#include "leaf/monitor_lists.h"
#include "common/timeutil.h"
#include "leaf/client.h"
#include "leaf/registry.h"
#include "leaf/subject.h"
#include "leaf/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Work per slice: at most SLICE_ITEMS items, SLICE_BYTES of output, or SLICE_NS of time
 * (visiting a subscription may cost a cache and TLB miss: a million of them scattered over
 * the heap take about a second), far below the 20 ms a request/reply may be held up. */
#define SLICE_ITEMS 4096
#define SLICE_BYTES (64 * 1024)
#define SLICE_NS    (1000 * 1000)
/* Bytes handed out per loop pass: libmicrohttpd asks in pieces of a few KiB, so a pass may
 * take several pieces but no more than this. */
#define PASS_BYTES (128 * 1024)

enum stage { HEAD, CONNS, SUBS, CLOSED, TAIL, DONE };

struct ae_mon_list {
    ae_server *s;
    bool subsz;
    enum stage stage;
    char *out; /* staged output: out[off..len) not yet handed over */
    size_t len, off, cap;
    bool oom;
    uint64_t pass;      /* loop pass of the last read (+1, so 0 means none yet) */
    size_t pass_bytes;  /* handed out in that pass */
    int64_t pass_start; /* monotonic ns when that pass began working on this answer */
    int64_t deadline;   /* end of the current slice's time */
    uint64_t *cids;     /* connections to visit, ascending */
    size_t ncids, next;
    int64_t now;
    /* /connz */
    ae_connz_args ca;
    long total, listed;
    uint64_t closed_from, closed_to;
    /* the subscription cursor in connection `cur` */
    bool in_conn;
    uint64_t cur;
    size_t pos;
    const void *ents;
    size_t ents_cap;
    long items; /* emitted in the current list */
    /* /subsz */
    ae_subsz_args sa;
    char *test;
    long matched, emitted;
};

/* ---- output -------------------------------------------------------------------------------- */

static void put(ae_mon_list *l, const char *p, size_t n)
{
    if (l->oom)
        return;
    if (l->cap - l->len < n) {
        size_t ncap = l->cap ? l->cap : 4096;
        while (ncap - l->len < n)
            ncap *= 2;
        char *no = realloc(l->out, ncap);
        if (!no) {
            l->oom = true;
            return;
        }
        l->out = no;
        l->cap = ncap;
    }
    memcpy(l->out + l->len, p, n);
    l->len += n;
}

static void puts_(ae_mon_list *l, const char *s)
{
    put(l, s, strlen(s));
}

static void putf(ae_mon_list *l, const char *fmt, long long v)
{
    char b[64];
    int n = snprintf(b, sizeof b, fmt, v);
    put(l, b, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD (subjects are bytes to NATS). */
static void put_json_str(ae_mon_list *l, const char *s, size_t n)
{
    put(l, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char ch = p[i];
        size_t k = ch < 0x80 ? 1 : utf8_len(p + i, n - i);
        bool plain = k > 1 || (k == 1 && ch >= 0x20 && ch != '"' && ch != '\\');
        if (plain) {
            i += k;
            run += k;
            continue;
        }
        put(l, (const char *)p + i - run, run);
        run = 0;
        char esc[8];
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof esc, "\\%c", ch);
        else if (k == 0)
            snprintf(esc, sizeof esc, "\\ufffd");
        else
            snprintf(esc, sizeof esc, "\\u%04x", ch);
        puts_(l, esc);
        i++;
    }
    put(l, (const char *)p + i - run, run);
    put(l, "\"", 1);
}

/* A jansson object's text; with open_end, without its closing brace (fields follow). */
static void put_json(ae_mon_list *l, json_t *j, bool open_end)
{
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!t) {
        l->oom = true;
        return;
    }
    size_t n = strlen(t);
    put(l, t, open_end && n ? n - 1 : n);
    free(t);
}

json_t *ae_mon_rfc3339(int64_t ns)
{
    char buf[48];
    return json_string(ae_format_rfc3339(ns, buf, sizeof buf));
}

json_t *ae_mon_godur(int64_t ns)
{
    char buf[48];
    return json_string(ae_format_go_duration(ns, buf, sizeof buf));
}

/* ---- the objects ------------------------------------------------------------------------ */

static json_t *conn_json(const ae_client *c, int64_t now)
{
    json_t *j = json_object();
    json_object_set_new(j, "cid", json_integer((json_int_t)c->cid));
    json_object_set_new(j, "kind", json_string("Client"));
    json_object_set_new(j, "type", json_string("nats"));
    json_object_set_new(j, "ip", json_string(c->ip));
    json_object_set_new(j, "port", json_integer(c->port));
    json_object_set_new(j, "start", ae_mon_rfc3339(c->start_ns));
    json_object_set_new(j, "last_activity",
                        ae_mon_rfc3339(c->start_ns + (c->last_in - c->start_mono)));
    json_object_set_new(j, "rtt", ae_mon_godur(c->rtt_ns));
    json_object_set_new(j, "uptime", ae_mon_godur(now - c->start_ns));
    json_object_set_new(j, "idle", ae_mon_godur(ae_mono_ns() - c->last_in));
    json_object_set_new(j, "pending_bytes", json_integer((json_int_t)c->out.pending));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)c->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)c->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)c->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)c->out_bytes));
    json_object_set_new(j, "subscriptions", json_integer((json_int_t)c->nsubs));
    /* stalls: as a consumer, producers it stalled (nats-server 2.11); stalled: as a producer,
     * times it was stalled (aerie-leaf). */
    if (c->stalls)
        json_object_set_new(j, "stalls", json_integer((json_int_t)c->stalls));
    if (c->stalled)
        json_object_set_new(j, "stalled", json_integer((json_int_t)c->stalled));
    if (c->user)
        json_object_set_new(j, "authorized_user", json_string(c->user));
    if (c->tls_state == AE_CTLS_READY) {
        char d[128];
        const char *sp = strchr(ae_tls_describe(c->tls, d, sizeof d), ' ');
        if (sp) {
            json_object_set_new(j, "tls_version", json_stringn(d, (size_t)(sp - d)));
            json_object_set_new(j, "tls_cipher_suite", json_string(sp + 1));
        }
    }
    if (c->name)
        json_object_set_new(j, "name", json_string(c->name));
    if (c->lang)
        json_object_set_new(j, "lang", json_string(c->lang));
    if (c->version)
        json_object_set_new(j, "version", json_string(c->version));
    return j;
}

static json_t *closed_json(const ae_closed_info *ci)
{
    json_t *j = json_object();
    json_object_set_new(j, "cid", json_integer((json_int_t)ci->cid));
    json_object_set_new(j, "kind", json_string("Client"));
    json_object_set_new(j, "type", json_string("nats"));
    json_object_set_new(j, "ip", json_string(ci->ip));
    json_object_set_new(j, "port", json_integer(ci->port));
    json_object_set_new(j, "start", ae_mon_rfc3339(ci->start_ns));
    json_object_set_new(j, "stop", ae_mon_rfc3339(ci->stop_ns));
    json_object_set_new(j, "uptime", ae_mon_godur(ci->stop_ns - ci->start_ns));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)ci->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)ci->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)ci->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)ci->out_bytes));
    json_object_set_new(j, "subscriptions", json_integer(ci->subs));
    if (ci->name[0])
        json_object_set_new(j, "name", json_string(ci->name));
    if (ci->lang[0])
        json_object_set_new(j, "lang", json_string(ci->lang));
    if (ci->version[0])
        json_object_set_new(j, "version", json_string(ci->version));
    if (ci->user[0])
        json_object_set_new(j, "authorized_user", json_string(ci->user));
    json_object_set_new(j, "reason", json_string(ci->reason));
    return j;
}

/* nats-server's subscription detail object. */
static void put_sub_detail(ae_mon_list *l, const ae_ssub *sub, uint64_t cid, bool account)
{
    puts_(l, account ? "{\"account\":\"$G\",\"subject\":" : "{\"subject\":");
    put_json_str(l, sub->subject, sub->sub.subject_len);
    if (sub->queue) {
        puts_(l, ",\"qgroup\":");
        put_json_str(l, sub->queue, sub->sub.queue_len);
    }
    puts_(l, ",\"sid\":");
    put_json_str(l, sub->sid, sub->sid_len);
    putf(l, ",\"msgs\":%lld", (long long)sub->delivered);
    if (sub->max)
        putf(l, ",\"max\":%lld", (long long)sub->max);
    putf(l, ",\"cid\":%lld}", (long long)cid);
}

/* Counts one item of a slice's budget; every 128 items the clock is checked too. */
static void spend(ae_mon_list *l, int *budget)
{
    if (--*budget % 128 == 0 && ae_mono_ns() > l->deadline)
        *budget = 0;
}

/* ---- walking connections and their subscriptions --------------------------------------- */

/* Ids of the open connections, ascending (the registry lists them newest first). */
static bool collect_cids(ae_mon_list *l)
{
    size_t n = 0;
    for (ae_client *c = l->s->reg.head; c; c = c->next)
        n += !c->closing;
    l->cids = malloc((n ? n : 1) * sizeof *l->cids);
    if (!l->cids)
        return false;
    size_t i = n;
    for (ae_client *c = l->s->reg.head; c; c = c->next) {
        if (!c->closing)
            l->cids[--i] = c->cid;
    }
    l->ncids = n;
    return true;
}

/* Starts listing the subscriptions of connection c. */
static void enter_conn(ae_mon_list *l, const ae_client *c)
{
    l->in_conn = true;
    l->cur = c->cid;
    l->pos = 0;
    l->ents = c->subs.ents;
    l->ents_cap = c->subs.cap;
    l->items = 0;
}

/* The next subscription of the current connection, or NULL at its end. *gone says why a
 * list ended early: the connection closed, or its table was rebuilt (positions moved). */
static const ae_ssub *next_sub(ae_mon_list *l, const char **gone)
{
    *gone = NULL;
    ae_client *c = ae_registry_find(&l->s->reg, l->cur);
    if (!c || c->closing) {
        *gone = "connection closed while listed";
        return NULL;
    }
    if (c->subs.ents != l->ents || c->subs.cap != l->ents_cap) {
        *gone = "subscriptions changed while listed; list incomplete";
        return NULL;
    }
    ae_hmap_ent *e = ae_hmap_next(&c->subs, &l->pos);
    return e ? e->val : NULL;
}

/* ---- /connz ------------------------------------------------------------------------------ */

static void connz_head(ae_mon_list *l)
{
    ae_server *s = l->s;
    if (!collect_cids(l)) {
        l->oom = true;
        return;
    }
    long nopen = l->ca.want_open ? (long)l->ncids : 0;
    uint64_t cfirst = ae_registry_closed_first(&s->reg);
    long nclosed = l->ca.want_closed ? (long)(s->reg.nclosed - cfirst) : 0;
    l->total = nopen + nclosed;
    /* The page: open connections first (oldest first), then the closed ones. */
    long from = l->ca.offset, to = from + l->ca.limit;
    long ofrom = from < nopen ? from : nopen, oto = to < nopen ? to : nopen;
    memmove(l->cids, l->cids + ofrom, (size_t)(oto - ofrom) * sizeof *l->cids);
    l->ncids = (size_t)(oto - ofrom);
    long cfrom = from - nopen < 0 ? 0 : from - nopen, cto = to - nopen;
    cto = cto < 0 ? 0 : cto > nclosed ? nclosed : cto;
    l->closed_from = cfirst + (uint64_t)(cfrom < cto ? cfrom : cto);
    l->closed_to = cfirst + (uint64_t)cto;
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "now", ae_mon_rfc3339(l->now));
    json_object_set_new(j, "total", json_integer(l->total));
    json_object_set_new(j, "offset", json_integer(l->ca.offset));
    json_object_set_new(j, "limit", json_integer(l->ca.limit));
    put_json(l, j, true);
    puts_(l, ",\"connections\":[");
    l->stage = CONNS;
}

static void connz_conns(ae_mon_list *l, int *budget)
{
    while (*budget > 0 && l->len < SLICE_BYTES && l->next < l->ncids) {
        ae_client *c = ae_registry_find(&l->s->reg, l->cids[l->next++]);
        spend(l, budget);
        if (!c || c->closing)
            continue;
        if (l->listed++)
            puts_(l, ",");
        bool subs = l->ca.subs_mode && c->nsubs;
        put_json(l, conn_json(c, l->now), subs);
        if (subs) {
            puts_(l, l->ca.subs_mode == 2 ? ",\"subscriptions_list_detail\":["
                                          : ",\"subscriptions_list\":[");
            enter_conn(l, c);
            l->stage = SUBS;
            return;
        }
    }
    if (l->next >= l->ncids)
        l->stage = CLOSED;
}

static void connz_subs(ae_mon_list *l, int *budget)
{
    while (*budget > 0 && l->len < SLICE_BYTES) {
        const char *gone;
        const ae_ssub *sub = next_sub(l, &gone);
        spend(l, budget);
        if (!sub) {
            puts_(l, "]");
            if (gone) {
                puts_(l, ",\"subscriptions_list_note\":");
                put_json_str(l, gone, strlen(gone));
            }
            puts_(l, "}");
            l->in_conn = false;
            l->stage = CONNS;
            return;
        }
        if (l->items++)
            puts_(l, ",");
        if (l->ca.subs_mode == 2)
            put_sub_detail(l, sub, l->cur, false);
        else
            put_json_str(l, sub->subject, sub->sub.subject_len);
    }
}

static void connz_closed(ae_mon_list *l, int *budget)
{
    for (; *budget > 0 && l->closed_from < l->closed_to; l->closed_from++, spend(l, budget)) {
        const ae_closed_info *ci = ae_registry_closed_get(&l->s->reg, l->closed_from);
        if (!ci)
            continue; /* overwritten by newer closes meanwhile */
        if (l->listed++)
            puts_(l, ",");
        put_json(l, closed_json(ci), false);
    }
    if (l->closed_from >= l->closed_to)
        l->stage = TAIL;
}

ae_mon_list *ae_mon_connz_new(ae_server *s, const ae_connz_args *a)
{
    ae_mon_list *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->s = s;
    l->ca = *a;
    l->now = ae_now_ns();
    return l;
}

/* ---- /subsz ------------------------------------------------------------------------------ */

static void subsz_head(ae_mon_list *l)
{
    ae_server *s = l->s;
    ae_sublist_stats st;
    ae_sublist_get_stats(s->sl, &st);
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "now", ae_mon_rfc3339(l->now));
    json_object_set_new(j, "num_subscriptions", json_integer((json_int_t)st.num_subs));
    json_object_set_new(j, "num_cache", json_integer((json_int_t)st.num_cache));
    json_object_set_new(j, "num_inserts", json_integer((json_int_t)st.num_inserts));
    json_object_set_new(j, "num_removes", json_integer((json_int_t)st.num_removes));
    json_object_set_new(j, "num_matches", json_integer((json_int_t)st.num_matches));
    json_object_set_new(j, "cache_hit_rate",
                        json_real(st.num_matches ? (double)st.cache_hits / st.num_matches : 0));
    json_object_set_new(j, "max_fanout", json_integer((json_int_t)st.max_fanout));
    json_object_set_new(j, "avg_fanout",
                        json_real(st.num_matches ? (double)st.total_fanout / st.num_matches : 0));
    if (!l->sa.list) {
        put_json(l, j, false);
        l->stage = DONE;
        return;
    }
    json_object_set_new(j, "offset", json_integer(l->sa.offset));
    json_object_set_new(j, "limit", json_integer(l->sa.limit));
    put_json(l, j, true);
    puts_(l, ",\"subscriptions_list\":[");
    if (!collect_cids(l))
        l->oom = true;
    l->stage = SUBS;
}

static void subsz_scan(ae_mon_list *l, int *budget)
{
    size_t tl = l->test ? strlen(l->test) : 0;
    while (*budget > 0 && l->len < SLICE_BYTES) {
        spend(l, budget);
        if (!l->in_conn) {
            if (l->next >= l->ncids || l->emitted >= l->sa.limit) {
                /* nats-server's total is the number listed on this page */
                putf(l, "],\"total\":%lld}", l->emitted);
                l->stage = DONE;
                return;
            }
            ae_client *c = ae_registry_find(&l->s->reg, l->cids[l->next++]);
            if (c && !c->closing)
                enter_conn(l, c);
            continue;
        }
        const char *gone;
        const ae_ssub *sub = next_sub(l, &gone);
        if (!sub || l->emitted >= l->sa.limit) {
            l->in_conn = false;
            continue;
        }
        if (l->test && !ae_subject_matches(sub->subject, sub->sub.subject_len, l->test, tl))
            continue;
        if (l->matched++ >= l->sa.offset && l->emitted < l->sa.limit) {
            if (l->emitted++)
                puts_(l, ",");
            put_sub_detail(l, sub, l->cur, true);
        }
    }
}

ae_mon_list *ae_mon_subsz_new(ae_server *s, const ae_subsz_args *a)
{
    ae_mon_list *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->s = s;
    l->subsz = true;
    l->sa = *a;
    l->now = ae_now_ns();
    if (a->test && !(l->test = strdup(a->test))) {
        free(l);
        return NULL;
    }
    l->sa.test = l->test;
    return l;
}

/* ---- driving ------------------------------------------------------------------------------ */

/* One slice of work, appending to the staged output. */
static void step(ae_mon_list *l)
{
    int budget = SLICE_ITEMS;
    l->deadline = ae_mono_ns() + SLICE_NS;
    while (budget > 0 && l->len < SLICE_BYTES && l->stage != DONE && !l->oom) {
        switch (l->stage) {
        case HEAD:
            l->subsz ? subsz_head(l) : connz_head(l);
            break;
        case CONNS:
            connz_conns(l, &budget);
            break;
        case SUBS:
            l->subsz ? subsz_scan(l, &budget) : connz_subs(l, &budget);
            break;
        case CLOSED:
            connz_closed(l, &budget);
            break;
        case TAIL:
            putf(l, "],\"num_connections\":%lld}", l->listed);
            l->stage = DONE;
            break;
        case DONE:
            break;
        }
    }
}

ssize_t ae_mon_list_read(ae_mon_list *l, uint64_t pass, char *buf, size_t max)
{
    if (l->pass != pass + 1) {
        l->pass = pass + 1;
        l->pass_bytes = 0;
        l->pass_start = ae_mono_ns();
    }
    /* Enough for this loop pass: clients are served in between. */
    if (l->pass_bytes >= PASS_BYTES ||
        (l->pass_bytes > 0 && l->off == l->len && ae_mono_ns() - l->pass_start > SLICE_NS))
        return 0;
    if (l->off == l->len) {
        l->off = l->len = 0;
        if (l->oom)
            return -2;
        if (l->stage == DONE)
            return -1;
        step(l);
        if (l->len == 0)
            put(l, " ", 1); /* a slice that found nothing to show yet */
        if (l->oom)
            return -2;
    }
    size_t n = l->len - l->off < max ? l->len - l->off : max;
    memcpy(buf, l->out + l->off, n);
    l->off += n;
    l->pass_bytes += n;
    return (ssize_t)n;
}

void ae_mon_list_free(ae_mon_list *l)
{
    if (!l)
        return;
    free(l->out);
    free(l->cids);
    free(l->test);
    free(l);
}
