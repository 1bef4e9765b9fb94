/* The uplink: aerie-leaf's leafnode connection to the regional hub (the soliciting side of
 * the NATS leafnode protocol), as nats-server 2.9 speaks it.
 *
 * It dials the hub (TLS 1.3 when configured, never falling back to plaintext), authenticates
 * (user/password, token, nkey seed or .creds), advertises local interest (LS+/LS- with
 * queue weights, filtered through the hub's permissions), mirrors the hub's interest into
 * the broker's sublist so that only subjects the hub wants cross the WAN, carries messages
 * both ways (LMSG/HMSG), detects dead links with its own PINGs, keeps keepalives ahead of
 * bulk data, paces data to a configured rate, and reconnects with exponential backoff and
 * jitter over the configured and advertised hub URLs.
 *
 * It plugs into the broker through ae_server.uplink_hooks; the durable forwarder
 * (forward.c) uses the calls below. Everything runs on the loop thread. */
#ifndef AERIE_LEAF_UPLINK_H
#define AERIE_LEAF_UPLINK_H

#include "leaf/proto.h"
#include "leaf/server.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum ae_uplink_state {
    AE_UPLINK_DISCONNECTED,
    AE_UPLINK_CONNECTING,  /* TCP connect in progress */
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

/* Callbacks into the forwarder. on_ready(true) after interest is exchanged on a new
 * connection, on_ready(false) when it is lost. on_inbox: a message arrived on the
 * forwarder's inbox prefix (a PubAck); `op` is valid for the call. status: add fields to the
 * link status message and /leafz. */
typedef struct ae_uplink_client {
    void *ctx;
    void (*on_ready)(void *ctx, bool ready);
    void (*on_inbox)(void *ctx, const ae_op *op);
    void (*on_writable)(void *ctx); /* data queue drained below the low-water mark */
    void (*status)(void *ctx, struct json_t *obj);
} ae_uplink_client;

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

/* Bytes queued for the hub and not yet written (for flow control). */
size_t ae_uplink_queued(const ae_uplink *u);

/* Publishes the link status message now (state changes call it by themselves). */
void ae_uplink_publish_status(ae_uplink *u);

#endif
