/* A local client connection: NATS client protocol, server side.
 *
 * Reads into a growable buffer, hands complete operations from the parser to the op
 * handlers, queues output for the loop to flush (in plaintext or through TLS), enforces
 * limits (max_pending, write_deadline, ping_max, auth timeout, permissions) and records why
 * it closed.
 *
 * Files: client.c (accept, the read path, the SUB/UNSUB/PUB handlers, delivery, periodic
 * checks, free), connect_op.c (CONNECT), ping.c (PING and durable PONGs), conn.c (output,
 * flushing, pausing reads, fast-producer stalls, closing), server.c (what the loop does with
 * all connections each pass), registry.c (the lists), auth.c (who the connection is) and
 * perms.c (what it may do). client.c calls into server.c only to route a
 * message; server.c calls ae_client_deliver back (the route <-> deliver pair). */
#ifndef AERIE_LEAF_CLIENT_H
#define AERIE_LEAF_CLIENT_H

#include "common/hmap.h"
#include "leaf/loop.h"
#include "leaf/outq.h"
#include "leaf/server.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ae_tls ae_tls;
typedef struct ae_perms ae_perms;

/* Why reading is paused (bits of ae_client.pause). */
enum {
    AE_PAUSE_UPLINK = 1u << 0, /* the hub link cannot take this client's traffic now */
    AE_PAUSE_STALL = 1u << 1,  /* fast producer: a consumer of its messages is behind */
};

/* TLS progress of a connection on a TLS client port. */
typedef enum ae_client_tls_state {
    AE_CTLS_NONE = 0,  /* plaintext port */
    AE_CTLS_INFO,      /* INFO (plaintext) still being written; the handshake starts after it */
    AE_CTLS_HANDSHAKE, /* handshake in progress */
    AE_CTLS_READY,     /* everything goes through TLS */
} ae_client_tls_state;

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

    /* TLS (tls_state AE_CTLS_NONE on a plaintext port) */
    ae_client_tls_state tls_state;
    ae_tls *tls;
    size_t plain_left; /* bytes at the head of `out` (INFO) still to send in plaintext */

    /* CONNECT options */
    bool connected; /* CONNECT accepted */
    bool verbose, pedantic, echo, headers, no_responders;
    int protocol;
    char *name, *lang, *version;
    char *user;      /* the authenticated user, for logs and /connz */
    ae_perms *perms; /* NULL: no permissions apply */

    ae_hmap subs; /* sid -> ae_ssub */
    uint64_t nsubs;

    /* the flush contract: a PING after publishes on uplink subjects is answered once they
     * are durable */
    uint64_t durable_wait;  /* log seq of this client's newest captured publish */
    uint64_t pong_wait_seq; /* deferred PONGs go out once this seq is durable */
    unsigned deferred_pongs;
    uint64_t lost_reported;    /* the newest seq whose loss (log failure) this client was told */
    char durable_subject[128]; /* the subject of durable_wait (cut), to name it in that -ERR */

    /* Reading is paused while any AE_PAUSE_* bit is set; unparsed input waits in rbuf. */
    unsigned pause;
    bool hup; /* the peer hung up while reading was paused: close once rbuf is parsed */

    /* Fast-producer stall (nats-server's contract): as a consumer, `stalling` while its
     * pending output is above half of max_pending; as a producer, paused until
     * `stalled_on` drains below that, or until stall_timer fires. */
    bool stalling;
    ae_client *stalled_on;
    ae_timer stall_timer;
    uint64_t stalls;       /* times this connection, as a consumer, stalled a producer */
    uint64_t stalled;      /* times this connection, as a producer, was stalled */
    int64_t stalled_ns;    /* total time paused as a producer */
    int64_t stall_started; /* monotonic ns of the current stall */

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
    bool flush_then_close; /* write what is queued, then close */
    bool retired;          /* socket closed and recorded; subscriptions may still be dropped */
    size_t drop_pos;       /* where ae_client_drop_subs goes on in the sid table */
    char close_reason[64];

    /* registry links (registry.c) */
    ae_client *prev, *next;
    ae_client *pw_next, *close_next, *ready_next, *stall_next;
    bool on_pw, on_closing, on_ready, on_stall;
};

/* ---- client.c ------------------------------------------------------------------------ */

