/* The fleet model: what a fleet directory holds and where the parts of the fleet run. Every
 * command that needs to know the fleet reads it through this file, and the two writers
 * (`aerie up` for a local fleet, `aerie topology` for each region's view) write it here.
 *
 * On disk it is DIR/fleet.json (extra keys are ignored when reading):
 *
 *   { "env": "prod",                                         (default "prod")
 *     "region": "eu",                                        (`aerie topology` views)
 *     "created": "2026-...Z",
 *     "hub": { "urls": ["nats://operator:secret@127.0.0.1:4222", ...],   (required)
 *              "js_domain": "hub", "cluster": "aerie",
 *              "fallback_domains": ["hub-us"],  (`aerie topology`: where this region's
 *                                                 vehicles go when it is unreachable)
 *              "global_domain": "hub-us",       (domain_per_region: the aggregate's domain)
 *              "nodes": [ { "name": "hub1", "conf": "DIR/conf/hub1.conf", "client_port": 4222,
 *                           "cluster_port": 6222, "leaf_port": 7422, "http_port": 8222 } ] },
 *     "operator": { "user": "operator", "password": "..." },   (the first tenant's)
 *     "dashboard": { "port": 8080, "url": "http://127.0.0.1:8080/" },
 *     "tenants": [ { "name": "default", "operator": { "user": ..., "password": ... },
 *                    "guard_password": "...", "free": false,
 *                    "dashboard": { "port": ..., "url": ... } } ],
 *     "vehicles": [ { "vid": "VID-001", "tenant": "default", "leaf_port": ..., "leaf_http_port":
 * ..., "mavlink_port": ..., "relay_port": ..., "relay_control_port": ..., "hub": "hub1", "seed":
 * "DIR/creds/VID-001.nk", "home": [47.39, 8.54, 488], "autopilot": "px4", "mission_size": 80,
 *                     "mission_delay_s": 2, "telemetry_hz": 1 (only when set) } ],
 *     "stale": "6s",
 *     "retention": { "link-history": "50", "store-budget": "2GB" },   (`aerie up`'s options)
 *     "processes": [ { "name": "leaf-VID-001", "kind": "leaf", "prog": "aerie-leaf",
 *                      "pid": 123, "argv": [...], "log": "DIR/logs/leaf-VID-001.log",
 *                      "ready_port": 4223, "vid": "VID-001", "started": "..." },
 *                    { "name": "sim-pool-1", "kind": "sim", "vids": ["VID-001", ...], ... } ] }
 *   (a process serves one vehicle ("vid"), several ("vids": a pool of simulated drones), or
 *   the whole fleet (neither: hub nodes, guard, dashboards))
 *
 * A directory written by `aerie topology --out` has no fleet.json at its top; its hub nodes
 * are its hub-<node>.conf files. ae_fleet_open_hubs reads either kind, so that `aerie creds`
 * and `aerie revoke` work on both. Config files are read with common/conf.h.
 *
 * Ownership: an ae_fleet owns every string and array it points to. Pointers returned by the
 * find/add functions point into the fleet's arrays and stay valid until the next add of the
 * same kind (an add may move the array) or ae_fleet_free. */
#ifndef AERIE_CLI_FLEET_H
#define AERIE_CLI_FLEET_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The kinds of processes a local fleet runs, in fleet.json's "kind". */
#define AE_KIND_HUB       "hub"
#define AE_KIND_RELAY     "relay"
#define AE_KIND_LEAF      "leaf"
#define AE_KIND_GW        "gw"
#define AE_KIND_SIM       "sim"
#define AE_KIND_DASHBOARD "dashboard"
#define AE_KIND_GUARD     "guard"

/* One hub node. */
typedef struct ae_fleet_hub {
    char *name;      /* its server_name */
    char *conf;      /* its nats-server config file; NULL when unknown */
    char *region;    /* the region its config is marked for (`aerie topology`), or NULL */
    char *leaf_host; /* where its leafnode listener is reached */
    char *http_host; /* where its monitoring listener is reached */
    int client_port, cluster_port, leaf_port, http_port; /* 0: none or unknown */
    int ws_port; /* websocket listener for vehicles' leaves (local fleets); 0: none */
} ae_fleet_hub;

/* The simulated drone of a local fleet's vehicle. */
typedef struct ae_fleet_drone {
    bool has_home;
    double home[3];  /* lat, lon, alt (m) */
    char *autopilot; /* "px4" or "ardupilot"; NULL: no drone */
    int mission_size, mission_delay_s;
    double telemetry_hz; /* `aerie sim --telemetry-hz`; 0: the simulator's default */
} ae_fleet_drone;

