/* Planning a local fleet: ports, passwords, keys, the fleet record, its topology and the
 * configs rendered from it, and the processes to run. See local_fleet.h. */
#include "cli/local_fleet.h"
#include "cli/creds_registry.h"
#include "cli/identities.h"
#include "cli/proc.h"
#include "cli/render.h"
#include "cli/retention.h"
#include "cli/tenant.h"
#include "common/fileio.h"
#include "common/ident.h"
#include "common/random.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int ae_local_find_programs(ae_local_programs *p, ae_err *err)
{
    if (ae_proc_find_nats_server(p->nats_server, sizeof p->nats_server, err) != 0)
        return AE_ENOENT;
    if (ae_proc_self_exe(p->self, sizeof p->self) != 0)
        return ae_err_set(err, AE_EIO, "cannot find the aerie executable (/proc/self/exe)");
    struct {
        const char *name;
        char *out;
    } progs[] = {{"aerie-leaf", p->leaf}, {"aerie-gw", p->gw}, {"aerie-relay", p->relay}};
    for (size_t i = 0; i < 3; i++)
        if (ae_proc_find_program(progs[i].name, progs[i].out, PATH_MAX) != 0)
            return ae_err_set(err, AE_ENOENT,
                              "cannot find %s next to %s or on PATH: build it (cmake --build "
                              "BUILD) or install Aerie",
                              progs[i].name, p->self);
    if (ae_proc_find_program("aerie-sim", p->sim, sizeof p->sim) != 0)
        p->sim[0] = 0;
    return 0;
}

int ae_local_fleet_open(const char *dir, bool create, char abs[PATH_MAX], ae_fleet **out,
                        ae_err *err)
{
    *out = NULL;
    abs[0] = 0;
    if (create && ae_proc_mkdirs(dir, err) != 0)
        return AE_EIO;
    if (!realpath(dir, abs)) {
        abs[0] = 0;
        return ae_err_set(err, AE_ENOENT,
                          "%s: %s (no fleet there; start one with `aerie up --dir %s`)", dir,
                          strerror(errno), dir);
    }
    return ae_fleet_load(abs, out, err);
}

void ae_local_vid(int i, int n, char *out, size_t cap)
{
    int width = 3;
    for (int top = 1000; n >= top && width < 9; top *= 10)
        width++;
    snprintf(out, cap, "VID-%0*d", width, i + 1);
}

int64_t ae_local_store_budget(const ae_fleet *f)
{
    if (f->n_tenants > 1 || (f->n_tenants == 1 && f->tenants[0].free_tier))
        return 0;
    return ae_retention_budget(ae_tenant_size_bytes(AE_LOCAL_HUB_STORE));
}

/* ---- ports --------------------------------------------------------------------------- */

/* Ports chosen so far in this plan, so that no two listeners get the same number. */
typedef struct portset {
    int *v;
    size_t n, cap;
} portset;

/* A free port: `prefer` (a previous run's) when it is free and not chosen yet, else a new
 * one. Returns the port or AE_EIO / AE_ENOMEM. */
static int pick(portset *ps, int socktype, int prefer, ae_err *err)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i] == prefer)
            prefer = 0;
    int p = ae_proc_free_port(socktype, prefer, ps->v, ps->n);
    if (p <= 0)
        return ae_err_set(err, AE_EIO, "no free port found on 127.0.0.1");
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        int *nv = realloc(ps->v, cap * sizeof *nv);
        if (!nv)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        ps->v = nv;
        ps->cap = cap;
    }
    ps->v[ps->n++] = p;
    return p;
}

