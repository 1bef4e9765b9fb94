/* The durable forwarder: store-and-forward from the vehicle to the hub's JetStream.
 *
 * Every local message on an uplink subject is appended to the log (store/), delivered
 * locally as usual, and forwarded to the hub as a JetStream publish with a Nats-Msg-Id
 * of "<vid>.<store epoch>.<log seq>" and an Aerie-Event-Time header (when the vehicle
 * published it). Only a PubAck retires a record. Per subject at most one publish is in
 * flight, so a publish lost in a hub fail-over can be sent again without overtaking a
 * later one: per-subject order in the stream holds whatever the hub drops. After every
 * (re)connect the hub is asked which message of each subject it stored last, so records it
 * already has are not stored twice even after an outage longer than the duplicate window.
 * See docs/store-and-forward.md. */
#ifndef AERIE_LEAF_FORWARD_H
#define AERIE_LEAF_FORWARD_H

#include "leaf/server.h"

typedef struct ae_forward ae_forward;

/* Opens the log in s->opts.store_dir (recovering it) and plugs into the server and the
 * uplink. Call after ae_uplink_start, before the loop runs. Returns 0 or an error naming the
 * directory. */
int ae_forward_start(ae_server *s, ae_err *err);
/* Flushes and closes the log; frees the forwarder. */
void ae_forward_stop(ae_server *s);

#endif
