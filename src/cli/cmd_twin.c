/* `aerie twin` and `aerie status`: the commands around the collectors (fleet_state.c).
 *
 * `status` decides "online" from the vehicle leaf's own uplink report (FLEET_LINK, the
 * `fleet.<env>.veh.<vid>.link` subject): online when the newest report says so and is not
 * older than --stale (a leaf that died cannot say it went offline). Vehicles without link
 * reports count as online while their newest state message is fresh. */
#include "cli/cmd_twin.h"
#include "cli/cmd_hub.h"
#include "cli/fleet_metrics.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_age(int64_t ns, char *out, size_t cap)
{
    if (ns <= 0) {
        snprintf(out, cap, "never");
        return;
    }
    int64_t age = ae_now_ns() - ns;
    if (age < 0)
        age = 0;
    if (age < 60 * AE_NS_PER_SEC)
        snprintf(out, cap, "%llds ago", (long long)(age / AE_NS_PER_SEC));
    else if (age < 3600 * AE_NS_PER_SEC)
        snprintf(out, cap, "%lldm ago", (long long)(age / (60 * AE_NS_PER_SEC)));
    else if (age < 86400 * AE_NS_PER_SEC)
        snprintf(out, cap, "%lldh ago", (long long)(age / (3600 * AE_NS_PER_SEC)));
    else
        snprintf(out, cap, "%lldd ago", (long long)(age / (86400 * AE_NS_PER_SEC)));
}

static int usage_twin(void)
{
    fprintf(stderr, "usage: aerie twin VID [--json] [--dir DIR | --server URL] [--env ENV]\n"
                    "                 [--global | --stream NAME]\n"
                    "  --global: the fleet-wide aggregate (TWIN_STATE_ALL of the global region)\n"
                    "  --stream: one stream read alone, e.g. a disaster-recovery copy\n");
    return 2;
}

int ae_cmd_twin(ae_cli *c, int argc, char **argv)
{
    ae_err err = {0};
    const char *vid = NULL, *stream = AE_STREAM_STATE;
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie twin: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--global") == 0) {
            c->global = true;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--stream") == 0 && i + 1 < argc) {
            stream = argv[i + 1];
            if (!ae_ident_valid(stream)) {
                fprintf(stderr, "aerie twin: --stream %s: a stream name is one token\n", stream);
                return 2;
            }
            i += 2;
            continue;
        }
        if (argv[i][0] == '-' || vid) {
            fprintf(stderr, "aerie twin: unexpected argument %s\n", argv[i]);
            return usage_twin();
        }
        vid = argv[i++];
    }
    if (!vid)
        return usage_twin();
    if (c->global && strcmp(stream, AE_STREAM_STATE) != 0) {
        fprintf(stderr, "aerie twin: give --global or --stream, not both\n");
        return 2;
    }
    if (!ae_ident_valid(vid)) {
        fprintf(stderr,
                "aerie twin: '%s' is not a vehicle id (one token of letters, digits, "
                "'_' or '-')\n",
                vid);
        return 2;
    }
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie twin: %s\n", err.msg);
        return 1;
    }
    json_t *twin = NULL;
    int rc = ae_twin_collect_from(c, stream, vid, &twin, &err);
    if (rc) {
        fprintf(stderr, "aerie twin: %s%s\n", err.msg,
                rc == AE_ENOENT ? " (create the hub streams with `aerie hub init`)" : "");
        return 1;
    }
    json_t *states = json_object_get(twin, "states");
    if (json_object_size(states) == 0) {
        fprintf(stderr,
                "aerie twin: no state stored for vehicle %s in env %s (is the vid "
                "right? see `aerie status`)\n",
                vid, c->env);
        json_decref(twin);
        if (c->json)
            printf("{}\n");
        return 1;
    }
    const char *name;
    json_t *doc;
    if (c->json) {
        /* Each state's payload under its name (what scripts read), and where and when each
         * value came from under "_meta". */
        json_t *obj = json_object(), *meta = json_object();
        json_object_foreach(states, name, doc)
        {
            json_object_set(obj, name, json_object_get(doc, "value"));
            json_object_set_new(meta, name,
                                json_pack("{s:O, s:O}", "source", json_object_get(doc, "source"),
                                          "event_time", json_object_get(doc, "event_time")));
        }
        json_object_set_new(obj, "_meta", meta);
        char *d = json_dumps(obj, AE_CLI_JSON_FLAGS | JSON_SORT_KEYS);
        printf("%s\n", d ? d : "{}");
        free(d);
        json_decref(obj);
    } else {
        json_object_foreach(states, name, doc)
        {
            int64_t et = 0;
            ae_parse_rfc3339(json_string_value(json_object_get(doc, "event_time")), &et);
            char age[32];
            print_age(et, age, sizeof age);
            char *d =
                json_dumps(json_object_get(doc, "value"), AE_CLI_JSON_FLAGS | JSON_ENCODE_ANY);
            bool live = strcmp(json_string_value(json_object_get(doc, "source")), "live") == 0;
            printf("%-10s %s (%s)%s  %s\n", name,
                   json_string_value(json_object_get(doc, "event_time")), age, live ? " live" : "",
                   d ? d : "");
            free(d);
        }
    }
    json_decref(twin);
    ae_cli_print_note(c, "twin");
    ae_cli_print_stats(c, "twin");
    return 0;
}

