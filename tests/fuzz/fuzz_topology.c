/* libFuzzer target for the fleet description parser of `aerie topology`
 * (src/cli/topology.c) and the config renderer (src/cli/render.c).
 *
 * A description that is accepted is rendered into every hub, leaf and gateway config, and
 * each must parse as a config (common/conf.h, includes refused): whatever the description
 * holds, no name, path or password can break out of its quoted string and inject settings
 * or make a config unreadable. A rejected description must explain itself.
 *
 * Seeds: tests/fuzz/corpus/topology/ (the shapes of docs/deploy.md). */
#include "cli/creds_registry.h"
#include "cli/identities.h"
#include "cli/render.h"
#include "cli/topology.h"
#include "common/conf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void must_parse(char *text)
{
    ae_err err = {0};
    ae_conf_node *root = NULL;
    if (!text || ae_conf_parse_string_noinclude(text, strlen(text), NULL, &root, &err) != 0)
        abort();
    ae_conf_free(root);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ae_err err = {0};
    ae_topology *t = NULL;
    json_t *secrets = json_object();
    int rc = ae_topology_parse(text, "topo.json", secrets, &t, &err);
    if (rc == 0) {
        /* The registry `aerie topology` would write, without touching the disk: the tenants,
         * and every vehicle with a login (a password: the accounts are the same). */
        json_t *reg = json_pack("{s:{}, s:{}, s:s, s:{s:s}}", "tenants", "vehicles",
                                "nobody_password", "n", "evict", "password", "e");
        t->creds = reg;
        if (ae_identities_sync_tenants(t, reg) != 0)
            abort();
        for (int i = 0; i < t->n_vehicles; i++) {
            const ae_topo_vehicle *v = &t->vehicles[i];
            const ae_topo_region *rg = &t->regions[v->region];
            if (ae_creds_issue_password(reg, v->vid, "p", rg->scoped ? rg->name : NULL) != 0)
                abort();
            ae_identities_vehicle_facts(t, v, ae_creds_vehicle(reg, v->vid));
            if (!t->vehicles[i].seed_path && ae_topo_set(&t->vehicles[i].seed_path, "/s.nk"))
                abort();
        }
        for (int i = 0; i < t->n_hubs; i++)
            must_parse(ae_render_hub_conf(t, &t->hubs[i]));
        for (int i = 0; i < t->n_vehicles; i++) {
            must_parse(ae_render_leaf_conf(t, &t->vehicles[i]));
            must_parse(ae_render_gw_conf(t, &t->vehicles[i]));
        }
        json_decref(reg);
        ae_topology_free(t);
    } else if (t || err.code != rc || !err.msg[0]) {
        abort();
    }
    json_decref(secrets);
    free(text);
    return 0;
}
