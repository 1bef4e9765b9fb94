/* Every route of the dashboard, in one table (dash_http.h). A path ending in '/' is a
 * prefix (the rest is the handler's r->rest); anything not listed here is a static asset from
 * web/ (dash_assets.h). A new endpoint is one line here and a handler in its own file. */
#include "cli/dash_api.h"
#include "cli/dash_http.h"
#include "cli/fleet_metrics.h"

const ae_dash_route ae_dash_routes[] = {
    {"GET", "/api/fleet", ae_dash_api_fleet},
    {"GET", "/api/status", ae_dash_api_status},
    {"GET", "/api/twin/", ae_dash_api_twin},
    {"GET", "/api/replay/", ae_dash_api_replay},
    {"GET", "/api/history/", ae_dash_api_history},
    {"GET", "/api/pending/", ae_dash_api_pending},
    {"POST", "/api/cmd", ae_dash_api_cmd},
    {"GET", "/metrics", ae_dash_metrics},
    {NULL, NULL, NULL},
};
