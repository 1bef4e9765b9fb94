/* How much history the hub's twin streams keep: the one home of the retention limits that
 * `aerie hub init`, `aerie up` and the topology's provisioning (which runs `aerie hub init`)
 * apply, and of their defaults (docs/deploy.md, "Retention").
 *
 * Per stream (TWIN_STATE, TWIN_EVENTS, FLEET_CMD, FLEET_LINK, TWIN_LIVE), three limits, all
 * with discard "old" (the newest history stays, the oldest goes):
 *   max_age    how long a message is kept (0: forever)
 *   max_bytes  how much the stream may hold on each node
 *   history    messages kept per subject (max_msgs_per_subject)
 *
 * Defaults:           max_age   max_bytes          history
 *   TWIN_STATE          7d      60 % of the budget  unlimited
 *   TWIN_EVENTS        30d      25 %                unlimited
 *   FLEET_CMD           1h       5 %                unlimited
 *   FLEET_LINK          7d       5 %                100
 *   TWIN_LIVE           1h       5 %                1 (fixed: the newest value only)
 * The budget is the store the streams may fill on a hub node: --store-budget SIZE when given;
 * for a local fleet of one tenant (`aerie up`, or `hub init --dir` of one) 90 % of each
 * node's max_file_store; else none: max_bytes stays unlimited and the node's max_file_store
 * (and a tenant account's own JetStream limit, which refuses rather than discards) is the
 * bound. A limit given on the command line always wins.
 *
 * Why a budget and not fixed sizes: nats-server reserves a stream's max_bytes on every node
 * that holds a replica and refuses a stream whose reservation does not fit the node's (or
 * the account's) store, so the limits must be fractions of what the node has. */
#ifndef AERIE_CLI_RETENTION_H
#define AERIE_CLI_RETENTION_H

#include "common/err.h"

#include <stdbool.h>
#include <stdint.h>

enum { AE_RET_STATE, AE_RET_EVENTS, AE_RET_CMD, AE_RET_LINK, AE_RET_LIVE, AE_RET_N };

#define AE_RET_UNSET (-2) /* max_bytes not chosen yet: filled from a budget, else unlimited */

typedef struct ae_retention {
    int64_t max_age[AE_RET_N];   /* ns; 0 forever */
    int64_t max_bytes[AE_RET_N]; /* bytes; -1 unlimited; AE_RET_UNSET not chosen */
    int64_t history[AE_RET_N];   /* per subject; -1 unlimited */
    int64_t budget;              /* --store-budget; 0: none given */
} ae_retention;

/* The stream names, in AE_RET_* order. */
extern const char *const ae_retention_streams[AE_RET_N];

/* The defaults above (max_bytes AE_RET_UNSET, no budget). */
ae_retention ae_retention_defaults(void);

/* Reads a retention option at argv[*i] (--state-max-age 7d, --events-max-bytes 2GB,
 * --state-history N, --link-history N, --store-budget 4GB, ... for state, events, cmd,
 * link, live; max_age "0" is forever, max_bytes/history "unlimited" is no limit). Returns 1
 * and advances *i past it; 0 when argv[*i] is not one; -1 with a message for a bad value. */
int ae_retention_opt(ae_retention *r, int argc, char **argv, int *i, ae_err *err);

/* The usage lines of those options. */
extern const char ae_retention_usage[];

/* Gives every stream whose max_bytes is not chosen its share of `budget` bytes (r->budget
 * when that is set; budget <= 0 and no r->budget: unlimited). */
void ae_retention_fit(ae_retention *r, int64_t budget);

/* The budget of the streams on a node whose JetStream file store is node_store bytes: 90 %
 * of it (the rest for the other streams, such as AUDIT). 0 when node_store <= 0. */
int64_t ae_retention_budget(int64_t node_store);

/* The index of a stream name, or -1. */
int ae_retention_index(const char *stream);

#endif
