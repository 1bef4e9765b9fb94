/* `aerie up` / `aerie down`: a complete fleet on one machine, under one directory. What the
 * fleet is made of (layout, topology, security) is planned by local_fleet.c; this file
 * starts it, waits for it, reports it, and stops it.
 *
 * Start order and readiness: hub nodes (until each answers /healthz with JetStream), the hub
 * streams of every tenant (retried while the cluster elects its meta leader), the guard,
 * then per vehicle the relay, the leaf (its client port) and the gateway, the drones' pools, then
 * the dashboards. fleet.json is rewritten after every start, so a failure half-way leaves a
 * record that `down` can use.
 *
 * Safety: `up` on a running fleet starts only what is dead; `down` signals a PID only when
 * it is still the process `up` started (proc.h: environment marker and program name). A
 * vehicle revoked while the fleet ran stays revoked when `up` rewrites the configs after a
 * `down`, and `up` does not start its processes again. */
#include "cli/cmd_up.h"
#include "cli/audit.h"
#include "cli/cli.h"
#include "cli/cmd_hub.h"
#include "cli/cmd_twin.h"
#include "cli/creds_registry.h"
#include "cli/local_fleet.h"
#include "cli/proc.h"
#include "cli/retention.h"
#include "cli/sim_drone.h"
#include "cli/up_report.h"
#include "cli/tenant.h"
#include "common/http.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1,000 vehicles take 5,000 of the 10,000 ports ae_proc_free_port draws from. */
#define MAX_VEHICLES 1000
#define DEFAULT_N    10
/* Fleets at least this large get progress lines and a shortened vehicle table. */
#define LARGE_FLEET 50
#define SAVE_EVERY  100 /* PIDs written to fleet.json at least every this many starts */

/* One run of `up` or `down` on a local fleet. */
typedef struct local {
    char dir[PATH_MAX]; /* absolute */
    ae_retention ret;   /* the streams' limits for this run (retention.h) */
    const char *shown;  /* as the user named it, for the printed commands */
    ae_fleet *f;        /* the record; NULL while there is none */
    json_t *creds;      /* DIR/creds/creds.json, or NULL before it is read */
} local;

static void local_close(local *l)
{
    ae_fleet_free(l->f);
    json_decref(l->creds);
}

/* Reads the credential registry (once per command); an unreadable registry counts as empty
 * here, and the next `aerie creds` names the problem. */
static json_t *creds(local *l)
{
    if (!l->creds) {
        ae_err err = {0};
        l->creds = ae_creds_registry_load(l->dir, &err);
        if (!l->creds) {
            fprintf(stderr, "aerie: warning: %s\n", err.msg);
            l->creds = json_pack("{s:{}}", "vehicles");
        }
    }
    return l->creds;
}

static bool running(local *l, const ae_fleet_proc *p)
{
    return ae_fleet_proc_running(l->f, p);
}

/* True when the process belongs to a vehicle whose identity was revoked (a pool of drones:
 * when all its vehicles were): `up` must not start it again (its leaf would only be refused,
 * and the drone should stay grounded). */
static bool revoked(local *l, const ae_fleet_proc *p)
{
    if (p->vid)
        return ae_creds_is_revoked(creds(l), p->vid);
    for (size_t i = 0; i < p->n_vids; i++)
        if (!ae_creds_is_revoked(creds(l), p->vids[i]))
            return false;
    return p->n_vids > 0;
}

/* ---- starting ------------------------------------------------------------------------ */

/* Starts one recorded process from its argv and records its PID (in memory: start_kind
 * saves fleet.json every SAVE_EVERY starts, since rewriting a 1,000-vehicle record after
 * every start would cost more than the starts). */
static int start_proc(local *l, ae_fleet_proc *p, ae_err *err)
{
    pid_t pid = ae_proc_spawn_daemon(p->argv, p->log, l->dir, l->dir, err);
    if (pid < 0)
        return (int)pid;
    p->pid = pid;
    char ts[48];
    free(p->started);
    p->started = strdup(ae_format_rfc3339(ae_now_ns(), ts, sizeof ts));
    return 0;
}

