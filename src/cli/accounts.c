/* The tenant and vehicle accounts of the hub configs; see accounts.h for the layout and
 * docs/security.md for what nats-server 2.9.10 was seen to do with it. */
#include "cli/accounts.h"
#include "cli/creds_registry.h"
#include "cli/tenant.h"
#include "common/ident.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JetStream API calls a vehicle makes, relative to an API prefix ("$JS.API." or
 * "$JS.<domain>.API."); "%P" stands for fleet.<env>.veh.<vid>. Guarded calls go to the
 * tenant's guard (guard.h), which checks what the server cannot: the body of a consumer
 * create (a push consumer could deliver the vehicle's own records onto any subject of the
 * tenant) and whose message a delete removes. */
static const struct {
    const char *api;
    bool guarded;
} vehicle_api[] = {
    {"STREAM.NAMES", false},
    {"CONSUMER.CREATE.*.*.%P.>", true},
    {"CONSUMER.MSG.NEXT.*.*", false},
    {"STREAM.MSG.DELETE.*", true},
    {"DIRECT.GET.FLEET_CMD.%P.cmd.>", false},
    {"DIRECT.GET.FLEET_LINK.%P.link", false},
};

/* The vehicle's own subjects it publishes on. Commands are excluded: they go the other
 * way, and a vehicle must not put commands into its tenant's FLEET_CMD. */
static const char *const vehicle_pub[] = {"state.>", "event.>", "live.>", "link"};

/* `api` with %P expanded, into out. */
static void expand(const char *api, const char *prefix, char *out, size_t cap)
{
    const char *p = strstr(api, "%P");
    if (p)
        snprintf(out, cap, "%.*s%s%s", (int)(p - api), api, prefix, p + 2);
    else
        snprintf(out, cap, "%s", api);
}

json_t *ae_accounts_vehicle_publish(const char *env, const char *vid, const char *const *domains,
                                    int n)
{
    char prefix[2 * AE_IDENT_MAX + 32], subj[4 * AE_IDENT_MAX + 128], api[3 * AE_IDENT_MAX + 96];
    snprintf(prefix, sizeof prefix, "fleet.%s.veh.%s", env, vid);
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof vehicle_pub / sizeof vehicle_pub[0]; i++) {
        snprintf(subj, sizeof subj, "%s.%s", prefix, vehicle_pub[i]);
        json_array_append_new(a, json_string(subj));
    }
    for (int d = 0; a && d < n; d++)
        for (size_t i = 0; i < sizeof vehicle_api / sizeof vehicle_api[0]; i++) {
            expand(vehicle_api[i].api, prefix, api, sizeof api);
            snprintf(subj, sizeof subj, "$JS.%s.API.%s", domains[d], api);
            json_array_append_new(a, json_string(subj));
        }
    return a;
}

/* ---- checking what comes from the registry -------------------------------------------- */

/* Text that goes inside a quoted config string. */
static bool safe_text(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

/* A writer: the text so far and the first problem. */
typedef struct wr {
    FILE *f;
    ae_err *err;
    int rc;
} wr;

static bool check(wr *w, bool ok, const char *what, const char *whose)
{
    if (!ok && !w->rc)
        w->rc = ae_err_set(w->err, AE_EINVAL,
                           "the credential registry holds %s for %s that cannot be written into a "
                           "hub config; fix or remove it in creds/creds.json",
                           what, whose);
    return ok;
}

/* The foreign domains a vehicle addresses (its registry entry's "domains"). */
static int vehicle_domains(wr *w, json_t *v, const char *vid, const char *out[4])
{
    int n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(v, "domains"), i, d)
    {
        if (n < 4 && check(w, ae_ident_valid(json_string_value(d)), "a JetStream domain", vid))
            out[n++] = json_string_value(d);
    }
    return n;
}

/* ---- the tenant account ---------------------------------------------------------------- */

static void tenant_limits(wr *w, const char *name, json_t *t)
{
    ae_tenant_limits l;
    ae_tenant_limits_from_json(json_object_get(t, "limits"), &l);
    FILE *f = w->f;
    if (!l.max_file[0] && !l.max_memory[0] && !l.max_streams && !l.max_consumers) {
        fprintf(f, "    jetstream: enabled\n");
    } else {
        /* JetStream up to these limits; one left out is unlimited. */
        const char *sep = "";
        fprintf(f, "    jetstream: {");
        if (l.max_file[0] && check(w, ae_tenant_size_valid(l.max_file), "max_file_store", name)) {
            fprintf(f, "%s max_file: %s", sep, l.max_file);
            sep = ",";
        }
        if (l.max_memory[0] &&
            check(w, ae_tenant_size_valid(l.max_memory), "max_memory_store", name)) {
            fprintf(f, "%s max_mem: %s", sep, l.max_memory);
            sep = ",";
        }
        if (l.max_streams) {
            fprintf(f, "%s max_streams: %d", sep, l.max_streams);
            sep = ",";
        }
        if (l.max_consumers)
            fprintf(f, "%s max_consumers: %d", sep, l.max_consumers);
        fprintf(f, " }\n");
    }
    if (l.max_connections)
        fprintf(f, "    limits: { max_connections: %d }\n", l.max_connections);
}

