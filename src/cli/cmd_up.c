/* `aerie up` / `aerie down` / `aerie link`: a complete fleet on one machine, under one
 * directory (see cmd_up.h).
 *
 * Layout of DIR:
 *   fleet.json        what runs where: hub URLs (with the operator's password), ports, and
 *                     every process started (name, program, PID, argv, log). Other commands
 *                     read it through --dir; `down` stops what it lists.
 *   conf/             hub1..3.conf (nats-server), leaf-<vid>.conf, gw-<vid>.conf
 *   creds/            per-vehicle nkey seeds and the registry creds.json (cmd_creds.h)
 *   data/             JetStream stores of the hub nodes, each vehicle leaf's uplink store
 *   logs/             one log per process
 *
 * Topology per vehicle: aerie sim --UDP MAVLink--> aerie-gw --NATS--> aerie-leaf --leafnode-->
 * aerie-relay --> one hub node. The leaf dials only its relay (`ignore_discovered_urls`), so
 * `aerie link cut VID` really cuts that vehicle off, and the leaf's store-and-forward shows
 * its catch-up after `heal`.
 *
 * Start order and readiness: hub nodes (until each answers /healthz with JetStream), the hub
 * streams (retried while the cluster elects its meta leader), then per vehicle the relay,
 * the leaf (its client port), the gateway and the drone, then the dashboard. fleet.json is
 * rewritten after every start, so a failure half-way leaves a file that `down` can use.
 *
 * Security (docs/security.md): every vehicle logs in with its own nkey; the hub configs
 * refuse connections without credentials (no_auth_user names a user no connection type may
 * use; 2.9.10 reads that only at start) and allow the operator on client connections only.
 * The identities come from the same registry `aerie creds` and `aerie revoke` keep, so a
 * vehicle revoked while the fleet ran stays revoked when `up` rewrites the configs after a
 * `down`, and `up` does not start its processes again.
 *
 * Safety: `up` on a running fleet starts only what is dead; `down` signals a PID only when
 * it is still the process `up` started (proc.h: environment marker and program name). */
#include "cli/cmd_up.h"
#include "cli/audit.h"
#include "cli/cli.h"
#include "cli/cmd_creds.h"
#include "cli/cmd_hub.h"
#include "cli/cmd_twin.h"
#include "cli/proc.h"
#include "common/timeutil.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HUB_NODES     3
#define MAX_VEHICLES  200
#define DEFAULT_N     10
#define ONLINE_WAIT_S 20

const char *ae_fleet_default_dir(void)
{
    const char *d = getenv("AERIE_DIR");
    return d && *d ? d : ".fleet";
}

/* ---- small helpers ------------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void gen_password(char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"; /* no look-alikes */
    unsigned char raw[64];
    if (len > sizeof raw)
        len = sizeof raw;
    if (getrandom(raw, len, 0) != (ssize_t)len)
        for (size_t i = 0; i < len; i++)
            raw[i] = (unsigned char)(ae_mono_ns() >> (i % 32));
    for (size_t i = 0; i + 1 < len; i++)
        out[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
    out[len - 1] = 0;
}

static int write_text(const char *path, ae_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int write_text(const char *path, ae_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    int rc = ae_proc_write_file(path, text, err);
    free(text);
    return rc;
}

static int geti(json_t *o, const char *k)
{
    return (int)json_integer_value(json_object_get(o, k));
}

static const char *gets(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---- the fleet file ------------------------------------------------------------------ */

typedef struct fleet {
    char dir[PATH_MAX];       /* absolute */
    const char *shown;        /* as the user named it, for the printed commands */
    char path[PATH_MAX + 16]; /* DIR/fleet.json */
    json_t *root;             /* the document; NULL before load/create */
    json_t *creds;            /* DIR/creds/creds.json, or NULL before it is read */
    char nats_server[PATH_MAX], leaf[PATH_MAX], gw[PATH_MAX], relay[PATH_MAX], self[PATH_MAX];
} fleet;

static int fleet_save(fleet *f, ae_err *err)
{
    char *d = json_dumps(f->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!d)
        return ae_err_set(err, AE_ENOMEM, "out of memory writing %s", f->path);
    size_t n = strlen(d);
    char *t = malloc(n + 2);
    if (!t) {
        free(d);
        return ae_err_set(err, AE_ENOMEM, "out of memory writing %s", f->path);
    }
    memcpy(t, d, n);
    t[n] = '\n';
    t[n + 1] = 0;
    int rc = ae_proc_write_file(f->path, t, err);
    free(t);
    free(d);
    return rc;
}

/* Resolves DIR (creating it when `create`), and loads fleet.json when present. Returns 0,
 * AE_ENOENT when there is no fleet.json (root stays NULL), or an error. */
static int fleet_open(fleet *f, const char *dir, bool create, ae_err *err)
{
    memset(f, 0, sizeof *f);
    f->shown = dir;
    if (create && ae_proc_mkdirs(dir, err) != 0)
        return AE_EIO;
    if (!realpath(dir, f->dir))
        return ae_err_set(err, AE_ENOENT,
                          "%s: %s (no fleet there; start one with `aerie up --dir %s`)", dir,
                          strerror(errno), dir);
    snprintf(f->path, sizeof f->path, "%s/fleet.json", f->dir);
    if (access(f->path, F_OK) != 0)
        return AE_ENOENT;
    json_error_t je;
    f->root = json_load_file(f->path, 0, &je);
    if (!json_is_object(f->root)) {
        json_decref(f->root);
        f->root = NULL;
        return ae_err_set(err, AE_EINVAL, "%s:%d: not a fleet file: %s", f->path, je.line, je.text);
    }
    return 0;
}

static json_t *processes(fleet *f)
{
    json_t *p = json_object_get(f->root, "processes");
    if (!json_is_array(p)) {
        p = json_array();
        json_object_set_new(f->root, "processes", p);
    }
    return p;
}

static json_t *find_proc(fleet *f, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(processes(f), i, p) if (strcmp(gets(p, "name"), name) == 0) return p;
    return NULL;
}

static bool proc_running(fleet *f, json_t *p)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
    return pid > 0 && ae_proc_owned(pid, gets(p, "prog"), f->dir);
}

/* Reads the credential registry (once per command); an unreadable registry counts as empty
 * here, and the next `aerie creds` names the problem. */
static json_t *creds(fleet *f)
{
    if (!f->creds) {
        ae_err err = {0};
        f->creds = ae_creds_registry_load(f->dir, &err);
        if (!f->creds) {
            fprintf(stderr, "aerie: warning: %s\n", err.msg);
            f->creds = json_pack("{s:{}}", "vehicles");
        }
    }
    return f->creds;
}

/* True when the process record belongs to a vehicle whose identity was revoked: `up` must
 * not start it again (its leaf would only be refused, and the drone should stay grounded). */
static bool proc_revoked(fleet *f, json_t *p)
{
    const char *vid = gets(p, "vid");
    return *vid && ae_creds_is_revoked(creds(f), vid);
}

/* Starts one recorded process from its argv and saves its PID. */
static int start_proc(fleet *f, json_t *p, ae_err *err)
{
    json_t *av = json_object_get(p, "argv");
    size_t n = json_array_size(av);
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)json_string_value(json_array_get(av, i));
    pid_t pid = ae_proc_spawn_daemon(argv, gets(p, "log"), f->dir, f->dir, err);
    free(argv);
    if (pid < 0)
        return (int)pid;
    json_object_set_new(p, "pid", json_integer(pid));
    char ts[48];
    json_object_set_new(p, "started", json_string(ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)));
    return fleet_save(f, err);
}

