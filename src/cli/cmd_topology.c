/* `aerie topology`: one fleet description in, every config out.
 *
 * The description (JSON, docs/deploy.md) becomes the topology model (topology.c), which is
 * checked completely before anything is written; the credential registry of the output
 * gives each vehicle its key; then every file is rendered from the model (render.c):
 *
 *   hub-<node>.conf        one per hub node (render.h says what it holds);
 *   leaf-<vid>.conf        the vehicle leaf: its listener and the remote to its region's
 *                          leafnode ports, signing in with the vehicle's nkey seed;
 *   gw-<vid>.conf          the vehicle's aerie-gw: vid, env, the leaf's URL, MAVLink;
 *   creds/<vid>.nk         the vehicle's nkey seed (mode 0600): it goes to the vehicle only;
 *   creds/creds.json       the identity registry `aerie creds` and `aerie revoke --out` keep
 *                          (creds_registry.h); a vehicle revoked there is not given a key again;
 *   <region>/fleet.json    the CLI's view of a region (`aerie status --dir OUT/<region>`);
 *   provision.sh           with domain_per_region: the `aerie hub init` runs of each region;
 *   secrets.json           every generated password, reused by the next run (mode 0600).
 *
 * Vehicle identities are nkeys by default (`"vehicle_auth": "password"` keeps per-vehicle
 * password users, for vehicles that run a stock nats-server leaf, which has no `nkey` remote
 * option). Either way they go into the top-level `authorization` block with
 * allowed_connection_types ["LEAFNODE"]; the seed's form (that field inside
 * leafnodes.authorization.users) is rejected by nats-server (see docs/deploy.md). The nkeys
 * sit in the region of the users list that `aerie creds` manages, marked per hub with the
 * region it serves, so that a vehicle is accepted only by the hubs of its own region and
 * `aerie creds` / `aerie revoke --out OUT` keep working on the generated files
 * (docs/security.md). */
#include "cli/cmd_topology.h"
#include "cli/creds_registry.h"
#include "cli/fleet.h"
#include "cli/render.h"
#include "cli/topology.h"
#include "common/fileio.h"
#include "common/ident.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes `text` (taken: freed here) to dir/rel, durably and with mode 0600 (every generated
 * file holds passwords), and lists the path. A NULL text is an allocation that failed. */
