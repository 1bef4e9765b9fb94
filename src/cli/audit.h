/* The audit trail: who did what to which vehicle, and how it went.
 *
 * Every credential issue and revocation (and any other command that calls ae_audit) becomes
 * one JSON line
 *
 *   {"time":"2026-11-26T06:10:11.123456789Z","actor":"alice@ops1","action":"creds.add",
 *    "vid":"VID-001","env":"prod","details":{...},"result":"ok"}
 *
 * appended to DIR/audit.log (O_APPEND, mode 0600, fsync'd before ae_audit returns) and
 * published to `fleet.<env>.audit` on the hub, where the stream AUDIT (subjects
 * `fleet.*.audit`, file storage, R3 on a cluster of three or more, deletes and purges
 * denied) keeps it. `aerie audit` reads the stream back.
 *
 * The local file is the record of last resort: it is written first, so an action taken
 * while the hub is unreachable is still on disk (and the line says it was not published). */
#ifndef AERIE_CLI_AUDIT_H
#define AERIE_CLI_AUDIT_H

#include "cli/cli.h"
#include "common/err.h"

#include <jansson.h>
#include <stddef.h>

#define AE_STREAM_AUDIT "AUDIT"

/* Records one action. `action` is a short dotted name ("creds.add", "revoke", "cmd");
 * `vid` may be NULL; `details` (may be NULL) is borrowed, not stolen; `result` is "ok",
 * "error" or another short word. Connects the ae_cli to the hub if it is not connected yet
 * (through --dir / --server as usual). Never fails the caller's command: problems are
 * printed to stderr as warnings. Returns 0 when the entry is both on disk (if there is a
 * fleet directory) and acknowledged by the hub's AUDIT stream, else a negative AE_E*.
 *
 * The one line another command adds, after it knows its outcome:
 *     ae_audit(c, "cmd", vid, details_or_NULL, rc == 0 ? "ok" : "error");          */
int ae_audit(ae_cli *c, const char *action, const char *vid, json_t *details, const char *result);

/* Who is acting, for the "actor" of an entry: $USER (else $LOGNAME, else the account name
 * of the uid) @ the host name. */
void ae_audit_actor(char *out, size_t cap);

/* Creates the AUDIT stream if it does not exist (replicas: min(3, number of hub URLs)),
 * retrying while a new cluster elects its JetStream leader. Returns 0 or an AE_E*. */
int ae_audit_ensure_stream(ae_cli *c, ae_err *err);

/* `aerie audit [--since 1h] [--vid VID] [--json] [--file]` (argv[0] == "audit"): prints the
 * entries of the hub's AUDIT stream newer than --since (default 24h), or with --file those of
 * DIR/audit.log. Returns the exit code: 0, 1 (error), 2 (usage). */
int ae_cmd_audit(ae_cli *c, int argc, char **argv);

#endif
