/* The collectors of the fleet's present state; see fleet_state.h. */
#include "cli/fleet_state.h"
#include "cli/copies.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the twin of one vehicle --------------------------------------------------------- */

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

/* The twin from the copies of the state (and live) stream: every state name any copy holds,
 * each the newest value by event time across the copies. */
static int twin_from(ae_cli *c, ae_copies *st, ae_copies *lv, const char *vid, json_t **out,
                     ae_err *err)
{
    char filter[256], lfilter[256];
    snprintf(filter, sizeof filter, "fleet.%s.veh.%s.state.>", c->env, vid);
    snprintf(lfilter, sizeof lfilter, "fleet.%s.veh.%s.live.>", c->env, vid);
    size_t sp = strlen(filter) - 1, lp = strlen(lfilter) - 1; /* "fleet.E.veh.V.state." */
    /* The names: every state subject of every copy, plus live-only ones (a vehicle seen only
     * live so far). */
    int total = 0;
    for (int i = 0; i < st->n; i++)
        total += st->v[i].n;
    for (int i = 0; i < lv->n; i++)
        total += lv->v[i].n;
    char **names = calloc((size_t)total + 1, sizeof *names);
    if (!names)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int nn = 0;
    for (int pass = 0; pass < 2; pass++) {
        ae_copies *cp = pass ? lv : st;
        size_t skip = pass ? lp : sp;
        for (int i = 0; i < cp->n; i++)
            for (int k = 0; k < cp->v[i].n; k++)
                if (!in_list(names, nn, cp->v[i].subjects[k] + skip))
                    names[nn++] = strdup(cp->v[i].subjects[k] + skip);
    }
    sort_strings(names, nn);
    /* Each name's stored and live value, read in one pipelined batch. */
    char(*subj)[2][256] = calloc((size_t)nn + 1, sizeof *subj);
    ae_copies_get *gets = calloc(2 * (size_t)nn + 1, sizeof *gets);
    int rc = subj && gets ? 0 : ae_err_set(err, AE_ENOMEM, "out of memory");
    for (int k = 0; k < nn && !rc; k++) {
        snprintf(subj[k][0], sizeof subj[k][0], "%.*s%s", (int)sp, filter, names[k]);
        snprintf(subj[k][1], sizeof subj[k][1], "%.*s%s", (int)lp, lfilter, names[k]);
        gets[2 * k] = (ae_copies_get){.cp = st, .subject = subj[k][0]};
        gets[2 * k + 1] = (ae_copies_get){.cp = lv, .subject = subj[k][1]};
    }
    if (!rc)
        rc = ae_copies_last_many(c, gets, 2 * (size_t)nn, err);
    json_t *states = json_object();
    for (int k = 0; k < nn && !rc; k++) {
        bool is_live;
        natsMsg *m = newer(gets[2 * k].msg, gets[2 * k + 1].msg, &is_live);
        if (m) {
            json_object_set_new(states, names[k], value_doc(m, is_live ? "live" : "state"));
            natsMsg_Destroy(m);
        }
    }
    free(gets);
    free(subj);
    free_strings(names, nn);
    if (rc) {
        json_decref(states);
        return rc;
    }
    *out = json_pack("{s:s, s:s, s:o}", "vid", vid, "env", c->env, "states", states);
    return 0;
}

int ae_twin_collect(ae_cli *c, const char *vid, json_t **out, ae_err *err)
{
    char filter[256], lfilter[256];
    snprintf(filter, sizeof filter, "fleet.%s.veh.%s.state.>", c->env, vid);
    snprintf(lfilter, sizeof lfilter, "fleet.%s.veh.%s.live.>", c->env, vid);
    ae_copies st, lv;
    ae_err lerr = {0};
    int rc = ae_copies_list(c, AE_STREAM_STATE, filter, &st, err);
    /* A hub initialised before TWIN_LIVE existed simply has no live values. */
    if (ae_copies_list(c, AE_STREAM_LIVE, lfilter, &lv, &lerr) != 0)
        ae_copies_free(&lv);
    if (!rc && !st.home_found)
        rc = ae_err_set(err, AE_ENOENT, "stream %s does not exist%s", AE_STREAM_STATE,
                        c->global ? " (for --global: `aerie hub init --global`)" : "");
    if (!rc)
        rc = twin_from(c, &st, &lv, vid, out, err);
    ae_copies_free(&st);
    ae_copies_free(&lv);
    return rc;
}

