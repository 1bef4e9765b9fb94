/* The topology model and its builder from a fleet description (see topology.h and
 * docs/deploy.md). The description is checked completely before anything is generated:
 * names are identifiers, every vehicle's region exists, no host:port is used twice, and no
 * text that goes inside a quoted config string can break out of it. */
#include "cli/topology.h"
#include "cli/accounts.h"
#include "common/conf.h"
#include "common/ident.h"
#include "common/random.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory ------------------------------------------------------------------------ */

static void *grow(void **arr, int *n, size_t size)
{
    char *na = realloc(*arr, (size_t)(*n + 1) * size);
    if (!na)
        return NULL;
    *arr = na;
    memset(na + (size_t)*n * size, 0, size);
    return na + (size_t)(*n)++ * size;
}

int ae_topo_set(char **slot, const char *s)
{
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        return AE_ENOMEM;
    free(*slot);
    *slot = c;
    return 0;
}

int ae_topo_push(char ***arr, size_t *n, const char *s)
{
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na)
        return AE_ENOMEM;
    *arr = na;
    if (!(na[*n] = strdup(s)))
        return AE_ENOMEM;
    (*n)++;
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_vehicle(ae_topo_vehicle *v)
{
    free(v->vid);
    free(v->host);
    free(v->password);
    free(v->seed_path);
    ae_topo_leaf *l = &v->leaf;
    free(l->ping_interval);
    free_strs(l->remotes, l->n_remotes);
    free(l->reconnect);
    free(l->reconnect_max);
    free(l->dead_link_timeout);
    free(l->store_dir);
    free(l->store_sync);
    free(l->store_ack_interval);
    free(l->status_interval);
    free(l->note);
    free_strs(v->gw.mavlink, v->gw.n_mavlink);
    free(v->gw.state_dir);
}

void ae_topology_free(ae_topology *t)
{
    if (!t)
        return;
    char *strs[] = {t->origin,          t->env,      t->route_password, t->gateway_password,
                    t->system_password, t->tls_cert, t->tls_key,        t->tls_ca,
                    t->max_memory,      t->max_file};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    for (int i = 0; i < t->n_tenants; i++) {
        ae_topo_tenant *tn = &t->tenants[i];
        free(tn->name);
        free(tn->op_user);
        free(tn->op_password);
        free(tn->guard_password);
        free(tn->hublink_password);
    }
    free(t->tenants);
    for (int i = 0; i < t->n_regions; i++) {
        free(t->regions[i].name);
        free(t->regions[i].domain);
    }
    free(t->regions);
    for (int i = 0; i < t->n_hubs; i++) {
        free(t->hubs[i].name);
        free(t->hubs[i].host);
        free(t->hubs[i].listen_host);
        free(t->hubs[i].store_dir);
    }
    free(t->hubs);
    for (int i = 0; i < t->n_vehicles; i++)
        free_vehicle(&t->vehicles[i]);
    free(t->vehicles);
    free(t);
}

ae_topology *ae_topology_new(void)
{
    return calloc(1, sizeof(ae_topology));
}

ae_topo_region *ae_topology_add_region(ae_topology *t, const char *name, const char *domain)
{
    ae_topo_region *r = grow((void **)&t->regions, &t->n_regions, sizeof *r);
    if (!r)
        return NULL;
    r->first_hub = t->n_hubs;
    r->mirror_of = -1;
    r->fallback = -1;
    if (ae_topo_set(&r->name, name) || ae_topo_set(&r->domain, domain))
        return NULL;
    return r;
}

ae_topo_tenant *ae_topology_add_tenant(ae_topology *t, const char *name)
{
    ae_topo_tenant *tn = grow((void **)&t->tenants, &t->n_tenants, sizeof *tn);
    if (!tn)
        return NULL;
    return ae_topo_set(&tn->name, name) ? NULL : tn;
}

ae_topo_hub *ae_topology_add_hub(ae_topology *t, const char *name)
{
    ae_topo_hub *h = grow((void **)&t->hubs, &t->n_hubs, sizeof *h);
    if (!h)
        return NULL;
    h->region = t->n_regions - 1;
    if (h->region >= 0)
        t->regions[h->region].n_hubs++;
    return ae_topo_set(&h->name, name) ? NULL : h;
}

ae_topo_vehicle *ae_topology_add_vehicle(ae_topology *t, const char *vid, int region)
{
    ae_topo_vehicle *v = grow((void **)&t->vehicles, &t->n_vehicles, sizeof *v);
    if (!v)
        return NULL;
    v->region = region;
    return ae_topo_set(&v->vid, vid) ? NULL : v;
}

int ae_topology_region_index(const ae_topology *t, const char *name)
{
    for (int k = 0; name && k < t->n_regions; k++)
        if (strcmp(t->regions[k].name, name) == 0)
            return k;
    return -1;
}

