/* The fleet model: fleet.json in and out, finding and adding parts (a fleet directory's
 * hub nodes read from their configs: fleet_hubs.c). See fleet.h for the format. */
#include "cli/fleet.h"
#include "cli/proc.h"
#include "common/fileio.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ae_fleet_default_dir(void)
{
    const char *d = getenv("AERIE_DIR");
    return d && *d ? d : ".fleet";
}

/* ---- memory ------------------------------------------------------------------------ */

/* Grows an array of `size`-byte items by one zeroed item. Returns the new item or NULL. */
static void *grow(void **arr, size_t *n, size_t size)
{
    char *na = realloc(*arr, (*n + 1) * size);
    if (!na)
        return NULL;
    *arr = na;
    memset(na + *n * size, 0, size);
    return na + (*n)++ * size;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void free_hub(ae_fleet_hub *h)
{
    free(h->name);
    free(h->conf);
    free(h->region);
    free(h->leaf_host);
    free(h->http_host);
}

static void free_tenant(ae_fleet_tenant *t)
{
    free(t->name);
    free(t->op_user);
    free(t->op_password);
    free(t->guard_password);
    free(t->dashboard_url);
}

static void free_vehicle(ae_fleet_vehicle *v)
{
    free(v->vid);
    free(v->tenant);
    free(v->hub);
    free(v->seed);
    free(v->drone.autopilot);
}

static void free_proc(ae_fleet_proc *p)
{
    free(p->name);
    free(p->kind);
    free(p->prog);
    free_strv(p->argv);
    free(p->log);
    free(p->vid);
    for (size_t i = 0; i < p->n_vids; i++)
        free(p->vids[i]);
    free(p->vids);
    free(p->started);
}

void ae_fleet_free(ae_fleet *f)
{
    if (!f)
        return;
    free(f->dir);
    free(f->env);
    free(f->region);
    free(f->created);
    for (size_t i = 0; i < f->n_hub_urls; i++)
        free(f->hub_urls[i]);
    free(f->hub_urls);
    free(f->js_domain);
    free(f->cluster);
    for (size_t i = 0; i < f->n_fallback_domains; i++)
        free(f->fallback_domains[i]);
    free(f->fallback_domains);
    free(f->global_domain);
    for (size_t i = 0; i < f->n_hubs; i++)
        free_hub(&f->hubs[i]);
    free(f->hubs);
    free(f->op_user);
    free(f->op_password);
    free(f->dashboard_url);
    for (size_t i = 0; i < f->n_tenants; i++)
        free_tenant(&f->tenants[i]);
    free(f->tenants);
    for (size_t i = 0; i < f->n_vehicles; i++)
        free_vehicle(&f->vehicles[i]);
    free(f->vehicles);
    free(f->stale);
    for (size_t i = 0; i < f->n_retention; i++)
        free(f->retention[i]);
    free(f->retention);
    for (size_t i = 0; i < f->n_procs; i++)
        free_proc(&f->procs[i]);
    free(f->procs);
    free(f);
}

ae_fleet *ae_fleet_new(const char *dir)
{
    ae_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->dir = dir ? strdup(dir) : NULL;
    f->env = strdup("prod");
    if ((dir && !f->dir) || !f->env) {
        ae_fleet_free(f);
        return NULL;
    }
    return f;
}

/* ---- finding and adding ------------------------------------------------------------ */

ae_fleet_vehicle *ae_fleet_vehicle_find(const ae_fleet *f, const char *vid)
{
    for (size_t i = 0; f && vid && i < f->n_vehicles; i++)
        if (strcmp(f->vehicles[i].vid, vid) == 0)
            return &f->vehicles[i];
    return NULL;
}

ae_fleet_vehicle *ae_fleet_vehicle_add(ae_fleet *f, const char *vid)
{
    ae_fleet_vehicle *v = grow((void **)&f->vehicles, &f->n_vehicles, sizeof *v);
    if (v && !(v->vid = strdup(vid))) {
        f->n_vehicles--;
        return NULL;
    }
    return v;
}

ae_fleet_hub *ae_fleet_hub_find(const ae_fleet *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->n_hubs; i++)
        if (strcmp(f->hubs[i].name, name) == 0)
            return &f->hubs[i];
    return NULL;
}

