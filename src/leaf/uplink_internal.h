/* Private to the uplink: its state (struct ae_uplink), shared by its files. Each file calls
 * only into those below it; the loop and the broker reach the upper ones through the
 * callbacks that uplink.c installs (dial: the socket's; start: the timers' and the hooks').
 *   uplink_read.c       the socket's events, the read path (TLS, websocket unframing, the
 *                       parser) and the hub's operations handed on by kind;
 *   uplink_handshake.c  connected -> TLS -> websocket upgrade -> INFO -> CONNECT -> ready,
 *                       and the hub's -ERR;
 *   uplink_keepalive.c  the tick: the handshake's timeout, PINGs, the look for home, the
 *                       periodic status message;
 *   uplink_status.c     the link status message to local subscribers and the hub, and the
 *                       uplink's part of /leafz and /varz;
 *   uplink_traffic.c    interest both ways (LS+/LS-) and messages both ways (LMSG/HMSG);
 *   uplink_write.c      the write path: control ahead of data, pacing, websocket frames;
 *   uplink.c            the lifecycle: start/stop, state changes and the status JSON,
 *                       dial, disconnect, backoff and reconnect, going home.
 * Loop thread only. */
#ifndef AERIE_LEAF_UPLINK_INTERNAL_H
#define AERIE_LEAF_UPLINK_INTERNAL_H

#include "common/hmap.h"
#include "common/nkeys.h"
#include "common/timeutil.h"
#include "leaf/homeprobe.h"
#include "leaf/hub_urls.h"
#include "leaf/interest.h"
#include "leaf/loop.h"
#include "leaf/outq.h"
#include "leaf/tls.h"
#include "leaf/uplink.h"
#include "leaf/ws_link.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READ_CHUNK           (64 * 1024)
#define HANDSHAKE_TIMEOUT_NS (5 * AE_NS_PER_SEC)
#define LOOP_DELAY_NS        (30 * AE_NS_PER_SEC) /* as nats-server after loop/permission errors */
#define DATA_QUEUE_HWM       (1024 * 1024) /* above this, publishers feeding the link are paused */
#define DATA_QUEUE_LIMIT     (64 * 1024 * 1024) /* best-effort traffic beyond this is dropped */
#define LOW_WATER            (256 * 1024)
/* websocket: data waiting for a frame to fill goes at once when this much is there */
#define WS_FILL_TARGET (AE_WS_PACK_MAX / 4)

/* Hub interest: one LS+ key, mirrored into the broker's sublist. */
typedef struct hub_interest {
    ae_ssub ss; /* ss.sub.owner = the uplink; kind AE_EP_UPLINK */
    char *key;
    size_t key_len;
} hub_interest;

struct ae_uplink {
    ae_endpoint_kind kind; /* AE_EP_UPLINK; must stay first */
    ae_server *srv;
    ae_uplink_state state;

    /* configuration (copied) */
    ae_hub_urls urls;
    char *user, *pass, *token;
    ae_nkey nkey;
    bool have_nkey;
    char *jwt;
    bool want_tls;
    ae_tls_ctx *tls_ctx;
    char vid[128], env[64];
    char name[128];

    /* connection */
    ae_io io;
    ae_tls *tls;
    const ae_hub_url *cur;
    int64_t state_since; /* monotonic */
    uint8_t *rbuf;
    size_t rlen, rcap;
    ae_outq ctrl;     /* PING/PONG/LS±/CONNECT: always ahead of data */
    ae_outq data;     /* LMSG/HMSG */
    uint32_t *bounds; /* sizes of queued data messages, FIFO, so control can go between them */
    size_t nb_head, nb_len, nb_cap;
    size_t cur_left;   /* bytes of the data message being written; 0 at a boundary */
    bool ctrl_partial; /* a control write stopped midway: finish it before data */
    double tokens;     /* pacing: bytes that may be sent now */
    int64_t tokens_at;
    ae_timer retry_write;
    ae_timer flush_timer; /* coalesces data writes to one per loop pass */

    /* websocket transport (ws://, wss://) */
    bool use_ws; /* this connection speaks websocket */
    bool ws_compress, ws_no_masking;
    int64_t ws_frame_wait_ns; /* how long data may wait to fill a frame */
    int64_t data_since;       /* when the data queue last became non-empty (monotonic) */
    ae_ws_link ws;
    uint8_t *wsin;              /* socket bytes before unframing */
    uint64_t link_in, link_out; /* bytes through the socket (TLS: before encryption) */
    uint64_t ws_app_in, ws_app_out, ws_wire_in, ws_wire_out, ws_frames_out; /* all connections */

    /* going home: the first home_n urls are the home region's */
    int home_n;
    int64_t home_check_ns;
    int64_t next_home_check;
    int home_next;
    ae_homeprobe home;

    /* reconnect */
    ae_timer reconnect;
    int failures;
    int64_t forced_delay; /* 30 s after loop/permission errors */
    uint64_t reconnects;

