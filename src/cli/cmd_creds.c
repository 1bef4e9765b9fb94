/* `aerie creds add VID | list`: per-vehicle identities on the hubs (docs/security.md).
 *
 * `add` issues (or re-applies) the vehicle's nkey in the credential registry
 * (creds_registry.h) for its tenant (--tenant; a vehicle the registry knows stays with its
 * tenant; else the default one), refusing a tenant's vehicle beyond its max_vehicles (the
 * free tier's 11th), rewrites the managed accounts region of every hub config of the fleet
 * directory (creds_conf.h), reloads the hubs of a local fleet (hub_reload.h) and points a
 * local vehicle's leaf config at its seed. The fleet directory is a local fleet (`aerie up`)
 * or the output of `aerie topology`, whose configs the operator copies and reloads. */
#include "cli/cmd_creds.h"
#include "cli/audit.h"
#include "cli/creds_conf.h"
#include "cli/creds_registry.h"
#include "cli/fleet.h"
#include "cli/hub_reload.h"
#include "common/fileio.h"
#include "common/ident.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the vehicle's leaf config (local fleets) --------------------------------------- */

/* Points a local fleet's DIR/conf/leaf-VID.conf at the seed: drops user:password@ from its
 * nats-leaf:// URLs and adds `nkey: "SEED"` to the remote. Returns 1 when the file was
 * changed, 0 when there is no such file or it already uses the seed, or an AE_E*. */
static int update_leaf_conf(const char *dir, const char *vid, const char *seed_path, ae_err *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/conf/leaf-%s.conf", dir, vid);
    char *text = NULL;
    if (ae_file_read(path, &text, NULL, NULL) != 0)
        return 0;
    if (strstr(text, seed_path)) {
        free(text);
        return 0;
    }
    const char *rem = strstr(text, "remotes");
    const char *urls = rem ? strstr(rem, "urls") : NULL;
    const char *brace = urls;
    while (brace && brace > rem && *brace != '{')
        brace--;
    if (!urls || brace == rem) {
        free(text);
        return ae_err_set(err, AE_EINVAL, "%s: no `remotes = [ { urls: ... } ]` to add the nkey to",
                          path);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        free(text);
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    fwrite(text, 1, (size_t)(brace + 1 - text), m);
    fprintf(m, " nkey: \"%s\",", seed_path);
    /* Copy the rest, dropping userinfo from leaf URLs: the shared password must not stay
     * next to the per-vehicle key. */
    for (const char *p = brace + 1; *p;) {
        const char *s = strstr(p, "://");
        if (!s) {
            fputs(p, m);
            break;
        }
        fwrite(p, 1, (size_t)(s + 3 - p), m);
        const char *h = s + 3;
        size_t span = strcspn(h, "@/\"' \n,]");
        p = h[span] == '@' ? h + span + 1 : h;
    }
    fclose(m);
    free(text);
    int rc = buf ? ae_file_write_atomic(path, buf, AE_FILE_DURABLE, err)
                 : ae_err_set(err, AE_ENOMEM, "out of memory");
    free(buf);
    return rc ? rc : 1;
}

/* ---- the commands ------------------------------------------------------------------- */

static int usage_creds(void)
{
    fprintf(stderr, "usage: aerie creds add VID [--tenant NAME] [--dir DIR | --out DIR] [--json]\n"
                    "       aerie creds list [--dir DIR] [--json]\n"
                    "See docs/security.md.\n");
    return 2;
}

/* What `aerie creds add` did, for its report and audit entry. */
typedef struct add_result {
    const char *vid, *dir;
    const char *tenant; /* asked for with --tenant, or NULL */
    char tenant_used[AE_IDENT_MAX + 1];
    char seed_path[PATH_MAX + 64], pub[64];
    int hubs, reloaded, leaf_changed;
    bool local, already;
} add_result;

static void report_add(const ae_cli *c, const add_result *a)
{
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:b, s:b}", "vid", a->vid, "tenant",
                              a->tenant_used, "public", a->pub, "seed_file", a->seed_path, "hubs",
                              a->hubs, "reloaded", a->reloaded, "already_issued", a->already,
                              "leaf_conf_updated", a->leaf_changed > 0);
        char *d = json_dumps(o, AE_CLI_JSON_FLAGS);
        printf("%s\n", d);
        free(d);
        json_decref(o);
        return;
    }
    printf("%s: %s nkey %s (tenant %s)\n", a->vid, a->already ? "already has" : "issued", a->pub,
           a->tenant_used);
    printf("credential file (give it to the vehicle, mode 0600): %s\n", a->seed_path);
    printf("  aerie-leaf: leafnodes { remotes = [ { urls: [...], nkey: \"%s\" } ] }\n",
           a->seed_path);
    if (a->local)
        printf("hub configs updated and reloaded: %d of %d nodes\n", a->reloaded, a->hubs);
    else
        printf("hub configs updated: %d files in %s; copy them to the hub nodes and send "
               "each nats-server SIGHUP twice (2.9.10 wires a new vehicle's account at the "
               "second reload)\n",
               a->hubs, a->dir);
    if (a->leaf_changed > 0)
        printf("%s/conf/leaf-%s.conf now uses the key; restart that aerie-leaf to use it "
               "(it reads credentials at start)\n",
               a->dir, a->vid);
}

