/* Per-user permissions with nats-server 2.9's semantics.
 *
 * A user's `permissions { publish, subscribe, allow_responses }` (config: opts.c) is
 * compiled for each connection that logs in as that user. The rules, as nats-server applies
 * them to client connections:
 *   - publish: a subject is allowed if some allow entry matches it (no allow list: all are),
 *     and then no deny entry does;
 *   - subscribe: entries may name a queue ("subject queue"). A plain subscription needs a
 *     matching entry without a queue; a queue subscription is also allowed by a matching
 *     entry with its queue (queue names may be wildcards), and refused by a matching deny
 *     entry with its queue. A wildcard subscription that overlaps a deny entry is allowed,
 *     but the denied subjects are filtered out at delivery;
 *   - allow_responses: after a message with a reply subject is delivered to the connection,
 *     it may publish to that reply subject `max` times within `expires`, whatever the
 *     publish rules say (an allow_responses without publish rules allows nothing else).
 * Subjects are byte strings with a length (any byte but blanks may occur in them). Everything
 * runs on the loop thread; results of publish checks are cached per connection. */
#ifndef AERIE_LEAF_PERMS_H
#define AERIE_LEAF_PERMS_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One direction's rules as configured. `allow_set` distinguishes "no allow list" (all
 * allowed) from an empty one (nothing allowed). Entries are "subject" or "subject queue". */
typedef struct ae_perm_rules {
    char **allow;
    int nallow;
    bool allow_set;
    char **deny;
    int ndeny;
} ae_perm_rules;

/* A user's permissions as configured (owned by ae_opts). */
typedef struct ae_perms_conf {
    ae_perm_rules pub, sub;
    bool responses;
    int64_t resp_max;    /* responses per request; < 0: unlimited (default 1) */
    int64_t resp_ttl_ns; /* how long a reply subject stays allowed; < 0: forever (default 2 min) */
} ae_perms_conf;

typedef struct ae_perms ae_perms;

/* Checks the subjects of one rule list ("subject" or "subject queue"): 0, or AE_EINVAL with
 * nats-server's message (subject "x" is not a valid subject). */
int ae_perm_check_entry(const char *entry, ae_err *err);
void ae_perms_conf_free(ae_perms_conf *p);
/* Deep copy (for default_permissions applied to several users). NULL on ENOMEM. */
ae_perms_conf *ae_perms_conf_dup(const ae_perms_conf *p);

/* Compiles a connection's permissions. NULL on ENOMEM. */
ae_perms *ae_perms_new(const ae_perms_conf *conf);
void ae_perms_free(ae_perms *p); /* accepts NULL */

/* May the connection publish to `subject` (len bytes)? `now` (monotonic ns) ages the reply
 * subjects granted by allow_responses; using one counts against its `max`. */
bool ae_perms_can_publish(ae_perms *p, const char *subject, size_t len, int64_t now);
/* May it subscribe to `subject` (sl bytes) with `queue` (ql bytes; 0: no queue group)? */
bool ae_perms_can_subscribe(ae_perms *p, const char *subject, size_t sl, const char *queue,
                            size_t ql);
/* A subscription on `subject` (wildcards allowed) was created: if it covers a deny rule,
 * deliveries start being filtered. */
void ae_perms_note_subscription(ae_perms *p, const char *subject, size_t sl);
/* Must a message on `subject` not be delivered (deny rules under a wildcard subscription)? */
bool ae_perms_delivery_denied(ae_perms *p, const char *subject, size_t len);
/* A message with `reply` was delivered: with allow_responses, grant publishing to it. */
void ae_perms_note_request(ae_perms *p, const char *reply, size_t len, int64_t now);

#endif
