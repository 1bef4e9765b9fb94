/* The fleet as Prometheus metrics: what `aerie dashboard` serves on GET /metrics, so that one
 * scrape per fleet shows every vehicle (text exposition format 0.0.4, common/prom.h).
 *
 * Per vehicle (label vid), from the same collector as `aerie status` (ae_status_collect):
 *   aerie_fleet_vehicle_online, aerie_fleet_vehicle_last_seen_timestamp_seconds,
 *   aerie_fleet_vehicle_battery_ratio, and from the vehicle's last link report:
 *   aerie_fleet_vehicle_backlog_messages, ..._backlog_bytes, ..._backlog_oldest_age_seconds,
 *   ..._discarded_messages_total, ..._uplink_connects_total, ..._uplink_rtt_seconds.
 * Per hub stream (labels stream, domain), from STREAM.INFO of the copies the readers use:
 *   aerie_hub_stream_messages, aerie_hub_stream_bytes, aerie_hub_stream_max_bytes,
 *   aerie_hub_stream_max_messages, aerie_hub_stream_max_age_seconds (the limits only when
 *   set), aerie_hub_stream_consumers.
 * And aerie_fleet_up (0 when the hub could not be read: the rest is then absent),
 * aerie_fleet_vehicles, aerie_fleet_vehicles_online. docs/operations.md has the alerts. */
#ifndef AERIE_CLI_FLEET_METRICS_H
#define AERIE_CLI_FLEET_METRICS_H

#include "cli/cli.h"
#include "cli/dash_http.h"

#include <jansson.h>
#include <stddef.h>

/* Renders the text from what was collected: `status` an ae_status_collect array and
 * `streams` an array of {"stream","domain","info"} (STREAM.INFO answers); either may be NULL
 * when the hub could not be read. Borrowed. Returns a malloc'd string of *len bytes, or NULL
 * when out of memory. */
char *ae_fleet_metrics_render(json_t *status, json_t *streams, size_t *len);

/* Collects from the hub on a connected c (NULL: the hub could not be reached) and renders.
 * `stale`: a link report older than this counts as offline (as in `aerie status`). A hub
 * that does not answer gives aerie_fleet_up 0, not an error. Returns as
 * ae_fleet_metrics_render. */
char *ae_fleet_metrics(ae_cli *c, int64_t stale, size_t *len);

/* STREAM.INFO of the home copy of each stream the readers use, as an array of
 * {"stream", "domain", "info"}; a missing stream is left out (aerie hub init creates them).
 * For the metrics and `aerie status`'s history lines. */
json_t *ae_fleet_streams_collect(ae_cli *c);

/* The dashboard's GET /metrics (dash_routes.c): ae_fleet_metrics on the dashboard's reads
 * connection, answered with the exposition format's Content-Type. */
enum MHD_Result ae_dash_metrics(ae_dash_req *r);

#endif
