/* `aerie cmd VID COMMAND [ARGS]`: send a command with an id and a TTL to a vehicle and
 * follow it to the vehicle's verdict; `aerie cmd status ID` / `aerie cmd list VID` show the
 * command log (cmdlog.h). docs/cli.md has the options and output. */
#ifndef AERIE_CLI_CMD_CMD_H
#define AERIE_CLI_CMD_CMD_H

#include "cli/cli.h"

#include <jansson.h>
#include <stdint.h>

/* Runs `aerie cmd ...` (argv[0] == "cmd"). Exit codes: 0 the vehicle accepted, 1 it refused,
 * failed, the command expired or was superseded (or an error), 2 usage, 3 no verdict yet:
 * the command is queued (or delivered) and the vehicle may still run it. */
int ae_cmd_cmd(ae_cli *c, int argc, char **argv);

/* One command to send: what `aerie cmd VID COMMAND ...` and the dashboard's buttons give. */
typedef struct ae_cmd_request {
    const char *vid, *name;
    const char *id;      /* NULL: a new one (ae_cmd_id_new) */
    json_t *body;        /* the arguments, borrowed; NULL: {} */
    int64_t ttl_ns;      /* how long it may wait for the vehicle; 0: AE_CMD_TTL_DEFAULT_NS */
    int64_t wait_ns;     /* how long to wait for the verdict, across an outage; 0: the
                            ae_cli's timeout, and no wait once the hub has stored a command
                            to a vehicle whose link is known to be down */
    const char *actor;   /* who sends it (header Aerie-Cmd-Actor); NULL: ae_audit_actor() */
    json_t *audit_extra; /* borrowed; its keys are added to the audit entry's details */
} ae_cmd_request;

/* What became of a command. */
typedef struct ae_cmd_result {
    int code;                  /* as `aerie cmd`'s exit code: 0, 1, 2 (bad id), 3 */
    char id[AE_IDENT_MAX + 1]; /* the command's id */
    char state[32];  /* a word: the verdict's state (accepted, denied, failed, ...), or queued,
                        delivered, no answer, unreachable, not sent, hub unreachable, error */
    json_t *doc;     /* what `aerie cmd` prints on stdout: the vehicle's verdict (with its
                        MAV_RESULT), or {"id","vid","command","state","ttl_s","seq"?};
                        NULL when nothing was sent */
    char note[1024]; /* what `aerie cmd` prints on stderr, lines ending in '\n'; "" if none */
} ae_cmd_result;

/* The path of every command: publishes it to fleet.<env>.veh.<vid>.cmd.<name> with its id,
 * TTL, issue time, the ids it supersedes and the actor (FLEET_CMD stores it), follows it to
 * the vehicle's verdict or until the wait is over, and records it in the audit trail
 * (audit.h). Connects c if needed. Returns res->code; free res with ae_cmd_result_free. */
int ae_cmd_send(ae_cli *c, const ae_cmd_request *req, ae_cmd_result *res);
void ae_cmd_result_free(ae_cmd_result *res);

/* Runs `aerie cmd status ID ...` / `aerie cmd list VID ...` (argv[0] == "status" or "list";
 * cmd_cmd_log.c). Exit codes: 0, 1 (error, or no such command), 2 (usage). */
int ae_cmd_cmd_log(ae_cli *c, int argc, char **argv);

/* Builds the JSON body of a command from its positional arguments: `takeoff ALT`,
 * `goto LAT LON ALT`, `mode NAME`, and key=value pairs for any command. Returns 0 and a new
 * object in *out, or AE_EINVAL with a message naming the bad argument. */
int ae_cmd_build_body(const char *name, int argc, char **argv, json_t **out, ae_err *err);

/* True if a reply body says the command was accepted: a JSON object with "ok": true or
 * "accepted": true, or a "result"/"status" string of accepted, ok, success, done or
 * MAV_RESULT_ACCEPTED (any case). */
bool ae_cmd_reply_accepted(const char *data, int len);

#endif
