/* `aerie dashboard`: the fleet as a web page (a live map, the table, a replay slider and
 * commands), served over HTTP by libmicrohttpd, with JSON endpoints built by the same code
 * as `aerie status`, `twin`, `replay` and `cmd`. */
#ifndef AERIE_CLI_DASHBOARD_H
#define AERIE_CLI_DASHBOARD_H

#include "cli/cli.h"

/* `aerie dashboard [--port P] [--listen ADDR] [--require-auth] [--token-file F]`
 * (argv[0] == "dashboard"): serves until SIGINT/SIGTERM. The page is / (web/, embedded);
 * the endpoints are in dash_api.h. Returns the exit code: 0 after a signal, 1 (cannot
 * listen or reach the hub), 2 (usage, or a login is required and none is known). */
int ae_cmd_dashboard(ae_cli *c, int argc, char **argv);

#endif