/* A tenant (tenant.h): its operator's login, its guard's password, its dashboard. The
 * first is the fleet's default; the top-level operator and hub URLs are its. */
typedef struct ae_fleet_tenant {
    char *name;
    char *op_user, *op_password;
    char *guard_password; /* aerie-guard-<name>'s password, or NULL */
    bool free_tier;
    int dashboard_port; /* 0: none */
    char *dashboard_url;
} ae_fleet_tenant;

/* One vehicle. Only vid is always set; the rest describes a local fleet's vehicle. */
typedef struct ae_fleet_vehicle {
    char *vid;
    char *tenant; /* the tenant it belongs to, or NULL: the first */
    char *hub;    /* the hub node its uplink reaches, or NULL */
    char *seed;   /* its nkey seed file, or NULL */
    int leaf_port, leaf_http_port, mavlink_port, relay_port, relay_control_port; /* 0: none */
    ae_fleet_drone drone;
} ae_fleet_vehicle;

/* One process a local fleet runs (`aerie up` starts it, `aerie down` stops it). */
typedef struct ae_fleet_proc {
    char *name;  /* unique in the fleet: "hub1", "leaf-VID-001", "dashboard" */
    char *kind;  /* AE_KIND_* */
    char *prog;  /* the program's basename, checked before any signal (proc.h) */
    char **argv; /* NULL-terminated; argv[0] is an absolute path */
    char *log;   /* where its stdout and stderr go */
    char *vid;   /* the vehicle it belongs to, or NULL */
    char **vids; /* the vehicles it serves when it serves several (a pool of simulated
                  * drones: "vids" in fleet.json), else NULL; vid is NULL then */
    size_t n_vids;
    pid_t pid;      /* of the last start; 0 when never started or known stopped */
    int ready_port; /* ready when this port accepts (a hub: /healthz there); 0: when it runs */
    char *started;  /* RFC 3339 time of the last start, or NULL */
} ae_fleet_proc;

typedef struct ae_fleet {
    char *dir; /* the fleet directory, as opened */
    char *env;
    char *region;  /* the region a view of `aerie topology` shows, or NULL */
    char *created; /* when `aerie up` planned it, or NULL */

    char **hub_urls; /* client URLs with the operator's credentials; n_hub_urls >= 1 once loaded */
    size_t n_hub_urls;
    char *js_domain; /* the hub's JetStream domain, or NULL */
    char *cluster;   /* the hub cluster's name, or NULL */
    /* The JetStream domains of the regions this region's vehicles fail over to (a vehicle's
     * data then sits there until read back: cli.h, read sources), and the domain holding
     * the fleet-wide aggregate (TWIN_STATE_ALL ...) with domain_per_region; NULL when the
     * ordinary streams are already fleet-wide (one domain) or unknown. */
    char **fallback_domains;
    size_t n_fallback_domains;
    char *global_domain;
    ae_fleet_hub *hubs;
    size_t n_hubs;

    char *op_user, *op_password; /* the operator's login, or NULL */
    int dashboard_port;          /* 0: no dashboard */
    char *dashboard_url;

    ae_fleet_tenant *tenants; /* in file order; none in a record of an earlier version */
    size_t n_tenants;

    ae_fleet_vehicle *vehicles; /* in file order (the order `aerie up` started them) */
    size_t n_vehicles;
    char *stale;      /* how old a link report may be and still count ("6s"), or NULL */
    int64_t stale_ns; /* the same in ns; 0 when unset */

    /* `aerie up`'s retention options (retention.h) as last given, reapplied by later ups
     * until given again: n_retention / 2 pairs of option name without "--" and value, in
     * fleet.json "retention": {"state-max-age": "3d", "store-budget": "2GB"}. */
    char **retention;
    size_t n_retention;

    bool has_procs; /* a local fleet: "processes" is recorded (may be empty) */
    ae_fleet_proc *procs;
    size_t n_procs;
} ae_fleet;

/* The fleet directory commands use when none is given: $AERIE_DIR, else ".fleet". */
const char *ae_fleet_default_dir(void);

/* A new empty fleet record for `dir` (env "prod"). NULL when out of memory. */
ae_fleet *ae_fleet_new(const char *dir);
void ae_fleet_free(ae_fleet *f); /* accepts NULL */

