/* The twin and the fleet status, both from the hub streams (see cmd_twin.h).
 *
 * Which subjects exist comes from STREAM.INFO with a subjects filter: the server answers
 * from its per-subject index, so the cost does not grow with the number of messages. Each
 * value then costs one direct get `last_by_subj`, answered by any replica.
 *
 * Two sources per state: TWIN_STATE holds every value in order, and TWIN_LIVE the newest
 * value a vehicle leaf sent while its backlog was still draining after an outage
 * (`fleet.<env>.veh.<vid>.live.<name>`). The live value wins when its event time is newer,
 * so the twin shows the present while the history catches up; the output says which
 * source each value came from.
 *
 * `status` decides "online" from the vehicle leaf's own uplink report (FLEET_LINK, the
 * `fleet.<env>.veh.<vid>.link` subject): online when the newest report says so and is not
 * older than --stale (a leaf that died cannot say it went offline). Vehicles without link
 * reports count as online while their newest state message is fresh.
 *
 * ae_twin_collect and ae_status_collect build JSON documents that both the commands and the
 * dashboard (dashboard.c) render, so the two views never disagree. */
#include "cli/cmd_twin.h"
#include "cli/cmd_hub.h"
#include "common/ident.h"
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

static void sort_strings(char **v, int n)
{
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && strcmp(v[b - 1], v[b]) > 0; b--) {
            char *t = v[b];
            v[b] = v[b - 1];
            v[b - 1] = t;
        }
}

