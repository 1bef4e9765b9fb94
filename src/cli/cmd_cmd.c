/* `aerie cmd`: sends a command with an id and a TTL to fleet.<env>.veh.<vid>.cmd.<name> and
 * follows it until the vehicle's verdict or until the wait is over.
 *
 * The hub's FLEET_CMD stream stores every command (Nats-Msg-Id = the command id, so a retry
 * is stored once) and answers with a PubAck; a vehicle that is online gets the command at
 * once, one that is offline fetches it when its link returns (aerie-gw, queue.c). The
 * vehicle reports each step on fleet.<env>.veh.<vid>.event.cmd, which its leaf forwards
 * durably. So `aerie cmd` listens on its own inbox (the PubAck, and the live reply of the
 * gateway) and on the vehicle's report subject, and tells apart:
 *   - a verdict (accepted, denied, failed, rejected, expired, superseded): printed, exit 0
 *     for accepted, else 1;
 *   - no verdict yet: the command is queued (or delivered) on the hub; printed with its id,
 *     exit 3. Without --wait, a vehicle whose link is known to be down is not waited for.
 * `aerie cmd status ID` and `aerie cmd list VID` read the command log (cmdlog.h). */
#include "cli/cmd_cmd.h"
#include "cli/audit.h"
#include "cli/cmd_hub.h"
#include "cli/cmdlog.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_t *number_arg(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end)
        return NULL;
    if (strchr(v, '.') == NULL && strchr(v, 'e') == NULL && strchr(v, 'E') == NULL)
        return json_integer((json_int_t)strtoll(v, NULL, 10));
    return json_real(d);
}

static json_t *any_arg(const char *v)
{
    json_t *n = number_arg(v);
    if (n)
        return n;
    if (strcmp(v, "true") == 0)
        return json_true();
    if (strcmp(v, "false") == 0)
        return json_false();
    return json_string(v);
}

int ae_cmd_build_body(const char *name, int argc, char **argv, json_t **out, ae_err *err)
{
    json_t *b = json_object();
    static const struct {
        const char *cmd;
        const char *keys[3];
        int n;
        bool numeric;
    } shapes[] = {
        {"takeoff", {"alt_m"}, 1, true},
        {"goto", {"lat", "lon", "alt_m"}, 3, true},
        {"mode", {"mode"}, 1, false},
    };
    int pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        if (eq && eq != a) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
            json_object_set_new(b, key, any_arg(eq + 1));
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            if (strcmp(shapes[k].cmd, name) == 0)
                break;
        if (k == sizeof shapes / sizeof shapes[0] || pos >= shapes[k].n) {
            json_decref(b);
            return ae_err_set(err, AE_EINVAL,
                              "%s: unexpected argument '%s' (give extra fields as key=value)", name,
                              a);
        }
        json_t *v = shapes[k].numeric ? number_arg(a) : json_string(a);
        if (!v) {
            json_decref(b);
            return ae_err_set(err, AE_EINVAL, "%s: %s must be a number, got '%s'", name,
                              shapes[k].keys[pos], a);
        }
        json_object_set_new(b, shapes[k].keys[pos++], v);
    }
    /* A command with a fixed shape needs all its positional values. */
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (strcmp(shapes[k].cmd, name) == 0)
            for (int j = 0; j < shapes[k].n; j++)
                if (!json_object_get(b, shapes[k].keys[j])) {
                    json_decref(b);
                    return ae_err_set(err, AE_EINVAL, "%s needs %s (%s%s%s)", name,
                                      shapes[k].keys[j],
                                      strcmp(name, "goto") == 0 ? "goto LAT LON ALT" : name,
                                      strcmp(name, "goto") == 0 ? "" : " ",
                                      strcmp(name, "goto") == 0   ? ""
                                      : strcmp(name, "mode") == 0 ? "NAME"
                                                                  : "ALT");
                }
    *out = b;
    return 0;
}

