/* PING from a local client, and its PONG: the client's flush barrier. When the PING follows
 * publishes on durable uplink subjects, its PONG waits until the log has them on disk (the
 * store-and-forward contract, docs/store-and-forward.md), and later PONGs queue behind it so
 * none overtakes another. If the log failed before they were on disk, the PONG still goes
 * out, after an -ERR saying the publishes were not stored. The log is asked through
 * durable_hooks (hooks.h). Called by client.c (the op) and server.c (the log advanced). */
#ifndef AERIE_LEAF_PING_H
#define AERIE_LEAF_PING_H

#include "leaf/client.h"

/* A PING: PONG now, or deferred until the publishes before it are durable. */
void ae_client_ping_op(ae_client *c);
/* Sends the deferred PONGs whose publishes are now durable. */
void ae_client_durable_advanced(ae_client *c);

#endif
