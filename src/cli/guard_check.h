/* What the guard lets a vehicle do, as pure functions over a request's subject and body
 * (guard.h runs them; tests/fuzz/fuzz_guard.c feeds them garbage).
 *
 * A vehicle's account maps two of its JetStream API calls onto the guard's subjects in its
 * tenant's account (accounts.h), with the vehicle's id and the addressed domain put there by
 * the hub, not by the vehicle:
 *
 *   aerie.guard.<vid>.<domain>.CONSUMER.CREATE.<stream>.<name>.<filter>
 *   aerie.guard.<vid>.<domain>.STREAM.MSG.DELETE.<stream>
 *
 * (<domain> is "$" for the hub's own JetStream domain). A consumer create passes when it is
 * what the vehicle leaf's walk asks for: a pull consumer without acks on exactly the
 * filter of the API subject, which is one of the vehicle's own subjects; anything that
 * would deliver elsewhere (deliver_subject, a durable, flow control ...) is refused,
 * because a push consumer delivers into the tenant's account, where the vehicle's own
 * records would land on another vehicle's subjects. A delete passes when the message at
 * that sequence is the vehicle's own (checked against the stream before deleting). */
#ifndef AERIE_CLI_GUARD_CHECK_H
#define AERIE_CLI_GUARD_CHECK_H

#include "common/err.h"
#include "common/ident.h"

#include <stddef.h>
#include <stdint.h>

typedef enum ae_guard_kind { AE_GUARD_CREATE, AE_GUARD_DELETE } ae_guard_kind;

#define AE_GUARD_SUBJECT_MAX 512

typedef struct ae_guard_req {
    ae_guard_kind kind;
    char vid[AE_IDENT_MAX + 1];
    char domain[AE_IDENT_MAX + 1]; /* "" for the hub's own JetStream domain */
    char stream[AE_IDENT_MAX + 1];
    uint64_t seq;                   /* delete: the stream sequence */
    char api[AE_GUARD_SUBJECT_MAX]; /* where the request goes on: $JS[.<domain>].API.... */
} ae_guard_req;

/* Parses and checks a guard request for a tenant whose vehicles publish under
 * fleet.<env>.veh. Returns 0 and fills *out, or AE_EINVAL (not a guard subject or not
 * parseable) / AE_EAUTH (a request the guard refuses) with the reason in err, fit to be the
 * error description sent back. */
int ae_guard_parse(const char *env, const char *subject, const char *body, size_t body_len,
                   ae_guard_req *out, ae_err *err);

/* The STREAM.MSG.GET request that precedes a delete, into buf (`{"seq":N}`), and the API
 * subject it goes to, into api. */
void ae_guard_get_request(const ae_guard_req *r, char *api, size_t api_cap, char *buf, size_t cap);

/* Whether the STREAM.MSG.GET reply `reply` holds a message of vehicle vid: its subject is
 * under fleet.<env>.veh.<vid>. and its Nats-Msg-Id starts with "<vid>." (the ids aerie-leaf
 * gives every forwarded record). Returns 0 (its own), AE_ENOENT (no message at that
 * sequence), AE_EAUTH (someone else's, or not a forwarded record) or AE_EPROTO (not a
 * readable reply), with a description in err. */
int ae_guard_check_owner(const char *env, const char *vid, const char *reply, size_t len,
                         ae_err *err);

/* A JetStream-shaped error reply for a request of `kind`:
 * {"type":"io.nats.jetstream.api.v1.<kind>_response","error":{"code":C,"err_code":E,
 * "description":D}}. A malloc'd string, or NULL when out of memory. */
char *ae_guard_error_reply(ae_guard_kind kind, int code, int err_code, const char *desc);

#endif
