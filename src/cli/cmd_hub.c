/* `aerie hub init`: makes the hub's JetStream streams match the architecture.
 *
 * For each stream (TWIN_STATE, TWIN_EVENTS, FLEET_CMD, FLEET_LINK, TWIN_LIVE) it reads the current
 * configuration with STREAM.INFO, creates the stream when it is missing, and otherwise
 * compares only the fields Aerie decides (subjects, replicas, limits, direct get) and sends
 * STREAM.UPDATE with the current configuration plus those fields when any differ. Fields an
 * operator set by hand that Aerie does not decide (placement, description, ...) survive. The
 * report names every field that changed, so running it twice shows "unchanged" everywhere.
 *
 * Every stream is created with deny_purge (2.9.10 lets no one clear it again): a vehicle's
 * account could not reach STREAM.PURGE anyway, and a tenant's operator cannot wipe a
 * stream by mistake either.
 *
 * The requests are raw JetStream API calls (cli.c) on the tenant's operator connection;
 * --js-domain names the domain for a hub reached through a leaf (a vehicle's leaf passes
 * only that vehicle's own calls, docs/security.md). */
#include "cli/cmd_hub.h"
#include "cli/local_fleet.h"
#include "cli/retention.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ae_cli_fmt_duration(int64_t ns, char *out, size_t cap)
{
    static const struct {
        int64_t ns;
        const char *unit;
    } units[] = {{86400 * AE_NS_PER_SEC, "d"},
                 {3600 * AE_NS_PER_SEC, "h"},
                 {60 * AE_NS_PER_SEC, "m"},
                 {AE_NS_PER_SEC, "s"},
                 {AE_NS_PER_MS, "ms"}};
    if (ns == 0) {
        snprintf(out, cap, "unlimited");
        return out;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ns % units[i].ns == 0) {
            snprintf(out, cap, "%" PRId64 "%s", ns / units[i].ns, units[i].unit);
            return out;
        }
    return ae_format_go_duration(ns, out, cap);
}

typedef struct hub_opts {
    int replicas;
    ae_retention ret;    /* retention.h: the limits, once fitted to a budget */
    ae_retention chosen; /* as given: the copies take only max_bytes chosen (below) */
    bool dry_run;
    const char *global_domains; /* --global: comma-separated region domains to aggregate */
    const char *mirror_domain;  /* --mirror: the region domain whose twin streams to mirror */
    char local_domain[AE_IDENT_MAX + 1]; /* the connected hub's own domain ("" if none) */
} hub_opts;

/* The configuration Aerie wants for one stream. Only these keys are compared and set. */
static json_t *desired(const hub_opts *o, const char *name)
{
    const char *subject;
    if (strcmp(name, AE_STREAM_STATE) == 0)
        subject = "fleet.*.veh.*.state.>";
    else if (strcmp(name, AE_STREAM_EVENTS) == 0)
        subject = "fleet.*.veh.*.event.>";
    else if (strcmp(name, AE_STREAM_CMD) == 0)
        subject = "fleet.*.veh.*.cmd.>";
    else if (strcmp(name, AE_STREAM_LIVE) == 0)
        /* The newest value only (history 1), sent by a vehicle leaf while it drains a backlog. */
        subject = "fleet.*.veh.*.live.>";
    else
        subject = "fleet.*.veh.*.link";
    int k = ae_retention_index(name);
    int64_t age = o->ret.max_age[k], per_subject = o->ret.history[k], bytes = o->ret.max_bytes[k];
    /* The duplicate window may not exceed max_age (err 10052); 2 min otherwise. */
    int64_t dup = 120 * AE_NS_PER_SEC;
    if (age > 0 && age < dup)
        dup = age;
    /* No purge through the API, by anyone: the history is the record (a purge cannot be
     * undone, and nats-server 2.9 refuses to switch deny_purge off again). Deleting one
     * message stays possible: vehicles' order repair needs it, through the guard (guard.h),
     * which lets a vehicle delete only its own. */
    return json_pack("{s:s, s:[s], s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b}", "name", name,
                     "subjects", subject, "retention", "limits", "storage", "file", "discard",
                     "old", "num_replicas", (json_int_t)o->replicas, "max_age", (json_int_t)age,
                     "max_msgs_per_subject", (json_int_t)per_subject, "max_bytes",
                     (json_int_t)bytes, "duplicate_window", (json_int_t)dup, "allow_direct", 1,
                     "deny_purge", 1);
}

