/* Hub, leaf and gateway configs from the topology model; see render.h. Each config is
 * written section by section into a memory stream, in the order a reader looks for things:
 * identity and listeners first, then storage, cluster, leafnodes, users, and the links to
 * other regions last.
 *
 * Every name is written quoted: an identifier may look like a number ("2024"), a size
 * ("10m") or a boolean ("on") to the config parser, and would then not be a string. */
#include "cli/render.h"
#include "cli/accounts.h"
#include "cli/creds_conf.h"
#include "cli/creds_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Closes a memory stream and hands over its text (the stream sets *buf when it closes),
 * or NULL when writing failed. */
static char *finish(FILE *f, char **buf)
{
    bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

static const ae_topo_hub *region_hub(const ae_topology *t, const ae_topo_region *rg, int k)
{
    return &t->hubs[rg->first_hub + k];
}

static void tls_client_block(const ae_topology *t, FILE *f, const char *indent)
{
    fprintf(f, "%stls {\n", indent);
    if (t->tls_ca)
        fprintf(f, "%s  ca_file: \"%s\"\n", indent, t->tls_ca);
    fprintf(f, "%s  timeout: 3\n%s}\n", indent, indent);
}

/* ---- hub ----------------------------------------------------------------------------- */

/* A cluster block for several nodes, and also for a single-node region of a multi-region
 * fleet joined by gateways: JetStream behind gateways runs clustered and refuses to start
 * without routes, so every node lists all routes of its region, itself included
 * (nats-server skips a route to itself). */
static void hub_cluster(const ae_topology *t, const ae_topo_hub *n, FILE *f)
{
    const ae_topo_region *rg = &t->regions[n->region];
    if (!(rg->n_hubs > 1 || (t->n_regions > 1 && !t->per_region)))
        return;
    fprintf(f, "cluster {\n  name: \"%s\"\n  listen: \"%s:%d\"\n", rg->name, n->listen_host,
            n->cluster_port);
    if (t->route_password)
        fprintf(f, "  authorization { user: route, password: \"%s\" }\n", t->route_password);
    fprintf(f, "  routes: [\n");
    for (int k = 0; k < rg->n_hubs; k++) {
        const ae_topo_hub *o = region_hub(t, rg, k);
        if (t->route_password)
            fprintf(f, "    \"nats-route://route:%s@%s:%d\"\n", t->route_password, o->host,
                    o->cluster_port);
        else
            fprintf(f, "    \"nats-route://%s:%d\"\n", o->host, o->cluster_port);
    }
    fprintf(f, "  ]\n}\n\n");
}

/* With domain_per_region the regions are joined by leafnode connections instead of gateways:
 * nats-server requires one JetStream domain across a cluster and its gateways (a second domain
 * name in a supercluster only renames the one meta group), and a domain may change only across
 * a leafnode connection. Every hub of a region other than the global one solicits the global
 * region's hubs; the global hub relays between them, so commands still reach a vehicle in any
 * region. The twin subjects stay in their region (denied both ways): every region has its own
 * TWIN_STATE on the same subjects, which would otherwise store each other's vehicles too. The
 * global tier reads them through sources and mirrors ($JS.<domain>.API), not these subjects. */
static void hub_region_link(const ae_topology *t, FILE *f)
{
    static const char *const local_only = "[\"fleet.*.veh.*.state.>\", \"fleet.*.veh.*.event.>\", "
                                          "\"fleet.*.veh.*.live.>\", \"fleet.*.veh.*.link\"]";
    const ae_topo_region *g = &t->regions[t->global_region];
    fprintf(f,
            "  # Links to the global region %s (domain_per_region): one JetStream domain per\n"
            "  # region, so regions are joined by leafnodes rather than gateways. A link carries\n"
            "  # one account, so every tenant has its own.\n"
            "  remotes = [\n",
            g->name);
    for (int i = 0; i < t->n_tenants; i++) {
        const ae_topo_tenant *tn = &t->tenants[i];
        char acc[AE_ACCOUNT_MAX];
        ae_tenant_account(tn->name, acc, sizeof acc);
        fprintf(f, "    {\n      urls: [");
        for (int k = 0; k < g->n_hubs; k++) {
            const ae_topo_hub *h = region_hub(t, g, k);
            fprintf(f, "%s\"nats-leaf://" AE_HUBLINK_USER_PREFIX "%s:%s@%s:%d\"", k ? ", " : "",
                    tn->name, tn->hublink_password, h->host, h->leaf_port);
        }
        fprintf(f, "]\n      account: \"%s\"\n      deny_exports: %s\n      deny_imports: %s\n",
                acc, local_only, local_only);
        if (t->tls_cert)
            tls_client_block(t, f, "      ");
        fprintf(f, "    }\n");
    }
    fprintf(f, "  ]\n");
}

/* The websocket listener vehicles' leaves dial: permessage-deflate on, so a leaf that packs
 * its messages into frames (aerie-leaf) sends far fewer bytes over a metered link. */
static void hub_websocket(const ae_topology *t, const ae_topo_hub *n, FILE *f)
{
    if (!n->ws_port)
        return;
    fprintf(f,
            "# Vehicles' leaves connect here over websocket with compression (docs/uplink.md);\n"
            "# the leafnodes port above stays for stock nats-server leaves.\n"
            "websocket {\n  listen: \"%s:%d\"\n  compression: true\n",
            n->listen_host, n->ws_port);
    if (t->tls_cert)
        fprintf(f, "  tls {\n    cert_file: \"%s\"\n    key_file: \"%s\"\n  }\n", t->tls_cert,
                t->tls_key);
    else
        fprintf(f, "  no_tls: true\n");
    fprintf(f, "}\n\n");
}

static void hub_leafnodes(const ae_topology *t, const ae_topo_hub *n, FILE *f)
{
    fprintf(f, "leafnodes {\n  listen: \"%s:%d\"\n", n->listen_host, n->leaf_port);
    if (t->tls_cert)
        fprintf(f, "  tls {\n    cert_file: \"%s\"\n    key_file: \"%s\"\n    timeout: 3\n  }\n",
                t->tls_cert, t->tls_key);
    if (t->per_region && n->region != t->global_region)
        hub_region_link(t, f);
    fprintf(f,
            "  # No authorization block here: each vehicle's login is in its own account below,\n"
            "  # restricted to LEAFNODE.\n"
            "}\n\n");
}

/* The users: aerie-nobody alone in the global account, where a connection without
 * credentials (and a leaf that sends only a token, which 2.9.10 lets in there) lands with
 * nothing to reach; then the accounts: the system account and the managed region of tenant
 * and vehicle accounts (accounts.h), written from the credential registry. */
static int hub_users(const ae_topology *t, const ae_topo_hub *n, FILE *f)
{
    const ae_topo_region *rg = &t->regions[n->region];
    fprintf(f,
            "authorization {\n  users = [\n"
            "    { user: \"" AE_SEC_NOBODY_USER "\", password: \"%s\", allowed_connection_types:"
            " [\"MQTT\"], permissions: { publish: { deny: \">\" }, subscribe: { deny: \">\" } } }\n"
            "  ]\n}\n\n",
            ae_creds_str(t->creds, "nobody_password"));
    char *managed = NULL;
    ae_err err = {0};
    if (ae_accounts_text(t->creds, rg->scoped ? rg->name : NULL, &managed, &err) != 0) {
        fprintf(stderr, "aerie: %s\n", err.msg);
        return err.code;
    }
    fprintf(f, "# Tenants and vehicles are accounts: a vehicle reaches only what its account\n"
               "# imports from its tenant's (docs/security.md).\naccounts {\n");
    /* nats-server insists on a system account once leafnodes and gateways are both
     * configured; it is also what `nats server report` logs in with. */
    if (t->system_password)
        fprintf(f, "  SYS { users = [ { user: system, password: \"%s\" } ] }\n",
                t->system_password);
    fputs(managed, f);
    free(managed);
    fprintf(f, "}\n%s\n", t->system_password ? "system_account: SYS\n" : "");
    return 0;
}

static void hub_gateway(const ae_topology *t, const ae_topo_hub *n, FILE *f)
{
    if (t->n_regions < 2 || t->per_region)
        return;
    fprintf(f,
            "\ngateway {\n"
            "  name: \"%s\"\n"
            "  listen: \"%s:%d\"\n"
            "  authorization { user: gateway, password: \"%s\" }\n"
            "  gateways: [\n",
            t->regions[n->region].name, n->listen_host, n->gateway_port, t->gateway_password);
    for (int r = 0; r < t->n_regions; r++) {
        if (r == n->region)
            continue;
        const ae_topo_region *o = &t->regions[r];
        fprintf(f, "    { name: \"%s\", urls: [", o->name);
        for (int k = 0; k < o->n_hubs; k++) {
            const ae_topo_hub *h = region_hub(t, o, k);
            fprintf(f, "%s\"nats://gateway:%s@%s:%d\"", k ? ", " : "", t->gateway_password, h->host,
                    h->gateway_port);
        }
        fprintf(f, "] }\n");
    }
    fprintf(f, "  ]\n}\n");
}

char *ae_render_hub_conf(const ae_topology *t, const ae_topo_hub *n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const ae_topo_region *rg = &t->regions[n->region];
    fprintf(f,
            "# Hub node %s of region %s (env %s). Generated by %s;\n"
            "# regenerate it rather than edit it (`aerie creds` and `aerie revoke` keep the\n"
            "# marked accounts region below).\n",
            n->name, rg->name, t->env, t->origin);
    if (rg->scoped)
        fprintf(f, AE_SEC_REGION_MARK " %s\n", rg->name);
    fprintf(f,
            "server_name: \"%s\"\n"
            "listen: \"%s:%d\"\n"
            "http: \"%s:%d\"\n\n"
            "# A connection without credentials becomes aerie-nobody, whom no connection type\n"
            "# may use, so it is refused. nats-server 2.9.10 reads this only at start.\n"
            "no_auth_user: \"" AE_SEC_NOBODY_USER "\"\n\n",
            n->name, n->listen_host, n->client_port, n->listen_host, n->http_port);
    fprintf(f,
            "jetstream {\n"
            "  store_dir: \"%s\"\n"
            "  max_memory_store: %s\n"
            "  max_file_store: %s\n"
            "  domain: \"%s\"\n"
            "}\n\n",
            n->store_dir, t->max_memory, t->max_file, rg->domain);
    hub_cluster(t, n, f);
    hub_leafnodes(t, n, f);
    hub_websocket(t, n, f);
    if (hub_users(t, n, f) != 0) {
        fclose(f);
        free(buf);
        return NULL;
    }
    hub_gateway(t, n, f);
    return finish(f, &buf);
}

/* ---- leaf ---------------------------------------------------------------------------- */

/* Whether the vehicle's leaf dials its hubs' websocket listeners: aerie-leaf (nkeys) when
 * every hub it may dial has one. */
static bool leaf_uses_ws(const ae_topology *t, const ae_topo_vehicle *v)
{
    if (t->vehicle_auth != AE_TOPO_AUTH_NKEY)
        return false;
    const ae_topo_region *rg = &t->regions[v->region];
    for (int k = 0; k < rg->n_hubs; k++)
        if (!region_hub(t, rg, k)->ws_port)
            return false;
    const ae_topo_region *fb = rg->fallback >= 0 ? &t->regions[rg->fallback] : NULL;
    for (int k = 0; fb && k < fb->n_hubs; k++)
        if (!region_hub(t, fb, k)->ws_port)
            return false;
    return true;
}

/* One URL of the remote: the hub's leafnode or websocket listener, with the vehicle's
 * password user in password mode. */
static void leaf_url(const ae_topology *t, const ae_topo_vehicle *v, const char *hostport, FILE *f)
{
    if (leaf_uses_ws(t, v))
        fprintf(f, "        \"%s://%s\"\n", t->tls_cert ? "wss" : "ws", hostport);
    else if (t->vehicle_auth == AE_TOPO_AUTH_NKEY)
        fprintf(f, "        \"nats-leaf://%s\"\n", hostport);
    else
        fprintf(f, "        \"nats-leaf://%s:%s@%s\"\n", v->vid, v->password, hostport);
}

/* The remote lists the hubs of the vehicle's region, then those of its fallback region: the
 * uplink dials them in turn, so a vehicle whose region does not answer carries on in the
 * fallback region, whose hubs accept its key (creds_conf.h). */
static void leaf_remote(const ae_topology *t, const ae_topo_vehicle *v, FILE *f)
{
    const ae_topo_leaf *l = &v->leaf;
    const ae_topo_region *rg = &t->regions[v->region];
    bool nkeys = t->vehicle_auth == AE_TOPO_AUTH_NKEY;
    const ae_topo_region *fb =
        rg->fallback >= 0 && !l->n_remotes ? &t->regions[rg->fallback] : NULL;
    if (fb)
        fprintf(f,
                "# The hubs of region %s, then those of its fallback region %s: the uplink dials\n"
                "# them in turn, so when region %s does not answer the vehicle carries on in %s.\n",
                rg->name, fb->name, rg->name, fb->name);
    fprintf(f, "leafnodes {\n  remotes = [\n    {\n      urls: [\n");
    char hub[300];
    for (size_t k = 0; k < l->n_remotes; k++)
        leaf_url(t, v, l->remotes[k], f);
    bool ws = leaf_uses_ws(t, v);
    for (int k = 0; !l->n_remotes && k < rg->n_hubs; k++) {
        const ae_topo_hub *h = region_hub(t, rg, k);
        snprintf(hub, sizeof hub, "%s:%d", h->host, ws ? h->ws_port : h->leaf_port);
        leaf_url(t, v, hub, f);
    }
    for (int k = 0; fb && k < fb->n_hubs; k++) {
        const ae_topo_hub *h = region_hub(t, fb, k);
        snprintf(hub, sizeof hub, "%s:%d", h->host, ws ? h->ws_port : h->leaf_port);
        leaf_url(t, v, hub, f);
    }
    fprintf(f, "      ]\n");
    if (ws) /* frames packed for the link and compressed (docs/uplink.md) */
        fprintf(f, "      ws_compression: true\n");
    if (nkeys)
        fprintf(f, "      nkey: \"%s\"\n", v->seed_path);
    if (l->ignore_discovered_urls)
        fprintf(f, "      ignore_discovered_urls: true\n");
    if (fb && nkeys) /* aerie-leaf: back home as soon as a home hub answers again */
        fprintf(f, "      home_urls: %d\n", rg->n_hubs);
    if (t->tls_cert)
        tls_client_block(t, f, "      ");
    fprintf(f, "    }\n  ]\n");
    if (l->reconnect)
        fprintf(f, "  reconnect: \"%s\"\n", l->reconnect);
    if (l->reconnect_max)
        fprintf(f, "  reconnect_max: \"%s\"\n", l->reconnect_max);
    if (l->dead_link_timeout)
        fprintf(f, "  dead_link_timeout: \"%s\"\n", l->dead_link_timeout);
    fprintf(f, "}\n");
}

/* The aerie-only blocks: the store and the uplink. aerie-leaf's forwarder asks the hub's
 * JetStream through $JS.<domain>.API and its default domain is "hub", so a region's own
 * domain has to be named. A stock nats-server leaf (password mode) would refuse these
 * blocks, so there the domain is only a note. */
static void leaf_uplink(const ae_topology *t, const ae_topo_vehicle *v, FILE *f)
{
    const ae_topo_leaf *l = &v->leaf;
    const ae_topo_region *rg = &t->regions[v->region];
    bool other_domain = strcmp(rg->domain, "hub") != 0;
    if (t->vehicle_auth == AE_TOPO_AUTH_PASSWORD) {
        if (other_domain)
            fprintf(f,
                    "\n# The hub JetStream domain of region %s is %s: with aerie-leaf add\n"
                    "# uplink { domain: \"%s\" }\n",
                    rg->name, rg->domain, rg->domain);
        return;
    }
    if (l->store_dir)
        fprintf(f, "\nstore { dir: \"%s\", sync: \"%s\"%s%s%s }\n", l->store_dir,
                l->store_sync ? l->store_sync : "10ms",
                l->store_ack_interval ? ", ack_interval: \"" : "",
                l->store_ack_interval ? l->store_ack_interval : "",
                l->store_ack_interval ? "\"" : "");
    if (!(l->store_dir || l->report_identity || l->status_interval || l->live || other_domain))
        return;
    fprintf(f, "\nuplink {\n");
    if (l->store_dir)
        fprintf(f, "  subjects: [\"fleet.%s.veh.%s.state.>\", \"fleet.%s.veh.%s.event.>\"]\n",
                t->env, v->vid, t->env, v->vid);
    if (l->report_identity)
        fprintf(f, "  vid: \"%s\"\n  env: \"%s\"\n", v->vid, t->env);
    fprintf(f, "  domain: \"%s\"\n", rg->domain);
    if (l->status_interval)
        fprintf(f, "  status_interval: \"%s\"\n", l->status_interval);
    if (l->live)
        fprintf(f, "  live: true\n");
    fprintf(f, "}\n");
}

char *ae_render_leaf_conf(const ae_topology *t, const ae_topo_vehicle *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const ae_topo_leaf *l = &v->leaf;
    fprintf(f, "# aerie-leaf of vehicle %s (region %s, env %s). Generated by %s.\n", v->vid,
            t->regions[v->region].name, t->env, t->origin);
    if (t->vehicle_auth == AE_TOPO_AUTH_NKEY)
        fprintf(f,
                "# It signs in with the vehicle's own nkey seed (the file named below, mode\n"
                "# 0600; `aerie revoke %s` takes the identity away). `nkey` is an aerie-leaf\n"
                "# option: a stock nats-server leaf needs \"vehicle_auth\": \"password\".\n",
                v->vid);
    else
        fprintf(f, "# nats-server syntax: aerie-leaf reads it, and so would a stock "
                   "nats-server.\n");
    fprintf(f, "server_name: \"%s\"\nlisten: \"127.0.0.1:%d\"\n", v->vid, l->port);
    if (l->http_port)
        fprintf(f, "http: \"127.0.0.1:%d\"\n", l->http_port);
    if (l->ping_interval)
        fprintf(f, "ping_interval: \"%s\"\n", l->ping_interval);
    fprintf(f, "\n");
    if (l->note)
        fprintf(f, "%s", l->note);
    leaf_remote(t, v, f);
    leaf_uplink(t, v, f);
    return finish(f, &buf);
}

/* rate_limits with every kind of state capped at g->rate_cap per second (a large local
 * fleet sized to its machine, `aerie up --telemetry-hz`), as minimum intervals: a rate
 * below 1 Hz does not fit the integer form. */
static void render_rate_cap(FILE *f, const ae_topo_gateway *g)
{
    static const char *const kinds[] = {"position", "attitude",  "battery", "gps",
                                        "status",   "heartbeat", "home"};
    /* The gateway's own defaults (src/gw/config.c), or the topology's. */
    double want[] = {g->rate_position ? g->rate_position : 10,
                     g->rate_attitude ? g->rate_attitude : 10,
                     1,
                     1,
                     1,
                     1,
                     1};
    fprintf(f,
            "# At most %g messages per second of each kind of state (minimum intervals).\n"
            "rate_limits {",
            g->rate_cap);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        double hz = want[k] < g->rate_cap ? want[k] : g->rate_cap;
        fprintf(f, "%s %s: \"%lldms\"", k ? "," : "", kinds[k], (long long)(1000.0 / hz + 0.5));
    }
    fprintf(f, " }\n");
}

