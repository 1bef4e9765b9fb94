/* `aerie hub init`: makes the hub's JetStream streams match the architecture.
 *
 * For each stream (TWIN_STATE, TWIN_EVENTS, FLEET_CMD, FLEET_LINK, TWIN_LIVE) it reads the current
 * configuration with STREAM.INFO, creates the stream when it is missing, and otherwise
 * compares only the fields Aerie decides (subjects, replicas, limits, direct get) and sends
 * STREAM.UPDATE with the current configuration plus those fields when any differ. Fields an
 * operator set by hand that Aerie does not decide (placement, description, ...) survive. The
 * report names every field that changed, so running it twice shows "unchanged" everywhere.
 *
 * The requests are raw JetStream API calls (cli.c), so the same code works on a hub client
 * connection and, with --js-domain, through a vehicle leaf. */
#include "cli/cmd_hub.h"
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
    int64_t state_age, events_age, cmd_age, link_age, live_age;
    int64_t link_history;
    int64_t state_bytes, events_bytes;
    bool dry_run;
} hub_opts;

/* The configuration Aerie wants for one stream. Only these keys are compared and set. */
static json_t *desired(const hub_opts *o, const char *name)
{
    const char *subject;
    int64_t age, per_subject = -1, bytes = -1;
    if (strcmp(name, AE_STREAM_STATE) == 0) {
        subject = "fleet.*.veh.*.state.>";
        age = o->state_age;
        bytes = o->state_bytes;
    } else if (strcmp(name, AE_STREAM_EVENTS) == 0) {
        subject = "fleet.*.veh.*.event.>";
        age = o->events_age;
        bytes = o->events_bytes;
    } else if (strcmp(name, AE_STREAM_CMD) == 0) {
        subject = "fleet.*.veh.*.cmd.>";
        age = o->cmd_age;
    } else if (strcmp(name, AE_STREAM_LIVE) == 0) {
        /* The newest value only, sent by a vehicle leaf while it drains a backlog. */
        subject = "fleet.*.veh.*.live.>";
        age = o->live_age;
        per_subject = 1;
    } else {
        subject = "fleet.*.veh.*.link";
        age = o->link_age;
        per_subject = o->link_history;
    }
    /* The duplicate window may not exceed max_age (err 10052); 2 min otherwise. */
    int64_t dup = 120 * AE_NS_PER_SEC;
    if (age > 0 && age < dup)
        dup = age;
    return json_pack("{s:s, s:[s], s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "name", name,
                     "subjects", subject, "retention", "limits", "storage", "file", "discard",
                     "old", "num_replicas", (json_int_t)o->replicas, "max_age", (json_int_t)age,
                     "max_msgs_per_subject", (json_int_t)per_subject, "max_bytes",
                     (json_int_t)bytes, "duplicate_window", (json_int_t)dup, "allow_direct", 1);
}

/* A value as the report shows it: durations short, -1 as "unlimited". */
static void show(const char *key, json_t *v, char *out, size_t cap)
{
    if (!v) {
        snprintf(out, cap, "(unset)");
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
    return strcmp(key, "storage") == 0 || strcmp(key, "retention") == 0;
}

static int one_stream(ae_cli *c, const hub_opts *o, const char *name, json_t *report, int counts[3],
                      ae_err *err)
{
    json_t *want = desired(o, name);
    json_t *info = NULL, *item = json_object(), *changes = json_array();
    char api[128];
    int rc;
    json_object_set_new(item, "stream", json_string(name));
    snprintf(api, sizeof api, "STREAM.INFO.%s", name);
    rc = ae_cli_api(c, api, NULL, &info, err);
    if (rc == AE_ENOENT) {
        if (!o->dry_run) {
            json_t *resp = NULL;
            char *body = json_dumps(want, AE_CLI_JSON_FLAGS);
            snprintf(api, sizeof api, "STREAM.CREATE.%s", name);
            rc = ae_cli_api(c, api, body, &resp, err);
            free(body);
            if (rc) {
                if (strstr(err->msg, "insufficient") || strstr(err->msg, "replicas"))
                    snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
                             "; the hub may have fewer than %d nodes: try --replicas 1",
                             o->replicas);
                goto out;
            }
            json_decref(resp);
        }
        json_object_set_new(item, "action", json_string(o->dry_run ? "would create" : "created"));
        counts[0]++;
        char age[32];
        show("max_age", json_object_get(want, "max_age"), age, sizeof age);
        json_object_set_new(item, "summary",
                            json_sprintf("R%d max_age=%s direct_get", o->replicas, age));
        goto done;
    }
    if (rc)
        goto out;
    json_t *have = json_object_get(info, "config");
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
    if (blocked) {
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
    if (!o->dry_run) {
        json_t *merged = json_deep_copy(have);
        json_object_update(merged, want);
        char *body = json_dumps(merged, AE_CLI_JSON_FLAGS);
        json_decref(merged);
        json_t *resp = NULL;
        snprintf(api, sizeof api, "STREAM.UPDATE.%s", name);
        rc = ae_cli_api(c, api, body, &resp, err);
        free(body);
        if (rc)
            goto out;
        json_decref(resp);
    }
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
            "usage: aerie hub init [--replicas N] [--state-max-age 7d] [--events-max-age 30d]\n"
            "                      [--cmd-max-age 1h] [--link-max-age 7d] [--link-history 100]\n"
            "                      [--live-max-age 1h]\n"
            "                      [--state-max-bytes SIZE] [--events-max-age SIZE] [--dry-run]\n"
            "                      [--dir DIR | --server URL] [--json]\n");
    return 2;
}