/* The duplicate window of the copies: the smallest nats-server takes. A copy must not drop a
 * record by its Nats-Msg-Id: nats-server 2.9.10 answers a duplicate id arriving through a
 * source with an error, restarts that source at the same message, and so stalls the copy for
 * the whole window (the default 2 min) and then stores it anyway. Copies keep whatever the
 * origins stored; readers show a record held twice once (copies.h). */
#define COPY_DUP_WINDOW_NS (100 * AE_NS_PER_MS)

/* A copy of a stream (`base`: TWIN_STATE, TWIN_EVENTS or FLEET_LINK) in this domain: with
 * `one_origin` the disaster-recovery copy of base in that one domain, else the aggregate
 * sourcing base from every domain of the comma-separated list. Limits follow base's; the
 * copy has no subjects of its own (the origin streams own them), so vehicles never publish
 * into it. Aerie decides these keys.
 *
 * Both are made of sources, never a mirror: nats-server 2.9.10 gives a mirror of TWIN_STATE
 * `mirror_direct` whenever this domain has a TWIN_STATE of its own with direct get (it looks
 * the origin up by name, locally, and ignores a mirror_direct: false in the request), and the
 * mirror then answers this region's DIRECT.GET.TWIN_STATE requests with the other region's
 * data: 404 for this region's vehicles. A stream with one source copies the origin in order
 * just the same, and serves direct gets under its own name only. */
static json_t *desired_copy(const hub_opts *o, const char *name, const char *base,
                            const char *domains, bool one_origin)
{
    bool state = strcmp(base, AE_STREAM_STATE) == 0, link = strcmp(base, AE_STREAM_LINK) == 0;
    int k = state ? AE_RET_STATE : link ? AE_RET_LINK : AE_RET_EVENTS;
    /* A copy lives next to the hub's own streams, whose shares already fill the budget:
     * it takes a max_bytes only when one was chosen. */
    int64_t age = o->ret.max_age[k], bytes = o->chosen.max_bytes[k];
    if (bytes == AE_RET_UNSET)
        bytes = -1;
    int64_t dup = age > 0 && age < COPY_DUP_WINDOW_NS ? age : COPY_DUP_WINDOW_NS;
    json_t *want = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "name", name, "retention", "limits",
        "storage", "file", "discard", "old", "num_replicas", (json_int_t)o->replicas, "max_age",
        (json_int_t)age, "max_bytes", (json_int_t)bytes, "max_msgs_per_subject",
        (json_int_t)o->ret.history[k], "duplicate_window", (json_int_t)dup, "allow_direct", 1);
    json_t *list = json_array();
    for (const char *p = domains; *p;) {
        size_t n = strcspn(p, ",");
        /* The hub's own domain is sourced locally: nats-server 2.9.10 does not answer its
         * own stream's source consumer through its own $JS.<domain>.API (the source stays
         * inactive), while a local source works. */
        if (n > 0 && strlen(o->local_domain) == n && strncmp(p, o->local_domain, n) == 0) {
            json_array_append_new(list, json_pack("{s:s}", "name", base));
        } else if (n > 0) {
            json_t *api = json_sprintf("$JS.%.*s.API", (int)n, p);
            json_array_append_new(
                list, json_pack("{s:s, s:{s:o}}", "name", base, "external", "api", api));
        }
        p += n;
        if (*p == ',')
            p++;
        if (one_origin)
            break;
    }
    json_object_set_new(want, "sources", list);
    return want;
}

/* The mirror of `base` from `domain`: BASE_MIRROR_<region>, the region being what follows the
 * last '-' of the domain (hub-us -> US), upper-cased, '-' as '_'. */
static void mirror_name(const char *base, const char *domain, char *out, size_t cap)
{
    const char *dash = strrchr(domain, '-');
    const char *tail = dash && dash[1] ? dash + 1 : domain;
    int n = snprintf(out, cap, "%s_MIRROR_", base);
    for (size_t i = 0; tail[i] && n >= 0 && (size_t)n + 1 < cap; i++, n++) {
        char ch = tail[i];
        out[n] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
    }
    if (n >= 0 && (size_t)n < cap)
        out[n] = 0;
}

/* One source or mirror as the report shows it: STREAM@$JS.domain.API. */
static void copy_label(json_t *src, char *out, size_t cap)
{
    const char *api = json_string_value(json_object_get(json_object_get(src, "external"), "api"));
    snprintf(out, cap, "%s@%s", json_string_value(json_object_get(src, "name")) ?: "?",
             api ? api : "local");
}

