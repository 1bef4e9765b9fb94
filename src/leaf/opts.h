/* aerie-leaf's options: defaults, the config file (nats-server syntax) and the command
 * line (nats-server's flags). Flags override the file, as in nats-server; on SIGHUP the
 * file is read again and the same flags are applied on top. */
#ifndef AERIE_LEAF_OPTS_H
#define AERIE_LEAF_OPTS_H

#include "common/err.h"
#include "leaf/perms.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ae_user {
    char *user;
    char *password;
    ae_perms_conf *perms;    /* NULL: no permissions (everything allowed) */
    bool not_on_client_port; /* allowed_connection_types without STANDARD */
} ae_user;

/* One `leafnodes.remotes` entry: a hub to join. */
typedef struct ae_remote {
    char **urls; /* nats-leaf://[user:pass@]host:port, nats://, tls:// */
    int nurls;
    char *account;
    char *credentials;    /* a .creds file (JWT + nkey seed) */
    char *nkey_seed_file; /* a file holding an nkey seed (SU...) */
    char *user, *password, *token;
    bool tls; /* a tls {} block was given */
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    bool tls_insecure; /* skip verification (tests only; logged loudly) */
    char *tls_server_name;
    bool ignore_discovered_urls; /* dial only the configured urls (relays, fixed paths) */
    int home_urls;               /* the first home_urls urls are the home region's (0: none) */
    int64_t home_check_ns;       /* away from home, how often to look whether it is back */
    /* websocket urls (ws://, wss://): nats-server's remote keys, and how long the uplink may
     * hold data to fill a frame (default AE_WS_FRAME_WAIT_DEF_NS, at most 50 ms) */
    bool ws_compression, ws_no_masking;
    int64_t ws_frame_wait_ns; /* -1: not set */
} ae_remote;

#define AE_WS_FRAME_WAIT_DEF_NS (50 * 1000 * 1000LL)
#define AE_WS_FRAME_WAIT_MAX_NS (50 * 1000 * 1000LL)

enum ae_sync_mode { AE_OPT_SYNC_ALWAYS, AE_OPT_SYNC_INTERVAL, AE_OPT_SYNC_NEVER };

typedef struct ae_opts {
    char *config_file;
    char *server_name;
    char *host;
    int port;
    /* client authorization */
    char *user, *password, *token;
    ae_user *users;
    int nusers;
    int64_t auth_timeout_ns;
    /* TLS on the client port: the `tls {}` block or --tls/--tlscert/--tlskey/--tlscacert/
     * --tlsverify. tls_map (verify_and_map): the client certificate names the user. */
    bool tls;
    char *tls_cert_file, *tls_key_file, *tls_ca_file;
    bool tls_verify, tls_map;
    int64_t tls_timeout_ns;
    char **tls_cipher_suites; /* nats-server's names; none: nats-server's defaults */
    int ntls_cipher_suites;
    char **tls_curves; /* curve_preferences: X25519, CurveP256, CurveP384, CurveP521 */
    int ntls_curves;
    /* limits */
    int64_t max_payload;
    int64_t max_pending;
    int64_t max_control_line;
    int64_t max_connections;
    int64_t max_subscriptions; /* per connection; 0 = unlimited */
    int64_t ping_interval_ns;
    int ping_max;
    int64_t write_deadline_ns;
    int64_t lame_duck_ns;   /* drain grace on SIGTERM */
    int64_t sched_slice_ns; /* the loop thread's scheduler slice (latency); 0: kernel default */
    /* monitoring */
    char *http_host;
    int http_port; /* 0 = off */
    /* logging */
    int log_level;
    char *log_file;
    char *pid_file;
    /* uplink: leafnodes { remotes = [...] } */
    ae_remote *remotes;
    int nremotes;
    int64_t reconnect_min_ns, reconnect_max_ns;
    double reconnect_jitter; /* fraction, 0..1 */
    int64_t dead_link_ns;    /* no PONG for this long: the link is dead */
    /* store { } */
    char *store_dir;
    int64_t store_max_bytes;
    int64_t store_max_age_ns;
    enum ae_sync_mode sync_mode;
    int64_t sync_interval_ns;
    int64_t ack_interval_ns; /* store.ack_interval: how often the ack state is written */
    /* uplink { } */
    char **uplink_subjects;
    int nuplink_subjects;
    int64_t uplink_rate; /* bytes/s, 0 = unlimited */
    char *hub_domain;
    int uplink_max_inflight;        /* publishes awaiting a PubAck, all subjects (an upper bound) */
    int uplink_window;              /* the same per subject; 0: no limit of its own */
    int uplink_max_subjects;        /* distinct uplink subjects the forwarder tracks at once */
    int64_t uplink_subject_idle_ns; /* a drained subject unused this long is forgotten */
    int64_t uplink_ack_timeout_ns;
    char *vid; /* vehicle id for status subjects; default server_name */
    char *env; /* fleet environment; default "prod" */
    int64_t link_status_interval_ns;
    bool uplink_live; /* send live copies of the newest state while a backlog drains */
} ae_opts;

/* Fills nats-server's defaults. */
void ae_opts_defaults(ae_opts *o);
/* Frees every string and array held by o and resets it to zeros. */
void ae_opts_free(ae_opts *o);

/* Reads a config file into o (over the defaults already there). Unknown keys and bad
 * values are errors naming file, line and key. Returns 0, AE_EINVAL or AE_EIO. */
int ae_opts_load_file(ae_opts *o, const char *path, ae_err *err);
/* The same for a tree already parsed (common/conf.h); for tests and the fuzzer. */
struct ae_conf_node;
int ae_opts_load_conf(ae_opts *o, const struct ae_conf_node *root, ae_err *err);

/* Parses the command line into o. The config file (-c) is loaded first so flags win.
 * Flags are spelled as nats-server accepts them: with one dash or two (-port, --port), with
 * the value as the next argument or after '=' (--port=4222); single letters too (-p).
 * Returns 0; 1 when the program should exit 0 (--help, --version, -t success); or AE_EINVAL
 * with a message. */
int ae_opts_from_args(ae_opts *o, int argc, char **argv, ae_err *err);

/* Checks cross-field rules (max_payload <= max_pending, ...). */
int ae_opts_validate(const ae_opts *o, ae_err *err);

/* Settings a running aerie-leaf took at start and cannot change by a reload (sockets,
 * identity, the uplink's remotes and credentials, the durable log): writes the config keys
 * that differ between `running` and `fresh` into buf as a comma-separated list and returns
 * how many. A reload that would change any of them is refused whole, so none is ignored
 * silently. */
int ae_opts_restart_changes(const ae_opts *running, const ae_opts *fresh, char *buf, size_t cap);

#endif
