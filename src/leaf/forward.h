/* The durable forwarder: store-and-forward from the vehicle to the hub's JetStream.
 *
 * Every local message on an uplink subject is appended to the log (store/), delivered
 * locally as usual, and published to the hub stream from the log with a keyed
 * Nats-Msg-Id (msgid.h) and an Aerie-Event-Time header. Many publishes are in flight per
 * subject (the window follows the link's bandwidth-delay product); only a PubAck retires a
 * record, and only in order (pipeline.h). After every (re)connect, and whenever replies stop
 * making sense, the stream is read back from the last retired record (walk.h): records it
 * holds are retired, copies it holds out of order are deleted and published again, so the
 * stream holds every record exactly once and in per-subject order whatever the link or the
 * hub's leader elections did. docs/store-and-forward.md states the contract and the
 * argument. */
#ifndef AERIE_LEAF_FORWARD_H
#define AERIE_LEAF_FORWARD_H

#include "leaf/server.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ae_forward ae_forward;
struct json_t;

/* Opens the log in s->opts.store_dir (recovering it), plugs into the broker (durable
 * capture, flush-waits-for-disk) and into the uplink `up` as its client. Call after
 * ae_uplink_start, before the loop runs. Returns 0 or an error naming the directory. */
int ae_forward_start(ae_server *s, ae_uplink *up, ae_err *err);
/* Flushes and closes the log; frees the forwarder. */
void ae_forward_stop(ae_server *s);

/* True if subject is one of the durable uplink subjects (opts uplink.subjects): such
 * messages reach the hub only through the log, never as plain leafnode traffic. */
bool ae_forward_is_durable(const ae_forward *f, const char *subject, size_t len);

/* Adds the forwarder's figures (backlog, acked, resyncs, errors...) to a JSON object: the
 * link status message, /leafz and /varz. */
void ae_forward_status(ae_forward *f, struct json_t *obj);

/* The forwarder's log, for monitoring (ae_store_stats_get, on the loop thread). NULL for a
 * NULL f. */
struct ae_store *ae_forward_store(ae_forward *f);

#endif
