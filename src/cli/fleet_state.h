/* The collectors: the one place that reads the fleet's present state from the hub streams
 * (TWIN_STATE, TWIN_LIVE, FLEET_LINK, across their copies: copies.h). `aerie twin`,
 * `aerie status`, `aerie up`'s summary and the dashboard all print or serve what these
 * return, so no two views of the fleet can disagree.
 *
 * Cost: which subjects exist comes from STREAM.INFO with a subjects filter (the server's
 * per-subject index, not a message scan); the values are last-by-subject direct gets, all of
 * one collection pipelined on the one connection (direct_batch.h). The status of 1,000
 * vehicles is 3 listings and about 7,000 gets in flight 256 at a time
 * (bench/bench_dash_poll.c measures it).
 *
 * Two sources per state: TWIN_STATE holds every value in order, and TWIN_LIVE the newest
 * value a vehicle's leaf sent while its backlog was still draining after an outage. The live
 * value wins when its event time is newer, so the twin shows the present while the history
 * catches up; each value says which source it came from. */
#ifndef AERIE_CLI_FLEET_STATE_H
#define AERIE_CLI_FLEET_STATE_H

#include "cli/cli.h"

#include <jansson.h>
#include <stdint.h>

/* How far behind a leaf's forwarding may be before its vehicle counts as draining a
 * backlog: a record or two is always in flight for a few milliseconds. */
#define AE_DRAIN_LAG_NS (2LL * 1000000000LL)

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

/* The status of every known vehicle (those of fleet.json, and every vehicle the home copies
 * have a link report or a state of) on a connected ae_cli: a new array (caller decrefs),
 * sorted by vid, of
 *   {"vid","online","state","last_seen","backlog_msgs","battery_pct",
 *    "position":{"lat","lon","alt"?},"position_time","heading_deg","mode","armed",
 *    "autopilot","sources":{...},"link":{...}}
 * with null for what is not known. `online`: the vehicle leaf's newest link report says so
 * and is not older than `stale` (without link reports: its newest state arrived within
 * `stale`). `state`, what the dashboard colours by:
 *   "offline"   not online;
 *   "draining"  online, and its leaf is still forwarding a backlog: the oldest record it
 *               holds is older than AE_DRAIN_LAG_NS (backlog_oldest_s of its link report);
 *   "stale"     online, but its newest position, heartbeat and battery are all older than
 *               `stale` by event time (the leaf is up, the autopilot or gateway is silent);
 *   "online"    otherwise.
 * Returns 0 or an AE_E* with a message. */
int ae_status_collect(ae_cli *c, int64_t stale, json_t **out, ae_err *err);

/* As ae_status_collect with at most `window` direct gets in flight (1: one at a time, the
 * way the collector used to read; 0: the default). For the benchmark. */
int ae_status_collect_window(ae_cli *c, int64_t stale, int window, json_t **out, ae_err *err);

/* True when a link report (the JSON a vehicle's leaf publishes on ...link) says its
 * backlog is draining, as "state" above decides it. */
bool ae_status_link_draining(json_t *link);

/* The stale time the readers use on c: the fleet's (fleet.json "stale", a local fleet's
 * leaves report every 2 s) when reading a fleet directory, else `fallback`. */
int64_t ae_status_stale_ns(const ae_cli *c, int64_t fallback);

#endif