/* A warning when a hub does not refuse anonymous leaves: the new identity would not keep
 * anyone out there (docs/security.md). */
static void warn_unhardened(const ae_fleet *f)
{
    for (size_t i = 0; i < f->n_hubs; i++)
        if (!ae_creds_conf_hardened(f->hubs[i].conf)) {
            fprintf(stderr,
                    "aerie creds: warning: %s does not refuse leaves without credentials "
                    "(no `no_auth_user: " AE_SEC_NOBODY_USER
                    "`); add it and restart the node (2.9.10 cannot reload it), see "
                    "docs/security.md\n",
                    f->hubs[i].conf);
            return;
        }
}

/* Issues (or re-applies) vid's identity, rewrites and reloads the hubs, and points a local
 * fleet's leaf config at the seed. Returns 0 or an AE_E* with a message. */
/* The tenant vid goes to: --tenant, else the one it already belongs to, else the default.
 * Returns 0 or AE_EINVAL with a message. */
static int pick_tenant(json_t *reg, add_result *a, ae_err *err)
{
    const char *have = ae_creds_vehicle(reg, a->vid) ? ae_creds_vehicle_tenant(reg, a->vid) : NULL;
    const char *t = a->tenant ? a->tenant : have;
    if (!t && !json_object_size(json_object_get(reg, "tenants")))
        return ae_err_set(err, AE_EINVAL,
                          "%s/creds/creds.json lists no tenant: run `aerie up` or `aerie topology` "
                          "for this directory first (they write the tenants' accounts)",
                          a->dir);
    if (!t)
        t = ae_creds_vehicle_tenant(reg, a->vid);
    if (!t || !ae_creds_tenant(reg, t))
        return ae_err_set(err, AE_EINVAL, "no tenant %s in %s/creds/creds.json%s",
                          t ? t : "(default)", a->dir,
                          t ? "" : ": give one with --tenant (there are several)");
    snprintf(a->tenant_used, sizeof a->tenant_used, "%s", t);
    return 0;
}

static int add_identity(ae_fleet *f, add_result *a, ae_err *err)
{
    json_t *reg = ae_creds_registry_load(a->dir, err);
    int rc = reg ? ae_creds_ensure_service(a->dir, reg, err) : AE_EINVAL;
    if (!rc)
        rc = pick_tenant(reg, a, err);
    /* The free tier's 11th vehicle (or any tenant's beyond its max_vehicles) gets no key,
     * so no hub will accept it. */
    if (!rc)
        rc = ae_creds_check_vehicle_limit(reg, a->tenant_used, a->vid, err);
    /* Idempotent: an active identity whose seed is still there is re-applied as it is. */
    if (!rc && (rc = ae_creds_issue(a->dir, reg, a->vid, NULL, err)) >= 0) {
        json_object_set_new(ae_creds_vehicle(reg, a->vid), "tenant", json_string(a->tenant_used));
        a->already = rc == 0;
        rc = 0;
    }
    const char *pub = json_string_value(json_object_get(ae_creds_vehicle(reg, a->vid), "public"));
    snprintf(a->pub, sizeof a->pub, "%s", pub ? pub : "");
    if (!rc && !(rc = ae_creds_registry_save(a->dir, reg, err)) &&
        !(rc = ae_creds_apply(f, reg, err)) &&
        (rc = ae_hub_reload_all(f, AE_HUB_RELOADS, 5000, err)) >= 0) {
        a->reloaded = rc;
        rc = 0;
    }
    if (!rc && a->local &&
        (a->leaf_changed = update_leaf_conf(a->dir, a->vid, a->seed_path, err)) < 0)
        rc = a->leaf_changed;
    json_decref(reg);
    return rc;
}

