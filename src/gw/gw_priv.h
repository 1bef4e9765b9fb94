/* The gateway's state, shared by the files of the loop (not part of the library's API).
 * From the top down; each file calls only into those below it:
 *   gateway.c  the loop, NATS connection, MAVLink links, telemetry;
 *   queue.c    requests on ...cmd.<name>; commands with an id: the journal, the catch-up
 *              after a reconnect, the ordered execution queue, expiry and supersession,
 *              outcome reports;
 *   cmdexec.c  COMMAND_LONG out with retries, COMMAND_ACK back, requests without an id;
 *              a command with an id that finishes goes back up through g->cmd_finished;
 *   gw_io.c    publishing, replies, sending to the autopilot, the vehicle's identity.
 * Everything here is owned by the loop thread, except what the libnats callbacks touch
 * under qlock (the inbound queue) and the atomic connection counter. */
#ifndef AERIE_GW_GW_PRIV_H
#define AERIE_GW_GW_PRIV_H

#include "gw/commands.h"
#include "gw/gw.h"
#include "gw/journal.h"
#include "gw/link.h"
#include "gw/metrics.h"
#include "gw/qcmd.h"
#include "gw/telemetry.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define AE_GW_INQ_MAX     256
#define AE_GW_PENDING_MAX 8
#define AE_GW_DOC_MAX     2048
/* The catch-up asks for the newest command of each kind, and for the vehicle's newest link
 * report (for the hub's clock): at most this many replies. */
#define AE_GW_CU_SLOTS 16

/* What a libnats callback hands to the loop. */
typedef enum ae_gw_in_kind {
    AE_GW_IN_CMD,     /* a request on ...cmd.<name> */
    AE_GW_IN_LINK,    /* the leaf's link report on ...link */
    AE_GW_IN_CATCHUP, /* a reply to a catch-up request */
} ae_gw_in_kind;

typedef struct ae_gw_in {
    ae_gw_in_kind kind;
    natsMsg *m;
} ae_gw_in;

/* A COMMAND_LONG waiting for its COMMAND_ACK. */
typedef struct ae_gw_pending {
    bool used;
    char name[16];
    char *reply;   /* reply subject of a request without an id (owned), or NULL */
    ae_gw_qcmd *q; /* the command with an id this is, or NULL */
    ae_mav_command_long cl;
    int attempts;
    int64_t deadline; /* monotonic */
    int64_t started;
} ae_gw_pending;

typedef struct ae_gw_rate_slot {
    int64_t last; /* monotonic time of the last publish */
    bool pending; /* a newer document is waiting for its turn */
    int len;
    char doc[AE_GW_DOC_MAX];
} ae_gw_rate_slot;

typedef struct ae_gw_link_ctx {
    ae_gw *g;
    int idx;
} ae_gw_link_ctx;

/* One round of catch-up requests (queue.c). */
typedef struct ae_gw_catchup {
    bool active;
    uint32_t gen;     /* names the replies of this round: <inbox>.<gen>.<slot> */
    int64_t deadline; /* monotonic */
    int expected, got;
    natsMsg *replies[AE_GW_CU_SLOTS];
    char since[64]; /* the link session it runs in ("" when unknown) */
} ae_gw_catchup;

struct ae_gw {
    ae_gw_config cfg;
    ae_gw_link links[AE_GW_MAX_LINKS];
    ae_gw_link_ctx lctx[AE_GW_MAX_LINKS];
    int nlinks;

    natsOptions *opts;
    natsConnection *nc;
    natsSubscription *sub, *link_sub, *cu_sub;
    int wake_fd;
    pthread_mutex_t qlock;
    ae_gw_in inq[AE_GW_INQ_MAX];
    int qhead, qlen;
    atomic_int connects; /* bumped by libnats on every (re)connect to the local server */

    char prefix[160]; /* "fleet.<env>.veh.<vid>." */

    /* the autopilot */
    bool have_ap;
    uint8_t ap_sysid, ap_compid;
    int ap_link;
    struct sockaddr_storage ap_addr;
    socklen_t ap_addr_len;
    int64_t last_hb; /* monotonic */
    ae_gw_vstate vs;
    bool have_utc;
    int64_t utc_off_ns; /* vehicle UTC = time_boot_ms * 1e6 + utc_off_ns */
    bool home_known;
    double home_alt_msl_m;

    ae_gw_rate_slot rl[AE_GW_NSTATE];
    ae_gw_pending cmds[AE_GW_PENDING_MAX];
    uint8_t tx_seq;
    int64_t next_hb_tx;
    uint64_t pub_errors;

