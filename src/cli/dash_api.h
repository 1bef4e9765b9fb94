/* The dashboard's JSON endpoints (docs/cli.md has their shapes). Every one reads through the
 * code the commands use, so the page and the CLI cannot disagree:
 *   GET  /api/fleet[?tracks=1]   the fleet poll: fleet_state.c's status of every vehicle,
 *                                shared for half a second by every page, and with tracks=1
 *                                the recent track of each (dash_tracks.h)
 *   GET  /api/status             the array of `aerie status --json`
 *   GET  /api/twin/VID           `aerie twin VID --json`'s document
 *   GET  /api/replay/VID?since=10m&subject=state.battery&max=2000
 *                                `aerie replay`'s messages (ae_replay_each)
 *   GET  /api/history/VID?since=10m
 *                                the replay slider's data: positions, heartbeats and link
 *                                reports by event time, from ae_replay_each
 *   GET  /api/pending/VID        ae_cmdlog_pending: commands that may still run
 *   POST /api/cmd {"vid","command":"rtl"|"land"|"hold"}
 *                                ae_cmd_send, the path of `aerie cmd` (audited) */
#ifndef AERIE_CLI_DASH_API_H
#define AERIE_CLI_DASH_API_H

#include "cli/dash_http.h"

enum MHD_Result ae_dash_api_fleet(ae_dash_req *r);
enum MHD_Result ae_dash_api_status(ae_dash_req *r);
enum MHD_Result ae_dash_api_twin(ae_dash_req *r);
enum MHD_Result ae_dash_api_replay(ae_dash_req *r);
enum MHD_Result ae_dash_api_history(ae_dash_req *r);
enum MHD_Result ae_dash_api_pending(ae_dash_req *r);
enum MHD_Result ae_dash_api_cmd(ae_dash_req *r);

#endif
