/* Cutting a vehicle's live leaf connection on a hub node, for `aerie revoke`.
 *
 * nats-server 2.9.10 does not re-check leaf connections when its config is reloaded, so a
 * revoked vehicle that is already connected keeps its connection (though the reload already
 * took every import from its account, so it reaches nothing: accounts.h). The evictor opens
 * a leafnode connection into the vehicle's own account, as the user aerie-evict-<vid> that a
 * revoked vehicle's account holds (LEAFNODE only, publish and subscribe denied), announcing
 * the vehicle leaf's own name: the hub treats it as the same leaf reconnecting and closes the
 * old connection ("Duplicate Remote LeafNode Connection"; the check is per account); the
 * evictor then disconnects. Other leaves, clients and JetStream are not touched. Which
 * connection went away is read from the node's /leafz before and after. */
#ifndef AERIE_CLI_EVICT_H
#define AERIE_CLI_EVICT_H

#include "cli/fleet.h"
#include "common/err.h"

#include <jansson.h>

/* Evicts the leaf named `leaf_name` from hub node h, signing in as `user` with `password`
 * (the evictor's login in the vehicle's account). Both cluster variants are tried, because
 * a stock nats-server leaf announces its server name as cluster and aerie-leaf announces
 * none. Every leaf connection that vanished meanwhile, other than the evictor's own
 * (collected in the object `own`, "ip:port" keys, across calls), is appended to the array
 * `evicted` as {hub, conn, account}. Returns 0, or AE_EIO / AE_EPROTO / AE_EAUTH /
 * AE_ETIMEOUT with a message naming the hub. */
int ae_evict_leaf(const ae_fleet_hub *h, const char *user, const char *password,
                  const char *leaf_name, json_t *own, json_t *evicted, ae_err *err);

#endif