/* Whether two source/mirror entries name the same stream in the same domain; the server adds
 * defaults (deliver prefix, start sequence) that Aerie does not decide. */
static bool same_copy(json_t *a, json_t *b)
{
    char la[200], lb[200];
    copy_label(a, la, sizeof la);
    copy_label(b, lb, sizeof lb);
    return json_is_object(a) && json_is_object(b) && strcmp(la, lb) == 0;
}

static bool same_sources(json_t *have, json_t *want)
{
    if (!json_is_array(have) || json_array_size(have) != json_array_size(want))
        return false;
    size_t i, j;
    json_t *w, *h;
    json_array_foreach(want, i, w)
    {
        bool found = false;
        json_array_foreach(have, j, h) found = found || same_copy(h, w);
        if (!found)
            return false;
    }
    return true;
}

/* A value as the report shows it: durations short, -1 as "unlimited". */
static void show(const char *key, json_t *v, char *out, size_t cap)
{
    if (!v) {
        snprintf(out, cap, "(unset)");
    } else if (strcmp(key, "mirror") == 0) {
        copy_label(v, out, cap);
    } else if (strcmp(key, "sources") == 0) {
        size_t i, used = 0;
        json_t *one;
        out[0] = 0;
        json_array_foreach(v, i, one)
        {
            char l[200];
            copy_label(one, l, sizeof l);
            int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "", l);
            if (n < 0 || (size_t)n >= cap - used)
                break;
            used += (size_t)n;
        }
    } else if (json_is_integer(v) &&
               (strcmp(key, "max_age") == 0 || strcmp(key, "duplicate_window") == 0)) {
        ae_cli_fmt_duration((int64_t)json_integer_value(v), out, cap);
    } else if (json_is_integer(v) && json_integer_value(v) < 0) {
        snprintf(out, cap, "unlimited");
    } else {
        char *d = json_dumps(v, AE_CLI_JSON_FLAGS | JSON_ENCODE_ANY);
        snprintf(out, cap, "%s", d ? d : "?");
        free(d);
    }
}

/* Fields that STREAM.UPDATE cannot change on 2.9: a difference there needs a human. */
static bool immutable(const char *key)
{
    return strcmp(key, "storage") == 0 || strcmp(key, "retention") == 0 ||
           strcmp(key, "mirror") == 0;
}

/* A disaster-recovery copy made as a mirror (by Aerie before it used sources; see
 * desired_copy) serves this region's direct gets for its origin's name with the wrong data,
 * so it is replaced: deleted, then created as a sourced copy, which fills itself again from
 * the origin. Only while the origin answers, so that the copy is never lost when it may be
 * the last one. Returns 0 (deleted, or would be with --dry-run) or an AE_E* with a message. */
static int replace_mirror(ae_cli *c, const hub_opts *o, json_t *have, const char *name, ae_err *err)
{
    json_t *m = json_object_get(have, "mirror");
    const char *origin = json_string_value(json_object_get(m, "name"));
    const char *ext = json_string_value(json_object_get(json_object_get(m, "external"), "api"));
    char api[AE_IDENT_MAX + 32];
    snprintf(api, sizeof api, "STREAM.INFO.%s", origin ? origin : "?");
    json_t *info = NULL;
    ae_err e = {0};
    int rc =
        ext ? ae_cli_api_at(c, ext, api, NULL, &info, &e) : ae_cli_api(c, api, NULL, &info, &e);
    json_decref(info);
    if (rc)
        return ae_err_set(err, AE_EIO,
                          "stream %s is a mirror, which nats-server 2.9 lets answer this region's "
                          "direct gets for %s with the other region's data; it is to be replaced "
                          "by a copy that refills itself from the origin, but the origin %s@%s "
                          "does not answer now (%s): the mirror stays; run hub init again when "
                          "it answers",
                          name, origin ? origin : "?", origin ? origin : "?", ext ? ext : "local",
                          e.msg);
    if (o->dry_run)
        return 0;
    snprintf(api, sizeof api, "STREAM.DELETE.%s", name);
    json_t *resp = NULL;
    rc = ae_cli_api(c, api, NULL, &resp, err);
    json_decref(resp);
    return rc;
}

/* one_stream, a stream that is not there (or a mirror just deleted: replaced): creates it
 * (unless --dry-run) and describes it in item. */
