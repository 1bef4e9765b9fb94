/* The dashboard's HTTP side: who may ask, how a request reaches its handler, and how it is
 * answered. dashboard.c starts it; the handlers are in dash_api.c; the route table, the one
 * place a new endpoint is added, is dash_routes.c.
 *
 * libmicrohttpd runs a thread per connection, so a slow request (a command waiting for its
 * vehicle, a long replay) holds up only its own connection. The hub is reached through three
 * connections of its own (ae_dash_conn), each used by one request at a time: short reads
 * (the fleet poll, twin, pending commands), history (replay walks) and commands.
 *
 * Who may ask: the credentials are a parameter of the server (ae_dash_auth), never a global,
 * so that each server can carry its own (per-tenant ones later). When they are required, a
 * request must carry HTTP basic auth with the user and password, or "Authorization: Bearer"
 * with the token. Independently of that:
 *   - bound to a loopback address, the Host header must name a loopback host (a page on
 *     another site cannot reach the dashboard by rebinding its DNS name to 127.0.0.1);
 *   - a POST must be JSON (Content-Type: application/json, which a cross-site form cannot
 *     send without the browser asking first) and, when it has an Origin, come from the
 *     dashboard's own origin. */
#ifndef AERIE_CLI_DASH_HTTP_H
#define AERIE_CLI_DASH_HTTP_H

#include "cli/cli.h"
#include "cli/dash_tracks.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Who may use a dashboard. Strings are borrowed for the server's life. */
typedef struct ae_dash_auth {
    bool required;    /* false: anyone who can reach the port (loopback only) */
    const char *user; /* basic auth user and password; NULL: basic auth not accepted */
    const char *password;
    const char *token; /* bearer token; NULL: not accepted */
    const char *realm; /* shown by the browser's login prompt */
} ae_dash_auth;

/* One hub connection, used by one request at a time. */
typedef struct ae_dash_conn {
    pthread_mutex_t mu;
    ae_cli c;
} ae_dash_conn;

typedef struct ae_dash {
    ae_dash_conn reads, history, cmds;
    const ae_dash_auth *auth; /* borrowed */
    bool loopback;            /* bound to a loopback address: Host is checked */
    int64_t stale_ns;         /* a link report older than this counts as offline */
    atomic_long requests;

    /* The fleet poll: its answer is shared for poll_ttl_ns by every page that asks, and each
     * collection feeds the recent tracks. */
    pthread_mutex_t poll_mu;
    json_t *poll_doc; /* the last collection (vehicles), or NULL */
    int64_t poll_at;  /* monotonic ns of poll_doc */
    int64_t poll_ttl_ns;
    double poll_took_ms;
    char poll_note[400];
    ae_dash_tracks tracks;
} ae_dash;

/* One request, as its handler sees it. */
typedef struct ae_dash_req {
    ae_dash *d;
    struct MHD_Connection *conn;
    const char *method, *url;
    const char *rest; /* the url after the route's path (a prefix route), else "" */
    const char *body; /* a POST's body (NUL-terminated), or NULL */
    size_t body_len;
    const char *user; /* who authenticated, or NULL when no credentials were required */
    char note[400];   /* sent as the header Aerie-Note (a copy that did not answer) */
} ae_dash_req;

typedef enum MHD_Result (*ae_dash_handler)(ae_dash_req *r);

typedef struct ae_dash_route {
    const char *method; /* "GET" (also answers HEAD) or "POST" */
    const char *path;   /* exact, or a prefix when it ends in '/' */
    ae_dash_handler fn;
} ae_dash_route;

/* The routes, ended by an entry whose path is NULL (dash_routes.c). */
extern const ae_dash_route ae_dash_routes[];

/* Sets up d's connections as copies of c's options (each connects on first use) and the
 * rest of the state. */
void ae_dash_init(ae_dash *d, const ae_cli *c, const ae_dash_auth *auth, bool loopback);
void ae_dash_free(ae_dash *d);

/* Starts serving on addr. Returns the daemon, or NULL (message in err). */
struct MHD_Daemon *ae_dash_start(ae_dash *d, const struct sockaddr_in *addr, ae_err *err);

/* Locks k and makes sure it is connected (a connection libnats gave up on, after the hub was
 * down longer than its reconnect budget, is replaced). Returns the ae_cli, or NULL with the
 * lock released and the error in err. */
ae_cli *ae_dash_conn_lock(ae_dash_conn *k, ae_err *err);
/* Copies the connection's note into the request's (for Aerie-Note) and unlocks. */
void ae_dash_conn_unlock(ae_dash_conn *k, ae_dash_req *r);

/* Replies; each takes the body. */
enum MHD_Result ae_dash_reply(ae_dash_req *r, unsigned code, const char *type,
                              char *body /* malloc'd */);
enum MHD_Result ae_dash_reply_json(ae_dash_req *r, unsigned code, json_t *j /* stolen */);
enum MHD_Result ae_dash_reply_error(ae_dash_req *r, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A query argument, or NULL. */
const char *ae_dash_arg(ae_dash_req *r, const char *name);

#endif