/* The tenant's users: its operator (client connections), its guard (publish only the API
 * calls it proxies and the replies), and with a domain per region the login of its region
 * links. */
static void tenant_users(wr *w, const char *name, json_t *t)
{
    FILE *f = w->f;
    json_t *op = json_object_get(t, "operator");
    const char *ou = ae_creds_str(op, "user"), *opw = ae_creds_str(op, "password");
    const char *gpw = ae_creds_str(t, "guard_password"), *hpw = ae_creds_str(t, "hublink_password");
    check(w, ae_ident_valid(ou) && safe_text(opw), "an operator login", name);
    fprintf(f,
            "    users = [\n"
            "      { user: \"%s\", password: \"%s\", allowed_connection_types: [\"STANDARD\"] }\n",
            ou, opw);
    if (*gpw && check(w, safe_text(gpw), "a guard password", name))
        fprintf(
            f,
            "      { user: \"" AE_GUARD_USER_PREFIX
            "%s\", password: \"%s\", allowed_connection_types: [\"STANDARD\"], "
            "permissions: { publish: { allow: [\"$JS.API.CONSUMER.CREATE.>\", "
            "\"$JS.API.STREAM.MSG.GET.>\", \"$JS.API.STREAM.MSG.DELETE.>\", "
            "\"$JS.*.API.CONSUMER.CREATE.>\", \"$JS.*.API.STREAM.MSG.GET.>\", "
            "\"$JS.*.API.STREAM.MSG.DELETE.>\", \"_R_.>\", \"_INBOX.>\"] }, subscribe: { allow: "
            "[\"" AE_GUARD_PREFIX ".>\", \"_INBOX.>\"] } } }\n",
            name, gpw);
    if (*hpw && check(w, safe_text(hpw), "a region link password", name))
        fprintf(f,
                "      { user: \"" AE_HUBLINK_USER_PREFIX "%s\", password: \"%s\", "
                "allowed_connection_types: [\"LEAFNODE\"] }\n",
                name, hpw);
    fprintf(f, "    ]\n");
}

/* What the tenant offers its vehicles: their subjects and the API calls of accounts.h, in
 * its own domain and in every foreign domain one of its vehicles addresses. Exports must
 * not overlap: an import takes whichever export matches first. */
static void tenant_exports(wr *w, const char *env, json_t *foreign)
{
    FILE *f = w->f;
    fprintf(f, "    exports = [\n");
    for (size_t i = 0; i < sizeof vehicle_pub / sizeof vehicle_pub[0]; i++)
        fprintf(f, "      { service: \"fleet.%s.veh.*.%s\" }\n", env, vehicle_pub[i]);
    size_t n = json_array_size(foreign);
    for (size_t d = 0; d <= n; d++) {
        char prefix[AE_IDENT_MAX + 16];
        if (d == 0)
            snprintf(prefix, sizeof prefix, "$JS.API");
        else
            snprintf(prefix, sizeof prefix, "$JS.%s.API",
                     json_string_value(json_array_get(foreign, d - 1)));
        /* A pull answers with many messages: the reply mapping must outlive the first. */
        fprintf(f,
                "      { service: \"%s.STREAM.NAMES\" }\n"
                "      { service: \"%s.CONSUMER.MSG.NEXT.>\", response_type: \"stream\","
                " response_threshold: \"30s\" }\n"
                "      { service: \"%s.DIRECT.GET.>\" }\n",
                prefix, prefix, prefix);
    }
    fprintf(f, "      { service: \"" AE_GUARD_PREFIX ".>\" }\n    ]\n");
}

/* The foreign domains any active vehicle of tenant `name` addresses, without repeats. */
static json_t *tenant_foreign(wr *w, json_t *reg, const char *name)
{
    json_t *out = json_array();
    const char *vid;
    json_t *v;
    json_object_foreach(json_object_get(reg, "vehicles"), vid, v)
    {
        const char *vt = ae_creds_vehicle_tenant(reg, vid);
        if (!vt || strcmp(vt, name) != 0 || strcmp(ae_creds_str(v, "status"), "active") != 0)
            continue;
        const char *doms[4];
        int n = vehicle_domains(w, v, vid, doms);
        for (int k = 0; k < n; k++) {
            bool have = false;
            size_t i;
            json_t *d;
            json_array_foreach(out, i, d) have = have || strcmp(json_string_value(d), doms[k]) == 0;
            if (!have)
                json_array_append_new(out, json_string(doms[k]));
        }
    }
    return out;
}

