/* `aerie topology`: one fleet description in, every config out.
 *
 * Read the description (JSON, format in docs/deploy.md), check it completely before writing
 * anything (names are tokens, every vehicle's region exists, no host:port is used twice),
 * then write:
 *
 *   hub-<node>.conf        one per hub node: cluster routes to its region's nodes, JetStream
 *                          with limits and the fleet's domain, the leafnode port (with TLS
 *                          when the description names certificates), the users (operator on
 *                          client connections only + one LEAFNODE-only identity per vehicle
 *                          of the region), no_auth_user so that a connection without
 *                          credentials is refused, and with two or more regions a gateway
 *                          block naming every other region;
 *   leaf-<vid>.conf        the vehicle leaf: local listen port and the remote to its region's
 *                          leafnode ports, signing in with the vehicle's nkey seed;
 *   creds/<vid>.nk         the vehicle's nkey seed (mode 0600): it goes to the vehicle only;
 *   creds/creds.json       the identity registry `aerie creds` and `aerie revoke --out` keep
 *                          (cmd_creds.h); a vehicle revoked there is not given a key again;
 *   gw-<vid>.json          what the vehicle's MAVLink gateway needs (vid, env, local NATS URL);
 *   <region>/fleet.json    the CLI's view of a region (`aerie status --dir OUT/<region>`);
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
#include "cli/cmd_creds.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HUBS     64
#define MAX_REGIONS  16
#define MAX_VEHICLES 4096
/* The leafnode user of region links (domain_per_region); aerie- names are reserved for vids. */
#define HUBLINK_USER "aerie-hublink"

typedef struct hub_node {
    const char *name, *host, *listen_host;
    int client_port, cluster_port, leaf_port, gateway_port, http_port;
    int region;
} hub_node;

typedef struct region {
    const char *name;
    int first_hub, n_hubs;
    char domain[80]; /* its JetStream domain: the fleet's, or "<js_domain>-<name>" */
    int mirror_of;   /* per-region domains: the region whose twin streams it mirrors, or -1 */
} region;

typedef struct vehicle {
    const char *vid;
    int region;
    const char *password; /* password mode: from the description, secrets.json, or generated */
    char seed_path[PATH_MAX + 64]; /* nkey mode: the seed's path on the vehicle */
    bool revoked;                  /* nkey mode: revoked in creds/creds.json, no key issued */
    int leaf_port;                 /* local client port of the vehicle leaf */
} vehicle;

typedef struct topo {
    const char *env, *domain, *op_user, *op_password, *route_password, *gw_password;
    const char *sys_password;
    const char *tls_cert, *tls_key, *tls_ca;
    const char *store_dir, *max_mem, *max_file;
    bool vehicle_permissions;
    bool per_region;   /* domain_per_region: a domain per region, linked by leafnodes */
    int global_region; /* per_region: the region that aggregates every region's streams */
    const char *hublink_password; /* per_region: the leafnode user region links sign in as */
    bool nkeys;                   /* vehicle_auth "nkey" (the default) */
    const char *seed_template;    /* vehicle_seed_path, "{vid}" replaced; NULL: OUT/creds/VID.nk */
    json_t *reg;                  /* nkey mode: the credential registry of the output dir */
    region regions[MAX_REGIONS];
    int n_regions;
    hub_node hubs[MAX_HUBS];
    int n_hubs;
    vehicle *veh;
    int n_veh;
    json_t *secrets;     /* vid/role -> password, saved to secrets.json */
    const char *out_abs; /* the output directory, absolute (for provision.sh) */
} topo;

/* ---- checks ------------------------------------------------------------------------- */

