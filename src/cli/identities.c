/* Issuing a topology's identities into the credential registry; see identities.h. */
#include "cli/identities.h"
#include "cli/creds_registry.h"
#include "cli/tenant.h"

#include <stdlib.h>
#include <string.h>

/* The registry entry of tenant tn, replacing what was there. */
static int sync_tenant(const ae_topology *t, const ae_topo_tenant *tn, json_t *reg)
{
    json_t *tenants = json_object_get(reg, "tenants");
    if (!json_is_object(tenants)) {
        tenants = json_object();
        json_object_set_new(reg, "tenants", tenants);
    }
    json_t *e =
        json_pack("{s:s, s:{s:s, s:s}, s:s?, s:b, s:o}", "env", t->env, "operator", "user",
                  tn->op_user, "password", tn->op_password, "guard_password", tn->guard_password,
                  "free", tn->free_tier, "limits", ae_tenant_limits_json(&tn->limits));
    if (!e)
        return AE_ENOMEM;
    if (tn->hublink_password)
        json_object_set_new(e, "hublink_password", json_string(tn->hublink_password));
    return json_object_set_new(tenants, tn->name, e) == 0 ? 0 : AE_ENOMEM;
}

int ae_identities_sync_tenants(const ae_topology *t, json_t *reg)
{
    for (int i = 0; i < t->n_tenants; i++)
        if (sync_tenant(t, &t->tenants[i], reg) != 0)
            return AE_ENOMEM;
    return 0;
}

void ae_identities_vehicle_facts(const ae_topology *t, const ae_topo_vehicle *v, json_t *e)
{
    json_object_set_new(e, "tenant", json_string(t->tenants[v->tenant].name));
    int fb = t->regions[v->region].fallback;
    if (fb >= 0)
        json_object_set_new(e, "fallback", json_string(t->regions[fb].name));
    else
        json_object_del(e, "fallback");
    const char *doms[2];
    int nd = ae_topology_vehicle_domains(t, v, doms);
    if (nd)
        json_object_set_new(e, "domains", json_pack("[s, s]", doms[0], doms[1]));
    else
        json_object_del(e, "domains");
    if (t->vehicle_permissions)
        json_object_set_new(e, "permissions", ae_topology_vehicle_permissions(t, v));
    else
        json_object_del(e, "permissions");
}

int ae_identities_issue(ae_topology *t, json_t *reg, const char *dir, FILE *listing, ae_err *err)
{
    t->creds = reg;
    int rc = ae_creds_ensure_service(dir, reg, err);
    if (!rc && ae_identities_sync_tenants(t, reg) != 0)
        rc = ae_err_set(err, AE_ENOMEM, "out of memory");
    for (int i = 0; i < t->n_vehicles && rc >= 0; i++) {
        ae_topo_vehicle *v = &t->vehicles[i];
        const ae_topo_region *rg = &t->regions[v->region];
        const char *region = rg->scoped ? rg->name : NULL;
        if (ae_creds_is_revoked(reg, v->vid)) {
            v->revoked = true;
            if (listing)
                fprintf(listing,
                        "%s: revoked in %s/creds/creds.json, so no key is issued and no hub "
                        "accepts it (`aerie creds add %s --dir %s` issues a new one)\n",
                        v->vid, dir, v->vid, dir);
            continue;
        }
        json_t *old = ae_creds_vehicle(reg, v->vid);
        if (old)
            json_object_set_new(old, "tenant", json_string(t->tenants[v->tenant].name));
        if ((rc = ae_creds_check_vehicle_limit(reg, t->tenants[v->tenant].name, v->vid, err)))
            break;
        if (t->vehicle_auth == AE_TOPO_AUTH_PASSWORD)
            rc = ae_creds_issue_password(reg, v->vid, v->password, region)
                     ? ae_err_set(err, AE_ENOMEM, "out of memory")
                     : 0;
        else
            rc = ae_creds_issue(dir, reg, v->vid, region, err);
        if (rc < 0)
            break;
        ae_identities_vehicle_facts(t, v, ae_creds_vehicle(reg, v->vid));
        if (listing && t->vehicle_auth == AE_TOPO_AUTH_NKEY)
            fprintf(listing, "%s/creds/%s.nk\n", dir, v->vid);
    }
    if (rc >= 0)
        rc = ae_creds_registry_save(dir, reg, err);
    return rc < 0 ? rc : 0;
}