static void tenant_account(wr *w, json_t *reg, const char *name, json_t *t)
{
    FILE *f = w->f;
    const char *env = ae_creds_str(t, "env");
    if (!check(w, ae_ident_valid(name), "a tenant name", name) ||
        !check(w, ae_ident_valid(env), "an env", name))
        return;
    char acc[AE_ACCOUNT_MAX];
    ae_tenant_account(name, acc, sizeof acc);
    fprintf(f, "  \"%s\": {\n", acc);
    tenant_limits(w, name, t);
    tenant_users(w, name, t);
    json_t *foreign = tenant_foreign(w, reg, name);
    tenant_exports(w, env, foreign);
    json_decref(foreign);
    /* Each active vehicle's commands: what the operator publishes here reaches the vehicle
     * (and its reply comes back) through this import only. */
    fprintf(f, "    imports = [\n");
    const char *vid;
    json_t *v;
    json_object_foreach(json_object_get(reg, "vehicles"), vid, v)
    {
        const char *vt = ae_creds_vehicle_tenant(reg, vid);
        if (!vt || strcmp(vt, name) != 0 || strcmp(ae_creds_str(v, "status"), "active") != 0 ||
            !check(w, ae_ident_valid(vid), "a vehicle id", vid))
            continue;
        char vacc[AE_ACCOUNT_MAX];
        ae_vehicle_account(vid, vacc, sizeof vacc);
        fprintf(f, "      { service: { account: \"%s\", subject: \"fleet.%s.veh.%s.cmd.>\" } }\n",
                vacc, env, vid);
    }
    fprintf(f, "    ]\n  }\n");
}

/* ---- the vehicle account --------------------------------------------------------------- */

/* One import of an API call under `prefix` ("$JS.API." or "$JS.<d>.API."), guarded ones by
 * way of the guard subject with domain token `dom`. */
static void vehicle_import(FILE *f, const char *tacc, const char *vid, const char *p, size_t k,
                           const char *prefix, const char *dom)
{
    char api[3 * AE_IDENT_MAX + 96];
    expand(vehicle_api[k].api, p, api, sizeof api);
    if (vehicle_api[k].guarded)
        fprintf(f,
                "      { service: { account: \"%s\", subject: \"" AE_GUARD_PREFIX
                ".%s.%s.%s\" }, to: \"%s%s\" }\n",
                tacc, vid, dom, api, prefix, api);
    else
        fprintf(f, "      { service: { account: \"%s\", subject: \"%s%s\" } }\n", tacc, prefix,
                api);
}

/* The vehicle's login where its identity is accepted: its nkey, or its password user
 * (a stock nats-server leaf), with its permission template when it has one. */
static void vehicle_login(wr *w, const char *vid, json_t *v)
{
    FILE *f = w->f;
    json_t *perm = json_object_get(v, "permissions");
    char *pd = json_is_object(perm) ? json_dumps(perm, JSON_COMPACT) : NULL;
    if (strcmp(ae_creds_str(v, "type"), "password") == 0) {
        if (check(w, safe_text(ae_creds_str(v, "password")), "a password", vid))
            fprintf(f,
                    "      { user: \"%s\", password: \"%s\", allowed_connection_types: "
                    "[\"LEAFNODE\"]%s%s }\n",
                    vid, ae_creds_str(v, "password"), pd ? ", permissions: " : "", pd ? pd : "");
    } else {
        const char *pub = ae_creds_str(v, "public");
        if (check(w, ae_ident_valid(pub) && pub[0] == 'U', "a public key", vid))
            /* JSON is nats-server config syntax too. */
            fprintf(f,
                    "      { nkey: \"%s\", allowed_connection_types: [\"LEAFNODE\", "
                    "\"LEAFNODE_WS\"]%s%s }  # %s\n",
                    pub, pd ? ", permissions: " : "", pd ? pd : "", vid);
    }
    free(pd);
}

