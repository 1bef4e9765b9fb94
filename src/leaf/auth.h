/* Who a client connection is: the credentials of its CONNECT (a token, a user and password,
 * one of the configured users) or, with `tls { verify_and_map: true }`, the names in its
 * verified client certificate, checked against the options as nats-server 2.9 checks them.
 * Pure: reads the options and the connection's TLS session, changes nothing. */
#ifndef AERIE_LEAF_AUTH_H
#define AERIE_LEAF_AUTH_H

#include "leaf/opts.h"

#include <stdbool.h>

struct json_t;
typedef struct ae_tls ae_tls;

/* True when clients must authenticate (a token, a user, or a users list is configured). */
bool ae_auth_required(const ae_opts *o);

/* Checks the CONNECT object `connect` (and, for verify_and_map, the TLS session `tls`, which
 * may be NULL). Returns true when the connection may proceed; then *user is the configured
 * user it logged in as (NULL for a token, the single --user, or no auth), whose permissions
 * apply. Secrets are compared in constant time. */
bool ae_auth_check(const ae_opts *o, struct json_t *connect, const ae_tls *tls,
                   const ae_user **user);

#endif