/* Accepts a connection on fd (non-blocking) and registers it (it gets its cid). Returns the
 * client or NULL (fd closed). ae_client_start must follow. */
ae_client *ae_client_accept(ae_server *s, int fd, const char *ip, int port);
/* Queues `info` (the INFO line, in plaintext even on a TLS port) and starts reading (or the
 * TLS handshake once INFO is out); closes at once when over max_connections or draining. */
void ae_client_start(ae_client *c, const char *info, size_t info_len);

/* Queues a MSG/HMSG for subscription `sub` of client c. Returns false when nothing was
 * queued (closing, or a subscribe-deny rule filters this subject). Marks the subscription
 * dead (sub->dead) when it reached its auto-unsubscribe count: the caller removes it once
 * the fanout is over. */
bool ae_client_deliver(ae_client *c, ae_ssub *sub, const ae_msg *m);

/* Parses input a resumed connection still holds, then reads again. */
void ae_client_resume_input(ae_client *c);

/* Periodic checks (pings, stale, auth and TLS timeouts, write deadline). `now` is
 * monotonic. */
void ae_client_tick(ae_client *c, int64_t now);

/* First step of freeing a closing client: closes the socket, records the connection in the
 * closed ring and releases its buffers. Its subscriptions stay (deliveries skip a closing
 * client) until ae_client_drop_subs or ae_client_free; idempotent. */
void ae_client_retire(ae_client *c);
/* Drops up to `max` of a closing client's subscriptions; returns how many are left. Lets the
 * loop take apart a connection with a million subscriptions a slice at a time. */
uint64_t ae_client_drop_subs(ae_client *c, uint64_t max);
/* Frees a closing client: retires it if needed, drops every subscription, frees it. */
void ae_client_free(ae_client *c);

/* Removes and frees one of c's subscriptions (never during a fanout). */
void ae_client_remove_sub(ae_client *c, ae_ssub *sub);

/* ---- conn.c: output, reading state and stalls, closing ------------------------------------------
 */

/* Queues raw bytes to the client. */
void ae_client_send(ae_client *c, const void *p, size_t n);
/* Queues +OK when the client asked for verbose replies. */
void ae_client_send_ok(ae_client *c);
/* Queues -ERR 'text' without closing the connection. */
void ae_client_send_err(ae_client *c, const char *text);

/* Writes queued output (plaintext or TLS). Returns false if the connection was closed. */
bool ae_client_flush(ae_client *c);

/* Closes after writing what is queued: with -ERR 'err_text' first if err_text is not NULL.
 * `reason` is the close reason shown in /connz (nats-server's wording). */
void ae_client_close(ae_client *c, const char *err_text, const char *reason);
/* Closes discarding queued output (read/write errors, slow consumers, TLS failures: cases
 * where nats-server skips the final flush). */
void ae_client_drop(ae_client *c, const char *reason);

/* Stops reading for `why` (an AE_PAUSE_* bit) / clears it; reading resumes (buffered input
 * first) once no bit is left. */
void ae_client_pause(ae_client *c, unsigned why);
void ae_client_unpause(ae_client *c, unsigned why);

/* Fast-producer stall: `producer` just queued a message for `consumer`, which is above half
 * of max_pending (consumer->stalling). Pauses the producer's reading for nats-server's stall
 * time (100 ms, growing with the consumer's excess, at most 1 s) or until the consumer
 * drains below half. Internal producers (the uplink) are never stalled: pass only local
 * clients. */
void ae_client_stall(ae_client *producer, ae_client *consumer);
/* The stall timer's callback (ae_client.stall_timer): the stall ends. */
void ae_client_stall_timeout(ae_loop *loop, ae_timer *t);
/* Releases the producers stalled on consumer c (it drained, or it is going away). */
void ae_client_release_stalled(ae_client *c);
/* Ends producer p's stall (timer, consumer drained or gone): p reads again. */
void ae_client_end_stall(ae_client *p);

/* Reads decrypted (TLS) or plain bytes: > 0, 0 at EOF, -1 with errno (EAGAIN: nothing now). */
ssize_t ae_client_read_bytes(ae_client *c, void *buf, size_t n);

/* The loop interest this connection should have now (read unless paused, write while
 * output is pending or TLS needs it); applied to the loop. */
void ae_client_update_interest(ae_client *c);

#endif
