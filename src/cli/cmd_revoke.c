/* `aerie revoke VID`: config change, reload, eviction by leaf name, verification. See
 * cmd_revoke.h for the steps and docs/security.md for the experiments behind them. */
#include "cli/cmd_revoke.h"
#include "cli/accounts.h"
#include "cli/audit.h"
#include "cli/creds_conf.h"
#include "cli/creds_registry.h"
#include "cli/evict.h"
#include "cli/fleet.h"
#include "cli/hub_reload.h"
#include "cli/proc.h"
#include "common/http.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct revoke_opts {
    const char *vid, *leaf_name;
    bool evict_only;
    int64_t wait_ns;
} revoke_opts;

/* What a revoke did, for its report and audit entry. */
typedef struct revoke_run {
    const char *dir;
    ae_fleet *f;
    json_t *reg, *evicted;
    int reloaded;
    int link; /* the vehicle's own view of its uplink: 1 up, 0 down, -1 unknown */
    /* A local fleet's vehicle: its uplink cut at its aerie-relay first, this long after the
     * start (ms); -1 when not. */
    int64_t start_ns, relay_cut_ms;
    int relay_port;
    char last_error[512];
    const char *result; /* "ok", "pending" (configs changed, hubs not ours), "error" */
} revoke_run;

/* Whether a vehicle leaf's own /leafz says its uplink is up: 1 connected, 0 not, -1 unknown. */
static int leaf_connected(int http_port, char *last_error, size_t cap)
{
    char *body = NULL;
    if (ae_http_get("127.0.0.1", http_port, "/leafz", &body, 1500) != 200) {
        free(body);
        return -1;
    }
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    int up = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(j, "leafs"), i, l)
    {
        const char *st = json_string_value(json_object_get(l, "state"));
        if (!st || strcmp(st, "connected") == 0) /* nats-server lists only live ones */
            up = 1;
        const char *le = json_string_value(json_object_get(l, "last_error"));
        if (le && last_error)
            snprintf(last_error, cap, "%s", le);
    }
    json_decref(j);
    return up;
}

static int usage_revoke(void)
{
    fprintf(stderr, "usage: aerie revoke VID [--dir DIR | --out DIR] [--leaf-name NAME] "
                    "[--evict-only] [--wait 5s] [--json]\nSee docs/security.md.\n");
    return 2;
}

