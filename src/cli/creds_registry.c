/* The credential registry, DIR/creds/creds.json; see creds_registry.h. Seeds are written
 * durably and wiped from memory once on disk. */
#include "cli/creds_registry.h"
#include "common/fileio.h"
#include "common/nkeys.h"
#include "common/random.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ae_creds_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* DIR/creds, created with mode 0700 when missing. */
static int creds_dir(const char *dir, ae_err *err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/creds", dir) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = 0;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        rc = ae_err_set(err, AE_EIO, "cannot create %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

json_t *ae_creds_registry_load(const char *dir, ae_err *err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/creds/creds.json", dir) < 0)
        return NULL;
    json_t *r = NULL;
    if (access(path, F_OK) != 0) {
        r = json_pack("{s:i, s:{}, s:{}}", "version", 2, "tenants", "vehicles");
    } else {
        json_error_t je;
        r = json_load_file(path, 0, &je);
        if (!json_is_object(r) || !json_is_object(json_object_get(r, "vehicles"))) {
            ae_err_set(err, AE_EINVAL, "%s:%d: not a valid credential registry (%s)", path, je.line,
                       r ? "no \"vehicles\" object" : je.text);
            json_decref(r);
            r = NULL;
        }
    }
    free(path);
    return r;
}

int ae_creds_registry_save(const char *dir, json_t *reg, ae_err *err)
{
    int rc = creds_dir(dir, err);
    char *path = NULL, *d = NULL;
    if (!rc && (asprintf(&path, "%s/creds/creds.json", dir) < 0 ||
                !(d = json_dumps(reg, JSON_INDENT(2) | JSON_SORT_KEYS))))
        rc = ae_err_set(err, AE_ENOMEM, "out of memory");
    if (!rc)
        rc = ae_file_write_atomic(path, d, AE_FILE_DURABLE, err);
    free(d);
    free(path);
    return rc;
}

/* A new user nkey: the seed is written to `seed_path` (0600), the public key to pub. */
static int new_identity(const char *seed_path, char pub[64], ae_err *err)
{
    ae_nkey k;
    char seed[64], text[80];
    int rc = ae_nkey_generate('U', &k, err);
    if (rc)
        return rc;
    ae_nkey_seed(&k, seed, sizeof seed);
    ae_nkey_public(&k, pub, 64);
    snprintf(text, sizeof text, "%s\n", seed);
    rc = ae_file_write_atomic(seed_path, text, AE_FILE_DURABLE, err);
    /* Do not leave the private seed in memory longer than needed. */
    memset(&k, 0, sizeof k);
    memset(seed, 0, sizeof seed);
    memset(text, 0, sizeof text);
    return rc;
}

int ae_creds_ensure_service(const char *dir, json_t *reg, ae_err *err)
{
    int rc = creds_dir(dir, err);
    if (rc)
        return rc;
    char pw[AE_SECRET_LEN + 1];
    if (!json_is_string(json_object_get(reg, "nobody_password"))) {
        /* Never used to log in: no_auth_user maps anonymous connections to this user, whose
         * connection types exclude everything a client or leaf can be (docs/security.md). */
        if ((rc = ae_random_secret(pw, sizeof pw, err)) != 0)
            return rc;
        json_object_set_new(reg, "nobody_password", json_string(pw));
    }
    json_t *ev = json_object_get(reg, "evict");
    if (!json_is_string(json_object_get(ev, "password"))) {
        /* The evictor logs in to a revoked vehicle's account (accounts.h); an nkey of earlier
         * versions (one key in the global account) has no use there. */
        if ((rc = ae_random_secret(pw, sizeof pw, err)) != 0)
            return rc;
        json_object_set_new(reg, "evict", json_pack("{s:s}", "password", pw));
    }
    return 0;
}

int ae_creds_issue_password(json_t *reg, const char *vid, const char *password, const char *region)
{
    json_t *vehs = json_object_get(reg, "vehicles");
    if (!json_is_object(vehs)) {
        vehs = json_object();
        json_object_set_new(reg, "vehicles", vehs);
    }
    json_t *have = json_object_get(vehs, vid);
    char ts[48];
    json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "type", "password", "password", password,
                          "status", "active", "issued",
                          have && *ae_creds_str(have, "issued")
                              ? ae_creds_str(have, "issued")
                              : ae_format_rfc3339(ae_now_ns(), ts, sizeof ts));
    if (!e)
        return AE_ENOMEM;
    if (region && *region)
        json_object_set_new(e, "region", json_string(region));
    /* The tenant and the other fields the tools set stay. */
    const char *keep[] = {"tenant", "fallback", "domains", "permissions"};
    for (size_t i = 0; have && i < sizeof keep / sizeof keep[0]; i++)
        if (json_object_get(have, keep[i]))
            json_object_set(e, keep[i], json_object_get(have, keep[i]));
    json_object_set_new(vehs, vid, e);
    return 0;
}

