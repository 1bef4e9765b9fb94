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
        r = json_pack("{s:i, s:{}}", "version", 1, "vehicles");
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
    if (!json_is_string(json_object_get(reg, "nobody_password"))) {
        /* Never used to log in: no_auth_user maps anonymous connections to this user, whose
         * connection types exclude everything a client or leaf can be (docs/security.md). */
        char pw[AE_SECRET_LEN + 1];
        if ((rc = ae_random_secret(pw, sizeof pw, err)) != 0)
            return rc;
        json_object_set_new(reg, "nobody_password", json_string(pw));
    }
    json_t *ev = json_object_get(reg, "evict");
    char *path = NULL;
    if (asprintf(&path, "%s/creds/%s.nk", dir, AE_SEC_EVICT_USER) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    if (!json_is_object(ev) || access(path, R_OK) != 0) {
        char pub[64];
        rc = new_identity(path, pub, err);
        if (!rc)
            json_object_set_new(reg, "evict",
                                json_pack("{s:s, s:s}", "public", pub, "seed_file", path));
    }
    free(path);
    return rc;
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
        json_object_set_new(vehs, vid, e);
    }
    free(path);
    return rc ? rc : 1;
}