/* Adds a process record (not started) with the argv given as a NULL-terminated list. */
static json_t *add_proc(fleet *f, const char *name, const char *kind, const char *prog,
                        int ready_port, ...)
{
    json_t *av = json_array();
    va_list ap;
    va_start(ap, ready_port);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
        json_array_append_new(av, json_string(a));
    va_end(ap);
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/logs/%s.log", f->dir, name);
    json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:o, s:s, s:i}", "name", name, "kind", kind, "prog",
                          prog, "pid", 0, "argv", av, "log", log, "ready_port", ready_port);
    json_array_append_new(processes(f), p);
    return p;
}

/* The tail of a log, for error messages: the last line that is not empty. */
static void log_tail(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char line[512];
    while (fgets(line, sizeof line, fp))
        if (strspn(line, " \r\n") != strlen(line)) {
            line[strcspn(line, "\r\n")] = 0;
            snprintf(out, cap, "%s", line);
        }
    fclose(fp);
}

/* Waits until a started process is ready: its port accepts (or, for a hub node, /healthz
 * says JetStream is up), failing early when it died. */
static int wait_ready(fleet *f, json_t *p, int timeout_s, ae_err *err)
{
    const char *kind = gets(p, "kind");
    int port = geti(p, "ready_port");
    int64_t deadline = ae_mono_ns() + (int64_t)timeout_s * AE_NS_PER_SEC;
    for (;;) {
        if (!proc_running(f, p)) {
            char tail[300];
            log_tail(gets(p, "log"), tail, sizeof tail);
            return ae_err_set(err, AE_EIO, "%s (%s) exited during start-up; its log %s ends: %s",
                              gets(p, "name"), gets(p, "prog"), gets(p, "log"), tail);
        }
        bool ready;
        if (strcmp(kind, "hub") == 0)
            ready = ae_proc_http_get(port, "/healthz?js-enabled-only=true", NULL, 1000) == 200;
        else if (port > 0)
            ready = ae_proc_tcp_ready(port, 500);
        else
            ready = true;
        if (ready)
            return 0;
        if (ae_mono_ns() > deadline)
            return ae_err_set(err, AE_ETIMEOUT, "%s did not become ready within %d s (log: %s)",
                              gets(p, "name"), timeout_s, gets(p, "log"));
        sleep_ms(100);
    }
}

/* ---- building a new fleet ------------------------------------------------------------ */

/* Ports chosen so far in this run, so that no two listeners get the same number. */
typedef struct portset {
    int v[1024];
    size_t n;
} portset;

static int pick(portset *ps, int socktype, int prefer, ae_err *err)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i] == prefer)
            prefer = 0;
    int p = ae_proc_free_port(socktype, prefer, ps->v, ps->n);
    if (p <= 0)
        return ae_err_set(err, AE_EIO, "no free port found on 127.0.0.1");
    if (ps->n < sizeof ps->v / sizeof ps->v[0])
        ps->v[ps->n++] = p;
    return p;
}

/* Previous value of a port in an old fleet.json, so that a restarted fleet keeps its
 * addresses when they are still free. */
static int old_port(json_t *old, const char *section, int idx, const char *key)
{
    json_t *arr = strcmp(section, "hub") == 0
                      ? json_object_get(json_object_get(old, "hub"), "nodes")
                      : json_object_get(old, section);
    return geti(json_array_get(arr, (size_t)idx), key);
}

/* Writes every config and the fleet.json of a fleet of n vehicles, reusing the passwords
 * and (when free) the ports of `old` (may be NULL). */