static int pick_hub_ports(portset *ps, ae_fleet_hub *h, const ae_fleet_hub *was, bool websocket,
                          ae_err *err)
{
    ae_fleet_hub none = {0};
    if (!was)
        was = &none;
    if ((h->client_port = pick(ps, SOCK_STREAM, was->client_port, err)) < 0 ||
        (h->cluster_port = pick(ps, SOCK_STREAM, was->cluster_port, err)) < 0 ||
        (h->leaf_port = pick(ps, SOCK_STREAM, was->leaf_port, err)) < 0 ||
        (h->http_port = pick(ps, SOCK_STREAM, was->http_port, err)) < 0)
        return AE_EIO;
    /* Vehicles reach their hub over compressed websocket; a fleet recorded before it had
     * websocket listeners keeps its plain leafnode links, and so does a large fleet
     * (plan_hubs). */
    if (websocket && (was == &none || was->ws_port) &&
        (h->ws_port = pick(ps, SOCK_STREAM, was->ws_port, err)) < 0)
        return AE_EIO;
    return 0;
}

/* A large fleet has its leaves report (and ping their uplink) less often, and counts a
 * vehicle offline after three missed reports: every 2 s below 500 vehicles, 5 s from 500,
 * 10 s from 1,000. 1,000 vehicles reporting every 2 s would put 500 link reports a second
 * into the hub, a third of what a 2-core machine can store next to the fleet's telemetry
 * (docs/benchmarks.md, "Fleet scale"). From 500 on, leaves also run without their HTTP
 * monitor (pick_vehicle_ports), write their ack state every 5 s instead of every second
 * (store.ack_interval: a third of an idle leaf's CPU), and dial plain leafnode ports
 * (plan_hubs). */
#define SLOW_REPORTS_FROM   500
#define SLOWER_REPORTS_FROM 1000

static bool slow_reports(int n_vehicles)
{
    return n_vehicles >= SLOW_REPORTS_FROM;
}

static int report_every_s(int n_vehicles)
{
    return n_vehicles >= SLOWER_REPORTS_FROM ? 10 : slow_reports(n_vehicles) ? 5 : 2;
}

/* A leaf's HTTP monitor (/leafz, /metrics) loads libmicrohttpd and GnuTLS: 370 KiB more
 * private memory per leaf (measured: 1,448 against 1,080 KiB) and a thread. A large fleet's
 * leaves run without it (`aerie revoke` then verifies the cut at the hubs' /leafz only). */
static int pick_vehicle_ports(portset *ps, ae_fleet_vehicle *v, const ae_fleet_vehicle *was,
                              bool monitor, ae_err *err)
{
    ae_fleet_vehicle none = {0};
    if (!was)
        was = &none;
    if ((v->leaf_port = pick(ps, SOCK_STREAM, was->leaf_port, err)) < 0 ||
        (monitor && (v->leaf_http_port = pick(ps, SOCK_STREAM, was->leaf_http_port, err)) < 0) ||
        (v->mavlink_port = pick(ps, SOCK_DGRAM, was->mavlink_port, err)) < 0 ||
        (v->relay_port = pick(ps, SOCK_STREAM, was->relay_port, err)) < 0 ||
        (v->relay_control_port = pick(ps, SOCK_STREAM, was->relay_control_port, err)) < 0)
        return AE_EIO;
    return 0;
}

/* ---- the record ---------------------------------------------------------------------- */

/* Homes on a grid around Zurich, ~450 m apart; missions of different sizes and start times,
 * and every third drone an ArduPilot, so the fleet looks alive. */
static int plan_drone(ae_fleet_drone *d, int i, double telemetry_hz)
{
    d->telemetry_hz = telemetry_hz;
    d->has_home = true;
    d->home[0] = 47.3977 + (i / 4) * 0.004;
    d->home[1] = 8.5456 + (i % 4) * 0.006;
    d->home[2] = 488 + (i % 5) * 3;
    d->mission_size = 80 + (i * 37) % 120;
    d->mission_delay_s = 2 + (i * 5) % 17;
    return ae_topo_set(&d->autopilot, i % 3 == 2 ? "ardupilot" : "px4");
}

