/* Loading DIR/fleet.json; see fleet_state.h for the format. */
#include "cli/fleet_state.h"
#include "common/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ae_fleet_state_free(ae_fleet_state *fs)
{
    if (!fs)
        return;
    free(fs->env);
    for (size_t i = 0; i < fs->n_hub_urls; i++)
        free(fs->hub_urls[i]);
    free(fs->hub_urls);
    free(fs->js_domain);
    for (size_t i = 0; i < fs->n_vids; i++)
        free(fs->vids[i]);
    free(fs->vids);
    free(fs);
}

/* Copies the strings of a JSON array into a new char* array; items are taken from
 * `key` inside objects when key is non-NULL. */
static int take_strings(json_t *arr, const char *key, const char *name, const char *what,
                        char ***out, size_t *n, ae_err *err)
{
    size_t cnt = json_array_size(arr);
    char **v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v)
        return ae_err_set(err, AE_ENOMEM, "out of memory reading %s", name);
    for (size_t i = 0; i < cnt; i++) {
        json_t *it = json_array_get(arr, i);
        if (key)
            it = json_is_object(it) ? json_object_get(it, key) : NULL;
        if (!json_is_string(it) || json_string_length(it) == 0) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return ae_err_set(err, AE_EINVAL, "%s: %s[%zu]%s%s must be a non-empty string", name,
                              what, i, key ? "." : "", key ? key : "");
        }
        v[i] = strdup(json_string_value(it));
    }
    *out = v;
    *n = cnt;
    return 0;
}

int ae_fleet_state_parse(const char *text, const char *name, ae_fleet_state **out, ae_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root)
        return ae_err_set(err, AE_EINVAL, "%s:%d: not valid JSON: %s", name, je.line, je.text);
    int rc = AE_EINVAL;
    ae_fleet_state *fs = calloc(1, sizeof *fs);
    if (!fs) {
        rc = ae_err_set(err, AE_ENOMEM, "out of memory reading %s", name);
        goto fail;
    }
    if (!json_is_object(root)) {
        ae_err_set(err, AE_EINVAL, "%s: the top level must be an object", name);
        goto fail;
    }
    json_t *env = json_object_get(root, "env");
    if (env && !json_is_string(env)) {
        ae_err_set(err, AE_EINVAL, "%s: \"env\" must be a string", name);
        goto fail;
    }
    fs->env = strdup(env ? json_string_value(env) : "prod");
    json_t *hub = json_object_get(root, "hub");
    json_t *urls = json_is_object(hub) ? json_object_get(hub, "urls") : NULL;
    if (!json_is_array(urls) || json_array_size(urls) == 0) {
        ae_err_set(err, AE_EINVAL, "%s: \"hub.urls\" must be a non-empty array of NATS URLs", name);
        goto fail;
    }
    if ((rc = take_strings(urls, NULL, name, "hub.urls", &fs->hub_urls, &fs->n_hub_urls, err)))
        goto fail;
    json_t *dom = json_object_get(hub, "js_domain");
    if (json_is_string(dom) && json_string_length(dom) > 0)
        fs->js_domain = strdup(json_string_value(dom));
    json_t *stale = json_object_get(root, "stale");
    if (stale &&
        (!json_is_string(stale) ||
         ae_parse_duration(json_string_value(stale), &fs->stale_ns) != 0 || fs->stale_ns <= 0)) {
        ae_err_set(err, AE_EINVAL, "%s: \"stale\" must be a duration such as \"6s\"", name);
        goto fail;
    }
    json_t *veh = json_object_get(root, "vehicles");
    if (veh && !json_is_array(veh)) {
        rc = ae_err_set(err, AE_EINVAL, "%s: \"vehicles\" must be an array", name);
        goto fail;
    }
    if (veh && (rc = take_strings(veh, "vid", name, "vehicles", &fs->vids, &fs->n_vids, err)))
        goto fail;
    json_decref(root);
    *out = fs;
    return 0;
fail:
    json_decref(root);
    ae_fleet_state_free(fs);
    return rc ? rc : AE_EINVAL;
}

int ae_fleet_state_load(const char *dir, ae_fleet_state **out, ae_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fleet.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return ae_err_set(err, AE_ENOENT,
                              "%s does not exist: is a fleet running there? Start one with "
                              "`aerie up --dir %s`, or use --server URL for a real hub",
                              path, dir);
        return ae_err_set(err, AE_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return ae_err_set(err, AE_ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r < 4096)
            break;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        free(buf);
        return ae_err_set(err, AE_EIO, "cannot read %s", path);
    }
    buf[len] = 0;
    int rc = ae_fleet_state_parse(buf, path, out, err);
    free(buf);
    return rc;
}
