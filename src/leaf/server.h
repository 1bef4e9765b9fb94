/* The broker: listening socket, the set of client connections, the subscription index,
 * message routing between local clients and the uplink, statistics, and the loop hooks
 * that flush output and free closed connections.
 *
 * Everything here runs on the loop thread. Connections are never freed inside a handler:
 * they are marked closing and freed in before_sleep (Redis freeClientAsync). */
#ifndef AERIE_LEAF_SERVER_H
#define AERIE_LEAF_SERVER_H

#include "leaf/hooks.h"
#include "leaf/loop.h"
#include "leaf/opts.h"
#include "leaf/proto.h"
#include "leaf/sublist.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ae_client ae_client;
typedef struct ae_server ae_server;
typedef struct ae_uplink ae_uplink;
typedef struct ae_monitor ae_monitor;

/* What owns a subscription in the shared sublist. Both ae_client and ae_uplink start with
 * this tag so ae_sub.owner can be told apart. */
typedef enum ae_endpoint_kind { AE_EP_CLIENT = 1, AE_EP_UPLINK = 2 } ae_endpoint_kind;

/* A subscription record. For a client: one SUB. For the uplink: one unit of hub interest
 * (an LS+ subject, or subject + queue). */
typedef struct ae_ssub {
    ae_sub sub;            /* sub.owner = the ae_client or ae_uplink */
    ae_endpoint_kind kind; /* of the owner */
    char *subject;         /* owned, NUL-terminated */
    char *queue;           /* owned or NULL */
    char *sid;             /* owned (clients) */
    size_t sid_len;
    uint64_t delivered;
    int64_t max;    /* auto-unsubscribe after this many deliveries; 0 = none */
    int32_t weight; /* uplink queue interest weight */
    bool dead;      /* removed or scheduled for removal */
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

/* A closed connection kept for /connz?state=closed. */
typedef struct ae_closed_info {
    uint64_t cid;
    char ip[64];
    int port;
    int64_t start_ns, stop_ns;
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    int subs;
    char name[64], lang[32], version[32];
    char reason[64];
} ae_closed_info;

#define AE_CLOSED_RING 128

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

    /* connections */
    ae_client *clients; /* doubly linked list of live connections */
    uint64_t next_cid;
    uint64_t nclients;
    ae_client *pending_write; /* singly linked via client->pw_next */
    ae_client *closing;       /* singly linked via client->close_next */

    /* deferred subscription removals (auto-unsubscribe during a fanout) */
    ae_ssub **dead;
    size_t ndead, capdead;

    /* statistics, nats-server names */
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    uint64_t slow_consumers, total_connections;
    ae_closed_info closed[AE_CLOSED_RING];
    uint64_t nclosed;

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
 * zeroed), binds the client port and the monitoring port. Returns 0 or an error with a
 * message naming the address. */
int ae_server_new(ae_opts *opts, ae_server **out, ae_err *err);
/* Runs until SIGTERM/SIGINT drains it. Returns the process exit code. */
int ae_server_run(ae_server *s);
void ae_server_free(ae_server *s);

/* Reloads the config file (SIGHUP). Returns 0 or an error; on error the old config stays. */
int ae_server_reload(ae_server *s, ae_err *err);

/* ---- routing ------------------------------------------------------------------------- */

/* Delivers a message from a local client (src), from the uplink (src NULL, from_uplink) or
 * from the server itself (src NULL: status messages, which may go to the hub). Returns the
 * number of deliveries made (local subscribers plus one for the uplink). */
size_t ae_server_route(ae_server *s, ae_client *src, const ae_msg *m);

/* Marks a subscription for removal once the current fanout is over. */
void ae_server_defer_unsub(ae_server *s, ae_ssub *sub);
/* Applies deferred removals. */
void ae_server_reap_subs(ae_server *s);

/* Puts a client on the pending-write list (idempotent). */
void ae_server_want_write(ae_server *s, ae_client *c);

/* Called by client.c when a subscription of a local client comes or goes, so the uplink can
 * advertise interest. */
void ae_server_local_interest(ae_server *s, const ae_ssub *sub, bool added);

/* The uplink calls this when its queue drained: clients paused for it read again. */
void ae_server_resume_readers(ae_server *s);

/* The forwarder calls this when the log's durable seq advanced: deferred PONGs go out. */
void ae_server_durable_advanced(ae_server *s);

/* Appends the INFO line for a new client connection to `out` (cap bytes). Returns length. */
size_t ae_server_info_line(ae_server *s, ae_client *c, char *out, size_t cap);

#endif