/* From SLOW_REPORTS_FROM vehicles on, the leaves dial the hubs' plain leafnode port: every
 * compressed websocket leaf costs its hub node a deflate compressor of about 650 KiB
 * (nats-server 2.9.10 keeps one per connection; measured with its heap profile, 80 % of a
 * node's heap at 50 leaves), 200 MiB per node for 1,000 vehicles, and the links of a local
 * fleet are loopback, where compression saves nothing worth paying for. */
static int plan_hubs(ae_fleet *f, portset *ps, const ae_fleet *old, bool websocket, ae_err *err)
{
    for (int i = 0; i < AE_LOCAL_HUB_NODES; i++) {
        char name[16];
        snprintf(name, sizeof name, "hub%d", i + 1);
        ae_fleet_hub *h = ae_fleet_hub_add(f, name);
        if (!h)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        int rc = pick_hub_ports(ps, h, old && (size_t)i < old->n_hubs ? &old->hubs[i] : NULL,
                                websocket, err);
        if (rc)
            return rc;
        if (asprintf(&h->conf, "%s/conf/%s.conf", f->dir, name) < 0 ||
            ae_topo_set(&h->leaf_host, "127.0.0.1") || ae_topo_set(&h->http_host, "127.0.0.1"))
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        char *url = NULL;
        if (asprintf(&url, "nats://%s:%s@127.0.0.1:%d", f->op_user, f->op_password,
                     h->client_port) < 0)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        rc = ae_fleet_hub_url_add(f, url);
        free(url);
        if (rc)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    return 0;
}

static int plan_vehicles(ae_fleet *f, const ae_local_tenant *tenants, int n_tenants, double hz,
                         portset *ps, const ae_fleet *old, ae_err *err)
{
    int n = 0;
    for (int k = 0; k < n_tenants; k++)
        n += tenants[k].vehicles;
    for (int i = 0, k = 0, in_k = 0; i < n; i++, in_k++) {
        while (in_k >= tenants[k].vehicles)
            k++, in_k = 0;
        char vid[32];
        ae_local_vid(i, n, vid, sizeof vid);
        ae_fleet_vehicle *v = ae_fleet_vehicle_add(f, vid);
        if (!v || ae_topo_set(&v->tenant, tenants[k].name))
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        const ae_fleet_vehicle *was = old && (size_t)i < old->n_vehicles ? &old->vehicles[i] : NULL;
        int rc = pick_vehicle_ports(ps, v, was, !slow_reports(n), err);
        if (rc)
            return rc;
        if (ae_topo_set(&v->hub, f->hubs[i % AE_LOCAL_HUB_NODES].name) ||
            asprintf(&v->seed, "%s/creds/%s.nk", f->dir, vid) < 0 || plan_drone(&v->drone, i, hz))
            return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    return 0;
}

/* `old`'s secret when it has one, else a new one, into pw. */
static int keep_or_new(const char *was, char pw[AE_SECRET_LEN + 1], ae_err *err)
{
    if (was && *was) {
        snprintf(pw, AE_SECRET_LEN + 1, "%s", was);
        return 0;
    }
    return ae_random_secret(pw, AE_SECRET_LEN + 1, err);
}

/* The tenants: logins (the first tenant's operator is "operator"), kept across runs, and a
 * dashboard each. The first tenant's login and dashboard are also the record's own. */
static int plan_tenants(ae_fleet *f, const ae_local_tenant *tenants, int n_tenants, bool dashboard,
                        portset *ps, const ae_fleet *old, ae_err *err)
{
    for (int k = 0; k < n_tenants; k++) {
        const ae_fleet_tenant *was = old ? ae_fleet_tenant_find(old, tenants[k].name) : NULL;
        ae_fleet_tenant *t = ae_fleet_tenant_add(f, tenants[k].name);
        char user[AE_IDENT_MAX + 16], pw[AE_SECRET_LEN + 1], gpw[AE_SECRET_LEN + 1];
        snprintf(user, sizeof user, k == 0 ? "operator" : "operator-%s", tenants[k].name);
        /* A record of an earlier version has no tenants: its operator is the first's. */
        const char *old_pw = was ? was->op_password : (k == 0 && old ? old->op_password : NULL);
        int rc;
        if (!t)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        if ((rc = keep_or_new(old_pw, pw, err)) ||
            (rc = keep_or_new(was ? was->guard_password : NULL, gpw, err)))
            return rc;
        t->free_tier = tenants[k].free_tier;
        if (ae_topo_set(&t->op_user, user) || ae_topo_set(&t->op_password, pw) ||
            ae_topo_set(&t->guard_password, gpw))
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        if (dashboard) {
            int prefer = was ? was->dashboard_port : (k == 0 && old ? old->dashboard_port : 0);
            int port = pick(ps, SOCK_STREAM, prefer, err);
            if (port < 0)
                return port;
            t->dashboard_port = port;
            if (asprintf(&t->dashboard_url, "http://127.0.0.1:%d/", port) < 0)
                return ae_err_set(err, AE_ENOMEM, "out of memory");
        }
    }
    const ae_fleet_tenant *first = &f->tenants[0];
    if (ae_topo_set(&f->op_user, first->op_user) ||
        ae_topo_set(&f->op_password, first->op_password) ||
        ae_topo_set(&f->dashboard_url, first->dashboard_url))
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    f->dashboard_port = first->dashboard_port;
    return 0;
}

/* The record of a new fleet: env, the tenants and their operators, hub nodes, dashboards and
 * vehicles, with their ports. */
static int plan_record(ae_fleet *f, const ae_local_tenant *tenants, int n_tenants, const char *env,
                       bool dashboard, double hz, const ae_fleet *old, ae_err *err)
{
    char ts[48];
    int n_vehicles = 0;
    for (int k = 0; k < n_tenants; k++)
        n_vehicles += tenants[k].vehicles;
    if (ae_topo_set(&f->env, env) ||
        ae_topo_set(&f->created, ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)) ||
        ae_topo_set(&f->js_domain, "hub") || ae_topo_set(&f->cluster, "aerie"))
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    /* Three missed link reports mean the vehicle is cut off. */
    int stale_s = 3 * report_every_s(n_vehicles);
    char stale[16];
    snprintf(stale, sizeof stale, "%ds", stale_s);
    if (ae_topo_set(&f->stale, stale))
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    f->stale_ns = stale_s * AE_NS_PER_SEC;
    f->has_procs = true;
    portset ps = {0};
    int rc = plan_tenants(f, tenants, n_tenants, dashboard, &ps, old, err);
    if (!rc)
        rc = plan_hubs(f, &ps, old, !slow_reports(n_vehicles), err);
    if (!rc)
        rc = plan_vehicles(f, tenants, n_tenants, hz, &ps, old, err);
    free(ps.v);
    return rc;
}

/* ---- the topology and its configs ---------------------------------------------------- */

static int local_leaf(const ae_fleet *f, const ae_fleet_vehicle *fv, ae_topo_vehicle *v)
{
    ae_topo_leaf *l = &v->leaf;
    char remote[32];
    snprintf(remote, sizeof remote, "127.0.0.1:%d", fv->relay_port);
    l->port = fv->leaf_port;
    l->http_port = fv->leaf_http_port;
    l->ignore_discovered_urls = true;
    l->report_identity = true;
    l->live = true;
    bool slow = slow_reports((int)f->n_vehicles);
    int every_s = report_every_s((int)f->n_vehicles);
    char every[16], dead[16];
    snprintf(every, sizeof every, "%ds", every_s);
    snprintf(dead, sizeof dead, "%ds", 3 * every_s);
    if (ae_topo_push(&l->remotes, &l->n_remotes, remote) || ae_topo_set(&l->ping_interval, every) ||
        ae_topo_set(&l->reconnect, "200ms") || ae_topo_set(&l->reconnect_max, "2s") ||
        ae_topo_set(&l->dead_link_timeout, dead) ||
        asprintf(&l->store_dir, "%s/data/%s", f->dir, fv->vid) < 0 ||
        ae_topo_set(&l->store_sync, "10ms") || ae_topo_set(&l->status_interval, every) ||
        (slow && ae_topo_set(&l->store_ack_interval, "5s")))
        return AE_ENOMEM;
    if (asprintf(&l->note,
                 "# The uplink goes through this vehicle's aerie-relay (port %d, control %d)\n"
                 "# to hub node %s; `aerie link cut %s` cuts it there. Only that address is\n"
                 "# dialled: URLs the hub advertises would go around the relay.\n",
                 fv->relay_port, fv->relay_control_port, fv->hub ? fv->hub : "?", fv->vid) < 0) {
        l->note = NULL;
        return AE_ENOMEM;
    }
    return 0;
}

static int local_vehicle(ae_topology *t, const ae_fleet *f, const ae_fleet_vehicle *fv, json_t *reg)
{
    ae_topo_vehicle *v = ae_topology_add_vehicle(t, fv->vid, 0);
    int tenant = ae_topology_tenant_index(t, ae_fleet_vehicle_tenant(f, fv));
    if (v)
        v->tenant = tenant > 0 ? tenant : 0;
    char mav[40];
    snprintf(mav, sizeof mav, "udp://127.0.0.1:%d", fv->mavlink_port);
    if (!v || ae_topo_set(&v->seed_path, fv->seed) ||
        ae_topo_push(&v->gw.mavlink, &v->gw.n_mavlink, mav))
        return AE_ENOMEM;
    v->revoked = ae_creds_is_revoked(reg, fv->vid);
    /* Enough for a live map without filling a laptop's disk. */
    v->gw.rate_position = 5;
    v->gw.rate_attitude = 1;
    /* `aerie up --telemetry-hz`: no kind of state faster than the drone's position either. */
    v->gw.rate_cap = fv->drone.telemetry_hz;
    if (asprintf(&v->gw.state_dir, "%s/data/%s-gw", f->dir, fv->vid) < 0) {
        v->gw.state_dir = NULL;
        return AE_ENOMEM;
    }
    return local_leaf(f, fv, v);
}

ae_topology *ae_local_topology(const ae_fleet *f, json_t *reg)
{
    ae_topology *t = ae_topology_new();
    if (!t)
        return NULL;
    t->creds = reg;
    t->vehicle_auth = AE_TOPO_AUTH_NKEY;
    bool ok = asprintf(&t->origin, "`aerie up` for the local fleet in %s", f->dir) >= 0;
    if (!ok)
        t->origin = NULL;
    ok = ok && !ae_topo_set(&t->env, f->env) && !ae_topo_set(&t->max_memory, "256MB") &&
         !ae_topo_set(&t->max_file, AE_LOCAL_HUB_STORE) &&
         ae_topology_add_region(t, f->cluster ? f->cluster : "aerie",
                                f->js_domain ? f->js_domain : "hub");
    /* A record of an earlier version has no tenants: its operator's is the default. */
    ae_fleet_tenant legacy = {
        .name = AE_TENANT_DEFAULT, .op_user = f->op_user, .op_password = f->op_password};
    const ae_fleet_tenant *tenants = f->n_tenants ? f->tenants : &legacy;
    size_t n_tenants = f->n_tenants ? f->n_tenants : 1;
    for (size_t i = 0; ok && i < n_tenants; i++) {
        const ae_fleet_tenant *ft = &tenants[i];
        ae_topo_tenant *tn = ae_topology_add_tenant(t, ft->name);
        ok = tn && !ae_topo_set(&tn->op_user, ft->op_user) &&
             !ae_topo_set(&tn->op_password, ft->op_password) &&
             !ae_topo_set(&tn->guard_password, ft->guard_password);
        if (ok && ft->free_tier) {
            tn->free_tier = true;
            ae_tenant_free_limits(&tn->limits);
        }
    }
    for (size_t i = 0; ok && i < f->n_hubs; i++) {
        const ae_fleet_hub *fh = &f->hubs[i];
        ae_topo_hub *h = ae_topology_add_hub(t, fh->name);
        ok = h && !ae_topo_set(&h->host, "127.0.0.1") &&
             !ae_topo_set(&h->listen_host, "127.0.0.1") &&
             asprintf(&h->store_dir, "%s/data/%s", f->dir, fh->name) >= 0;
        if (ok) {
            h->client_port = fh->client_port;
            h->cluster_port = fh->cluster_port;
            h->leaf_port = fh->leaf_port;
            h->http_port = fh->http_port;
            h->ws_port = fh->ws_port;
        } else if (h) {
            h->store_dir = NULL;
        }
    }
    for (size_t i = 0; ok && i < f->n_vehicles; i++)
        ok = local_vehicle(t, f, &f->vehicles[i], reg) == 0;
    if (!ok) {
        ae_topology_free(t);
        return NULL;
    }
    return t;
}

/* Gives every vehicle its identity and renders every config of the fleet into DIR/conf. */
static int write_configs(const ae_fleet *f, json_t *reg, ae_err *err)
{
    ae_topology *t = ae_local_topology(f, reg);
    if (!t)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = ae_topology_check_capacity(t, err);
    if (!rc)
        rc = ae_identities_issue(t, reg, f->dir, NULL, err);
    for (int i = 0; i < t->n_hubs && !rc; i++) {
        char *text = ae_render_hub_conf(t, &t->hubs[i]);
        rc = text ? ae_file_write_atomic(f->hubs[i].conf, text, 0, err)
                  : ae_err_set(err, AE_EINVAL, "cannot write the config of hub %s (see above)",
                               t->hubs[i].name);
        free(text);
    }
    for (int i = 0; i < t->n_vehicles && !rc; i++) {
        const ae_topo_vehicle *v = &t->vehicles[i];
        char *leaf = ae_render_leaf_conf(t, v), *gw = ae_render_gw_conf(t, v);
        char *lpath = NULL, *gpath = NULL;
        if (!leaf || !gw || asprintf(&lpath, "%s/conf/leaf-%s.conf", f->dir, v->vid) < 0 ||
            asprintf(&gpath, "%s/conf/gw-%s.conf", f->dir, v->vid) < 0)
            rc = ae_err_set(err, AE_ENOMEM, "out of memory");
        if (!rc)
            rc = ae_file_write_atomic(lpath, leaf, 0, err);
        if (!rc)
            rc = ae_file_write_atomic(gpath, gw, 0, err);
        free(leaf);
        free(gw);
        free(lpath);
        free(gpath);
    }
    ae_topology_free(t);
    return rc;
}

/* ---- the processes ------------------------------------------------------------------- */

/* Adds one vehicle's relay, leaf and gateway, in start order (its drone flies in a pool:
 * plan_sim_pools). */
static int plan_vehicle_procs(ae_fleet *f, const ae_fleet_vehicle *v, const ae_local_programs *pg)
{
    const ae_fleet_hub *hub = ae_fleet_hub_find(f, v->hub);
    char name[AE_IDENT_MAX + 16], a1[32], a2[32], a3[32];
    char *leaf_conf = NULL, *gw_conf = NULL;
    snprintf(a1, sizeof a1, "%d", v->relay_port);
    /* the relay stands in front of the port the vehicle's leaf dials */
    snprintf(a2, sizeof a2, "127.0.0.1:%d",
             !hub           ? 0
             : hub->ws_port ? hub->ws_port
                            : hub->leaf_port);
    snprintf(a3, sizeof a3, "%d", v->relay_control_port);
    if (asprintf(&leaf_conf, "%s/conf/leaf-%s.conf", f->dir, v->vid) < 0 ||
        asprintf(&gw_conf, "%s/conf/gw-%s.conf", f->dir, v->vid) < 0)
        return AE_ENOMEM;
    const char *relay[] = {pg->relay, "--listen", a1, "--to", a2, "--control", a3, NULL};
    const char *leaf[] = {pg->leaf, "-c", leaf_conf, NULL};
    const char *gw[] = {pg->gw, "-c", gw_conf, NULL};
    int rc = 0;
    snprintf(name, sizeof name, "relay-%s", v->vid);
    if (!ae_fleet_proc_add(f, name, AE_KIND_RELAY, "aerie-relay", v->vid, v->relay_control_port,
                           relay))
        rc = AE_ENOMEM;
    snprintf(name, sizeof name, "leaf-%s", v->vid);
    if (!rc && !ae_fleet_proc_add(f, name, AE_KIND_LEAF, "aerie-leaf", v->vid, v->leaf_port, leaf))
        rc = AE_ENOMEM;
    snprintf(name, sizeof name, "gw-%s", v->vid);
    if (!rc && !ae_fleet_proc_add(f, name, AE_KIND_GW, "aerie-gw", v->vid, 0, gw))
        rc = AE_ENOMEM;
    free(leaf_conf);
    free(gw_conf);
    return rc;
}

/* An argv under construction: strings it owns, NULL-terminated. */
typedef struct argvec {
    char **v;
    size_t n, cap;
} argvec;

static int arg_push(argvec *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        char **nv = realloc(a->v, cap * sizeof *nv);
        if (!nv)
            return AE_ENOMEM;
        a->v = nv;
        a->cap = cap;
    }
    if (!(a->v[a->n] = strdup(s)))
        return AE_ENOMEM;
    a->v[++a->n] = NULL;
    return 0;
}

