/* aerie-gw's Prometheus metrics: GET /metrics on the address of --metrics (config key
 * `metrics`), text exposition format 0.0.4 (common/prom.h).
 *
 * Families (docs/gateway.md lists them):
 *   aerie_gw_info, aerie_gw_start_time_seconds
 *   aerie_gw_autopilot_link_up, aerie_gw_autopilot_heartbeat_age_seconds
 *   aerie_gw_nats_connected, aerie_gw_nats_connects_total
 *   aerie_gw_published_messages_total, aerie_gw_publish_errors_total
 *   aerie_gw_mavlink_link_open, aerie_gw_mavlink_frames_total, ..._crc_errors_total,
 *     ..._lost_frames_total, ..._received_bytes_total, ..._sent_frames_total, ... {link}
 *   aerie_gw_commands_sent_total, aerie_gw_command_resends_total,
 *   aerie_gw_commands_acked_total, aerie_gw_commands_failed_total{reason},
 *   aerie_gw_commands_queued, aerie_gw_commands_inflight
 *
 * The listener is libmicrohttpd (loaded on demand, common/mhd.h) driven from the gateway's
 * own loop: its epoll fd sits in the loop's poll set, so requests are answered on the loop
 * thread and read the gateway's state without locks. */
#ifndef AERIE_GW_METRICS_H
#define AERIE_GW_METRICS_H

#include "common/err.h"
#include "gw/gw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a command did not end accepted (aerie_gw_commands_failed_total{reason}). */
typedef enum ae_gw_fail_reason {
    AE_GW_FAIL_DENIED,      /* the autopilot answered DENIED or TEMPORARILY_REJECTED */
    AE_GW_FAIL_FAILED,      /* the autopilot answered FAILED, UNSUPPORTED, ... */
    AE_GW_FAIL_TIMEOUT,     /* no COMMAND_ACK after every retry */
    AE_GW_FAIL_REJECTED,    /* refused by the gateway: unknown, bad arguments, busy */
    AE_GW_FAIL_EXPIRED,     /* past its TTL when its turn came */
    AE_GW_FAIL_SUPERSEDED,  /* replaced by a newer command of its kind */
    AE_GW_FAIL_INTERRUPTED, /* sent by a previous run that stopped before the ACK */
    AE_GW_FAIL_ERROR,       /* the journal could not record it (nothing sent) */
    AE_GW_FAIL_NREASONS
} ae_gw_fail_reason;

/* The reason for a command with an id that ended without being sent in this run (state and
 * result of its report, qcmd.h). */
ae_gw_fail_reason ae_gw_fail_reason_of(const char *state, const char *result);

/* Splits "HOST:PORT", "[IPv6]:PORT" or ":PORT" (every address) into host (cap bytes) and
 * port 1..65535. Returns 0, or AE_EINVAL for anything else (no port, an IPv6 address without
 * brackets, brackets or blanks in a host, a host longer than cap). */
int ae_gw_metrics_parse_addr(const char *addr, char *host, size_t cap, int *port);

/* Starts listening on g's cfg.metrics. Returns 0 or an error naming the address. */
int ae_gw_metrics_start(ae_gw *g, ae_err *err);
/* The fd the loop polls for the listener, or -1 when there is none. */
int ae_gw_metrics_fd(const ae_gw *g);
/* Serves what is ready: call when the fd polled readable, and on every loop pass (it runs
 * the listener's own timeouts every 500 ms). */
void ae_gw_metrics_poll(ae_gw *g, bool readable, int64_t now_mono);
/* When ae_gw_metrics_poll wants its next periodic run (INT64_MAX without a listener). */
int64_t ae_gw_metrics_next_run(const ae_gw *g);
void ae_gw_metrics_stop(ae_gw *g); /* closes the listener; no-op without one */

/* The exposition text of g. Loop thread. A malloc'd string of *len bytes, or NULL when out
 * of memory. */
char *ae_gw_metrics_render(ae_gw *g, size_t *len);

#endif