static void vehicle_account(wr *w, json_t *reg, const char *vid, json_t *v, const char *hub_region)
{
    FILE *f = w->f;
    json_t *tenants = json_object_get(reg, "tenants");
    const char *tname = ae_creds_vehicle_tenant(reg, vid);
    if (!check(w, ae_ident_valid(vid), "a vehicle id", vid) ||
        !check(w, tname != NULL, "no known tenant", vid))
        return;
    const char *env = ae_creds_str(json_object_get(tenants, tname), "env");
    char acc[AE_ACCOUNT_MAX], tacc[AE_ACCOUNT_MAX], p[2 * AE_IDENT_MAX + 32];
    ae_vehicle_account(vid, acc, sizeof acc);
    ae_tenant_account(tname, tacc, sizeof tacc);
    snprintf(p, sizeof p, "fleet.%s.veh.%s", env, vid);
    bool active = strcmp(ae_creds_str(v, "status"), "active") == 0;
    fprintf(f, "  \"%s\": {\n", acc);
    /* A revoked account has no limit: the evictor connects on every node in turn, and the
     * nodes learn of each other's leaf connections late (the count is cluster-wide). */
    if (active)
        fprintf(f, "    limits: { max_leafnodes: %d }\n", AE_VEHICLE_MAX_LEAFS);
    fprintf(f, "    users = [\n");
    /* An identity issued for one region (`aerie topology`) is accepted only there, and in
     * the region its vehicle fails over to. */
    const char *vr = ae_creds_str(v, "region"), *vf = ae_creds_str(v, "fallback");
    bool here = !*vr || !hub_region || !*hub_region || strcmp(vr, hub_region) == 0 ||
                strcmp(vf, hub_region) == 0;
    if (active && here)
        vehicle_login(w, vid, v);
    if (!active) {
        /* Revoked: only `aerie revoke`'s evictor, which closes the vehicle's connection by
         * announcing its name in this account (evict.h). */
        const char *epw = ae_creds_str(json_object_get(reg, "evict"), "password");
        if (check(w, safe_text(epw), "an evictor password", vid))
            fprintf(f,
                    "      { user: \"" AE_EVICT_USER_PREFIX "%s\", password: \"%s\", "
                    "allowed_connection_types: [\"LEAFNODE\"], permissions: { publish: { deny: "
                    "\">\" }, subscribe: { deny: \">\" } } }\n",
                    vid, epw);
    }
    fprintf(f, "    ]\n");
    if (active) {
        fprintf(f, "    exports = [ { service: \"%s.cmd.>\" } ]\n    imports = [\n", p);
        for (size_t i = 0; i < sizeof vehicle_pub / sizeof vehicle_pub[0]; i++)
            fprintf(f, "      { service: { account: \"%s\", subject: \"%s.%s\" } }\n", tacc, p,
                    vehicle_pub[i]);
        const char *doms[4];
        int nd = vehicle_domains(w, v, vid, doms);
        for (size_t k = 0; k < sizeof vehicle_api / sizeof vehicle_api[0]; k++) {
            vehicle_import(f, tacc, vid, p, k, "$JS.API.", AE_GUARD_LOCAL);
            for (int d = 0; d < nd; d++) {
                char prefix[AE_IDENT_MAX + 16];
                snprintf(prefix, sizeof prefix, "$JS.%s.API.", doms[d]);
                vehicle_import(f, tacc, vid, p, k, prefix, doms[d]);
            }
        }
        fprintf(f, "    ]\n");
    }
    fprintf(f, "  }\n");
}

int ae_accounts_text(json_t *reg, const char *hub_region, char **out, ae_err *err)
{
    *out = NULL;
    json_t *tenants = json_object_get(reg, "tenants");
    if (json_object_size(tenants) == 0)
        return ae_err_set(err, AE_EINVAL,
                          "the credential registry lists no tenant: run `aerie up` or `aerie "
                          "topology` once to write the tenant accounts (docs/security.md)");
    char *buf = NULL;
    size_t len = 0;
    wr w = {.f = open_memstream(&buf, &len), .err = err};
    if (!w.f)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    fprintf(w.f, "  " AE_ACCOUNTS_BEGIN_MARK
                 ": tenant and vehicle accounts, written from creds/creds.json by `aerie up`, "
                 "`aerie topology`, `aerie creds` and `aerie revoke`; edits here are "
                 "overwritten\n");
    const char *name;
    json_t *t;
    json_object_foreach(tenants, name, t) tenant_account(&w, reg, name, t);
    const char *vid;
    json_t *v;
    json_object_foreach(json_object_get(reg, "vehicles"), vid, v)
        vehicle_account(&w, reg, vid, v, hub_region);
    fprintf(w.f, "  " AE_ACCOUNTS_END_MARK "\n");
    bool ok = !ferror(w.f);
    fclose(w.f);
    if (w.rc || !ok) {
        free(buf);
        return w.rc ? w.rc : ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    *out = buf;
    return 0;
}