static void arg_free(argvec *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    *a = (argvec){0};
}

/* One drone's part of a pool's command line (`aerie sim --drone ...`, cmd_sim.c). */
static int push_drone(argvec *a, const ae_fleet_vehicle *v)
{
    const ae_fleet_drone *d = &v->drone;
    char home[96], url[64], size[16], delay[16], hz[32];
    snprintf(home, sizeof home, "%.6f,%.6f,%.0f", d->home[0], d->home[1], d->home[2]);
    snprintf(url, sizeof url, "udpout://127.0.0.1:%d", v->mavlink_port);
    snprintf(size, sizeof size, "%d", d->mission_size);
    snprintf(delay, sizeof delay, "%d", d->mission_delay_s);
    snprintf(hz, sizeof hz, "%g", d->telemetry_hz);
    const char *args[] = {"--drone",
                          "--name",
                          v->vid,
                          "--mavlink",
                          url,
                          "--home",
                          home,
                          "--autopilot",
                          d->autopilot ? d->autopilot : "px4",
                          "--mission-size",
                          size,
                          "--mission-delay",
                          delay,
                          "--telemetry-hz",
                          hz};
    size_t n = sizeof args / sizeof args[0] - (d->telemetry_hz > 0 ? 0 : 2);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = arg_push(a, args[i]);
    return rc;
}

