/* A command with an id (qcmd.h): parsing its headers, its age on the hub's clock, the state
 * its COMMAND_ACK gives it, and its report document. Pure functions, no I/O. */
#include "gw/qcmd.h"

#include "common/ident.h"
#include "common/timeutil.h"
#include "mavlink/messages.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool id_ok(const char *s)
{
    return ae_ident_valid(s) && strlen(s) <= AE_GW_CMD_ID_MAX;
}

int ae_gw_qcmd_parse(ae_gw_qcmd *q, const char *name, const char *id, const char *ttl_ms,
                     const char *issued, const char *supersedes, ae_err *err)
{
    if (!id)
        return AE_ENOENT;
    if (!id_ok(id))
        return ae_err_set(err, AE_EINVAL,
                          AE_GW_HDR_CMD_ID " \"%.80s\": use 1..%d letters, digits, '_' or '-'", id,
                          AE_GW_CMD_ID_MAX);
    if (!ae_ident_valid(name) || strlen(name) >= sizeof q->name)
        return ae_err_set(err, AE_EINVAL, "command name \"%.40s\" is not a short token", name);
    snprintf(q->id, sizeof q->id, "%s", id);
    snprintf(q->name, sizeof q->name, "%s", name);
    q->ttl_ns = AE_GW_CMD_TTL_DEFAULT_NS;
    if (ttl_ms) {
        char *end;
        long long ms = strtoll(ttl_ms, &end, 10);
        if (!*ttl_ms || *end || ms < 1 || ms > AE_GW_CMD_TTL_MAX_NS / AE_NS_PER_MS)
            return ae_err_set(err, AE_EINVAL,
                              AE_GW_HDR_CMD_TTL " \"%.40s\": milliseconds, 1 .. %lld", ttl_ms,
                              AE_GW_CMD_TTL_MAX_NS / AE_NS_PER_MS);
        q->ttl_ns = ms * AE_NS_PER_MS;
    }
    if (issued && ae_parse_rfc3339(issued, &q->issued_ns) != 0)
        return ae_err_set(err, AE_EINVAL, AE_GW_HDR_CMD_ISSUED " \"%.60s\": not an RFC 3339 time",
                          issued);
    for (const char *p = supersedes; p && *p;) {
        size_t n = strcspn(p, ",");
        char one[AE_GW_CMD_ID_MAX + 2];
        if (n == 0 || n > AE_GW_CMD_ID_MAX ||
            (snprintf(one, sizeof one, "%.*s", (int)n, p), !id_ok(one)))
            return ae_err_set(err, AE_EINVAL,
                              AE_GW_HDR_CMD_SUPERSEDES ": \"%.80s\" is not a list of ids", p);
        if (q->n_supersedes == AE_GW_CMD_SUPERSEDES_MAX)
            return ae_err_set(err, AE_EINVAL, AE_GW_HDR_CMD_SUPERSEDES ": more than %d ids",
                              AE_GW_CMD_SUPERSEDES_MAX);
        if (!(q->supersedes[q->n_supersedes] = strdup(one)))
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        q->n_supersedes++;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

void ae_gw_qcmd_free(ae_gw_qcmd *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n_supersedes; i++)
        free(q->supersedes[i]);
    free(q->body);
    free(q->reply);
    free(q);
}

int64_t ae_gw_qcmd_age(const ae_gw_qcmd *q, int64_t now_ns, int64_t hub_offset_ns)
{
    int64_t from = q->stored_ns ? q->stored_ns : q->issued_ns;
    int64_t hub_now = now_ns + hub_offset_ns;
    return from && hub_now > from ? hub_now - from : 0;
}

const char *ae_gw_cmd_state_of(int mav_result)
{
    if (mav_result == AE_MAV_RESULT_ACCEPTED)
        return AE_GW_CS_ACCEPTED;
    if (mav_result == AE_MAV_RESULT_TEMPORARILY_REJECTED || mav_result == AE_MAV_RESULT_DENIED)
        return AE_GW_CS_DENIED;
    return AE_GW_CS_FAILED;
}

static json_t *ms_real(double s)
{
    return json_real(round(s * 1000.0) / 1000.0);
}

char *ae_gw_cmd_report(const char *vid, const ae_gw_qcmd *q, const ae_gw_outcome *o, int64_t now_ns)
{
    char ts[48];
    json_t *j = json_object();
    bool ok = strcmp(o->state, AE_GW_CS_ACCEPTED) == 0 || strcmp(o->state, AE_GW_CS_DELIVERED) == 0;
    json_object_set_new(j, "vid", json_string(vid));
    json_object_set_new(j, "event", json_string("cmd"));
    json_object_set_new(j, "ok", json_boolean(ok));
    json_object_set_new(j, "id", json_string(q->id));
    json_object_set_new(j, "command", json_string(q->name));
    json_object_set_new(j, "state", json_string(o->state));
    if (o->result)
        json_object_set_new(j, "result", json_string(o->result));
    if (o->mav_cmd >= 0)
        json_object_set_new(j, "mav_cmd", json_integer(o->mav_cmd));
    if (o->mav_result >= 0)
        json_object_set_new(j, "mav_result", json_integer(o->mav_result));
    if (o->result_param2 > 0)
        json_object_set_new(j, "result_param2", json_integer(o->result_param2));
    if (o->attempts >= 0)
        json_object_set_new(j, "attempts", json_integer(o->attempts));
    if (o->elapsed_s >= 0)
        json_object_set_new(j, "elapsed_s", ms_real(o->elapsed_s));
    if (q->ttl_ns > 0) { /* a command known only by id (superseded unseen) has none */
        json_object_set_new(j, "via", json_string(q->seq ? "queued" : "live"));
        if (o->has_age)
            json_object_set_new(j, "age_s", ms_real(o->age_s));
        json_object_set_new(j, "ttl_s",
                            q->ttl_ns % AE_NS_PER_SEC
                                ? ms_real((double)q->ttl_ns / 1e9)
                                : json_integer((json_int_t)(q->ttl_ns / AE_NS_PER_SEC)));
    }
    if (o->superseded_by)
        json_object_set_new(j, "superseded_by", json_string(o->superseded_by));
    if (o->error)
        json_object_set_new(j, "error", json_string(o->error));
    json_object_set_new(j, "time", json_string(ae_format_rfc3339(now_ns, ts, sizeof ts)));
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(j);
    return s;
}