static void free_strings(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool in_list(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* One state value as the twin documents show it. */
static json_t *value_doc(natsMsg *m, const char *source)
{
    char et[48], st[48];
    ae_format_rfc3339(ae_cli_msg_event_ns(m), et, sizeof et);
    ae_format_rfc3339(ae_cli_msg_stored_ns(m), st, sizeof st);
    json_t *v = ae_cli_payload_json(natsMsg_GetData(m), natsMsg_GetDataLength(m));
    return json_pack("{s:o, s:s, s:s, s:s}", "value", v ? v : json_null(), "event_time", et,
                     "stored", st, "source", source);
}

/* The newer (by event time) of the state and live values of one subject; destroys the
 * other. Either may be NULL. *live tells which one was kept. */
static natsMsg *newer(natsMsg *state, natsMsg *live, bool *is_live)
{
    *is_live = false;
    if (!live)
        return state;
    /* The leaf stamps a live copy a moment after the record it copies, so an identical
     * payload means the stream has caught up: call that the stored value. */
    bool same = state && natsMsg_GetDataLength(state) == natsMsg_GetDataLength(live) &&
                memcmp(natsMsg_GetData(state), natsMsg_GetData(live),
                       (size_t)natsMsg_GetDataLength(live)) == 0;
    if (!state || (!same && ae_cli_msg_event_ns(live) > ae_cli_msg_event_ns(state))) {
        if (state)
            natsMsg_Destroy(state);
        *is_live = true;
        return live;
    }
    natsMsg_Destroy(live);
    return state;
}

int ae_twin_collect(ae_cli *c, const char *vid, json_t **out, ae_err *err)
{
    return ae_twin_collect_from(c, AE_STREAM_STATE, vid, out, err);
}

int ae_twin_collect_from(ae_cli *c, const char *stream, const char *vid, json_t **out, ae_err *err)
{
    char filter[256], lfilter[256];
    snprintf(filter, sizeof filter, "fleet.%s.veh.%s.state.>", c->env, vid);
    snprintf(lfilter, sizeof lfilter, "fleet.%s.veh.%s.live.>", c->env, vid);
    char **subs = NULL, **lsubs = NULL;
    int n = 0, ln = 0;
    int rc = ae_cli_stream_subjects(c, stream, filter, &subs, &n, NULL, NULL, err);
    if (rc)
        return rc;
    ae_err lerr = {0};
    /* A hub initialised before TWIN_LIVE existed simply has no live values. A copy of the
     * state stream (the global aggregate) has no live companion: it is read alone. */
    if (strcmp(stream, AE_STREAM_STATE) != 0 ||
        ae_cli_stream_subjects(c, AE_STREAM_LIVE, lfilter, &lsubs, &ln, NULL, NULL, &lerr) != 0)
        ln = 0;
    size_t sp = strlen(filter) - 1, lp = strlen(lfilter) - 1; /* "fleet.E.veh.V.state." */
    /* The names: every state subject plus live-only ones (a vehicle seen only live so far). */
    char **names = calloc((size_t)(n + ln + 1), sizeof *names);
    int nn = 0;
    for (int k = 0; k < n; k++)
        names[nn++] = strdup(subs[k] + sp);
    for (int k = 0; k < ln; k++)
        if (!in_list(names, nn, lsubs[k] + lp))
            names[nn++] = strdup(lsubs[k] + lp);
    sort_strings(names, nn);
    json_t *states = json_object();
    rc = 0;
    for (int k = 0; k < nn && rc == 0; k++) {
        char s1[512], s2[512];
        snprintf(s1, sizeof s1, "%.*s%s", (int)sp, filter, names[k]);
        snprintf(s2, sizeof s2, "%.*s%s", (int)lp, lfilter, names[k]);
        natsMsg *sm = NULL, *lm = NULL;
        ae_err e1 = {0};
        if (in_list(subs, n, s1) && ae_cli_direct_get(c, stream, 0, NULL, s1, &sm, &e1) != 0 &&
            e1.code != AE_ENOENT) /* aged out between the listing and the get: fine */
            rc = ae_err_set(err, e1.code, "%s", e1.msg);
        if (rc == 0 && in_list(lsubs, ln, s2))
            ae_cli_direct_get(c, AE_STREAM_LIVE, 0, NULL, s2, &lm, &e1);
        bool is_live;
        natsMsg *m = newer(sm, lm, &is_live);
        if (m) {
            json_object_set_new(states, names[k], value_doc(m, is_live ? "live" : "state"));
            natsMsg_Destroy(m);
        }
    }
    free_strings(names, nn);
    free_strings(subs, n);
    free_strings(lsubs, ln);
    if (rc) {
        json_decref(states);
        return rc;
    }
    *out = json_pack("{s:s, s:s, s:o}", "vid", vid, "env", c->env, "states", states);
    return 0;
}

static int usage_twin(void)
{
    fprintf(stderr, "usage: aerie twin VID [--json] [--dir DIR | --server URL] [--env ENV]\n"
                    "                 [--stream NAME]   (e.g. TWIN_STATE_ALL, the global "
                    "aggregate)\n");
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
    ae_cli_print_stats(c, "twin");
    return 0;
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

static void vids_from_subjects(char **subs, int ns, char ***vids, int *n, int *cap)
{
    for (int i = 0; i < ns; i++) {
        /* fleet . env . veh . VID . rest */
        const char *p = subs[i];
        for (int dots = 0; *p && dots < 3; p++)
            if (*p == '.')
                dots++;
        const char *e = strchr(p, '.');
        if (*p)
            add_vid(vids, n, cap, p, e ? (size_t)(e - p) : strlen(p));
    }
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

/* The newer of the stored and the live value of one state of a vehicle. */
static natsMsg *state_of(ae_cli *c, const char *vid, const char *name, char **live_subs, int nlive,
                         const char **source)
{
    char st[128], lv[256];
    snprintf(st, sizeof st, "state.%s", name);
    snprintf(lv, sizeof lv, "fleet.%s.veh.%s.live.%s", c->env, vid, name);
    natsMsg *sm = last_of(c, AE_STREAM_STATE, vid, st);
    natsMsg *lm = NULL;
    if (in_list(live_subs, nlive, lv)) {
        snprintf(st, sizeof st, "live.%s", name);
        lm = last_of(c, AE_STREAM_LIVE, vid, st);
    }
    bool is_live;
    natsMsg *m = newer(sm, lm, &is_live);
    *source = m ? (is_live ? "live" : "state") : NULL;
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

static json_t *msg_json(natsMsg *m)
{
    return m ? ae_cli_payload_json(natsMsg_GetData(m), natsMsg_GetDataLength(m)) : NULL;
}

int ae_status_collect(ae_cli *c, int64_t stale, json_t **out, ae_err *err)
{
    char **vids = NULL;
    int n = 0, cap = 0;
    if (c->fleet && !c->server)
        for (size_t i = 0; i < c->fleet->n_vehicles; i++)
            add_vid(&vids, &n, &cap, c->fleet->vehicles[i].vid, strlen(c->fleet->vehicles[i].vid));
    static const char *const streams[] = {AE_STREAM_LINK, AE_STREAM_STATE, AE_STREAM_LIVE};
    static const char *const suffix[] = {"link", "state.>", "live.>"};
    char **live_subs = NULL;
    int nlive = 0;
    for (int s = 0; s < 3; s++) {
        char filter[256];
        snprintf(filter, sizeof filter, "fleet.%s.veh.*.%s", c->env, suffix[s]);
        char **subs = NULL;
        int ns = 0;
        ae_err e = {0};
        int rc = ae_cli_stream_subjects(c, streams[s], filter, &subs, &ns, NULL, NULL, &e);
        if (rc == AE_ENOENT)
            continue; /* a missing stream just contributes no vehicles */
        if (rc) {
            free_strings(vids, n);
            return ae_err_set(err, rc, "%s", e.msg);
        }
        vids_from_subjects(subs, ns, &vids, &n, &cap);
        if (s == 2) {
            live_subs = subs;
            nlive = ns;
        } else {
            free_strings(subs, ns);
        }
    }
    sort_strings(vids, n);

    static const char *const pct_keys[] = {"remaining_pct",     "pct",   "percent", "remaining",
                                           "battery_remaining", "level", NULL};
    static const char *const alt_keys[] = {"alt",       "alt_m",   "alt_rel_m", "relative_alt",
                                           "alt_msl_m", "alt_msl", NULL};
    json_t *all = json_array();
    int64_t now = ae_now_ns();
    for (int i = 0; i < n; i++) {
        const char *vid = vids[i];
        const char *bsrc, *psrc, *hsrc;
        natsMsg *link = last_of(c, AE_STREAM_LINK, vid, "link");
        natsMsg *bat = state_of(c, vid, "battery", live_subs, nlive, &bsrc);
        natsMsg *pos = state_of(c, vid, "position", live_subs, nlive, &psrc);
        natsMsg *hb = state_of(c, vid, "heartbeat", live_subs, nlive, &hsrc);
        json_t *linkj = msg_json(link), *batj = msg_json(bat), *posj = msg_json(pos),
               *hbj = msg_json(hb);
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
        json_t *o = json_pack("{s:s, s:b}", "vid", vid, "online", online);
        if (seen) {
            char seen_s[48];
            ae_format_rfc3339(seen, seen_s, sizeof seen_s);
            json_object_set_new(o, "last_seen", json_string(seen_s));
        } else {
            json_object_set_new(o, "last_seen", json_null());
        }
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
        json_t *mode = json_object_get(hbj, "mode"), *armed = json_object_get(hbj, "armed");
        json_object_set_new(o, "mode", json_is_string(mode) ? json_copy(mode) : json_null());
        json_object_set_new(o, "armed", json_is_boolean(armed) ? json_copy(armed) : json_null());
        json_t *src = json_object();
        if (bsrc)
            json_object_set_new(src, "battery", json_string(bsrc));
        if (psrc)
            json_object_set_new(src, "position", json_string(psrc));
        if (hsrc)
            json_object_set_new(src, "heartbeat", json_string(hsrc));
        json_object_set_new(o, "sources", src);
        json_object_set(o, "link", linkj ? linkj : json_null());
        json_array_append_new(all, o);
        json_decref(linkj);
        json_decref(batj);
        json_decref(posj);
        json_decref(hbj);
        for (int k = 0; k < 4; k++)
            if (ms[k])
                natsMsg_Destroy(ms[k]);
    }
    free_strings(vids, n);
    free_strings(live_subs, nlive);
    *out = all;
    return 0;
}

static int usage_status(void)
{
    fprintf(stderr, "usage: aerie status [--json] [--stale 30s] [--dir DIR | --server URL] "
                    "[--env ENV]\n");
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

int ae_cmd_status(ae_cli *c, int argc, char **argv)
{
    ae_err err = {0};
    int64_t stale = 30 * AE_NS_PER_SEC;
    bool stale_given = false;
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
    if (c->json) {
        char *d = json_dumps(all, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "[]");
        free(d);
    } else if (json_array_size(all) == 0) {
        printf("no vehicles known in env %s\n", c->env);
    } else {
        ae_status_print_table(all, stdout);
    }
    json_decref(all);
    ae_cli_print_stats(c, "status");
    return 0;
}