/* Adds the processes that fly the vehicles' drones: pools of up to AE_LOCAL_SIM_POOL drones, in
 * vehicle order, named sim-pool-1, sim-pool-2, ...; each records the vehicles it serves. A
 * vehicle revoked in `reg` gets no drone (it stays grounded, as its leaf stays down). */
static int plan_sim_pools(ae_fleet *f, const ae_local_programs *pg, json_t *reg)
{
    /* aerie-sim when there is one, else `aerie sim`: the same drones. */
    const char *prog = pg->sim[0] ? "aerie-sim" : "aerie";
    int rc = 0, pools = 0;
    for (size_t i = 0; i < f->n_vehicles && !rc;) {
        argvec a = {0};
        rc = arg_push(&a, pg->sim[0] ? pg->sim : pg->self);
        if (!rc && !pg->sim[0])
            rc = arg_push(&a, "sim");
        if (!rc)
            rc = arg_push(&a, "--loop");
        size_t first = a.n;
        const char *vids[AE_LOCAL_SIM_POOL];
        size_t nv = 0;
        for (; i < f->n_vehicles && nv < AE_LOCAL_SIM_POOL && !rc; i++) {
            const ae_fleet_vehicle *v = &f->vehicles[i];
            if (ae_creds_is_revoked(reg, v->vid))
                continue;
            vids[nv++] = v->vid;
            rc = push_drone(&a, v);
        }
        if (!rc && a.n > first) {
            char name[32];
            snprintf(name, sizeof name, "sim-pool-%d", ++pools);
            ae_fleet_proc *p =
                ae_fleet_proc_add(f, name, AE_KIND_SIM, prog, NULL, 0, (const char *const *)a.v);
            for (size_t k = 0; k < nv && !rc; k++)
                rc = p ? ae_fleet_proc_add_vid(p, vids[k]) : AE_ENOMEM;
        }
        arg_free(&a);
    }
    return rc;
}