bool ae_cmd_reply_accepted(const char *data, int len)
{
    json_t *j = data && len > 0 ? json_loadb(data, (size_t)len, 0, NULL) : NULL;
    bool ok = false;
    if (json_is_object(j)) {
        if (json_is_true(json_object_get(j, "ok")) || json_is_true(json_object_get(j, "accepted")))
            ok = true;
        static const char *const keys[] = {"result", "status"};
        static const char *const good[] = {"accepted", "ok", "success", "done",
                                           "MAV_RESULT_ACCEPTED"};
        for (size_t k = 0; k < 2 && !ok; k++) {
            const char *v = json_string_value(json_object_get(j, keys[k]));
            for (size_t g = 0; v && g < sizeof good / sizeof good[0]; g++)
                if (strcasecmp(v, good[g]) == 0)
                    ok = true;
        }
        if (json_is_false(json_object_get(j, "ok")) || json_object_get(j, "error"))
            ok = false;
    }
    json_decref(j);
    return ok;
}

/* A JetStream PubAck: {"stream":..., "seq":N[, "domain":..., "duplicate":true]} and nothing
 * else. A vehicle reply never has exactly this shape. */
static bool is_puback(natsMsg *m, uint64_t *seq, bool *dup)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    bool yes = false;
    if (json_is_object(j) && json_is_string(json_object_get(j, "stream")) &&
        (json_is_integer(json_object_get(j, "seq")) || json_object_get(j, "error"))) {
        yes = true;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            (void)v;
            if (strcmp(k, "stream") && strcmp(k, "seq") && strcmp(k, "domain") &&
                strcmp(k, "duplicate") && strcmp(k, "error"))
                yes = false;
        }
        if (yes) {
            *seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
            *dup = json_is_true(json_object_get(j, "duplicate"));
        }
    }
    json_decref(j);
    return yes;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: aerie cmd VID COMMAND [ARGS] [--ttl 30s] [--wait 2m] [--id ID] [--body JSON]\n"
            "       aerie cmd status ID [--since 24h] [--json]\n"
            "       aerie cmd list VID [--since 1h] [--pending] [--json]\n"
            "  examples: aerie cmd VID-001 arm | takeoff 20 | goto 47.39 8.54 30 | mode LOITER\n"
            "            aerie cmd VID-001 rtl --ttl 60s;  other fields as key=value\n"
            "  --ttl: how long the command may wait for the vehicle (default 30s, 1s..1h);\n"
            "  --wait: how long to wait for the vehicle's verdict, across an outage\n");
    return 2;
}

/* The command line of `aerie cmd` is the request ae_cmd_send takes (body owned here). */
typedef ae_cmd_request cmd_req;

/* A duration option's value in [lo, hi]; prints and returns 2 when bad, else 0. */
static int duration_opt(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (ae_parse_duration(v, out) != 0 || *out < lo || *out > hi) {
        char a[32], b[32];
        fprintf(stderr, "aerie cmd: %s %s: expected a duration from %s to %s\n", opt, v,
                ae_cli_fmt_duration(lo, a, sizeof a), ae_cli_fmt_duration(hi, b, sizeof b));
        return 2;
    }
    return 0;
}

/* The options of `aerie cmd VID COMMAND`; returns -1 when they are good, else the exit code.
 * Fills the positionals into rest. */
static int parse_opts(ae_cli *c, int argc, char **argv, cmd_req *req, const char **raw_body,
                      char **rest, int *nrest)
{
    ae_err err = {0};
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie cmd: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = -1;
        if (strcmp(a, "--body") == 0 && v)
            *raw_body = v;
        else if (strcmp(a, "--ttl") == 0 && v)
            bad = duration_opt(a, v, AE_CMD_TTL_MIN_NS, AE_CMD_TTL_MAX_NS, &req->ttl_ns);
        else if (strcmp(a, "--wait") == 0 && v)
            bad = duration_opt(a, v, AE_NS_PER_MS, 24 * 3600 * AE_NS_PER_SEC, &req->wait_ns);
        else if (strcmp(a, "--id") == 0 && v)
            req->id = v;
        else if (a[0] == '-' && a[1] && !isdigit((unsigned char)a[1]) && a[1] != '.') {
            /* Negative numbers (goto -33.9 151.2 ...) are arguments, not options. */
            fprintf(stderr, "aerie cmd: unknown option or missing value: %s\n", a);
            return usage();
        } else {
            if (*nrest < 64)
                rest[(*nrest)++] = argv[i];
            i++;
            continue;
        }
        if (bad > 0)
            return bad;
        i += 2;
    }
    return -1;
}