/* True when the fleet is large enough for progress lines. */
static bool large(const local *l)
{
    return l->f->n_vehicles >= LARGE_FLEET;
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

/* One look at a started process: 1 ready (its port accepts or, for a hub node, /healthz
 * says JetStream is up), 0 not yet, or an AE_E* with a message when it died. */
static int check_ready(local *l, const ae_fleet_proc *p, ae_err *err)
{
    if (!running(l, p)) {
        char tail[300];
        log_tail(p->log, tail, sizeof tail);
        return ae_err_set(err, AE_EIO, "%s (%s) exited during start-up; its log %s ends: %s",
                          p->name, p->prog, p->log, tail);
    }
    if (strcmp(p->kind, AE_KIND_HUB) == 0)
        return ae_http_get("127.0.0.1", p->ready_port, "/healthz?js-enabled-only=true", NULL,
                           1000) == 200;
    if (p->ready_port > 0)
        return ae_proc_tcp_ready(p->ready_port, 200);
    return 1;
}

/* How many processes of one kind start at once: $AERIE_UP_WAVE when set, else 32 per CPU
 * (64 on 2 cores), 16 to 256. A start execs a program that loads its libraries and sets
 * up; 1,000 gateways started at once put a 2-core machine's load over 900 and starved the
 * processes already running (docs/benchmarks.md, "Fleet scale"). 32 per CPU keeps every
 * core busy with starts while the run queue stays short; a kind with no more processes
 * than this starts all at once, as before. */
static size_t wave_size(void)
{
    const char *e = getenv("AERIE_UP_WAVE"); /* an operator's (and a test's) choice */
    char *end;
    long given = e ? strtol(e, &end, 10) : 0;
    if (e && *e && !*end && given >= 1)
        return (size_t)given;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long k = 32 * (cpus > 0 ? cpus : 1);
    return (size_t)(k < 16 ? 16 : k > 256 ? 256 : k);
}

/* A started process without a readiness port gives up its place in the wave once it is
 * idle: asleep (ae_proc_busy) and without using CPU between two looks at least
 * SETTLE_LOOK_NS apart (a program can sleep for a moment during its start-up, waiting for
 * a connection), or after SETTLE_MAX_NS in any case. */
#define SETTLE_LOOK_NS (100 * AE_NS_PER_MS)
#define SETTLE_MAX_NS  (5 * AE_NS_PER_SEC)

/* The starting of one kind of process (start_kind): each recorded process's part in it. */
enum { SK_NONE, SK_TODO, SK_CHECK, SK_STARTING, SK_READY };

typedef struct kind_start {
    local *l;
    unsigned char *state; /* SK_* per recorded process */
    int64_t *since;       /* when each was started (or first checked) */
    int64_t *ticks;       /* its CPU ticks at the last look of a port-less one, -1 none */
    int64_t *looked;      /* when those ticks were read */
    size_t n, ready, inflight, wave;
    int timeout_s;
    int started;
} kind_start;

/* True once a started process without a readiness port is idle (SETTLE_LOOK_NS). */
static bool settled(kind_start *k, size_t i, int64_t now)
{
    pid_t pid = k->l->f->procs[i].pid;
    if (now - k->since[i] >= SETTLE_MAX_NS)
        return true;
    if (k->ticks[i] >= 0 && now - k->looked[i] < SETTLE_LOOK_NS)
        return false; /* too soon to compare */
    int64_t was = k->ticks[i], is = ae_proc_cpu_ticks(pid);
    k->ticks[i] = is;
    k->looked[i] = now;
    return was >= 0 && is == was && !ae_proc_busy(pid);
}

/* One look at process i: 1 ready, 0 not yet, or an AE_E* when it died or timed out. In a
 * kind started in waves a process without a port counts once it settled. */
static int look(kind_start *k, size_t i, int64_t now, ae_err *err)
{
    const ae_fleet_proc *p = &k->l->f->procs[i];
    int r = check_ready(k->l, p, err);
    if (r == 1 && p->ready_port <= 0 && k->n > k->wave && k->state[i] == SK_STARTING &&
        !settled(k, i, now))
        r = 0;
    if (r == 0 && now - k->since[i] > (int64_t)k->timeout_s * AE_NS_PER_SEC)
        r = ae_err_set(err, AE_ETIMEOUT, "%s did not become ready within %d s (log: %s)", p->name,
                       k->timeout_s, p->log);
    return r;
}

/* Starts what the wave has room for. Returns 0 or an AE_E*. */
static int launch(kind_start *k, ae_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < k->l->f->n_procs && k->inflight < k->wave && rc == 0; i++) {
        if (k->state[i] != SK_TODO)
            continue;
        rc = start_proc(k->l, &k->l->f->procs[i], err);
        if (rc)
            break;
        k->state[i] = SK_STARTING;
        k->since[i] = ae_mono_ns();
        k->inflight++;
        if (++k->started % SAVE_EVERY == 0)
            rc = ae_fleet_save(k->l->f, 0, err);
    }
    return rc;
}

/* Looks at every process not ready yet. Returns 0 or an AE_E*; *freed says whether a place
 * in the wave came free. */
static int look_all(kind_start *k, bool *freed, ae_err *err)
{
    int64_t now = ae_mono_ns();
    *freed = false;
    for (size_t i = 0; i < k->l->f->n_procs; i++) {
        if (k->state[i] != SK_CHECK && k->state[i] != SK_STARTING)
            continue;
        int r = look(k, i, now, err);
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        if (k->state[i] == SK_STARTING)
            k->inflight--, *freed = true;
        k->state[i] = SK_READY;
        k->ready++;
    }
    return 0;
}