static bool is_token(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

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

static int get_port(json_t *o, const char *key, int def, const char *where, ae_err *err, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return ae_err_set(err, AE_EINVAL, "%s.%s: must be a port number 1..65535", where, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* ---- secrets ------------------------------------------------------------------------ */

/* A random password of 24 URL-safe characters (144 bits). */
static int new_password(char out[25], ae_err *err)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[24];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return ae_err_set(err, AE_EIO, "getrandom failed: %s", strerror(errno));
    for (int i = 0; i < 24; i++)
        out[i] = alphabet[raw[i] & 63];
    out[24] = 0;
    return 0;
}

/* The secret named `key`: from the description (given), else secrets.json, else new. */
static const char *secret(topo *t, const char *key, const char *given, ae_err *err)
{
    if (given) {
        json_object_set_new(t->secrets, key, json_string(given));
        return json_string_value(json_object_get(t->secrets, key));
    }
    json_t *have = json_object_get(t->secrets, key);
    if (json_is_string(have))
        return json_string_value(have);
    char pw[25];
    if (new_password(pw, err) != 0)
        return NULL;
    json_object_set_new(t->secrets, key, json_string(pw));
    return json_string_value(json_object_get(t->secrets, key));
}

/* ---- parsing the description -------------------------------------------------------- */

static int region_index(const topo *t, const char *name)
{
    for (int k = 0; name && k < t->n_regions; k++)
        if (strcmp(t->regions[k].name, name) == 0)
            return k;
    return -1;
}

/* The global tier of per-region domains: which region aggregates (global_region, default
 * the first) and which region each region mirrors (regions[].mirror_of). Both only make
 * sense with domain_per_region, so they are refused without it rather than ignored. */
static int parse_global(topo *t, json_t *root, json_t *regions, const char *name, ae_err *err)
{
    json_t *g = json_object_get(root, "global_region");
    if (g && !t->per_region)
        return ae_err_set(err, AE_EINVAL,
                          "%s: global_region needs \"domain_per_region\": true (with one domain "
                          "for all regions every stream is already fleet-wide)",
                          name);
    t->global_region = 0;
    if (g && (t->global_region = region_index(t, json_string_value(g))) < 0)
        return ae_err_set(err, AE_EINVAL, "%s: global_region: no such region", name);
    size_t ri;
    json_t *r;
    json_array_foreach(regions, ri, r)
    {
        json_t *m = json_object_get(r, "mirror_of");
        if (!m)
            continue;
        if (!t->per_region)
            return ae_err_set(err, AE_EINVAL,
                              "%s: regions[%zu].mirror_of needs \"domain_per_region\": true", name,
                              ri);
        int k = region_index(t, json_string_value(m));
        if (k < 0 || k == (int)ri)
            return ae_err_set(err, AE_EINVAL,
                              "%s: regions[%zu].mirror_of: must name another region", name, ri);
        t->regions[ri].mirror_of = k;
    }
    return 0;
}

static int parse(topo *t, json_t *root, const char *name, ae_err *err)
{
    char where[128];
    int rc_regions;
    if (!json_is_object(root))
        return ae_err_set(err, AE_EINVAL, "%s: the top level must be a JSON object", name);
    t->env = get_str(root, "env", "prod");
    t->domain = get_str(root, "js_domain", "hub");
    if (!is_token(t->env) || !is_token(t->domain))
        return ae_err_set(err, AE_EINVAL,
                          "%s: env and js_domain must be tokens of letters, "
                          "digits, '_' or '-'",
                          name);
    json_t *op = json_object_get(root, "operator");
    t->op_user = get_str(op, "user", "operator");
    if (!is_token(t->op_user))
        return ae_err_set(err, AE_EINVAL, "%s: operator.user must be a token", name);
    if (!(t->op_password = secret(t, "operator", get_str(op, "password", NULL), err)))
        return AE_EIO;
    if (!(t->route_password = secret(t, "routes", NULL, err)) ||
        !(t->gw_password = secret(t, "gateways", NULL, err)) ||
        !(t->sys_password = secret(t, "system", NULL, err)))
        return AE_EIO;
    json_t *tls = json_object_get(root, "tls");
    t->tls_cert = get_str(tls, "cert_file", NULL);
    t->tls_key = get_str(tls, "key_file", NULL);
    t->tls_ca = get_str(tls, "ca_file", NULL);
    if (tls && (!t->tls_cert || !t->tls_key))
        return ae_err_set(err, AE_EINVAL, "%s: tls needs both cert_file and key_file", name);
    json_t *js = json_object_get(root, "jetstream");
    t->store_dir = get_str(js, "store_dir", "/var/lib/aerie/{name}");
    t->max_mem = get_str(js, "max_memory_store", "256MB");
    t->max_file = get_str(js, "max_file_store", "10GB");
    t->vehicle_permissions = json_is_true(json_object_get(root, "vehicle_permissions"));
    const char *va = get_str(root, "vehicle_auth", "nkey");
    if (strcmp(va, "nkey") != 0 && strcmp(va, "password") != 0)
        return ae_err_set(err, AE_EINVAL, "%s: vehicle_auth must be \"nkey\" or \"password\"",
                          name);
    t->nkeys = strcmp(va, "nkey") == 0;
    t->seed_template = get_str(root, "vehicle_seed_path", NULL);
    json_t *dpr = json_object_get(root, "domain_per_region");
    if (dpr && !json_is_boolean(dpr))
        return ae_err_set(err, AE_EINVAL, "%s: domain_per_region must be true or false", name);
    t->per_region = json_is_true(dpr);
    if (t->per_region && !(t->hublink_password = secret(t, "hublink", NULL, err)))
        return AE_EIO;
    if (t->seed_template && (!*t->seed_template || !is_safe_text(t->seed_template)))
        return ae_err_set(err, AE_EINVAL,
                          "%s: vehicle_seed_path must be a path (\"{vid}\" is replaced), "
                          "without quotes, backslashes or control characters",
                          name);
    const char *texts[] = {t->op_password, t->tls_cert, t->tls_key, t->tls_ca,
                           t->store_dir,   t->max_mem,  t->max_file};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!is_safe_text(texts[i]))
            return ae_err_set(err, AE_EINVAL,
                              "%s: a path, size or password contains a quote, "
                              "backslash or control character",
                              name);

    json_t *regions = json_object_get(root, "regions");
    if (!json_is_array(regions) || json_array_size(regions) == 0)
        return ae_err_set(err, AE_EINVAL, "%s: \"regions\" must be a non-empty array", name);
    if (json_array_size(regions) > MAX_REGIONS)
        return ae_err_set(err, AE_EINVAL, "%s: at most %d regions", name, MAX_REGIONS);
    size_t ri;
    json_t *r;
    json_array_foreach(regions, ri, r)
    {
        region *rg = &t->regions[t->n_regions];
        snprintf(where, sizeof where, "%s: regions[%zu]", name, ri);
        rg->name = get_str(r, "name", NULL);
        if (!is_token(rg->name))
            return ae_err_set(err, AE_EINVAL, "%s.name: missing or not a token", where);
        for (int k = 0; k < t->n_regions; k++)
            if (strcmp(t->regions[k].name, rg->name) == 0)
                return ae_err_set(err, AE_EINVAL, "%s.name: region %s is listed twice", where,
                                  rg->name);
        json_t *hubs = json_object_get(r, "hubs");
        if (!json_is_array(hubs) || json_array_size(hubs) == 0)
            return ae_err_set(err, AE_EINVAL, "%s.hubs: must be a non-empty array", where);
        rg->first_hub = t->n_hubs;
        size_t hi;
        json_t *h;
        json_array_foreach(hubs, hi, h)
        {
            if (t->n_hubs == MAX_HUBS)
                return ae_err_set(err, AE_EINVAL, "%s: at most %d hub nodes", name, MAX_HUBS);
            hub_node *n = &t->hubs[t->n_hubs];
            char hw[160];
            snprintf(hw, sizeof hw, "%s.hubs[%zu]", where, hi);
            n->region = t->n_regions;
            n->name = get_str(h, "name", NULL);
            n->host = get_str(h, "host", NULL);
            n->listen_host = get_str(h, "listen_host", n->host);
            if (!is_token(n->name))
                return ae_err_set(err, AE_EINVAL, "%s.name: missing or not a token", hw);
            if (!is_host(n->host) || !is_host(n->listen_host))
                return ae_err_set(err, AE_EINVAL, "%s.host: missing or not a host name/address",
                                  hw);
            int rc;
            if ((rc = get_port(h, "client_port", 4222, hw, err, &n->client_port)) ||
                (rc = get_port(h, "cluster_port", 6222, hw, err, &n->cluster_port)) ||
                (rc = get_port(h, "leaf_port", 7422, hw, err, &n->leaf_port)) ||
                (rc = get_port(h, "gateway_port", 7222, hw, err, &n->gateway_port)) ||
                (rc = get_port(h, "http_port", 8222, hw, err, &n->http_port)))
                return rc;
            for (int k = 0; k < t->n_hubs; k++)
                if (strcmp(t->hubs[k].name, n->name) == 0)
                    return ae_err_set(err, AE_EINVAL, "%s.name: hub %s is listed twice", hw,
                                      n->name);
            t->n_hubs++;
            rg->n_hubs++;
        }
        if (t->per_region)
            snprintf(rg->domain, sizeof rg->domain, "%s-%s", t->domain, rg->name);
        else
            snprintf(rg->domain, sizeof rg->domain, "%s", t->domain);
        rg->mirror_of = -1;
        t->n_regions++;
    }
    if ((rc_regions = parse_global(t, root, regions, name, err)) != 0)
        return rc_regions;
    /* No two listeners on one host may share a port (a common slip when all nodes of a test
     * topology run on one machine). */
    for (int a = 0; a < t->n_hubs; a++) {
        int pa[] = {t->hubs[a].client_port, t->hubs[a].cluster_port, t->hubs[a].leaf_port,
                    t->hubs[a].gateway_port, t->hubs[a].http_port};
        for (int b = a; b < t->n_hubs; b++) {
            if (strcmp(t->hubs[a].host, t->hubs[b].host) != 0)
                continue;
            int pb[] = {t->hubs[b].client_port, t->hubs[b].cluster_port, t->hubs[b].leaf_port,
                        t->hubs[b].gateway_port, t->hubs[b].http_port};
            for (int i = 0; i < 5; i++)
                for (int j = (a == b ? i + 1 : 0); j < 5; j++)
                    if (pa[i] == pb[j] && (t->n_regions > 1 || (i != 3 && j != 3)))
                        return ae_err_set(err, AE_EINVAL, "%s: hubs %s and %s both use %s:%d", name,
                                          t->hubs[a].name, t->hubs[b].name, t->hubs[a].host, pa[i]);
        }
    }

    json_t *vs = json_object_get(root, "vehicles");
    if (vs && !json_is_array(vs))
        return ae_err_set(err, AE_EINVAL, "%s: \"vehicles\" must be an array", name);
    size_t nv = json_array_size(vs);
    if (nv > MAX_VEHICLES)
        return ae_err_set(err, AE_EINVAL, "%s: at most %d vehicles", name, MAX_VEHICLES);
    t->veh = calloc(nv ? nv : 1, sizeof *t->veh);
    if (!t->veh)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    size_t vi;
    json_t *v;
    json_array_foreach(vs, vi, v)
    {
        vehicle *ve = &t->veh[t->n_veh];
        snprintf(where, sizeof where, "%s: vehicles[%zu]", name, vi);
        ve->vid = get_str(v, "vid", NULL);
        if (!is_token(ve->vid))
            return ae_err_set(err, AE_EINVAL, "%s.vid: missing or not a token", where);
        if (strcmp(ve->vid, t->op_user) == 0 || strcmp(ve->vid, "routes") == 0 ||
            strcmp(ve->vid, "gateways") == 0 || strcmp(ve->vid, "system") == 0 ||
            strcmp(ve->vid, "route") == 0 || strcmp(ve->vid, "gateway") == 0)
            return ae_err_set(err, AE_EINVAL, "%s.vid: %s is a reserved name", where, ve->vid);
        for (int k = 0; k < t->n_veh; k++)
            if (strcmp(t->veh[k].vid, ve->vid) == 0)
                return ae_err_set(err, AE_EINVAL, "%s.vid: %s is listed twice", where, ve->vid);
        const char *rn = get_str(v, "region", t->n_regions == 1 ? t->regions[0].name : NULL);
        ve->region = -1;
        for (int k = 0; rn && k < t->n_regions; k++)
            if (strcmp(t->regions[k].name, rn) == 0)
                ve->region = k;
        if (ve->region < 0)
            return ae_err_set(err, AE_EINVAL, "%s.region: %s", where,
                              rn ? "no such region" : "required when there are several regions");
        if (strncmp(ve->vid, "aerie-", 6) == 0)
            return ae_err_set(err, AE_EINVAL, "%s.vid: names starting with aerie- are reserved",
                              where);
        const char *given = get_str(v, "password", NULL);
        if (given && !is_safe_text(given))
            return ae_err_set(err, AE_EINVAL, "%s.password: contains a quote or backslash", where);
        if (given && t->nkeys)
            return ae_err_set(err, AE_EINVAL,
                              "%s.password: vehicles sign in with nkeys; set \"vehicle_auth\": "
                              "\"password\" to use passwords",
                              where);
        char key[100];
        snprintf(key, sizeof key, "vehicle:%s", ve->vid);
        if (!t->nkeys && !(ve->password = secret(t, key, given, err)))
            return AE_EIO;
        int rc = get_port(v, "leaf_port", 4222, where, err, &ve->leaf_port);
        if (rc)
            return rc;
        t->n_veh++;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

/* Writes `text` to dir/rel atomically (temp file + rename) with mode 0600: every generated
 * file holds passwords. */
static int write_file(const char *dir, const char *rel, const char *text, FILE *listing,
                      ae_err *err)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return ae_err_set(err, AE_EIO, "cannot create %s: %s", tmp, strerror(errno));
    chmod(tmp, 0600);
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ae_err_set(err, AE_EIO, "cannot write %s: %s", path, strerror(e));
    }
    if (listing)
        fprintf(listing, "%s\n", path);
    return 0;
}

static void subst_name(const char *tmpl, const char *name, char *out, size_t cap)
{
    const char *p = strstr(tmpl, "{name}");
    if (!p)
        snprintf(out, cap, "%s/%s", tmpl, name);
    else
        snprintf(out, cap, "%.*s%s%s", (int)(p - tmpl), tmpl, name, p + 6);
}

/* With domain_per_region the regions are joined by leafnode connections instead of gateways:
 * nats-server requires one JetStream domain across a cluster and its gateways (a second domain
 * name in a supercluster only renames the one meta group), and a domain may change only across
 * a leafnode connection. Every hub of a region other than the global one solicits the global
 * region's hubs; the global hub relays between them, so commands still reach a vehicle in any
 * region. The twin subjects stay in their region (denied both ways): every region has its own
 * TWIN_STATE on the same subjects, which would otherwise store each other's vehicles too. The
 * global tier reads them through sources and mirrors ($JS.<domain>.API), not these subjects. */
static void region_link(const topo *t, FILE *f)
{
    static const char *const local_only = "[\"fleet.*.veh.*.state.>\", \"fleet.*.veh.*.event.>\", "
                                          "\"fleet.*.veh.*.live.>\", \"fleet.*.veh.*.link\"]";
    const region *g = &t->regions[t->global_region];
    fprintf(f,
            "  # Link to the global region %s (domain_per_region): one JetStream domain per\n"
            "  # region, so regions are joined by leafnodes rather than gateways.\n"
            "  remotes = [\n    {\n      urls: [",
            g->name);
    for (int k = 0; k < g->n_hubs; k++) {
        const hub_node *h = &t->hubs[g->first_hub + k];
        fprintf(f, "%s\"nats-leaf://" HUBLINK_USER ":%s@%s:%d\"", k ? ", " : "",
                t->hublink_password, h->host, h->leaf_port);
    }
    fprintf(f, "]\n      deny_exports: %s\n      deny_imports: %s\n", local_only, local_only);
    if (t->tls_cert) {
        fprintf(f, "      tls {\n");
        if (t->tls_ca)
            fprintf(f, "        ca_file: \"%s\"\n", t->tls_ca);
        fprintf(f, "        timeout: 3\n      }\n");
    }
    fprintf(f, "    }\n  ]\n");
}

static char *hub_conf(const topo *t, const hub_node *n, const char *source)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const region *rg = &t->regions[n->region];
    char store[4096];
    subst_name(t->store_dir, n->name, store, sizeof store);
    fprintf(
        f,
        "# Hub node %s of region %s (env %s). Generated by `aerie topology` from %s;\n"
        "# edit the description and regenerate rather than editing this file.\n" AE_SEC_REGION_MARK
        " %s\n"
        "server_name: %s\n"
        "listen: \"%s:%d\"\n"
        "http: \"%s:%d\"\n\n"
        "# A connection without credentials becomes aerie-nobody, whom no connection type\n"
        "# may use, so it is refused. nats-server 2.9.10 reads this only at start.\n"
        "no_auth_user: \"" AE_SEC_NOBODY_USER "\"\n\n",
        n->name, rg->name, t->env, source, rg->name, n->name, n->listen_host, n->client_port,
        n->listen_host, n->http_port);
    fprintf(f,
            "jetstream {\n"
            "  store_dir: \"%s\"\n"
            "  max_memory_store: %s\n"
            "  max_file_store: %s\n"
            "  domain: %s\n"
            "}\n\n",
            store, t->max_mem, t->max_file, rg->domain);
    /* A cluster block for several nodes, and also for a single-node region of a multi-region
     * fleet: JetStream behind gateways runs clustered and refuses to start without routes, so
     * every node lists all routes of its region, itself included (nats-server skips a route
     * to itself). */
    if (rg->n_hubs > 1 || (t->n_regions > 1 && !t->per_region)) {
        fprintf(f,
                "cluster {\n"
                "  name: %s\n"
                "  listen: \"%s:%d\"\n"
                "  authorization { user: route, password: \"%s\" }\n"
                "  routes: [\n",
                rg->name, n->listen_host, n->cluster_port, t->route_password);
        for (int k = 0; k < rg->n_hubs; k++) {
            const hub_node *o = &t->hubs[rg->first_hub + k];
            fprintf(f, "    \"nats-route://route:%s@%s:%d\"\n", t->route_password, o->host,
                    o->cluster_port);
        }
        fprintf(f, "  ]\n}\n\n");
    }
    fprintf(f, "leafnodes {\n  listen: \"%s:%d\"\n", n->listen_host, n->leaf_port);
    if (t->tls_cert)
        fprintf(f, "  tls {\n    cert_file: \"%s\"\n    key_file: \"%s\"\n    timeout: 3\n  }\n",
                t->tls_cert, t->tls_key);
    if (t->per_region && n->region != t->global_region)
        region_link(t, f);
    fprintf(f, "  # No authorization block here: vehicle users are below, restricted to LEAFNODE.\n"
               "}\n\n");
    fprintf(f,
            "authorization {\n  users = [\n"
            "    { user: %s, password: \"%s\", allowed_connection_types: [\"STANDARD\"] }\n",
            t->op_user, t->op_password);
    /* aerie-nobody, the evictor of `aerie revoke`, and (nkey mode) the vehicles of this
     * region, in the region `aerie creds` rewrites. */
    char *managed = ae_creds_region_text(t->reg, rg->name);
    if (!managed) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fputs(managed, f);
    free(managed);
    if (t->per_region && n->region == t->global_region)
        fprintf(f,
                "    # the leafnode links of the other regions (domain_per_region)\n"
                "    { user: \"" HUBLINK_USER "\", password: \"%s\", "
                "allowed_connection_types: [\"LEAFNODE\"] }\n",
                t->hublink_password);
    for (int i = 0; i < t->n_veh && !t->nkeys; i++) {
        const vehicle *v = &t->veh[i];
        if (v->region != n->region)
            continue;
        fprintf(f, "    { user: \"%s\", password: \"%s\", allowed_connection_types: [\"LEAFNODE\"]",
                v->vid, v->password);
        if (t->vehicle_permissions)
            fprintf(f,
                    ",\n      permissions: {\n"
                    "        publish: { allow: [\"fleet.%s.veh.%s.>\", \"$JS.%s.API.>\", "
                    "\"$JS.ACK.>\", \"$JS.FC.>\", \"_INBOX.>\", \"_GR_.>\"] }\n"
                    "        subscribe: { allow: [\"fleet.%s.veh.%s.>\", \"_INBOX.>\", "
                    "\"_GR_.>\", \"$LDS.>\"] }\n      }\n    ",
                    t->env, v->vid, rg->domain, t->env, v->vid);
        fprintf(f, " }\n");
    }
    fprintf(f, "  ]\n}\n\n");
    /* nats-server insists on a system account once leafnodes and gateways are both
     * configured; it is also what `nats server report` logs in with. */
    fprintf(f,
            "accounts {\n  SYS { users = [ { user: system, password: \"%s\" } ] }\n}\n"
            "system_account: SYS\n",
            t->sys_password);
    if (t->n_regions > 1 && !t->per_region) {
        fprintf(f,
                "\ngateway {\n"
                "  name: %s\n"
                "  listen: \"%s:%d\"\n"
                "  authorization { user: gateway, password: \"%s\" }\n"
                "  gateways: [\n",
                rg->name, n->listen_host, n->gateway_port, t->gw_password);
        for (int r = 0; r < t->n_regions; r++) {
            if (r == n->region)
                continue;
            const region *o = &t->regions[r];
            fprintf(f, "    { name: %s, urls: [", o->name);
            for (int k = 0; k < o->n_hubs; k++) {
                const hub_node *h = &t->hubs[o->first_hub + k];
                fprintf(f, "%s\"nats://gateway:%s@%s:%d\"", k ? ", " : "", t->gw_password, h->host,
                        h->gateway_port);
            }
            fprintf(f, "] }\n");
        }
        fprintf(f, "  ]\n}\n");
    }
    fclose(f);
    return buf;
}

