/* What every `aerie` subcommand shares: the global options (--dir, --server, --env, --json,
 * --stats, --timeout, credentials), the connection to a hub, and the JetStream requests the
 * twin, status and replay commands are built from (stream info with a subject list, and
 * direct get by sequence, next-by-subject or last-by-subject).
 *
 * Direct gets are raw requests to `<api prefix>.DIRECT.GET.<stream>` rather than libnats's
 * js_DirectGetMsg, so that every request is counted (`--stats`) and the JetStream domain
 * prefix works the same way for every call. One ae_cli lives in main() for the whole run;
 * commands borrow it. */
#ifndef AERIE_CLI_CLI_H
#define AERIE_CLI_CLI_H

#include "cli/fleet.h"
#include "common/err.h"
#include "common/ident.h"

#include <jansson.h>
#include <nats/nats.h>

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

/* The hub streams of the architecture; `hub init` creates them, the other commands read them. */
#define AE_STREAM_STATE  "TWIN_STATE"
#define AE_STREAM_EVENTS "TWIN_EVENTS"
#define AE_STREAM_CMD    "FLEET_CMD"
#define AE_STREAM_LINK   "FLEET_LINK"
#define AE_STREAM_LIVE   "TWIN_LIVE"

/* How the CLI prints JSON: compact, and reals with 15 significant digits so that a payload's
 * 47.0399 prints as 47.0399 rather than as its nearest-double expansion 47.039900000000003. */
#define AE_CLI_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Header the vehicle leaf stamps on every forwarded message: when the vehicle published it. */
#define AE_HDR_EVENT_TIME "Aerie-Event-Time"
/* The id the vehicle leaf gives every forwarded record (<vid>.<epoch>.<seq>...): the same
 * record stored twice (in two regions around a failover, or twice in an aggregate) has the
 * same id, and readers show it once. */
#define AE_HDR_MSG_ID "Nats-Msg-Id"

/* The suffix of the global tier's copies: TWIN_STATE_ALL sources every region's TWIN_STATE
 * (`aerie hub init --global`). */
#define AE_STREAM_ALL_SUFFIX "_ALL"

/* One copy a reader reads a stream from: a stream in a JetStream domain. */
typedef struct ae_read_src {
    char api[AE_IDENT_MAX + 16];   /* "$JS.API" or "$JS.<domain>.API" */
    char stream[AE_IDENT_MAX + 8]; /* e.g. TWIN_STATE, or TWIN_STATE_ALL */
    /* The region's own copy, or the aggregate: vehicles are listed from it. A fallback
     * region's copy is read only for vehicles known already (it also holds that region's
     * own vehicles), and skipped with a note when that region does not answer. */
    bool home;
} ae_read_src;

#define AE_READ_MAX 8

typedef struct ae_cli {
    /* options (strings borrowed from argv or the environment) */
    const char *dir;       /* --dir / AERIE_DIR: a local fleet's state directory */
    const char *server;    /* --server: comma-separated hub URLs; overrides --dir */
    const char *env;       /* --env (default: fleet.json's env, else "prod") */
    const char *user;      /* --user / AERIE_USER (default "operator" for a local fleet) */
    const char *password;  /* --password / AERIE_PASSWORD */
    const char *js_domain; /* --js-domain: reach hub JetStream through a leaf ($JS.<d>.API) */
    /* --tenant / AERIE_TENANT: act as this tenant of the fleet directory (its operator's
     * login, its vehicles); the first tenant when not given. Set to the tenant in use once
     * connected (NULL for a fleet without tenants or with --server). */
    const char *tenant;
    bool json;          /* --json: machine-readable output */
    bool stats;         /* --stats: print request counts to stderr at the end */
    int64_t timeout_ns; /* --timeout: per request (default 5 s; `cmd` defaults to 10 s) */
    bool timeout_set;
    /* --global (twin, status, replay, dashboard): read the fleet-wide aggregate. */
    bool global;

    ae_fleet *fleet;     /* loaded from --dir, or NULL */
    natsConnection *nc;  /* NULL until ae_cli_connect */
    char api_prefix[64]; /* "$JS.API" or "$JS.<domain>.API" */

    /* counters for --stats */
    long req_direct; /* direct-get requests */
    long req_api;    /* other JetStream API requests */

    /* A copy that did not answer (a fallback region that is down): readers skip it and
     * commands print this once, so that a partial answer never looks complete. */
    char note[400];
} ae_cli;

/* Sets defaults (env, timeout) and reads AERIE_DIR, AERIE_USER, AERIE_PASSWORD. */
void ae_cli_init(ae_cli *c);
/* A second CLI context with `like`'s options (the strings stay borrowed from it), its own
 * connection and its own fleet record: e.g. one per dashboard worker. It must act as the
 * same login and tenant, or it would load another tenant's vehicles. */
void ae_cli_init_like(ae_cli *c, const ae_cli *like);
/* Closes the connection and frees what ae_cli owns. Safe to call twice. */
void ae_cli_close(ae_cli *c);

/* If argv[*i] is a global option, consumes it (and its value), advances *i past it and
 * returns 1. Returns 0 when argv[*i] is not a global option, or AE_EINVAL (message in err)
 * when its value is missing or malformed. */
int ae_cli_global_opt(ae_cli *c, int argc, char **argv, int *i, ae_err *err);

/* Loads --dir's fleet.json if given (once), fills env from it, and connects to the hub
 * (--server wins over --dir). With tenants in fleet.json, it logs in as the tenant's
 * operator (--tenant, else the first tenant) and keeps only that tenant's vehicles in
 * c->fleet: what a tenant's operator may see of the fleet. Returns 0, or AE_EINVAL / AE_EIO
 * with a message that says how to point the CLI at a fleet. */
