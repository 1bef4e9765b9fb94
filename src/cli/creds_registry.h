/* The credential registry: every vehicle identity issued for a fleet directory, kept in
 * DIR/creds/creds.json and used by `aerie creds`, `aerie revoke`, `aerie up` and
 * `aerie topology` (docs/security.md).
 *
 * A vehicle's identity is an nkey (an Ed25519 key pair): the seed stays in a file that goes
 * to the vehicle (DIR/creds/<VID>.nk, mode 0600, deleted on revoke), the public key goes
 * into the hub configs (creds_conf.h), in the vehicle's own account (accounts.h). Vehicles
 * that run a stock nats-server leaf (`aerie topology` with "vehicle_auth": "password") have
 * a password instead. The tenants (tenant.h) are recorded here too, so that the accounts
 * of every hub config can be rebuilt from this file alone. The registry, a JSON object:
 *
 *   { "version": 2,
 *     "tenants": { "default": { "env": "prod", "operator": { "user": "operator",
 *                                                            "password": "..." },
 *                               "guard_password": "...", "hublink_password": "...",
 *                               "free": true, "limits": { "max_vehicles": 10, ... } } },
 *     "vehicles": { "VID-001": { "type": "nkey" | "password", "public": "U...",
 *                                "password": "...", "seed_file": "...",
 *                                "status": "active" | "revoked", "issued": "...",
 *                                "revoked": "...", "region": "eu", "fallback": "us",
 *                                "tenant": "default", "domains": ["hub-eu", "hub-us"],
 *                                "permissions": {...} } },
 *     "nobody_password": "...",   the password of aerie-nobody (never used to log in)
 *     "evict": { "password": "..." } }   the evictor's login in revoked vehicles' accounts
 *
 * The registry is a json_t owned by the caller; these functions change it and save it. */
#ifndef AERIE_CLI_CREDS_REGISTRY_H
#define AERIE_CLI_CREDS_REGISTRY_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

/* The service identity `aerie revoke` evicts a live leaf connection with: the user
 * aerie-evict-<vid> in the revoked vehicle's account (accounts.h). */
#define AE_SEC_EVICT_USER "aerie-evict"
/* The user no_auth_user names: no connection type may use it, so a connection without
 * credentials is refused. */
#define AE_SEC_NOBODY_USER "aerie-nobody"

/* Loads DIR/creds/creds.json (an empty registry when absent). Caller decrefs. Returns NULL
 * with a message when the file exists but is not valid. */
json_t *ae_creds_registry_load(const char *dir, ae_err *err);
/* Writes the registry durably (mode 0600), creating DIR/creds. Returns 0 or AE_EIO. */
int ae_creds_registry_save(const char *dir, json_t *reg, ae_err *err);
/* Makes sure the registry has the evictor's password and the aerie-nobody password, and
 * creates DIR/creds. Returns 0 or an AE_E*. */
int ae_creds_ensure_service(const char *dir, json_t *reg, ae_err *err);

/* Gives `vid` an active password identity (a stock nats-server leaf's login): the entry's
 * type is "password". Returns 0 or AE_ENOMEM. */
int ae_creds_issue_password(json_t *reg, const char *vid, const char *password, const char *region);

/* The tenant entry `name` (borrowed), or NULL. */
json_t *ae_creds_tenant(json_t *reg, const char *name);

/* The tenant vehicle vid belongs to: its entry's "tenant", else "default" when the registry
 * has that tenant, else its only tenant; NULL when none (borrowed). */
const char *ae_creds_vehicle_tenant(json_t *reg, const char *vid);

/* How many active identities tenant `name` holds, not counting `except` (may be NULL). */
int ae_creds_count_active(json_t *reg, const char *name, const char *except);

/* The free tier's refusal: 0 when tenant `name` may hold one more active identity than it
 * has (vid itself not counted), else AE_ELIMIT with the message
 * "tenant T is on the free tier, which allows at most 10 vehicles; VID would be its 11th".
 * A tenant without a vehicle limit always may. */
int ae_creds_check_vehicle_limit(json_t *reg, const char *name, const char *vid, ae_err *err);

/* Gives `vid` an active nkey identity in the registry `reg` (not saved here): when it already
 * has one whose seed DIR/creds/VID.nk is readable that one is kept, otherwise a new key pair
 * is made and the seed written there (mode 0600), also for a revoked vid (check
 * ae_creds_is_revoked first where a revocation must stand). `region` (may be NULL) limits the
 * identity to the hub nodes of that region (and of the entry's "fallback" region, which
 * `aerie topology` sets: creds_conf.h). Returns 1 (new key), 0 (kept) or an AE_E*. */
int ae_creds_issue(const char *dir, json_t *reg, const char *vid, const char *region, ae_err *err);

/* Marks vid revoked (with the time) and deletes its seed file; nothing when unknown. */
void ae_creds_revoke(json_t *reg, const char *vid);

/* True when the registry lists `vid` as revoked. */
bool ae_creds_is_revoked(json_t *reg, const char *vid);

/* A text field of the registry or one of its entries, "" when absent (borrowed). */
const char *ae_creds_str(json_t *entry, const char *key);

/* The registry entry of vid (borrowed), or NULL. */
json_t *ae_creds_vehicle(json_t *reg, const char *vid);

#endif
