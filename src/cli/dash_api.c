/* The dashboard's JSON endpoints; see dash_api.h. */
#include "cli/dash_api.h"
#include "cli/cmd_cmd.h"
#include "cli/cmd_replay.h"
#include "cli/cmdlog.h"
#include "cli/fleet_state.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The vehicle id of a /api/x/VID path; replies 400 and returns NULL when it is not one. */
static const char *vid_arg(ae_dash_req *r)
{
    if (!ae_ident_valid(r->rest)) {
        ae_dash_reply_error(r, MHD_HTTP_BAD_REQUEST,
                            "'%.80s' is not a vehicle id (one token of letters, digits, '_' or "
                            "'-')",
                            r->rest);
        return NULL;
    }
    return r->rest;
}

static unsigned http_code_of(int rc)
{
    return rc == AE_ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_GATEWAY;
}

/* ---- the fleet poll -------------------------------------------------------------------- */

/* A fresh collection into d->poll_doc, unless the last one is recent. Holds poll_mu. */
static int refresh_poll(ae_dash *d, ae_err *err)
{
    int64_t now = ae_mono_ns();
    if (d->poll_doc && now - d->poll_at < d->poll_ttl_ns)
        return 0;
    ae_cli *c = ae_dash_conn_lock(&d->reads, err);
    if (!c)
        return AE_EIO;
    json_t *st = NULL;
    int64_t t0 = ae_mono_ns();
    int rc = ae_status_collect(c, d->stale_ns, &st, err);
    int64_t t1 = ae_mono_ns();
    snprintf(d->poll_note, sizeof d->poll_note, "%s", c->note);
    ae_dash_conn_unlock(&d->reads, NULL);
    if (rc)
        return rc;
    /* The page needs no raw link report; it makes 1,000 vehicles' poll a third smaller. */
    size_t i;
    json_t *v;
    json_array_foreach(st, i, v) json_object_del(v, "link");
    ae_dash_tracks_add(&d->tracks, st);
    json_decref(d->poll_doc);
    d->poll_doc = st;
    d->poll_at = t1;
    d->poll_took_ms = (double)(t1 - t0) / 1e6;
    return 0;
}

enum MHD_Result ae_dash_api_fleet(ae_dash_req *r)
{
    ae_dash *d = r->d;
    ae_err err = {0};
    const char *tracks = ae_dash_arg(r, "tracks");
    pthread_mutex_lock(&d->poll_mu);
    int rc = refresh_poll(d, &err);
    json_t *doc = NULL;
    if (!rc) {
        const char *env = d->reads.c.env ? d->reads.c.env : "prod";
        doc = json_pack("{s:s, s:f, s:f, s:O}", "env", env, "stale_s", (double)d->stale_ns / 1e9,
                        "collect_ms", d->poll_took_ms, "vehicles", d->poll_doc);
        if (tracks && strcmp(tracks, "1") == 0)
            json_object_set_new(doc, "tracks", ae_dash_tracks_json(&d->tracks));
        snprintf(r->note, sizeof r->note, "%s", d->poll_note);
    }
    pthread_mutex_unlock(&d->poll_mu);
    if (rc)
        return ae_dash_reply_error(r, rc == AE_EIO ? MHD_HTTP_SERVICE_UNAVAILABLE : 502, "%s",
                                   err.msg);
    return ae_dash_reply_json(r, MHD_HTTP_OK, doc);
}

enum MHD_Result ae_dash_api_status(ae_dash_req *r)
{
    ae_err err = {0};
    ae_cli *c = ae_dash_conn_lock(&r->d->reads, &err);
    if (!c)
        return ae_dash_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    json_t *st = NULL;
    int rc = ae_status_collect(c, r->d->stale_ns, &st, &err);
    ae_dash_conn_unlock(&r->d->reads, r);
    if (rc)
        return ae_dash_reply_error(r, MHD_HTTP_BAD_GATEWAY, "%s", err.msg);
    return ae_dash_reply_json(r, MHD_HTTP_OK, st);
}

enum MHD_Result ae_dash_api_twin(ae_dash_req *r)
{
    const char *vid = vid_arg(r);
    if (!vid)
        return MHD_YES;
    ae_err err = {0};
    ae_cli *c = ae_dash_conn_lock(&r->d->reads, &err);
    if (!c)
        return ae_dash_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    json_t *tw = NULL;
    int rc = ae_twin_collect(c, vid, &tw, &err);
    ae_dash_conn_unlock(&r->d->reads, r);
    if (rc)
        return ae_dash_reply_error(r, http_code_of(rc), "%s", err.msg);
    if (json_object_size(json_object_get(tw, "states")) == 0) {
        json_decref(tw);
        return ae_dash_reply_error(r, MHD_HTTP_NOT_FOUND, "no state stored for vehicle %s", vid);
    }
    return ae_dash_reply_json(r, MHD_HTTP_OK, tw);
}

/* ---- replays --------------------------------------------------------------------------- */

