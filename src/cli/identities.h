/* Every identity a topology needs, in the credential registry of its fleet directory: the
 * tenants (operators, guard and region-link passwords, limits), one identity per vehicle
 * that is not revoked there, and the service passwords. Shared by `aerie up` and `aerie
 * topology`, so both give the hubs the same accounts (accounts.h) for the same data. */
#ifndef AERIE_CLI_IDENTITIES_H
#define AERIE_CLI_IDENTITIES_H

#include "cli/topology.h"
#include "common/err.h"

#include <jansson.h>
#include <stdio.h>

/* Writes t's tenants into `reg` and gives each vehicle of t its identity: an nkey (seed in
 * DIR/creds/<vid>.nk, kept across runs) or, with vehicle_auth "password", its password; its
 * region, fallback region, tenant, foreign JetStream domains and permission template are
 * recorded with it. A vehicle revoked in the registry gets none (v->revoked is set and a
 * line is printed to `listing`, which may be NULL). A tenant that would hold more active
 * identities than its max_vehicles is refused with AE_ELIMIT. Saves the registry and makes
 * it t->creds (borrowed: the caller keeps `reg`). Returns 0 or an AE_E* with a message. */
int ae_identities_issue(ae_topology *t, json_t *reg, const char *dir, FILE *listing, ae_err *err);

/* The two halves of it that touch no file: t's tenants into `reg` (replacing their
 * entries), and what the accounts need to know of vehicle v besides its login (tenant,
 * fallback region, foreign domains, permission template) into its registry entry. Return 0
 * or AE_ENOMEM. */
int ae_identities_sync_tenants(const ae_topology *t, json_t *reg);
void ae_identities_vehicle_facts(const ae_topology *t, const ae_topo_vehicle *v, json_t *entry);

#endif