int ae_twin_collect_from(ae_cli *c, const char *stream, const char *vid, json_t **out, ae_err *err)
{
    if (strcmp(stream, AE_STREAM_STATE) == 0)
        return ae_twin_collect(c, vid, out, err);
    /* One named stream (a copy such as TWIN_STATE_ALL or a disaster-recovery copy), read
     * alone: no live companion, no fallback copies. */
    char filter[256];
    snprintf(filter, sizeof filter, "fleet.%s.veh.%s.state.>", c->env, vid);
    ae_copies st = {.n = 1}, lv = {0};
    ae_copy_listing *l = &st.v[0];
    snprintf(l->src.api, sizeof l->src.api, "%s", c->api_prefix);
    snprintf(l->src.stream, sizeof l->src.stream, "%s", stream);
    l->src.home = true;
    int rc = ae_cli_stream_subjects_at(c, &l->src, filter, &l->subjects, &l->n, NULL, NULL, err);
    if (rc == 0) {
        l->ok = true;
        st.home_found = true;
        sort_strings(l->subjects, l->n);
        rc = twin_from(c, &st, &lv, vid, out, err);
    }
    ae_copies_free(&st);
    return rc;
}

/* ---- the status of every vehicle ----------------------------------------------------- */

int64_t ae_status_stale_ns(const ae_cli *c, int64_t fallback)
{
    return c->fleet && !c->server && c->fleet->stale_ns > 0 ? c->fleet->stale_ns : fallback;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The vid token of a subject fleet.E.veh.VID.rest, copied; NULL when out of memory. */
static char *vid_of(const char *subject)
{
    const char *p = subject;
    for (int dots = 0; *p && dots < 3; p++)
        if (*p == '.')
            dots++;
    const char *e = strchr(p, '.');
    return *p ? strndup(p, e ? (size_t)(e - p) : strlen(p)) : NULL;
}

/* The vehicles to report: fleet.json's (a local fleet, or a region's view) and every vid the
 * home copies name, sorted, without repeats. Returns the count, or -1 when out of memory. */
static int list_vids(const ae_cli *c, const ae_copies *cps, int ncps, char ***out)
{
    size_t cap = 1;
    if (c->fleet && !c->server)
        cap += c->fleet->n_vehicles;
    for (int s = 0; s < ncps; s++)
        for (int k = 0; k < cps[s].n; k++)
            if (cps[s].v[k].src.home)
                cap += (size_t)cps[s].v[k].n;
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    size_t n = 0;
    if (c->fleet && !c->server)
        for (size_t i = 0; i < c->fleet->n_vehicles; i++)
            v[n++] = strdup(c->fleet->vehicles[i].vid);
    for (int s = 0; s < ncps; s++)
        for (int k = 0; k < cps[s].n; k++)
            for (int j = 0; cps[s].v[k].src.home && j < cps[s].v[k].n; j++)
                v[n++] = vid_of(cps[s].v[k].subjects[j]);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) /* drop the failed copies before sorting */
        if (v[i])
            v[w++] = v[i];
    n = w;
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_str);
    w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(v[w - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[w++] = v[i];
    }
    *out = v;
    return (int)w;
}