/* Starts every process of `kind` that is not running, at most wave_size() at a time, the
 * next ones as earlier ones become ready, and returns once all of the kind are ready. The
 * timeout of each grows with their number (a loaded machine starts 1,000 leaves more slowly
 * than 10). *started counts the starts. */
static int start_kind(local *l, const char *kind, int *started, ae_err *err)
{
    size_t np = l->f->n_procs;
    kind_start k = {.l = l, .wave = wave_size()};
    k.state = calloc(np + 1, sizeof *k.state);
    k.since = calloc(np + 1, sizeof *k.since);
    k.ticks = malloc((np + 1) * sizeof *k.ticks);
    k.looked = calloc(np + 1, sizeof *k.looked);
    int rc =
        k.state && k.since && k.ticks && k.looked ? 0 : ae_err_set(err, AE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < np; i++)
        k.ticks[i] = -1;
    int64_t start = ae_mono_ns(), shown = start;
    for (size_t i = 0; i < np && rc == 0; i++) {
        const ae_fleet_proc *p = &l->f->procs[i];
        bool run = strcmp(p->kind, kind) == 0 && running(l, p);
        if (strcmp(p->kind, kind) != 0 || (!run && revoked(l, p)))
            continue;
        k.state[i] = run ? SK_CHECK : SK_TODO;
        k.since[i] = start;
        k.n++;
    }
    /* As long as a kind of n started all at once was given, but from each one's own start. */
    k.timeout_s = (strcmp(kind, AE_KIND_HUB) == 0 ? 30 : 15) + (int)(k.n / 20);
    while (rc == 0 && k.ready < k.n) {
        bool freed = false;
        rc = launch(&k, err);
        if (rc == 0)
            rc = look_all(&k, &freed, err);
        if (rc || k.ready == k.n)
            break;
        if (large(l) && ae_mono_ns() - shown > 2 * AE_NS_PER_SEC) {
            printf("aerie up:   %s: %zu of %zu ready\n", kind, k.ready, k.n);
            fflush(stdout);
            shown = ae_mono_ns();
        }
        if (!freed)
            ae_sleep_ms(100);
    }
    *started += k.started;
    /* Saved even after a failed start: `down` needs the PIDs of those that did start. */
    ae_err serr = {0};
    int src = k.started > 0 ? ae_fleet_save(l->f, 0, &serr) : 0;
    if (rc == 0 && src) {
        *err = serr;
        rc = src;
    }
    if (rc == 0 && large(l) && k.n > 0) {
        printf("aerie up:   %s: all %zu ready in %.1f s\n", kind, k.n,
               (double)(ae_mono_ns() - start) / 1e9);
        fflush(stdout);
    }
    free(k.state);
    free(k.since);
    free(k.ticks);
    free(k.looked);
    return rc;
}

/* A CLI context on the fleet's own hub as tenant `tenant` (NULL: the first), with the
 * operator's login from fleet.json. */
static void local_cli(local *l, ae_cli *c, const char *tenant)
{
    ae_cli_init(c);
    c->dir = l->dir;
    c->server = NULL;
    c->user = c->password = NULL;
    c->tenant = tenant;
}

/* Every tenant's streams; counts add up over the tenants. */
static int init_streams(local *l, int counts[3], ae_err *err)
{
    int rc = 0;
    for (size_t k = 0; k < l->f->n_tenants && !rc; k++) {
        /* Limits not chosen: shares of each node's store for a fleet of one tenant (see
         * ae_local_store_budget for why not for several). */
        ae_retention ret = l->ret;
        ae_retention_fit(&ret, ae_local_store_budget(l->f));
        ae_cli c;
        local_cli(l, &c, l->f->tenants[k].name);
        rc = ae_cli_connect(&c, err);
        /* The first stream creation fails until the cluster has a meta leader and every peer
         * reported in; retry for a while. */
        int64_t deadline = ae_mono_ns() + 30 * AE_NS_PER_SEC;
        while (rc == 0) {
            int one[3] = {0, 0, 0};
            rc = ae_hub_init_defaults(&c, AE_LOCAL_HUB_NODES, &ret, one, err);
            for (int i = 0; i < 3 && rc == 0; i++)
                counts[i] += one[i];
            if (rc == 0 || ae_mono_ns() > deadline)
                break;
            rc = 0;
            ae_sleep_ms(500);
        }
        ae_cli_close(&c);
    }
    return rc;
}

static int count_online(json_t *st)
{
    int online = 0;
    size_t i;
    json_t *o;
    json_array_foreach(st, i, o)
    {
        if (json_is_true(json_object_get(o, "online")) &&
            json_is_object(json_object_get(o, "position")) &&
            json_is_object(json_object_get(o, "link")))
            online++;
    }
    return online;
}

