/* The topology model: a fleet's deployment as data. Regions with their hub clusters and
 * JetStream domains, how regions are joined (gateways, or leafnode links with a domain per
 * region), vehicles with their credentials, their aerie-leaf (uplink, store-and-forward)
 * and their aerie-gw. Every hub, leaf and gateway config the tools write is a function of
 * this model (render.h); nothing else writes them.
 *
 * Two builders fill it:
 *   - ae_topology_parse, from the fleet description of `aerie topology` (docs/deploy.md);
 *   - local_fleet.h, from the fleet record of `aerie up` (one region on 127.0.0.1, each
 *     vehicle's uplink through its relay).
 * A change to what a config holds is a new field here, set by the builders and written by
 * the renderer (tenants and accounts, fallback regions, per-vehicle gateway ports, ...).
 *
 * Ownership: an ae_topology owns every string and array it points to, except `creds`, which
 * is borrowed. Free with ae_topology_free. */
#ifndef AERIE_CLI_TOPOLOGY_H
#define AERIE_CLI_TOPOLOGY_H

#include "cli/tenant.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A tenant (tenant.h): an account on every hub with its own streams, operator, command
 * guard (guard.h) and limits. */
typedef struct ae_topo_tenant {
    char *name;
    char *op_user, *op_password; /* its operator: client connections to its account */
    char *guard_password;        /* the guard service's user aerie-guard-<name> */
    char *hublink_password;      /* per_region: its region links' user aerie-hublink-<name> */
    bool free_tier;
    ae_tenant_limits limits;
} ae_topo_tenant;

/* How vehicles sign in to the hubs. */
typedef enum ae_topo_auth {
    AE_TOPO_AUTH_NKEY,     /* each vehicle its own nkey; the hubs list public keys */
    AE_TOPO_AUTH_PASSWORD, /* a password user per vehicle (a stock nats-server leaf) */
} ae_topo_auth;

typedef struct ae_topo_hub {
    char *name;        /* server_name, unique across regions */
    char *host;        /* the address other nodes and vehicles dial */
    char *listen_host; /* the address it binds */
    int client_port, cluster_port, leaf_port, gateway_port, http_port;
    /* The websocket listener for vehicles' leaves (compression on; nats-server leaves keep
     * using leaf_port); 0: none. Vehicles with nkeys dial it (ws://, wss:// with TLS). */
    int ws_port;
    int region;      /* index into ae_topology.regions */
    char *store_dir; /* its JetStream store directory */
} ae_topo_hub;

typedef struct ae_topo_region {
    char *name;   /* also the cluster name and the gateway name */
    char *domain; /* its JetStream domain */
    /* The hub configs carry the region mark (creds_conf.h), so that identities issued for
     * this region are accepted by its hubs only. */
    bool scoped;
    int first_hub, n_hubs; /* its hubs: hubs[first_hub .. first_hub + n_hubs - 1] */
    int mirror_of;         /* per-region domains: the region whose twin streams it mirrors; -1 */
    /* The region its vehicles fail over to when none of its hubs answers (the hubs of that
     * region accept their keys, their leaves list those hubs after their own); -1: none. */
    int fallback;
} ae_topo_region;

/* A vehicle's aerie-leaf. Pointers left NULL and numbers left 0 are settings not written
 * (the program's default applies). */
typedef struct ae_topo_leaf {
    int port;                    /* client listener on 127.0.0.1 */
    int http_port;               /* monitoring listener on 127.0.0.1; 0: none */
    char *ping_interval;         /* e.g. "2s" */
    char **remotes;              /* host:port the uplink dials (a hub's leafnode listener, or a */
    size_t n_remotes;            /* relay in front of it); none: every hub of its region */
    bool ignore_discovered_urls; /* dial only remotes, not what the hub advertises */
    char *reconnect, *reconnect_max, *dead_link_timeout;
    /* Store-and-forward: the vehicle's state and event subjects go through a local store
     * at store_dir and are forwarded to the hub's twin streams with acknowledgements. */
    char *store_dir;
    char *store_sync;         /* the store's sync interval, e.g. "10ms" */
    char *store_ack_interval; /* how often the store writes its ack state; NULL: 1s */
    bool report_identity;     /* vid and env in the uplink block: the leaf reports its link */
    char *status_interval;    /* how often it reports */
    bool live;                /* the newest value also goes to the live subjects while draining */
    char *note;               /* a comment for the reader above the leafnodes block, or NULL */
} ae_topo_leaf;

/* A vehicle's aerie-gw. */
typedef struct ae_topo_gateway {
    char **mavlink; /* MAVLink endpoints (docs/gateway.md), at least one */
    size_t n_mavlink;
    int mavlink_port; /* the UDP port of the default endpoint udp://0.0.0.0:PORT; 0: other */
    int rate_position, rate_attitude; /* messages per second; 0: the gateway's default */
    double rate_cap; /* every kind of state at most this many per second; 0: no cap */
    char *state_dir; /* its command journal (queued commands run at most once); NULL: none */
} ae_topo_gateway;