ae_fleet_hub *ae_fleet_hub_add(ae_fleet *f, const char *name)
{
    ae_fleet_hub *h = grow((void **)&f->hubs, &f->n_hubs, sizeof *h);
    if (h && !(h->name = strdup(name))) {
        f->n_hubs--;
        return NULL;
    }
    return h;
}

ae_fleet_tenant *ae_fleet_tenant_find(const ae_fleet *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->n_tenants; i++)
        if (strcmp(f->tenants[i].name, name) == 0)
            return &f->tenants[i];
    return NULL;
}

ae_fleet_tenant *ae_fleet_tenant_add(ae_fleet *f, const char *name)
{
    ae_fleet_tenant *t = grow((void **)&f->tenants, &f->n_tenants, sizeof *t);
    if (t && !(t->name = strdup(name))) {
        f->n_tenants--;
        return NULL;
    }
    return t;
}

const char *ae_fleet_vehicle_tenant(const ae_fleet *f, const ae_fleet_vehicle *v)
{
    if (v->tenant)
        return v->tenant;
    return f->n_tenants ? f->tenants[0].name : NULL;
}

int ae_fleet_hub_url_add(ae_fleet *f, const char *url)
{
    char **slot = grow((void **)&f->hub_urls, &f->n_hub_urls, sizeof *slot);
    if (!slot)
        return AE_ENOMEM;
    if (!(*slot = strdup(url))) {
        f->n_hub_urls--;
        return AE_ENOMEM;
    }
    return 0;
}

int ae_fleet_fallback_add(ae_fleet *f, const char *domain)
{
    for (size_t i = 0; i < f->n_fallback_domains; i++)
        if (strcmp(f->fallback_domains[i], domain) == 0)
            return 0;
    char **slot = grow((void **)&f->fallback_domains, &f->n_fallback_domains, sizeof *slot);
    if (!slot)
        return AE_ENOMEM;
    if (!(*slot = strdup(domain))) {
        f->n_fallback_domains--;
        return AE_ENOMEM;
    }
    return 0;
}

ae_fleet_proc *ae_fleet_proc_find(const ae_fleet *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->n_procs; i++)
        if (strcmp(f->procs[i].name, name) == 0)
            return &f->procs[i];
    return NULL;
}

bool ae_fleet_proc_serves(const ae_fleet_proc *p, const char *vid)
{
    if (!vid)
        return false;
    if (p->vid && strcmp(p->vid, vid) == 0)
        return true;
    for (size_t i = 0; i < p->n_vids; i++)
        if (strcmp(p->vids[i], vid) == 0)
            return true;
    return false;
}

ae_fleet_proc *ae_fleet_proc_of(const ae_fleet *f, const char *vid, const char *kind)
{
    for (size_t i = 0; f && vid && i < f->n_procs; i++)
        if (strcmp(f->procs[i].kind, kind) == 0 && ae_fleet_proc_serves(&f->procs[i], vid))
            return &f->procs[i];
    return NULL;
}

int ae_fleet_proc_add_vid(ae_fleet_proc *p, const char *vid)
{
    char **slot = grow((void **)&p->vids, &p->n_vids, sizeof *slot);
    if (!slot)
        return AE_ENOMEM;
    if (!(*slot = strdup(vid))) {
        p->n_vids--;
        return AE_ENOMEM;
    }
    return 0;
}