static int create_stream(ae_cli *c, const hub_opts *o, json_t *want, const char *name,
                         bool replaced, json_t *item, int counts[3], ae_err *err)
{
    if (!o->dry_run) {
        char api[128];
        json_t *resp = NULL;
        char *body = json_dumps(want, AE_CLI_JSON_FLAGS);
        snprintf(api, sizeof api, "STREAM.CREATE.%s", name);
        int rc = ae_cli_api(c, api, body, &resp, err);
        free(body);
        if (rc) {
            if (strstr(err->msg, "insufficient") || strstr(err->msg, "replicas"))
                snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
                         "; the hub may have fewer than %d nodes: try --replicas 1", o->replicas);
            return rc;
        }
        json_decref(resp);
    }
    json_object_set_new(item, "action",
                        json_string(replaced     ? (o->dry_run ? "would replace" : "replaced")
                                    : o->dry_run ? "would create"
                                                 : "created"));
    counts[replaced ? 1 : 0]++;
    char age[32], copy[600] = "";
    show("max_age", json_object_get(want, "max_age"), age, sizeof age);
    json_t *srcs = json_object_get(want, "sources");
    if (srcs && !strstr(name, AE_STREAM_ALL_SUFFIX)) {
        memcpy(copy, " copy of ", 9);
        show("mirror", json_array_get(srcs, 0), copy + 9, sizeof copy - 9);
    } else if (srcs) {
        memcpy(copy, " sources ", 9);
        show("sources", json_object_get(want, "sources"), copy + 9, sizeof copy - 9);
    }
    json_object_set_new(
        item, "summary",
        json_sprintf("R%d max_age=%s%s%s", o->replicas, age,
                     json_is_true(json_object_get(want, "allow_direct")) ? " direct_get" : "",
                     copy));
    return 0;
}

/* one_stream, a stream that is there: appends each field of want that differs from have to
 * changes ({field, from, to}). Returns true when one of them cannot change in place. */
static bool stream_changes(json_t *have, json_t *want, json_t *changes)
{
    const char *key;
    json_t *wv;
    bool blocked = false;
    json_object_foreach(want, key, wv)
    {
        json_t *hv = json_object_get(have, key);
        /* The server omits false booleans and may add defaults; a missing allow_direct is false. */
        if (!hv && json_is_boolean(wv) && !json_is_true(wv))
            continue;
        if (hv && json_equal(hv, wv))
            continue;
        if (strcmp(key, "sources") == 0 && same_sources(hv, wv))
            continue;
        if (strcmp(key, "mirror") == 0 && same_copy(hv, wv))
            continue;
        if (!hv && json_is_false(wv))
            continue;
        char from[128], to[128];
        show(key, hv, from, sizeof from);
        show(key, wv, to, sizeof to);
        json_array_append_new(changes,
                              json_pack("{s:s, s:s, s:s}", "field", key, "from", from, "to", to));
        if (immutable(key))
            blocked = true;
    }
    return blocked;
}

/* one_stream: updates the stream to have with want's fields (unless --dry-run). */
static int update_stream(ae_cli *c, const hub_opts *o, json_t *have, json_t *want, const char *name,
                         ae_err *err)
{
    if (o->dry_run)
        return 0;
    char api[128];
    json_t *merged = json_deep_copy(have);
    json_object_update(merged, want);
    char *body = json_dumps(merged, AE_CLI_JSON_FLAGS);
    json_decref(merged);
    json_t *resp = NULL;
    snprintf(api, sizeof api, "STREAM.UPDATE.%s", name);
    int rc = ae_cli_api(c, api, body, &resp, err);
    free(body);
    if (rc)
        return rc;
    json_decref(resp);
    return 0;
}

/* Brings one stream to `want` (consumed): create, update the differing fields, or leave it.
 * Appends the outcome to report and counts it. */
