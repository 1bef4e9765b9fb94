/* `aerie twin VID` and `aerie status`: the digital twin read from the hub streams with
 * direct gets (the server's last-by-subject index), never by scanning messages. The
 * collectors build the JSON the commands print and the dashboard serves. */
#ifndef AERIE_CLI_CMD_TWIN_H
#define AERIE_CLI_CMD_TWIN_H

#include "cli/cli.h"

#include <stdio.h>

/* `aerie twin VID [--json]` (argv[0] == "twin"): the latest value of every state subject of
 * the vehicle. Returns the exit code: 0, 1 (error or no state for the vehicle), 2 (usage). */
int ae_cmd_twin(ae_cli *c, int argc, char **argv);

/* `aerie status [--json] [--stale 30s]` (argv[0] == "status"): one line (or JSON object)
 * per vehicle with online/offline, last seen, uplink backlog, battery, mode and position.
 * Returns the exit code: 0, 1 (error), 2 (usage). */
int ae_cmd_status(ae_cli *c, int argc, char **argv);

/* The twin of one vehicle on a connected ae_cli: a new object (caller decrefs)
 * {"vid","env","states":{NAME:{"value","event_time","stored","source":"state"|"live"}}}
 * where each state is the newer of TWIN_STATE and TWIN_LIVE by event time. An unknown
 * vehicle gives empty "states". Returns 0, or AE_ENOENT when TWIN_STATE does not exist, or
 * another AE_E* with a message. */
int ae_twin_collect(ae_cli *c, const char *vid, json_t **out, ae_err *err);

/* As ae_twin_collect, but the state values come from `stream` (borrowed), e.g. the global
 * aggregate TWIN_STATE_ALL or a mirror, which carry the original subjects; TWIN_LIVE is
 * consulted only when stream is TWIN_STATE. AE_ENOENT when that stream does not exist. */
int ae_twin_collect_from(ae_cli *c, const char *stream, const char *vid, json_t **out, ae_err *err);

/* The status of every known vehicle on a connected ae_cli: a new array (caller decrefs) of
 * {"vid","online","last_seen","backlog_msgs","battery_pct","position":{lat,lon,alt},
 *  "mode","armed","sources":{...},"link":{...}}, sorted by vid, with null for what is not
 * known. `stale`: a link report older than this counts as offline. Returns 0 or an AE_E*. */
int ae_status_collect(ae_cli *c, int64_t stale, json_t **out, ae_err *err);

/* Prints the status table of an ae_status_collect array to f (nothing for an empty one). */
void ae_status_print_table(json_t *all, FILE *f);

#endif