int ae_topology_check_capacity(const ae_topology *t, ae_err *err)
{
    long long file = 0, mem = 0;
    for (int i = 0; i < t->n_tenants; i++) {
        file += ae_tenant_size_bytes(t->tenants[i].limits.max_file);
        mem += ae_tenant_size_bytes(t->tenants[i].limits.max_memory);
    }
    long long hf = ae_tenant_size_bytes(t->max_file), hm = ae_tenant_size_bytes(t->max_memory);
    if (file > hf)
        return ae_err_set(err, AE_EINVAL,
                          "the tenants' max_file_store add up to %lld MB, more than a hub's "
                          "jetstream.max_file_store %s: nats-server 2.9.10 would not start "
                          "JetStream (insufficient storage resources); raise it or lower theirs",
                          file >> 20, t->max_file);
    if (mem > hm)
        return ae_err_set(err, AE_EINVAL,
                          "the tenants' max_memory_store add up to %lld MB, more than a hub's "
                          "jetstream.max_memory_store %s: nats-server 2.9.10 would not start "
                          "JetStream (insufficient memory resources); raise it or lower theirs",
                          mem >> 20, t->max_memory);
    return 0;
}

int ae_topology_tenant_index(const ae_topology *t, const char *name)
{
    for (int k = 0; name && k < t->n_tenants; k++)
        if (strcmp(t->tenants[k].name, name) == 0)
            return k;
    return -1;
}

int ae_topology_vehicle_domains(const ae_topology *t, const ae_topo_vehicle *v, const char *out[2])
{
    const ae_topo_region *rg = &t->regions[v->region];
    const char *fb = rg->fallback >= 0 ? t->regions[rg->fallback].domain : NULL;
    if (!fb || strcmp(fb, rg->domain) == 0)
        return 0;
    out[0] = rg->domain;
    out[1] = fb;
    return 2;
}

json_t *ae_topology_vehicle_permissions(const ae_topology *t, const ae_topo_vehicle *v)
{
    const char *doms[3] = {t->regions[v->region].domain, NULL, NULL};
    const char *other[2];
    int n = 1;
    if (ae_topology_vehicle_domains(t, v, other) == 2)
        doms[n++] = other[1];
    json_t *pub = ae_accounts_vehicle_publish(t->env, v->vid, doms, n);
    json_t *p =
        json_pack("{s:{s:o}, s:{s:[s++++, s, s, s]}}", "publish", "allow", pub, "subscribe",
                  "allow", "fleet.", t->env, ".veh.", v->vid, ".>", "_INBOX.>", "_GR_.>", "$LDS.>");
    /* Replies to the hub's requests (commands) and the inbox replies of its own requests. */
    json_t *allow = json_object_get(json_object_get(p, "publish"), "allow");
    json_array_append_new(allow, json_string("_INBOX.>"));
    json_array_append_new(allow, json_string("_R_.>"));
    json_array_append_new(allow, json_string("_GR_.>"));
    return p;
}

/* ---- reading the description ------------------------------------------------------- */

/* A parse in progress: the model, the secrets store and where messages point. */
typedef struct parser {
    ae_topology *t;
    json_t *secrets;
    const char *name;   /* the description's file name */
    const char *domain; /* the fleet's js_domain */
    ae_err *err;
} parser;

static bool is_host(const char *s)
{
    if (!s || !*s || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == ':'))
            return false;
    return true;
}