static char **copy_strv(const char *const *argv)
{
    size_t n = 0;
    while (argv && argv[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        if (!(v[i] = strdup(argv[i]))) {
            free_strv(v);
            return NULL;
        }
    return v;
}

ae_fleet_proc *ae_fleet_proc_add(ae_fleet *f, const char *name, const char *kind, const char *prog,
                                 const char *vid, int ready_port, const char *const *argv)
{
    ae_fleet_proc *p = grow((void **)&f->procs, &f->n_procs, sizeof *p);
    if (!p)
        return NULL;
    f->has_procs = true;
    p->ready_port = ready_port;
    p->name = strdup(name);
    p->kind = strdup(kind);
    p->prog = strdup(prog);
    p->vid = vid ? strdup(vid) : NULL;
    p->argv = copy_strv(argv);
    bool ok = asprintf(&p->log, "%s/logs/%s.log", f->dir, name) >= 0;
    if (!ok)
        p->log = NULL;
    if (!ok || !p->name || !p->kind || !p->prog || (vid && !p->vid) || !p->argv) {
        free_proc(p);
        f->n_procs--;
        return NULL;
    }
    return p;
}

bool ae_fleet_proc_running(const ae_fleet *f, const ae_fleet_proc *p)
{
    return p && p->pid > 0 && ae_proc_owned(p->pid, p->prog, f->dir);
}

int ae_fleet_retention_set(ae_fleet *f, const char *name, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return AE_ENOMEM;
    for (size_t i = 0; i + 1 < f->n_retention; i += 2)
        if (strcmp(f->retention[i], name) == 0) {
            free(f->retention[i + 1]);
            f->retention[i + 1] = v;
            return 0;
        }
    char *n = strdup(name);
    char **nr = n ? realloc(f->retention, (f->n_retention + 2) * sizeof *nr) : NULL;
    if (!nr) {
        free(n);
        free(v);
        return AE_ENOMEM;
    }
    nr[f->n_retention++] = n;
    nr[f->n_retention++] = v;
    f->retention = nr;
    return 0;
}

bool ae_fleet_is_local(const ae_fleet *f)
{
    for (size_t i = 0; i < f->n_procs; i++)
        if (strcmp(f->procs[i].kind, AE_KIND_HUB) == 0)
            return true;
    return false;
}

/* ---- reading fleet.json ------------------------------------------------------------ */

/* A parse in progress: the file name for messages and the first error. */
typedef struct reader {
    const char *name;
    ae_err *err;
    int rc;
} reader;

static int bad(reader *r, const char *fmt, const char *a, const char *b)
{
    if (r->rc == 0) {
        char what[200];
        snprintf(what, sizeof what, fmt, a, b);
        r->rc = ae_err_set(r->err, AE_EINVAL, "%s: %s", r->name, what);
    }
    return r->rc;
}

/* The string at o.key copied to *out (NULL when absent); `where` prefixes the key in
 * messages ("vehicles[2]."). */
static void read_str(reader *r, json_t *o, const char *where, const char *key, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || r->rc)
        return;
    if (!json_is_string(v)) {
        bad(r, "\"%s%s\" must be a string", where, key);
        return;
    }
    free(*out);
    if (!(*out = strdup(json_string_value(v))))
        r->rc = ae_err_set(r->err, AE_ENOMEM, "out of memory reading %s", r->name);
}

static void read_int(reader *r, json_t *o, const char *where, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || r->rc)
        return;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        bad(r, "\"%s%s\" must be a non-negative integer", where, key);
    else
        *out = (int)json_integer_value(v);
}

static void read_hub(reader *r, ae_fleet *f, json_t *hub)
{
    json_t *urls = json_object_get(hub, "urls");
    if (!json_is_array(urls) || json_array_size(urls) == 0) {
        bad(r, "\"hub.urls\" must be a non-empty array of NATS URLs%s%s", "", "");
        return;
    }
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        char where[64];
        snprintf(where, sizeof where, "hub.urls[%zu]", i);
        if (!json_is_string(u) || json_string_length(u) == 0)
            bad(r, "%s must be a non-empty string%s", where, "");
        else if (!r->rc && ae_fleet_hub_url_add(f, json_string_value(u)) != 0)
            r->rc = ae_err_set(r->err, AE_ENOMEM, "out of memory reading %s", r->name);
    }
    json_t *dom = json_object_get(hub, "js_domain");
    if (json_is_string(dom) && json_string_length(dom) > 0)
        read_str(r, hub, "hub.", "js_domain", &f->js_domain);
    read_str(r, hub, "hub.", "cluster", &f->cluster);
    /* Domains become subject tokens ($JS.<domain>.API): identifiers only. */
    json_t *fd = json_object_get(hub, "fallback_domains");
    if (fd && !json_is_array(fd))
        bad(r, "\"hub.fallback_domains\" must be an array of domains%s%s", "", "");
    json_array_foreach(fd, i, u)
    {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        if (!ae_ident_valid(json_string_value(u)))
            bad(r, "\"hub.fallback_domains[%s]\" is not a domain name%s", idx, "");
        else if (!r->rc && ae_fleet_fallback_add(f, json_string_value(u)) != 0)
            r->rc = ae_err_set(r->err, AE_ENOMEM, "out of memory reading %s", r->name);
    }
    read_str(r, hub, "hub.", "global_domain", &f->global_domain);
    if (!r->rc && f->global_domain && !ae_ident_valid(f->global_domain))
        bad(r, "\"hub.global_domain\" is not a domain name%s%s", "", "");
    json_t *n;
    json_array_foreach(json_object_get(hub, "nodes"), i, n)
    {
        char where[64];
        snprintf(where, sizeof where, "hub.nodes[%zu].", i);
        json_t *name = json_object_get(n, "name");
        if (!json_is_string(name) || json_string_length(name) == 0) {
            bad(r, "%sname must be a non-empty string%s", where, "");
            return;
        }
        ae_fleet_hub *h = r->rc ? NULL : ae_fleet_hub_add(f, json_string_value(name));
        if (!h) {
            r->rc = r->rc ? r->rc : ae_err_set(r->err, AE_ENOMEM, "out of memory");
            return;
        }
        read_str(r, n, where, "conf", &h->conf);
        read_int(r, n, where, "client_port", &h->client_port);
        read_int(r, n, where, "cluster_port", &h->cluster_port);
        read_int(r, n, where, "leaf_port", &h->leaf_port);
        read_int(r, n, where, "http_port", &h->http_port);
        if (json_object_get(n, "ws_port"))
            read_int(r, n, where, "ws_port", &h->ws_port);
        /* A local fleet's hub nodes listen on loopback. */
        h->leaf_host = strdup("127.0.0.1");
        h->http_host = strdup("127.0.0.1");
    }
}