static char *leaf_conf(const topo *t, const vehicle *v, const char *source)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const region *rg = &t->regions[v->region];
    fprintf(f,
            "# Vehicle leaf %s (region %s, env %s). Generated by `aerie topology` from %s.\n"
            "%s"
            "server_name: \"%s\"\n"
            "listen: \"127.0.0.1:%d\"\n\n"
            "leafnodes {\n"
            "  remotes = [\n"
            "    {\n"
            "      urls: [\n",
            v->vid, rg->name, t->env, source,
            t->nkeys ? "# aerie-leaf signs in with the vehicle's own nkey seed (install the seed\n"
                       "# file at the path below, mode 0600). `nkey` is an aerie-leaf option; a\n"
                       "# stock nats-server leaf needs \"vehicle_auth\": \"password\".\n"
                     : "# nats-server syntax: aerie-leaf reads it, and so would a stock "
                       "nats-server.\n",
            v->vid, v->leaf_port);
    for (int k = 0; k < rg->n_hubs; k++) {
        const hub_node *h = &t->hubs[rg->first_hub + k];
        if (t->nkeys)
            fprintf(f, "        \"nats-leaf://%s:%d\"\n", h->host, h->leaf_port);
        else
            fprintf(f, "        \"nats-leaf://%s:%s@%s:%d\"\n", v->vid, v->password, h->host,
                    h->leaf_port);
    }
    fprintf(f, "      ]\n");
    if (t->nkeys)
        fprintf(f, "      nkey: \"%s\"\n", v->seed_path);
    if (t->tls_cert) {
        fprintf(f, "      tls {\n");
        if (t->tls_ca)
            fprintf(f, "        ca_file: \"%s\"\n", t->tls_ca);
        fprintf(f, "        timeout: 3\n      }\n");
    }
    fprintf(f, "    }\n  ]\n}\n");
    /* aerie-leaf's forwarder asks the hub's JetStream through $JS.<domain>.API; its default is
     * "hub", so a region's own domain has to be named. A stock nats-server leaf (password
     * mode) has no uplink block and would refuse it, so there it is only a note. */
    if (strcmp(rg->domain, "hub") != 0) {
        if (t->nkeys)
            fprintf(f, "\nuplink {\n  domain: \"%s\"\n}\n", rg->domain);
        else
            fprintf(f,
                    "\n# The hub JetStream domain of region %s is %s: with aerie-leaf add\n"
                    "# uplink { domain: \"%s\" }\n",
                    rg->name, rg->domain, rg->domain);
    }
    fclose(f);
    return buf;
}

