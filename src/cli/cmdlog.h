/* The command log: every command sent to a vehicle with an id, and what became of it, as the
 * hub knows it. Two sources, both read with direct gets (no consumers):
 *
 *   FLEET_CMD    the commands: subject fleet.<env>.veh.<vid>.cmd.<kind>, body the arguments,
 *                headers Aerie-Cmd-Id / -Ttl-Ms / -Issued / -Supersedes / -Actor (the same
 *                names aerie-gw reads, src/gw/qcmd.h); kept for the stream's max_age (1 h)
 *   TWIN_EVENTS  the vehicle's reports on fleet.<env>.veh.<vid>.event.cmd: one JSON document
 *                per step (delivered, then accepted / denied / failed; or expired, superseded,
 *                rejected), forwarded by the vehicle's leaf exactly once and in order
 *
 * A command's state is the vehicle's newest report when there is one ("by": "vehicle"). A
 * command the vehicle has not reported on yet is, by the hub's reckoning ("by": "hub"):
 * superseded when a newer command of the same kind to the same vehicle has been reported on
 * (the vehicle only ever fetches the newest of a kind), expired once its TTL has run out
 * since the hub stored it (the vehicle never runs it after that), and queued otherwise; a
 * queued one that a newer command of its kind will replace names it in "replaced_by".
 *
 * Each command is a JSON object:
 *   {"id","vid","command","args","ttl_s","issued","stored","expires","seq","actor",
 *    "supersedes":[..],"state","by","superseded_by"?,"replaced_by"?,"report"?,
 *    "steps":[{"state","time","by", "report"?}, ...]}
 * with times as RFC 3339 strings. The dashboard lists a vehicle's pending commands with
 * ae_cmdlog_pending. */
#ifndef AERIE_CLI_CMDLOG_H
#define AERIE_CLI_CMDLOG_H

#include "cli/cli.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Header names; src/gw/qcmd.h must agree. */
#define AE_HDR_CMD_ID         "Aerie-Cmd-Id"
#define AE_HDR_CMD_TTL        "Aerie-Cmd-Ttl-Ms"
#define AE_HDR_CMD_ISSUED     "Aerie-Cmd-Issued"
#define AE_HDR_CMD_SUPERSEDES "Aerie-Cmd-Supersedes"
#define AE_HDR_CMD_ACTOR      "Aerie-Cmd-Actor"
#define AE_CMD_SUPERSEDES_MAX 16

/* The default and the bounds of a command's TTL: short enough that a flight command does
 * not run long after the operator gave up on it, at most what FLEET_CMD keeps. */
#define AE_CMD_TTL_DEFAULT_NS (30LL * 1000000000LL)
#define AE_CMD_TTL_MIN_NS     (1LL * 1000000000LL)
#define AE_CMD_TTL_MAX_NS     (3600LL * 1000000000LL)

/* A new command id for vid: "<vid>-" and 8 random characters of a-z and 2-9 without the
 * look-alikes l, o, 0, 1 (40 bits). Returns 0, or AE_EINVAL (vid too long for an id of at
 * most AE_IDENT_MAX characters) / AE_EIO (no randomness). */
int ae_cmd_id_new(const char *vid, char *out, size_t cap, ae_err *err);

/* The vehicle an id belongs to: everything before its last '-'. Returns 0, or AE_EINVAL
 * when id is not of the form VID-SUFFIX. */
int ae_cmd_id_vid(const char *id, char *vid, size_t cap);

/* True for the states after which nothing more happens to a command. */
bool ae_cmd_state_final(const char *state);

/* The pure part: merges commands (array of objects with at least "id", "vid", "command",
 * "ttl_s", "stored" and optionally "supersedes", from FLEET_CMD, oldest first) with the
 * vehicle's reports (array of report documents in the order the vehicle sent them, each
 * with an "id"; "_time" holds when it was sent) into the command objects above, at time
 * now_ns. Reports of ids not among the commands (aged out of FLEET_CMD, or superseded before
 * they reached the hub's view) make commands of their own. Steals both arrays; returns a
 * new array (NULL when out of memory). */
json_t *ae_cmdlog_merge(json_t *commands, json_t *reports, int64_t now_ns);

/* Every command to vid stored since since_ns (and every report since then), oldest first,
 * on a connected ae_cli. Returns 0 and a new array in *out, or an AE_E* with a message
 * (AE_ENOENT when the hub has neither FLEET_CMD nor TWIN_EVENTS). */
int ae_cmdlog_list(ae_cli *c, const char *vid, int64_t since_ns, json_t **out, ae_err *err);

/* One command by id (looked for since since_ns). Returns 0 and a new object, AE_ENOENT when
 * the hub knows no such command, or another AE_E*. */
int ae_cmdlog_find(ae_cli *c, const char *id, int64_t since_ns, json_t **out, ae_err *err);

/* For the dashboard: vid's commands that may still run (state queued, or delivered without
 * a verdict yet), oldest first. Returns 0 and a new array, or an AE_E*. */
int ae_cmdlog_pending(ae_cli *c, const char *vid, json_t **out, ae_err *err);

#endif