/* Reads DIR/fleet.json. Returns 0 and a new fleet in *out, AE_ENOENT when the file does not
 * exist (the message suggests `aerie up`), AE_EINVAL when it is not a fleet file (the
 * message names the file and the field, or the line of a JSON error), or AE_EIO. */
int ae_fleet_load(const char *dir, ae_fleet **out, ae_err *err);

/* Parses the JSON text of a fleet.json; `name` is used in messages, dir is set to `dir`
 * (may be NULL). Same returns as ae_fleet_load. */
int ae_fleet_parse(const char *text, const char *name, const char *dir, ae_fleet **out,
                   ae_err *err);

/* The fleet as fleet.json text (keys in the order above, only those that are set; a local
 * fleet always has "processes"). Returns a malloc'd string or NULL when out of memory. */
char *ae_fleet_dump(const ae_fleet *f);

/* Writes DIR/fleet.json atomically, mode 0600 (it holds the operator's password); flags as
 * for ae_file_write_atomic. Returns 0 or AE_EIO / AE_ENOMEM. */
int ae_fleet_save(const ae_fleet *f, int flags, ae_err *err);

/* Finding and adding parts. The adds copy their strings and return the new entry, or NULL
 * when out of memory; an add does not check for duplicates. */
ae_fleet_vehicle *ae_fleet_vehicle_find(const ae_fleet *f, const char *vid);
ae_fleet_vehicle *ae_fleet_vehicle_add(ae_fleet *f, const char *vid);
ae_fleet_hub *ae_fleet_hub_find(const ae_fleet *f, const char *name);
ae_fleet_tenant *ae_fleet_tenant_find(const ae_fleet *f, const char *name);
ae_fleet_tenant *ae_fleet_tenant_add(ae_fleet *f, const char *name);
/* The tenant vehicle v belongs to: its own, else the first; NULL without tenants. */
const char *ae_fleet_vehicle_tenant(const ae_fleet *f, const ae_fleet_vehicle *v);
ae_fleet_hub *ae_fleet_hub_add(ae_fleet *f, const char *name);
int ae_fleet_hub_url_add(ae_fleet *f, const char *url);     /* 0 or AE_ENOMEM */
int ae_fleet_fallback_add(ae_fleet *f, const char *domain); /* 0 or AE_ENOMEM; no duplicates */
ae_fleet_proc *ae_fleet_proc_find(const ae_fleet *f, const char *name);
/* The process of `kind` that belongs to vehicle vid (its relay, leaf, ...), or that serves
 * it among others (the pool flying its drone), or NULL. */
ae_fleet_proc *ae_fleet_proc_of(const ae_fleet *f, const char *vid, const char *kind);
/* True when process p serves vehicle vid (its vid, or one of its vids). */
bool ae_fleet_proc_serves(const ae_fleet_proc *p, const char *vid);
/* Adds vid to the vehicles p serves. Returns 0 or AE_ENOMEM. */
int ae_fleet_proc_add_vid(ae_fleet_proc *p, const char *vid);
/* argv: NULL-terminated, copied. vid may be NULL. The process is not started (pid 0) and
 * logs to DIR/logs/<name>.log. */
ae_fleet_proc *ae_fleet_proc_add(ae_fleet *f, const char *name, const char *kind, const char *prog,
                                 const char *vid, int ready_port, const char *const *argv);

/* True when p's recorded PID runs and is still the process this fleet started (proc.h:
 * ae_proc_owned with the program name and the fleet directory). */
bool ae_fleet_proc_running(const ae_fleet *f, const ae_fleet_proc *p);

/* Sets the retention option `name` (without "--") to value, replacing its earlier value.
 * Returns 0 or AE_ENOMEM. */
int ae_fleet_retention_set(ae_fleet *f, const char *name, const char *value);

/* True for a local fleet whose hub nodes are processes recorded here. */
bool ae_fleet_is_local(const ae_fleet *f);

/* Reads the fleet directory DIR as the security commands need it: every hub node with its
 * config, listeners and region. From DIR/fleet.json when it records hub nodes (a local
 * fleet; node configs default to DIR/conf/<name>.conf), else from the hub-<node>.conf files
 * of `aerie topology --out DIR`, else from DIR/conf/hub*.conf. Returns 0 and a new fleet in
 * *out (n_hubs >= 1), AE_ENOENT when no hub is found (the message says what was looked
 * for), AE_EINVAL (a config without a leafnode listener, or a bad fleet.json) or AE_EIO. */
int ae_fleet_open_hubs(const char *dir, ae_fleet **out, ae_err *err);

#endif