/* Strings that go into a config inside double quotes must not break out of them. */
static bool is_safe_text(const char *s)
{
    for (; s && *s; s++)
        if (*s == '"' || *s == '\\' || *s == '\n' || *s == '\r' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

static const char *get_str(json_t *o, const char *key, const char *def)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

static int get_port(parser *p, json_t *o, const char *key, int def, const char *where, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return ae_err_set(p->err, AE_EINVAL, "%s.%s: must be a port number 1..65535", where, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* The secret named `key` into *slot: from the description (given), else the secrets store,
 * else a new one (added to the store, which the caller saves). */
static int secret(parser *p, const char *key, const char *given, char **slot)
{
    const char *v = given;
    json_t *have = json_object_get(p->secrets, key);
    char pw[AE_SECRET_LEN + 1];
    if (!v && json_is_string(have))
        v = json_string_value(have);
    if (!v) {
        int rc = ae_random_secret(pw, sizeof pw, p->err);
        if (rc)
            return rc;
        v = pw;
    }
    /* Copy before storing: v may be the string the store is about to replace. */
    if (ae_topo_set(slot, v))
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    json_object_set_new(p->secrets, key, json_string(*slot));
    return 0;
}

static int set_or_oom(parser *p, char **slot, const char *v)
{
    return ae_topo_set(slot, v) ? ae_err_set(p->err, AE_ENOMEM, "out of memory") : 0;
}

/* env, js_domain, operator, the service passwords, TLS, JetStream limits, auth mode. */
static int parse_settings(parser *p, json_t *root)
{
    ae_topology *t = p->t;
    const char *name = p->name;
    p->domain = get_str(root, "js_domain", "hub");
    if (set_or_oom(p, &t->env, get_str(root, "env", "prod")))
        return AE_ENOMEM;
    if (!ae_ident_valid(t->env) || !ae_ident_valid(p->domain))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: env and js_domain must be tokens of letters, "
                          "digits, '_' or '-'",
                          name);
    int rc;
    if ((rc = secret(p, "routes", NULL, &t->route_password)) ||
        (rc = secret(p, "gateways", NULL, &t->gateway_password)) ||
        (rc = secret(p, "system", NULL, &t->system_password)))
        return rc;
    json_t *tls = json_object_get(root, "tls");
    if (set_or_oom(p, &t->tls_cert, get_str(tls, "cert_file", NULL)) ||
        set_or_oom(p, &t->tls_key, get_str(tls, "key_file", NULL)) ||
        set_or_oom(p, &t->tls_ca, get_str(tls, "ca_file", NULL)))
        return AE_ENOMEM;
    if (tls && (!t->tls_cert || !t->tls_key))
        return ae_err_set(p->err, AE_EINVAL, "%s: tls needs both cert_file and key_file", name);
    json_t *js = json_object_get(root, "jetstream");
    if (set_or_oom(p, &t->max_memory, get_str(js, "max_memory_store", "256MB")) ||
        set_or_oom(p, &t->max_file, get_str(js, "max_file_store", "10GB")))
        return AE_ENOMEM;
    const char *sizes[] = {"max_memory_store", t->max_memory, "max_file_store", t->max_file};
    for (size_t i = 0; i < 4; i += 2)
        if (!ae_tenant_size_valid(sizes[i + 1]))
            return ae_err_set(p->err, AE_EINVAL,
                              "%s: jetstream.%s: \"%s\" is not a size such as 256MB or 10GB", name,
                              sizes[i], sizes[i + 1]);
    t->vehicle_permissions = json_is_true(json_object_get(root, "vehicle_permissions"));
    const char *va = get_str(root, "vehicle_auth", "nkey");
    if (strcmp(va, "nkey") != 0 && strcmp(va, "password") != 0)
        return ae_err_set(p->err, AE_EINVAL, "%s: vehicle_auth must be \"nkey\" or \"password\"",
                          name);
    t->vehicle_auth = strcmp(va, "nkey") == 0 ? AE_TOPO_AUTH_NKEY : AE_TOPO_AUTH_PASSWORD;
    json_t *dpr = json_object_get(root, "domain_per_region");
    if (dpr && !json_is_boolean(dpr))
        return ae_err_set(p->err, AE_EINVAL, "%s: domain_per_region must be true or false", name);
    t->per_region = json_is_true(dpr);
    const char *seed = get_str(root, "vehicle_seed_path", NULL);
    if (seed && (!*seed || !is_safe_text(seed)))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: vehicle_seed_path must be a path (\"{vid}\" is replaced), "
                          "without quotes, backslashes or control characters",
                          name);
    const char *texts[] = {t->tls_cert,   t->tls_key, t->tls_ca, get_str(js, "store_dir", NULL),
                           t->max_memory, t->max_file};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!is_safe_text(texts[i]))
            return ae_err_set(p->err, AE_EINVAL,
                              "%s: a path, size or password contains a quote, "
                              "backslash or control character",
                              name);
    return 0;
}

/* `tmpl` with "{key}" replaced by value; without "{key}", `dir_default` decides: tmpl/value
 * (a directory under which each one gets its own) or tmpl as it is. Returns a malloc'd
 * string or NULL. */
static char *subst(const char *tmpl, const char *key, const char *value, bool dir_default)
{
    char *out = NULL;
    const char *p = strstr(tmpl, key);
    int n;
    if (p)
        n = asprintf(&out, "%.*s%s%s", (int)(p - tmpl), tmpl, value, p + strlen(key));
    else if (dir_default)
        n = asprintf(&out, "%s/%s", tmpl, value);
    else
        n = asprintf(&out, "%s", tmpl);
    return n < 0 ? NULL : out;
}

/* One tenant: its operator (user default `operator` for the implicit default tenant,
 * operator-<name> otherwise), its service passwords (kept in secrets.json under
 * "operator"/"guard"/"hublink", with ":<name>" for named tenants), its profile and limits. */
static int parse_tenant(parser *p, json_t *o, const char *name, bool implicit, const char *where)
{
    ae_topology *t = p->t;
    if (!ae_ident_valid(name))
        return ae_err_set(p->err, AE_EINVAL, "%s.name: missing or not a token", where);
    if (ae_topology_tenant_index(t, name) >= 0)
        return ae_err_set(p->err, AE_EINVAL, "%s.name: tenant %s is listed twice", where, name);
    ae_topo_tenant *tn = ae_topology_add_tenant(t, name);
    if (!tn)
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    json_t *op = json_object_get(o, "operator");
    char def_user[AE_IDENT_MAX + 16], key[AE_IDENT_MAX + 16];
    snprintf(def_user, sizeof def_user, implicit ? "operator" : "operator-%s", name);
    if (set_or_oom(p, &tn->op_user, get_str(op, "user", def_user)))
        return AE_ENOMEM;
    if (!ae_ident_valid(tn->op_user) || strncmp(tn->op_user, "aerie-", 6) == 0)
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.operator.user: must be a token not starting with aerie-", where);
    for (int k = 0; k + 1 < t->n_tenants; k++)
        if (strcmp(t->tenants[k].op_user, tn->op_user) == 0)
            return ae_err_set(p->err, AE_EINVAL,
                              "%s.operator.user: %s is already tenant %s's operator (users are "
                              "unique across tenants)",
                              where, tn->op_user, t->tenants[k].name);
    int rc;
    const char *roles[] = {"operator", "guard", "hublink"};
    char **slots[] = {&tn->op_password, &tn->guard_password, &tn->hublink_password};
    for (int r = 0; r < 3; r++) {
        if (r == 2 && !t->per_region)
            break;
        snprintf(key, sizeof key, implicit ? "%s" : "%s:%s", roles[r], name);
        if ((rc = secret(p, key, r == 0 ? get_str(op, "password", NULL) : NULL, slots[r])))
            return rc;
    }
    if (!is_safe_text(tn->op_password))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.operator.password: contains a quote, backslash or control character",
                          where);
    if (!tn->op_password[0])
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.operator.password: empty (leave it out to have one generated)",
                          where);
    const char *profile = get_str(o, "profile", "standard");
    if (strcmp(profile, "free") != 0 && strcmp(profile, "standard") != 0)
        return ae_err_set(p->err, AE_EINVAL, "%s.profile: must be \"free\" or \"standard\"", where);
    tn->free_tier = strcmp(profile, "free") == 0;
    if (tn->free_tier)
        ae_tenant_free_limits(&tn->limits);
    char lw[200];
    snprintf(lw, sizeof lw, "%s.limits", where);
    if ((rc = ae_tenant_limits_parse(json_object_get(o, "limits"), lw, &tn->limits, p->err)))
        return rc;
    /* The free tier's vehicle count is what makes it the free tier. */
    if (tn->free_tier &&
        (tn->limits.max_vehicles == 0 || tn->limits.max_vehicles > AE_FREE_TIER_VEHICLES))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.limits.max_vehicles: the free tier allows at most %d vehicles", where,
                          AE_FREE_TIER_VEHICLES);
    return 0;
}

