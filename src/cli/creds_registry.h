/* The credential registry: every vehicle identity issued for a fleet directory, kept in
 * DIR/creds/creds.json and used by `aerie creds`, `aerie revoke`, `aerie up` and
 * `aerie topology` (docs/security.md).
 *
 * A vehicle's identity is an nkey (an Ed25519 key pair): the seed stays in a file that goes
 * to the vehicle (DIR/creds/<VID>.nk, mode 0600, deleted on revoke), the public key goes
 * into the hub configs (creds_conf.h). The registry, a JSON object:
 *
 *   { "version": 1,
 *     "vehicles": { "VID-001": { "type": "nkey", "public": "U...", "seed_file": "...",
 *                                "status": "active" | "revoked", "issued": "...",
 *                                "revoked": "...", "region": "eu", "permissions": {...} } },
 *     "nobody_password": "...",   the password of aerie-nobody (never used to log in)
 *     "evict": { "public": "U...", "seed_file": "DIR/creds/aerie-evict.nk" } }
 *
 * The registry is a json_t owned by the caller; these functions change it and save it. */
#ifndef AERIE_CLI_CREDS_REGISTRY_H
#define AERIE_CLI_CREDS_REGISTRY_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

/* The service identity `aerie revoke` evicts a live leaf connection with. */
#define AE_SEC_EVICT_USER "aerie-evict"
/* The user no_auth_user names: no connection type may use it, so a connection without
 * credentials is refused. */
#define AE_SEC_NOBODY_USER "aerie-nobody"

/* Loads DIR/creds/creds.json (an empty registry when absent). Caller decrefs. Returns NULL
 * with a message when the file exists but is not valid. */
json_t *ae_creds_registry_load(const char *dir, ae_err *err);
/* Writes the registry durably (mode 0600), creating DIR/creds. Returns 0 or AE_EIO. */
int ae_creds_registry_save(const char *dir, json_t *reg, ae_err *err);
/* Makes sure the registry has the evictor identity and the aerie-nobody password, creating
 * the seed file DIR/creds/aerie-evict.nk on first use. Returns 0 or an AE_E*. */
int ae_creds_ensure_service(const char *dir, json_t *reg, ae_err *err);

/* Gives `vid` an active nkey identity in the registry `reg` (not saved here): when it already
 * has one whose seed DIR/creds/VID.nk is readable that one is kept, otherwise a new key pair
 * is made and the seed written there (mode 0600), also for a revoked vid (check
 * ae_creds_is_revoked first where a revocation must stand). `region` (may be NULL) limits the
 * identity to the hub nodes of that region. Returns 1 (new key), 0 (kept) or an AE_E*. */
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