/* The credential registry of the output (OUT/creds/creds.json): the service identities
 * every hub config needs, and in nkey mode one key per vehicle, kept across runs so that a
 * regenerated config names the same keys. A vehicle revoked there stays revoked. */
static int prepare_creds(topo *t, const char *out_abs, FILE *listing, ae_err *err)
{
    if (!(t->reg = ae_creds_registry_load(out_abs, err)))
        return AE_EINVAL;
    int rc = ae_creds_ensure_service(out_abs, t->reg, err);
    for (int i = 0; i < t->n_veh && t->nkeys && rc >= 0; i++) {
        vehicle *v = &t->veh[i];
        if (t->seed_template) {
            const char *p = strstr(t->seed_template, "{vid}");
            if (p)
                snprintf(v->seed_path, sizeof v->seed_path, "%.*s%s%s", (int)(p - t->seed_template),
                         t->seed_template, v->vid, p + 5);
            else
                snprintf(v->seed_path, sizeof v->seed_path, "%s", t->seed_template);
        } else {
            snprintf(v->seed_path, sizeof v->seed_path, "%s/creds/%s.nk", out_abs, v->vid);
        }
        if (ae_creds_is_revoked(t->reg, v->vid)) {
            v->revoked = true;
            if (listing)
                fprintf(listing,
                        "%s: revoked in %s/creds/creds.json, so no key is issued and no hub "
                        "accepts it (`aerie creds add %s --out %s` issues a new one)\n",
                        v->vid, out_abs, v->vid, out_abs);
            continue;
        }
        const char *region = t->regions[v->region].name;
        if ((rc = ae_creds_issue(out_abs, t->reg, v->vid, region, err)) < 0)
            break;
        json_t *e = json_object_get(json_object_get(t->reg, "vehicles"), v->vid);
        if (t->vehicle_permissions)
            json_object_set_new(
                e, "permissions",
                json_pack("{s:{s:[s++++, s++, s, s, s, s]}, s:{s:[s++++, s, s, s]}}", "publish",
                          "allow", "fleet.", t->env, ".veh.", v->vid, ".>", "$JS.",
                          t->regions[v->region].domain, ".API.>", "$JS.ACK.>", "$JS.FC.>",
                          "_INBOX.>", "_GR_.>", "subscribe", "allow", "fleet.", t->env, ".veh.",
                          v->vid, ".>", "_INBOX.>", "_GR_.>", "$LDS.>"));
        else
            json_object_del(e, "permissions");
        if (listing)
            fprintf(listing, "%s/creds/%s.nk\n", out_abs, v->vid);
    }
    if (rc >= 0)
        rc = ae_creds_registry_save(out_abs, t->reg, err);
    return rc < 0 ? rc : 0;
}