static int one_stream(ae_cli *c, const hub_opts *o, json_t *want, json_t *report, int counts[3],
                      ae_err *err)
{
    const char *name = json_string_value(json_object_get(want, "name"));
    json_t *info = NULL, *item = json_object(), *changes = json_array();
    char api[128];
    int rc;
    json_object_set_new(item, "stream", json_string(name));
    snprintf(api, sizeof api, "STREAM.INFO.%s", name);
    rc = ae_cli_api(c, api, NULL, &info, err);
    bool replaced = false;
    if (rc == 0 && json_object_get(json_object_get(info, "config"), "mirror") &&
        !json_object_get(want, "mirror")) {
        if ((rc = replace_mirror(c, o, json_object_get(info, "config"), name, err)) != 0)
            goto out;
        replaced = true;
        rc = AE_ENOENT;
    }
    if (rc == AE_ENOENT) {
        if ((rc = create_stream(c, o, want, name, replaced, item, counts, err)) != 0)
            goto out;
        goto done;
    }
    if (rc)
        goto out;
    json_t *have = json_object_get(info, "config");
    if (stream_changes(have, want, changes)) {
        rc = ae_err_set(err, AE_EINVAL,
                        "stream %s exists with a storage/retention Aerie cannot change in place; "
                        "back it up and delete it (nats stream rm %s), then run hub init again",
                        name, name);
        goto out;
    }
    if (json_array_size(changes) == 0) {
        json_object_set_new(item, "action", json_string("unchanged"));
        counts[2]++;
        goto done;
    }
    if ((rc = update_stream(c, o, have, want, name, err)) != 0)
        goto out;
    json_object_set_new(item, "action", json_string(o->dry_run ? "would update" : "updated"));
    counts[1]++;
done:
    json_object_set(item, "changes", changes);
    json_array_append(report, item);
    rc = 0;
out:
    json_decref(item);
    json_decref(changes);
    json_decref(info);
    json_decref(want);
    return rc;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: aerie hub init [--replicas N] [retention options] [--dry-run]\n"
            "                      [--dir DIR | --server URL] [--json]\n"
            "%s"
            "       aerie hub init --global DOMAIN,DOMAIN...   TWIN_STATE_ALL, TWIN_EVENTS_ALL,\n"
            "                      FLEET_LINK_ALL sourced from every listed region domain\n"
            "       aerie hub init --mirror DOMAIN   TWIN_STATE/EVENTS_MIRROR_<REGION>: copies\n"
            "                      of that region domain's twin streams (disaster recovery)\n",
            ae_retention_usage);
    return 2;
}

static const char *const stream_names[] = {AE_STREAM_STATE, AE_STREAM_EVENTS, AE_STREAM_CMD,
                                           AE_STREAM_LINK, AE_STREAM_LIVE};
#define N_STREAMS (sizeof stream_names / sizeof stream_names[0])

static hub_opts default_opts(void)
{
    return (hub_opts){.replicas = 3, .ret = ae_retention_defaults()};
}

/* Fits the limits not chosen (retention.h): to --store-budget; for the local fleet of
 * --dir, as `aerie up` does; else they stay unlimited. */
static void fit_budget(ae_cli *c, ae_retention *r)
{
    int64_t budget = 0;
    if (r->budget <= 0 && c->fleet && c->fleet->has_procs && !c->server)
        budget = ae_local_store_budget(c->fleet);
    ae_retention_fit(r, budget);
}

int ae_hub_init_defaults(ae_cli *c, int replicas, const ae_retention *ret, int counts[3],
                         ae_err *err)
{
    hub_opts o = default_opts();
    o.replicas = replicas;
    o.ret = o.chosen = *ret;
    ae_retention_fit(&o.ret, 0);
    json_t *report = json_array();
    counts[0] = counts[1] = counts[2] = 0;
    int rc = 0;
    for (size_t k = 0; k < N_STREAMS && rc == 0; k++)
        rc = one_stream(c, &o, desired(&o, stream_names[k]), report, counts, err);
    json_decref(report);
    return rc;
}

/* Returns -1 when the options are good, else the exit code. */
static int parse_hub_args(ae_cli *c, int argc, char **argv, hub_opts *o)
{
    ae_err err = {0};
    for (int i = 2; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie hub init: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        r = ae_retention_opt(&o->ret, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie hub init: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
            i++;
            continue;
        }
        if (!v) {
            fprintf(stderr, "aerie hub init: unknown option or missing value: %s\n", a);
            return usage();
        }
        int bad = 0;
        if (strcmp(a, "--replicas") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            bad = *end || n < 1 || n > 5;
            o->replicas = (int)n;
        } else if (strcmp(a, "--global") == 0) {
            bad = !ae_ident_list_valid(v);
            o->global_domains = v;
        } else if (strcmp(a, "--mirror") == 0) {
            bad = !ae_ident_list_valid(v) || strchr(v, ',');
            o->mirror_domain = v;
        } else {
            fprintf(stderr, "aerie hub init: unknown option %s\n", a);
            return usage();
        }
        if (bad) {
            fprintf(stderr, "aerie hub init: bad value for %s: %s\n", a, v);
            return 2;
        }
        i += 2;
    }
    return -1;
}