typedef struct ae_topo_vehicle {
    char *vid;
    int region;
    int tenant; /* index into ae_topology.tenants */
    /* The machine its leaf and gateway run on when several vehicles share one (a lab, a
     * simulation), or NULL: a machine of its own. Vehicles on one host get distinct ports. */
    char *host;
    char *password;  /* AE_TOPO_AUTH_PASSWORD: its leaf user's password */
    char *seed_path; /* AE_TOPO_AUTH_NKEY: where its seed is on the vehicle */
    bool revoked;    /* revoked in the credential registry: no key, no hub accepts it */
    ae_topo_leaf leaf;
    ae_topo_gateway gw;
} ae_topo_vehicle;

typedef struct ae_topology {
    char *origin; /* who generated the files, for their first comment line */
    char *env;
    char *route_password;   /* cluster routes' user "route"; NULL: no route credentials */
    char *gateway_password; /* gateways' user "gateway" (several regions, one domain) */
    char *system_password;  /* the SYS account's user "system"; NULL: no system account */
    char *tls_cert, *tls_key, *tls_ca; /* leafnode TLS on the hubs; NULL: plain */
    char *max_memory, *max_file;       /* JetStream limits per hub node (nats-server sizes) */
    ae_topo_auth vehicle_auth;
    bool vehicle_permissions; /* each vehicle identity may use only its own subjects */
    /* One JetStream domain per region, regions linked by leafnodes to global_region (which
     * holds the fleet-wide aggregate); otherwise one domain and gateways between regions. */
    bool per_region;
    int global_region;
    json_t *creds; /* the credential registry the hubs' accounts come from (borrowed) */

    ae_topo_tenant *tenants; /* at least one once built; the first is the default */
    int n_tenants;

    ae_topo_region *regions;
    int n_regions;
    ae_topo_hub *hubs; /* grouped by region, in region order */
    int n_hubs;
    ae_topo_vehicle *vehicles;
    int n_vehicles;
} ae_topology;

/* Limits of a description. */
#define AE_TOPO_MAX_REGIONS  16
#define AE_TOPO_MAX_HUBS     64
#define AE_TOPO_MAX_VEHICLES 4096
#define AE_TOPO_MAX_TENANTS  64

/* A new empty topology (NULL when out of memory). */
ae_topology *ae_topology_new(void);
void ae_topology_free(ae_topology *t); /* accepts NULL */

/* Appends a zeroed region, hub, tenant or vehicle and returns it (NULL when out of memory).
 * A hub added here belongs to the last region added: it is counted in that region's n_hubs.
 * A vehicle belongs to tenant 0 until its `tenant` is set. */
ae_topo_region *ae_topology_add_region(ae_topology *t, const char *name, const char *domain);
ae_topo_tenant *ae_topology_add_tenant(ae_topology *t, const char *name);
ae_topo_hub *ae_topology_add_hub(ae_topology *t, const char *name);
ae_topo_vehicle *ae_topology_add_vehicle(ae_topology *t, const char *vid, int region);

/* Copies s into *slot (freeing what was there). Returns 0 or AE_ENOMEM. */
int ae_topo_set(char **slot, const char *s);
/* Appends a copy of s to a string array. Returns 0 or AE_ENOMEM. */
int ae_topo_push(char ***arr, size_t *n, const char *s);

/* Builds the model from a fleet description (JSON text; docs/deploy.md), checking all of it
 * (names are identifiers, every vehicle's region exists, no host:port is used twice, no
 * text can break out of a quoted config string). `name` is used in messages and in the
 * origin line. Passwords not given in the description come from `secrets` (an object of
 * role/vid -> password, e.g. out of secrets.json), else are generated and added to it.
 * Vehicles get no seed path here (that needs the output directory; cmd_topology.c sets
 * it). Returns 0 and the model in *out, or AE_EINVAL (the message names the field) / AE_EIO
 * / AE_ENOMEM. */
int ae_topology_parse(const char *json_text, const char *name, json_t *secrets, ae_topology **out,
                      ae_err *err);

/* The tenants' JetStream limits must fit in every hub's own (jetstream max_file_store and
 * max_memory_store): nats-server 2.9.10 refuses to start JetStream on a node whose
 * accounts' limits add up to more ("insufficient storage resources available"), and a
 * cluster would promise more than it has. Returns 0 or AE_EINVAL saying which. */
int ae_topology_check_capacity(const ae_topology *t, ae_err *err);

/* The region (tenant) index of `name`, or -1. */
int ae_topology_region_index(const ae_topology *t, const char *name);
int ae_topology_tenant_index(const ae_topology *t, const char *name);

/* The JetStream domains a vehicle's leaf and gateway may address other than the domain of
 * the hub they are attached to: its home region's and its fallback region's, when they
 * differ (domain_per_region). Writes up to 2 into out and returns how many (0 with one
 * domain for the fleet: then every request is in the hub's own domain). */
int ae_topology_vehicle_domains(const ae_topology *t, const ae_topo_vehicle *v, const char *out[2]);

/* What a vehicle identity may use when vehicle_permissions is on: publish on its own
 * state, event, live and link subjects and exactly the JetStream API calls its forwarder
 * and gateway make, scoped to its own subjects (accounts.h); subscribe to its own
 * subjects, inboxes and loop detection. 2.9.10 does not enforce publish permissions on
 * leaf traffic (the account layout does that); newer servers do. A new nats-server
 * permissions object (caller decrefs), or NULL when out of memory. */
json_t *ae_topology_vehicle_permissions(const ae_topology *t, const ae_topo_vehicle *v);

#endif
