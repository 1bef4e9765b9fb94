/* The twin and the fleet status, both from the hub streams (see cmd_twin.h).
 *
 * Which subjects exist comes from STREAM.INFO with a subjects filter: the server answers
 * from its per-subject index, so the cost does not grow with the number of messages. Each
 * value then costs one direct get `last_by_subj`, answered by any replica.
 *
 * `status` decides "online" from the vehicle leaf's own uplink report (FLEET_LINK, the
 * `fleet.<env>.veh.<vid>.link` subject): online when the newest report says so and is not
 * older than --stale (a leaf that died cannot say it went offline). Vehicles without link
 * reports count as online while their newest state message is fresh. */
#include "cli/cmd_twin.h"
#include "cli/cmd_hub.h"
#include "common/timeutil.h"

#include <math.h>
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
    fprintf(stderr, "usage: aerie twin VID [--json] [--dir DIR | --server URL] [--env ENV]\n");
    return 2;
}

int ae_cmd_twin(ae_cli *c, int argc, char **argv)
{
    ae_err err = {0};
    const char *vid = NULL;
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie twin: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (argv[i][0] == '-' || vid) {
            fprintf(stderr, "aerie twin: unexpected argument %s\n", argv[i]);
            return usage_twin();
        }
        vid = argv[i++];
    }
    if (!vid)
        return usage_twin();
    if (!ae_cli_valid_token(vid)) {
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
    char filter[256];
    snprintf(filter, sizeof filter, "fleet.%s.veh.%s.state.>", c->env, vid);
    char **subs = NULL;
    int n = 0;
    int rc = ae_cli_stream_subjects(c, AE_STREAM_STATE, filter, &subs, &n, NULL, NULL, &err);
    if (rc) {
        fprintf(stderr, "aerie twin: %s%s\n", err.msg,
                rc == AE_ENOENT ? " (create the hub streams with `aerie hub init`)" : "");
        return 1;
    }
    if (n == 0) {
        fprintf(stderr,
                "aerie twin: no state stored for vehicle %s in env %s (is the vid "
                "right? see `aerie status`)\n",
                vid, c->env);
        free(subs);
        if (c->json)
            printf("{}\n");
        return 1;
    }
    /* Stable output: sort state names. */
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && strcmp(subs[b - 1], subs[b]) > 0; b--) {
            char *t = subs[b];
            subs[b] = subs[b - 1];
            subs[b - 1] = t;
        }
    size_t prefix = strlen(filter) - 1; /* "fleet.E.veh.V.state." */
    json_t *obj = json_object();
    int exit_code = 0;
    for (int k = 0; k < n; k++) {
        natsMsg *m = NULL;
        const char *name = subs[k] + prefix;
        if (ae_cli_direct_get(c, AE_STREAM_STATE, 0, NULL, subs[k], &m, &err) != 0) {
            /* Aged out between the listing and the get: not an error for a twin. */
            if (err.code != AE_ENOENT) {
                fprintf(stderr, "aerie twin: %s\n", err.msg);
                exit_code = 1;
            }
            continue;
        }
        json_t *val = ae_cli_payload_json(natsMsg_GetData(m), natsMsg_GetDataLength(m));
        if (c->json) {
            json_object_set_new(obj, name, val);
        } else {
            char ts[48], age[32];
            int64_t et = ae_cli_msg_event_ns(m);
            ae_format_rfc3339(et, ts, sizeof ts);
            print_age(et, age, sizeof age);
            char *d = json_dumps(val, AE_CLI_JSON_FLAGS | JSON_ENCODE_ANY);
            printf("%-10s %s (%s)  %s\n", name, ts, age, d ? d : "");
            free(d);
            json_decref(val);
        }
        natsMsg_Destroy(m);
    }
    if (c->json) {
        char *d = json_dumps(obj, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "{}");
        free(d);
    }
    json_decref(obj);
    for (int k = 0; k < n; k++)
        free(subs[k]);
    free(subs);
    ae_cli_print_stats(c, "twin");
    return exit_code;
}

/* ---- status ------------------------------------------------------------------------- */