/* Returns -1 with req filled when the arguments are good, else the exit code. */
static int parse_cmd(ae_cli *c, int argc, char **argv, cmd_req *req)
{
    ae_err err = {0};
    const char *raw_body = NULL;
    char *rest[64];
    int nrest = 0;
    *req = (cmd_req){.ttl_ns = AE_CMD_TTL_DEFAULT_NS};
    int rc = parse_opts(c, argc, argv, req, &raw_body, rest, &nrest);
    if (rc >= 0)
        return rc;
    if (nrest < 2)
        return usage();
    req->vid = rest[0];
    req->name = rest[1];
    if (!ae_ident_valid(req->vid) || !ae_ident_valid(req->name)) {
        fprintf(stderr, "aerie cmd: vehicle id and command must each be one token of letters, "
                        "digits, '_' or '-'\n");
        return 2;
    }
    char idvid[AE_IDENT_MAX + 1];
    if (req->id &&
        (ae_cmd_id_vid(req->id, idvid, sizeof idvid) != 0 || strcmp(idvid, req->vid) != 0)) {
        fprintf(stderr,
                "aerie cmd: --id %s: a command id is VID-SUFFIX with this vehicle's id "
                "(e.g. %s-retry1)\n",
                req->id, req->vid);
        return 2;
    }
    if (raw_body) {
        json_error_t je;
        req->body = json_loads(raw_body, 0, &je);
        if (!json_is_object(req->body) || nrest > 2) {
            fprintf(stderr, "aerie cmd: --body must be a JSON object and replaces ARGS (%s)\n",
                    req->body ? "extra arguments given" : je.text);
            json_decref(req->body);
            return 2;
        }
    } else if (ae_cmd_build_body(req->name, nrest - 2, rest + 2, &req->body, &err) != 0) {
        fprintf(stderr, "aerie cmd: %s\n", err.msg);
        return 2;
    }
    return -1;
}

/* ---- before sending: the vehicle's link, the commands this one supersedes -------------- */

typedef enum link_seen { LINK_UNKNOWN, LINK_ONLINE, LINK_OFFLINE } link_seen;

/* The vehicle's link by its newest report in FLEET_LINK: a report older than the fleet's
 * stale time (30 s without a fleet) counts as offline, since a cut-off leaf cannot say so.
 * *timed_out is set to 1 when the hub did not answer at all (else 0). */
static link_seen vehicle_link(ae_cli *c, const char *vid, int64_t *age_ns, long *timed_out)
{
    char subj[300];
    snprintf(subj, sizeof subj, "fleet.%s.veh.%s.link", c->env, vid);
    natsMsg *m = NULL;
    ae_err err = {0};
    int rc = ae_cli_direct_get(c, AE_STREAM_LINK, 0, NULL, subj, &m, &err);
    *timed_out = rc == AE_ETIMEOUT;
    if (rc != 0)
        return LINK_UNKNOWN;
    int64_t stale = c->fleet && c->fleet->stale_ns > 0 ? c->fleet->stale_ns : 30 * AE_NS_PER_SEC;
    *age_ns = ae_now_ns() - ae_cli_msg_stored_ns(m);
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    bool online = json_is_true(json_object_get(j, "online")) && *age_ns <= stale;
    json_decref(j);
    natsMsg_Destroy(m);
    return online ? LINK_ONLINE : LINK_OFFLINE;
}

/* The ids this command supersedes: the newest stored command of the same kind to the same
 * vehicle and the ones that one superseded (AE_CMD_SUPERSEDES_MAX at most). The vehicle
 * reports those it never ran as superseded. Writes "" when there are none. */