static void read_drone(reader *r, json_t *v, const char *where, ae_fleet_drone *d)
{
    json_t *home = json_object_get(v, "home");
    if (home) {
        for (size_t k = 0; k < 3 && !r->rc; k++)
            if (json_array_size(home) != 3 || !json_is_number(json_array_get(home, k)))
                bad(r, "\"%shome\" must be [lat, lon, alt]%s", where, "");
            else
                d->home[k] = json_number_value(json_array_get(home, k));
        d->has_home = true;
    }
    read_str(r, v, where, "autopilot", &d->autopilot);
    read_int(r, v, where, "mission_size", &d->mission_size);
    read_int(r, v, where, "mission_delay_s", &d->mission_delay_s);
    json_t *hz = json_object_get(v, "telemetry_hz");
    if (hz && (!json_is_number(hz) || json_number_value(hz) < 0))
        bad(r, "\"%stelemetry_hz\" must be a positive number%s", where, "");
    else if (hz)
        d->telemetry_hz = json_number_value(hz);
}

static void read_vehicles(reader *r, ae_fleet *f, json_t *veh)
{
    if (!veh)
        return;
    if (!json_is_array(veh)) {
        bad(r, "\"vehicles\" must be an array%s%s", "", "");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(veh, i, v)
    {
        char where[64];
        snprintf(where, sizeof where, "vehicles[%zu].", i);
        json_t *vid = json_is_object(v) ? json_object_get(v, "vid") : NULL;
        if (!json_is_string(vid) || json_string_length(vid) == 0) {
            bad(r, "%svid must be a non-empty string%s", where, "");
            return;
        }
        ae_fleet_vehicle *fv = r->rc ? NULL : ae_fleet_vehicle_add(f, json_string_value(vid));
        if (!fv) {
            r->rc = r->rc ? r->rc : ae_err_set(r->err, AE_ENOMEM, "out of memory");
            return;
        }
        read_str(r, v, where, "tenant", &fv->tenant);
        read_str(r, v, where, "hub", &fv->hub);
        read_str(r, v, where, "seed", &fv->seed);
        read_int(r, v, where, "leaf_port", &fv->leaf_port);
        read_int(r, v, where, "leaf_http_port", &fv->leaf_http_port);
        read_int(r, v, where, "mavlink_port", &fv->mavlink_port);
        read_int(r, v, where, "relay_port", &fv->relay_port);
        read_int(r, v, where, "relay_control_port", &fv->relay_control_port);
        read_drone(r, v, where, &fv->drone);
    }
}

static void read_tenants(reader *r, ae_fleet *f, json_t *list)
{
    if (!list)
        return;
    if (!json_is_array(list)) {
        bad(r, "\"tenants\" must be an array%s%s", "", "");
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        char where[64];
        snprintf(where, sizeof where, "tenants[%zu].", i);
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!ae_ident_valid(name)) {
            bad(r, "%sname must be a tenant name%s", where, "");
            return;
        }
        ae_fleet_tenant *ft = r->rc ? NULL : ae_fleet_tenant_add(f, name);
        if (!ft) {
            r->rc = r->rc ? r->rc : ae_err_set(r->err, AE_ENOMEM, "out of memory");
            return;
        }
        json_t *op = json_object_get(t, "operator");
        read_str(r, op, where, "user", &ft->op_user);
        read_str(r, op, where, "password", &ft->op_password);
        read_str(r, t, where, "guard_password", &ft->guard_password);
        ft->free_tier = json_is_true(json_object_get(t, "free"));
        json_t *dash = json_object_get(t, "dashboard");
        read_int(r, dash, where, "port", &ft->dashboard_port);
        read_str(r, dash, where, "url", &ft->dashboard_url);
    }
}