/* Returns -1 when the options are good, else the exit code. */
static int parse_revoke(ae_cli *c, int argc, char **argv, revoke_opts *o)
{
    *o = (revoke_opts){.wait_ns = 5 * AE_NS_PER_SEC};
    for (int i = 1; i < argc;) {
        ae_err e = {0};
        int r = ae_cli_global_opt(c, argc, argv, &i, &e);
        if (r < 0) {
            fprintf(stderr, "aerie revoke: %s\n", e.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            c->dir = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--leaf-name") == 0 && i + 1 < argc) {
            o->leaf_name = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            if (ae_parse_duration(argv[i + 1], &o->wait_ns) != 0 || o->wait_ns < 0) {
                fprintf(stderr, "aerie revoke: --wait %s: expected a duration\n", argv[i + 1]);
                return 2;
            }
            i += 2;
        } else if (strcmp(argv[i], "--evict-only") == 0) {
            o->evict_only = true;
            i++;
        } else if (argv[i][0] != '-' && !o->vid) {
            o->vid = argv[i++];
        } else {
            fprintf(stderr, "aerie revoke: unexpected argument %s\n", argv[i]);
            return usage_revoke();
        }
    }
    if (!o->vid)
        return usage_revoke();
    if (!ae_ident_valid(o->vid) || (o->leaf_name && !ae_ident_valid(o->leaf_name))) {
        fprintf(stderr,
                "aerie revoke: %s is not a vehicle id (one token of letters, digits, "
                "'_' or '-')\n",
                o->leaf_name && ae_ident_valid(o->vid) ? o->leaf_name : o->vid);
        return 2;
    }
    if (!o->leaf_name)
        o->leaf_name = o->vid;
    return -1;
}

/* 0. A local fleet's vehicle is cut at once at its aerie-relay (`aerie link cut`): reloading
 * the hubs (step 1) takes seconds with hundreds of vehicles in the configs (1.4 s per reload
 * with 100, measured; it grows with the config), and the vehicle must not keep sending
 * meanwhile. The relay is healed after the eviction, so that the vehicle's reconnects meet
 * the hubs' refusal, as they would without a relay. A small fleet reloads in well under a
 * second and is cut by the eviction itself (what a fleet without relays gets). */
#define RELAY_CUT_FROM 50 /* vehicles */
static void cut_at_relay(revoke_run *r, const char *vid)
{
    const ae_fleet_vehicle *v = ae_fleet_vehicle_find(r->f, vid);
    const ae_fleet_proc *p = ae_fleet_proc_of(r->f, vid, AE_KIND_RELAY);
    char reply[128];
    if (!v || v->relay_control_port <= 0 || !p || !ae_fleet_proc_running(r->f, p) ||
        ae_proc_line_cmd(v->relay_control_port, "cut", reply, sizeof reply, 2000) != 0 ||
        strncmp(reply, "OK", 2) != 0)
        return;
    r->relay_port = v->relay_control_port;
    r->relay_cut_ms = (ae_mono_ns() - r->start_ns) / AE_NS_PER_MS;
}

/* 1. The identity goes first everywhere, so that the evicted leaf has nowhere to come back
 * to: revoked in the registry, gone from every hub config, the hubs reloaded once (a
 * removal wires nothing new; given time in proportion to the configs: 5 s, and 40 ms more
 * per vehicle: a node of a 1,000-vehicle fleet took from 2 s to 30 s to reload). */
static int remove_identity(revoke_run *r, const char *vid, ae_err *err)
{
    ae_creds_revoke(r->reg, vid);
    int rc;
    int timeout_ms = 5000 + 40 * (int)r->f->n_vehicles;
    if ((rc = ae_creds_registry_save(r->dir, r->reg, err)) != 0 ||
        (rc = ae_creds_apply(r->f, r->reg, err)) != 0 ||
        (rc = ae_hub_reload_all(r->f, 1, timeout_ms, err)) < 0)
        return rc;
    r->reloaded = rc;
    return 0;
}

/* 2. Evict on every node: the one holding the vehicle closes it, the others just see a
 * short-lived leaf come and go. */
static int evict_everywhere(revoke_run *r, const char *vid, const char *leaf_name, ae_err *err)
{
    /* The evictor's login is in the revoked vehicle's own account (accounts.h). */
    char user[AE_IDENT_MAX + 32];
    snprintf(user, sizeof user, AE_EVICT_USER_PREFIX "%s", vid);
    const char *pw = ae_creds_str(json_object_get(r->reg, "evict"), "password");
    json_t *own = json_object();
    int rc = 0;
    for (size_t i = 0; i < r->f->n_hubs && !rc; i++)
        rc = ae_evict_leaf(&r->f->hubs[i], user, pw, leaf_name, own, r->evicted, err);
    json_decref(own);
    return rc;
}

/* 3. Verify from the vehicle's side when it is a local process: its leaf must say it is
 * down, and stay down for a moment (a reconnect would be refused now). */
static int verify_down(revoke_run *r, const revoke_opts *o, ae_err *err)
{
    const ae_fleet_vehicle *v = ae_fleet_vehicle_find(r->f, o->vid);
    if (!v || v->leaf_http_port <= 0)
        return 0;
    int64_t deadline = ae_mono_ns() + o->wait_ns;
    do {
        r->link = leaf_connected(v->leaf_http_port, r->last_error, sizeof r->last_error);
        if (r->link == 0)
            return 0;
        ae_sleep_ms(100);
    } while (ae_mono_ns() < deadline);
    if (r->link != 1)
        return 0;
    return ae_err_set(err, AE_ETIMEOUT,
                      "%s is still connected %.1f s after the eviction; restart the hub "
                      "node that holds it (see docs/security.md)",
                      o->vid, (double)o->wait_ns / 1e9);
}

static int revoke(revoke_run *r, const revoke_opts *o, ae_err *err)
{
    int rc = ae_fleet_open_hubs(r->dir, &r->f, err);
    if (!rc && !(r->reg = ae_creds_registry_load(r->dir, err)))
        rc = AE_EINVAL;
    if (!rc)
        rc = ae_creds_ensure_service(r->dir, r->reg, err);
    if (!rc && !o->evict_only && ae_fleet_is_local(r->f) && r->f->n_vehicles >= RELAY_CUT_FROM)
        cut_at_relay(r, o->vid);
    if (!rc && !o->evict_only) {
        if ((rc = remove_identity(r, o->vid, err)) == 0 && !ae_fleet_is_local(r->f)) {
            r->result = "pending"; /* the operator copies and reloads the configs */
            return 0;
        }
    }
    if (!rc)
        rc = evict_everywhere(r, o->vid, o->leaf_name, err);
    if (r->relay_port > 0) /* healed even after a failure: the hubs refuse it, or not yet */
        ae_proc_line_cmd(r->relay_port, "heal", NULL, 0, 2000);
    if (!rc)
        rc = verify_down(r, o, err);
    if (!rc)
        r->result = "ok";
    return rc;
}

static void report_revoke(const ae_cli *c, const revoke_run *r, const revoke_opts *o,
                          json_t *details)
{
    if (c->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:O}", "vid", o->vid, "result", r->result, "details", details);
        char *d = json_dumps(j, AE_CLI_JSON_FLAGS);
        printf("%s\n", d);
        free(d);
        json_decref(j);
        return;
    }
    if (strcmp(r->result, "pending") == 0) {
        printf("%s: identity removed from %zu hub configs in %s.\n"
               "Copy them to the hub nodes, send each nats-server SIGHUP, then cut the live "
               "connection:\n  aerie revoke %s --evict-only --out %s\n",
               o->vid, r->f->n_hubs, r->dir, o->vid, r->dir);
        return;
    }
    printf("%s: revoked; %s%d hub nodes reloaded\n", o->vid, o->evict_only ? "(evict only) " : "",
           r->reloaded);
    if (r->relay_cut_ms >= 0)
        printf("  uplink cut at its relay after %lld ms, before the reload; healed after the "
               "eviction\n",
               (long long)r->relay_cut_ms);
    size_t i;
    json_t *e;
    json_array_foreach(r->evicted, i, e)
    {
        printf("  cut leaf connection %s on hub %s\n",
               json_string_value(json_object_get(e, "conn")),
               json_string_value(json_object_get(e, "hub")));
    }
    if (json_array_size(r->evicted) == 0)
        printf("  no live leaf connection of %s was found on the hubs\n", o->leaf_name);
    if (r->link == 0)
        printf("  the vehicle's leaf reports its uplink down%s%s\n", r->last_error[0] ? ": " : "",
               r->last_error);
}