/* The tenants: "tenants": [...], or one tenant "default" whose operator is the top-level
 * "operator". */
static int parse_tenants(parser *p, json_t *root)
{
    json_t *list = json_object_get(root, "tenants");
    if (!list)
        return parse_tenant(p, root, AE_TENANT_DEFAULT, true, p->name);
    if (!json_is_array(list) || json_array_size(list) == 0)
        return ae_err_set(p->err, AE_EINVAL, "%s: \"tenants\" must be a non-empty array", p->name);
    if (json_array_size(list) > AE_TOPO_MAX_TENANTS)
        return ae_err_set(p->err, AE_EINVAL, "%s: at most %d tenants", p->name,
                          AE_TOPO_MAX_TENANTS);
    if (json_object_get(root, "operator") || json_object_get(root, "profile") ||
        json_object_get(root, "limits"))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: with \"tenants\", each tenant has its own operator, profile and "
                          "limits (the top-level ones would apply to none)",
                          p->name);
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        char where[160];
        snprintf(where, sizeof where, "%s: tenants[%zu]", p->name, i);
        if (!json_is_object(o))
            return ae_err_set(p->err, AE_EINVAL, "%s: must be an object", where);
        int rc = parse_tenant(p, o, get_str(o, "name", NULL), false, where);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_hub(parser *p, json_t *h, const char *where, const char *store_tmpl)
{
    ae_topology *t = p->t;
    if (t->n_hubs == AE_TOPO_MAX_HUBS)
        return ae_err_set(p->err, AE_EINVAL, "%s: at most %d hub nodes", p->name, AE_TOPO_MAX_HUBS);
    const char *name = get_str(h, "name", NULL), *host = get_str(h, "host", NULL);
    const char *listen = get_str(h, "listen_host", host);
    if (!ae_ident_valid(name))
        return ae_err_set(p->err, AE_EINVAL, "%s.name: missing or not a token", where);
    if (!is_host(host) || !is_host(listen))
        return ae_err_set(p->err, AE_EINVAL, "%s.host: missing or not a host name/address", where);
    for (int k = 0; k < t->n_hubs; k++)
        if (strcmp(t->hubs[k].name, name) == 0)
            return ae_err_set(p->err, AE_EINVAL, "%s.name: hub %s is listed twice", where, name);
    ae_topo_hub *n = ae_topology_add_hub(t, name);
    if (!n || ae_topo_set(&n->host, host) || ae_topo_set(&n->listen_host, listen) ||
        !(n->store_dir = subst(store_tmpl, "{name}", name, true)))
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    int rc;
    if ((rc = get_port(p, h, "client_port", 4222, where, &n->client_port)) ||
        (rc = get_port(p, h, "cluster_port", 6222, where, &n->cluster_port)) ||
        (rc = get_port(p, h, "leaf_port", 7422, where, &n->leaf_port)) ||
        (rc = get_port(p, h, "gateway_port", 7222, where, &n->gateway_port)) ||
        (rc = get_port(p, h, "http_port", 8222, where, &n->http_port)))
        return rc;
    /* A hub on the default ports listens for websocket leaves next to its leafnode port;
     * one whose ports are laid out by hand gets a websocket listener when "ws_port" is
     * given (0: none), so the layout stays exactly what was written. */
    int ws_def = json_object_get(h, "leaf_port") ? 0 : n->leaf_port + 1;
    json_t *ws = json_object_get(h, "ws_port");
    if (json_is_integer(ws) && json_integer_value(ws) == 0)
        n->ws_port = 0;
    else if ((rc = get_port(p, h, "ws_port", ws_def, where, &n->ws_port)))
        return rc;
    return 0;
}

