/* `aerie twin VID` and `aerie status`: the digital twin and the fleet's status, as the
 * collectors of fleet_state.h read them (the same JSON the dashboard serves). */
#ifndef AERIE_CLI_CMD_TWIN_H
#define AERIE_CLI_CMD_TWIN_H

#include "cli/cli.h"
#include "cli/fleet_state.h"

#include <stdio.h>

/* `aerie twin VID [--json]` (argv[0] == "twin"): the latest value of every state subject of
 * the vehicle. Returns the exit code: 0, 1 (error or no state for the vehicle), 2 (usage). */
int ae_cmd_twin(ae_cli *c, int argc, char **argv);

/* `aerie status [--json] [--stale 30s]` (argv[0] == "status"): one line (or JSON object)
 * per vehicle with online/offline, last seen, uplink backlog, battery, mode and position.
 * Returns the exit code: 0, 1 (error), 2 (usage). */
int ae_cmd_status(ae_cli *c, int argc, char **argv);

/* Prints the status table of an ae_status_collect array to f (nothing for an empty one). */
void ae_status_print_table(json_t *all, FILE *f);

#endif
