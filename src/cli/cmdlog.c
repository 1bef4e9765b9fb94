/* The command log read from the hub; see cmdlog.h for the sources and the state rules. */
#include "cli/cmdlog.h"
#include "cli/cmd_replay.h"
#include "common/ident.h"
#include "common/random.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MARGIN_NS (3600LL * AE_NS_PER_SEC) /* vehicle clocks may lag: look back further */

int ae_cmd_id_new(const char *vid, char *out, size_t cap, ae_err *err)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789"; /* 32, no l o 0 1 */
    uint8_t r[8];
    size_t vl = strlen(vid);
    if (vl + 9 > AE_IDENT_MAX || vl + 10 > cap)
        return ae_err_set(err, AE_EINVAL,
                          "vehicle id %s is too long for command ids (at most %d characters)", vid,
                          AE_IDENT_MAX - 9);
    int rc = ae_random_bytes(r, sizeof r, err);
    if (rc)
        return rc;
    char suffix[9];
    for (int i = 0; i < 8; i++)
        suffix[i] = alphabet[r[i] & 31];
    suffix[8] = 0;
    snprintf(out, cap, "%s-%s", vid, suffix);
    return 0;
}

int ae_cmd_id_vid(const char *id, char *vid, size_t cap)
{
    const char *dash = id ? strrchr(id, '-') : NULL;
    if (!ae_ident_valid(id) || !dash || dash == id || !dash[1] || (size_t)(dash - id) >= cap)
        return AE_EINVAL;
    snprintf(vid, cap, "%.*s", (int)(dash - id), id);
    return 0;
}

bool ae_cmd_state_final(const char *s)
{
    static const char *const finals[] = {"accepted", "denied",     "failed", "rejected",
                                         "expired",  "superseded", "unknown"};
    for (size_t i = 0; s && i < sizeof finals / sizeof finals[0]; i++)
        if (strcmp(s, finals[i]) == 0)
            return true;
    return false;
}

/* ---- merging commands and reports ---------------------------------------------------- */

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *time_str(int64_t ns)
{
    char ts[48];
    return json_string(ae_format_rfc3339(ns, ts, sizeof ts));
}

static int64_t time_of(json_t *o, const char *k)
{
    int64_t ns = 0;
    const char *s = str(o, k);
    return s && ae_parse_rfc3339(s, &ns) == 0 ? ns : 0;
}

/* Adds a vehicle report as a step of cmd (a republished duplicate of the previous step is
 * dropped). */
static void add_step(json_t *cmd, json_t *rep)
{
    json_t *steps = json_object_get(cmd, "steps");
    json_t *last = json_array_get(steps, json_array_size(steps) - 1);
    const char *state = str(rep, "state");
    if (!state || (last && strcmp(str(last, "state") ?: "", state) == 0))
        return;
    int64_t t = json_integer_value(json_object_get(rep, "_time_ns"));
    json_t *r = json_deep_copy(rep);
    json_object_del(r, "_time_ns");
    json_array_append_new(steps, json_pack("{s:s, s:o, s:s, s:o}", "state", state, "time",
                                           t ? time_str(t) : json_string(str(rep, "time") ?: ""),
                                           "by", "vehicle", "report", r));
}

/* The vehicle's verdict among cmd's steps: the newest final one, else "delivered". */
static json_t *vehicle_step(json_t *cmd)
{
    json_t *steps = json_object_get(cmd, "steps"), *best = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s)
    {
        if (strcmp(str(s, "by") ?: "", "vehicle") != 0)
            continue;
        if (ae_cmd_state_final(str(s, "state")) || !best || !ae_cmd_state_final(str(best, "state")))
            best = s;
    }
    return best;
}

static bool reported(json_t *cmd)
{
    return vehicle_step(cmd) != NULL;
}

/* The state of a command the vehicle has not reported on (cmdlog.h). */
static void hub_state(json_t *all, size_t idx, json_t *cmd, int64_t now_ns)
{
    const char *vid = str(cmd, "vid"), *kind = str(cmd, "command");
    json_t *newer = NULL;
    for (size_t k = idx + 1; k < json_array_size(all); k++) {
        json_t *o = json_array_get(all, k);
        if (strcmp(str(o, "vid") ?: "", vid ?: "") != 0 ||
            strcmp(str(o, "command") ?: "", kind ?: "") != 0)
            continue;
        if (reported(o)) {
            json_object_set_new(cmd, "state", json_string("superseded"));
            json_object_set_new(cmd, "superseded_by", json_string(str(o, "id")));
            return;
        }
        newer = newer ? newer : o;
    }
    int64_t stored = time_of(cmd, "stored");
    double ttl = json_number_value(json_object_get(cmd, "ttl_s"));
    bool over = stored && now_ns >= stored + (int64_t)(ttl * 1e9);
    json_object_set_new(cmd, "state",
                        json_string(over     ? "expired"
                                    : stored ? "queued"
                                             : "unknown"));
    /* Still waiting, but a newer command of its kind will replace it when it arrives. */
    if (!over && newer)
        json_object_set_new(cmd, "replaced_by", json_string(str(newer, "id")));
}

