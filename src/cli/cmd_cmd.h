/* `aerie cmd VID COMMAND [ARGS]`: send a command with an id and a TTL to a vehicle and
 * follow it to the vehicle's verdict; `aerie cmd status ID` / `aerie cmd list VID` show the
 * command log (cmdlog.h). docs/cli.md has the options and output. */
#ifndef AERIE_CLI_CMD_CMD_H
#define AERIE_CLI_CMD_CMD_H

#include "cli/cli.h"

#include <jansson.h>

/* Runs `aerie cmd ...` (argv[0] == "cmd"). Exit codes: 0 the vehicle accepted, 1 it refused,
 * failed, the command expired or was superseded (or an error), 2 usage, 3 no verdict yet:
 * the command is queued (or delivered) and the vehicle may still run it. */
int ae_cmd_cmd(ae_cli *c, int argc, char **argv);

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