static const char *const stream_names[] = {AE_STREAM_STATE, AE_STREAM_EVENTS, AE_STREAM_CMD,
                                           AE_STREAM_LINK, AE_STREAM_LIVE};
#define N_STREAMS (sizeof stream_names / sizeof stream_names[0])

static hub_opts default_opts(void)
{
    return (hub_opts){.replicas = 3,
                      .state_age = 7 * 86400 * AE_NS_PER_SEC,
                      .events_age = 30 * 86400 * AE_NS_PER_SEC,
                      .cmd_age = 3600 * AE_NS_PER_SEC,
                      .link_age = 7 * 86400 * AE_NS_PER_SEC,
                      .live_age = 3600 * AE_NS_PER_SEC,
                      .link_history = 100,
                      .state_bytes = -1,
                      .events_bytes = -1};
}

int ae_hub_init_defaults(ae_cli *c, int replicas, int counts[3], ae_err *err)
{
    hub_opts o = default_opts();
    o.replicas = replicas;
    json_t *report = json_array();
    counts[0] = counts[1] = counts[2] = 0;
    int rc = 0;
    for (size_t k = 0; k < N_STREAMS && rc == 0; k++)
        rc = one_stream(c, &o, stream_names[k], report, counts, err);
    json_decref(report);
    return rc;
}

int ae_cmd_hub(ae_cli *c, int argc, char **argv)
{
    hub_opts o = default_opts();
    ae_err err = {0};
    if (argc < 2 || strcmp(argv[1], "init") != 0)
        return usage();
    for (int i = 2; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0)
            goto bad;
        if (r > 0)
            continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dry-run") == 0) {
            o.dry_run = true;
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
            o.replicas = (int)n;
        } else if (strcmp(a, "--state-max-age") == 0) {
            bad = ae_parse_duration(v, &o.state_age) != 0 || o.state_age < 0;
        } else if (strcmp(a, "--events-max-age") == 0) {
            bad = ae_parse_duration(v, &o.events_age) != 0 || o.events_age < 0;
        } else if (strcmp(a, "--cmd-max-age") == 0) {
            bad = ae_parse_duration(v, &o.cmd_age) != 0 || o.cmd_age < 0;
        } else if (strcmp(a, "--live-max-age") == 0) {
            bad = ae_parse_duration(v, &o.live_age) != 0 || o.live_age < 0;
        } else if (strcmp(a, "--link-max-age") == 0) {
            bad = ae_parse_duration(v, &o.link_age) != 0 || o.link_age < 0;
        } else if (strcmp(a, "--link-history") == 0) {
            char *end;
            o.link_history = strtoll(v, &end, 10);
            bad = *end || o.link_history < 1;
        } else if (strcmp(a, "--state-max-bytes") == 0) {
            bad = ae_parse_size(v, &o.state_bytes) != 0 || o.state_bytes < 1;
        } else if (strcmp(a, "--events-max-bytes") == 0) {
            bad = ae_parse_size(v, &o.events_bytes) != 0 || o.events_bytes < 1;
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
    if (ae_cli_connect(c, &err) != 0)
        goto fail;
    json_t *report = json_array();
    int counts[3] = {0, 0, 0};
    int rc = 0;
    for (size_t k = 0; k < N_STREAMS; k++) {
        if (one_stream(c, &o, stream_names[k], report, counts, &err) != 0) {
            fprintf(stderr, "aerie hub init: %s\n", err.msg);
            rc = 1;
        }
    }
    if (c->json) {
        json_t *out = json_pack("{s:O, s:i, s:i, s:i}", "streams", report, "created", counts[0],
                                "updated", counts[1], "unchanged", counts[2]);
        char *d = json_dumps(out, AE_CLI_JSON_FLAGS);
        printf("%s\n", d);
        free(d);
        json_decref(out);
    } else {
        size_t idx;
        json_t *it;
        json_array_foreach(report, idx, it)
        {
            const char *action = json_string_value(json_object_get(it, "action"));
            const char *summary = json_string_value(json_object_get(it, "summary"));
            json_t *ch = json_object_get(it, "changes");
            printf("%-12s %s", json_string_value(json_object_get(it, "stream")), action);
            if (summary)
                printf(" (%s)", summary);
            size_t j;
            json_t *one;
            json_array_foreach(ch, j, one)
            {
                printf("%s %s %s -> %s", j ? "," : ":",
                       json_string_value(json_object_get(one, "field")),
                       json_string_value(json_object_get(one, "from")),
                       json_string_value(json_object_get(one, "to")));
            }
            printf("\n");
        }
        printf("hub init: %d created, %d updated, %d unchanged%s\n", counts[0], counts[1],
               counts[2], o.dry_run ? " (dry run: nothing applied)" : "");
    }
    json_decref(report);
    ae_cli_print_stats(c, "hub init");
    return rc;
bad:
    fprintf(stderr, "aerie hub init: %s\n", err.msg);
    return 2;
fail:
    fprintf(stderr, "aerie hub init: %s\n", err.msg);
    return 1;
}