    /* commands with an id (queue.c) */
    ae_gw_journal *journal;
    ae_gw_qcmd *fifo, *fifo_tail; /* in execution order; the head may be running */
    ae_gw_qcmd *held, *held_tail; /* live commands that came during a catch-up */
    ae_gw_catchup cu;
    char cu_inbox[64];
    int connects_seen;        /* the value of connects the loop has acted on */
    bool cu_on_connect;       /* (re)connected to the leaf: catch up without waiting for a report */
    int64_t cu_next_try;      /* monotonic: no new catch-up before this (after a failed one) */
    bool link_online;         /* the leaf's latest link report said online */
    char link_since[64];      /* its "since" (the link session) */
    char link_since_done[64]; /* the session the last complete catch-up ran in */
    bool hub_offset_known;
    int64_t hub_offset_ns; /* hub clock minus vehicle clock, from the latest catch-up */
    bool reports_unflushed;
    int64_t next_flush; /* monotonic: when to try to flush reports again */

    /* figures for /metrics (metrics.c) */
    int64_t start_ns; /* wall clock */
    uint64_t published;
    uint64_t cmd_sent, cmd_resends, cmd_acked;
    uint64_t cmd_failed[AE_GW_FAIL_NREASONS];
    struct ae_gw_metrics_srv *metrics; /* the listener, or NULL */

    /* Set by queue.c (ae_gw_queue_start): cmdexec.c hands it the outcome of a command with
     * an id (q, never NULL), which the queue records, reports and follows with the next. */
    void (*cmd_finished)(ae_gw *g, ae_gw_qcmd *q, const ae_gw_outcome *o);
};

/* gw_io.c */
void ae_gw_publish(ae_gw *g, const char *suffix, const void *data, int len);
/* Answers a requester on reply (nothing when reply is NULL). */
void ae_gw_reply(ae_gw *g, const char *reply, const char *doc, size_t len);
int ae_gw_send_to_autopilot(ae_gw *g, uint32_t msgid, const void *msg);
ae_gw_vehinfo ae_gw_vehinfo_now(const ae_gw *g);

/* cmdexec.c */
/* A request without an id on ...cmd.<name> (m stays the caller's): built and sent at once,
 * answered when the ACK comes or the retries run out, or refused now (bad arguments, busy). */
void ae_gw_exec_plain(ae_gw *g, natsMsg *m, const char *name);
/* Answers reply with {"ok":false,"result":kind,"error":msg} and counts a rejection. */
void ae_gw_exec_refuse(ae_gw *g, const char *reply, const char *name, const char *kind,
                       const char *msg);
/* Starts the COMMAND_LONG of q: 0 when it went out (journaled "delivered" and reported
 * first), AE_EAGAIN when it has to wait (no autopilot yet, home unknown, the same MAV_CMD
 * in flight, no free slot: err->msg says which), AE_EIO when the journal could not record
 * it (nothing sent), or AE_ENOENT / AE_EINVAL when the gateway refuses it (err says why).
 * Its outcome goes to g->cmd_finished. */
int ae_gw_exec_start(ae_gw *g, ae_gw_qcmd *q, ae_err *err);
void ae_gw_exec_ack(ae_gw *g, const ae_mav_command_ack *ack);
void ae_gw_exec_timeouts(ae_gw *g, int64_t now);
/* The earliest retry or give-up deadline of a command in flight (INT64_MAX: none). */
int64_t ae_gw_exec_next_deadline(const ae_gw *g);
void ae_gw_exec_free(ae_gw *g);

/* queue.c */
/* Opens the journal (cfg.state_dir) and subscribes to the link reports and catch-up
 * replies; republishes reports a previous run did not see flushed; sets g->cmd_finished. */
int ae_gw_queue_start(ae_gw *g, ae_err *err);
/* A request on ...cmd.<name>: with an id it is queued here, otherwise it goes to
 * ae_gw_exec_plain. Takes ownership of nothing (the caller destroys m). */
void ae_gw_queue_request(ae_gw *g, natsMsg *m);
void ae_gw_queue_link(ae_gw *g, natsMsg *m);
void ae_gw_queue_catchup_reply(ae_gw *g, natsMsg *m); /* takes ownership of m */
/* Every loop pass: catch-up triggers and deadlines, the execution queue, report flushes. */
void ae_gw_queue_tick(ae_gw *g, int64_t now);
/* When ae_gw_queue_tick must run next without an event (INT64_MAX: only on events). */
int64_t ae_gw_queue_next_deadline(ae_gw *g, int64_t now);
void ae_gw_queue_free(ae_gw *g);

#endif