/* OUT/provision.sh (domain_per_region): the `aerie hub init` runs that create each region's
 * streams, the mirrors asked for with mirror_of, and the global aggregate, in that order (a
 * source or mirror needs its origin stream to exist to start copying). Replicas follow the
 * region's size, up to 3. */
static char *provision_script(const topo *t, const char *out_dir)
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
            const region *rg = &t->regions[r];
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

static int run(topo *t, const char *name, const char *out_dir, FILE *listing, ae_err *err)
{
    int rc = 0;
    char rel[256];
    for (int i = 0; i < t->n_hubs && !rc; i++) {
        char *text = hub_conf(t, &t->hubs[i], name);
        if (!text)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        snprintf(rel, sizeof rel, "hub-%s.conf", t->hubs[i].name);
        rc = write_file(out_dir, rel, text, listing, err);
        free(text);
    }
    for (int i = 0; i < t->n_veh && !rc; i++) {
        const vehicle *v = &t->veh[i];
        char *text = leaf_conf(t, v, name);
        if (!text)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        snprintf(rel, sizeof rel, "leaf-%s.conf", v->vid);
        rc = write_file(out_dir, rel, text, listing, err);
        free(text);
        if (rc)
            break;
        char url[128];
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", v->leaf_port);
        json_t *gw = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "vid", v->vid, "env", t->env,
                               "region", t->regions[v->region].name, "nats_url", url, "mavlink",
                               "listen", "udp://0.0.0.0:14550");
        char *d = json_dumps(gw, JSON_INDENT(2));
        json_decref(gw);
        snprintf(rel, sizeof rel, "gw-%s.json", v->vid);
        rc = d ? write_file(out_dir, rel, d, listing, err) : AE_ENOMEM;
        free(d);
    }
    /* The CLI's view of each region: --dir OUT/<region>. */
    for (int r = 0; r < t->n_regions && !rc; r++) {
        const region *rg = &t->regions[r];
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", out_dir, rg->name);
        if (mkdir(sub, 0700) != 0 && errno != EEXIST)
            return ae_err_set(err, AE_EIO, "cannot create %s: %s", sub, strerror(errno));
        json_t *urls = json_array(), *vids = json_array();
        for (int k = 0; k < rg->n_hubs; k++) {
            const hub_node *h = &t->hubs[rg->first_hub + k];
            json_array_append_new(urls, json_sprintf("nats://%s:%s@%s:%d", t->op_user,
                                                     t->op_password, h->host, h->client_port));
        }
        for (int i = 0; i < t->n_veh; i++)
            if (t->veh[i].region == r)
                json_array_append_new(vids, json_pack("{s:s}", "vid", t->veh[i].vid));
        json_t *fs = json_pack("{s:s, s:s, s:{s:o, s:s}, s:o}", "env", t->env, "region", rg->name,
                               "hub", "urls", urls, "js_domain", rg->domain, "vehicles", vids);
        char *d = json_dumps(fs, JSON_INDENT(2));
        json_decref(fs);
        snprintf(rel, sizeof rel, "%s/fleet.json", rg->name);
        rc = d ? write_file(out_dir, rel, d, listing, err) : AE_ENOMEM;
        free(d);
    }
    if (!rc && t->per_region) {
        char *d = provision_script(t, t->out_abs);
        rc = d ? write_file(out_dir, "provision.sh", d, listing, err) : AE_ENOMEM;
        free(d);
    }
    if (!rc) {
        char *d = json_dumps(t->secrets, JSON_INDENT(2) | JSON_SORT_KEYS);
        rc = d ? write_file(out_dir, "secrets.json", d, listing, err) : AE_ENOMEM;
        free(d);
    }
    return rc;
}