    /* the hub */
    char hub_name[128], hub_id[64], hub_cluster[128], hub_domain[64];
    char nonce[128];
    int64_t hub_max_payload;
    json_t *import_perm, *export_perm; /* {"allow":[...],"deny":[...]} or NULL */
    char lds[40];                      /* our loop-detection subject */
    char inbox_prefix[48];             /* "_INBOX.<random>." */

    ae_interest local; /* what we advertise to the hub */
    ae_hmap hub;       /* key -> hub_interest */

    /* keepalive */
    int pings_out;    /* PINGs written to the socket and not answered */
    bool ping_queued; /* a PING waits in the control queue (behind a large message) */
    int64_t next_ping;
    int64_t ping_sent_at;  /* when the outstanding PING left, for the RTT */
    int64_t last_progress; /* when bytes last went out to the hub (monotonic) */
    int64_t rtt_ns;

    /* statistics and status */
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes, dropped_msgs;
    int64_t connected_since; /* wall clock, 0 when down */
    char last_error[256];
    int64_t next_status;

    ae_uplink_client client;
    bool notifying; /* inside client.on_writable */
    bool above_hwm; /* the data queue passed DATA_QUEUE_HWM since it last drained: publishers
                       feeding it may be paused (route) and are resumed below LOW_WATER */
};

/* ---- uplink_read.c ---------------------------------------------------------------------- */

/* The socket's callback (installed by dial). */
void uplink_on_io(ae_loop *loop, ae_io *io, unsigned events);

/* ---- uplink_handshake.c ----------------------------------------------------------------- */

/* The TCP connect finished (or failed): TLS first, the websocket upgrade, or the hub's INFO. */
void uplink_connected(ae_uplink *u);
/* Moves the TLS handshake on; then the websocket upgrade or CONNECT. */
void uplink_drive_tls(ae_uplink *u);
/* The hub's INFO: learns URLs and permissions; during the handshake it leads to TLS or
 * CONNECT, and the one that accepts our CONNECT makes the link ready. */
void uplink_hub_info(ae_uplink *u, const ae_op *op);
/* The hub's -ERR: a clear last_error, then disconnect (30 s away after loops). */
void uplink_hub_err(ae_uplink *u, const ae_op *op);

/* ---- uplink_keepalive.c ----------------------------------------------------------------- */

/* The server's tick hook. */
void uplink_hook_tick(void *ctx, int64_t now);

/* ---- uplink_traffic.c ------------------------------------------------------------------- */

/* The server's interest and forward hooks. */
void uplink_hook_interest(void *ctx, const ae_ssub *sub, bool added);
void uplink_hook_forward(void *ctx, const ae_msg *m, const ae_slice *queues, size_t nq);
/* On a new connection: our loop-detection subject, the inbox, and all local interest. */
void uplink_send_all_interest(ae_uplink *u);
/* The hub's LS+ / LS- (mirrored into the sublist) and LMSG/HMSG (routed locally). */
void uplink_hub_ls_plus(ae_uplink *u, const ae_op *op);
void uplink_hub_ls_minus(ae_uplink *u, const ae_op *op);
void uplink_hub_msg(ae_uplink *u, const ae_op *op);

/* ---- uplink_write.c --------------------------------------------------------------------- */

/* Queues a control line (PING, PONG, LS±, CONNECT, -ERR); it goes ahead of data. */
void uplink_send_ctrl(ae_uplink *u, const char *s, size_t n);
void uplink_send_ctrlf(ae_uplink *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queues one LMSG/HMSG; the caller built the control line. Written on the next loop pass. */
int uplink_queue_data(ae_uplink *u, const char *line, size_t line_len, const void *hdr,
                      size_t hdr_len, const void *payload, size_t payload_len);
/* Writes what waits, as far as the socket and the pacing allow. */
void uplink_flush(ae_uplink *u);
/* uplink_flush, then resumes paused publishers and tells the forwarder below LOW_WATER. */
void uplink_flush_and_notify(ae_uplink *u);
/* The retry_write and flush_timer timers' callback. */
void uplink_on_retry_write(ae_loop *loop, ae_timer *t);
/* The server's congested hook. */
bool uplink_hook_congested(void *ctx);

/* ---- uplink.c --------------------------------------------------------------------------- */

void uplink_set_state(ae_uplink *u, ae_uplink_state st);
/* Sets last_error and logs it. */
void uplink_set_error(ae_uplink *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Closes the connection (why NULL: quietly), forgets the hub's interest and schedules the
 * reconnect unless draining. */
void uplink_disconnect(ae_uplink *u, const char *why);
/* n random letters and digits, NUL-terminated (out holds n + 1; n <= 64). */
void uplink_rand_token(char *out, size_t n);
/* While failed over to a fallback region, looks now and then whether home answers. */
void uplink_check_home(ae_uplink *u, int64_t now);

/* The link's own status fields; with_client adds the forwarder's (the link status message). */
json_t *uplink_status_json(ae_uplink *u, bool with_client);
/* Builds the link status message, hands it to local subscribers and schedules the next one.
 * Returns the body (the caller frees it; NULL when out of memory) and its subject in subj. */
char *uplink_status_to_local(ae_uplink *u, char *subj, size_t cap, size_t *subj_len);

#endif