static void supersedes_list(ae_cli *c, const cmd_req *req, char *out, size_t cap)
{
    char subj[300];
    snprintf(subj, sizeof subj, "fleet.%s.veh.%s.cmd.%s", c->env, req->vid, req->name);
    out[0] = 0;
    natsMsg *m = NULL;
    ae_err err = {0};
    if (ae_cli_direct_get(c, AE_STREAM_CMD, 0, NULL, subj, &m, &err) != 0)
        return;
    const char *prev = NULL, *older = NULL;
    natsMsgHeader_Get(m, AE_HDR_CMD_ID, &prev);
    natsMsgHeader_Get(m, AE_HDR_CMD_SUPERSEDES, &older);
    if (prev && strcmp(prev, req->id) != 0) {
        int n = 1;
        size_t used = (size_t)snprintf(out, cap, "%s", prev);
        for (const char *p = older; p && *p && n < AE_CMD_SUPERSEDES_MAX && used < cap;) {
            size_t len = strcspn(p, ",");
            if (len && used + len + 2 < cap) {
                used += (size_t)snprintf(out + used, cap - used, ",%.*s", (int)len, p);
                n++;
            }
            p += len + (p[len] == ',');
        }
    }
    natsMsg_Destroy(m);
}

/* ---- sending and following one command ----------------------------------------------- */

/* What `aerie cmd` learned while it waited. */
typedef struct follow {
    uint64_t seq;     /* FLEET_CMD sequence from the PubAck; 0: not stored */
    bool duplicate;   /* the hub had this id already */
    bool delivered;   /* the vehicle reported it started it */
    json_t *verdict;  /* the vehicle's final reply or report, or NULL */
    bool unreachable; /* no stream and nobody listening (503) */
} follow;

static const char *hdr_of(natsMsg *m, const char *k)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, k, &v) == NATS_OK ? v : NULL;
}

/* One message on the inbox: the PubAck, a 503, or the vehicle's (or any responder's) reply. */
static void on_inbox_msg(follow *f, natsMsg *m)
{
    const char *st = hdr_of(m, "Status");
    if (st && strcmp(st, "503") == 0) {
        f->unreachable = true;
        return;
    }
    bool dup = false;
    if (is_puback(m, &f->seq, &dup)) {
        f->duplicate = f->duplicate || dup;
        return;
    }
    json_t *j = ae_cli_payload_json(natsMsg_GetData(m), natsMsg_GetDataLength(m));
    const char *state = json_string_value(json_object_get(j, "state"));
    if (state && strcmp(state, "delivered") == 0) {
        f->delivered = true;
        json_decref(j);
        return;
    }
    json_decref(f->verdict);
    f->verdict = j;
}

/* One report on event.cmd: ours when it carries our id. */
static void on_report(follow *f, natsMsg *m, const char *id)
{
    json_t *j = ae_cli_payload_json(natsMsg_GetData(m), natsMsg_GetDataLength(m));
    const char *rid = json_string_value(json_object_get(j, "id"));
    const char *state = json_string_value(json_object_get(j, "state"));
    if (rid && state && strcmp(rid, id) == 0) {
        if (ae_cmd_state_final(state) && !f->verdict) {
            f->verdict = j;
            return;
        }
        if (strcmp(state, "delivered") == 0)
            f->delivered = true;
    }
    json_decref(j);
}

/* Waits until the verdict, a 503, or the deadline; with stop_when_stored, also returns as
 * soon as the hub has stored the command (the vehicle is known to be offline). */
