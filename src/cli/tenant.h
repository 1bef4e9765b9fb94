/* Tenants: fleets that share the hubs without seeing each other (docs/security.md).
 *
 * Every tenant is an account on the hubs, T-<tenant>: its twin streams, its operator and
 * its command-guard service live there, and nothing of another tenant is reachable from it.
 * Every vehicle is an account of its own, V-<vid>, that its leaf binds to; it imports from
 * its tenant's account exactly its own subjects (accounts.h). A fleet without a tenant list
 * has one tenant, "default".
 *
 * Limits are the tenant's account limits that nats-server 2.9.10 enforces on configured
 * accounts: client connections (`limits.max_connections`), JetStream storage and object
 * counts (`jetstream { max_file, max_mem, max_streams, max_consumers }`); the number of
 * vehicles is enforced by the tools (no identity beyond it is issued, so no hub accepts
 * one), and each vehicle account admits at most two leaf connections. 2.9.10 has no
 * message-rate limit for accounts. The free-tier profile fixes them all. */
#ifndef AERIE_CLI_TENANT_H
#define AERIE_CLI_TENANT_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define AE_TENANT_DEFAULT "default"
/* The free tier: at most this many vehicles. */
#define AE_FREE_TIER_VEHICLES 10
/* Leaf connections an active vehicle's account admits, counted across the cluster: the
 * vehicle's, and one more for a reconnect that overtakes its own stale connection; a third
 * is refused with the hub's "maximum account active connections exceeded". */
#define AE_VEHICLE_MAX_LEAFS 2

/* Account name buffers: "T-" or "V-" and an identifier. */
#define AE_ACCOUNT_MAX 140

/* A tenant's limits; 0 and NULL are "unlimited". */
typedef struct ae_tenant_limits {
    int max_vehicles;
    int max_connections;
    int max_streams, max_consumers;
    char max_file[33], max_memory[33]; /* nats-server sizes ("1GB"); "" unlimited */
} ae_tenant_limits;

/* The hub account of tenant `name` and of vehicle `vid`. */
void ae_tenant_account(const char *name, char *out, size_t cap);
void ae_vehicle_account(const char *vid, char *out, size_t cap);

/* The free tier's limits. */
void ae_tenant_free_limits(ae_tenant_limits *l);

/* Reads a description's tenant limits object (keys as in the struct, sizes as strings),
 * over what *l already holds (a profile's values). `where` prefixes messages. Returns 0 or
 * AE_EINVAL naming the key. */
int ae_tenant_limits_parse(json_t *o, const char *where, ae_tenant_limits *l, ae_err *err);

/* The limits as a JSON object (only those set), for the credential registry; and back. */
json_t *ae_tenant_limits_json(const ae_tenant_limits *l);
void ae_tenant_limits_from_json(json_t *o, ae_tenant_limits *l);

/* True when a nats-server size ("256MB", "10GB", "1024") reads back as one positive
 * integer; safe to write unquoted into a config. */
bool ae_tenant_size_valid(const char *s);
/* The bytes such a size stands for (as nats-server reads it), or 0 when it is not one. */
long long ae_tenant_size_bytes(const char *s);

/* `aerie up --tenant NAME[:N][:free]`: the name, its vehicle count (*n, -1 when not given)
 * and the free tier. Returns 0 or AE_EINVAL with a message. */
int ae_tenant_parse_spec(const char *spec, char *name, size_t cap, int *n, bool *free_tier,
                         ae_err *err);

#endif