/* The status of every tenant's vehicles, each read with its own tenant's login, in one
 * array (caller decrefs); NULL when none could be read. "Online" uses the fleet's own
 * window, three of its link-report intervals, as `status` does: a shorter one counts a
 * vehicle as offline between two reports (at 1,000 vehicles, reports 10 s apart, a 6 s
 * window saw 450-775 of 1,000 online when all were). */
static json_t *collect_all(local *l)
{
    json_t *all = NULL;
    for (size_t k = 0; k < l->f->n_tenants; k++) {
        ae_cli c;
        local_cli(l, &c, l->f->tenants[k].name);
        ae_err err = {0};
        json_t *st = NULL;
        if (ae_cli_connect(&c, &err) == 0 &&
            ae_status_collect(&c, ae_status_stale_ns(&c, 6 * AE_NS_PER_SEC), &st, &err) == 0) {
            if (!all)
                all = json_array();
            json_array_extend(all, st);
        }
        json_decref(st);
        ae_cli_close(&c);
    }
    return all;
}

/* Polls the fleet status until every vehicle is online (or the wait ends); returns the last
 * status array (caller decrefs) or NULL. */
static json_t *wait_online(local *l, int wait_s, int *online)
{
    json_t *st = NULL;
    *online = 0;
    int want = 0;
    for (size_t i = 0; i < l->f->n_vehicles; i++)
        want += !ae_creds_is_revoked(creds(l), l->f->vehicles[i].vid);
    int64_t deadline = ae_mono_ns() + (int64_t)wait_s * AE_NS_PER_SEC;
    int shown = -1;
    for (;;) {
        json_decref(st);
        st = collect_all(l);
        *online = st ? count_online(st) : 0;
        if (*online >= want || ae_mono_ns() > deadline)
            break;
        if (large(l) && *online != shown) {
            printf("aerie up:   %d of %d vehicles online\n", *online, want);
            fflush(stdout);
            shown = *online;
        }
        ae_sleep_ms(wait_s > 30 ? 2000 : 500);
    }
    return st;
}

static void print_summary(local *l, json_t *status, int online, const char *streams_line)
{
    ae_up_report r = {
        .f = l->f, .reg = creds(l), .dir = l->dir, .shown = l->shown, .large = large(l)};
    ae_up_print_summary(&r, status, online, streams_line);
}

/* One audit entry for an `up` that started something (audit.h). The hub is up by now, so
 * the entry reaches the AUDIT stream as well as DIR/audit.log. */
static void audit_up(local *l, int started, int online, const char *error)
{
    ae_cli c;
    local_cli(l, &c, NULL);
    json_t *skipped = json_array();
    for (size_t i = 0; i < l->f->n_vehicles; i++)
        if (ae_creds_is_revoked(creds(l), l->f->vehicles[i].vid))
            json_array_append_new(skipped, json_string(l->f->vehicles[i].vid));
    json_t *d = json_pack("{s:i, s:i, s:o}", "vehicles", (int)l->f->n_vehicles, "started", started,
                          "skipped_revoked", skipped);
    if (online >= 0)
        json_object_set_new(d, "online", json_integer(online));
    if (error)
        json_object_set_new(d, "error", json_string(error));
    ae_audit(&c, "up", NULL, d, error ? "error" : "ok");
    json_decref(d);
    ae_cli_close(&c);
}

/* ---- up ------------------------------------------------------------------------------ */

#define MAX_TENANTS 16

typedef struct up_opts {
    const char *dir, *env;
    int n;
    bool n_given, env_given, dashboard;
    double telemetry_hz; /* 0: not given */
    ae_retention ret;
    ae_fleet *ret_given; /* the retention options given, as pairs (fleet.h: "retention") */
    ae_local_tenant tenants[MAX_TENANTS];
    int n_tenants; /* given with --tenant; 0: as recorded, else one "default" */
} up_opts;

static int usage_up(void)
{
    fprintf(stderr,
            "usage: aerie up [--vehicles N] [--tenant NAME[:N][:free]]... [--dir DIR] [--env ENV]\n"
            "                [--no-dashboard] [--telemetry-hz H]\n"
            "  Starts a local fleet: a 3-node nats-server hub with JetStream and N vehicles\n"
            "  (default %d), each aerie-leaf + aerie-gw + a simulated drone. DIR defaults to\n"
            "  $AERIE_DIR, else ./.fleet. Running it again starts only what is not running.\n"
            "  --tenant (repeatable): tenants sharing the hubs, each with N vehicles (default\n"
            "  --vehicles), its own account, streams, operator and dashboard; \":free\" puts it\n"
            "  on the free tier (at most %d vehicles). Without it: one tenant, \"default\".\n"
            "  --vehicles: up to %d; ids VID-001.. in start order, four digits from 1,000 on.\n"
            "  --telemetry-hz H: position reports per second of each simulated drone\n"
            "  (0.01..50, default 10, `aerie sim --telemetry-hz`), and at most H per second of\n"
            "  each kind of state its gateway forwards (docs/benchmarks.md sizes fleets to a\n"
            "  machine). Kept for later `up`s of this fleet until given again.\n"
            "  Processes of a kind start at most 32 per CPU at a time ($AERIE_UP_WAVE: N).\n"
            "  The hub streams' retention (docs/deploy.md): as for `aerie hub init`, each\n"
            "  option kept for later `up`s of this fleet until given again (else the\n"
            "  defaults); with one tenant, max_bytes default to shares of 90%% of each node's\n"
            "  %s store.\n%s",
            DEFAULT_N, AE_FREE_TIER_VEHICLES, MAX_VEHICLES, AE_LOCAL_HUB_STORE, ae_retention_usage);
    return 2;
}