int ae_cli_connect(ae_cli *c, ae_err *err);

/* Loads --dir's fleet.json (once) and applies --tenant to it as ae_cli_connect does,
 * without connecting. Returns 0 (also when there is no --dir) or an AE_E* with a message. */
int ae_cli_load_fleet(ae_cli *c, ae_err *err);

/* A NATS URL without its user:password@ (malloc'd), or NULL when out of memory. */
char *ae_cli_url_without_userinfo(const char *url);

/* The fleet directory of a command that edits one (creds, revoke): --dir / --out /
 * AERIE_DIR, else ./.fleet when it holds a fleet.json, made absolute in abs when it exists
 * (the seed paths written into configs and printed must not depend on where the command
 * ran). Sets and returns c->dir, or NULL when there is none. */
const char *ae_cli_fleet_dir(ae_cli *c, char abs[PATH_MAX]);

/* Sends a JetStream API request `<prefix>.<api>` (e.g. "STREAM.INFO.TWIN_STATE") with a JSON
 * body (may be NULL) and parses the JSON reply. On success returns 0 and a new reference in
 * *out (caller decrefs); an API error reply is returned as AE_ENOENT (err_code 10059/10037)
 * or AE_EPROTO, with the server's description in err. "JetStream system temporarily
 * unavailable" (10008, a meta-leader election under way) is retried within c->timeout_ns. */
int ae_cli_api(ae_cli *c, const char *api, const char *body, json_t **out, ae_err *err);
/* The same through another API prefix ("$JS.hub-us.API": another region's JetStream). */
int ae_cli_api_at(ae_cli *c, const char *prefix, const char *api, const char *body, json_t **out,
                  ae_err *err);

/* Where the readers (twin, status, replay, dashboard) read `base` (AE_STREAM_STATE, ...) on a
 * connected ae_cli, home copies first; returns how many were written to out (at most max):
 *   - --global: the aggregate <base>_ALL in the fleet's global domain (fleet.json
 *     global_domain; with --server, in the connected domain). A fleet without a global tier
 *     (one JetStream domain for all regions, or a local fleet) already reads fleet-wide
 *     streams: then <base> itself. TWIN_LIVE has no aggregate: none;
 *   - otherwise: <base> in the connected domain, then <base> in each domain the region's
 *     vehicles fail over to (fleet.json fallback_domains), so that what a vehicle sent while
 *     failed over is read back with the rest. */
int ae_cli_read_sources(const ae_cli *c, const char *base, ae_read_src *out, int max);

/* Records the first copy that did not answer (see note above). */
void ae_cli_note_unreachable(ae_cli *c, const ae_read_src *src, const char *why);
/* Prints the note to stderr as "aerie WHAT: note: ..." when there is one. */
void ae_cli_print_note(const ae_cli *c, const char *what);

/* One direct get. Exactly one of the request shapes is used: seq only (when next_by_subj and
 * last_by_subj are NULL), {seq, next_by_subj} (first message of that subject at or after
 * seq), or {last_by_subj}. Returns 0 and the message in *out (caller destroys), AE_ENOENT when
 * there is no such message, or another AE_E* with a message. Counts into req_direct. */
int ae_cli_direct_get(ae_cli *c, const char *stream, uint64_t seq, const char *next_by_subj,
                      const char *last_by_subj, natsMsg **out, ae_err *err);
/* The same on a copy (read source). */
int ae_cli_direct_get_at(ae_cli *c, const ae_read_src *src, uint64_t seq, const char *next_by_subj,
                         const char *last_by_subj, natsMsg **out, ae_err *err);

/* The stream sequence of a direct-get reply (Nats-Sequence), or 0 if absent. */
uint64_t ae_cli_msg_seq(natsMsg *m);
/* When the message was stored (Nats-Time-Stamp), ns since the epoch, or 0. */
int64_t ae_cli_msg_stored_ns(natsMsg *m);
/* When the vehicle published the message: its Aerie-Event-Time header, falling back to the
 * stored time when the header is absent or malformed. */
int64_t ae_cli_msg_event_ns(natsMsg *m);
/* The message's Nats-Msg-Id, or NULL (borrowed from m). */
const char *ae_cli_msg_id(natsMsg *m);

/* The subjects of `stream` that match `filter`, with their message counts, from stream info
 * (the server's per-subject index, not a message scan). On success returns 0, a new array in
 * *subjects (caller frees each string and the array), their count in *n, and the stream's
 * first/last sequence (either may be NULL). Returns AE_ENOENT if the stream does not exist. */
int ae_cli_stream_subjects(ae_cli *c, const char *stream, const char *filter, char ***subjects,
                           int *n, uint64_t *first_seq, uint64_t *last_seq, ae_err *err);
/* The same on a copy (read source). */
int ae_cli_stream_subjects_at(ae_cli *c, const ae_read_src *src, const char *filter,
                              char ***subjects, int *n, uint64_t *first_seq, uint64_t *last_seq,
                              ae_err *err);

/* Parses `s` as JSON if it is a JSON document, else returns it as a JSON string. Never NULL
 * unless out of memory. Caller decrefs. */
json_t *ae_cli_payload_json(const char *data, int len);

/* Prints the --stats line ("requests: direct_get=N api=M") to stderr if --stats was given. */
void ae_cli_print_stats(const ae_cli *c, const char *what);

#endif