int ae_cmd_revoke(ae_cli *c, int argc, char **argv)
{
    revoke_opts o;
    int rc = parse_revoke(c, argc, argv, &o);
    if (rc >= 0)
        return rc;
    char abs[PATH_MAX];
    revoke_run r = {.dir = ae_cli_fleet_dir(c, abs),
                    .link = -1,
                    .result = "error",
                    .start_ns = ae_mono_ns(),
                    .relay_cut_ms = -1};
    if (!r.dir) {
        fprintf(stderr, "aerie revoke: give the fleet directory with --dir DIR or --out DIR\n");
        return 2;
    }
    r.evicted = json_array();
    ae_err err = {0};
    rc = revoke(&r, &o, &err);
    json_t *details =
        json_pack("{s:i, s:i, s:O, s:s, s:s}", "hubs", r.f ? (int)r.f->n_hubs : 0, "reloaded",
                  r.reloaded, "evicted", r.evicted, "leaf_name", o.leaf_name, "vehicle_link",
                  r.link == 1   ? "connected"
                  : r.link == 0 ? "disconnected"
                                : "unknown");
    if (o.evict_only)
        json_object_set_new(details, "evict_only", json_true());
    if (r.relay_cut_ms >= 0)
        json_object_set_new(details, "relay_cut_ms", json_integer(r.relay_cut_ms));
    if (rc)
        json_object_set_new(details, "error", json_string(err.msg));
    ae_audit(c, "revoke", o.vid, details, r.result);
    if (rc)
        fprintf(stderr, "aerie revoke: %s\n", err.msg);
    else
        report_revoke(c, &r, &o, details);
    json_decref(details);
    json_decref(r.evicted);
    json_decref(r.reg);
    ae_fleet_free(r.f);
    return rc ? 1 : 0;
}