static int parse_regions(parser *p, json_t *root)
{
    ae_topology *t = p->t;
    json_t *regions = json_object_get(root, "regions");
    if (!json_is_array(regions) || json_array_size(regions) == 0)
        return ae_err_set(p->err, AE_EINVAL, "%s: \"regions\" must be a non-empty array", p->name);
    if (json_array_size(regions) > AE_TOPO_MAX_REGIONS)
        return ae_err_set(p->err, AE_EINVAL, "%s: at most %d regions", p->name,
                          AE_TOPO_MAX_REGIONS);
    const char *store_tmpl =
        get_str(json_object_get(root, "jetstream"), "store_dir", "/var/lib/aerie/{name}");
    size_t ri;
    json_t *r;
    json_array_foreach(regions, ri, r)
    {
        char where[160];
        snprintf(where, sizeof where, "%s: regions[%zu]", p->name, ri);
        const char *name = get_str(r, "name", NULL);
        if (!ae_ident_valid(name))
            return ae_err_set(p->err, AE_EINVAL, "%s.name: missing or not a token", where);
        if (ae_topology_region_index(t, name) >= 0)
            return ae_err_set(p->err, AE_EINVAL, "%s.name: region %s is listed twice", where, name);
        json_t *hubs = json_object_get(r, "hubs");
        if (!json_is_array(hubs) || json_array_size(hubs) == 0)
            return ae_err_set(p->err, AE_EINVAL, "%s.hubs: must be a non-empty array", where);
        char *domain = NULL;
        if (asprintf(&domain, t->per_region ? "%s-%s" : "%s", p->domain, name) < 0)
            return ae_err_set(p->err, AE_ENOMEM, "out of memory");
        ae_topo_region *rg = ae_topology_add_region(t, name, domain);
        free(domain);
        if (!rg)
            return ae_err_set(p->err, AE_ENOMEM, "out of memory");
        rg->scoped = true;
        size_t hi;
        json_t *h;
        json_array_foreach(hubs, hi, h)
        {
            char hw[200];
            snprintf(hw, sizeof hw, "%s.hubs[%zu]", where, hi);
            int rc = parse_hub(p, h, hw, store_tmpl);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* The global tier of per-region domains: which region aggregates (global_region, default
 * the first) and which region each region mirrors (regions[].mirror_of). Both only make
 * sense with domain_per_region, so they are refused without it rather than ignored. Also
 * each region's fallback (regions[].fallback), in either mode. */
static int parse_global(parser *p, json_t *root)
{
    ae_topology *t = p->t;
    json_t *g = json_object_get(root, "global_region");
    if (g && !t->per_region)
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: global_region needs \"domain_per_region\": true (with one domain "
                          "for all regions every stream is already fleet-wide)",
                          p->name);
    t->global_region = 0;
    if (g && (t->global_region = ae_topology_region_index(t, json_string_value(g))) < 0)
        return ae_err_set(p->err, AE_EINVAL, "%s: global_region: no such region", p->name);
    size_t ri;
    json_t *r;
    json_array_foreach(json_object_get(root, "regions"), ri, r)
    {
        json_t *fb = json_object_get(r, "fallback");
        if (fb) {
            int k = ae_topology_region_index(t, json_string_value(fb));
            if (k < 0 || k == (int)ri)
                return ae_err_set(p->err, AE_EINVAL,
                                  "%s: regions[%zu].fallback: must name another region", p->name,
                                  ri);
            t->regions[ri].fallback = k;
        }
        json_t *m = json_object_get(r, "mirror_of");
        if (!m)
            continue;
        if (!t->per_region)
            return ae_err_set(p->err, AE_EINVAL,
                              "%s: regions[%zu].mirror_of needs \"domain_per_region\": true",
                              p->name, ri);
        int k = ae_topology_region_index(t, json_string_value(m));
        if (k < 0 || k == (int)ri)
            return ae_err_set(p->err, AE_EINVAL,
                              "%s: regions[%zu].mirror_of: must name another region", p->name, ri);
        t->regions[ri].mirror_of = k;
    }
    return 0;
}

/* No two listeners on one host may share a port (a common slip when all nodes of a test
 * topology run on one machine). Gateway ports count only with several regions. */
static int check_ports(parser *p)
{
    const ae_topology *t = p->t;
    for (int a = 0; a < t->n_hubs; a++) {
        const ae_topo_hub *ha = &t->hubs[a];
        int pa[] = {ha->client_port,  ha->cluster_port, ha->leaf_port,
                    ha->gateway_port, ha->http_port,    ha->ws_port};
        for (int b = a; b < t->n_hubs; b++) {
            const ae_topo_hub *hb = &t->hubs[b];
            if (strcmp(ha->host, hb->host) != 0)
                continue;
            int pb[] = {hb->client_port,  hb->cluster_port, hb->leaf_port,
                        hb->gateway_port, hb->http_port,    hb->ws_port};
            for (int i = 0; i < 6; i++)
                for (int j = (a == b ? i + 1 : 0); j < 6; j++)
                    if (pa[i] && pa[i] == pb[j] && (t->n_regions > 1 || (i != 3 && j != 3)))
                        return ae_err_set(p->err, AE_EINVAL, "%s: hubs %s and %s both use %s:%d",
                                          p->name, ha->name, hb->name, ha->host, pa[i]);
        }
    }
    return 0;
}

static bool reserved_vid(const ae_topology *t, const char *vid)
{
    static const char *const names[] = {"routes", "gateways", "system", "route", "gateway"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(vid, names[i]) == 0)
            return true;
    for (int k = 0; k < t->n_tenants; k++)
        if (strcmp(vid, t->tenants[k].op_user) == 0)
            return true;
    return false;
}

/* A MAVLink endpoint given in the description: one of aerie-gw's schemes, and nothing that
 * could break out of the quoted config string. */
static bool is_mavlink_endpoint(const char *s)
{
    static const char *const schemes[] = {"udp://", "udpin://", "udpout://", "serial:"};
    if (!s || !is_safe_text(s) || strlen(s) > 200)
        return false;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
            return true;
    return false;
}

/* The vehicle's aerie-leaf as deployed: store-and-forward on for its state and event
 * subjects (the store under `store_tmpl`), its identity in the uplink block (the leaf
 * reports its link as fleet.<env>.veh.<vid>.link), and reconnect timing that bounds how
 * long a failover to the fallback region takes (docs/deploy.md). A stock nats-server leaf
 * (vehicle_auth "password") has none of these options: its config stays plain. */
static int deployed_leaf(parser *p, ae_topo_vehicle *ve, const char *store_tmpl)
{
    ae_topo_leaf *l = &ve->leaf;
    if (p->t->vehicle_auth != AE_TOPO_AUTH_NKEY)
        return 0;
    l->report_identity = true;
    if (!(l->store_dir = subst(store_tmpl, "{vid}", ve->vid, true)) ||
        ae_topo_set(&l->reconnect, "1s") || ae_topo_set(&l->reconnect_max, "5s"))
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    return 0;
}

/* A vehicle as the description gives it: the defaults of a deployed vehicle (its leaf on
 * 127.0.0.1:leaf_port dialling its region's hubs, then its fallback region's; its gateway
 * listening for the autopilot on UDP mavlink_port). Ports left out stay 0 here and are
 * given by vehicle_ports once every vehicle is read. */
static int parse_vehicle(parser *p, json_t *v, const char *where, const char *seed_tmpl,
                         const char *store_tmpl, const char *gw_tmpl)
{
    ae_topology *t = p->t;
    const char *vid = get_str(v, "vid", NULL);
    if (!ae_ident_valid(vid))
        return ae_err_set(p->err, AE_EINVAL, "%s.vid: missing or not a token", where);
    if (reserved_vid(t, vid))
        return ae_err_set(p->err, AE_EINVAL, "%s.vid: %s is a reserved name", where, vid);
    for (int k = 0; k < t->n_vehicles; k++)
        if (strcmp(t->vehicles[k].vid, vid) == 0)
            return ae_err_set(p->err, AE_EINVAL, "%s.vid: %s is listed twice", where, vid);
    const char *rn = get_str(v, "region", t->n_regions == 1 ? t->regions[0].name : NULL);
    int region = ae_topology_region_index(t, rn);
    if (region < 0)
        return ae_err_set(p->err, AE_EINVAL, "%s.region: %s", where,
                          rn ? "no such region" : "required when there are several regions");
    if (strncmp(vid, "aerie-", 6) == 0)
        return ae_err_set(p->err, AE_EINVAL, "%s.vid: names starting with aerie- are reserved",
                          where);
    const char *tname = get_str(v, "tenant", t->n_tenants == 1 ? t->tenants[0].name : NULL);
    int tenant = ae_topology_tenant_index(t, tname);
    if (tenant < 0)
        return ae_err_set(p->err, AE_EINVAL, "%s.tenant: %s", where,
                          tname ? "no such tenant" : "required when there are several tenants");
    const ae_tenant_limits *lim = &t->tenants[tenant].limits;
    int have = 0;
    for (int k = 0; k < t->n_vehicles; k++)
        have += t->vehicles[k].tenant == tenant;
    if (lim->max_vehicles && have >= lim->max_vehicles)
        return ae_err_set(
            p->err, AE_ELIMIT, "%s: tenant %s %s at most %d vehicles; %s would be its %dth", where,
            tname, t->tenants[tenant].free_tier ? "is on the free tier, which allows" : "may have",
            lim->max_vehicles, vid, have + 1);
    const char *given = get_str(v, "password", NULL);
    if (given && !is_safe_text(given))
        return ae_err_set(p->err, AE_EINVAL, "%s.password: contains a quote or backslash", where);
    if (given && !given[0])
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.password: empty (leave it out to have one generated)", where);
    bool nkeys = t->vehicle_auth == AE_TOPO_AUTH_NKEY;
    if (given && nkeys)
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.password: vehicles sign in with nkeys; set \"vehicle_auth\": "
                          "\"password\" to use passwords",
                          where);
    const char *host = get_str(v, "host", NULL), *mav = get_str(v, "mavlink", NULL);
    if (host && !is_host(host))
        return ae_err_set(p->err, AE_EINVAL, "%s.host: not a host name", where);
    if (mav && !is_mavlink_endpoint(mav))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s.mavlink: expected an aerie-gw endpoint such as udp://0.0.0.0:14550 "
                          "or serial:///dev/ttyACM0:921600 (docs/gateway.md)",
                          where);
    if (mav && json_object_get(v, "mavlink_port"))
        return ae_err_set(p->err, AE_EINVAL, "%s: give mavlink or mavlink_port, not both", where);
    ae_topo_vehicle *ve = ae_topology_add_vehicle(t, vid, region);
    if (ve)
        ve->tenant = tenant;
    if (!ve || ae_topo_set(&ve->host, host) ||
        (mav && ae_topo_push(&ve->gw.mavlink, &ve->gw.n_mavlink, mav)))
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    /* The gateway's command journal, one directory per vehicle (vehicles may share a host). */
    if (!(ve->gw.state_dir = subst(gw_tmpl, "{vid}", vid, true)))
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    if (seed_tmpl && !(ve->seed_path = subst(seed_tmpl, "{vid}", vid, false)))
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    char key[AE_IDENT_MAX + 16];
    snprintf(key, sizeof key, "vehicle:%s", vid);
    int rc = nkeys ? 0 : secret(p, key, given, &ve->password);
    if (!rc)
        rc = get_port(p, v, "leaf_port", 0, where, &ve->leaf.port);
    if (!rc)
        rc = get_port(p, v, "leaf_http_port", 0, where, &ve->leaf.http_port);
    if (!rc && !mav)
        rc = get_port(p, v, "mavlink_port", 0, where, &ve->gw.mavlink_port);
    return rc ? rc : deployed_leaf(p, ve, store_tmpl);
}