/* "retention": option names and their values, both strings. */
static void read_retention(reader *r, ae_fleet *f, json_t *ret)
{
    if (!ret || r->rc)
        return;
    if (!json_is_object(ret)) {
        bad(r, "\"retention\" must be an object of option names and values%s%s", "", "");
        return;
    }
    const char *name;
    json_t *v;
    json_object_foreach(ret, name, v)
    {
        if (!json_is_string(v)) {
            bad(r, "\"retention.%s\" must be a string%s", name, "");
            return;
        }
        if (ae_fleet_retention_set(f, name, json_string_value(v)) != 0) {
            r->rc = ae_err_set(r->err, AE_ENOMEM, "out of memory reading %s", r->name);
            return;
        }
    }
}

/* A process's "vids": vehicle ids. */
static void read_vids(reader *r, ae_fleet_proc *fp, json_t *vids, const char *where)
{
    if (!vids || r->rc)
        return;
    if (!json_is_array(vids)) {
        bad(r, "%svids must be an array of vehicle ids%s", where, "");
        return;
    }
    size_t k;
    json_t *v;
    json_array_foreach(vids, k, v)
    {
        if (!ae_ident_valid(json_string_value(v))) {
            bad(r, "%svids must be an array of vehicle ids%s", where, "");
            return;
        }
        if (ae_fleet_proc_add_vid(fp, json_string_value(v)) != 0) {
            r->rc = ae_err_set(r->err, AE_ENOMEM, "out of memory reading %s", r->name);
            return;
        }
    }
}

static void read_procs(reader *r, ae_fleet *f, json_t *procs)
{
    if (!procs)
        return;
    if (!json_is_array(procs)) {
        bad(r, "\"processes\" must be an array%s%s", "", "");
        return;
    }
    f->has_procs = true;
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        char where[64];
        snprintf(where, sizeof where, "processes[%zu].", i);
        ae_fleet_proc *fp = grow((void **)&f->procs, &f->n_procs, sizeof *fp);
        if (!fp || r->rc) {
            r->rc = r->rc ? r->rc : ae_err_set(r->err, AE_ENOMEM, "out of memory");
            return;
        }
        read_str(r, p, where, "name", &fp->name);
        read_str(r, p, where, "kind", &fp->kind);
        read_str(r, p, where, "prog", &fp->prog);
        read_str(r, p, where, "log", &fp->log);
        read_str(r, p, where, "vid", &fp->vid);
        read_vids(r, fp, json_object_get(p, "vids"), where);
        read_str(r, p, where, "started", &fp->started);
        read_int(r, p, where, "ready_port", &fp->ready_port);
        json_t *pid = json_object_get(p, "pid");
        fp->pid = json_is_integer(pid) ? (pid_t)json_integer_value(pid) : 0;
        json_t *av = json_object_get(p, "argv");
        size_t n = json_array_size(av);
        fp->argv = calloc(n + 1, sizeof *fp->argv);
        for (size_t k = 0; fp->argv && k < n; k++) {
            const char *a = json_string_value(json_array_get(av, k));
            if (!a) {
                bad(r, "%sargv must be an array of strings%s", where, "");
                return;
            }
            fp->argv[k] = strdup(a);
        }
        if (!r->rc && (!fp->name || !fp->kind || !fp->prog))
            bad(r, "%sname, kind and prog must be strings%s", where, "");
        /* Optional text fields default to "" so that users need no NULL checks. */
        if (!fp->log)
            fp->log = strdup("");
    }
}