static int usage_status(void)
{
    fprintf(stderr, "usage: aerie status [--json [--history]] [--stale 30s] [--global] [--dir DIR "
                    "| --server URL] [--env ENV]\n"
                    "  --global: every vehicle of the fleet, from the fleet-wide aggregate\n"
                    "  --json --history: {\"vehicles\": [...], \"history\": [...]}, the HISTORY\n"
                    "  table's figures per stream as JSON (--json alone: the vehicles' array)\n");
    return 2;
}

void ae_status_print_table(json_t *all, FILE *f)
{
    if (json_array_size(all) == 0)
        return;
    fprintf(f, "%-16s %-8s %-10s %-8s %-8s %-14s %s\n", "VID", "STATE", "LAST SEEN", "BACKLOG",
            "BATTERY", "MODE", "POSITION");
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o)
    {
        char bl[24] = "-", bt[24] = "-", ps[96] = "-", age[32];
        json_t *backlog = json_object_get(o, "backlog_msgs");
        json_t *pct = json_object_get(o, "battery_pct");
        json_t *pos = json_object_get(o, "position");
        json_t *mode = json_object_get(o, "mode");
        if (json_is_integer(backlog))
            snprintf(bl, sizeof bl, "%lld", (long long)json_integer_value(backlog));
        if (json_is_number(pct))
            snprintf(bt, sizeof bt, "%.0f%%", json_number_value(pct));
        if (json_is_object(pos)) {
            json_t *alt = json_object_get(pos, "alt");
            int w =
                snprintf(ps, sizeof ps, "%.6f,%.6f", json_number_value(json_object_get(pos, "lat")),
                         json_number_value(json_object_get(pos, "lon")));
            if (alt && w > 0 && (size_t)w < sizeof ps)
                snprintf(ps + w, sizeof ps - (size_t)w, " alt %.1fm", json_number_value(alt));
        }
        int64_t seen = 0;
        const char *ss = json_string_value(json_object_get(o, "last_seen"));
        if (ss)
            ae_parse_rfc3339(ss, &seen);
        print_age(seen, age, sizeof age);
        char md[40] = "-";
        if (json_is_string(mode))
            snprintf(md, sizeof md, "%s%s", json_string_value(mode),
                     json_is_true(json_object_get(o, "armed")) ? "*" : "");
        bool online = json_is_true(json_object_get(o, "online"));
        fprintf(f, "%-16s %-8s %-10s %-8s %-8s %-14s %s\n",
                json_string_value(json_object_get(o, "vid")), online ? "online" : "offline", age,
                bl, bt, md, ps);
    }
}

/* Bytes the short way: "512 B", "3.4 MB", "2.2 GB"; negative as "unlimited". */
static void fmt_bytes(json_int_t b, char *out, size_t cap)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)b;
    int u = 0;
    if (b < 0) {
        snprintf(out, cap, "unlimited");
        return;
    }
    while (v >= 1000 && u < 4)
        v /= 1000, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* How much history the hub holds, per stream, and the limits it is kept under: the
 * operator's answer to "how far back can I replay, and when does the disk fill". One row
 * per stream with JetStream's own numbers: {"stream", "messages", "bytes", "max_bytes" (-1:
 * unlimited), "max_age_ns" (0: forever), "max_msgs_per_subject" (-1: unlimited), "oldest"
 * (RFC 3339, null when empty)}. The table and --json --history show these rows. */