int ae_topology_generate(const char *json_text, const char *name, const char *out_dir,
                         FILE *listing, ae_err *err)
{
    json_error_t je;
    json_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return ae_err_set(err, AE_EINVAL, "%s:%d:%d: not valid JSON: %s", name, je.line, je.column,
                          je.text);
    if (mkdir(out_dir, 0700) != 0 && errno != EEXIST) {
        json_decref(root);
        return ae_err_set(err, AE_EIO, "cannot create %s: %s", out_dir, strerror(errno));
    }
    topo t;
    memset(&t, 0, sizeof t);
    char spath[4096];
    snprintf(spath, sizeof spath, "%s/secrets.json", out_dir);
    t.secrets = json_load_file(spath, 0, NULL);
    if (!json_is_object(t.secrets)) {
        json_decref(t.secrets);
        t.secrets = json_object();
    }
    int rc = parse(&t, root, name, err);
    /* Absolute, because the seed paths written into leaf configs must not depend on where
     * the command ran. */
    char out_abs[PATH_MAX];
    if (!rc && !realpath(out_dir, out_abs))
        rc = ae_err_set(err, AE_EIO, "%s: %s", out_dir, strerror(errno));
    t.out_abs = out_abs;
    if (!rc)
        rc = prepare_creds(&t, out_abs, listing, err);
    if (!rc)
        rc = run(&t, name, out_dir, listing, err);
    free(t.veh);
    json_decref(t.reg);
    json_decref(t.secrets);
    json_decref(root);
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
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "aerie topology: cannot open %s: %s\n", file, strerror(errno));
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char chunk[4096];
    size_t r;
    while (m && (r = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, r, m);
    fclose(f);
    if (!m) {
        fprintf(stderr, "aerie topology: out of memory\n");
        return 1;
    }
    fclose(m);
    ae_err err = {0};
    int rc = ae_topology_generate(text, file, out, stdout, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "aerie topology: %s\n", err.msg);
        return 1;
    }
    return 0;
}
