/* The managed region of a hub config: the part of every hub config that `aerie creds` and
 * `aerie revoke` own. It sits inside the top-level `accounts {}` block between two marks and
 * holds the tenant and vehicle accounts (accounts.h), rebuilt from the credential registry
 * on every change:
 *
 *     accounts {
 *       SYS { users = [ ... ] }
 *       # BEGIN aerie-accounts: tenant and vehicle accounts, ...
 *       "T-default": { jetstream: enabled, users = [ ... ], exports = [ ... ], imports = [ ... ] }
 *       "V-VID-001": { users = [ { nkey: "U...", allowed_connection_types: ["LEAFNODE"] } ], ... }
 *       # END aerie-accounts
 *     }
 *
 * The renderer (render.h) writes it into every new hub config; the functions here edit it in
 * configs that already exist, as text: the configs belong to `aerie up` or `aerie topology`,
 * and nothing outside the marks changes. A crash between two edits is repaired by the next
 * command, because the region is always rebuilt whole. docs/security.md explains why the
 * accounts look this way on nats-server 2.9.10. */
#ifndef AERIE_CLI_CREDS_CONF_H
#define AERIE_CLI_CREDS_CONF_H

#include "cli/fleet.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

/* The marks of earlier versions, whose vehicle identities sat in the global account's users
 * list: such a config cannot take the account layout by a text edit (its streams would lose
 * JetStream), so it is refused with a hint to regenerate it. */
#define AE_SEC_BEGIN_MARK "# BEGIN aerie-creds"
#define AE_SEC_END_MARK   "# END aerie-creds"
/* A hub config line "# aerie-region: NAME" (written for `aerie topology`) scopes the
 * identities issued for region NAME to the hub nodes of that region (fleet.h reads it). */
#define AE_SEC_REGION_MARK "# aerie-region:"

/* The text of a config with its managed region replaced by `region` (inserted after the
 * line that opens the top-level `accounts {` block when there is none yet). Returns a
 * malloc'd string, or NULL with AE_EINVAL in err when the config has no top-level accounts
 * block or has the layout of an earlier version. */
char *ae_creds_rewrite_conf(const char *text, const char *region, ae_err *err);

/* Rewrites the managed region of every hub config of the fleet from the registry. Returns 0
 * or an AE_E* naming the config. */
int ae_creds_apply(const ae_fleet *f, json_t *reg, ae_err *err);

/* True when the hub config at `conf` refuses anonymous leaves: its no_auth_user is
 * aerie-nobody (docs/security.md). */
bool ae_creds_conf_hardened(const char *conf);

#endif
