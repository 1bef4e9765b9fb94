/* What the loop does with all client connections (the registry's lists, registry.h): the
 * before-sleep pass (parse input of resumed producers, write pending output, free closed
 * connections), the periodic checks, closing everyone on drain, deferred PONGs once
 * publishes are durable, and resuming readers paused for the hub link. Called by server.c;
 * calls into client.c and conn.c. Everything runs on the loop thread. */
#ifndef AERIE_LEAF_CLIENTS_H
#define AERIE_LEAF_CLIENTS_H

#include "leaf/server.h"

#include <stdbool.h>

/* The before-sleep pass. Returns true when work is left that no fd or timer will announce
 * (the loop must not block). When draining and nobody is left, stops the loop. */
bool ae_clients_before_sleep(ae_server *s);
/* Periodic checks of every connection (pings, timeouts, write deadlines). */
void ae_clients_tick(ae_server *s, int64_t now);
/* Drain: every connection keeps what is queued for it and is closed once that is written (or
 * the drain deadline passes). */
void ae_clients_close_all(ae_server *s);
/* The durable log advanced: deferred PONGs whose publishes are on disk go out. */
void ae_clients_durable_advanced(ae_server *s);
/* The hub link can take traffic again: clients paused for it read again. */
void ae_clients_resume_uplink_paused(ae_server *s);
/* Frees every connection at once (server teardown). */
void ae_clients_free_all(ae_server *s);

#endif