static int plan(fleet *f, int n, const char *env, bool dashboard, json_t *old, ae_err *err)
{
    char sub[PATH_MAX + 16];
    static const char *const subs[] = {"conf", "data", "logs"};
    for (int i = 0; i < 3; i++) {
        snprintf(sub, sizeof sub, "%s/%s", f->dir, subs[i]);
        if (ae_proc_mkdirs(sub, err) != 0)
            return AE_EIO;
    }
    char op_pw[25];
    gen_password(op_pw, sizeof op_pw);
    const char *o = gets(json_object_get(old, "operator"), "password");
    if (*o)
        snprintf(op_pw, sizeof op_pw, "%s", o);

    /* One nkey per vehicle, kept across runs; a revoked vehicle gets none (its revocation
     * stands until `aerie creds add` issues a new key). Identities issued by `aerie creds add`
     * for vehicles outside this fleet stay in the hub configs too. */
    json_t *reg = creds(f);
    int rc = ae_creds_ensure_service(f->dir, reg, err);
    for (int i = 0; i < n && rc >= 0; i++) {
        char vid[32];
        snprintf(vid, sizeof vid, "VID-%03d", i + 1);
        if (!ae_creds_is_revoked(reg, vid))
            rc = ae_creds_issue(f->dir, reg, vid, NULL, err);
    }
    if (rc < 0 || ae_creds_registry_save(f->dir, reg, err) != 0)
        return rc < 0 ? rc : AE_EIO;
    char *users = ae_creds_region_text(reg, NULL);
    if (!users)
        return ae_err_set(err, AE_ENOMEM, "out of memory");

    portset ps = {.n = 0};
    int client[HUB_NODES], cluster[HUB_NODES], leafp[HUB_NODES], http[HUB_NODES];
    for (int i = 0; i < HUB_NODES; i++) {
        if ((client[i] = pick(&ps, SOCK_STREAM, old_port(old, "hub", i, "client_port"), err)) < 0 ||
            (cluster[i] = pick(&ps, SOCK_STREAM, old_port(old, "hub", i, "cluster_port"), err)) <
                0 ||
            (leafp[i] = pick(&ps, SOCK_STREAM, old_port(old, "hub", i, "leaf_port"), err)) < 0 ||
            (http[i] = pick(&ps, SOCK_STREAM, old_port(old, "hub", i, "http_port"), err)) < 0)
            return AE_EIO;
    }
    json_t *root = json_object();
    char ts[48];
    json_object_set_new(root, "env", json_string(env));
    json_object_set_new(root, "created",
                        json_string(ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)));
    json_t *urls = json_array(), *nodes = json_array();
    for (int i = 0; i < HUB_NODES; i++) {
        char url[256], name[16], conf[PATH_MAX + 64], data[PATH_MAX + 64];
        snprintf(url, sizeof url, "nats://operator:%s@127.0.0.1:%d", op_pw, client[i]);
        json_array_append_new(urls, json_string(url));
        snprintf(name, sizeof name, "hub%d", i + 1);
        json_array_append_new(nodes, json_pack("{s:s, s:i, s:i, s:i, s:i}", "name", name,
                                               "client_port", client[i], "cluster_port", cluster[i],
                                               "leaf_port", leafp[i], "http_port", http[i]));
        snprintf(conf, sizeof conf, "%s/conf/%s.conf", f->dir, name);
        snprintf(data, sizeof data, "%s/data/%s", f->dir, name);
        char routes[512];
        int rl = 0;
        for (int k = 0; k < HUB_NODES; k++)
            rl += snprintf(routes + rl, sizeof routes - (size_t)rl,
                           "    \"nats-route://127.0.0.1:%d\"\n", cluster[k]);
        rc = write_text(
            conf, err,
            "# Hub node %s of the local fleet in %s (written by `aerie up`).\n"
            "server_name: %s\n"
            "listen: \"127.0.0.1:%d\"\n"
            "http: \"127.0.0.1:%d\"\n"
            "\n"
            "jetstream {\n"
            "  store_dir: \"%s\"\n"
            "  max_memory_store: 256MB\n"
            "  max_file_store: 4GB\n"
            "  domain: hub\n"
            "}\n"
            "\n"
            "cluster {\n"
            "  name: aerie\n"
            "  listen: \"127.0.0.1:%d\"\n"
            "  routes: [\n%s  ]\n"
            "}\n"
            "\n"
            "# Each vehicle leaf logs in with its own nkey (seed in %s/creds); people and\n"
            "# the aerie CLI log in as `operator`, on client connections only. A connection\n"
            "# without credentials becomes aerie-nobody, whom no connection type may use,\n"
            "# so it is refused. nats-server 2.9.10 reads no_auth_user only at start.\n"
            "# See docs/security.md.\n"
            "no_auth_user: \"" AE_SEC_NOBODY_USER "\"\n"
            "\n"
            "leafnodes {\n"
            "  listen: \"127.0.0.1:%d\"\n"
            "}\n"
            "\n"
            "authorization {\n"
            "  users = [\n"
            "    { user: operator, password: \"%s\", allowed_connection_types: "
            "[\"STANDARD\"] }\n"
            "%s"
            "  ]\n"
            "}\n",
            name, f->dir, name, client[i], http[i], data, cluster[i], routes, f->dir, leafp[i],
            op_pw, users);
        if (rc != 0) {
            free(users);
            return AE_EIO;
        }
    }
    free(users);
    json_object_set_new(root, "hub",
                        json_pack("{s:o, s:s, s:s, s:o}", "urls", urls, "js_domain", "hub",
                                  "cluster", "aerie", "nodes", nodes));
    json_object_set_new(root, "operator",
                        json_pack("{s:s, s:s}", "user", "operator", "password", op_pw));
    int dash = 0;
    if (dashboard) {
        if ((dash = pick(&ps, SOCK_STREAM, geti(json_object_get(old, "dashboard"), "port"), err)) <
            0)
            return AE_EIO;
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", dash);
        json_object_set_new(root, "dashboard", json_pack("{s:i, s:s}", "port", dash, "url", url));
    }

    json_t *vehicles = json_array();
    for (int i = 0; i < n; i++) {
        char vid[32];
        snprintf(vid, sizeof vid, "VID-%03d", i + 1);
        int lp, lh, mp, rp, rcp;
        char seed[PATH_MAX + 64];
        snprintf(seed, sizeof seed, "%s/creds/%s.nk", f->dir, vid);
        if ((lp = pick(&ps, SOCK_STREAM, old_port(old, "vehicles", i, "leaf_port"), err)) < 0 ||
            (lh = pick(&ps, SOCK_STREAM, old_port(old, "vehicles", i, "leaf_http_port"), err)) <
                0 ||
            (mp = pick(&ps, SOCK_DGRAM, old_port(old, "vehicles", i, "mavlink_port"), err)) < 0 ||
            (rp = pick(&ps, SOCK_STREAM, old_port(old, "vehicles", i, "relay_port"), err)) < 0 ||
            (rcp = pick(&ps, SOCK_STREAM, old_port(old, "vehicles", i, "relay_control_port"),
                        err)) < 0)
            return AE_EIO;
        int hub = i % HUB_NODES;
        /* Homes on a grid around Zurich, ~450 m apart; missions of different sizes and
         * start times, and every third drone an ArduPilot, so the fleet looks alive. */
        double lat = 47.3977 + (i / 4) * 0.004, lon = 8.5456 + (i % 4) * 0.006,
               alt = 488 + (i % 5) * 3;
        int size = 80 + (i * 37) % 120, delay = 2 + (i * 5) % 17;
        const char *ap = i % 3 == 2 ? "ardupilot" : "px4";
        json_array_append_new(
            vehicles, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:[f,f,f], s:s, s:i, s:i}",
                                "vid", vid, "leaf_port", lp, "leaf_http_port", lh, "mavlink_port",
                                mp, "relay_port", rp, "relay_control_port", rcp, "hub",
                                json_string_value(
                                    json_object_get(json_array_get(nodes, (size_t)hub), "name")),
                                "home", lat, lon, (double)alt, "autopilot", ap, "mission_size",
                                size, "mission_delay_s", delay));
        char conf[PATH_MAX + 64], store[PATH_MAX + 64];
        snprintf(conf, sizeof conf, "%s/conf/leaf-%s.conf", f->dir, vid);
        snprintf(store, sizeof store, "%s/data/%s", f->dir, vid);
        if (write_text(
                conf, err,
                "# aerie-leaf of %s in the local fleet %s (written by `aerie up`).\n"
                "server_name: \"%s\"\n"
                "listen: \"127.0.0.1:%d\"\n"
                "http: \"127.0.0.1:%d\"\n"
                "ping_interval: \"2s\"\n"
                "\n"
                "# The uplink goes through this vehicle's aerie-relay (port %d, control %d)\n"
                "# to hub node %s; `aerie link cut %s` cuts it there. Only that URL is\n"
                "# dialled: URLs the hub advertises would go around the relay. The leaf signs\n"
                "# in with this vehicle's own nkey (`aerie revoke %s` takes it away).\n"
                "leafnodes {\n"
                "  remotes = [\n"
                "    { urls: [\"nats-leaf://127.0.0.1:%d\"], nkey: \"%s\", "
                "ignore_discovered_urls: true }\n"
                "  ]\n"
                "  reconnect: \"200ms\"\n"
                "  reconnect_max: \"2s\"\n"
                "  dead_link_timeout: \"6s\"\n"
                "}\n"
                "\n"
                "store { dir: \"%s\", sync: \"10ms\" }\n"
                "\n"
                "uplink {\n"
                "  subjects: [\"fleet.%s.veh.%s.state.>\", \"fleet.%s.veh.%s.event.>\"]\n"
                "  vid: \"%s\"\n"
                "  env: \"%s\"\n"
                "  domain: hub\n"
                "  status_interval: \"2s\"\n"
                "  live: true\n"
                "}\n",
                vid, f->dir, vid, lp, lh, rp, rcp,
                json_string_value(json_object_get(json_array_get(nodes, (size_t)hub), "name")), vid,
                vid, rp, seed, store, env, vid, env, vid, vid, env) != 0)
            return AE_EIO;
        snprintf(conf, sizeof conf, "%s/conf/gw-%s.conf", f->dir, vid);
        if (write_text(conf, err,
                       "# aerie-gw of %s in the local fleet %s (written by `aerie up`).\n"
                       "vid: \"%s\"\n"
                       "env: \"%s\"\n"
                       "nats: \"nats://127.0.0.1:%d\"\n"
                       "mavlink: [\"udp://127.0.0.1:%d\"]\n"
                       "# Enough for a live map without filling a laptop's disk.\n"
                       "rate_limits { position: 5, attitude: 1 }\n",
                       vid, f->dir, vid, env, lp, mp) != 0)
            return AE_EIO;
    }
    json_object_set_new(root, "vehicles", vehicles);
    /* The leaves report every 2 s: three missed reports mean the vehicle is cut off. */
    json_object_set_new(root, "stale", json_string("6s"));
    json_object_set_new(root, "processes", json_array());
    json_decref(f->root);
    f->root = root;

    /* The processes, in start order. */
    for (int i = 0; i < HUB_NODES; i++) {
        char name[16], conf[PATH_MAX + 64];
        snprintf(name, sizeof name, "hub%d", i + 1);
        snprintf(conf, sizeof conf, "%s/conf/%s.conf", f->dir, name);
        add_proc(f, name, "hub", "nats-server", http[i], f->nats_server, "-c", conf, NULL);
    }
    size_t i;
    json_t *veh;
    json_array_foreach(vehicles, i, veh)
    {
        const char *vid = gets(veh, "vid");
        json_t *hubn = json_array_get(nodes, (size_t)i % HUB_NODES);
        char name[64], a1[32], a2[32], a3[32], conf[PATH_MAX + 64], home[96], url[64], size[16],
            delay[16];
        snprintf(name, sizeof name, "relay-%s", vid);
        snprintf(a1, sizeof a1, "%d", geti(veh, "relay_port"));
        snprintf(a2, sizeof a2, "127.0.0.1:%d", geti(hubn, "leaf_port"));
        snprintf(a3, sizeof a3, "%d", geti(veh, "relay_control_port"));
        json_t *pr[4];
        pr[0] = add_proc(f, name, "relay", "aerie-relay", geti(veh, "relay_control_port"), f->relay,
                         "--listen", a1, "--to", a2, "--control", a3, NULL);
        snprintf(name, sizeof name, "leaf-%s", vid);
        snprintf(conf, sizeof conf, "%s/conf/leaf-%s.conf", f->dir, vid);
        pr[1] = add_proc(f, name, "leaf", "aerie-leaf", geti(veh, "leaf_port"), f->leaf, "-c", conf,
                         NULL);
        snprintf(name, sizeof name, "gw-%s", vid);
        snprintf(conf, sizeof conf, "%s/conf/gw-%s.conf", f->dir, vid);
        pr[2] = add_proc(f, name, "gw", "aerie-gw", 0, f->gw, "-c", conf, NULL);
        snprintf(name, sizeof name, "sim-%s", vid);
        json_t *h = json_object_get(veh, "home");
        snprintf(home, sizeof home, "%.6f,%.6f,%.0f", json_real_value(json_array_get(h, 0)),
                 json_real_value(json_array_get(h, 1)), json_real_value(json_array_get(h, 2)));
        snprintf(url, sizeof url, "udpout://127.0.0.1:%d", geti(veh, "mavlink_port"));
        snprintf(size, sizeof size, "%d", geti(veh, "mission_size"));
        snprintf(delay, sizeof delay, "%d", geti(veh, "mission_delay_s"));
        pr[3] = add_proc(f, name, "sim", "aerie", 0, f->self, "sim", "--mavlink", url, "--home",
                         home, "--autopilot", gets(veh, "autopilot"), "--loop", "--mission-size",
                         size, "--mission-delay", delay, NULL);
        for (int k = 0; k < 4; k++)
            json_object_set_new(pr[k], "vid", json_string(vid));
    }
    if (dashboard) {
        char port[16];
        snprintf(port, sizeof port, "%d", dash);
        add_proc(f, "dashboard", "dashboard", "aerie", dash, f->self, "dashboard", "--dir", f->dir,
                 "--port", port, NULL);
    }
    return fleet_save(f, err);
}

