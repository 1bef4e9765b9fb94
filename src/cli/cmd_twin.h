/* `aerie twin VID` and `aerie status`: the digital twin read from the hub streams with
 * direct gets (the server's last-by-subject index), never by scanning messages. */
#ifndef AERIE_CLI_CMD_TWIN_H
#define AERIE_CLI_CMD_TWIN_H

#include "cli/cli.h"

/* `aerie twin VID [--json]` (argv[0] == "twin"): the latest value of every state subject of
 * the vehicle. Returns the exit code: 0, 1 (error or no state for the vehicle), 2 (usage). */
int ae_cmd_twin(ae_cli *c, int argc, char **argv);

/* `aerie status [--json] [--stale 30s]` (argv[0] == "status"): one line (or JSON object)
 * per vehicle with online/offline, last seen, uplink backlog, battery and position. Returns
 * the exit code: 0, 1 (error), 2 (usage). */
int ae_cmd_status(ae_cli *c, int argc, char **argv);

#endif