/* The streams to bring about, appended to wants: the region's own five, or with --mirror /
 * --global only the copies of the global tier. Returns 0, 1 (error, printed) or 2 (a mirror
 * of the hub's own domain, printed). */
static int wanted_streams(ae_cli *c, hub_opts *o, json_t *wants)
{
    if (!o->mirror_domain && !o->global_domains) {
        for (size_t k = 0; k < N_STREAMS; k++)
            json_array_append_new(wants, desired(o, stream_names[k]));
        return 0;
    }
    ae_err err = {0};
    json_t *info = NULL;
    if (ae_cli_api(c, "INFO", NULL, &info, &err) != 0) {
        fprintf(stderr, "aerie hub init: %s\n", err.msg);
        return 1;
    }
    const char *d = json_string_value(json_object_get(info, "domain"));
    snprintf(o->local_domain, sizeof o->local_domain, "%s", d ? d : "");
    json_decref(info);
    if (o->mirror_domain && strcmp(o->mirror_domain, o->local_domain) == 0) {
        fprintf(stderr,
                "aerie hub init: --mirror %s: that is this hub's own domain; a mirror for "
                "disaster recovery belongs in another region\n",
                o->mirror_domain);
        return 2;
    }
    /* The link reports go into the aggregate too, so that a fleet-wide status knows which
     * vehicles are online; a disaster-recovery copy keeps only the history (state, events). */
    static const char *const bases[] = {AE_STREAM_STATE, AE_STREAM_EVENTS, AE_STREAM_LINK};
    for (size_t k = 0; k < 3; k++) {
        char name[AE_IDENT_MAX + 64];
        if (o->mirror_domain && k < 2) {
            mirror_name(bases[k], o->mirror_domain, name, sizeof name);
            json_array_append_new(wants, desired_copy(o, name, bases[k], o->mirror_domain, true));
        }
        if (o->global_domains) {
            snprintf(name, sizeof name, "%s_ALL", bases[k]);
            json_array_append_new(wants, desired_copy(o, name, bases[k], o->global_domains, false));
        }
    }
    return 0;
}

static void print_report(const ae_cli *c, json_t *report, const int counts[3], bool dry_run)
{
    if (c->json) {
        json_t *out = json_pack("{s:O, s:i, s:i, s:i}", "streams", report, "created", counts[0],
                                "updated", counts[1], "unchanged", counts[2]);
        char *d = json_dumps(out, AE_CLI_JSON_FLAGS);
        printf("%s\n", d);
        free(d);
        json_decref(out);
        return;
    }
    size_t idx;
    json_t *it;
    json_array_foreach(report, idx, it)
    {
        const char *action = json_string_value(json_object_get(it, "action"));
        const char *summary = json_string_value(json_object_get(it, "summary"));
        printf("%-12s %s", json_string_value(json_object_get(it, "stream")), action);
        if (summary)
            printf(" (%s)", summary);
        size_t j;
        json_t *one;
        json_array_foreach(json_object_get(it, "changes"), j, one)
        {
            printf("%s %s %s -> %s", j ? "," : ":",
                   json_string_value(json_object_get(one, "field")),
                   json_string_value(json_object_get(one, "from")),
                   json_string_value(json_object_get(one, "to")));
        }
        printf("\n");
    }
    printf("hub init: %d created, %d updated, %d unchanged%s\n", counts[0], counts[1], counts[2],
           dry_run ? " (dry run: nothing applied)" : "");
}

int ae_cmd_hub(ae_cli *c, int argc, char **argv)
{
    hub_opts o = default_opts();
    ae_err err = {0};
    if (argc < 2 || strcmp(argv[1], "init") != 0)
        return usage();
    int rc = parse_hub_args(c, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie hub init: %s\n", err.msg);
        return 1;
    }
    o.chosen = o.ret;
    fit_budget(c, &o.ret);
    json_t *wants = json_array(), *report = json_array();
    int counts[3] = {0, 0, 0};
    if ((rc = wanted_streams(c, &o, wants)) == 0) {
        size_t wi;
        json_t *want;
        json_array_foreach(wants, wi, want)
        {
            if (one_stream(c, &o, json_incref(want), report, counts, &err) != 0) {
                fprintf(stderr, "aerie hub init: %s\n", err.msg);
                rc = 1;
            }
        }
        print_report(c, report, counts, o.dry_run);
        ae_cli_print_stats(c, "hub init");
    }
    json_decref(wants);
    json_decref(report);
    return rc;
}