static void await(natsSubscription *inbox, natsSubscription *reports, const char *id,
                  int64_t deadline, bool stop_when_stored, follow *f)
{
    while (!f->verdict && !f->unreachable && !(stop_when_stored && f->seq)) {
        int64_t left = deadline - ae_mono_ns();
        if (left <= 0)
            return;
        /* Two subscriptions, one thread: take turns in short slices. */
        int64_t slice = left < 20 * AE_NS_PER_MS ? left : 20 * AE_NS_PER_MS;
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, inbox, slice / AE_NS_PER_MS + 1);
        if (s == NATS_OK) {
            on_inbox_msg(f, m);
            natsMsg_Destroy(m);
            continue;
        }
        /* libnats turns the server's 503 into this status on a sync subscription. */
        if (s == NATS_NO_RESPONDERS) {
            f->unreachable = true;
            return;
        }
        if (natsSubscription_NextMsg(&m, reports, 1) == NATS_OK) {
            on_report(f, m, id);
            natsMsg_Destroy(m);
        }
    }
}

/* Publishes the command with its headers, the reply inbox set. */
static natsStatus publish_cmd(ae_cli *c, const cmd_req *req, const char *subj, const char *inbox,
                              const char *payload, const char *supersedes, int64_t *issued)
{
    natsMsg *m = NULL;
    char ttl[32], ts[48], actor[300];
    snprintf(ttl, sizeof ttl, "%lld", (long long)(req->ttl_ns / AE_NS_PER_MS));
    if (req->actor)
        snprintf(actor, sizeof actor, "%s", req->actor);
    else
        ae_audit_actor(actor, sizeof actor);
    natsStatus s = natsMsg_Create(&m, subj, inbox, payload, (int)strlen(payload));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", req->id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, AE_HDR_CMD_ID, req->id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, AE_HDR_CMD_TTL, ttl);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, AE_HDR_CMD_ISSUED,
                              ae_format_rfc3339(*issued = ae_now_ns(), ts, sizeof ts));
    if (s == NATS_OK && *supersedes)
        s = natsMsgHeader_Set(m, AE_HDR_CMD_SUPERSEDES, supersedes);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, AE_HDR_CMD_ACTOR, actor);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(c->nc, m);
    if (s == NATS_OK)
        s = natsConnection_Flush(c->nc);
    natsMsg_Destroy(m);
    return s;
}

/* Appends a line to the result's note (what `aerie cmd` prints on stderr). */
static void note_add(ae_cmd_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_add(ae_cmd_result *res, const char *fmt, ...)
{
    size_t used = strlen(res->note);
    if (used + 1 >= sizeof res->note)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->note + used, sizeof res->note - used, fmt, ap);
    va_end(ap);
}

/* A vehicle judges a live command's age by its issue time, written with this machine's
 * clock, against the hub's clock: warn when the two differ by more than 2 s (the hub's
 * store time of the command itself tells). */
static void check_clock(ae_cli *c, uint64_t seq, int64_t issued, ae_cmd_result *res)
{
    natsMsg *m = NULL;
    ae_err err = {0};
    int64_t saved = c->timeout_ns;
    c->timeout_ns = AE_NS_PER_SEC;
    int rc = ae_cli_direct_get(c, AE_STREAM_CMD, seq, NULL, NULL, &m, &err);
    c->timeout_ns = saved;
    if (rc != 0)
        return;
    int64_t skew = ae_cli_msg_stored_ns(m) - issued;
    natsMsg_Destroy(m);
    if (skew > 2 * AE_NS_PER_SEC || skew < -2 * AE_NS_PER_SEC)
        note_add(res,
                 "aerie cmd: warning: this machine's clock is %.1f s %s the hub's; vehicles "
                 "judge the age of a command they get at once by its issue time, so keep this "
                 "clock synchronised (NTP)\n",
                 (double)(skew < 0 ? -skew : skew) / 1e9, skew < 0 ? "ahead of" : "behind");
}

