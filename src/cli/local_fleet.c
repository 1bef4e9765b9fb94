/* Planning a local fleet: ports, passwords, keys, the fleet record, its topology and the
 * configs rendered from it, and the processes to run. See local_fleet.h. */
#include "cli/local_fleet.h"
#include "cli/creds_registry.h"
#include "cli/proc.h"
#include "cli/render.h"
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

void ae_local_vid(int i, char *out, size_t cap)
{
    snprintf(out, cap, "VID-%03d", i + 1);
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

static int pick_hub_ports(portset *ps, ae_fleet_hub *h, const ae_fleet_hub *was, ae_err *err)
{
    ae_fleet_hub none = {0};
    if (!was)
        was = &none;
    if ((h->client_port = pick(ps, SOCK_STREAM, was->client_port, err)) < 0 ||
        (h->cluster_port = pick(ps, SOCK_STREAM, was->cluster_port, err)) < 0 ||
        (h->leaf_port = pick(ps, SOCK_STREAM, was->leaf_port, err)) < 0 ||
        (h->http_port = pick(ps, SOCK_STREAM, was->http_port, err)) < 0)
        return AE_EIO;
    return 0;
}

static int pick_vehicle_ports(portset *ps, ae_fleet_vehicle *v, const ae_fleet_vehicle *was,
                              ae_err *err)
{
    ae_fleet_vehicle none = {0};
    if (!was)
        was = &none;
    if ((v->leaf_port = pick(ps, SOCK_STREAM, was->leaf_port, err)) < 0 ||
        (v->leaf_http_port = pick(ps, SOCK_STREAM, was->leaf_http_port, err)) < 0 ||
        (v->mavlink_port = pick(ps, SOCK_DGRAM, was->mavlink_port, err)) < 0 ||
        (v->relay_port = pick(ps, SOCK_STREAM, was->relay_port, err)) < 0 ||
        (v->relay_control_port = pick(ps, SOCK_STREAM, was->relay_control_port, err)) < 0)
        return AE_EIO;
    return 0;
}

/* ---- the record ---------------------------------------------------------------------- */

/* Homes on a grid around Zurich, ~450 m apart; missions of different sizes and start times,
 * and every third drone an ArduPilot, so the fleet looks alive. */
static int plan_drone(ae_fleet_drone *d, int i)
{
    d->has_home = true;
    d->home[0] = 47.3977 + (i / 4) * 0.004;
    d->home[1] = 8.5456 + (i % 4) * 0.006;
    d->home[2] = 488 + (i % 5) * 3;
    d->mission_size = 80 + (i * 37) % 120;
    d->mission_delay_s = 2 + (i * 5) % 17;
    return ae_topo_set(&d->autopilot, i % 3 == 2 ? "ardupilot" : "px4");
}

static int plan_hubs(ae_fleet *f, portset *ps, const ae_fleet *old, ae_err *err)
{
    for (int i = 0; i < AE_LOCAL_HUB_NODES; i++) {
        char name[16];
        snprintf(name, sizeof name, "hub%d", i + 1);
        ae_fleet_hub *h = ae_fleet_hub_add(f, name);
        if (!h)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        int rc = pick_hub_ports(ps, h, old && (size_t)i < old->n_hubs ? &old->hubs[i] : NULL, err);
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

static int plan_vehicles(ae_fleet *f, int n, portset *ps, const ae_fleet *old, ae_err *err)
{
    for (int i = 0; i < n; i++) {
        char vid[32];
        ae_local_vid(i, vid, sizeof vid);
        ae_fleet_vehicle *v = ae_fleet_vehicle_add(f, vid);
        if (!v)
            return ae_err_set(err, AE_ENOMEM, "out of memory");
        const ae_fleet_vehicle *was = old && (size_t)i < old->n_vehicles ? &old->vehicles[i] : NULL;
        int rc = pick_vehicle_ports(ps, v, was, err);
        if (rc)
            return rc;
        if (ae_topo_set(&v->hub, f->hubs[i % AE_LOCAL_HUB_NODES].name) ||
            asprintf(&v->seed, "%s/creds/%s.nk", f->dir, vid) < 0 || plan_drone(&v->drone, i))
            return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    return 0;
}

/* The record of a new fleet: env, the operator, hub nodes, dashboard and vehicles, with
 * their ports. */
static int plan_record(ae_fleet *f, int n, const char *env, bool dashboard, const ae_fleet *old,
                       ae_err *err)
{
    char ts[48], pw[AE_SECRET_LEN + 1];
    int rc = 0;
    if (old && old->op_password)
        snprintf(pw, sizeof pw, "%s", old->op_password);
    else if ((rc = ae_random_secret(pw, sizeof pw, err)) != 0)
        return rc;
    if (ae_topo_set(&f->env, env) ||
        ae_topo_set(&f->created, ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)) ||
        ae_topo_set(&f->js_domain, "hub") || ae_topo_set(&f->cluster, "aerie") ||
        ae_topo_set(&f->op_user, "operator") || ae_topo_set(&f->op_password, pw) ||
        /* The leaves report every 2 s: three missed reports mean the vehicle is cut off. */
        ae_topo_set(&f->stale, "6s"))
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    f->stale_ns = 6 * AE_NS_PER_SEC;
    f->has_procs = true;
    portset ps = {0};
    rc = plan_hubs(f, &ps, old, err);
    if (!rc && dashboard) {
        int port = pick(&ps, SOCK_STREAM, old ? old->dashboard_port : 0, err);
        rc = port < 0 ? port : 0;
        f->dashboard_port = port > 0 ? port : 0;
        if (!rc && asprintf(&f->dashboard_url, "http://127.0.0.1:%d/", port) < 0)
            rc = ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = plan_vehicles(f, n, &ps, old, err);
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
    if (ae_topo_push(&l->remotes, &l->n_remotes, remote) || ae_topo_set(&l->ping_interval, "2s") ||
        ae_topo_set(&l->reconnect, "200ms") || ae_topo_set(&l->reconnect_max, "2s") ||
        ae_topo_set(&l->dead_link_timeout, "6s") ||
        asprintf(&l->store_dir, "%s/data/%s", f->dir, fv->vid) < 0 ||
        ae_topo_set(&l->store_sync, "10ms") || ae_topo_set(&l->status_interval, "2s"))
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
    char mav[40];
    snprintf(mav, sizeof mav, "udp://127.0.0.1:%d", fv->mavlink_port);
    if (!v || ae_topo_set(&v->seed_path, fv->seed) ||
        ae_topo_push(&v->gw.mavlink, &v->gw.n_mavlink, mav))
        return AE_ENOMEM;
    v->revoked = ae_creds_is_revoked(reg, fv->vid);
    /* Enough for a live map without filling a laptop's disk. */
    v->gw.rate_position = 5;
    v->gw.rate_attitude = 1;
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
    ok = ok && !ae_topo_set(&t->env, f->env) && !ae_topo_set(&t->op_user, f->op_user) &&
         !ae_topo_set(&t->op_password, f->op_password) && !ae_topo_set(&t->max_memory, "256MB") &&
         !ae_topo_set(&t->max_file, "4GB") &&
         ae_topology_add_region(t, f->cluster ? f->cluster : "aerie",
                                f->js_domain ? f->js_domain : "hub");
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

/* Renders every config of the fleet into DIR/conf. */
static int write_configs(const ae_fleet *f, json_t *reg, ae_err *err)
{
    ae_topology *t = ae_local_topology(f, reg);
    if (!t)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < t->n_hubs && !rc; i++) {
        char *text = ae_render_hub_conf(t, &t->hubs[i]);
        rc = text ? ae_file_write_atomic(f->hubs[i].conf, text, 0, err)
                  : ae_err_set(err, AE_ENOMEM, "out of memory");
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

/* Adds one vehicle's relay, leaf, gateway and drone, in start order. */
static int plan_vehicle_procs(ae_fleet *f, const ae_fleet_vehicle *v, const ae_local_programs *pg)
{
    const ae_fleet_hub *hub = ae_fleet_hub_find(f, v->hub);
    char name[AE_IDENT_MAX + 16], a1[32], a2[32], a3[32], home[96], url[64], size[16], delay[16];
    char *leaf_conf = NULL, *gw_conf = NULL;
    snprintf(a1, sizeof a1, "%d", v->relay_port);
    snprintf(a2, sizeof a2, "127.0.0.1:%d", hub ? hub->leaf_port : 0);
    snprintf(a3, sizeof a3, "%d", v->relay_control_port);
    const ae_fleet_drone *d = &v->drone;
    snprintf(home, sizeof home, "%.6f,%.6f,%.0f", d->home[0], d->home[1], d->home[2]);
    snprintf(url, sizeof url, "udpout://127.0.0.1:%d", v->mavlink_port);
    snprintf(size, sizeof size, "%d", d->mission_size);
    snprintf(delay, sizeof delay, "%d", d->mission_delay_s);
    if (asprintf(&leaf_conf, "%s/conf/leaf-%s.conf", f->dir, v->vid) < 0 ||
        asprintf(&gw_conf, "%s/conf/gw-%s.conf", f->dir, v->vid) < 0)
        return AE_ENOMEM;
    const char *relay[] = {pg->relay, "--listen", a1, "--to", a2, "--control", a3, NULL};
    const char *leaf[] = {pg->leaf, "-c", leaf_conf, NULL};
    const char *gw[] = {pg->gw, "-c", gw_conf, NULL};
    const char *sim[] = {
        pg->self,     "sim",    "--mavlink",      url,  "--home",          home,  "--autopilot",
        d->autopilot, "--loop", "--mission-size", size, "--mission-delay", delay, NULL};
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
    snprintf(name, sizeof name, "sim-%s", v->vid);
    if (!rc && !ae_fleet_proc_add(f, name, AE_KIND_SIM, "aerie", v->vid, 0, sim))
        rc = AE_ENOMEM;
    free(leaf_conf);
    free(gw_conf);
    return rc;
}

/* The processes, in start order: hub nodes, each vehicle's, the dashboard. */
static int plan_procs(ae_fleet *f, const ae_local_programs *pg, ae_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < f->n_hubs && !rc; i++) {
        const char *argv[] = {pg->nats_server, "-c", f->hubs[i].conf, NULL};
        if (!ae_fleet_proc_add(f, f->hubs[i].name, AE_KIND_HUB, "nats-server", NULL,
                               f->hubs[i].http_port, argv))
            rc = AE_ENOMEM;
    }
    for (size_t i = 0; i < f->n_vehicles && !rc; i++)
        rc = plan_vehicle_procs(f, &f->vehicles[i], pg);
    if (!rc && f->dashboard_port > 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", f->dashboard_port);
        const char *argv[] = {pg->self, "dashboard", "--dir", f->dir, "--port", port, NULL};
        if (!ae_fleet_proc_add(f, "dashboard", AE_KIND_DASHBOARD, "aerie", NULL, f->dashboard_port,
                               argv))
            rc = AE_ENOMEM;
    }
    return rc ? ae_err_set(err, AE_ENOMEM, "out of memory") : 0;
}

/* One nkey per vehicle, kept across runs; a revoked vehicle gets none (its revocation stands
 * until `aerie creds add` issues a new key). Identities issued by `aerie creds add` for
 * vehicles outside this fleet stay in the hub configs too. */
static int issue_keys(const char *dir, int n, json_t *reg, ae_err *err)
{
    int rc = ae_creds_ensure_service(dir, reg, err);
    for (int i = 0; i < n && rc >= 0; i++) {
        char vid[32];
        ae_local_vid(i, vid, sizeof vid);
        if (!ae_creds_is_revoked(reg, vid))
            rc = ae_creds_issue(dir, reg, vid, NULL, err);
    }
    if (rc >= 0)
        rc = ae_creds_registry_save(dir, reg, err);
    return rc < 0 ? rc : 0;
}

int ae_local_fleet_plan(const char *dir, int n, const char *env, bool dashboard,
                        const ae_fleet *old, json_t *reg, const ae_local_programs *progs,
                        ae_fleet **out, ae_err *err)
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
    int rc = issue_keys(dir, n, reg, err);
    if (!rc)
        rc = plan_record(f, n, env, dashboard, old, err);
    if (!rc)
        rc = write_configs(f, reg, err);
    if (!rc)
        rc = plan_procs(f, progs, err);
    if (!rc)
        rc = ae_fleet_save(f, 0, err);
    if (rc) {
        ae_fleet_free(f);
        return rc;
    }
    *out = f;
    return 0;
}