/* The window's start from ?since= (default 10 minutes ago). Replies 400 on a bad one. */
static bool since_arg(ae_dash_req *r, int64_t *start_ns)
{
    const char *since = ae_dash_arg(r, "since");
    int64_t ago = 10 * 60 * AE_NS_PER_SEC;
    if (since && (ae_parse_duration(since, &ago) != 0 || ago <= 0)) {
        ae_dash_reply_error(r, MHD_HTTP_BAD_REQUEST, "since: expected a duration such as 10m");
        return false;
    }
    *start_ns = ae_now_ns() - ago;
    return true;
}

static long max_arg(ae_dash_req *r, long dflt, long top)
{
    const char *s = ae_dash_arg(r, "max");
    long max = s ? strtol(s, NULL, 10) : dflt;
    return max <= 0 || max > top ? dflt : max;
}

typedef struct collect {
    json_t *arr;
    long max;
    /* Turns one replayed message into an array entry; NULL skips it. */
    json_t *(*entry)(const ae_replay_item *it, json_t *payload);
} collect;

static int collect_msg(void *ctx, const ae_replay_item *it, ae_err *err)
{
    collect *k = ctx;
    json_t *payload = ae_cli_payload_json(natsMsg_GetData(it->msg), natsMsg_GetDataLength(it->msg));
    json_t *e = k->entry(it, payload);
    json_decref(payload);
    if (e)
        json_array_append_new(k->arr, e);
    if ((long)json_array_size(k->arr) >= k->max)
        return ae_err_set(err, AE_ELIMIT, "max reached");
    return 0;
}

/* `aerie replay --json`'s line, less the stream. */
static json_t *message_entry(const ae_replay_item *it, json_t *payload)
{
    char ts[48];
    ae_format_rfc3339(it->event_ns, ts, sizeof ts);
    return json_pack("{s:s, s:s, s:I, s:O}", "subject", it->subject, "event_time", ts, "seq",
                     (json_int_t)it->seq, "payload", payload);
}

/* Replays vid's filter into k; returns 0 (also when k->max was reached: *truncated) or the
 * replay's error. */
static int replay_into(ae_cli *c, const char *vid, const char *filter, int64_t start_ns, collect *k,
                       bool *truncated, ae_err *err)
{
    int subjects = 0;
    long searched = 0;
    int rc = ae_replay_each(c, vid, filter, start_ns, INT64_MAX, collect_msg, k, &subjects,
                            &searched, err);
    if (rc == AE_ELIMIT) {
        *truncated = true;
        return 0;
    }
    return rc;
}

enum MHD_Result ae_dash_api_replay(ae_dash_req *r)
{
    const char *vid = vid_arg(r);
    int64_t start = 0;
    if (!vid || !since_arg(r, &start))
        return MHD_YES;
    const char *subject = ae_dash_arg(r, "subject");
    if (!subject)
        subject = "state.>";
    if (strncmp(subject, "fleet.", 6) == 0 || strpbrk(subject, " \t\r\n"))
        return ae_dash_reply_error(r, MHD_HTTP_BAD_REQUEST,
                                   "subject: a filter relative to the vehicle, e.g. "
                                   "state.battery");
    collect k = {.arr = json_array(), .max = max_arg(r, 2000, 20000), .entry = message_entry};
    ae_err err = {0};
    ae_cli *c = ae_dash_conn_lock(&r->d->history, &err);
    if (!c) {
        json_decref(k.arr);
        return ae_dash_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    }
    bool truncated = false;
    int rc = replay_into(c, vid, subject, start, &k, &truncated, &err);
    ae_dash_conn_unlock(&r->d->history, r);
    if (rc) {
        json_decref(k.arr);
        return ae_dash_reply_error(r, http_code_of(rc), "%s", err.msg);
    }
    return ae_dash_reply_json(r, MHD_HTTP_OK,
                              json_pack("{s:s, s:s, s:o, s:b}", "vid", vid, "subject", subject,
                                        "messages", k.arr, "truncated", truncated));
}

static json_int_t event_ms(const ae_replay_item *it)
{
    return (json_int_t)(it->event_ns / AE_NS_PER_MS);
}

/* [t_ms, lat, lon, alt_rel_m|null] */
static json_t *position_entry(const ae_replay_item *it, json_t *p)
{
    json_t *lat = json_object_get(p, "lat"), *lon = json_object_get(p, "lon");
    if (!json_is_number(lat) || !json_is_number(lon))
        return NULL;
    json_t *alt = json_object_get(p, "alt_rel_m");
    return json_pack("[I, O, O, O]", event_ms(it), lat, lon,
                     json_is_number(alt) ? alt : json_null());
}

/* [t_ms, mode|null, armed|null] */
static json_t *heartbeat_entry(const ae_replay_item *it, json_t *p)
{
    json_t *mode = json_object_get(p, "mode"), *armed = json_object_get(p, "armed");
    return json_pack("[I, O, O]", event_ms(it), json_is_string(mode) ? mode : json_null(),
                     json_is_boolean(armed) ? armed : json_null());
}

/* [t_ms, online, backlog_msgs|null, draining] (draining as the live status decides it) */
static json_t *link_entry(const ae_replay_item *it, json_t *p)
{
    json_t *backlog = json_object_get(p, "backlog_msgs");
    return json_pack("[I, b, O, b]", event_ms(it), json_is_true(json_object_get(p, "online")),
                     json_is_integer(backlog) ? backlog : json_null(), ae_status_link_draining(p));
}

