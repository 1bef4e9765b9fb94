/* Tenant names, limits and the free tier; see tenant.h. */
#include "cli/tenant.h"
#include "common/conf.h"
#include "common/ident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ae_tenant_account(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "T-%s", name);
}

void ae_vehicle_account(const char *vid, char *out, size_t cap)
{
    snprintf(out, cap, "V-%s", vid);
}

void ae_tenant_free_limits(ae_tenant_limits *l)
{
    *l = (ae_tenant_limits){.max_vehicles = AE_FREE_TIER_VEHICLES,
                            .max_connections = 10,
                            .max_streams = 16,
                            .max_consumers = 256};
    snprintf(l->max_file, sizeof l->max_file, "1GB");
    snprintf(l->max_memory, sizeof l->max_memory, "64MB");
}

long long ae_tenant_size_bytes(const char *s)
{
    char *text = NULL;
    ae_conf_node *root = NULL;
    bool ok = s && *s && strlen(s) <= 32 && asprintf(&text, "v: %s\n", s) > 0 &&
              ae_conf_parse_string_noinclude(text, strlen(text), NULL, &root, NULL) == 0;
    const ae_conf_node *v = ok ? ae_conf_get(root, "v") : NULL;
    long long n = v && !v->next && v->type == AE_CONF_INT && v->i > 0 ? (long long)v->i : 0;
    ae_conf_free(root);
    free(text);
    return n;
}

bool ae_tenant_size_valid(const char *s)
{
    char *text = NULL;
    ae_conf_node *root = NULL;
    bool ok = s && *s && strlen(s) <= 32 && asprintf(&text, "v: %s\n", s) > 0 &&
              ae_conf_parse_string_noinclude(text, strlen(text), NULL, &root, NULL) == 0;
    const ae_conf_node *v = ok ? ae_conf_get(root, "v") : NULL;
    ok = v && !v->next && v->type == AE_CONF_INT && v->i > 0;
    ae_conf_free(root);
    free(text);
    return ok;
}

static int limit_int(json_t *o, const char *key, const char *where, int *out, ae_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
        return ae_err_set(err, AE_EINVAL, "%s.%s: must be a whole number 0..1000000000 (0: none)",
                          where, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int limit_size(json_t *o, const char *key, const char *where, char *out, size_t cap,
                      ae_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || !ae_tenant_size_valid(json_string_value(v)))
        return ae_err_set(err, AE_EINVAL, "%s.%s: expected a size such as 256MB or 10GB", where,
                          key);
    snprintf(out, cap, "%s", json_string_value(v));
    return 0;
}

int ae_tenant_limits_parse(json_t *o, const char *where, ae_tenant_limits *l, ae_err *err)
{
    if (!o)
        return 0;
    if (!json_is_object(o))
        return ae_err_set(err, AE_EINVAL, "%s: must be an object", where);
    static const char *const known[] = {"max_vehicles",  "max_connections", "max_streams",
                                        "max_consumers", "max_file_store",  "max_memory_store"};
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok)
            return ae_err_set(err, AE_EINVAL,
                              "%s.%s: unknown limit (known: max_vehicles, max_connections, "
                              "max_streams, max_consumers, max_file_store, max_memory_store)",
                              where, key);
    }
    int rc;
    if ((rc = limit_int(o, "max_vehicles", where, &l->max_vehicles, err)) ||
        (rc = limit_int(o, "max_connections", where, &l->max_connections, err)) ||
        (rc = limit_int(o, "max_streams", where, &l->max_streams, err)) ||
        (rc = limit_int(o, "max_consumers", where, &l->max_consumers, err)) ||
        (rc = limit_size(o, "max_file_store", where, l->max_file, sizeof l->max_file, err)) ||
        (rc = limit_size(o, "max_memory_store", where, l->max_memory, sizeof l->max_memory, err)))
        return rc;
    return 0;
}

json_t *ae_tenant_limits_json(const ae_tenant_limits *l)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    const struct {
        const char *key;
        int v;
    } ints[] = {{"max_vehicles", l->max_vehicles},
                {"max_connections", l->max_connections},
                {"max_streams", l->max_streams},
                {"max_consumers", l->max_consumers}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v > 0)
            json_object_set_new(o, ints[i].key, json_integer(ints[i].v));
    if (l->max_file[0])
        json_object_set_new(o, "max_file_store", json_string(l->max_file));
    if (l->max_memory[0])
        json_object_set_new(o, "max_memory_store", json_string(l->max_memory));
    return o;
}

void ae_tenant_limits_from_json(json_t *o, ae_tenant_limits *l)
{
    *l = (ae_tenant_limits){0};
    ae_err ignored = {0};
    /* Values that do not read back are left unlimited here; the registry's writer checked
     * them, and accounts.c checks every size again before it writes one. */
    ae_tenant_limits_parse(json_is_object(o) ? o : NULL, "limits", l, &ignored);
}

int ae_tenant_parse_spec(const char *spec, char *name, size_t cap, int *n, bool *free_tier,
                         ae_err *err)
{
    *n = -1;
    *free_tier = false;
    const char *colon = strchr(spec, ':');
    size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nl == 0 || nl >= cap)
        return ae_err_set(err, AE_EINVAL, "--tenant %s: expected NAME[:VEHICLES][:free]", spec);
    memcpy(name, spec, nl);
    name[nl] = 0;
    if (!ae_ident_valid(name))
        return ae_err_set(err, AE_EINVAL,
                          "--tenant %s: a tenant name is one token of letters, digits, '_' or '-'",
                          spec);
    for (const char *p = colon; p && *p == ':';) {
        const char *part = p + 1, *next = strchr(part, ':');
        size_t len = next ? (size_t)(next - part) : strlen(part);
        if (len == 4 && strncmp(part, "free", 4) == 0) {
            *free_tier = true;
        } else {
            char buf[16], *end = NULL;
            if (len == 0 || len >= sizeof buf || *n >= 0)
                return ae_err_set(err, AE_EINVAL, "--tenant %s: expected NAME[:VEHICLES][:free]",
                                  spec);
            memcpy(buf, part, len);
            buf[len] = 0;
            long v = strtol(buf, &end, 10);
            if (*end || v < 0 || v > 100000)
                return ae_err_set(err, AE_EINVAL,
                                  "--tenant %s: %s is not a number of vehicles (or \"free\")", spec,
                                  buf);
            *n = (int)v;
        }
        p = next;
    }
    return 0;
}