/* ---- starting ------------------------------------------------------------------------ */

/* Starts every process of `kind` that is not running, then waits for each to be ready.
 * *started counts the starts. */
static int start_kind(fleet *f, const char *kind, int *started, ae_err *err)
{
    size_t i;
    json_t *p;
    json_array_foreach(processes(f), i, p)
    {
        if (strcmp(gets(p, "kind"), kind) != 0 || proc_running(f, p) || proc_revoked(f, p))
            continue;
        int rc = start_proc(f, p, err);
        if (rc)
            return rc;
        (*started)++;
    }
    json_array_foreach(processes(f), i, p)
    {
        if (strcmp(gets(p, "kind"), kind) != 0 || (proc_revoked(f, p) && !proc_running(f, p)))
            continue;
        int rc = wait_ready(f, p, strcmp(kind, "hub") == 0 ? 30 : 15, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int init_streams(fleet *f, int counts[3], ae_err *err)
{
    ae_cli c;
    ae_cli_init(&c);
    c.dir = f->dir;
    c.server = NULL;
    c.user = c.password = NULL;
    int rc = ae_cli_connect(&c, err);
    /* The first stream creation fails until the cluster has a meta leader and every peer
     * reported in; retry for a while. */
    int64_t deadline = ae_mono_ns() + 30 * AE_NS_PER_SEC;
    while (rc == 0) {
        rc = ae_hub_init_defaults(&c, HUB_NODES, counts, err);
        if (rc == 0 || ae_mono_ns() > deadline)
            break;
        rc = 0;
        sleep_ms(500);
    }
    ae_cli_close(&c);
    return rc;
}

/* Polls the fleet status until every vehicle is online (or the wait ends); returns the last
 * status array (caller decrefs) or NULL. */
static json_t *wait_online(fleet *f, int wait_s, int *online)
{
    ae_cli c;
    ae_cli_init(&c);
    c.dir = f->dir;
    c.server = NULL;
    c.user = c.password = NULL;
    ae_err err = {0};
    json_t *st = NULL;
    *online = 0;
    size_t want = 0, vi;
    json_t *vj;
    json_array_foreach(json_object_get(f->root, "vehicles"), vi,
                       vj) if (!ae_creds_is_revoked(creds(f), gets(vj, "vid"))) want++;
    int64_t deadline = ae_mono_ns() + (int64_t)wait_s * AE_NS_PER_SEC;
    if (ae_cli_connect(&c, &err) == 0) {
        for (;;) {
            json_decref(st);
            st = NULL;
            *online = 0;
            if (ae_status_collect(&c, 6 * AE_NS_PER_SEC, &st, &err) == 0) {
                size_t i;
                json_t *o;
                json_array_foreach(st, i, o)
                {
                    if (json_is_true(json_object_get(o, "online")) &&
                        json_is_object(json_object_get(o, "position")) &&
                        json_is_object(json_object_get(o, "link")))
                        (*online)++;
                }
            }
            if ((size_t)*online >= want || ae_mono_ns() > deadline)
                break;
            sleep_ms(500);
        }
    }
    ae_cli_close(&c);
    return st;
}

static void print_summary(fleet *f, json_t *status, int online, const char *streams_line)
{
    json_t *root = f->root;
    json_t *nodes = json_object_get(json_object_get(root, "hub"), "nodes");
    json_t *vehicles = json_object_get(root, "vehicles");
    const char *d = f->shown;
    printf("\nAerie fleet in %s: env %s, %zu vehicles, %d online\n\n", f->dir, gets(root, "env"),
           json_array_size(vehicles), online);
    printf("Hub: nats-server cluster \"aerie\", JetStream domain \"hub\"\n");
    size_t i;
    json_t *o;
    json_array_foreach(nodes, i, o)
    {
        json_t *p = find_proc(f, gets(o, "name"));
        printf("  %-5s client nats://127.0.0.1:%-5d  leafnodes :%-5d  monitor "
               "http://127.0.0.1:%d  pid %lld\n",
               gets(o, "name"), geti(o, "client_port"), geti(o, "leaf_port"), geti(o, "http_port"),
               (long long)json_integer_value(json_object_get(p, "pid")));
    }
    if (streams_line)
        printf("  %s\n", streams_line);
    printf("  operator login: user operator, password in %s/fleet.json\n\n", d);
    printf(
        "Vehicles: aerie sim --MAVLink/UDP--> aerie-gw --> aerie-leaf --> aerie-relay --> hub\n");
    printf("  %-8s %-22s %-10s %-22s %s\n", "VID", "LEAF (clients)", "MAVLINK", "UPLINK", "DRONE");
    json_array_foreach(vehicles, i, o)
    {
        char leaf[40], mav[24], up[40], drone[64];
        snprintf(leaf, sizeof leaf, "nats://127.0.0.1:%d", geti(o, "leaf_port"));
        snprintf(mav, sizeof mav, "udp :%d", geti(o, "mavlink_port"));
        snprintf(up, sizeof up, "relay :%d -> %s", geti(o, "relay_port"), gets(o, "hub"));
        snprintf(drone, sizeof drone, "%s, %d m square", gets(o, "autopilot"),
                 geti(o, "mission_size"));
        if (ae_creds_is_revoked(creds(f), gets(o, "vid")))
            snprintf(drone, sizeof drone, "REVOKED: not started by up");
        printf("  %-8s %-22s %-10s %-22s %s\n", gets(o, "vid"), leaf, mav, up, drone);
    }
    json_array_foreach(vehicles, i, o)
    {
        const char *vid = gets(o, "vid");
        if (!ae_creds_is_revoked(creds(f), vid))
            continue;
        char name[64];
        snprintf(name, sizeof name, "leaf-%s", vid);
        json_t *lp = find_proc(f, name);
        printf("  %s: identity revoked (`aerie revoke`); %s. `aerie creds add %s --dir %s` "
               "issues a new key, then `aerie up --dir %s` starts it\n",
               vid,
               lp && proc_running(f, lp) ? "its processes still run from before the revocation"
                                         : "skipped, not started",
               vid, d, d);
    }
    printf("  Vehicle keys: %s/creds/ (one nkey each; the hubs refuse leaves without one)\n", d);
    json_t *dash = json_object_get(root, "dashboard");
    if (dash)
        printf("\nDashboard: %s\n", gets(dash, "url"));
    printf("Logs: %s/logs/   Configs: %s/conf/   Data: %s/data/\n", d, d, d);
    if (status && json_array_size(status) > 0) {
        printf("\n");
        ae_status_print_table(status, stdout);
    }
    /* Examples name vehicles that run: not a revoked one. */
    const char *v1 = NULL, *v2 = NULL;
    json_array_foreach(vehicles, i, o)
    {
        if (ae_creds_is_revoked(creds(f), gets(o, "vid")))
            continue;
        if (!v1)
            v1 = gets(o, "vid");
        else if (!v2)
            v2 = gets(o, "vid");
    }
    if (!v1)
        v1 = gets(json_array_get(vehicles, 0), "vid");
    if (!v2)
        v2 = v1;
    printf("\nTry next:\n");
    printf("  aerie status --dir %s\n", d);
    printf("  aerie twin %s --dir %s\n", v1, d);
    printf("  aerie replay %s --since 30s --subject state.battery --dir %s\n", v1, d);
    printf("  aerie cmd %s rtl --dir %s\n", v1, d);
    printf("  aerie link cut %s --for 20s --dir %s    # an outage; watch status, then replay\n", v2,
           d);
    printf("  aerie down --dir %s\n", d);
    fflush(stdout);
}

static int find_programs(fleet *f, ae_err *err)
{
    if (ae_proc_find_nats_server(f->nats_server, sizeof f->nats_server, err) != 0)
        return AE_ENOENT;
    if (ae_proc_self_exe(f->self, sizeof f->self) != 0)
        return ae_err_set(err, AE_EIO, "cannot find the aerie executable (/proc/self/exe)");
    struct {
        const char *name;
        char *out;
    } progs[] = {{"aerie-leaf", f->leaf}, {"aerie-gw", f->gw}, {"aerie-relay", f->relay}};
    for (size_t i = 0; i < 3; i++)
        if (ae_proc_find_program(progs[i].name, progs[i].out, PATH_MAX) != 0)
            return ae_err_set(err, AE_ENOENT,
                              "cannot find %s next to %s or on PATH: build it (cmake --build "
                              "BUILD) or install Aerie",
                              progs[i].name, f->self);
    return 0;
}

/* One audit entry for an `up` that started something (audit.h). The hub is up by now, so
 * the entry reaches the AUDIT stream as well as DIR/audit.log. */
static void audit_up(fleet *f, int started, int online, const char *error)
{
    ae_cli c;
    ae_cli_init(&c);
    c.dir = f->dir;
    c.server = NULL;
    c.user = c.password = NULL;
    json_t *skipped = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(f->root, "vehicles"), i,
                       v) if (ae_creds_is_revoked(creds(f), gets(v, "vid")))
        json_array_append_new(skipped, json_string(gets(v, "vid")));
    json_t *d = json_pack("{s:i, s:i, s:o}", "vehicles",
                          (int)json_array_size(json_object_get(f->root, "vehicles")), "started",
                          started, "skipped_revoked", skipped);
    if (online >= 0)
        json_object_set_new(d, "online", json_integer(online));
    if (error)
        json_object_set_new(d, "error", json_string(error));
    ae_audit(&c, "up", NULL, d, error ? "error" : "ok");
    json_decref(d);
    ae_cli_close(&c);
}

static int usage_up(void)
{
    fprintf(stderr,
            "usage: aerie up [--vehicles N] [--dir DIR] [--env ENV] [--no-dashboard]\n"
            "  Starts a local fleet: a 3-node nats-server hub with JetStream and N vehicles\n"
            "  (default %d), each aerie-leaf + aerie-gw + a simulated drone. DIR defaults to\n"
            "  $AERIE_DIR, else ./.fleet. Running it again starts only what is not running.\n",
            DEFAULT_N);
    return 2;
}

int ae_cmd_up(int argc, char **argv)
{
    const char *dir = ae_fleet_default_dir(), *env = "prod";
    int n = DEFAULT_N;
    bool n_given = false, dashboard = true, env_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-dashboard") == 0)
            dashboard = false;
        else if (strncmp(a, "--dir=", 6) == 0)
            dir = a + 6;
        else if (strcmp(a, "--dir") == 0 && v)
            dir = argv[++i];
        else if (strcmp(a, "--env") == 0 && v) {
            env = argv[++i];
            env_given = true;
            if (!ae_cli_valid_token(env)) {
                fprintf(stderr, "aerie up: --env %s: one token of letters, digits, '_' or '-'\n",
                        env);
                return 2;
            }
        } else if ((strcmp(a, "--vehicles") == 0 || strcmp(a, "-n") == 0) && v) {
            char *end;
            long x = strtol(argv[++i], &end, 10);
            if (*end || x < 0 || x > MAX_VEHICLES) {
                fprintf(stderr, "aerie up: --vehicles %s: expected 0..%d\n", argv[i], MAX_VEHICLES);
                return 2;
            }
            n = (int)x;
            n_given = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage_up();
            return 0;
        } else {
            fprintf(stderr, "aerie up: unknown option or missing value: %s\n", a);
            return usage_up();
        }
    }
    fleet f;
    ae_err err = {0};
    int rc = fleet_open(&f, dir, true, &err);
    if (rc != 0 && rc != AE_ENOENT) {
        fprintf(stderr, "aerie up: %s\n", err.msg);
        return 1;
    }
    if (find_programs(&f, &err) != 0) {
        fprintf(stderr, "aerie up: %s\n", err.msg);
        json_decref(f.root);
        return 1;
    }
    /* What is already there? */
    int alive = 0, total = 0;
    if (f.root) {
        size_t i;
        json_t *p;
        json_array_foreach(processes(&f), i, p)
        {
            /* A revoked vehicle's processes are not started again, so they count only while
             * they still run. */
            bool running = proc_running(&f, p);
            if (!running && proc_revoked(&f, p))
                continue;
            total++;
            if (running)
                alive++;
        }
    }
    int have_n = (int)json_array_size(json_object_get(f.root, "vehicles"));
    if (alive > 0 && n_given && n != have_n) {
        fprintf(stderr,
                "aerie up: the fleet in %s is running with %d vehicles; stop it first "
                "(`aerie down --dir %s`) to change the number\n",
                f.shown, have_n, f.shown);
        json_decref(f.root);
        return 1;
    }
    if (alive > 0 && alive == total) {
        printf("aerie up: the fleet in %s is already running (%d processes); nothing started\n",
               f.shown, total);
        int online = 0;
        json_t *st = wait_online(&f, 0, &online);
        print_summary(&f, st, online, NULL);
        json_decref(st);
        json_decref(f.root);
        json_decref(f.creds);
        return 0;
    }
    if (alive == 0) {
        /* A new fleet, or one that was stopped: (re)write everything, keeping passwords,
         * free ports and the data of a previous run. */
        if (!n_given && have_n > 0)
            n = have_n;
        if (!env_given && json_is_string(json_object_get(f.root, "env")))
            env = gets(f.root, "env");
        json_t *old = f.root;
        f.root = NULL;
        rc = plan(&f, n, env, dashboard, old, &err);
        json_decref(old);
        if (rc) {
            fprintf(stderr, "aerie up: %s\n", err.msg);
            json_decref(f.root);
            json_decref(f.creds);
            return 1;
        }
        printf("aerie up: starting a fleet of %d vehicles in %s\n", n, f.shown);
    } else {
        printf("aerie up: %d of %d processes of the fleet in %s are running; starting the "
               "others\n",
               alive, total, f.shown);
    }
    fflush(stdout);
    int started = 0, counts[3] = {0, 0, 0};
    char streams_line[160] = "";
    static const char *const order[] = {"relay", "leaf", "gw", "sim", "dashboard"};
    if ((rc = start_kind(&f, "hub", &started, &err)) != 0)
        goto fail;
    if ((rc = init_streams(&f, counts, &err)) != 0) {
        fprintf(stderr, "aerie up: creating the hub streams failed: %s\n", err.msg);
        goto fail_quiet;
    }
    snprintf(streams_line, sizeof streams_line,
             "streams TWIN_STATE TWIN_EVENTS FLEET_CMD FLEET_LINK TWIN_LIVE (R3): %d created, "
             "%d updated, %d unchanged",
             counts[0], counts[1], counts[2]);
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if ((rc = start_kind(&f, order[k], &started, &err)) != 0)
            goto fail;
    printf("aerie up: started %d processes; waiting up to %d s for the vehicles to report\n",
           started, ONLINE_WAIT_S);
    fflush(stdout);
    int online = 0;
    json_t *st = wait_online(&f, ONLINE_WAIT_S, &online);
    print_summary(&f, st, online, streams_line);
    json_decref(st);
    audit_up(&f, started, online, NULL);
    json_decref(f.root);
    json_decref(f.creds);
    return 0;
fail:
    fprintf(stderr, "aerie up: %s\n", err.msg);
fail_quiet:
    fprintf(stderr,
            "aerie up: the fleet is only partly up; see the logs in %s/logs, then run "
            "`aerie down --dir %s` (or `aerie up --dir %s` again)\n",
            f.shown, f.shown, f.shown);
    if (started > 0)
        audit_up(&f, started, -1, err.msg[0] ? err.msg : "creating the hub streams failed");
    json_decref(f.root);
    json_decref(f.creds);
    return 1;
}

/* ---- down ---------------------------------------------------------------------------- */

/* The audit entry of a `down`, written just before the hub nodes stop so that it still
 * reaches the AUDIT stream. Nothing is recorded when no hub node runs (nothing to do, or
 * nowhere to publish: the local line alone would be a warning on every repeated `down`). */
static void audit_down(fleet *f, int stopped)
{
    size_t i;
    json_t *p;
    int hubs = 0;
    json_array_foreach(processes(f), i,
                       p) if (strcmp(gets(p, "kind"), "hub") == 0 && proc_running(f, p)) hubs++;
    if (hubs == 0)
        return;
    ae_cli c;
    ae_cli_init(&c);
    c.dir = f->dir;
    c.server = NULL;
    c.user = c.password = NULL;
    json_t *d = json_pack("{s:i, s:i}", "vehicle_processes_stopped", stopped, "hub_nodes", hubs);
    ae_audit(&c, "down", NULL, d, "ok");
    json_decref(d);
    ae_cli_close(&c);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static int usage_down(void)
{
    fprintf(stderr, "usage: aerie down [--dir DIR] [--purge]\n"
                    "  Stops the fleet `aerie up` started in DIR (default $AERIE_DIR, else "
                    "./.fleet);\n  --purge also deletes its configs, data, logs and vehicle keys "
                    "(not audit.log).\n");
    return 2;
}

int ae_cmd_down(int argc, char **argv)
{
    const char *dir = ae_fleet_default_dir();
    bool purge = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--purge") == 0)
            purge = true;
        else if (strncmp(argv[i], "--dir=", 6) == 0)
            dir = argv[i] + 6;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage_down();
            return 0;
        } else {
            fprintf(stderr, "aerie down: unknown option or missing value: %s\n", argv[i]);
            return usage_down();
        }
    }
    fleet f;
    ae_err err = {0};
    int rc = fleet_open(&f, dir, false, &err);
    if (rc == AE_ENOENT && !f.dir[0]) {
        fprintf(stderr, "aerie down: %s\n", err.msg);
        return 1;
    }
    if (rc == AE_ENOENT) {
        printf("aerie down: no fleet in %s (no fleet.json); nothing to stop\n", dir);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "aerie down: %s\n", err.msg);
        return 1;
    }
    /* Clients first, the hub last: vehicles then see the hub go away only once they are
     * stopping themselves, and nothing floods the logs with reconnect attempts. */
    static const char *const groups[][3] = {{"dashboard", "sim", "gw"},
                                            {"leaf", NULL, NULL},
                                            {"relay", NULL, NULL},
                                            {"hub", NULL, NULL}};
    json_t *procs = processes(&f);
    size_t np = json_array_size(procs);
    pid_t *pids = calloc(np + 1, sizeof *pids);
    const char **progs = calloc(np + 1, sizeof *progs);
    int stopped = 0;
    for (size_t g = 0; g < 4; g++) {
        if (g == 3)
            audit_down(&f, stopped);
        size_t k = 0;
        size_t i;
        json_t *p;
        json_array_foreach(procs, i, p)
        {
            const char *kind = gets(p, "kind");
            bool in = false;
            for (int j = 0; j < 3; j++)
                in = in || (groups[g][j] && strcmp(groups[g][j], kind) == 0);
            if (!in)
                continue;
            pids[k] = (pid_t)json_integer_value(json_object_get(p, "pid"));
            progs[k] = gets(p, "prog");
            k++;
        }
        stopped += ae_proc_stop_all(pids, progs, k, f.dir, g == 3 ? 10000 : 5000);
    }
    size_t i;
    json_t *p;
    int left = 0;
    json_array_foreach(procs, i, p)
    {
        if (proc_running(&f, p)) {
            left++;
            fprintf(stderr, "aerie down: %s (pid %lld) is still running\n", gets(p, "name"),
                    (long long)json_integer_value(json_object_get(p, "pid")));
        } else {
            json_object_set_new(p, "pid", json_integer(0));
        }
    }
    free(pids);
    free(progs);
    if (!purge && fleet_save(&f, &err) != 0)
        fprintf(stderr, "aerie down: %s\n", err.msg);
    printf("aerie down: stopped %d processes of the fleet in %s\n", stopped, f.shown);
    if (purge && left == 0) {
        /* The vehicle keys go with the fleet; audit.log stays, it is the record. */
        static const char *const subs[] = {"conf", "data", "logs", "creds"};
        char path[PATH_MAX + 16];
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s/%s", f.dir, subs[k]);
            nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        unlink(f.path);
        if (rmdir(f.dir) == 0)
            printf("aerie down: removed %s\n", f.shown);
        else
            printf(
                "aerie down: removed the configs, data, logs and keys in %s (the directory holds "
                "other files and was kept)\n",
                f.shown);
    }
    json_decref(f.root);
    return left ? 1 : 0;
}

