/* `aerie creds`: per-vehicle identities on the hub, and the pieces `aerie revoke` shares.
 *
 * A vehicle's identity is an nkey (an Ed25519 key pair): the seed stays in a file that goes
 * to the vehicle (`leafnodes.remotes[].nkey` of aerie-leaf), the public key goes into the
 * top-level `authorization.users` of every hub node as a LEAFNODE-only user. Adding or
 * removing such a user is applied by a config reload (SIGHUP) on nats-server 2.9.10; the
 * setting that keeps leaves without credentials out (`no_auth_user: aerie-nobody`, a user no
 * connection type may use) cannot be reloaded and belongs in the config from the start.
 * docs/security.md explains why, shows the hub config and the gap 2.9.10 leaves open.
 *
 * State lives under the fleet directory DIR:
 *   DIR/creds/creds.json   the registry: every identity issued, its public key, status
 *                          (active / revoked) and times; the password of aerie-nobody
 *                          (never used to log in)
 *   DIR/creds/<VID>.nk     the vehicle's seed (mode 0600; deleted on revoke)
 *   DIR/creds/aerie-evict.nk  the seed `aerie revoke` uses to cut a live connection
 * and every hub config carries a marked region inside its users list, regenerated from the
 * registry on each change ("# BEGIN aerie-creds" ... "# END aerie-creds").
 *
 * The fleet directory is either a local fleet (DIR/fleet.json with the hub processes: their
 * PIDs, configs and logs, as `aerie up` writes it) or the output of `aerie topology` (the
 * hub-<node>.conf files, no processes: the configs are changed and the operator reloads the
 * remote hubs). */
#ifndef AERIE_CLI_CMD_CREDS_H
#define AERIE_CLI_CMD_CREDS_H

#include "cli/cli.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define AE_SEC_MAX_HUBS    64
#define AE_SEC_EVICT_USER  "aerie-evict"
#define AE_SEC_NOBODY_USER "aerie-nobody"
#define AE_SEC_BEGIN_MARK  "# BEGIN aerie-creds"
#define AE_SEC_END_MARK    "# END aerie-creds"
/* A hub config line "# aerie-region: NAME" (written by `aerie topology`) scopes the
 * identities issued for region NAME to the hub nodes of that region. */
#define AE_SEC_REGION_MARK "# aerie-region:"

/* One hub node as found in the fleet directory. Ports and hosts come from its config. */
typedef struct ae_sec_hub {
    char name[64];
    char conf[1024];     /* config path */
    char log[1024];      /* log path, "" when unknown */
    pid_t pid;           /* 0 when not a local process */
    char http_host[256]; /* monitoring listener, "" when the config has none */
    int http_port;
    char leaf_host[256]; /* leafnode listener */
    int leaf_port;
    char region[64]; /* from the AE_SEC_REGION_MARK line, "" when none */
} ae_sec_hub;

/* The fleet directory as the security commands see it. */
typedef struct ae_sec_fleet {
    char dir[1024];
    bool local; /* DIR/fleet.json lists hub processes */
    ae_sec_hub hubs[AE_SEC_MAX_HUBS];
    int n_hubs;
    json_t *fleet_json; /* DIR/fleet.json, or NULL (owned) */
} ae_sec_fleet;

/* Reads DIR: hub processes and configs from fleet.json, else DIR/hub-*.conf, else
 * DIR/conf/hub*.conf. Returns 0, AE_ENOENT (no hub config found; the message says what was
 * looked for), or AE_EINVAL/AE_EIO. Free with ae_sec_fleet_free. */
int ae_sec_fleet_load(const char *dir, ae_sec_fleet *f, ae_err *err);
void ae_sec_fleet_free(ae_sec_fleet *f);

/* The vehicle's entry of fleet.json "vehicles" (borrowed), or NULL. */
json_t *ae_sec_fleet_vehicle(const ae_sec_fleet *f, const char *vid);

/* Loads DIR/creds/creds.json (an empty registry when absent). Caller decrefs. Returns NULL
 * with a message when the file exists but is not valid. */
json_t *ae_creds_registry_load(const char *dir, ae_err *err);
/* Writes the registry atomically (mode 0600). Returns 0 or AE_EIO. */
int ae_creds_registry_save(const char *dir, json_t *reg, ae_err *err);
/* Makes sure the registry has the evictor identity and the aerie-nobody password,
 * creating the seed file DIR/creds/aerie-evict.nk on first use. Returns 0 or an AE_E*. */
int ae_creds_ensure_service(const char *dir, json_t *reg, ae_err *err);

/* Gives `vid` an active nkey identity in the registry `reg` (not saved here): when it already
 * has one whose seed DIR/creds/VID.nk is readable that one is kept, otherwise a new key pair
 * is made and the seed written there (mode 0600), also for a revoked vid (check
 * ae_creds_is_revoked first where a revocation must stand). `region` (may be NULL) limits the
 * identity to the hub nodes of that region. Returns 1 (new key), 0 (kept) or an AE_E*. */
int ae_creds_issue(const char *dir, json_t *reg, const char *vid, const char *region, ae_err *err);

/* True when the registry lists `vid` as revoked. */
bool ae_creds_is_revoked(json_t *reg, const char *vid);

/* The managed region of the users list for a hub node of region `hub_region` (NULL or ""
 * for every identity): the BEGIN/END marks, aerie-nobody (the no_auth_user target), the
 * evictor, and each active vehicle. Call ae_creds_ensure_service first. Returns a malloc'd
 * string (caller frees) or NULL when out of memory. */
char *ae_creds_region_text(json_t *reg, const char *hub_region);

/* Rewrites the managed region of every hub config from the registry and, when `drop_vid` is
 * non-NULL, also removes any other user entry named drop_vid (a per-vehicle password user
 * written by `aerie topology`). Returns 0 or an AE_E* naming the config. */
int ae_creds_apply(ae_sec_fleet *f, json_t *reg, const char *drop_vid, ae_err *err);

/* The text of a config with its managed region replaced by `region` (inserted after the
 * `users = [` line of the top-level authorization block when there is none yet), and with
 * every other users entry named `drop_user` removed (may be NULL). Returns a malloc'd string,
 * or NULL with AE_EINVAL in err when the config has no top-level users list. Exposed for
 * tests. */
char *ae_creds_rewrite_conf(const char *text, const char *region, const char *drop_user,
                            ae_err *err);

/* Sends SIGHUP to every local hub node whose recorded PID is still a nats-server started
 * with that node's config (/proc/PID/cmdline), then waits up to timeout_ms for each node's
 * /varz config_load_time to change. Returns the number of nodes reloaded (all of them), or
 * AE_EIO/AE_ETIMEOUT with a message naming the node that did not reload and why. A fleet
 * without local processes returns 0 without doing anything. */
int ae_sec_reload_hubs(ae_sec_fleet *f, int timeout_ms, ae_err *err);

/* True when /proc/PID/cmdline names nats-server and has `conf` as its -c/--config value. */
bool ae_sec_pid_is_hub(pid_t pid, const char *conf);

/* HTTP GET http://host:port/path with a deadline. Returns the status (> 0) and a malloc'd
 * body in *body (caller frees), or a negative AE_E*. */
int ae_sec_http_get(const char *host, int port, const char *path, char **body, int timeout_ms);

/* $USER@hostname, for the audit trail. */
void ae_sec_actor(char *out, size_t cap);

/* `aerie creds add VID | list` (argv[0] is "creds"). Returns the exit code. */
int ae_cmd_creds(ae_cli *c, int argc, char **argv);

#endif