bool ae_status_link_draining(json_t *link)
{
    /* A record or two is always in flight; a backlog is draining when the oldest record the
     * leaf still holds is older than AE_DRAIN_LAG_NS (reports without that age: any). */
    json_t *backlog = json_object_get(link, "backlog_msgs");
    json_t *oldest = json_object_get(link, "backlog_oldest_s");
    return json_integer_value(backlog) > 0 &&
           (!json_is_number(oldest) || json_number_value(oldest) * 1e9 >= (double)AE_DRAIN_LAG_NS);
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

static json_t *time_or_null(int64_t ns)
{
    char s[48];
    return ns > 0 ? json_string(ae_format_rfc3339(ns, s, sizeof s)) : json_null();
}

/* What a vehicle's status is read from: its link report, and the stored and live value of
 * each of the three states the status shows. */
enum { G_LINK, G_BATTERY, G_POSITION, G_HEARTBEAT, G_PER_VEHICLE = 7 };
static const char *const state_names[] = {NULL, "battery", "position", "heartbeat"};

/* One vehicle's status object from its messages; takes (destroys) the messages. */
static json_t *vehicle_status(const char *vid, natsMsg *link, natsMsg *const stored[4],
                              natsMsg *const live[4], int64_t now, int64_t stale)
{
    natsMsg *m[4] = {link, NULL, NULL, NULL};
    const char *src[4] = {NULL, NULL, NULL, NULL};
    for (int k = G_BATTERY; k <= G_HEARTBEAT; k++) {
        bool is_live;
        m[k] = newer(stored[k], live[k], &is_live);
        src[k] = m[k] ? (is_live ? "live" : "state") : NULL;
    }
    json_t *linkj = msg_json(link), *batj = msg_json(m[G_BATTERY]), *posj = msg_json(m[G_POSITION]),
           *hbj = msg_json(m[G_HEARTBEAT]);
    /* "Last seen" is when the hub last heard anything from the vehicle: arrival times,
     * because late data carries old event times but still proves the link is up. */
    int64_t seen = 0, newest_event = 0;
    for (int k = 0; k < 4; k++) {
        if (m[k] && ae_cli_msg_stored_ns(m[k]) > seen)
            seen = ae_cli_msg_stored_ns(m[k]);
        if (k != G_LINK && m[k] && ae_cli_msg_event_ns(m[k]) > newest_event)
            newest_event = ae_cli_msg_event_ns(m[k]);
    }
    bool online = link ? json_is_true(json_object_get(linkj, "online")) &&
                             now - ae_cli_msg_stored_ns(link) <= stale
                       : seen > 0 && now - seen <= stale;
    json_t *backlog = json_object_get(linkj, "backlog_msgs");
    bool draining = ae_status_link_draining(linkj);
    const char *state = !online                                            ? "offline"
                        : draining                                         ? "draining"
                        : (newest_event > 0 && now - newest_event > stale) ? "stale"
                                                                           : "online";
    static const char *const pct_keys[] = {"remaining_pct",     "pct",   "percent", "remaining",
                                           "battery_remaining", "level", NULL};
    static const char *const alt_keys[] = {"alt",       "alt_m",   "alt_rel_m", "relative_alt",
                                           "alt_msl_m", "alt_msl", NULL};
    json_t *pct = json_is_object(batj) ? first_number(batj, pct_keys) : NULL;
    json_t *lat = json_object_get(posj, "lat"), *lon = json_object_get(posj, "lon");
    json_t *alt = json_is_object(posj) ? first_number(posj, alt_keys) : NULL;
    json_t *hdg = json_object_get(posj, "heading_deg");
    json_t *o = json_pack("{s:s, s:b, s:s, s:o}", "vid", vid, "online", online, "state", state,
                          "last_seen", time_or_null(seen));
    json_object_set_new(o, "backlog_msgs",
                        json_is_integer(backlog) ? json_copy(backlog) : json_null());
    json_object_set_new(o, "battery_pct", pct ? json_copy(pct) : json_null());
    if (json_is_number(lat) && json_is_number(lon)) {
        json_t *p = json_pack("{s:O, s:O}", "lat", lat, "lon", lon);
        if (alt)
            json_object_set(p, "alt", alt);
        json_object_set_new(o, "position", p);
        json_object_set_new(o, "position_time", time_or_null(ae_cli_msg_event_ns(m[G_POSITION])));
    } else {
        json_object_set_new(o, "position", json_null());
        json_object_set_new(o, "position_time", json_null());
    }
    json_object_set_new(o, "heading_deg", json_is_number(hdg) ? json_copy(hdg) : json_null());
    static const char *const hb_keys[] = {"mode", "armed", "autopilot"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(hbj, hb_keys[k]);
        json_object_set_new(o, hb_keys[k],
                            json_is_string(v) || json_is_boolean(v) ? json_copy(v) : json_null());
    }
    json_t *sources = json_object();
    for (int k = G_BATTERY; k <= G_HEARTBEAT; k++)
        if (src[k])
            json_object_set_new(sources, state_names[k], json_string(src[k]));
    json_object_set_new(o, "sources", sources);
    json_object_set(o, "link", linkj ? linkj : json_null());
    json_decref(linkj);
    json_decref(batj);
    json_decref(posj);
    json_decref(hbj);
    for (int k = 0; k < 4; k++)
        natsMsg_Destroy(m[k]);
    return o;
}

int ae_status_collect(ae_cli *c, int64_t stale, json_t **out, ae_err *err)
{
    return ae_status_collect_window(c, stale, 0, out, err);
}

int ae_status_collect_window(ae_cli *c, int64_t stale, int window, json_t **out, ae_err *err)
{
    /* The link reports, the states and the live values, each listed across its copies; the
     * vehicles are those the home copies know (a fallback region's copy also holds that
     * region's own vehicles, which are not this region's). */
    static const char *const streams[] = {AE_STREAM_LINK, AE_STREAM_STATE, AE_STREAM_LIVE};
    static const char *const suffix[] = {"link", "state.>", "live.>"};
    ae_copies cps[3];
    memset(cps, 0, sizeof cps);
    char **vids = NULL;
    int n = 0, rc = 0;
    for (int s = 0; s < 3 && !rc; s++) {
        char filter[256];
        snprintf(filter, sizeof filter, "fleet.%s.veh.*.%s", c->env, suffix[s]);
        rc = ae_copies_list(c, streams[s], filter, &cps[s], err);
    }
    if (!rc && (n = list_vids(c, cps, 3, &vids)) < 0)
        rc = ae_err_set(err, AE_ENOMEM, "out of memory listing vehicles");
    /* Every message wanted, of every vehicle, in one pipelined batch. */
    size_t ng = (size_t)(n > 0 ? n : 0) * G_PER_VEHICLE;
    ae_copies_get *gets = rc ? NULL : calloc(ng + 1, sizeof *gets);
    char(*subj)[200] = rc ? NULL : calloc(ng + 1, sizeof *subj);
    if (!rc && (!gets || !subj))
        rc = ae_err_set(err, AE_ENOMEM, "out of memory reading %d vehicles", n);
    for (int i = 0; i < n && !rc; i++) {
        ae_copies_get *g = &gets[(size_t)i * G_PER_VEHICLE];
        char(*sj)[200] = &subj[(size_t)i * G_PER_VEHICLE];
        snprintf(sj[0], sizeof sj[0], "fleet.%s.veh.%s.link", c->env, vids[i]);
        g[0] = (ae_copies_get){.cp = &cps[0], .subject = sj[0]};
        for (int k = G_BATTERY; k <= G_HEARTBEAT; k++) {
            snprintf(sj[k], sizeof sj[k], "fleet.%s.veh.%s.state.%s", c->env, vids[i],
                     state_names[k]);
            snprintf(sj[k + 3], sizeof sj[k + 3], "fleet.%s.veh.%s.live.%s", c->env, vids[i],
                     state_names[k]);
            g[k] = (ae_copies_get){.cp = &cps[1], .subject = sj[k]};
            g[k + 3] = (ae_copies_get){.cp = &cps[2], .subject = sj[k + 3]};
        }
    }
    if (!rc)
        rc = ae_copies_last_many_window(c, gets, ng, window, err);
    json_t *all = rc ? NULL : json_array();
    int64_t now = ae_now_ns();
    for (int i = 0; i < n && !rc; i++) {
        ae_copies_get *g = &gets[(size_t)i * G_PER_VEHICLE];
        natsMsg *stored[4] = {NULL, g[1].msg, g[2].msg, g[3].msg};
        natsMsg *live[4] = {NULL, g[4].msg, g[5].msg, g[6].msg};
        json_array_append_new(all, vehicle_status(vids[i], g[0].msg, stored, live, now, stale));
    }
    free(gets);
    free(subj);
    for (int i = 0; i < n; i++)
        free(vids[i]);
    free(vids);
    for (int k = 0; k < 3; k++)
        ae_copies_free(&cps[k]);
    if (rc)
        return rc;
    *out = all;
    return 0;
}