/* The outcome: res->doc, state, note; returns the exit code. */
static int report_outcome(const ae_cli *c, const cmd_req *req, const follow *f, link_seen link,
                          int64_t link_age, const char *subj, const char *supersedes,
                          ae_cmd_result *res)
{
    if (f->unreachable) {
        note_add(res,
                 "vehicle %s is not reachable: nothing listens on %s (the vehicle is offline "
                 "and the hub has no %s stream; see `aerie status`)\n",
                 req->vid, subj, AE_STREAM_CMD);
        snprintf(res->state, sizeof res->state, "unreachable");
        return 3;
    }
    if (f->verdict) {
        res->doc = json_incref(f->verdict);
        const char *st = json_string_value(json_object_get(f->verdict, "state"));
        snprintf(res->state, sizeof res->state, "%s", st ? st : "answered");
        char *raw = json_dumps(f->verdict, JSON_COMPACT);
        bool ok = raw && ae_cmd_reply_accepted(raw, (int)strlen(raw));
        free(raw);
        if (!ok)
            note_add(res, "aerie cmd: vehicle %s did not accept %s%s%s\n", req->vid, req->name,
                     st ? ": " : "", st ? st : "");
        return ok ? 0 : 1;
    }
    char ttl[32];
    ae_cli_fmt_duration(req->ttl_ns, ttl, sizeof ttl);
    snprintf(res->state, sizeof res->state, "%s",
             f->delivered ? "delivered"
             : f->seq     ? "queued"
                          : "no answer");
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", req->id, "vid", req->vid, "command",
                          req->name, "state", res->state, "ttl_s",
                          req->ttl_ns % AE_NS_PER_SEC
                              ? json_real((double)req->ttl_ns / 1e9)
                              : json_integer((json_int_t)(req->ttl_ns / AE_NS_PER_SEC)));
    if (f->seq)
        json_object_set_new(o, "seq", json_integer((json_int_t)f->seq));
    res->doc = o;
    if (f->delivered) {
        note_add(res,
                 "vehicle %s has %s (%s) but gave no verdict yet; follow it: aerie cmd "
                 "status %s\n",
                 req->vid, req->name, req->id, req->id);
    } else if (f->seq) {
        if (link == LINK_OFFLINE)
            note_add(res, "vehicle %s is offline (its last link report is %.0f s old); ", req->vid,
                     (double)link_age / 1e9);
        else
            note_add(res, "vehicle %s did not answer yet; ", req->vid);
        note_add(res,
                 "%s is queued on the hub as %s and runs if the vehicle is back within its TTL "
                 "of %s%s. Follow it: aerie cmd status %s\n",
                 req->name, req->id, ttl, f->duplicate ? " (the hub had this id already)" : "",
                 req->id);
        if (*supersedes)
            note_add(res, "it supersedes the older %s command(s) %s, if they have not run yet\n",
                     req->name, supersedes);
    } else {
        char w[32];
        ae_cli_fmt_duration(req->wait_ns ? req->wait_ns : c->timeout_ns, w, sizeof w);
        note_add(res,
                 "vehicle %s did not answer within %s and the hub did not store the command "
                 "(no %s stream: run `aerie hub init`); it is lost if the vehicle was offline\n",
                 req->vid, w, AE_STREAM_CMD);
    }
    return 3;
}