json_t *ae_creds_tenant(json_t *reg, const char *name)
{
    return name ? json_object_get(json_object_get(reg, "tenants"), name) : NULL;
}

const char *ae_creds_vehicle_tenant(json_t *reg, const char *vid)
{
    json_t *tenants = json_object_get(reg, "tenants");
    const char *t = ae_creds_str(ae_creds_vehicle(reg, vid), "tenant");
    if (*t)
        return json_object_get(tenants, t) ? t : NULL;
    if (json_object_get(tenants, "default"))
        return "default";
    if (json_object_size(tenants) == 1)
        return json_object_iter_key(json_object_iter(tenants));
    return NULL;
}

int ae_creds_count_active(json_t *reg, const char *name, const char *except)
{
    int n = 0;
    const char *vid;
    json_t *v;
    json_object_foreach(json_object_get(reg, "vehicles"), vid, v)
    {
        const char *t = ae_creds_vehicle_tenant(reg, vid);
        if (t && strcmp(t, name) == 0 && strcmp(ae_creds_str(v, "status"), "active") == 0 &&
            (!except || strcmp(vid, except) != 0))
            n++;
    }
    return n;
}

int ae_creds_check_vehicle_limit(json_t *reg, const char *name, const char *vid, ae_err *err)
{
    json_t *t = ae_creds_tenant(reg, name);
    json_t *max = json_object_get(json_object_get(t, "limits"), "max_vehicles");
    if (!json_is_integer(max) || json_integer_value(max) <= 0)
        return 0;
    int have = ae_creds_count_active(reg, name, vid);
    if (have < json_integer_value(max))
        return 0;
    bool free_tier = json_is_true(json_object_get(t, "free"));
    return ae_err_set(err, AE_ELIMIT,
                      "tenant %s %s at most %lld vehicles and has %d; %s would be its %dth: "
                      "revoke one (`aerie revoke VID`) or raise the tenant's max_vehicles",
                      name, free_tier ? "is on the free tier, which allows" : "may have",
                      (long long)json_integer_value(max), have, vid, have + 1);
}

json_t *ae_creds_vehicle(json_t *reg, const char *vid)
{
    return json_object_get(json_object_get(reg, "vehicles"), vid);
}

bool ae_creds_is_revoked(json_t *reg, const char *vid)
{
    json_t *v = ae_creds_vehicle(reg, vid);
    return v && strcmp(ae_creds_str(v, "status"), "revoked") == 0;
}

void ae_creds_revoke(json_t *reg, const char *vid)
{
    json_t *v = ae_creds_vehicle(reg, vid);
    if (!v)
        return;
    char ts[48];
    const char *seed = json_string_value(json_object_get(v, "seed_file"));
    if (seed)
        unlink(seed);
    json_object_set_new(v, "status", json_string("revoked"));
    json_object_set_new(v, "revoked", json_string(ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)));
}

int ae_creds_issue(const char *dir, json_t *reg, const char *vid, const char *region, ae_err *err)
{
    int rc = creds_dir(dir, err);
    if (rc)
        return rc;
    json_t *vehs = json_object_get(reg, "vehicles");
    if (!json_is_object(vehs)) {
        vehs = json_object();
        json_object_set_new(reg, "vehicles", vehs);
    }
    json_t *have = json_object_get(vehs, vid);
    char *path = NULL;
    if (asprintf(&path, "%s/creds/%s.nk", dir, vid) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    if (have && strcmp(ae_creds_str(have, "status"), "active") == 0 && access(path, R_OK) == 0 &&
        *ae_creds_str(have, "public")) {
        if (region && *region)
            json_object_set_new(have, "region", json_string(region));
        free(path);
        return 0; /* the same identity again: configs that name it stay valid */
    }
    char pub[64], ts[48];
    rc = new_identity(path, pub, err);
    if (!rc) {
        json_t *e =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "nkey", "public", pub, "seed_file", path,
                      "status", "active", "issued", ae_format_rfc3339(ae_now_ns(), ts, sizeof ts));
        if (region && *region)
            json_object_set_new(e, "region", json_string(region));
        /* A vehicle issued again (after a revocation) stays with its tenant. */
        if (have && json_object_get(have, "tenant"))
            json_object_set(e, "tenant", json_object_get(have, "tenant"));
        json_object_set_new(vehs, vid, e);
    }
    free(path);
    return rc ? rc : 1;
}