/* Adds the vid token of `subject` (fleet.E.veh.VID....) to the list if new. */
static void add_vid(char ***vids, int *n, int *cap, const char *vid, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen((*vids)[i]) == len && strncmp((*vids)[i], vid, len) == 0)
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        char **nv = realloc(*vids, (size_t)*cap * sizeof *nv);
        if (!nv)
            return;
        *vids = nv;
    }
    (*vids)[(*n)++] = strndup(vid, len);
}

static void vids_from_subjects(ae_cli *c, const char *stream, const char *filter, char ***vids,
                               int *n, int *cap)
{
    char **subs = NULL;
    int ns = 0;
    ae_err err = {0};
    if (ae_cli_stream_subjects(c, stream, filter, &subs, &ns, NULL, NULL, &err) != 0)
        return; /* a missing stream just contributes no vehicles */
    for (int i = 0; i < ns; i++) {
        /* fleet . env . veh . VID . rest */
        const char *p = subs[i];
        for (int dots = 0; *p && dots < 3; p++)
            if (*p == '.')
                dots++;
        const char *e = strchr(p, '.');
        if (*p)
            add_vid(vids, n, cap, p, e ? (size_t)(e - p) : strlen(p));
        free(subs[i]);
    }
    free(subs);
}

/* The newest message of one subject, or NULL. */
static natsMsg *last_of(ae_cli *c, const char *stream, const char *vid, const char *suffix)
{
    char subj[256];
    snprintf(subj, sizeof subj, "fleet.%s.veh.%s.%s", c->env, vid, suffix);
    natsMsg *m = NULL;
    ae_err err = {0};
    if (ae_cli_direct_get(c, stream, 0, NULL, subj, &m, &err) != 0)
        return NULL;
    return m;
}

static json_t *first_number(json_t *obj, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(obj, *keys);
        if (json_is_number(v))
            return v;
    }
    return NULL;
}

static int usage_status(void)
{
    fprintf(stderr, "usage: aerie status [--json] [--stale 30s] [--dir DIR | --server URL] "
                    "[--env ENV]\n");
    return 2;
}