/* One --tenant option into o. Returns -1 when good, else the exit code. */
static int parse_tenant_opt(const char *spec, up_opts *o)
{
    ae_err err = {0};
    ae_local_tenant *t = &o->tenants[o->n_tenants];
    int n;
    if (o->n_tenants == MAX_TENANTS) {
        fprintf(stderr, "aerie up: at most %d tenants\n", MAX_TENANTS);
        return 2;
    }
    if (ae_tenant_parse_spec(spec, t->name, sizeof t->name, &n, &t->free_tier, &err) != 0) {
        fprintf(stderr, "aerie up: %s\n", err.msg);
        return 2;
    }
    for (int k = 0; k < o->n_tenants; k++)
        if (strcmp(o->tenants[k].name, t->name) == 0) {
            fprintf(stderr, "aerie up: tenant %s is given twice\n", t->name);
            return 2;
        }
    t->vehicles = n; /* -1: --vehicles, filled in once every option is read */
    o->n_tenants++;
    return -1;
}

/* Returns -1 when the options are good, else the exit code. */
static int parse_up(int argc, char **argv, up_opts *o)
{
    *o = (up_opts){.dir = ae_fleet_default_dir(),
                   .env = "prod",
                   .n = DEFAULT_N,
                   .dashboard = true,
                   .ret = ae_retention_defaults(),
                   .ret_given = ae_fleet_new(NULL)};
    if (!o->ret_given) {
        fprintf(stderr, "aerie up: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        ae_err err = {0};
        int r = ae_retention_opt(&o->ret, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie up: %s\n", err.msg);
            return 2;
        }
        if (r > 0) {
            if (ae_fleet_retention_set(o->ret_given, a + 2, v) != 0) {
                fprintf(stderr, "aerie up: out of memory\n");
                return 1;
            }
            i--; /* the loop steps past the value */
            continue;
        }
        if (strcmp(a, "--no-dashboard") == 0) {
            o->dashboard = false;
        } else if (strncmp(a, "--dir=", 6) == 0) {
            o->dir = a + 6;
        } else if (strcmp(a, "--dir") == 0 && v) {
            o->dir = argv[++i];
        } else if (strcmp(a, "--env") == 0 && v) {
            o->env = argv[++i];
            o->env_given = true;
            if (!ae_ident_valid(o->env)) {
                fprintf(stderr, "aerie up: --env %s: one token of letters, digits, '_' or '-'\n",
                        o->env);
                return 2;
            }
        } else if (strcmp(a, "--tenant") == 0 && v) {
            int r = parse_tenant_opt(argv[++i], o);
            if (r >= 0)
                return r;
        } else if ((strcmp(a, "--vehicles") == 0 || strcmp(a, "-n") == 0) && v) {
            char *end;
            long x = strtol(argv[++i], &end, 10);
            if (*end || x < 0 || x > MAX_VEHICLES) {
                fprintf(stderr, "aerie up: --vehicles %s: expected 0..%d\n", argv[i], MAX_VEHICLES);
                return 2;
            }
            o->n = (int)x;
            o->n_given = true;
        } else if (strcmp(a, "--telemetry-hz") == 0 && v) {
            char *end;
            o->telemetry_hz = strtod(argv[++i], &end);
            if (*end || !(o->telemetry_hz >= AE_SIM_HZ_MIN && o->telemetry_hz <= AE_SIM_HZ_MAX)) {
                fprintf(stderr, "aerie up: --telemetry-hz %s: expected %g..%g\n", argv[i],
                        AE_SIM_HZ_MIN, AE_SIM_HZ_MAX);
                return 2;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage_up();
            return 0;
        } else {
            fprintf(stderr, "aerie up: unknown option or missing value: %s\n", a);
            return usage_up();
        }
    }
    for (int k = 0; k < o->n_tenants; k++) {
        ae_local_tenant *t = &o->tenants[k];
        if (t->vehicles < 0)
            t->vehicles = o->n;
        /* Refused here, before anything starts; the hubs would refuse its 11th key anyway. */
        if (t->free_tier && t->vehicles > AE_FREE_TIER_VEHICLES) {
            fprintf(stderr,
                    "aerie up: tenant %s is on the free tier, which allows at most %d vehicles "
                    "(asked for %d)\n",
                    t->name, AE_FREE_TIER_VEHICLES, t->vehicles);
            return 2;
        }
    }
    return -1;
}

/* Raises the soft limit on open files to the hard one: the hub nodes inherit it and hold a
 * connection per vehicle (a 1,000-vehicle fleet puts ~340 leaf connections on each node,
 * plus its files), and `up` itself polls many sockets. Best effort: a failure only means
 * the old limit stays. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Starts what is not running, in order, and reports. Returns the exit code. */
static int start_all(local *l)
{
    ae_err err = {0};
    int started = 0, counts[3] = {0, 0, 0}, rc;
    char streams_line[160] = "";
    static const char *const order[] = {AE_KIND_GUARD, AE_KIND_RELAY, AE_KIND_LEAF,
                                        AE_KIND_GW,    AE_KIND_SIM,   AE_KIND_DASHBOARD};
    raise_fd_limit();
    if ((rc = start_kind(l, AE_KIND_HUB, &started, &err)) != 0)
        goto fail;
    if ((rc = init_streams(l, counts, &err)) != 0) {
        fprintf(stderr, "aerie up: creating the hub streams failed: %s\n", err.msg);
        goto fail_quiet;
    }
    snprintf(streams_line, sizeof streams_line,
             "streams TWIN_STATE TWIN_EVENTS FLEET_CMD FLEET_LINK TWIN_LIVE (R3)%s: %d created, "
             "%d updated, %d unchanged",
             l->f->n_tenants > 1 ? " of every tenant" : "", counts[0], counts[1], counts[2]);
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if ((rc = start_kind(l, order[k], &started, &err)) != 0)
            goto fail;
    /* 20 s for a small fleet; a large one reports in over a longer while on a small machine
     * (1,000 vehicles on 2 cores: all online within a minute of the last start). */
    int wait_s = 20 + (int)(l->f->n_vehicles / 5);
    printf("aerie up: started %d processes; waiting up to %d s for the vehicles to report\n",
           started, wait_s);
    fflush(stdout);
    int online = 0;
    json_t *st = wait_online(l, wait_s, &online);
    print_summary(l, st, online, streams_line);
    json_decref(st);
    audit_up(l, started, online, NULL);
    return 0;
fail:
    fprintf(stderr, "aerie up: %s\n", err.msg);
fail_quiet:
    fprintf(stderr,
            "aerie up: the fleet is only partly up; see the logs in %s/logs, then run "
            "`aerie down --dir %s` (or `aerie up --dir %s` again)\n",
            l->shown, l->shown, l->shown);
    if (started > 0)
        audit_up(l, started, -1, err.msg[0] ? err.msg : "creating the hub streams failed");
    return 1;
}

/* How many recorded processes run (*alive) of those `up` would start (*total). */
static void count_procs(local *l, int *alive, int *total)
{
    *alive = *total = 0;
    for (size_t i = 0; l->f && i < l->f->n_procs; i++) {
        const ae_fleet_proc *p = &l->f->procs[i];
        /* A revoked vehicle's processes are not started again, so they count only while
         * they still run. */
        bool run = running(l, p);
        if (!run && revoked(l, p))
            continue;
        (*total)++;
        *alive += run;
    }
}

/* The tenants to plan: those given, else those recorded (with their vehicle counts, or
 * --vehicles spread as before), else one "default" with --vehicles. */
static int plan_tenants_of(const local *l, const up_opts *o, ae_local_tenant *out)
{
    if (o->n_tenants) {
        memcpy(out, o->tenants, sizeof o->tenants[0] * (size_t)o->n_tenants);
        return o->n_tenants;
    }
    const ae_fleet *f = l->f;
    if (f && f->n_tenants > 1 && !o->n_given) {
        int n = 0;
        for (size_t k = 0; k < f->n_tenants && k < MAX_TENANTS; k++, n++) {
            out[n] = (ae_local_tenant){.free_tier = f->tenants[k].free_tier};
            snprintf(out[n].name, sizeof out[n].name, "%s", f->tenants[k].name);
            for (size_t i = 0; i < f->n_vehicles; i++)
                out[n].vehicles +=
                    strcmp(ae_fleet_vehicle_tenant(f, &f->vehicles[i]), out[n].name) == 0;
        }
        return n;
    }
    int n = o->n;
    if (f && !o->n_given && f->n_vehicles > 0)
        n = (int)f->n_vehicles;
    out[0] = (ae_local_tenant){.vehicles = n};
    snprintf(out[0].name, sizeof out[0].name, "%s",
             f && f->n_tenants ? f->tenants[0].name : AE_TENANT_DEFAULT);
    return 1;
}

/* (Re)plans a fleet that is not running: a new one, or one that was stopped, keeping its
 * passwords, keys, free ports and data. Returns 0 or the exit code. */
static int replan(local *l, const up_opts *o, const ae_local_programs *progs)
{
    ae_local_tenant tenants[MAX_TENANTS];
    int nt = plan_tenants_of(l, o, tenants), n = 0;
    for (int k = 0; k < nt; k++)
        n += tenants[k].vehicles;
    const char *env = o->env;
    if (l->f && !o->env_given && l->f->env)
        env = l->f->env;
    ae_err err = {0};
    ae_fleet *planned = NULL;
    double hz = o->telemetry_hz;
    if (hz == 0 && l->f && l->f->n_vehicles > 0)
        hz = l->f->vehicles[0].drone.telemetry_hz;
    int rc = ae_local_fleet_plan(l->dir, tenants, nt, env, o->dashboard, hz, l->f, creds(l), progs,
                                 &planned, &err);
    if (rc) {
        fprintf(stderr, "aerie up: %s\n", err.msg);
        return 1;
    }
    ae_fleet_free(l->f);
    l->f = planned;
    printf("aerie up: starting a fleet of %d vehicles in %s\n", n, l->shown);
    return 0;
}

/* The retention of this run into l->ret and its options into *kept (pairs, fleet.h): those
 * recorded for the fleet (l->f, may be NULL), each replaced by the same option given now.
 * Returns 0, or 1 with a message when a recorded value no longer parses. */
static int retention_of(local *l, const up_opts *o, ae_fleet *kept)
{
    const ae_fleet *sources[] = {l->f, o->ret_given};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; sources[s] && i + 1 < sources[s]->n_retention; i += 2)
            if (ae_fleet_retention_set(kept, sources[s]->retention[i],
                                       sources[s]->retention[i + 1]) != 0) {
                fprintf(stderr, "aerie up: out of memory\n");
                return 1;
            }
    l->ret = ae_retention_defaults();
    for (size_t i = 0; i + 1 < kept->n_retention; i += 2) {
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", kept->retention[i]);
        char *argv[] = {opt, kept->retention[i + 1], NULL};
        int k = 0;
        ae_err err = {0};
        if (ae_retention_opt(&l->ret, 2, argv, &k, &err) <= 0) {
            fprintf(stderr, "aerie up: %s/fleet.json \"retention\": %s\n", l->shown,
                    err.msg[0] ? err.msg : "unknown option");
            return 1;
        }
    }
    return 0;
}

/* Records the retention options of this run in the fleet record (saved with it). */
static int keep_retention(local *l, const ae_fleet *kept)
{
    for (size_t i = 0; i + 1 < kept->n_retention; i += 2)
        if (ae_fleet_retention_set(l->f, kept->retention[i], kept->retention[i + 1]) != 0) {
            fprintf(stderr, "aerie up: out of memory\n");
            return 1;
        }
    ae_err err = {0};
    if (kept->n_retention && ae_fleet_save(l->f, 0, &err) != 0) {
        fprintf(stderr, "aerie up: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int ae_cmd_up(int argc, char **argv)
{
    up_opts o;
    int rc = parse_up(argc, argv, &o);
    if (rc >= 0) {
        ae_fleet_free(o.ret_given);
        return rc;
    }
    local l = {.shown = o.dir, .ret = o.ret};
    ae_err err = {0};
    ae_local_programs progs;
    rc = ae_local_fleet_open(o.dir, true, l.dir, &l.f, &err);
    if ((rc != 0 && rc != AE_ENOENT) || ae_local_find_programs(&progs, &err) != 0) {
        fprintf(stderr, "aerie up: %s\n", err.msg);
        local_close(&l);
        return 1;
    }
    int alive, total;
    count_procs(&l, &alive, &total);
    int have_n = l.f ? (int)l.f->n_vehicles : 0;
    if (alive > 0 && ((o.n_given && !o.n_tenants && o.n != have_n) || o.n_tenants)) {
        fprintf(stderr,
                "aerie up: the fleet in %s is running with %d vehicles; stop it first "
                "(`aerie down --dir %s`) to change its vehicles or tenants\n",
                l.shown, have_n, l.shown);
        rc = 1;
    } else if (alive > 0 && alive == total) {
        printf("aerie up: the fleet in %s is already running (%d processes); nothing started\n",
               l.shown, total);
        int online = 0;
        json_t *st = wait_online(&l, 0, &online);
        print_summary(&l, st, online, NULL);
        json_decref(st);
        rc = 0;
    } else {
        /* Retention options are kept for later ups until given again, as --telemetry-hz. */
        ae_fleet *kept = ae_fleet_new(NULL);
        rc = kept ? retention_of(&l, &o, kept) : 1;
        if (rc == 0 && alive == 0)
            rc = replan(&l, &o, &progs);
        else if (rc == 0)
            printf("aerie up: %d of %d processes of the fleet in %s are running; starting the "
                   "others\n",
                   alive, total, l.shown);
        fflush(stdout);
        if (rc == 0)
            rc = keep_retention(&l, kept);
        if (rc == 0)
            rc = start_all(&l);
        ae_fleet_free(kept);
    }
    local_close(&l);
    ae_fleet_free(o.ret_given);
    return rc;
}

/* ---- down ---------------------------------------------------------------------------- */

/* The audit entry of a `down`, written just before the hub nodes stop so that it still
 * reaches the AUDIT stream. Nothing is recorded when no hub node runs (nothing to do, or
 * nowhere to publish: the local line alone would be a warning on every repeated `down`). */
static void audit_down(local *l, int stopped)
{
    int hubs = 0;
    for (size_t i = 0; i < l->f->n_procs; i++)
        hubs += strcmp(l->f->procs[i].kind, AE_KIND_HUB) == 0 && running(l, &l->f->procs[i]);
    if (hubs == 0)
        return;
    ae_cli c;
    local_cli(l, &c, NULL);
    json_t *d = json_pack("{s:i, s:i}", "vehicle_processes_stopped", stopped, "hub_nodes", hubs);
    ae_audit(&c, "down", NULL, d, "ok");
    json_decref(d);
    ae_cli_close(&c);
}

/* Stops every recorded process, clients first and the hub last: vehicles then see the hub
 * go away only once they are stopping themselves, and nothing floods the logs with
 * reconnect attempts. Returns how many were signalled. */
static int stop_all(local *l)
{
    static const char *const groups[][3] = {{AE_KIND_DASHBOARD, AE_KIND_SIM, AE_KIND_GW},
                                            {AE_KIND_LEAF, AE_KIND_GUARD, NULL},
                                            {AE_KIND_RELAY, NULL, NULL},
                                            {AE_KIND_HUB, NULL, NULL}};
    size_t np = l->f->n_procs;
    pid_t *pids = calloc(np + 1, sizeof *pids);
    const char **progs = calloc(np + 1, sizeof *progs);
    int stopped = 0;
    for (size_t g = 0; g < 4 && pids && progs; g++) {
        if (g == 3)
            audit_down(l, stopped);
        size_t k = 0;
        for (size_t i = 0; i < np; i++) {
            const ae_fleet_proc *p = &l->f->procs[i];
            bool in = false;
            for (int j = 0; j < 3; j++)
                in = in || (groups[g][j] && strcmp(groups[g][j], p->kind) == 0);
            if (!in)
                continue;
            pids[k] = p->pid;
            progs[k] = p->prog;
            k++;
        }
        stopped += ae_proc_stop_all(pids, progs, k, l->dir, g == 3 ? 10000 : 5000);
    }
    free(pids);
    free(progs);
    return stopped;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* The vehicle keys go with the fleet; audit.log stays, it is the record. */
static void purge(local *l)
{
    static const char *const subs[] = {"conf", "data", "logs", "creds"};
    char path[PATH_MAX + 16];
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", l->dir, subs[k]);
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    snprintf(path, sizeof path, "%s/fleet.json", l->dir);
    unlink(path);
    if (rmdir(l->dir) == 0)
        printf("aerie down: removed %s\n", l->shown);
    else
        printf("aerie down: removed the configs, data, logs and keys in %s (the directory holds "
               "other files and was kept)\n",
               l->shown);
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
    bool purge_too = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--purge") == 0)
            purge_too = true;
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
    local l = {.shown = dir};
    ae_err err = {0};
    int rc = ae_local_fleet_open(dir, false, l.dir, &l.f, &err);
    if (rc == AE_ENOENT && l.dir[0]) {
        printf("aerie down: no fleet in %s (no fleet.json); nothing to stop\n", dir);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "aerie down: %s\n", err.msg);
        return 1;
    }
    int stopped = stop_all(&l), left = 0;
    for (size_t i = 0; i < l.f->n_procs; i++) {
        ae_fleet_proc *p = &l.f->procs[i];
        if (running(&l, p)) {
            left++;
            fprintf(stderr, "aerie down: %s (pid %lld) is still running\n", p->name,
                    (long long)p->pid);
        } else {
            p->pid = 0;
        }
    }
    if (!purge_too && ae_fleet_save(l.f, 0, &err) != 0)
        fprintf(stderr, "aerie down: %s\n", err.msg);
    printf("aerie down: stopped %d processes of the fleet in %s\n", stopped, l.shown);
    if (purge_too && left == 0)
        purge(&l);
    local_close(&l);
    return left ? 1 : 0;
}