static int64_t sort_key(json_t *cmd)
{
    int64_t t = time_of(cmd, "stored");
    json_t *first = json_array_get(json_object_get(cmd, "steps"), 0);
    return t ? t : first ? time_of(first, "time") : 0;
}

static int by_time(const void *a, const void *b)
{
    int64_t x = sort_key(*(json_t *const *)a), y = sort_key(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

json_t *ae_cmdlog_merge(json_t *commands, json_t *reports, int64_t now_ns)
{
    json_t *index = json_object(), *all = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(commands, i, o)
    {
        const char *id = str(o, "id");
        if (!id || json_object_get(index, id))
            continue;
        json_t *cmd = json_deep_copy(o);
        json_t *steps = json_array();
        if (str(o, "stored"))
            json_array_append_new(steps, json_pack("{s:s, s:O, s:s}", "state", "queued", "time",
                                                   json_object_get(o, "stored"), "by", "hub"));
        json_object_set_new(cmd, "steps", steps);
        json_object_set(index, id, cmd);
        json_array_append_new(all, cmd);
    }
    json_array_foreach(reports, i, o)
    {
        const char *id = str(o, "id");
        if (!id)
            continue;
        json_t *cmd = json_object_get(index, id);
        if (!cmd) { /* known only from the vehicle's reports */
            cmd = json_pack("{s:s, s:s, s:s, s:[]}", "id", id, "vid", str(o, "vid") ?: "",
                            "command", str(o, "command") ?: "", "steps");
            if (json_object_get(o, "ttl_s"))
                json_object_set(cmd, "ttl_s", json_object_get(o, "ttl_s"));
            json_object_set(index, id, cmd);
            json_array_append_new(all, cmd);
        }
        add_step(cmd, o);
    }
    /* Oldest first, so that "newer" below means later in the array. */
    size_t n = json_array_size(all);
    json_t **v = calloc(n + 1, sizeof *v);
    for (i = 0; v && i < n; i++)
        v[i] = json_incref(json_array_get(all, i));
    if (v)
        qsort(v, n, sizeof *v, by_time);
    json_array_clear(all);
    for (i = 0; v && i < n; i++)
        json_array_append_new(all, v[i]);
    free(v);
    json_array_foreach(all, i, o)
    {
        json_t *vs = vehicle_step(o);
        int64_t stored = time_of(o, "stored");
        double ttl = json_number_value(json_object_get(o, "ttl_s"));
        if (stored && ttl > 0)
            json_object_set_new(o, "expires", time_str(stored + (int64_t)(ttl * 1e9)));
        if (vs) {
            json_t *rep = json_object_get(vs, "report");
            json_object_set_new(o, "state", json_string(str(vs, "state")));
            json_object_set_new(o, "by", json_string("vehicle"));
            json_object_set(o, "report", rep);
            if (str(rep, "superseded_by"))
                json_object_set(o, "superseded_by", json_object_get(rep, "superseded_by"));
        } else {
            hub_state(all, i, o, now_ns);
            json_object_set_new(o, "by", json_string("hub"));
        }
    }
    json_decref(index);
    json_decref(commands);
    json_decref(reports);
    return all;
}

/* ---- reading the hub ----------------------------------------------------------------- */

static const char *hdr(natsMsg *m, const char *k)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, k, &v) == NATS_OK ? v : NULL;
}

/* A FLEET_CMD message as a command object, or NULL for a request without an id. */
static json_t *command_of(natsMsg *m, const char *vid)
{
    const char *id = hdr(m, AE_HDR_CMD_ID), *subj = hdr(m, "Nats-Subject");
    if (!id || !subj)
        return NULL;
    const char *kind = strrchr(subj, '.');
    const char *ttl = hdr(m, AE_HDR_CMD_TTL), *issued = hdr(m, AE_HDR_CMD_ISSUED);
    const char *sup = hdr(m, AE_HDR_CMD_SUPERSEDES), *actor = hdr(m, AE_HDR_CMD_ACTOR);
    long long ms = ttl ? strtoll(ttl, NULL, 10) : AE_CMD_TTL_DEFAULT_NS / AE_NS_PER_MS;
    json_t *ttl_s = ms % 1000 ? json_real((double)ms / 1000.0) : json_integer(ms / 1000);
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I}", "id", id, "vid", vid, "command",
                          kind ? kind + 1 : subj, "args",
                          ae_cli_payload_json(natsMsg_GetData(m), natsMsg_GetDataLength(m)),
                          "ttl_s", ttl_s, "stored", time_str(ae_cli_msg_stored_ns(m)), "seq",
                          (json_int_t)ae_cli_msg_seq(m));
    if (issued)
        json_object_set_new(o, "issued", json_string(issued));
    if (actor)
        json_object_set_new(o, "actor", json_string(actor));
    json_t *list = json_array();
    for (const char *p = sup; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n)
            json_array_append_new(list, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    json_object_set_new(o, "supersedes", list);
    return o;
}

