/* The managed region of a hub config's users list: the part of every hub config that
 * `aerie creds` and `aerie revoke` own. It sits inside the top-level `authorization { users
 * = [ ... ] }` between two marks and is rebuilt from the credential registry on every change:
 *
 *     # BEGIN aerie-creds: per-vehicle leaf identities, ...
 *     { user: "aerie-nobody", password: "...", allowed_connection_types: ["MQTT"], ... }
 *     { nkey: "U...", allowed_connection_types: ["LEAFNODE"], ... }  # aerie-evict
 *     { nkey: "U...", allowed_connection_types: ["LEAFNODE"] }  # VID-001
 *     # END aerie-creds
 *
 * The renderer (render.h) writes it into every new hub config; the functions here edit it in
 * configs that already exist, as text: the configs belong to `aerie up` or `aerie topology`,
 * and nothing outside the marks changes (except, on revoke, a per-vehicle password user of
 * the revoked name). A crash between two edits is repaired by the next command, because the
 * region is always rebuilt whole. docs/security.md explains why the users look this way on
 * nats-server 2.9.10. */
#ifndef AERIE_CLI_CREDS_CONF_H
#define AERIE_CLI_CREDS_CONF_H

#include "cli/fleet.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

#define AE_SEC_BEGIN_MARK "# BEGIN aerie-creds"
#define AE_SEC_END_MARK   "# END aerie-creds"
/* A hub config line "# aerie-region: NAME" (written for `aerie topology`) scopes the
 * identities issued for region NAME to the hub nodes of that region (fleet.h reads it). */
#define AE_SEC_REGION_MARK "# aerie-region:"

/* The managed region for a hub node of region `hub_region` (NULL or "" for every identity):
 * the marks, aerie-nobody (the no_auth_user target), the evictor, and each active vehicle.
 * Call ae_creds_ensure_service first. Returns a malloc'd string (caller frees) or NULL when
 * out of memory. */
char *ae_creds_region_text(json_t *reg, const char *hub_region);

/* The text of a config with its managed region replaced by `region` (inserted after the
 * `users = [` line of the top-level authorization block when there is none yet), and with
 * every other users entry named `drop_user` removed (may be NULL). Returns a malloc'd string,
 * or NULL with AE_EINVAL in err when the config has no top-level users list. */
char *ae_creds_rewrite_conf(const char *text, const char *region, const char *drop_user,
                            ae_err *err);

/* Rewrites the managed region of every hub config of the fleet from the registry and, when
 * `drop_vid` is non-NULL, also removes any other user entry named drop_vid (a per-vehicle
 * password user written by `aerie topology`). Returns 0 or an AE_E* naming the config. */
int ae_creds_apply(const ae_fleet *f, json_t *reg, const char *drop_vid, ae_err *err);

/* True when the hub config at `conf` refuses anonymous leaves: its no_auth_user is
 * aerie-nobody (docs/security.md). */
bool ae_creds_conf_hardened(const char *conf);

#endif
