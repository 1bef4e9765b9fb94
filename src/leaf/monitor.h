/* HTTP monitoring: /varz, /connz, /subsz, /healthz and /leafz with nats-server's field
 * names, so existing scrapers and dashboards work against aerie-leaf. Served by
 * libmicrohttpd driven from our own loop (its epoll fd is watched like any socket), so the
 * handlers read server state on the loop thread without locks. */
#ifndef AERIE_LEAF_MONITOR_H
#define AERIE_LEAF_MONITOR_H

#include "leaf/server.h"

/* Starts listening on opts.http_host (or opts.host) : opts.http_port. Returns 0 or an error
 * naming the address. */
int ae_monitor_start(ae_server *s, ae_monitor **out, ae_err *err);
void ae_monitor_stop(ae_monitor *m); /* accepts NULL */

#endif