static int write_out(const char *dir, const char *rel, char *text, FILE *listing, ae_err *err)
{
    char *path = NULL;
    if (!text || asprintf(&path, "%s/%s", dir, rel) < 0) {
        free(text);
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    int rc = ae_file_write_atomic(path, text, AE_FILE_DURABLE, err);
    if (!rc && listing)
        fprintf(listing, "%s\n", path);
    free(path);
    free(text);
    return rc;
}

/* The credential registry of the output (OUT/creds/creds.json): the service identities
 * every hub config needs, and in nkey mode one key per vehicle, kept across runs so that a
 * regenerated config names the same keys. A vehicle revoked there stays revoked. Seeds go
 * to OUT/creds/<vid>.nk; a vehicle's seed path in its leaf config is vehicle_seed_path, or
 * that file. */
static int prepare_creds(ae_topology *t, const char *out_abs, FILE *listing, ae_err *err)
{
    if (!(t->creds = ae_creds_registry_load(out_abs, err)))
        return AE_EINVAL;
    int rc = ae_creds_ensure_service(out_abs, t->creds, err);
    for (int i = 0; i < t->n_vehicles && t->vehicle_auth == AE_TOPO_AUTH_NKEY && rc >= 0; i++) {
        ae_topo_vehicle *v = &t->vehicles[i];
        if (!v->seed_path && asprintf(&v->seed_path, "%s/creds/%s.nk", out_abs, v->vid) < 0) {
            v->seed_path = NULL;
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        }
        if (ae_creds_is_revoked(t->creds, v->vid)) {
            v->revoked = true;
            if (listing)
                fprintf(listing,
                        "%s: revoked in %s/creds/creds.json, so no key is issued and no hub "
                        "accepts it (`aerie creds add %s --out %s` issues a new one)\n",
                        v->vid, out_abs, v->vid, out_abs);
            continue;
        }
        if ((rc = ae_creds_issue(out_abs, t->creds, v->vid, t->regions[v->region].name, err)) < 0)
            break;
        json_t *e = ae_creds_vehicle(t->creds, v->vid);
        if (t->vehicle_permissions)
            json_object_set_new(e, "permissions", ae_topology_vehicle_permissions(t, v));
        else
            json_object_del(e, "permissions");
        if (listing)
            fprintf(listing, "%s/creds/%s.nk\n", out_abs, v->vid);
    }
    if (rc >= 0)
        rc = ae_creds_registry_save(out_abs, t->creds, err);
    return rc < 0 ? rc : 0;
}

/* OUT/provision.sh (domain_per_region): the `aerie hub init` runs that create each region's
 * streams, the mirrors asked for with mirror_of, and the global aggregate, in that order (a
 * source or mirror needs its origin stream to exist to start copying). Replicas follow the
 * region's size, up to 3. */
static char *provision_script(const ae_topology *t, const char *out_dir)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "#!/bin/sh\n# Generated by `aerie topology` (domain_per_region): create the twin\n"
               "# streams of every region, the disaster-recovery mirrors and the global\n"
               "# aggregate. Idempotent: run it again after any change.\nset -e\n");
    for (int pass = 0; pass < 3; pass++)
        for (int r = 0; r < t->n_regions; r++) {
            const ae_topo_region *rg = &t->regions[r];
            int reps = rg->n_hubs < 3 ? rg->n_hubs : 3;
            if (pass == 0)
                fprintf(f, "aerie hub init --dir \"%s/%s\" --replicas %d\n", out_dir, rg->name,
                        reps);
            else if (pass == 1 && rg->mirror_of >= 0)
                fprintf(f, "aerie hub init --dir \"%s/%s\" --replicas %d --mirror %s\n", out_dir,
                        rg->name, reps, t->regions[rg->mirror_of].domain);
            else if (pass == 2 && r == t->global_region) {
                fprintf(f, "aerie hub init --dir \"%s/%s\" --replicas %d --global ", out_dir,
                        rg->name, reps);
                for (int k = 0; k < t->n_regions; k++)
                    fprintf(f, "%s%s", k ? "," : "", t->regions[k].domain);
                fprintf(f, "\n");
            }
        }
    fclose(f);
    return buf;
}

/* The CLI's view of region r: OUT/<region>/fleet.json with the operator's URLs of the
 * region's hubs, its JetStream domain and its vehicles. */
static int write_region_view(const ae_topology *t, int r, const char *out_dir, FILE *listing,
                             ae_err *err)
{
    const ae_topo_region *rg = &t->regions[r];
    char *sub = NULL, *rel = NULL;
    if (asprintf(&sub, "%s/%s", out_dir, rg->name) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
        int rc = ae_err_set(err, AE_EIO, "cannot create %s: %s", sub, strerror(errno));
        free(sub);
        return rc;
    }
    ae_fleet *f = ae_fleet_new(sub);
    int rc = f && !ae_topo_set(&f->env, t->env) && !ae_topo_set(&f->region, rg->name) &&
                     !ae_topo_set(&f->js_domain, rg->domain)
                 ? 0
                 : AE_ENOMEM;
    for (int k = 0; k < rg->n_hubs && !rc; k++) {
        const ae_topo_hub *h = &t->hubs[rg->first_hub + k];
        char *url = NULL;
        rc = asprintf(&url, "nats://%s:%s@%s:%d", t->op_user, t->op_password, h->host,
                      h->client_port) < 0
                 ? AE_ENOMEM
                 : ae_fleet_hub_url_add(f, url);
        free(url);
    }
    for (int i = 0; i < t->n_vehicles && !rc; i++)
        if (t->vehicles[i].region == r && !ae_fleet_vehicle_add(f, t->vehicles[i].vid))
            rc = AE_ENOMEM;
    if (rc || asprintf(&rel, "%s/fleet.json", rg->name) < 0)
        rc = ae_err_set(err, AE_ENOMEM, "out of memory");
    else
        rc = write_out(out_dir, rel, ae_fleet_dump(f), listing, err);
    ae_fleet_free(f);
    free(rel);
    free(sub);
    return rc;
}