/* Ports in use on one host: TCP and UDP apart. */
typedef struct port_map {
    uint8_t tcp[65536 / 8], udp[65536 / 8];
} port_map;

static bool port_taken(const uint8_t *bits, int port)
{
    return bits[port / 8] & (1u << (port % 8));
}

/* Marks a port given in the description; a second use on the host is refused. */
static int claim(parser *p, uint8_t *bits, int port, const ae_topo_vehicle *v)
{
    if (!port)
        return 0;
    if (port_taken(bits, port))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: vehicle %s: port %d is used twice on %s%s (set distinct "
                          "leaf_port, leaf_http_port and mavlink_port)",
                          p->name, v->vid, port, v->host ? "host " : "its machine",
                          v->host ? v->host : "");
    bits[port / 8] |= (uint8_t)(1u << (port % 8));
    return 0;
}

/* The first free port from `from` on, marked taken; 0 when none is left. */
static int next_free(uint8_t *bits, int from)
{
    for (int port = from; port < 65536; port++)
        if (!port_taken(bits, port)) {
            bits[port / 8] |= (uint8_t)(1u << (port % 8));
            return port;
        }
    return 0;
}

/* The ports of the vehicles on one host (`host`; NULL: vehicle `only`, alone on its own
 * machine): those given are checked, the others are the next free ones from the defaults. */
