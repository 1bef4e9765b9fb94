/* The one writer of hub, leaf and gateway configs: each config is a function of the
 * topology model (topology.h), so `aerie up` and `aerie topology` write the same settings
 * for the same data, and a change to a config is made once, here or in the model.
 *
 *   hub (nats-server):   server name, client and monitoring listeners, no_auth_user (a
 *                        connection without credentials is refused), JetStream with its
 *                        limits and domain, the cluster with routes to every node of the
 *                        region, leafnodes (TLS, one link per tenant to the global region
 *                        with per-region domains), aerie-nobody in the global account, the
 *                        system account and the tenant and vehicle accounts (accounts.h, the
 *                        managed region of creds_conf.h), and the gateways between regions;
 *   leaf (aerie-leaf):   listeners, the uplink remote with the vehicle's credentials,
 *                        reconnect timing, store-and-forward and the uplink block;
 *   gateway (aerie-gw):  vid, env, the local leaf's URL, MAVLink endpoints, rate limits;
 *   guard unit:          the systemd unit that runs `aerie guard` next to a region's hubs.
 *
 * Every function returns a malloc'd NUL-terminated text (caller frees), or NULL when out of
 * memory. Strings from the model are written as they are: the builders check that none can
 * break out of a quoted string (topology.c). */
#ifndef AERIE_CLI_RENDER_H
#define AERIE_CLI_RENDER_H

#include "cli/topology.h"

/* The nats-server config of hub node h. The accounts come from t->creds (ae_identities_issue
 * fills it); NULL also when they cannot be written (the reason goes to stderr). */
char *ae_render_hub_conf(const ae_topology *t, const ae_topo_hub *h);

/* The aerie-leaf config of vehicle v (with vehicle_auth "password": nats-server syntax that
 * a stock nats-server leaf also loads). */
char *ae_render_leaf_conf(const ae_topology *t, const ae_topo_vehicle *v);

/* The aerie-gw config of vehicle v. */
char *ae_render_gw_conf(const ae_topology *t, const ae_topo_vehicle *v);

/* A systemd unit that runs the guard of region rg's tenants (`aerie guard --dir VIEW`, where
 * VIEW is the region's CLI view, OUT/<region>) on a hub node of the region. */
char *ae_render_guard_unit(const ae_topology *t, const ae_topo_region *rg, const char *view_dir);

#endif