enum MHD_Result ae_dash_api_history(ae_dash_req *r)
{
    const char *vid = vid_arg(r);
    int64_t start = 0;
    if (!vid || !since_arg(r, &start))
        return MHD_YES;
    long max = max_arg(r, 20000, 100000);
    static const char *const filters[] = {"state.position", "state.heartbeat", "link"};
    static const char *const keys[] = {"positions", "heartbeats", "links"};
    json_t *(*const entries[])(const ae_replay_item *, json_t *) = {position_entry, heartbeat_entry,
                                                                    link_entry};
    ae_err err = {0};
    ae_cli *c = ae_dash_conn_lock(&r->d->history, &err);
    if (!c)
        return ae_dash_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    char since_s[48];
    json_t *doc = json_pack("{s:s, s:s}", "vid", vid, "since",
                            ae_format_rfc3339(start, since_s, sizeof since_s));
    bool truncated = false;
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        collect k = {.arr = json_array(), .max = max, .entry = entries[i]};
        rc = replay_into(c, vid, filters[i], start, &k, &truncated, &err);
        json_object_set_new(doc, keys[i], k.arr);
    }
    ae_dash_conn_unlock(&r->d->history, r);
    if (rc) {
        json_decref(doc);
        return ae_dash_reply_error(r, http_code_of(rc), "%s", err.msg);
    }
    json_object_set_new(doc, "truncated", json_boolean(truncated));
    return ae_dash_reply_json(r, MHD_HTTP_OK, doc);
}

/* ---- commands -------------------------------------------------------------------------- */

enum MHD_Result ae_dash_api_pending(ae_dash_req *r)
{
    const char *vid = vid_arg(r);
    if (!vid)
        return MHD_YES;
    ae_err err = {0};
    ae_cli *c = ae_dash_conn_lock(&r->d->reads, &err);
    if (!c)
        return ae_dash_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    json_t *list = NULL;
    int rc = ae_cmdlog_pending(c, vid, &list, &err);
    ae_dash_conn_unlock(&r->d->reads, r);
    if (rc == AE_ENOENT) /* a hub without FLEET_CMD holds no commands */
        return ae_dash_reply_json(r, MHD_HTTP_OK, json_array());
    if (rc)
        return ae_dash_reply_error(r, MHD_HTTP_BAD_GATEWAY, "%s", err.msg);
    return ae_dash_reply_json(r, MHD_HTTP_OK, list);
}

/* The page's commands, as `aerie cmd` arguments: hold is the loiter mode, which PX4 and
 * ArduPilot both call LOITER. */
static json_t *command_body(const char *cmd, const char **name)
{
    if (strcmp(cmd, "rtl") == 0 || strcmp(cmd, "land") == 0) {
        *name = cmd;
        return json_object();
    }
    if (strcmp(cmd, "hold") == 0) {
        *name = "mode";
        return json_pack("{s:s}", "mode", "LOITER");
    }
    return NULL;
}

enum MHD_Result ae_dash_api_cmd(ae_dash_req *r)
{
    json_error_t je;
    json_t *in = json_loadb(r->body, r->body_len, 0, &je);
    const char *vid = json_string_value(json_object_get(in, "vid"));
    const char *cmd = json_string_value(json_object_get(in, "command"));
    const char *name = NULL;
    json_t *body = cmd ? command_body(cmd, &name) : NULL;
    if (!vid || !ae_ident_valid(vid) || !body) {
        json_decref(in);
        json_decref(body);
        return ae_dash_reply_error(r, MHD_HTTP_BAD_REQUEST,
                                   "expected {\"vid\":\"VID-001\",\"command\":\"rtl\"|\"land\"|"
                                   "\"hold\"}");
    }
    char actor[300], host[128] = "?";
    gethostname(host, sizeof host - 1);
    snprintf(actor, sizeof actor, "%s@dashboard on %s", r->user ? r->user : "local", host);
    json_t *extra = json_pack("{s:s, s:s}", "via", "dashboard", "page_command", cmd);
    ae_cmd_request req = {
        .vid = vid, .name = name, .body = body, .actor = actor, .audit_extra = extra};
    ae_err err = {0};
    ae_cli *c = ae_dash_conn_lock(&r->d->cmds, &err);
    if (!c) {
        json_decref(in);
        json_decref(body);
        json_decref(extra);
        return ae_dash_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    }
    ae_cmd_result res;
    int code = ae_cmd_send(c, &req, &res);
    ae_dash_conn_unlock(&r->d->cmds, r);
    json_t *out = json_pack("{s:i, s:s, s:s, s:s, s:s, s:O, s:s}", "code", code, "id", res.id,
                            "vid", vid, "command", cmd, "state", res.state, "result",
                            res.doc ? res.doc : json_null(), "note", res.note);
    ae_cmd_result_free(&res);
    json_decref(in);
    json_decref(body);
    json_decref(extra);
    return ae_dash_reply_json(r, MHD_HTTP_OK, out);
}
