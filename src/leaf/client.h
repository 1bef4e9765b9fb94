/* A local client connection: NATS client protocol, server side.
 *
 * Reads into a growable buffer, hands complete operations from the parser to the op
 * handlers, queues output for the loop to flush, enforces limits (max_pending,
 * write_deadline, ping_max, auth timeout) and records why it closed. */
#ifndef AERIE_LEAF_CLIENT_H
#define AERIE_LEAF_CLIENT_H

#include "common/hmap.h"
#include "leaf/loop.h"
#include "leaf/outq.h"
#include "leaf/server.h"

#include <stdbool.h>
#include <stdint.h>

struct ae_client {
    ae_endpoint_kind kind; /* AE_EP_CLIENT; must stay first */
    ae_server *srv;
    uint64_t cid;
    ae_io io;
    char ip[64];
    int port;

    uint8_t *rbuf;
    size_t rlen, rcap;
    ae_outq out;
    int64_t write_stall_since; /* monotonic ns when output last stopped making progress; 0 */

    /* CONNECT options */
    bool connected; /* CONNECT accepted */
    bool verbose, pedantic, echo, headers, no_responders;
    int protocol;
    char *name, *lang, *version;

    ae_hmap subs; /* sid -> ae_ssub */
    uint64_t nsubs;

    /* the flush contract: a PING after publishes on uplink subjects is answered once they
     * are durable */
    uint64_t durable_wait;  /* log seq of this client's newest captured publish */
    uint64_t pong_wait_seq; /* deferred PONGs go out once this seq is durable */
    unsigned deferred_pongs;

    /* backpressure: reading stops while the hub link cannot take this client's traffic */
    bool read_paused;

    /* keepalive */
    int pings_out;
    int64_t next_ping; /* monotonic ns */
    int64_t last_in;   /* monotonic ns of the last bytes received */
    int64_t ping_sent_at;
    int64_t rtt_ns;

    /* statistics */
    int64_t start_ns; /* wall clock */
    int64_t start_mono;
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;

    /* close bookkeeping */
    bool closing;
    bool flush_then_close; /* write what is queued (an -ERR), then close */
    char close_reason[64];

    /* list links */
    ae_client *prev, *next;
    ae_client *pw_next;
    bool on_pw;
    ae_client *close_next;
};

/* Accepts a connection on fd (non-blocking), sends INFO, and registers it with the loop.
 * Returns the client or NULL (fd closed). */
ae_client *ae_client_accept(ae_server *s, int fd, const char *ip, int port);

/* Queues a MSG/HMSG for subscription `sub` of client c. */
void ae_client_deliver(ae_client *c, ae_ssub *sub, const ae_msg *m);

/* Sends -ERR 'text' (if text is not NULL) and closes after flushing it; `reason` is the
 * close reason shown in /connz (nats-server's wording). */
void ae_client_close(ae_client *c, const char *err_text, const char *reason);

/* Writes queued output; returns false if the connection was closed. */
bool ae_client_flush(ae_client *c);

/* Periodic checks (pings, stale, auth timeout, write deadline). `now` is monotonic. */
void ae_client_tick(ae_client *c, int64_t now);

/* Frees a client that is closing: unsubscribes everything, closes the fd. */
void ae_client_free(ae_client *c);

/* Removes and frees one of c's subscriptions (never during a fanout). */
void ae_client_remove_sub(ae_client *c, ae_ssub *sub);

/* Queues -ERR 'text' without closing the connection. */
void ae_client_send_err(ae_client *c, const char *text);

/* Stops or resumes reading from the client (backpressure from a slow uplink). */
void ae_client_set_read_paused(ae_client *c, bool paused);

/* Queues raw bytes to the client. */
void ae_client_send(ae_client *c, const void *p, size_t n);

#endif
