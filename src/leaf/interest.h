/* What local interest the uplink advertises to the hub, and what the hub's permissions let
 * through: the LS+/LS- the uplink sends. Pure bookkeeping, no I/O: the uplink feeds it local
 * subscriptions coming and going and the hub's permissions, and writes the lines it returns.
 * tests/leafunit/test_interest.c drives it without a hub.
 *
 * Rules (nats-wire-notes 2.5, 2.10): plain interest is reference-counted per subject and
 * changes the hub's view only on 0 <-> 1; a queue group's interest carries its weight (the
 * number of local members) and every change is sent; a subject the hub's import permission
 * does not cover is never sent (a literal LS+ outside it makes the hub close the link, and
 * wildcard interest must lie wholly inside an allow entry); the JetStream API, KV and object
 * store prefixes and `>` are never sent, as the hub denies them on every leaf connection of a
 * non-system account. */
#ifndef AERIE_LEAF_INTEREST_H
#define AERIE_LEAF_INTEREST_H

#include "common/hmap.h"

#include <stdbool.h>
#include <stddef.h>

struct json_t;

typedef struct ae_interest {
    ae_hmap local;         /* "subject" or "subject queue" -> entry */
    struct json_t *import; /* the hub's import permission {"allow":[...],"deny":[...]} or NULL */
} ae_interest;

/* Receives one protocol line ("LS+ foo\r\n") to send. */
typedef void (*ae_interest_emit)(void *ctx, const char *line, size_t len);

void ae_interest_init(ae_interest *in);
void ae_interest_free(ae_interest *in);

/* A local subscription (queue may be NULL) came or went. When `link_up`, emits what the hub
 * must hear now. Returns 0 or AE_ENOMEM (the interest is then not tracked). */
int ae_interest_change(ae_interest *in, const char *subject, const char *queue, bool added,
                       bool link_up, ae_interest_emit emit, void *ctx);
/* A new connection: the hub knows nothing yet. Takes the hub's import permission (a new
 * reference is kept; NULL: none) and emits LS+ for every permitted local interest. */
void ae_interest_connected(ae_interest *in, struct json_t *import, ae_interest_emit emit,
                           void *ctx);
/* The connection is gone: nothing is advertised any more. */
void ae_interest_disconnected(ae_interest *in);

/* May `subject` pass a hub permission block (NULL: everything passes)? Literal subjects are
 * matched; wildcard interest must lie wholly inside an allow entry. */
bool ae_interest_permitted(struct json_t *perm, const char *subject);
/* Subjects the hub denies on every leaf connection of a non-system account. */
bool ae_interest_hub_denies(const char *subject);

#endif