/* Sends the command and follows it; returns the exit code. */
static int send_cmd(ae_cli *c, const cmd_req *req, const char *payload, ae_cmd_result *res)
{
    ae_err err = {0};
    if (ae_cli_connect(c, &err) != 0) {
        note_add(res, "aerie cmd: %s\n", err.msg);
        snprintf(res->state, sizeof res->state, "hub unreachable");
        return 1;
    }
    char subj[300], rsubj[300], supersedes[AE_CMD_SUPERSEDES_MAX * (AE_IDENT_MAX + 1) + 1];
    snprintf(subj, sizeof subj, "fleet.%s.veh.%s.cmd.%s", c->env, req->vid, req->name);
    snprintf(rsubj, sizeof rsubj, "fleet.%s.veh.%s.event.cmd", c->env, req->vid);
    /* The look-ups before sending must not hold up a command: a hub without the streams
     * does not answer direct gets at all (JetStream's API always has interest). */
    int64_t saved = c->timeout_ns, link_age = 0;
    c->timeout_ns = saved < AE_NS_PER_SEC ? saved : AE_NS_PER_SEC;
    long misses = c->req_direct;
    link_seen link = vehicle_link(c, req->vid, &link_age, &misses);
    supersedes[0] = 0;
    if (!misses)
        supersedes_list(c, req, supersedes, sizeof supersedes);
    c->timeout_ns = saved;
    natsInbox *inbox = NULL;
    natsSubscription *isub = NULL, *rsub = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&isub, c->nc, inbox);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&rsub, c->nc, rsubj);
    int64_t issued = 0;
    if (s == NATS_OK)
        s = publish_cmd(c, req, subj, inbox, payload, supersedes, &issued);
    int rc = 1;
    if (s != NATS_OK) {
        note_add(res, "aerie cmd: sending %s failed: %s\n", subj, natsStatus_GetText(s));
        snprintf(res->state, sizeof res->state, "not sent");
    } else {
        follow f = {0};
        /* Without --wait: the usual timeout, and no wait at all for a vehicle known to be
         * offline once the hub has the command. */
        int64_t wait = req->wait_ns ? req->wait_ns : c->timeout_ns;
        await(isub, rsub, req->id, ae_mono_ns() + wait, !req->wait_ns && link == LINK_OFFLINE, &f);
        rc = report_outcome(c, req, &f, link, link_age, subj, supersedes, res);
        if (f.seq && !f.duplicate)
            check_clock(c, f.seq, issued, res);
        json_decref(f.verdict);
    }
    natsSubscription_Destroy(isub);
    natsSubscription_Destroy(rsub);
    natsInbox_Destroy(inbox);
    return rc;
}

int ae_cmd_send(ae_cli *c, const ae_cmd_request *in, ae_cmd_result *res)
{
    memset(res, 0, sizeof *res);
    snprintf(res->state, sizeof res->state, "error");
    cmd_req req = *in;
    if (!req.ttl_ns)
        req.ttl_ns = AE_CMD_TTL_DEFAULT_NS;
    ae_err err = {0};
    if (!req.id) {
        if (ae_cmd_id_new(req.vid, res->id, sizeof res->id, &err) != 0) {
            note_add(res, "aerie cmd: %s\n", err.msg);
            return res->code = 2;
        }
    } else {
        snprintf(res->id, sizeof res->id, "%s", req.id);
    }
    req.id = res->id;
    json_t *empty = req.body ? NULL : json_object();
    char *payload = json_dumps(req.body ? req.body : empty, AE_CLI_JSON_FLAGS);
    json_decref(empty);
    int rc = payload ? send_cmd(c, &req, payload, res) : 1;
    /* Who sent which command to which vehicle, and what came of it (audit.h). */
    json_t *details = json_pack("{s:s, s:s, s:I, s:s, s:s}", "command", req.name, "id", req.id,
                                "ttl_ms", (json_int_t)(req.ttl_ns / AE_NS_PER_MS), "outcome",
                                res->state, "body", payload ? payload : "");
    if (req.audit_extra)
        json_object_update(details, req.audit_extra);
    ae_audit(c, "cmd", req.vid, details, rc == 0 ? "ok" : rc == 3 ? "pending" : "error");
    json_decref(details);
    free(payload);
    return res->code = rc;
}

void ae_cmd_result_free(ae_cmd_result *res)
{
    json_decref(res->doc);
    res->doc = NULL;
}

int ae_cmd_cmd(ae_cli *c, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "list") == 0))
        return ae_cmd_cmd_log(c, argc - 1, argv + 1);
    cmd_req req;
    int rc = parse_cmd(c, argc, argv, &req);
    if (rc >= 0)
        return rc;
    if (!c->timeout_set)
        c->timeout_ns = 10 * AE_NS_PER_SEC;
    ae_cmd_result res;
    rc = ae_cmd_send(c, &req, &res);
    json_decref(req.body);
    if (res.doc) {
        char *d = json_dumps(res.doc, AE_CLI_JSON_FLAGS);
        printf("%s\n", d ? d : "{}");
        free(d);
        fflush(stdout);
    }
    fputs(res.note, stderr);
    ae_cmd_result_free(&res);
    return rc;
}