static int host_ports(parser *p, port_map *m, const char *host, int only)
{
    ae_topology *t = p->t;
    memset(m, 0, sizeof *m);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < t->n_vehicles; i++) {
            ae_topo_vehicle *v = &t->vehicles[i];
            if (host ? !v->host || strcmp(v->host, host) != 0 : i != only)
                continue;
            int rc = 0;
            if (pass == 0) {
                if ((rc = claim(p, m->tcp, v->leaf.port, v)) ||
                    (rc = claim(p, m->tcp, v->leaf.http_port, v)) ||
                    (rc = claim(p, m->udp, v->gw.mavlink_port, v)))
                    return rc;
                continue;
            }
            /* A vehicle alone on its machine has no monitoring port unless one is given. */
            if ((!v->leaf.port && !(v->leaf.port = next_free(m->tcp, 4222))) ||
                (host && !v->leaf.http_port && !(v->leaf.http_port = next_free(m->tcp, 8222))) ||
                (!v->gw.n_mavlink && !v->gw.mavlink_port &&
                 !(v->gw.mavlink_port = next_free(m->udp, 14550))))
                return ae_err_set(p->err, AE_EINVAL, "%s: no free port left on host %s", p->name,
                                  host);
            if (!v->gw.n_mavlink) {
                char ep[48];
                snprintf(ep, sizeof ep, "udp://0.0.0.0:%d", v->gw.mavlink_port);
                if (ae_topo_push(&v->gw.mavlink, &v->gw.n_mavlink, ep))
                    return ae_err_set(p->err, AE_ENOMEM, "out of memory");
            }
        }
    return 0;
}