static json_t *history_rows(ae_cli *c)
{
    json_t *streams = ae_fleet_streams_collect(c), *rows = json_array(), *one;
    size_t i;
    json_array_foreach(streams, i, one)
    {
        json_t *info = json_object_get(one, "info");
        json_t *cfg = json_object_get(info, "config"), *st = json_object_get(info, "state");
        json_int_t msgs = json_integer_value(json_object_get(st, "messages"));
        const char *oldest = json_string_value(json_object_get(st, "first_ts"));
        json_int_t per = json_integer_value(json_object_get(cfg, "max_msgs_per_subject"));
        json_array_append_new(
            rows, json_pack("{s:O, s:I, s:I, s:I, s:I, s:I, s:o}", "stream",
                            json_object_get(one, "stream"), "messages", msgs, "bytes",
                            json_integer_value(json_object_get(st, "bytes")), "max_bytes",
                            json_integer_value(json_object_get(cfg, "max_bytes")), "max_age_ns",
                            json_integer_value(json_object_get(cfg, "max_age")),
                            "max_msgs_per_subject", per > 0 ? per : (json_int_t)-1, "oldest",
                            oldest && msgs > 0 ? json_string(oldest) : json_null()));
    }
    json_decref(streams);
    return rows;
}

static void print_history(json_t *rows, FILE *f)
{
    size_t i;
    json_t *r;
    if (json_array_size(rows) > 0)
        fprintf(f, "\n%-16s %10s %10s %10s %8s %8s  %s\n", "HISTORY", "MESSAGES", "BYTES",
                "MAX BYTES", "MAX AGE", "PER SUBJ", "OLDEST");
    json_array_foreach(rows, i, r)
    {
        char bytes[24], max[24], age[24], per[24] = "-";
        fmt_bytes(json_integer_value(json_object_get(r, "bytes")), bytes, sizeof bytes);
        fmt_bytes(json_integer_value(json_object_get(r, "max_bytes")), max, sizeof max);
        ae_cli_fmt_duration(json_integer_value(json_object_get(r, "max_age_ns")), age, sizeof age);
        json_int_t ps = json_integer_value(json_object_get(r, "max_msgs_per_subject"));
        if (ps > 0)
            snprintf(per, sizeof per, "%lld", (long long)ps);
        const char *oldest = json_string_value(json_object_get(r, "oldest"));
        fprintf(f, "%-16s %10lld %10s %10s %8s %8s  %.19s\n",
                json_string_value(json_object_get(r, "stream")),
                (long long)json_integer_value(json_object_get(r, "messages")), bytes, max, age, per,
                oldest ? oldest : "-");
    }
}

int ae_cmd_status(ae_cli *c, int argc, char **argv)
{
    ae_err err = {0};
    int64_t stale = 30 * AE_NS_PER_SEC;
    bool stale_given = false, history_too = false;
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie status: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--stale") == 0 && i + 1 < argc) {
            if (ae_parse_duration(argv[i + 1], &stale) != 0 || stale <= 0) {
                fprintf(stderr, "aerie status: --stale %s: expected a duration\n", argv[i + 1]);
                return 2;
            }
            stale_given = true;
            i += 2;
            continue;
        }
        if (strcmp(argv[i], "--global") == 0) {
            c->global = true;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--history") == 0) {
            history_too = true;
            i++;
            continue;
        }
        fprintf(stderr, "aerie status: unexpected argument %s\n", argv[i]);
        return usage_status();
    }
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie status: %s\n", err.msg);
        return 1;
    }
    /* A local fleet's leaves report every 2 s, so it says how soon silence means offline. */
    if (!stale_given && c->fleet && !c->server && c->fleet->stale_ns > 0)
        stale = c->fleet->stale_ns;
    json_t *all = NULL;
    if (ae_status_collect(c, stale, &all, &err) != 0) {
        fprintf(stderr, "aerie status: %s\n", err.msg);
        return 1;
    }
    json_t *history = c->json && !history_too ? NULL : history_rows(c);
    if (c->json) {
        /* The array alone unless --history: scripts read it as it always was. */
        json_t *doc = history_too ? json_pack("{s:O, s:O}", "vehicles", all, "history", history)
                                  : json_incref(all);
        char *d = json_dumps(doc, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "[]");
        free(d);
        json_decref(doc);
    } else if (json_array_size(all) == 0) {
        printf("no vehicles known in env %s\n", c->env);
    } else {
        ae_status_print_table(all, stdout);
    }
    if (!c->json)
        print_history(history, stdout);
    json_decref(history);
    json_decref(all);
    ae_cli_print_note(c, "status");
    ae_cli_print_stats(c, "status");
    return 0;
}