int ae_fleet_parse(const char *text, const char *name, const char *dir, ae_fleet **out, ae_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root)
        return ae_err_set(err, AE_EINVAL, "%s:%d: not valid JSON: %s", name, je.line, je.text);
    reader r = {.name = name, .err = err};
    ae_fleet *f = ae_fleet_new(dir);
    if (!f)
        r.rc = ae_err_set(err, AE_ENOMEM, "out of memory reading %s", name);
    else if (!json_is_object(root))
        bad(&r, "the top level must be an object%s%s", "", "");
    if (!r.rc) {
        read_str(&r, root, "", "env", &f->env);
        read_str(&r, root, "", "region", &f->region);
        read_str(&r, root, "", "created", &f->created);
        read_hub(&r, f, json_object_get(root, "hub"));
        json_t *op = json_object_get(root, "operator");
        read_str(&r, op, "operator.", "user", &f->op_user);
        read_str(&r, op, "operator.", "password", &f->op_password);
        json_t *dash = json_object_get(root, "dashboard");
        read_int(&r, dash, "dashboard.", "port", &f->dashboard_port);
        read_str(&r, dash, "dashboard.", "url", &f->dashboard_url);
        read_tenants(&r, f, json_object_get(root, "tenants"));
        read_vehicles(&r, f, json_object_get(root, "vehicles"));
        read_str(&r, root, "", "stale", &f->stale);
        if (!r.rc && f->stale &&
            (ae_parse_duration(f->stale, &f->stale_ns) != 0 || f->stale_ns <= 0))
            bad(&r, "\"stale\" must be a duration such as \"6s\"%s%s", "", "");
        read_retention(&r, f, json_object_get(root, "retention"));
        read_procs(&r, f, json_object_get(root, "processes"));
    }
    json_decref(root);
    if (r.rc) {
        ae_fleet_free(f);
        return r.rc;
    }
    *out = f;
    return 0;
}