static int creds_add(ae_cli *c, const char *dir, const char *vid)
{
    ae_err err = {0};
    ae_fleet *f = NULL;
    add_result a = {.vid = vid, .dir = dir, .tenant = c->tenant};
    snprintf(a.seed_path, sizeof a.seed_path, "%s/creds/%s.nk", dir, vid);
    int rc = ae_fleet_open_hubs(dir, &f, &err);
    if (!rc) {
        a.hubs = (int)f->n_hubs;
        a.local = ae_fleet_is_local(f);
        rc = add_identity(f, &a, &err);
    }
    json_t *details = json_pack("{s:s, s:s, s:i, s:i}", "public", a.pub, "tenant", a.tenant_used,
                                "hubs", a.hubs, "reloaded", a.reloaded);
    if (a.already)
        json_object_set_new(details, "already_issued", json_true());
    if (rc)
        json_object_set_new(details, "error", json_string(err.msg));
    ae_audit(c, "creds.add", vid, details, rc ? "error" : "ok");
    json_decref(details);
    if (rc)
        fprintf(stderr, "aerie creds add: %s\n", err.msg);
    else
        report_add(c, &a);
    if (!rc)
        warn_unhardened(f);
    ae_fleet_free(f);
    return rc ? 1 : 0;
}

static int creds_list(ae_cli *c, const char *dir)
{
    ae_err err = {0};
    json_t *reg = ae_creds_registry_load(dir, &err);
    if (!reg) {
        fprintf(stderr, "aerie creds list: %s\n", err.msg);
        return 1;
    }
    json_t *vehs = json_object_get(reg, "vehicles");
    if (c->json) {
        const char *vid;
        json_t *v;
        json_object_foreach(vehs, vid, v)
        {
            json_t *o = json_deep_copy(v);
            json_object_set_new(o, "vid", json_string(vid));
            json_object_del(o, "password");
            const char *t = ae_creds_vehicle_tenant(reg, vid);
            if (t)
                json_object_set_new(o, "tenant", json_string(t));
            char *d = json_dumps(o, AE_CLI_JSON_FLAGS | JSON_SORT_KEYS);
            printf("%s\n", d);
            free(d);
            json_decref(o);
        }
    } else {
        printf("%-16s %-12s %-8s %-8s %-31s %s\n", "VID", "TENANT", "TYPE", "STATUS", "SINCE",
               "PUBLIC KEY");
        const char *vid;
        json_t *v;
        json_object_foreach(vehs, vid, v)
        {
            bool active = strcmp(ae_creds_str(v, "status"), "active") == 0;
            const char *t = ae_creds_vehicle_tenant(reg, vid);
            printf("%-16s %-12s %-8s %-8s %-31s %s\n", vid, t ? t : "?", ae_creds_str(v, "type"),
                   ae_creds_str(v, "status"),
                   active ? ae_creds_str(v, "issued") : ae_creds_str(v, "revoked"),
                   ae_creds_str(v, "public"));
        }
        if (json_object_size(vehs) == 0)
            printf("(no credentials issued in %s)\n", dir);
    }
    json_decref(reg);
    return 0;
}

int ae_cmd_creds(ae_cli *c, int argc, char **argv)
{
    const char *sub = NULL, *vid = NULL;
    for (int i = 1; i < argc;) {
        ae_err err = {0};
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie creds: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            c->dir = argv[i + 1];
            i += 2;
        } else if (argv[i][0] != '-' && !sub) {
            sub = argv[i++];
        } else if (argv[i][0] != '-' && !vid) {
            vid = argv[i++];
        } else {
            fprintf(stderr, "aerie creds: unexpected argument %s\n", argv[i]);
            return usage_creds();
        }
    }
    char absdir[PATH_MAX];
    ae_cli_fleet_dir(c, absdir);
    if (!sub)
        return usage_creds();
    if (!c->dir) {
        fprintf(stderr, "aerie creds: give the fleet directory with --dir DIR (a fleet made by "
                        "`aerie up`) or --out DIR (the output of `aerie topology`)\n");
        return 2;
    }
    if (strcmp(sub, "list") == 0 && !vid)
        return creds_list(c, c->dir);
    if (strcmp(sub, "add") == 0 && vid) {
        if (!ae_ident_valid(vid) || strncmp(vid, "aerie-", 6) == 0) {
            fprintf(stderr,
                    "aerie creds add: %s is not a vehicle id (one token of letters, digits, "
                    "'_' or '-', not starting with aerie-)\n",
                    vid);
            return 2;
        }
        return creds_add(c, c->dir, vid);
    }
    return usage_creds();
}