/* ---- link ---------------------------------------------------------------------------- */

static int usage_link(void)
{
    fprintf(stderr, "usage: aerie link [status]            the uplink of every vehicle\n"
                    "       aerie link cut VID [--for 30s]  cut a vehicle off the hub (heals "
                    "after --for)\n"
                    "       aerie link heal VID             reconnect it\n"
                    "  [--dir DIR] as for every command (default $AERIE_DIR, else ./.fleet)\n");
    return 2;
}

/* Runs in a detached child: heals the relay after `ns`, unless the fleet stops first. */
static void heal_later(fleet *f, json_t *relay_proc, int control_port, int64_t ns)
{
    pid_t pid = fork();
    if (pid != 0)
        return;
    setsid();
    for (int fd = 0; fd < 1024; fd++)
        close(fd);
    pid_t rp = (pid_t)json_integer_value(json_object_get(relay_proc, "pid"));
    int64_t due = ae_mono_ns() + ns;
    while (ae_mono_ns() < due) {
        if (!ae_proc_owned(rp, "aerie-relay", f->dir))
            _exit(0); /* the fleet went down: nothing to heal */
        sleep_ms(200);
    }
    ae_proc_line_cmd(control_port, "heal", NULL, 0, 2000);
    _exit(0);
}

int ae_cmd_link(int argc, char **argv)
{
    const char *dir = ae_fleet_default_dir(), *verb = NULL, *vid = NULL, *dur = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--dir=", 6) == 0)
            dir = a + 6;
        else if (strcmp(a, "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(a, "--for") == 0 && i + 1 < argc)
            dur = argv[++i];
        else if (a[0] == '-')
            return usage_link();
        else if (!verb)
            verb = a;
        else if (!vid)
            vid = a;
        else
            return usage_link();
    }
    if (!verb)
        verb = "status";
    bool status = strcmp(verb, "status") == 0, cut = strcmp(verb, "cut") == 0,
         heal = strcmp(verb, "heal") == 0;
    if (!(status || cut || heal) || ((cut || heal) && !vid) || (dur && !cut))
        return usage_link();
    int64_t for_ns = 0;
    if (dur && (ae_parse_duration(dur, &for_ns) != 0 || for_ns <= 0)) {
        fprintf(stderr, "aerie link: --for %s: expected a duration such as 30s\n", dur);
        return 2;
    }
    fleet f;
    ae_err err = {0};
    int rc = fleet_open(&f, dir, false, &err);
    if (rc == AE_ENOENT && f.dir[0])
        ae_err_set(&err, AE_ENOENT, "no fleet in %s; start one with `aerie up --dir %s`", dir, dir);
    if (rc) {
        fprintf(stderr, "aerie link: %s\n", err.msg);
        return 1;
    }
    json_t *vehicles = json_object_get(f.root, "vehicles");
    size_t i;
    json_t *v;
    int found = 0, failures = 0;
    if (status)
        printf("%-10s %-8s %-12s %-10s %s\n", "VID", "RELAY", "STATE", "CONNS", "BYTES UP/DOWN");
    json_array_foreach(vehicles, i, v)
    {
        if (vid && strcmp(vid, gets(v, "vid")) != 0)
            continue;
        found++;
        int cport = geti(v, "relay_control_port");
        char name[64], reply[1024];
        snprintf(name, sizeof name, "relay-%s", gets(v, "vid"));
        json_t *rp = find_proc(&f, name);
        if (!rp || !proc_running(&f, rp)) {
            if (status)
                printf("%-10s %-8s %s\n", gets(v, "vid"), "-", "relay not running");
            else
                fprintf(stderr,
                        "aerie link: the relay of %s is not running (`aerie up --dir %s` "
                        "restarts it)\n",
                        gets(v, "vid"), f.shown);
            failures++;
            continue;
        }
        const char *cmd = status ? "stats" : cut ? "cut" : "heal";
        if (ae_proc_line_cmd(cport, cmd, reply, sizeof reply, 3000) != 0 ||
            strncmp(reply, "OK", 2) != 0) {
            fprintf(stderr, "aerie link: the relay of %s (control port %d) did not accept %s: %s\n",
                    gets(v, "vid"), cport, cmd, reply);
            failures++;
            continue;
        }
        if (status) {
            json_t *j = json_loads(reply + 2, 0, NULL);
            char bytes[64];
            snprintf(bytes, sizeof bytes, "%lld/%lld",
                     (long long)json_integer_value(json_object_get(j, "bytes_up")),
                     (long long)json_integer_value(json_object_get(j, "bytes_down")));
            const char *state = gets(j, "state");
            printf("%-10s :%-7d %-12s %-10d %s\n", gets(v, "vid"), geti(v, "relay_port"),
                   strcmp(state, "normal") == 0 ? "up" : state, geti(j, "connections"), bytes);
            json_decref(j);
        } else if (cut) {
            if (for_ns > 0) {
                char d[32];
                heal_later(&f, rp, cport, for_ns);
                printf("link of %s cut (its leaf keeps storing state); it heals by itself in %s, "
                       "or run `aerie link heal %s --dir %s`\n",
                       gets(v, "vid"), ae_cli_fmt_duration(for_ns, d, sizeof d), gets(v, "vid"),
                       f.shown);
            } else {
                printf("link of %s cut (its leaf keeps storing state); heal it with `aerie link "
                       "heal %s --dir %s`\n",
                       gets(v, "vid"), gets(v, "vid"), f.shown);
            }
        } else {
            printf("link of %s healed; its leaf reconnects and sends its backlog (watch `aerie "
                   "status --dir %s`)\n",
                   gets(v, "vid"), f.shown);
        }
    }
    if (vid && !found) {
        fprintf(stderr, "aerie link: no vehicle %s in %s/fleet.json\n", vid, f.shown);
        failures++;
    }
    json_decref(f.root);
    return failures ? 1 : 0;
}
