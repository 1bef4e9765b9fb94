/* The account layout of the hubs: the part of every hub config that isolates tenants from
 * each other and each vehicle from every other vehicle. nats-server 2.9.10 does not check
 * what a leaf publishes against its user's permissions, but it never moves a message from
 * one account to another except through an import, so the boundary is made of accounts:
 *
 *   T-<tenant>   the tenant's streams (TWIN_STATE ...), its operator, its guard service;
 *                exports the vehicle subjects and the few JetStream API calls vehicles make,
 *                and imports from each of its vehicles that vehicle's command subjects;
 *   V-<vid>      one per vehicle; its leaf binds to it. It imports from T-<tenant> exactly
 *                its own subjects and API calls, scoped to its own subjects:
 *
 *     fleet.<env>.veh.<vid>.state.>, .event.>, .live.>, .link       publish (acks come back)
 *     $JS.API.STREAM.NAMES                                          which stream captures it
 *     $JS.API.CONSUMER.CREATE.*.*.fleet.<env>.veh.<vid>.>           via the guard (guard.h)
 *     $JS.API.CONSUMER.MSG.NEXT.*.*                                 the walk's pulls
 *     $JS.API.STREAM.MSG.DELETE.*                                   via the guard (order repair)
 *     $JS.API.DIRECT.GET.FLEET_CMD.fleet.<env>.veh.<vid>.cmd.>      the gateway's catch-up
 *     $JS.API.DIRECT.GET.FLEET_LINK.fleet.<env>.veh.<vid>.link
 *
 *                and exports fleet.<env>.veh.<vid>.cmd.> (commands and their replies).
 *
 * A leaf's `$JS.<hub domain>.API.x` is mapped by the hub to `$JS.API.x` before the imports
 * are matched; with a domain per region a vehicle may also address its home and fallback
 * domains from the other region, so those are imported as `$JS.<domain>.API.x` too (and
 * travel on to that region over the tenant's region link). Anything else a vehicle
 * publishes stays in its own account, where nothing listens.
 *
 * The accounts are written from the credential registry (creds_registry.h: tenants and
 * vehicles) between two marks inside the hub config's `accounts {}` block, so that
 * `aerie creds` and `aerie revoke` rebuild them whole on every change (creds_conf.h). A
 * revoked vehicle keeps an account with no imports and only the evictor's login, so the
 * reload alone already cuts its live connection off from everything (docs/security.md). */
#ifndef AERIE_CLI_ACCOUNTS_H
#define AERIE_CLI_ACCOUNTS_H

#include "common/err.h"

#include <jansson.h>

#define AE_ACCOUNTS_BEGIN_MARK "# BEGIN aerie-accounts"
#define AE_ACCOUNTS_END_MARK   "# END aerie-accounts"

/* The guard's subjects in a tenant account: aerie.guard.<vid>.<domain>.<API call>, where
 * <domain> is AE_GUARD_LOCAL for the hub's own JetStream domain. */
#define AE_GUARD_PREFIX "aerie.guard"
#define AE_GUARD_LOCAL  "$"

/* User names the tools reserve in the account layout (vehicle ids must not take them). */
#define AE_GUARD_USER_PREFIX   "aerie-guard-"
#define AE_HUBLINK_USER_PREFIX "aerie-hublink-"
#define AE_EVICT_USER_PREFIX   "aerie-evict-"

/* The managed region of a hub node of region `hub_region` (NULL: every identity is
 * accepted): the marks and, between them, every tenant's and every vehicle's account.
 * Vehicle logins are written only where their identity is accepted (their region and
 * fallback region, creds_conf.h); the accounts themselves are on every hub, so that
 * commands reach a vehicle through any hub. Returns 0 and a malloc'd text in *out, or
 * AE_EINVAL when the registry has no tenant or holds a name or password that cannot be
 * written into a config (the message names it), or AE_ENOMEM. */
int ae_accounts_text(json_t *reg, const char *hub_region, char **out, ae_err *err);

/* What a vehicle's leaf publishes to the hub (before the hub's domain mapping), for a
 * permission template: its own state/event/live/link subjects and its JetStream API calls
 * under `$JS.<d>.API` for each of the n domains. A new JSON array, or NULL. */
json_t *ae_accounts_vehicle_publish(const char *env, const char *vid, const char *const *domains,
                                    int n);

#endif