/* Every command to vid that FLEET_CMD still holds (its max_age bounds them), oldest first. */
static int read_commands(ae_cli *c, const char *vid, json_t *out, ae_err *err)
{
    char filt[300];
    snprintf(filt, sizeof filt, "fleet.%s.veh.%s.cmd.>", c->env, vid);
    char **subs = NULL;
    int n = 0;
    uint64_t first = 0, last = 0;
    int rc = ae_cli_stream_subjects(c, AE_STREAM_CMD, filt, &subs, &n, &first, &last, err);
    for (int i = 0; i < n; i++)
        free(subs[i]);
    free(subs);
    if (rc || n == 0)
        return rc;
    for (uint64_t seq = first ? first : 1; seq <= last;) {
        natsMsg *m = NULL;
        rc = ae_cli_direct_get(c, AE_STREAM_CMD, seq, filt, NULL, &m, err);
        if (rc == AE_ENOENT)
            return 0;
        if (rc)
            return rc;
        uint64_t s = ae_cli_msg_seq(m);
        if (s == 0 || s > last) {
            natsMsg_Destroy(m);
            return 0;
        }
        json_t *o = command_of(m, vid);
        if (o)
            json_array_append_new(out, o);
        natsMsg_Destroy(m);
        seq = s + 1;
    }
    return 0;
}

static int collect_report(void *ctx, const ae_replay_item *it, ae_err *err)
{
    json_t *j = ae_cli_payload_json(natsMsg_GetData(it->msg), natsMsg_GetDataLength(it->msg));
    if (json_is_object(j) && json_is_string(json_object_get(j, "id"))) {
        json_object_set_new(j, "_time_ns", json_integer((json_int_t)it->event_ns));
        json_array_append(ctx, j);
    }
    json_decref(j);
    return 0;
}

int ae_cmdlog_list(ae_cli *c, const char *vid, int64_t since_ns, json_t **out, ae_err *err)
{
    json_t *cmds = json_array(), *reps = json_array();
    int rc = read_commands(c, vid, cmds, err);
    bool have_cmd_stream = rc != AE_ENOENT;
    if (rc == AE_ENOENT)
        rc = 0;
    int subjects = 0;
    long searches = 0;
    if (rc == 0) {
        rc = ae_replay_each(c, vid, "event.cmd", since_ns - REPORT_MARGIN_NS, INT64_MAX,
                            collect_report, reps, &subjects, &searches, err);
        if (rc == AE_ENOENT && have_cmd_stream)
            rc = 0;
    }
    if (rc) {
        json_decref(cmds);
        json_decref(reps);
        return rc;
    }
    json_t *all = ae_cmdlog_merge(cmds, reps, ae_now_ns());
    if (!all)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    /* The window: by store time, or for a command known only from reports (gone from
     * FLEET_CMD) by its first report. All were merged, so that an old command's late
     * reports do not pose as a command of their own. */
    for (size_t i = json_array_size(all); i-- > 0;)
        if (sort_key(json_array_get(all, i)) < since_ns)
            json_array_remove(all, i);
    *out = all;
    return 0;
}

int ae_cmdlog_find(ae_cli *c, const char *id, int64_t since_ns, json_t **out, ae_err *err)
{
    char vid[AE_IDENT_MAX + 1];
    if (ae_cmd_id_vid(id, vid, sizeof vid) != 0)
        return ae_err_set(err, AE_EINVAL,
                          "\"%s\" is not a command id (VID-SUFFIX, as `aerie cmd` prints it)", id);
    json_t *all = NULL;
    int rc = ae_cmdlog_list(c, vid, since_ns, &all, err);
    if (rc)
        return rc;
    size_t i;
    json_t *o, *hit = NULL;
    json_array_foreach(all, i, o) if (strcmp(str(o, "id") ?: "", id) == 0) hit = o;
    if (hit)
        *out = json_incref(hit);
    json_decref(all);
    return hit ? 0
               : ae_err_set(err, AE_ENOENT,
                            "the hub knows no command %s (commands stay in FLEET_CMD for its "
                            "max_age, reports in TWIN_EVENTS; try a longer --since)",
                            id);
}

int ae_cmdlog_pending(ae_cli *c, const char *vid, json_t **out, ae_err *err)
{
    json_t *all = NULL;
    int rc = ae_cmdlog_list(c, vid, ae_now_ns() - AE_CMD_TTL_MAX_NS, &all, err);
    if (rc)
        return rc;
    for (size_t i = json_array_size(all); i-- > 0;)
        if (ae_cmd_state_final(str(json_array_get(all, i), "state")))
            json_array_remove(all, i);
    *out = all;
    return 0;
}