/* ---- gateway ------------------------------------------------------------------------- */

char *ae_render_gw_conf(const ae_topology *t, const ae_topo_vehicle *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const ae_topo_gateway *g = &v->gw;
    fprintf(f,
            "# aerie-gw of vehicle %s (region %s, env %s). Generated by %s.\n"
            "vid: \"%s\"\n"
            "env: \"%s\"\n"
            "nats: \"nats://127.0.0.1:%d\"\n"
            "mavlink: [",
            v->vid, t->regions[v->region].name, t->env, t->origin, v->vid, t->env, v->leaf.port);
    for (size_t k = 0; k < g->n_mavlink; k++)
        fprintf(f, "%s\"%s\"", k ? ", " : "", g->mavlink[k]);
    fprintf(f, "]\n");
    /* Catch-up requests go to the region's JetStream domain ("hub" is the default). */
    if (strcmp(t->regions[v->region].domain, "hub") != 0)
        fprintf(f, "commands { domain: \"%s\" }\n", t->regions[v->region].domain);
    if (g->state_dir)
        fprintf(f,
                "# The command journal: each command runs at most once, across restarts (without\n"
                "# it, commands queued on the hub during an outage are not fetched).\n"
                "state_dir: \"%s\"\n",
                g->state_dir);
    if (g->rate_cap > 0) {
        render_rate_cap(f, g);
    } else if (g->rate_position || g->rate_attitude) {
        fprintf(f, "# Messages per second sent on, per kind of state.\nrate_limits {");
        if (g->rate_position)
            fprintf(f, " position: %d%s", g->rate_position, g->rate_attitude ? "," : "");
        if (g->rate_attitude)
            fprintf(f, " attitude: %d", g->rate_attitude);
        fprintf(f, " }\n");
    }
    return finish(f, &buf);
}

/* ---- the guard's unit ----------------------------------------------------------------- */

char *ae_render_guard_unit(const ae_topology *t, const ae_topo_region *rg, const char *view_dir)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f,
            "# The command guard of region %s (env %s). Generated by %s.\n"
            "# Vehicles' consumer creates and order-repair deletes pass through it (docs/\n"
            "# security.md); without it their leaves keep their data but cannot resync. Run it on\n"
            "# every hub node of the region (the instances share the work): copy %s/fleet.json\n"
            "# there, readable by the user below.\n"
            "[Unit]\n"
            "Description=Aerie command guard for region %s\n"
            "After=network-online.target nats-server.service\n"
            "Wants=network-online.target\n\n"
            "[Service]\n"
            "ExecStart=/usr/local/bin/aerie guard --dir %s\n"
            "KillSignal=SIGTERM\n"
            "Restart=always\n"
            "RestartSec=1\n"
            "User=aerie\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n",
            rg->name, t->env, t->origin, view_dir, rg->name, view_dir);
    return finish(f, &buf);
}