static int write_all(const ae_topology *t, const char *out_dir, const char *out_abs,
                     json_t *secrets, FILE *listing, ae_err *err)
{
    int rc = 0;
    char rel[AE_IDENT_MAX + 32];
    for (int i = 0; i < t->n_hubs && !rc; i++) {
        snprintf(rel, sizeof rel, "hub-%s.conf", t->hubs[i].name);
        rc = write_out(out_dir, rel, ae_render_hub_conf(t, &t->hubs[i]), listing, err);
    }
    for (int i = 0; i < t->n_vehicles && !rc; i++) {
        const ae_topo_vehicle *v = &t->vehicles[i];
        snprintf(rel, sizeof rel, "leaf-%s.conf", v->vid);
        rc = write_out(out_dir, rel, ae_render_leaf_conf(t, v), listing, err);
        snprintf(rel, sizeof rel, "gw-%s.conf", v->vid);
        if (!rc)
            rc = write_out(out_dir, rel, ae_render_gw_conf(t, v), listing, err);
    }
    for (int r = 0; r < t->n_regions && !rc; r++)
        rc = write_region_view(t, r, out_dir, listing, err);
    if (!rc && t->per_region)
        rc = write_out(out_dir, "provision.sh", provision_script(t, out_abs), listing, err);
    if (!rc)
        rc = write_out(out_dir, "secrets.json",
                       json_dumps(secrets, JSON_INDENT(2) | JSON_SORT_KEYS), listing, err);
    return rc;
}

int ae_topology_generate(const char *json_text, const char *name, const char *out_dir,
                         FILE *listing, ae_err *err)
{
    if (mkdir(out_dir, 0700) != 0 && errno != EEXIST)
        return ae_err_set(err, AE_EIO, "cannot create %s: %s", out_dir, strerror(errno));
    char *spath = NULL;
    if (asprintf(&spath, "%s/secrets.json", out_dir) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    json_t *secrets = json_load_file(spath, 0, NULL);
    free(spath);
    if (!json_is_object(secrets)) {
        json_decref(secrets);
        secrets = json_object();
    }
    ae_topology *t = NULL;
    int rc = ae_topology_parse(json_text, name, secrets, &t, err);
    /* Absolute, because the seed paths written into leaf configs must not depend on where
     * the command ran. */
    char out_abs[PATH_MAX];
    if (!rc && !realpath(out_dir, out_abs))
        rc = ae_err_set(err, AE_EIO, "%s: %s", out_dir, strerror(errno));
    if (!rc)
        rc = prepare_creds(t, out_abs, listing, err);
    if (!rc)
        rc = write_all(t, out_dir, out_abs, secrets, listing, err);
    if (t)
        json_decref(t->creds);
    ae_topology_free(t);
    json_decref(secrets);
    return rc;
}

int ae_cmd_topology(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strncmp(argv[i], "--out=", 6) == 0)
            out = argv[i] + 6;
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            fprintf(stderr, "aerie topology: unexpected argument %s\n", argv[i]);
            file = NULL;
            break;
        }
    }
    if (!file || !out) {
        fprintf(stderr, "usage: aerie topology FLEET.json --out DIR   (format: docs/deploy.md)\n");
        return 2;
    }
    ae_err err = {0};
    char *text = NULL;
    if (ae_file_read(file, &text, NULL, &err) != 0) {
        fprintf(stderr, "aerie topology: %s\n", err.msg);
        return 1;
    }
    int rc = ae_topology_generate(text, file, out, stdout, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "aerie topology: %s\n", err.msg);
        return 1;
    }
    return 0;
}
