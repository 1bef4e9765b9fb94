/* aerie-leaf's Prometheus metrics: the body of GET /metrics on the monitoring port
 * (monitor.c routes the request here).
 *
 * Families, all prefixed `aerie_` (docs/operations.md lists them with their alerts):
 *   aerie_leaf_*     the broker: connections, subscriptions, messages and bytes in and out,
 *                    slow consumers, memory;
 *   aerie_uplink_*   the link to the hub: up, state, connects, RTT, traffic, drops
 *                    (present only when a leafnodes remote is configured);
 *   aerie_forward_*  store-and-forward: captured, forwarded, acked, resent, in flight, errors;
 *   aerie_store_*    the durable log: backlog, bytes and bounds, oldest record's age,
 *                    discarded and lost records, sync latency (a histogram)
 *                    (both present only with uplink subjects).
 * The uplink and forwarder figures come from the same status objects as /varz and /leafz
 * (ae_uplink_varz, ae_forward_status), so the two views cannot disagree. */
#ifndef AERIE_LEAF_METRICS_H
#define AERIE_LEAF_METRICS_H

#include "leaf/server.h"

#include <stddef.h>

/* Renders the text exposition (format 0.0.4, common/prom.h) of s. Loop thread only.
 * Returns a malloc'd NUL-terminated string of *len bytes, or NULL when out of memory. */
char *ae_leaf_metrics(ae_server *s, size_t *len);

#endif
