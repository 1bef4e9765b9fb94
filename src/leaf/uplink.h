/* The uplink: aerie-leaf's leafnode connection to the regional hub (the soliciting side of
 * the NATS leafnode protocol), as nats-server 2.9 speaks it.
 *
 * It dials the hub (TLS 1.3 when configured, never falling back to plaintext), authenticates
 * (user/password, token, nkey seed or .creds), advertises local interest (LS+/LS- with
 * queue weights, filtered through the hub's permissions), mirrors the hub's interest into
 * the broker's sublist so that only subjects the hub wants cross the WAN, carries messages
 * both ways (LMSG/HMSG), detects dead links with its own PINGs, keeps keepalives ahead of
 * bulk data, paces data to a configured rate, and reconnects with exponential backoff and
 * jitter over the configured and advertised hub URLs. With ws:// or wss:// URLs it speaks
 * all of this inside websocket frames (ws_link.h), compressed with permessage-deflate when
 * ws_compression is set, packing what waits into as few frames as it can.
 *
 * It plugs into the broker through ae_server.uplink_hooks; the durable forwarder
 * (forward.c) uses the calls below. Everything runs on the loop thread. */
#ifndef AERIE_LEAF_UPLINK_H
#define AERIE_LEAF_UPLINK_H

#include "leaf/hooks.h"
#include "leaf/proto.h"
#include "leaf/server.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum ae_uplink_state {
    AE_UPLINK_DISCONNECTED,
    AE_UPLINK_CONNECTING,  /* TCP connect in progress */
    AE_UPLINK_WS_UPGRADE,  /* websocket: upgrade request sent, waiting for the 101 */
    AE_UPLINK_WAIT_INFO,   /* waiting for the hub's first INFO */
    AE_UPLINK_TLS,         /* TLS handshake */
    AE_UPLINK_WAIT_ACCEPT, /* CONNECT sent, waiting for INFO with connect_info */
    AE_UPLINK_READY,       /* interest exchanged: messages flow */
} ae_uplink_state;

/* Starts the uplink described by s->opts.remotes[0] (copied) and installs the hooks. The
 * first dial happens on the first loop pass. Returns 0 or AE_EINVAL with a message (bad
 * URL, unreadable credentials or TLS files). */
int ae_uplink_start(ae_server *s, ae_err *err);
/* Closes the connection and frees the uplink (s->uplink becomes NULL). */
void ae_uplink_stop(ae_server *s);

const char *ae_uplink_state_name(ae_uplink_state st);

/* ---- for the durable forwarder ------------------------------------------------------- */

/* Plugs the forwarder in (hooks.h: ae_uplink_client); a zeroed table unplugs it. */
void ae_uplink_set_client(ae_uplink *u, const ae_uplink_client *c);

/* "_INBOX.<random>." (with the trailing dot): reply subjects under it come back through
 * on_inbox instead of local routing. The uplink advertises "<prefix>>" to the hub. */
const char *ae_uplink_inbox_prefix(const ae_uplink *u);

/* Queues a message to the hub regardless of hub interest (JetStream publishes with
 * acks). Returns 0, AE_ECLOSED when not READY, AE_ELIMIT when larger than the hub's
 * max_payload. */
int ae_uplink_publish(ae_uplink *u, const char *subject, size_t subject_len, const char *reply,
                      size_t reply_len, const void *hdr, size_t hdr_len, const void *payload,
                      size_t payload_len);

/* The JetStream domain the connected hub announced in its INFO ("" when none or not
 * connected). */
const char *ae_uplink_hub_domain(const ae_uplink *u);

/* Bytes queued for the hub and not yet written (for flow control). */
size_t ae_uplink_queued(const ae_uplink *u);

/* Publishes the link status message now (state changes call it by themselves). */
void ae_uplink_publish_status(ae_uplink *u);

/* ---- for monitoring (monitor.c) ------------------------------------------------------- */

/* 1 while the link is up, else 0 (/varz "leafnodes"). u may be NULL. */
int ae_uplink_leaf_count(const ae_uplink *u);
/* The /leafz body: leafs[0] describes the link (state, hub, rtt, counters, hub interest).
 * Caller owns the result. */
struct json_t *ae_uplink_leafz(ae_uplink *u);
/* Adds "leaf" (host, port) and "uplink" (the link's state and counters) to a /varz body. */
void ae_uplink_varz(ae_uplink *u, struct json_t *varz);

#endif
