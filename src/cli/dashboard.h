/* `aerie dashboard`: the fleet as a web page, served over HTTP by libmicrohttpd, with JSON
 * endpoints built by the same code as `aerie status`, `twin` and `replay`. */
#ifndef AERIE_CLI_DASHBOARD_H
#define AERIE_CLI_DASHBOARD_H

#include "cli/cli.h"

/* `aerie dashboard [--port P] [--listen ADDR]` (argv[0] == "dashboard"): serves until
 * SIGINT/SIGTERM. Endpoints: GET / (the page), /metrics (fleet_metrics.h), /api/status,
 * /api/twin/VID, /api/replay/VID?since=10m&subject=state.battery&max=2000, /api/fleet. Returns the
 * exit code: 0 after a signal, 1 (cannot listen or reach the hub), 2 (usage). */
int ae_cmd_dashboard(ae_cli *c, int argc, char **argv);

#endif