int ae_cmd_status(ae_cli *c, int argc, char **argv)
{
    ae_err err = {0};
    int64_t stale = 30 * AE_NS_PER_SEC;
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
            i += 2;
            continue;
        }
        fprintf(stderr, "aerie status: unexpected argument %s\n", argv[i]);
        return usage_status();
    }
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie status: %s\n", err.msg);
        return 1;
    }
    char **vids = NULL;
    int n = 0, cap = 0;
    if (c->fleet && !c->server)
        for (size_t i = 0; i < c->fleet->n_vids; i++)
            add_vid(&vids, &n, &cap, c->fleet->vids[i], strlen(c->fleet->vids[i]));
    char filter[256];
    snprintf(filter, sizeof filter, "fleet.%s.veh.*.link", c->env);
    vids_from_subjects(c, AE_STREAM_LINK, filter, &vids, &n, &cap);
    snprintf(filter, sizeof filter, "fleet.%s.veh.*.state.>", c->env);
    vids_from_subjects(c, AE_STREAM_STATE, filter, &vids, &n, &cap);
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && strcmp(vids[b - 1], vids[b]) > 0; b--) {
            char *t = vids[b];
            vids[b] = vids[b - 1];
            vids[b - 1] = t;
        }

    static const char *const pct_keys[] = {
        "pct", "percent", "remaining_pct", "remaining", "battery_remaining", "level", NULL};
    static const char *const alt_keys[] = {"alt", "alt_m", "alt_msl", "relative_alt", NULL};
    json_t *all = json_array();
    int64_t now = ae_now_ns();
    if (!c->json && n > 0)
        printf("%-16s %-8s %-10s %-8s %-8s %s\n", "VID", "STATE", "LAST SEEN", "BACKLOG", "BATTERY",
               "POSITION");
    for (int i = 0; i < n; i++) {
        const char *vid = vids[i];
        natsMsg *link = last_of(c, AE_STREAM_LINK, vid, "link");
        natsMsg *bat = last_of(c, AE_STREAM_STATE, vid, "state.battery");
        natsMsg *pos = last_of(c, AE_STREAM_STATE, vid, "state.position");
        natsMsg *hb = last_of(c, AE_STREAM_STATE, vid, "state.heartbeat");
        json_t *linkj =
            link ? ae_cli_payload_json(natsMsg_GetData(link), natsMsg_GetDataLength(link)) : NULL;
        json_t *batj =
            bat ? ae_cli_payload_json(natsMsg_GetData(bat), natsMsg_GetDataLength(bat)) : NULL;
        json_t *posj =
            pos ? ae_cli_payload_json(natsMsg_GetData(pos), natsMsg_GetDataLength(pos)) : NULL;
        /* "Last seen" is when the hub last heard anything from the vehicle: arrival times,
         * because late data carries old event times but still proves the link is up. */
        int64_t seen = 0;
        natsMsg *ms[] = {link, bat, pos, hb};
        for (int k = 0; k < 4; k++)
            if (ms[k] && ae_cli_msg_stored_ns(ms[k]) > seen)
                seen = ae_cli_msg_stored_ns(ms[k]);
        bool online;
        if (link) {
            online = json_is_true(json_object_get(linkj, "online")) &&
                     now - ae_cli_msg_stored_ns(link) <= stale;
        } else {
            online = seen > 0 && now - seen <= stale;
        }
        json_t *backlog = json_object_get(linkj, "backlog_msgs");
        json_t *pct = json_is_object(batj) ? first_number(batj, pct_keys) : NULL;
        json_t *lat = json_object_get(posj, "lat"), *lon = json_object_get(posj, "lon");
        json_t *alt = json_is_object(posj) ? first_number(posj, alt_keys) : NULL;
        char seen_s[48] = "", age[32];
        if (seen)
            ae_format_rfc3339(seen, seen_s, sizeof seen_s);
        print_age(seen, age, sizeof age);
        if (c->json) {
            json_t *o = json_pack("{s:s, s:b}", "vid", vid, "online", online);
            json_object_set_new(o, "last_seen", seen ? json_string(seen_s) : json_null());
            json_object_set_new(o, "backlog_msgs",
                                json_is_integer(backlog) ? json_copy(backlog) : json_null());
            json_object_set_new(o, "battery_pct", pct ? json_copy(pct) : json_null());
            if (json_is_number(lat) && json_is_number(lon)) {
                json_t *p = json_pack("{s:O, s:O}", "lat", lat, "lon", lon);
                if (alt)
                    json_object_set(p, "alt", alt);
                json_object_set_new(o, "position", p);
            } else {
                json_object_set_new(o, "position", json_null());
            }
            json_object_set(o, "link", linkj ? linkj : json_null());
            json_array_append_new(all, o);
        } else {
            char bl[24] = "-", bt[24] = "-", ps[96] = "-";
            if (json_is_integer(backlog))
                snprintf(bl, sizeof bl, "%lld", (long long)json_integer_value(backlog));
            if (pct)
                snprintf(bt, sizeof bt, "%.0f%%", json_number_value(pct));
            if (json_is_number(lat) && json_is_number(lon)) {
                int w = snprintf(ps, sizeof ps, "%.6f,%.6f", json_number_value(lat),
                                 json_number_value(lon));
                if (alt && w > 0 && (size_t)w < sizeof ps)
                    snprintf(ps + w, sizeof ps - (size_t)w, " alt %.1fm", json_number_value(alt));
            }
            printf("%-16s %-8s %-10s %-8s %-8s %s\n", vid, online ? "online" : "offline", age, bl,
                   bt, ps);
        }
        json_decref(linkj);
        json_decref(batj);
        json_decref(posj);
        for (int k = 0; k < 4; k++)
            if (ms[k])
                natsMsg_Destroy(ms[k]);
        free(vids[i]);
    }
    free(vids);
    if (c->json) {
        char *d = json_dumps(all, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "[]");
        free(d);
    } else if (n == 0) {
        printf("no vehicles known in env %s\n", c->env);
    }
    json_decref(all);
    ae_cli_print_stats(c, "status");
    return 0;
}