/* The ports each vehicle's programs listen on: those given, else the defaults (leaf 4222,
 * MAVLink UDP 14550, no leaf monitoring port) on a machine of its own; vehicles that share
 * a host take the next free number from those defaults (8222 for monitoring), so that every
 * generated config on one machine listens on its own ports. Two given ports that collide
 * on one host are refused. */
static int vehicle_ports(parser *p)
{
    ae_topology *t = p->t;
    port_map *m = malloc(sizeof *m);
    if (!m)
        return ae_err_set(p->err, AE_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < t->n_vehicles && !rc; i++) {
        const ae_topo_vehicle *v = &t->vehicles[i];
        bool first = true; /* the first vehicle of its host does the whole host */
        for (int j = 0; j < i && first && v->host; j++)
            first = !t->vehicles[j].host || strcmp(t->vehicles[j].host, v->host) != 0;
        if (first)
            rc = host_ports(p, m, v->host, i);
    }
    free(m);
    return rc;
}

static int parse_vehicles(parser *p, json_t *root)
{
    json_t *vs = json_object_get(root, "vehicles");
    if (vs && !json_is_array(vs))
        return ae_err_set(p->err, AE_EINVAL, "%s: \"vehicles\" must be an array", p->name);
    if (json_array_size(vs) > AE_TOPO_MAX_VEHICLES)
        return ae_err_set(p->err, AE_EINVAL, "%s: at most %d vehicles", p->name,
                          AE_TOPO_MAX_VEHICLES);
    const char *seed_tmpl = get_str(root, "vehicle_seed_path", NULL);
    const char *store_tmpl = get_str(root, "vehicle_store_dir", "/var/lib/aerie/{vid}");
    if (!*store_tmpl || !is_safe_text(store_tmpl))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: vehicle_store_dir must be a path (\"{vid}\" is replaced), "
                          "without quotes, backslashes or control characters",
                          p->name);
    /* under the aerie-gw unit's StateDirectory=aerie/gw (deploy/aerie-gw.service.in) */
    const char *gw_tmpl = get_str(root, "vehicle_gw_state_dir", "/var/lib/aerie/gw/{vid}");
    if (!*gw_tmpl || !is_safe_text(gw_tmpl))
        return ae_err_set(p->err, AE_EINVAL,
                          "%s: vehicle_gw_state_dir must be a path (\"{vid}\" is replaced), "
                          "without quotes, backslashes or control characters",
                          p->name);
    size_t vi;
    json_t *v;
    json_array_foreach(vs, vi, v)
    {
        char where[160];
        snprintf(where, sizeof where, "%s: vehicles[%zu]", p->name, vi);
        int rc = parse_vehicle(p, v, where, seed_tmpl, store_tmpl, gw_tmpl);
        if (rc)
            return rc;
    }
    return vehicle_ports(p);
}

int ae_topology_parse(const char *json_text, const char *name, json_t *secrets, ae_topology **out,
                      ae_err *err)
{
    json_error_t je;
    json_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return ae_err_set(err, AE_EINVAL, "%s:%d:%d: not valid JSON: %s", name, je.line, je.column,
                          je.text);
    parser p = {.t = ae_topology_new(), .secrets = secrets, .name = name, .err = err};
    int rc = 0;
    if (!p.t)
        rc = ae_err_set(err, AE_ENOMEM, "out of memory");
    else if (!json_is_object(root))
        rc = ae_err_set(err, AE_EINVAL, "%s: the top level must be a JSON object", name);
    if (!rc && asprintf(&p.t->origin, "`aerie topology` from %s", name) < 0)
        rc = ae_err_set(err, AE_ENOMEM, "out of memory");
    if (!rc)
        rc = parse_settings(&p, root);
    if (!rc)
        rc = parse_tenants(&p, root);
    if (!rc)
        rc = ae_topology_check_capacity(p.t, err);
    if (!rc)
        rc = parse_regions(&p, root);
    if (!rc)
        rc = parse_global(&p, root);
    if (!rc)
        rc = check_ports(&p);
    if (!rc)
        rc = parse_vehicles(&p, root);
    json_decref(root);
    if (rc) {
        ae_topology_free(p.t);
        return rc;
    }
    *out = p.t;
    return 0;
}
