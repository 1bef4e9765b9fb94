/* Commands across an outage, the vehicle's side: what a command with an id carries, when it
 * is still fresh, and the report of what became of it. Pure functions (qcmd.c); the gateway's
 * loop does the fetching, ordering (queue.c) and executing (cmdexec.c).
 *
 * A command with an id is a request on fleet.<env>.veh.<vid>.cmd.<name> with the headers
 *
 *   Aerie-Cmd-Id: VID-002-k3v9x2mq        unique; also the hub's Nats-Msg-Id
 *   Aerie-Cmd-Ttl-Ms: 60000               how long it may wait (default AE_GW_CMD_TTL_DEFAULT_NS)
 *   Aerie-Cmd-Issued: 2026-...Z           when the operator sent it (the operator's clock)
 *   Aerie-Cmd-Supersedes: ID,ID           older commands of the same kind it replaces
 *
 * It reaches the gateway live (the hub delivers it while the link is up) or queued (the
 * gateway reads it from the hub's FLEET_CMD stream after the link returns). Its age is taken
 * on the hub's clock: for a queued command from the time the hub stored it, for a live one
 * from its issue time; the vehicle's clock is corrected by the offset to the hub's clock the
 * gateway measures at each reconnect. docs/gateway.md, "Commands across an outage". */
#ifndef AERIE_GW_QCMD_H
#define AERIE_GW_QCMD_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_GW_HDR_CMD_ID         "Aerie-Cmd-Id"
#define AE_GW_HDR_CMD_TTL        "Aerie-Cmd-Ttl-Ms"
#define AE_GW_HDR_CMD_ISSUED     "Aerie-Cmd-Issued"
#define AE_GW_HDR_CMD_SUPERSEDES "Aerie-Cmd-Supersedes"

#define AE_GW_CMD_ID_MAX         128 /* AE_IDENT_MAX */
#define AE_GW_CMD_TTL_DEFAULT_NS (30LL * 1000000000LL)
#define AE_GW_CMD_TTL_MAX_NS     (24LL * 3600 * 1000000000LL)
#define AE_GW_CMD_SUPERSEDES_MAX 16

/* The states of a command (docs/subjects.md). "queued" is the hub's view only. */
#define AE_GW_CS_DELIVERED  "delivered"
#define AE_GW_CS_ACCEPTED   "accepted"
#define AE_GW_CS_DENIED     "denied"
#define AE_GW_CS_FAILED     "failed"
#define AE_GW_CS_REJECTED   "rejected"
#define AE_GW_CS_EXPIRED    "expired"
#define AE_GW_CS_SUPERSEDED "superseded"

/* One command with an id, owned by the gateway while it waits or runs. */
typedef struct ae_gw_qcmd {
    char id[AE_GW_CMD_ID_MAX + 1];
    char name[16];
    char *body; /* JSON arguments (owned, may be NULL) */
    size_t body_len;
    char *reply;       /* live: the requester's reply subject (owned), else NULL */
    int64_t ttl_ns;    /* > 0 */
    int64_t issued_ns; /* operator clock; 0 when not given */
    int64_t stored_ns; /* hub clock (Nats-Time-Stamp) for a queued command; 0 for live */
    uint64_t seq;      /* FLEET_CMD sequence of a queued command; 0 for live */
    char *supersedes[AE_GW_CMD_SUPERSEDES_MAX];
    int n_supersedes;
    bool started;           /* the COMMAND_LONG has gone out */
    const char *wait_cause; /* why it could not be sent yet (for the expiry report), or NULL */
    struct ae_gw_qcmd *next;
} ae_gw_qcmd;

/* Fills q from a request: name (the subject's last token) and the header values (NULL when
 * absent). Returns 0, AE_ENOENT when there is no id (a plain request, handled as before), or
 * AE_EINVAL with a message for a malformed id, TTL, issue time or supersedes list. q must be
 * zeroed; body and reply are left to the caller. Free with ae_gw_qcmd_free. */
int ae_gw_qcmd_parse(ae_gw_qcmd *q, const char *name, const char *id, const char *ttl_ms,
                     const char *issued, const char *supersedes, ae_err *err);
void ae_gw_qcmd_free(ae_gw_qcmd *q); /* frees the members and q itself; accepts NULL */

/* The command's age in ns at vehicle wall time now_ns, with hub_offset_ns = hub clock minus
 * vehicle clock (0 when unknown): from the hub's store time for a queued command, from the
 * issue time for a live one (0 when it has none); never negative. */
int64_t ae_gw_qcmd_age(const ae_gw_qcmd *q, int64_t now_ns, int64_t hub_offset_ns);

/* The state of a command from its COMMAND_ACK: MAV_RESULT ACCEPTED -> accepted,
 * TEMPORARILY_REJECTED and DENIED -> denied, anything else (and -1, no ACK) -> failed. */
const char *ae_gw_cmd_state_of(int mav_result);

/* What became of a command, for its report. Unused numbers are -1. */
typedef struct ae_gw_outcome {
    const char *state;  /* AE_GW_CS_* */
    const char *result; /* MAV_RESULT name, "timeout", "expired", "superseded", a refusal */
    const char *error;  /* a sentence for the operator, NULL when it went well */
    int mav_cmd, mav_result, result_param2, attempts;
    double elapsed_s;
    const char *superseded_by;
    bool has_age; /* age_s is meaningful */
    double age_s;
} ae_gw_outcome;

/* The report document of q (also the reply of a live command), one line of JSON:
 * {"vid","event":"cmd","ok","id","command","state","result",["mav_cmd","mav_result",
 *  "result_param2","attempts","elapsed_s"],"via","age_s","ttl_s",["superseded_by"],
 *  ["error"],"time"}. Returns a malloc'd string or NULL when out of memory. */
char *ae_gw_cmd_report(const char *vid, const ae_gw_qcmd *q, const ae_gw_outcome *o,
                       int64_t now_ns);

#endif
