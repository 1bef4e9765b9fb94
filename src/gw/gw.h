/* aerie-gw: the vehicle gateway between MAVLink links and the local NATS server.
 *
 * Telemetry flows out: each valid frame from the autopilot becomes a JSON document on
 * fleet.<env>.veh.<vid>.state.<name> (rate-limited per subject) or an event on
 * ...event.<name>. Commands flow in: a request on ...cmd.<name> becomes a COMMAND_LONG sent
 * to the address the autopilot's frames came from, retried until COMMAND_ACK, and the ACK
 * becomes the reply. docs/subjects.md defines the payloads; docs/gateway.md the options.
 *
 * Commands with an id (Aerie-Cmd-Id) survive an outage: the hub keeps them in FLEET_CMD, the
 * gateway fetches the newest of each kind when the leaf's link comes back, executes each at
 * most once (a journal in state_dir remembers every id) and only while fresh, and reports
 * the outcome on ...event.cmd, which the leaf forwards durably (qcmd.h, docs/gateway.md).
 *
 * Threads: ae_gw_run owns every socket and all state on the calling thread. libnats delivers
 * command requests on its own thread; they are queued and handled by the run loop. */
#ifndef AERIE_GW_GW_H
#define AERIE_GW_GW_H

#include "common/err.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define AE_GW_MAX_LINKS 8

/* The state subjects, in the order of their rate-limit slots. */
typedef enum ae_gw_state {
    AE_GW_ST_POSITION,
    AE_GW_ST_ATTITUDE,
    AE_GW_ST_BATTERY,
    AE_GW_ST_GPS,
    AE_GW_ST_STATUS,
    AE_GW_ST_HEARTBEAT,
    AE_GW_ST_HOME,
    AE_GW_NSTATE
} ae_gw_state;

/* "position", ... for AE_GW_ST_*. */
const char *ae_gw_state_name(ae_gw_state s);

typedef struct ae_gw_config {
    char *nats_url;                 /* default nats://127.0.0.1:4222 */
    char *vid;                      /* required: one subject token of [A-Za-z0-9_-] */
    char *env;                      /* default "prod" */
    char *mavlink[AE_GW_MAX_LINKS]; /* endpoint URLs (see ae_gw_link_open) */
    int nmavlink;
    uint8_t sysid, compid;         /* our own ids as a GCS (default 255/190) */
    uint8_t target_sysid;          /* 0: the first autopilot heard */
    int64_t heartbeat_timeout_ns;  /* autopilot silent this long = link lost (default 5 s) */
    int64_t cmd_timeout_ns;        /* wait for COMMAND_ACK per attempt (default 1 s) */
    int cmd_retries;               /* resends after the first attempt (default 3) */
    int64_t rate_ns[AE_GW_NSTATE]; /* minimum interval per state subject; 0 = every frame */
    bool raw;                      /* also publish every raw frame on ...raw.mavlink */
    bool has_key;                  /* verify signed frames with key */
    bool require_signed;           /* with a key: drop unsigned frames */
    uint8_t key[32];
    char *name; /* client name shown by the server (default "aerie-gw <vid>") */
    /* Commands across an outage: where the command journal lives (NULL: in memory only, and
     * then queued commands are not fetched after a reconnect, since a restart could not
     * tell which were already executed), and the hub's JetStream domain ("hub"). */
    char *state_dir;
    char *cmd_domain;
    /* Prometheus metrics on GET /metrics at this HOST:PORT (PORT alone: 127.0.0.1), or NULL
     * for none. */
    char *metrics;
} ae_gw_config;

/* Fills defaults. Free with ae_gw_config_free. */
void ae_gw_config_init(ae_gw_config *c);
void ae_gw_config_free(ae_gw_config *c);
/* Applies a config file (nats-server syntax, see docs/gateway.md). Later calls and command
 * line options override earlier values; mavlink endpoints accumulate. Returns 0, or
 * AE_EINVAL / AE_EIO with a message naming file, line and key. */
int ae_gw_config_load(ae_gw_config *c, const char *path, ae_err *err);
/* Applies one option: name without dashes ("vid", "mavlink", "rate") and its value.
 * Returns 0 or AE_EINVAL with a message. */
int ae_gw_config_set(ae_gw_config *c, const char *name, const char *value, ae_err *err);
/* Checks the combination (vid given, at least one link, tokens valid). */
int ae_gw_config_check(const ae_gw_config *c, ae_err *err);

typedef struct ae_gw ae_gw;

/* Opens every MAVLink link and starts connecting to NATS (in the background: the gateway
 * runs, buffers and retries while the server is down). `cfg` is copied. Returns 0 and *out,
 * or an error when a link cannot be opened or an option is invalid. */
int ae_gw_new(const ae_gw_config *cfg, ae_gw **out, ae_err *err);
/* Runs the loop until *stop becomes non-zero (set from a signal handler). Returns 0. */
int ae_gw_run(ae_gw *g, volatile sig_atomic_t *stop);
/* Flushes what NATS still buffers (briefly), closes everything, frees g. Accepts NULL. */
void ae_gw_free(ae_gw *g);

#endif
