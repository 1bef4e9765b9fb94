/* The broker: the listening socket (plain or TLS), accepting connections, the subscription
 * index, message routing between local clients and the uplink, signals, draining and
 * reload. The connections themselves are kept in the registry (registry.h) and worked on
 * by server.c's loop passes; server.c calls client.c to accept and deliver, and client.c calls back
 * only to route a message (the route <-> deliver pair).
 *
 * Everything here runs on the loop thread. Connections are never freed inside a handler:
 * they are marked closing and freed in before_sleep (Redis freeClientAsync). */
#ifndef AERIE_LEAF_SERVER_H
#define AERIE_LEAF_SERVER_H

#include "leaf/hooks.h"
#include "leaf/loop.h"
#include "leaf/opts.h"
#include "leaf/proto.h"
#include "leaf/registry.h"
#include "leaf/sublist.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ae_client ae_client;
typedef struct ae_server ae_server;
typedef struct ae_uplink ae_uplink;
typedef struct ae_monitor ae_monitor;
typedef struct ae_tls_ctx ae_tls_ctx;

/* What owns a subscription in the shared sublist. Both ae_client and ae_uplink start with
 * this tag so ae_sub.owner can be told apart. */
typedef enum ae_endpoint_kind { AE_EP_CLIENT = 1, AE_EP_UPLINK = 2 } ae_endpoint_kind;

/* A subscription record. For a client: one SUB. For the uplink: one unit of hub interest
 * (an LS+ subject, or subject + queue). */
typedef struct ae_ssub {
    ae_sub sub;            /* sub.owner = the ae_client or ae_uplink */
    ae_endpoint_kind kind; /* of the owner */
    char *subject;         /* NUL-terminated; a client's lives in the same allocation */
    char *queue;           /* NULL, or as subject */
    char *sid;             /* clients only, as subject */
    size_t sid_len;
    uint64_t delivered;
    int64_t max;    /* auto-unsubscribe after this many deliveries; 0 = none */
    int32_t weight; /* uplink queue interest weight */
    bool dead;      /* removed, or reached its max and to be removed after the fanout */
} ae_ssub;

/* A message to route. `subject` is what subscriptions are matched against; `deliver_subject`
 * is what local subscribers are shown (they differ only for JetStream `@` replies that
 * arrive from the hub). `queues` restricts queue delivery to the listed groups (messages
 * from the hub); an absent `queues` with from_uplink means plain subscribers only. */
typedef struct ae_msg {
    ae_slice subject;
    ae_slice deliver_subject;
    ae_slice reply;
    size_t hdr_len;
    size_t total_len;
    const uint8_t *payload;
    ae_slice queues;
    bool from_uplink; /* arrived from the hub: never goes back there */
} ae_msg;

struct ae_server {
    ae_opts opts;
    ae_loop *loop;
    ae_io listen_io;
    ae_io signal_io;
    ae_timer tick;
    ae_sublist *sl;
    char server_id[64];
    char server_name[128];
    int port; /* the bound port (opts.port may be 0) */
    int64_t start_ns;
    int64_t config_load_ns;

    ae_tls_ctx *tls_ctx; /* TLS on the client port, or NULL */

    /* connections */
    ae_registry reg;

    /* deferred subscription removals (auto-unsubscribe during a fanout) */
    ae_ssub **dead;
    size_t ndead, capdead;

    /* statistics, nats-server names (stalls: /varz stalled_clients) */
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    uint64_t slow_consumers, stalls;

    /* draining on SIGTERM */
    bool draining;
    int64_t drain_deadline;
    int exit_code;

    /* The optional modules (hooks.h says who calls what). */
    ae_uplink_hooks uplink_hooks;
    ae_uplink *uplink; /* NULL when no leafnodes remote is configured */
    ae_durable_hooks durable_hooks;
    struct ae_forward *forward; /* NULL without uplink subjects */
    ae_monitor *monitor;

    /* argv to re-apply on reload */
    int argc;
    char **argv;
};

/* Creates the server from options (ownership of *opts moves into the server and *opts is
 * zeroed) and binds the client port. Returns 0 or an error with a message naming the
 * address. The monitoring port is monitor.c's (main.c starts it). */
int ae_server_new(ae_opts *opts, ae_server **out, ae_err *err);
/* Runs until SIGTERM/SIGINT drains it. Returns the process exit code. */
int ae_server_run(ae_server *s);
/* Frees the broker; the modules above it (uplink, forwarder, monitor) are stopped first. */
void ae_server_free(ae_server *s);

/* Reloads the config file (SIGHUP). Returns 0 or an error; on error the old config stays. */
int ae_server_reload(ae_server *s, ae_err *err);

/* ---- routing ------------------------------------------------------------------------- */

/* Delivers a message from a local client (src), from the uplink (src NULL, from_uplink) or
 * from the server itself (src NULL: status messages, which may go to the hub). Returns the
 * number of deliveries made (local subscribers plus one for the uplink). */
size_t ae_server_route(ae_server *s, ae_client *src, const ae_msg *m);

/* The uplink calls this when its queue drained: clients paused for it read again. */
void ae_server_resume_readers(ae_server *s);

/* The forwarder calls this when the log's durable seq advanced: deferred PONGs go out. */
void ae_server_durable_advanced(ae_server *s);

#endif