int ae_fleet_load(const char *dir, ae_fleet **out, ae_err *err)
{
    char *path = NULL, *text = NULL;
    if (asprintf(&path, "%s/fleet.json", dir) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = ae_file_read(path, &text, NULL, err);
    if (rc == AE_ENOENT)
        ae_err_set(err, AE_ENOENT,
                   "%s does not exist: is a fleet running there? Start one with "
                   "`aerie up --dir %s`, or use --server URL for a real hub",
                   path, dir);
    if (rc == 0)
        rc = ae_fleet_parse(text, path, dir, out, err);
    free(text);
    free(path);
    return rc;
}

/* ---- writing fleet.json ------------------------------------------------------------ */

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static void set_int(json_t *o, const char *key, int v)
{
    if (v > 0)
        json_object_set_new(o, key, json_integer(v));
}

static json_t *dump_hub(const ae_fleet *f)
{
    json_t *hub = json_object(), *urls = json_array();
    for (size_t i = 0; i < f->n_hub_urls; i++)
        json_array_append_new(urls, json_string(f->hub_urls[i]));
    json_object_set_new(hub, "urls", urls);
    set_str(hub, "js_domain", f->js_domain);
    set_str(hub, "cluster", f->cluster);
    if (f->n_fallback_domains) {
        json_t *fd = json_array();
        for (size_t i = 0; i < f->n_fallback_domains; i++)
            json_array_append_new(fd, json_string(f->fallback_domains[i]));
        json_object_set_new(hub, "fallback_domains", fd);
    }
    set_str(hub, "global_domain", f->global_domain);
    if (f->n_hubs) {
        json_t *nodes = json_array();
        for (size_t i = 0; i < f->n_hubs; i++) {
            const ae_fleet_hub *h = &f->hubs[i];
            json_t *n = json_pack("{s:s}", "name", h->name);
            set_int(n, "client_port", h->client_port);
            set_int(n, "cluster_port", h->cluster_port);
            set_int(n, "leaf_port", h->leaf_port);
            set_int(n, "http_port", h->http_port);
            if (h->ws_port)
                set_int(n, "ws_port", h->ws_port);
            set_str(n, "conf", h->conf);
            json_array_append_new(nodes, n);
        }
        json_object_set_new(hub, "nodes", nodes);
    }
    return hub;
}

static json_t *dump_vehicle(const ae_fleet_vehicle *v)
{
    json_t *o = json_pack("{s:s}", "vid", v->vid);
    set_str(o, "tenant", v->tenant);
    set_int(o, "leaf_port", v->leaf_port);
    set_int(o, "leaf_http_port", v->leaf_http_port);
    set_int(o, "mavlink_port", v->mavlink_port);
    set_int(o, "relay_port", v->relay_port);
    set_int(o, "relay_control_port", v->relay_control_port);
    set_str(o, "hub", v->hub);
    set_str(o, "seed", v->seed);
    const ae_fleet_drone *d = &v->drone;
    if (d->has_home)
        json_object_set_new(o, "home", json_pack("[f,f,f]", d->home[0], d->home[1], d->home[2]));
    if (d->autopilot) {
        set_str(o, "autopilot", d->autopilot);
        json_object_set_new(o, "mission_size", json_integer(d->mission_size));
        json_object_set_new(o, "mission_delay_s", json_integer(d->mission_delay_s));
        if (d->telemetry_hz > 0)
            json_object_set_new(o, "telemetry_hz", json_real(d->telemetry_hz));
    }
    return o;
}

static json_t *dump_proc(const ae_fleet_proc *p)
{
    json_t *av = json_array();
    for (size_t k = 0; p->argv && p->argv[k]; k++)
        json_array_append_new(av, json_string(p->argv[k]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:o, s:s, s:i}", "name", p->name, "kind", p->kind,
                          "prog", p->prog, "pid", (int)p->pid, "argv", av, "log",
                          p->log ? p->log : "", "ready_port", p->ready_port);
    set_str(o, "vid", p->vid);
    if (p->n_vids) {
        json_t *vids = json_array();
        for (size_t k = 0; k < p->n_vids; k++)
            json_array_append_new(vids, json_string(p->vids[k]));
        json_object_set_new(o, "vids", vids);
    }
    set_str(o, "started", p->started);
    return o;
}

char *ae_fleet_dump(const ae_fleet *f)
{
    json_t *root = json_object();
    set_str(root, "env", f->env);
    set_str(root, "region", f->region);
    set_str(root, "created", f->created);
    json_object_set_new(root, "hub", dump_hub(f));
    if (f->op_user || f->op_password) {
        json_t *op = json_object();
        set_str(op, "user", f->op_user);
        set_str(op, "password", f->op_password);
        json_object_set_new(root, "operator", op);
    }
    if (f->dashboard_port > 0) {
        json_t *d = json_pack("{s:i}", "port", f->dashboard_port);
        set_str(d, "url", f->dashboard_url);
        json_object_set_new(root, "dashboard", d);
    }
    if (f->n_tenants) {
        json_t *tl = json_array();
        for (size_t i = 0; i < f->n_tenants; i++) {
            const ae_fleet_tenant *t = &f->tenants[i];
            json_t *o = json_pack("{s:s}", "name", t->name);
            if (t->op_user || t->op_password) {
                json_t *op = json_object();
                set_str(op, "user", t->op_user);
                set_str(op, "password", t->op_password);
                json_object_set_new(o, "operator", op);
            }
            set_str(o, "guard_password", t->guard_password);
            if (t->free_tier)
                json_object_set_new(o, "free", json_true());
            if (t->dashboard_port > 0) {
                json_t *d = json_pack("{s:i}", "port", t->dashboard_port);
                set_str(d, "url", t->dashboard_url);
                json_object_set_new(o, "dashboard", d);
            }
            json_array_append_new(tl, o);
        }
        json_object_set_new(root, "tenants", tl);
    }
    json_t *veh = json_array();
    for (size_t i = 0; i < f->n_vehicles; i++)
        json_array_append_new(veh, dump_vehicle(&f->vehicles[i]));
    json_object_set_new(root, "vehicles", veh);
    set_str(root, "stale", f->stale);
    if (f->n_retention) {
        json_t *ret = json_object();
        for (size_t i = 0; i + 1 < f->n_retention; i += 2)
            json_object_set_new(ret, f->retention[i], json_string(f->retention[i + 1]));
        json_object_set_new(root, "retention", ret);
    }
    if (f->has_procs) {
        json_t *procs = json_array();
        for (size_t i = 0; i < f->n_procs; i++)
            json_array_append_new(procs, dump_proc(&f->procs[i]));
        json_object_set_new(root, "processes", procs);
    }
    char *d = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    char *text = NULL;
    if (d && asprintf(&text, "%s\n", d) < 0)
        text = NULL;
    free(d);
    return text;
}

int ae_fleet_save(const ae_fleet *f, int flags, ae_err *err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/fleet.json", f->dir) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    char *text = ae_fleet_dump(f);
    int rc = text ? ae_file_write_atomic(path, text, flags, err)
                  : ae_err_set(err, AE_ENOMEM, "out of memory writing %s", path);
    free(text);
    free(path);
    return rc;
}