/* The processes, in start order: hub nodes, the guard, each vehicle's, the drones' pools,
 * the dashboards. */
static int plan_procs(ae_fleet *f, const ae_local_programs *pg, json_t *reg, ae_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < f->n_hubs && !rc; i++) {
        const char *argv[] = {pg->nats_server, "-c", f->hubs[i].conf, NULL};
        if (!ae_fleet_proc_add(f, f->hubs[i].name, AE_KIND_HUB, "nats-server", NULL,
                               f->hubs[i].http_port, argv))
            rc = AE_ENOMEM;
    }
    /* The guard of every tenant: vehicles resync through it (guard.h). */
    const char *guard[] = {pg->self, "guard", "--dir", f->dir, NULL};
    if (!rc && !ae_fleet_proc_add(f, "guard", AE_KIND_GUARD, "aerie", NULL, 0, guard))
        rc = AE_ENOMEM;
    for (size_t i = 0; i < f->n_vehicles && !rc; i++)
        rc = plan_vehicle_procs(f, &f->vehicles[i], pg);
    if (!rc)
        rc = plan_sim_pools(f, pg, reg);
    /* A dashboard per tenant, logged in as that tenant: it shows only its vehicles. */
    for (size_t k = 0; k < f->n_tenants && !rc; k++) {
        const ae_fleet_tenant *t = &f->tenants[k];
        if (t->dashboard_port <= 0)
            continue;
        char port[16], name[AE_IDENT_MAX + 16];
        snprintf(port, sizeof port, "%d", t->dashboard_port);
        snprintf(name, sizeof name, k == 0 ? "dashboard" : "dashboard-%s", t->name);
        const char *argv[] = {pg->self, "dashboard", "--dir", f->dir, "--port",
                              port,     "--tenant",  t->name, NULL};
        if (!ae_fleet_proc_add(f, name, AE_KIND_DASHBOARD, "aerie", NULL, t->dashboard_port, argv))
            rc = AE_ENOMEM;
    }
    return rc ? ae_err_set(err, AE_ENOMEM, "out of memory") : 0;
}

int ae_local_fleet_plan(const char *dir, const ae_local_tenant *tenants, int n_tenants,
                        const char *env, bool dashboard, double telemetry_hz, const ae_fleet *old,
                        json_t *reg, const ae_local_programs *progs, ae_fleet **out, ae_err *err)
{
    static const char *const subs[] = {"conf", "data", "logs"};
    for (int i = 0; i < 3; i++) {
        char sub[PATH_MAX + 16];
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[i]);
        if (ae_proc_mkdirs(sub, err) != 0)
            return AE_EIO;
    }
    ae_fleet *f = ae_fleet_new(dir);
    if (!f)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = plan_record(f, tenants, n_tenants, env, dashboard, telemetry_hz, old, err);
    if (!rc)
        rc = write_configs(f, reg, err);
    if (!rc)
        rc = plan_procs(f, progs, reg, err);
    if (!rc)
        rc = ae_fleet_save(f, 0, err);
    if (rc) {
        ae_fleet_free(f);
        return rc;
    }
    *out = f;
    return 0;
}
