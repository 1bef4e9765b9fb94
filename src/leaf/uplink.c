/* The leafnode uplink to the hub; see uplink.h.
 *
 * Sections: URLs and backoff; the socket and TLS; the write path (control before data,
 * pacing); the handshake; interest both ways; messages both ways; keepalive and status;
 * hooks and lifecycle. Protocol facts: docs/compatibility.md and the NATS leafnode notes
 * (LS+/LS- carry no account; LMSG lists hub queue groups; `$LDS.` detects loops; JetStream
 * deliveries encode the stream subject after an `@` in the reply). */
#include "leaf/uplink.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/nkeys.h"
#include "common/random.h"
#include "common/timeutil.h"
#include "leaf/client.h"
#include "leaf/homeprobe.h"
#include "leaf/hub_urls.h"
#include "leaf/interest.h"
#include "leaf/outq.h"
#include "leaf/subject.h"
#include "leaf/tls.h"
#include "leaf/ws_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void schedule_reconnect(ae_uplink *u);
static void flush(ae_uplink *u);
static void flush_and_notify(ae_uplink *u);
static void on_io(ae_loop *loop, ae_io *io, unsigned events);

/* Identical vehicles must not draw the same reconnect delays or inbox names: the kernel's
 * random source (common/random.h). Should it ever fail, the clock's nanoseconds still differ
 * between vehicles restarted together. */
static void random_bytes(void *buf, size_t n)
{
    if (ae_random_bytes(buf, n, NULL) == 0)
        return;
    uint64_t x = (uint64_t)ae_now_ns() ^ (uint64_t)getpid() << 32;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((unsigned char *)buf)[i] = (unsigned char)x;
    }
}

static void rand_token(char *out, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[64];
    random_bytes(raw, n);
    for (size_t i = 0; i < n; i++)
        out[i] = al[raw[i] % (sizeof al - 1)];
    out[n] = 0;
}

/* Uniform in [-1, 1]. */
static double rand_sym(void)
{
    uint32_t v;
    random_bytes(&v, sizeof v);
    return (double)v / (double)UINT32_MAX * 2.0 - 1.0;
}

static void set_state(ae_uplink *u, ae_uplink_state st)
{
    if (u->state == st)
        return;
    ae_log_debug("uplink: %s -> %s", ae_uplink_state_name(u->state), ae_uplink_state_name(st));
    u->state = st;
    u->state_since = ae_mono_ns();
    if (st == AE_UPLINK_DISCONNECTED)
        ae_uplink_publish_status(u);
}

static void set_error(ae_uplink *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(ae_uplink *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->last_error, sizeof u->last_error, fmt, ap);
    va_end(ap);
    ae_log_error("uplink: %s", u->last_error);
}

/* ---- URLs and backoff ------------------------------------------------------------------ */

/* Adds a hub URL the cluster advertised ("host:port"), unless known. */
static void learn_url(ae_uplink *u, const char *hostport)
{
    if (ae_hub_urls_learn(&u->urls, hostport))
        ae_log_debug("uplink: learned hub url %s", hostport);
}

static int64_t backoff_delay(ae_uplink *u)
{
    const ae_opts *o = &u->srv->opts;
    if (u->forced_delay) {
        int64_t d = u->forced_delay;
        u->forced_delay = 0;
        return d;
    }
    double d = (double)o->reconnect_min_ns;
    for (int i = 0; i < u->failures && d < (double)o->reconnect_max_ns; i++)
        d *= 2;
    if (d > (double)o->reconnect_max_ns)
        d = (double)o->reconnect_max_ns;
    /* Jitter spreads a fleet's reconnects after a hub outage. */
    double j = o->reconnect_jitter * d * rand_sym();
    d += j;
    if (d < 50e6)
        d = 50e6;
    return (int64_t)d;
}

/* ---- socket, TLS, disconnect ------------------------------------------------------------ */

static void remove_hub_interest(ae_uplink *u)
{
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(&u->hub, &pos))) {
        hub_interest *hi = e->val;
        ae_sublist_remove(u->srv->sl, &hi->ss.sub);
        free(hi->ss.subject);
        free(hi->ss.queue);
        free(hi->key);
        free(hi);
    }
    ae_hmap_free(&u->hub);
}

/* Folds the finished websocket connection's counters into the uplink's totals. */
static void ws_account(ae_uplink *u)
{
    u->ws_app_in += u->ws.app_in;
    u->ws_app_out += u->ws.app_out;
    u->ws_wire_in += u->ws.wire_in;
    u->ws_wire_out += u->ws.wire_out;
    u->ws_frames_out += u->ws.frames_out;
    u->ws.app_in = u->ws.app_out = u->ws.wire_in = u->ws.wire_out = u->ws.frames_out = 0;
    u->ws.frames_in = 0;
}

static void disconnect(ae_uplink *u, const char *why)
{
    if (u->state == AE_UPLINK_DISCONNECTED)
        return;
    bool was_ready = u->state == AE_UPLINK_READY;
    if (why)
        ae_log_warn("uplink: disconnected from %s:%d: %s", u->cur ? u->cur->host : "?",
                    u->cur ? u->cur->port : 0, why);
    if (u->io.registered)
        ae_loop_del(u->srv->loop, &u->io);
    if (u->use_ws && u->ws.open && u->io.fd >= 0 && !u->tls) {
        /* say goodbye with a CLOSE frame when the socket takes it at once */
        ae_outq_clear(&u->ws.wire);
        ae_ws_link_close(&u->ws, 1001);
        ae_outq_flush_fd(&u->ws.wire, u->io.fd, SIZE_MAX);
    }
    ws_account(u);
    ae_ws_link_reset(&u->ws);
    free(u->wsin);
    u->wsin = NULL;
    ae_tls_free(u->tls);
    u->tls = NULL;
    if (u->io.fd >= 0)
        close(u->io.fd);
    u->io.fd = -1;
    free(u->rbuf);
    u->rbuf = NULL;
    u->rlen = u->rcap = 0;
    ae_outq_clear(&u->ctrl);
    u->dropped_msgs += u->nb_len;
    ae_outq_clear(&u->data);
    u->nb_head = u->nb_len = 0;
    u->cur_left = 0;
    u->ctrl_partial = false;
    ae_loop_timer_stop(u->srv->loop, &u->retry_write);
    ae_loop_timer_stop(u->srv->loop, &u->flush_timer);
    remove_hub_interest(u);
    ae_interest_disconnected(&u->local);
    json_decref(u->import_perm);
    json_decref(u->export_perm);
    u->import_perm = u->export_perm = NULL;
    u->connected_since = 0;
    u->pings_out = 0;
    u->ping_queued = false;
    set_state(u, AE_UPLINK_DISCONNECTED);
    if (was_ready && u->client.on_ready)
        u->client.on_ready(u->client.ctx, false);
    if (!u->srv->draining)
        schedule_reconnect(u);
}

static void on_reconnect_timer(ae_loop *loop, ae_timer *t);

static void schedule_reconnect(ae_uplink *u)
{
    int64_t d = backoff_delay(u);
    u->failures++;
    ae_log_info("uplink: reconnecting in %.1fs", (double)d / 1e9);
    ae_loop_timer_start(u->srv->loop, &u->reconnect, d);
}

static void dial(ae_uplink *u)
{
    u->cur = ae_hub_urls_next(&u->urls);
    if (!u->cur)
        return;
    char port[16];
    snprintf(port, sizeof port, "%d", u->cur->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    /* Blocking name resolution: hub addresses are normally IPs or /etc/hosts names. */
    int gai = getaddrinfo(u->cur->host, port, &hints, &res);
    if (gai != 0) {
        set_error(u, "cannot resolve hub %s: %s", u->cur->host, gai_strerror(gai));
        schedule_reconnect(u);
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        set_error(u, "socket: %s", strerror(errno));
        schedule_reconnect(u);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (u->srv->opts.uplink_rate > 0) {
        /* A small send buffer keeps data from queueing in the kernel ahead of keepalives. */
        int sndbuf = (int)(u->srv->opts.uplink_rate / 4);
        if (sndbuf < 4096)
            sndbuf = 4096;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        set_error(u, "cannot connect to hub %s:%d: %s", u->cur->host, u->cur->port,
                  strerror(errno));
        close(fd);
        schedule_reconnect(u);
        return;
    }
    u->io = (ae_io){.fd = fd, .cb = on_io, .ctx = u};
    u->use_ws = u->cur->ws;
    ae_loop_add(u->srv->loop, &u->io, AE_IO_WRITE);
    u->state = AE_UPLINK_DISCONNECTED; /* set_state logs the transition */
    set_state(u, AE_UPLINK_CONNECTING);
    ae_log_info("uplink: connecting to hub %s:%d%s%s", u->cur->host, u->cur->port,
                u->use_ws ? " (websocket)" : "", u->want_tls || u->cur->tls ? " (TLS)" : "");
}

static void on_reconnect_timer(ae_loop *loop, ae_timer *t)
{
    (void)loop;
    ae_uplink *u = t->ctx;
    if (u->state == AE_UPLINK_DISCONNECTED && !u->srv->draining)
        dial(u);
}

/* ---- the write path ------------------------------------------------------------------ */

static void send_ctrl(ae_uplink *u, const char *s, size_t n)
{
    if (u->state == AE_UPLINK_DISCONNECTED || u->io.fd < 0)
        return;
    ae_outq_append(&u->ctrl, s, n);
    ae_log_trace("uplink: >>> %.*s", (int)(n > 2 ? n - 2 : n), s);
    /* Over websocket, control lines of one loop pass (a burst of LS+ at connect) share a
     * frame: flushed at the end of the pass, not held beyond it. An -ERR goes at once, as a
     * disconnect follows it. */
    if (u->use_ws && u->state == AE_UPLINK_READY && s[0] != '-')
        ae_loop_timer_start(u->srv->loop, &u->flush_timer, 0);
    else
        flush(u);
}

static void send_ctrlf(ae_uplink *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_ctrlf(ae_uplink *u, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof buf)
        send_ctrl(u, buf, (size_t)n);
}

static bool push_bound(ae_uplink *u, uint32_t size)
{
    if (u->nb_len == u->nb_cap) {
        size_t ncap = u->nb_cap ? u->nb_cap * 2 : 256;
        uint32_t *nb = malloc(ncap * sizeof *nb);
        if (!nb)
            return false;
        for (size_t i = 0; i < u->nb_len; i++)
            nb[i] = u->bounds[(u->nb_head + i) % u->nb_cap];
        free(u->bounds);
        u->bounds = nb;
        u->nb_cap = ncap;
        u->nb_head = 0;
    }
    u->bounds[(u->nb_head + u->nb_len) % u->nb_cap] = size;
    u->nb_len++;
    return true;
}

/* Accounts for `n` data bytes written, advancing over message boundaries. */
static void data_written(ae_uplink *u, size_t n)
{
    while (n > 0) {
        if (u->cur_left == 0) {
            if (u->nb_len == 0)
                return;
            u->cur_left = u->bounds[u->nb_head];
            u->nb_head = (u->nb_head + 1) % u->nb_cap;
            u->nb_len--;
        }
        size_t k = n < u->cur_left ? n : u->cur_left;
        u->cur_left -= k;
        n -= k;
    }
}

static ssize_t write_raw(ae_uplink *u, const char *p, size_t n, ae_err *err)
{
    ssize_t w;
    if (u->tls) {
        w = ae_tls_write(u->tls, p, n, err);
        if (w > 0)
            u->link_out += (uint64_t)w;
        return w;
    }
    w = write(u->io.fd, p, n);
    if (w > 0)
        u->link_out += (uint64_t)w;
    if (w >= 0)
        return w;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return AE_EAGAIN;
    ae_err_set(err, AE_EIO, "write to hub failed: %s", strerror(errno));
    return AE_EIO;
}

/* Websocket: writes sealed frames to the socket. Returns 0 (some may still wait: the socket
 * is full) or AE_EIO. */
static int drain_wire(ae_uplink *u, ae_err *err)
{
    ae_outq *q = &u->ws.wire;
    while (q->pending) {
        const char *p;
        size_t n = ae_outq_peek(q, &p);
        ssize_t w = write_raw(u, p, n, err);
        if (w == AE_EAGAIN || w == 0)
            return 0;
        if (w < 0)
            return AE_EIO;
        ae_outq_consume(q, (size_t)w);
    }
    return 0;
}

static int seal_and_drain(ae_uplink *u, ae_err *err)
{
    int rc = ae_ws_link_seal(&u->ws, err);
    return rc ? rc : drain_wire(u, err);
}

/* Where the flush loop puts protocol bytes: the socket, or over websocket the frame being
 * packed (a full frame is sealed and written first; AE_EAGAIN while the socket is full). */
static ssize_t put_bytes(ae_uplink *u, const char *p, size_t n, ae_err *err)
{
    if (!u->use_ws)
        return write_raw(u, p, n, err);
    if (ae_ws_link_room(&u->ws) == 0) {
        int rc = seal_and_drain(u, err);
        if (rc)
            return rc;
        if (u->ws.wire.pending)
            return AE_EAGAIN;
    }
    return (ssize_t)ae_ws_link_pack(&u->ws, p, n);
}

/* Websocket: whether data should wait a moment for more to fill its frame. Nothing else is
 * going out now, not much is waiting, and the oldest waited less than ws_frame_wait. Control
 * traffic is never held: it goes at once and takes the waiting data along. */
static bool hold_for_frame(ae_uplink *u)
{
    if (!u->use_ws || u->ws_frame_wait_ns <= 0 || u->ws.pack_len > 0 || u->ctrl.pending ||
        u->data.pending >= WS_FILL_TARGET)
        return false;
    int64_t left = u->data_since + u->ws_frame_wait_ns - ae_mono_ns();
    if (left <= 0)
        return false;
    ae_loop_timer_start(u->srv->loop, &u->flush_timer, left);
    return true;
}

static void on_retry_write(ae_loop *loop, ae_timer *t)
{
    (void)loop;
    flush_and_notify(t->ctx);
}

static void refill_tokens(ae_uplink *u)
{
    int64_t rate = u->srv->opts.uplink_rate;
    if (rate <= 0)
        return;
    int64_t now = ae_mono_ns();
    double burst = (double)rate / 10.0 < 1500 ? 1500 : (double)rate / 10.0;
    u->tokens += (double)(now - u->tokens_at) / 1e9 * (double)rate;
    if (u->tokens > burst)
        u->tokens = burst;
    u->tokens_at = now;
}

/* Writes control frames first, then data up to the pacing budget, never splitting a data
 * message with a control frame (only placing control frames between messages). */
static void flush(ae_uplink *u)
{
    if (u->io.fd < 0 || u->state == AE_UPLINK_CONNECTING || u->state == AE_UPLINK_TLS)
        return;
    int64_t rate = u->srv->opts.uplink_rate;
    bool blocked = false;
    if (u->use_ws) {
        ae_err err = {0};
        if (drain_wire(u, &err) != 0) {
            disconnect(u, err.msg);
            return;
        }
        /* one frame at a time in the socket's way, so control never queues behind much */
        blocked = u->ws.wire.pending > 0 || !u->ws.open;
    }
    for (int rounds = 0; rounds < 64 && !blocked; rounds++) {
        ae_outq *q;
        size_t limit;
        bool is_data;
        if ((u->ctrl.pending && u->cur_left == 0) || u->ctrl_partial) {
            q = &u->ctrl;
            limit = u->ctrl.pending;
            is_data = false;
        } else if (u->data.pending) {
            if (hold_for_frame(u))
                break;
            q = &u->data;
            is_data = true;
            limit = u->cur_left && u->ctrl.pending ? u->cur_left : u->data.pending;
            if (rate > 0) {
                refill_tokens(u);
                if (u->tokens < 1) {
                    double wait = (1 - u->tokens) / (double)rate * 1e9;
                    ae_loop_timer_start(u->srv->loop, &u->retry_write,
                                        (int64_t)(wait < 1e6 ? 1e6 : wait));
                    break;
                }
                if ((double)limit > u->tokens)
                    limit = (size_t)u->tokens;
            }
        } else {
            break;
        }
        const char *p;
        size_t n = ae_outq_peek(q, &p);
        if (n > limit)
            n = limit;
        ae_err err = {0};
        ssize_t w = put_bytes(u, p, n, &err);
        if (w == AE_EAGAIN) {
            blocked = true;
            break;
        }
        if (w < 0) {
            disconnect(u, err.msg);
            return;
        }
        ae_outq_consume(q, (size_t)w);
        if (w > 0)
            u->last_progress = ae_mono_ns();
        if (!is_data && u->ping_queued && u->ctrl.pending == 0) {
            /* the PING left: from now on the hub owes us a PONG */
            u->ping_queued = false;
            u->pings_out++;
            u->ping_sent_at = u->last_progress;
        }
        if (is_data) {
            data_written(u, (size_t)w);
            if (rate > 0)
                u->tokens -= (double)w;
        } else {
            u->ctrl_partial = u->ctrl.pending > 0 && (size_t)w < n;
        }
    }
    if (u->use_ws && u->ws.pack_len) {
        ae_err err = {0};
        if (seal_and_drain(u, &err) != 0) {
            disconnect(u, err.msg);
            return;
        }
    }
    if (u->use_ws && u->ws.wire.pending)
        blocked = true;
    unsigned want = AE_IO_READ;
    if (blocked || (u->tls && ae_tls_wants_write(u->tls)))
        want |= AE_IO_WRITE;
    if (u->io.registered)
        ae_loop_mod(u->srv->loop, &u->io, want);
}

/* After a socket-driven flush the forwarder may queue more; never from inside queue_data,
 * or publishing would recurse through the forwarder. */
static void flush_and_notify(ae_uplink *u)
{
    flush(u);
    if (u->above_hwm && u->data.pending < LOW_WATER) {
        u->above_hwm = false;
        ae_server_resume_readers(u->srv);
    }
    if (u->state == AE_UPLINK_READY && u->data.pending < LOW_WATER && u->client.on_writable &&
        !u->notifying) {
        u->notifying = true;
        u->client.on_writable(u->client.ctx);
        u->notifying = false;
    }
}

/* Queues one LMSG/HMSG; the caller built the control line. */
static int queue_data(ae_uplink *u, const char *line, size_t line_len, const void *hdr,
                      size_t hdr_len, const void *payload, size_t payload_len)
{
    size_t total = line_len + hdr_len + payload_len + 2;
    if (u->data.pending == 0)
        u->data_since = ae_mono_ns();
    if (ae_outq_append(&u->data, line, line_len) != 0 ||
        (hdr_len && ae_outq_append(&u->data, hdr, hdr_len) != 0) ||
        (payload_len && ae_outq_append(&u->data, payload, payload_len) != 0) ||
        ae_outq_append(&u->data, "\r\n", 2) != 0 || !push_bound(u, (uint32_t)total)) {
        disconnect(u, "out of memory queueing data for the hub");
        return AE_ENOMEM;
    }
    u->out_msgs++;
    u->out_bytes += hdr_len + payload_len;
    if (u->data.pending > DATA_QUEUE_HWM)
        u->above_hwm = true;
    /* One write per loop pass, not per message: the timer fires after this pass's events. */
    if (!u->flush_timer.armed)
        ae_loop_timer_start(u->srv->loop, &u->flush_timer, 0);
    return 0;
}

/* ---- interest: local -> hub ------------------------------------------------------------ */

static void emit_ctrl(void *ctx, const char *line, size_t len)
{
    send_ctrl(ctx, line, len);
}

static void hook_interest(void *ctx, const ae_ssub *sub, bool added)
{
    ae_uplink *u = ctx;
    ae_interest_change(&u->local, sub->subject, sub->queue, added, u->state == AE_UPLINK_READY,
                       emit_ctrl, u);
}

static void send_all_interest(ae_uplink *u)
{
    /* A loop-detection subject of this connection only: a previous connection that the hub
     * has not noticed dead yet (a black-holed link that came back) still holds the old one,
     * and the hub would otherwise hand it back to us as a loop. */
    char rnd[24];
    rand_token(rnd, 22);
    snprintf(u->lds, sizeof u->lds, "$LDS.%s", rnd);
    send_ctrlf(u, "LS+ %s\r\n", u->lds);
    send_ctrlf(u, "LS+ %s>\r\n", u->inbox_prefix);
    ae_interest_connected(&u->local, u->import_perm, emit_ctrl, u);
}

/* ---- interest: hub -> local ------------------------------------------------------------ */

static void hub_ls_plus(ae_uplink *u, const ae_op *op)
{
    if (op->subject.len == strlen(u->lds) && !memcmp(op->subject.ptr, u->lds, op->subject.len)) {
        /* Our own loop-detection subject came back: interest goes round in a circle. */
        send_ctrl(u,
                  "-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to "
                  "reconnect for 30s'\r\n",
                  strlen("-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt "
                         "to reconnect for 30s'\r\n"));
        set_error(u, "loop detected: the hub sent back our own interest; waiting 30s");
        u->forced_delay = LOOP_DELAY_NS;
        disconnect(u, "loop detected");
        return;
    }
    if (!ae_subject_valid(op->subject.ptr, op->subject.len))
        return;
    char key[4096];
    int kn = snprintf(key, sizeof key, "%.*s%s%.*s", (int)op->subject.len, op->subject.ptr,
                      op->queue.len ? " " : "", (int)op->queue.len, op->queue.ptr);
    if (kn <= 0 || (size_t)kn >= sizeof key)
        return;
    hub_interest *hi = ae_hmap_get(&u->hub, key, (size_t)kn);
    if (hi) {
        hi->ss.weight = op->weight; /* LS+ is idempotent; a queue's weight is replaced */
        return;
    }
    hi = calloc(1, sizeof *hi);
    if (!hi)
        return;
    hi->key = strndup(key, (size_t)kn);
    hi->key_len = (size_t)kn;
    hi->ss.kind = AE_EP_UPLINK;
    hi->ss.subject = strndup(op->subject.ptr, op->subject.len);
    hi->ss.queue = op->queue.len ? strndup(op->queue.ptr, op->queue.len) : NULL;
    hi->ss.weight = op->weight;
    hi->ss.sub = (ae_sub){.subject = hi->ss.subject,
                          .subject_len = op->subject.len,
                          .queue = hi->ss.queue,
                          .queue_len = op->queue.len,
                          .owner = u};
    if (ae_sublist_insert(u->srv->sl, &hi->ss.sub) != 0) {
        free(hi->ss.subject);
        free(hi->ss.queue);
        free(hi->key);
        free(hi);
        return;
    }
    ae_hmap_put(&u->hub, hi->key, hi->key_len, hi);
}

static void hub_ls_minus(ae_uplink *u, const ae_op *op)
{
    char key[4096];
    int kn = snprintf(key, sizeof key, "%.*s%s%.*s", (int)op->subject.len, op->subject.ptr,
                      op->queue.len ? " " : "", (int)op->queue.len, op->queue.ptr);
    if (kn <= 0 || (size_t)kn >= sizeof key)
        return;
    hub_interest *hi = ae_hmap_del(&u->hub, key, (size_t)kn);
    if (!hi)
        return;
    ae_sublist_remove(u->srv->sl, &hi->ss.sub);
    free(hi->ss.subject);
    free(hi->ss.queue);
    free(hi->key);
    free(hi);
}

/* ---- messages both ways ---------------------------------------------------------------- */

static void hook_forward(void *ctx, const ae_msg *m, const ae_slice *queues, size_t nq)
{
    ae_uplink *u = ctx;
    if (u->state != AE_UPLINK_READY)
        return;
    char subj[1024];
    snprintf(subj, sizeof subj, "%.*s", (int)m->subject.len, m->subject.ptr);
    if (!ae_interest_permitted(u->export_perm, subj))
        return;
    if (u->hub_max_payload > 0 && (int64_t)m->total_len > u->hub_max_payload) {
        u->dropped_msgs++;
        ae_log_warn("uplink: not forwarding %.*s: %zu bytes exceed the hub's max_payload %lld",
                    (int)m->subject.len, m->subject.ptr, m->total_len,
                    (long long)u->hub_max_payload);
        return;
    }
    if (u->data.pending > DATA_QUEUE_LIMIT) {
        u->dropped_msgs++;
        return;
    }
    /* LMSG subject [reply | "|" queues | "+" reply queues] [hdr] total */
    char line[8192];
    size_t n = 0;
    n += (size_t)snprintf(line + n, sizeof line - n, "%s %.*s", m->hdr_len ? "HMSG" : "LMSG",
                          (int)m->subject.len, m->subject.ptr);
    if (nq > 0) {
        if (m->reply.len)
            n += (size_t)snprintf(line + n, sizeof line - n, " + %.*s", (int)m->reply.len,
                                  m->reply.ptr);
        else
            n += (size_t)snprintf(line + n, sizeof line - n, " |");
        for (size_t i = 0; i < nq && n < sizeof line - 64; i++)
            n += (size_t)snprintf(line + n, sizeof line - n, " %.*s", (int)queues[i].len,
                                  queues[i].ptr);
    } else if (m->reply.len) {
        n += (size_t)snprintf(line + n, sizeof line - n, " %.*s", (int)m->reply.len, m->reply.ptr);
    }
    if (m->hdr_len)
        n += (size_t)snprintf(line + n, sizeof line - n, " %zu", m->hdr_len);
    n += (size_t)snprintf(line + n, sizeof line - n, " %zu\r\n", m->total_len);
    if (n >= sizeof line)
        return;
    queue_data(u, line, n, NULL, 0, m->payload, m->total_len);
}

static void hub_msg(ae_uplink *u, const ae_op *op)
{
    u->in_msgs++;
    u->in_bytes += op->total_len;
    size_t pl = strlen(u->inbox_prefix);
    if (op->subject.len > pl && !memcmp(op->subject.ptr, u->inbox_prefix, pl)) {
        if (u->client.on_inbox)
            u->client.on_inbox(u->client.ctx, op);
        return;
    }
    ae_msg m = {.subject = op->subject,
                .deliver_subject = op->subject,
                .reply = op->reply,
                .hdr_len = op->hdr_len,
                .total_len = op->total_len,
                .payload = op->payload,
                .queues = op->queues,
                .from_uplink = true};
    /* JetStream deliveries carry the stream subject after the last '@' of an ack reply. */
    if (op->reply.len > 8 && !memcmp(op->reply.ptr, "$JS.ACK.", 8)) {
        const char *at = NULL;
        for (size_t i = op->reply.len; i-- > 8;) {
            if (op->reply.ptr[i] == '@') {
                at = op->reply.ptr + i;
                break;
            }
        }
        if (at && at + 1 < op->reply.ptr + op->reply.len) {
            m.deliver_subject.ptr = at + 1;
            m.deliver_subject.len = (size_t)(op->reply.ptr + op->reply.len - at - 1);
            m.reply.len = (size_t)(at - op->reply.ptr);
        }
    }
    ae_server_route(u->srv, NULL, &m);
}

/* ---- the handshake --------------------------------------------------------------------- */

static void send_connect(ae_uplink *u)
{
    json_t *c = json_object();
    json_object_set_new(c, "version", json_string(AERIE_VERSION));
    const char *user = u->cur->user ? u->cur->user : u->user;
    const char *pass = u->cur->user ? u->cur->pass : u->pass;
    if (u->have_nkey) {
        char sig[96], pub[64];
        ae_err err = {0};
        if (ae_nkey_sign(&u->nkey, u->nonce, strlen(u->nonce), sig, sizeof sig, &err) != 0) {
            json_decref(c);
            disconnect(u, err.msg);
            return;
        }
        if (u->jwt) {
            json_object_set_new(c, "jwt", json_string(u->jwt));
        } else {
            ae_nkey_public(&u->nkey, pub, sizeof pub);
            json_object_set_new(c, "nkey", json_string(pub));
        }
        json_object_set_new(c, "sig", json_string(sig));
    } else if (user) {
        json_object_set_new(c, "user", json_string(user));
        json_object_set_new(c, "pass", json_string(pass ? pass : ""));
    } else if (u->token) {
        json_object_set_new(c, "auth_token", json_string(u->token));
    }
    json_object_set_new(c, "tls_required", json_boolean(u->tls != NULL));
    json_object_set_new(c, "server_id", json_string(u->srv->server_id));
    json_object_set_new(c, "name", json_string(u->name));
    json_object_set_new(c, "headers", json_true());
    char *s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!s) {
        disconnect(u, "out of memory");
        return;
    }
    char *line = NULL;
    int n = asprintf(&line, "CONNECT %s\r\n", s);
    free(s);
    if (n < 0) {
        disconnect(u, "out of memory");
        return;
    }
    set_state(u, AE_UPLINK_WAIT_ACCEPT);
    send_ctrl(u, line, (size_t)n);
    free(line);
}

static void start_tls_handshake(ae_uplink *u)
{
    ae_err err = {0};
    if (!u->tls_ctx) {
        ae_tls_config cfg = {0};
        if (ae_tls_ctx_new(&cfg, &u->tls_ctx, &err) != 0) {
            set_error(u, "%s", err.msg);
            disconnect(u, err.msg);
            return;
        }
    }
    if (ae_tls_new(u->tls_ctx, u->io.fd, u->cur->host, &u->tls, &err) != 0) {
        set_error(u, "%s", err.msg);
        disconnect(u, err.msg);
        return;
    }
    set_state(u, AE_UPLINK_TLS);
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ | AE_IO_WRITE);
}

/* Websocket: sends the HTTP upgrade (after TLS for wss:// or a tls block, as nats-server
 * does); the hub's INFO comes inside the first frames. */
static void start_ws_upgrade(ae_uplink *u)
{
    ae_err err = {0};
    if (ae_ws_link_start(&u->ws, u->cur->host, u->cur->port, u->cur->path, u->ws_compress,
                         u->ws_no_masking, &err) != 0) {
        set_error(u, "%s", err.msg);
        disconnect(u, err.msg);
        return;
    }
    set_state(u, AE_UPLINK_WS_UPGRADE);
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ);
    flush(u);
}

static void start_tls_or_connect(ae_uplink *u, bool hub_wants_tls)
{
    if (u->use_ws) {
        /* TLS, if any, was done before the upgrade; the INFO's tls_required is the hub's
         * plain leafnode port's business */
        send_connect(u);
        return;
    }
    if (hub_wants_tls || u->want_tls || u->cur->tls) {
        start_tls_handshake(u);
        return;
    }
    send_connect(u);
}

static void drive_tls(ae_uplink *u)
{
    ae_err err = {0};
    int rc = ae_tls_handshake(u->tls, &err);
    if (rc == AE_EAGAIN) {
        ae_loop_mod(u->srv->loop, &u->io,
                    AE_IO_READ | (ae_tls_wants_write(u->tls) ? AE_IO_WRITE : 0));
        return;
    }
    if (rc != 0) {
        set_error(u, "TLS with hub %s:%d failed: %s", u->cur->host, u->cur->port, err.msg);
        disconnect(u, "TLS handshake failure");
        return;
    }
    char d[128];
    ae_log_info("uplink: TLS established with %s:%d (%s)", u->cur->host, u->cur->port,
                ae_tls_describe(u->tls, d, sizeof d));
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ);
    if (u->use_ws)
        start_ws_upgrade(u);
    else
        send_connect(u);
}

static void json_strcpy(char *dst, size_t cap, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v)
        snprintf(dst, cap, "%s", v);
}

static void hub_info(ae_uplink *u, const ae_op *op)
{
    json_t *o = json_loadb(op->arg.ptr, op->arg.len, 0, NULL);
    if (!o) {
        disconnect(u, "the hub sent an INFO that is not JSON");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, u->use_ws ? "ws_connect_urls" : "leafnode_urls"), i, v)
    {
        if (json_is_string(v))
            learn_url(u, json_string_value(v));
    }
    if (json_object_get(o, "import") || json_object_get(o, "export")) {
        json_decref(u->import_perm);
        json_decref(u->export_perm);
        u->import_perm = json_incref(json_object_get(o, "import"));
        u->export_perm = json_incref(json_object_get(o, "export"));
    }
    json_t *mp = json_object_get(o, "max_payload");
    if (json_is_integer(mp))
        u->hub_max_payload = json_integer_value(mp);
    if (u->state == AE_UPLINK_WAIT_INFO) {
        u->hub_id[0] = u->hub_name[0] = u->hub_cluster[0] = u->hub_domain[0] = 0;
        json_strcpy(u->hub_id, sizeof u->hub_id, o, "server_id");
        json_strcpy(u->hub_name, sizeof u->hub_name, o, "server_name");
        json_strcpy(u->hub_cluster, sizeof u->hub_cluster, o, "cluster");
        json_strcpy(u->hub_domain, sizeof u->hub_domain, o, "domain");
        u->nonce[0] = 0;
        json_strcpy(u->nonce, sizeof u->nonce, o, "nonce");
        if (!json_object_get(o, "client_id") && !json_object_get(o, "leafnode_urls")) {
            json_decref(o);
            set_error(u,
                      "%s:%d does not look like a hub leafnode port (its INFO has no "
                      "client_id); is the port right?",
                      u->cur->host, u->cur->port);
            disconnect(u, "not a leafnode port");
            return;
        }
        if (u->have_nkey && !u->nonce[0]) {
            ae_log_warn("uplink: the hub sent no nonce to sign; is nkey auth configured there?");
        }
        bool tls_req = json_is_true(json_object_get(o, "tls_required"));
        json_decref(o);
        start_tls_or_connect(u, tls_req);
        return;
    }
    if (u->state == AE_UPLINK_WAIT_ACCEPT && json_is_true(json_object_get(o, "connect_info"))) {
        json_decref(o);
        set_state(u, AE_UPLINK_READY);
        u->failures = 0;
        u->reconnects++;
        u->connected_since = ae_now_ns();
        u->next_home_check = ae_mono_ns() + u->home_check_ns;
        u->last_error[0] = 0;
        u->next_ping = ae_mono_ns() + AE_NS_PER_SEC;
        u->last_progress = ae_mono_ns();
        ae_log_info("uplink: connected to hub %s (%s:%d, cluster %s)", u->hub_name, u->cur->host,
                    u->cur->port, u->hub_cluster[0] ? u->hub_cluster : "-");
        send_all_interest(u);
        ae_uplink_publish_status(u);
        if (u->client.on_ready)
            u->client.on_ready(u->client.ctx, true);
        return;
    }
    json_decref(o);
}

static void hub_err(ae_uplink *u, const ae_op *op)
{
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)op->arg.len, op->arg.ptr);
    if (strstr(text, "Authorization Violation"))
        set_error(u,
                  "the hub refused our credentials (%s): check the user/password, token or "
                  "credentials of leafnodes.remotes",
                  text);
    else
        set_error(u, "the hub said: %s", text);
    if (strstr(text, "Loop detected") || strstr(text, "same cluster name") ||
        strstr(text, "Permissions Violation") || strstr(text, "Duplicate Remote LeafNode"))
        u->forced_delay = LOOP_DELAY_NS;
    disconnect(u, text);
}

static void process_op(ae_uplink *u, const ae_op *op)
{
    switch (op->kind) {
    case AE_OP_INFO:
        hub_info(u, op);
        break;
    case AE_OP_PING:
        send_ctrl(u, "PONG\r\n", 6);
        break;
    case AE_OP_PONG:
        u->pings_out = 0;
        if (u->ping_sent_at) {
            u->rtt_ns = ae_mono_ns() - u->ping_sent_at;
            u->ping_sent_at = 0;
        }
        break;
    case AE_OP_ERR:
        hub_err(u, op);
        break;
    case AE_OP_LSUB:
        if (u->state == AE_UPLINK_READY || u->state == AE_UPLINK_WAIT_ACCEPT)
            hub_ls_plus(u, op);
        break;
    case AE_OP_LUNSUB:
        hub_ls_minus(u, op);
        break;
    case AE_OP_LMSG:
    case AE_OP_HMSG:
        if (u->state == AE_UPLINK_READY)
            hub_msg(u, op);
        break;
    default:
        break;
    }
}

/* ---- the read path --------------------------------------------------------------------- */

/* Makes room for `need` more bytes at the end of rbuf. */
static bool rbuf_room(ae_uplink *u, size_t need)
{
    if (u->rcap - u->rlen >= need)
        return true;
    size_t ncap = u->rcap ? u->rcap : READ_CHUNK * 2;
    while (ncap - u->rlen < need)
        ncap *= 2;
    uint8_t *nb = realloc(u->rbuf, ncap);
    if (!nb)
        return false;
    u->rbuf = nb;
    u->rcap = ncap;
    return true;
}

/* The websocket reader's output: protocol bytes for the parser. */
static int ws_data(void *ctx, const uint8_t *p, size_t n)
{
    ae_uplink *u = ctx;
    if (!rbuf_room(u, n))
        return AE_ENOMEM;
    memcpy(u->rbuf + u->rlen, p, n);
    u->rlen += n;
    return 0;
}

/* Reads what the socket has into buf; returns bytes, 0 when nothing more now, -1 when the
 * link was closed (disconnect done). */
static ssize_t read_socket(ae_uplink *u, uint8_t *buf, size_t cap)
{
    ssize_t n;
    ae_err err = {0};
    if (u->tls) {
        n = ae_tls_read(u->tls, buf, cap, &err);
        if (n == AE_EAGAIN)
            return 0;
        if (n < 0) {
            set_error(u, "%s", err.msg);
            disconnect(u, "TLS read error");
            return -1;
        }
    } else {
        n = read(u->io.fd, buf, cap);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (n < 0) {
            set_error(u, "read from hub failed: %s", strerror(errno));
            disconnect(u, "read error");
            return -1;
        }
    }
    if (n == 0) {
        disconnect(u, "the hub closed the connection");
        return -1;
    }
    u->link_in += (uint64_t)n;
    return n;
}

/* Websocket: a bad frame, or the hub's CLOSE (after the protocol bytes before it, such as
 * an -ERR, were handled). */
static void ws_failed(ae_uplink *u, int rc, const ae_err *err)
{
    if (u->state == AE_UPLINK_DISCONNECTED)
        return;
    if (rc == AE_ECLOSED && strstr(err->msg, "Authentication"))
        set_error(u,
                  "the hub refused our credentials (%s): check the user/password, token or "
                  "credentials of leafnodes.remotes, and that the hub allows LEAFNODE_WS",
                  err->msg);
    else
        set_error(u, "%s:%d: %s", u->cur->host, u->cur->port,
                  rc == AE_ENOMEM ? "out of memory" : err->msg);
    disconnect(u, rc == AE_ECLOSED ? "the hub closed the websocket" : "websocket error");
}

/* Websocket: unframes n bytes of wsin into rbuf (the upgrade answer first). Returns the
 * reader's code (0, or an error for ws_failed once rbuf is parsed). */
static int ws_input(ae_uplink *u, size_t n, ae_err *err)
{
    ae_ws_sink sink = {.data = ws_data, .ctx = u};
    int rc = ae_ws_link_input(&u->ws, u->wsin, n, &sink, err);
    if (rc != 0)
        return rc;
    if (u->state == AE_UPLINK_WS_UPGRADE && u->ws.open) {
        ae_log_info("uplink: websocket to %s:%d open (compression %s, masking %s)", u->cur->host,
                    u->cur->port, u->ws.compress ? "on" : "off", u->ws.mask ? "on" : "off");
        set_state(u, AE_UPLINK_WAIT_INFO);
    }
    if (u->ws.wire.pending) /* PONGs to our hub's PINGs */
        flush(u);
    return 0;
}

static void read_hub(ae_uplink *u)
{
    for (int round = 0; round < 8; round++) {
        ssize_t n;
        int ws_rc = 0;
        ae_err ws_err = {0};
        if (u->use_ws) {
            if (!u->wsin && !(u->wsin = malloc(READ_CHUNK))) {
                disconnect(u, "out of memory");
                return;
            }
            n = read_socket(u, u->wsin, READ_CHUNK);
            if (n <= 0)
                return;
            ws_rc = ws_input(u, (size_t)n, &ws_err);
            if (u->state == AE_UPLINK_DISCONNECTED)
                return;
        } else {
            if (!rbuf_room(u, READ_CHUNK)) {
                disconnect(u, "out of memory");
                return;
            }
            n = read_socket(u, u->rbuf + u->rlen, u->rcap - u->rlen);
            if (n <= 0)
                return;
            u->rlen += (size_t)n;
        }
        ae_proto_limits lim = {.kind = AE_PROTO_LEAF};
        size_t off = 0;
        while (off < u->rlen) {
            ae_op op;
            size_t need = 0;
            ptrdiff_t r = ae_proto_parse(&lim, u->rbuf + off, u->rlen - off, &op, &need);
            if (r == 0)
                break;
            if (r < 0) {
                set_error(u, "protocol error from the hub (parser error %d)", (int)-r);
                disconnect(u, "protocol error");
                return;
            }
            process_op(u, &op);
            off += (size_t)r;
            if (u->state == AE_UPLINK_DISCONNECTED)
                return;
        }
        if (off) /* over websocket rbuf may still be NULL: nothing unframed yet */
            memmove(u->rbuf, u->rbuf + off, u->rlen - off);
        u->rlen -= off;
        if (ws_rc != 0) {
            ws_failed(u, ws_rc, &ws_err);
            return;
        }
        if (u->state == AE_UPLINK_TLS)
            return;
    }
}

static void on_io(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    ae_uplink *u = io->ctx;
    if (u->state == AE_UPLINK_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            set_error(u, "cannot connect to hub %s:%d: %s", u->cur->host, u->cur->port,
                      strerror(soerr));
            disconnect(u, NULL);
            return;
        }
        if (u->use_ws && (u->want_tls || u->cur->tls)) {
            start_tls_handshake(u);
            return;
        }
        if (u->use_ws) {
            start_ws_upgrade(u);
            return;
        }
        set_state(u, AE_UPLINK_WAIT_INFO);
        ae_loop_mod(u->srv->loop, io, AE_IO_READ);
        return;
    }
    if (u->state == AE_UPLINK_TLS) {
        drive_tls(u);
        if (u->state == AE_UPLINK_TLS || u->state == AE_UPLINK_DISCONNECTED)
            return;
    }
    if (events & AE_IO_READ)
        read_hub(u);
    if (u->state != AE_UPLINK_DISCONNECTED && (events & AE_IO_WRITE))
        flush_and_notify(u);
}

/* ---- going home ------------------------------------------------------------------------- */

static bool away_from_home(const ae_uplink *u)
{
    return u->home_n > 0 && u->cur && u->cur - u->urls.url >= u->home_n;
}

static void home_probed(void *ctx, bool reachable)
{
    ae_uplink *u = ctx;
    if (!reachable || u->state != AE_UPLINK_READY || !away_from_home(u))
        return;
    const ae_hub_url *h = &u->urls.url[(u->home_next - 1 + u->home_n) % u->home_n];
    ae_log_info("uplink: home hub %s:%d answers again: leaving %s:%d for it", h->host, h->port,
                u->cur->host, u->cur->port);
    u->urls.next = (int)(h - u->urls.url);
    disconnect(u, "going back to the home region");
}

/* While failed over to a fallback region, looks now and then whether home answers. */
static void check_home(ae_uplink *u, int64_t now)
{
    if (u->state != AE_UPLINK_READY || !away_from_home(u) || now < u->next_home_check)
        return;
    u->next_home_check = now + u->home_check_ns;
    const ae_hub_url *h = &u->urls.url[u->home_next++ % u->home_n];
    ae_probe_kind kind = !h->ws                  ? AE_PROBE_LEAFNODE
                         : h->tls || u->want_tls ? AE_PROBE_CONNECT
                                                 : AE_PROBE_WEBSOCKET;
    ae_homeprobe_start(&u->home, u->srv->loop, h->host, h->port, kind, 2 * AE_NS_PER_SEC,
                       home_probed, u);
}

/* ---- keepalive and status ------------------------------------------------------------- */

/* How often the uplink PINGs: often enough that ping_max unanswered ones fit in the
 * dead-link timeout. Read from the options each time, so a reload applies. */
static int64_t ping_every(const ae_uplink *u)
{
    const ae_opts *o = &u->srv->opts;
    int64_t every = o->dead_link_ns / (o->ping_max + 1);
    if (every > o->ping_interval_ns)
        every = o->ping_interval_ns;
    return every < 100 * AE_NS_PER_MS ? 100 * AE_NS_PER_MS : every;
}

static void hook_tick(void *ctx, int64_t now)
{
    ae_uplink *u = ctx;
    if (u->state != AE_UPLINK_DISCONNECTED && u->state != AE_UPLINK_READY &&
        now - u->state_since > HANDSHAKE_TIMEOUT_NS) {
        set_error(u, "no answer from hub %s:%d within %llds (state %s)",
                  u->cur ? u->cur->host : "?", u->cur ? u->cur->port : 0,
                  (long long)(HANDSHAKE_TIMEOUT_NS / AE_NS_PER_SEC),
                  ae_uplink_state_name(u->state));
        disconnect(u, "handshake timeout");
        return;
    }
    if (u->state == AE_UPLINK_READY && now >= u->next_ping) {
        /* Only PINGs that left count: one queued behind a large message at a low uplink.rate
         * is not the hub's silence. A queue that makes no progress at all is. */
        if (u->pings_out >= u->srv->opts.ping_max) {
            set_error(u, "the link to hub %s is dead: %d PINGs unanswered in %.1fs", u->hub_name,
                      u->pings_out, (double)(u->pings_out * ping_every(u)) / 1e9);
            disconnect(u, "Stale Connection");
            return;
        }
        if (u->ping_queued && now - u->last_progress > u->srv->opts.dead_link_ns) {
            set_error(u, "the link to hub %s is dead: nothing could be written for %.1fs",
                      u->hub_name, (double)(now - u->last_progress) / 1e9);
            disconnect(u, "Stale Connection");
            return;
        }
        u->next_ping = now + ping_every(u);
        if (!u->ping_queued) {
            u->ping_queued = true;
            send_ctrl(u, "PING\r\n", 6);
        }
    }
    check_home(u, now);
    if (ae_now_ns() >= u->next_status)
        ae_uplink_publish_status(u);
}

/* Bytes through the link both ways, on the wire and as NATS protocol (before websocket
 * compression), over all connections; the ratio is wire / protocol (lower is better). */
static void link_bytes_json(const ae_uplink *u, json_t *j)
{
    const ae_ws_link *w = &u->ws;
    uint64_t app_out = u->ws_app_out + w->app_out, app_in = u->ws_app_in + w->app_in;
    uint64_t ws_wire_out = u->ws_wire_out + w->wire_out, ws_wire_in = u->ws_wire_in + w->wire_in;
    json_object_set_new(j, "transport",
                        json_string(u->urls.n && u->urls.url[0].ws ? "websocket" : "tcp"));
    json_object_set_new(j, "ws_compression", json_boolean(u->use_ws && w->compress));
    json_object_set_new(j, "link_bytes_out", json_integer((json_int_t)u->link_out));
    json_object_set_new(j, "link_bytes_in", json_integer((json_int_t)u->link_in));
    if (!app_out && !app_in && !ws_wire_out)
        return;
    json_object_set_new(j, "ws_protocol_bytes_out", json_integer((json_int_t)app_out));
    json_object_set_new(j, "ws_protocol_bytes_in", json_integer((json_int_t)app_in));
    json_object_set_new(j, "ws_frames_out",
                        json_integer((json_int_t)(u->ws_frames_out + w->frames_out)));
    json_object_set_new(j, "compression_ratio_out",
                        json_real(app_out ? (double)ws_wire_out / (double)app_out : 1.0));
    json_object_set_new(j, "compression_ratio_in",
                        json_real(app_in ? (double)ws_wire_in / (double)app_in : 1.0));
}

/* The link's own fields; with_client adds the forwarder's (the link status message). */
static json_t *status_json(ae_uplink *u, bool with_client)
{
    json_t *j = json_object();
    char ts[48];
    json_object_set_new(j, "vid", json_string(u->vid));
    json_object_set_new(j, "online", json_boolean(u->state == AE_UPLINK_READY));
    json_object_set_new(j, "state", json_string(ae_uplink_state_name(u->state)));
    json_object_set_new(j, "time", json_string(ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)));
    if (u->state == AE_UPLINK_READY) {
        json_object_set_new(j, "hub", json_string(u->hub_name));
        char url[300];
        snprintf(url, sizeof url, "%s:%d", u->cur->host, u->cur->port);
        json_object_set_new(j, "url", json_string(url));
        json_object_set_new(j, "rtt_ms", json_real((double)u->rtt_ns / 1e6));
        json_object_set_new(j, "since",
                            json_string(ae_format_rfc3339(u->connected_since, ts, sizeof ts)));
        json_object_set_new(j, "tls", json_boolean(u->tls != NULL));
    }
    json_object_set_new(j, "reconnects", json_integer((json_int_t)u->reconnects));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)u->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)u->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)u->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)u->out_bytes));
    json_object_set_new(j, "dropped_msgs", json_integer((json_int_t)u->dropped_msgs));
    link_bytes_json(u, j);
    if (u->last_error[0])
        json_object_set_new(j, "last_error", json_string(u->last_error));
    if (with_client && u->client.status)
        u->client.status(u->client.ctx, j);
    return j;
}

void ae_uplink_publish_status(ae_uplink *u)
{
    u->next_status = ae_now_ns() + u->srv->opts.link_status_interval_ns;
    json_t *j = status_json(u, true);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return;
    char subj[300];
    int sn = snprintf(subj, sizeof subj, "fleet.%s.veh.%s.link", u->env, u->vid);
    /* Local subscribers get it through the broker (marked as not for the hub); the hub gets
     * it directly, whether or not it has shown interest yet: right after a reconnect, across
     * a gateway, or with per-vehicle permissions the interest arrives late or never, and the
     * FLEET_LINK stream must still hear that the vehicle is back. */
    ae_msg m = {.subject = {subj, (size_t)sn},
                .deliver_subject = {subj, (size_t)sn},
                .total_len = strlen(body),
                .payload = (const uint8_t *)body,
                .from_uplink = true};
    ae_server_route(u->srv, NULL, &m);
    if (u->state == AE_UPLINK_READY)
        ae_uplink_publish(u, subj, (size_t)sn, NULL, 0, NULL, 0, body, strlen(body));
    free(body);
}

static bool hook_congested(void *ctx)
{
    const ae_uplink *u = ctx;
    return u->data.pending > DATA_QUEUE_HWM;
}

int ae_uplink_leaf_count(const ae_uplink *u)
{
    return u && u->state == AE_UPLINK_READY ? 1 : 0;
}

json_t *ae_uplink_leafz(ae_uplink *u)
{
    json_t *j = json_object();
    json_t *leafs = json_array();
    json_t *l = status_json(u, false);
    if (u->cur) {
        json_object_set_new(l, "ip", json_string(u->cur->host));
        json_object_set_new(l, "port", json_integer(u->cur->port));
    }
    json_object_set_new(l, "name", json_string(u->hub_name));
    json_object_set_new(l, "account", json_string("$G"));
    char rtt[48];
    json_object_set_new(l, "rtt", json_string(ae_format_go_duration(u->rtt_ns, rtt, sizeof rtt)));
    json_object_set_new(l, "subscriptions", json_integer((json_int_t)u->hub.count));
    json_t *subs = json_array();
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(&u->hub, &pos)))
        json_array_append_new(subs, json_string(((hub_interest *)e->val)->key));
    json_object_set_new(l, "subscriptions_list", subs);
    json_array_append_new(leafs, l);
    json_object_set_new(j, "leafnodes", json_integer(u->state == AE_UPLINK_READY ? 1 : 0));
    json_object_set_new(j, "leafs", leafs);
    return j;
}

void ae_uplink_varz(ae_uplink *u, json_t *varz)
{
    json_t *leaf = json_object();
    if (u->cur) {
        json_object_set_new(leaf, "host", json_string(u->cur->host));
        json_object_set_new(leaf, "port", json_integer(u->cur->port));
    }
    json_object_set_new(varz, "leaf", leaf);
    json_object_set_new(varz, "uplink", status_json(u, false));
}

static void hook_drain(void *ctx)
{
    ae_uplink *u = ctx;
    ae_loop_timer_stop(u->srv->loop, &u->reconnect);
}

/* ---- public calls ---------------------------------------------------------------------- */

void ae_uplink_set_client(ae_uplink *u, const ae_uplink_client *c)
{
    u->client = *c;
}

const char *ae_uplink_inbox_prefix(const ae_uplink *u)
{
    return u->inbox_prefix;
}

const char *ae_uplink_hub_domain(const ae_uplink *u)
{
    return u->state == AE_UPLINK_DISCONNECTED ? "" : u->hub_domain;
}

size_t ae_uplink_queued(const ae_uplink *u)
{
    return u->data.pending;
}

const char *ae_uplink_state_name(ae_uplink_state st)
{
    switch (st) {
    case AE_UPLINK_DISCONNECTED:
        return "disconnected";
    case AE_UPLINK_CONNECTING:
        return "connecting";
    case AE_UPLINK_WS_UPGRADE:
        return "websocket-upgrade";
    case AE_UPLINK_WAIT_INFO:
        return "waiting-info";
    case AE_UPLINK_TLS:
        return "tls-handshake";
    case AE_UPLINK_WAIT_ACCEPT:
        return "authenticating";
    case AE_UPLINK_READY:
        return "connected";
    }
    return "?";
}

int ae_uplink_publish(ae_uplink *u, const char *subject, size_t subject_len, const char *reply,
                      size_t reply_len, const void *hdr, size_t hdr_len, const void *payload,
                      size_t payload_len)
{
    if (u->state != AE_UPLINK_READY)
        return AE_ECLOSED;
    if (u->hub_max_payload > 0 && (int64_t)(hdr_len + payload_len) > u->hub_max_payload)
        return AE_ELIMIT;
    char line[2048];
    int n;
    const char *sp = reply_len ? " " : "";
    if (hdr_len)
        n = snprintf(line, sizeof line, "HMSG %.*s%s%.*s %zu %zu\r\n", (int)subject_len, subject,
                     sp, (int)reply_len, reply ? reply : "", hdr_len, hdr_len + payload_len);
    else
        n = snprintf(line, sizeof line, "LMSG %.*s%s%.*s %zu\r\n", (int)subject_len, subject, sp,
                     (int)reply_len, reply ? reply : "", payload_len);
    if (n <= 0 || (size_t)n >= sizeof line)
        return AE_EINVAL;
    return queue_data(u, line, (size_t)n, hdr, hdr_len, payload, payload_len);
}

int ae_uplink_start(ae_server *s, ae_err *err)
{
    const ae_opts *o = &s->opts;
    if (o->nremotes < 1)
        return ae_err_set(err, AE_EINVAL, "no leafnodes remote configured");
    const ae_remote *r = &o->remotes[0];
    ae_uplink *u = calloc(1, sizeof *u);
    if (!u)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    u->kind = AE_EP_UPLINK;
    ae_interest_init(&u->local);
    u->srv = s;
    u->io.fd = -1;
    u->urls.ignore_discovered = r->ignore_discovered_urls;
    u->home_n = r->home_urls < r->nurls ? r->home_urls : 0;
    u->home_check_ns = r->home_check_ns > 0 ? r->home_check_ns : 30 * AE_NS_PER_SEC;
    u->home.io.fd = -1;
    for (int i = 0; i < r->nurls; i++) {
        int rc = ae_hub_urls_add(&u->urls, r->urls[i], err);
        if (rc) {
            ae_hub_urls_free(&u->urls);
            free(u);
            return rc;
        }
    }
    u->user = r->user ? strdup(r->user) : NULL;
    u->pass = r->password ? strdup(r->password) : NULL;
    u->token = r->token ? strdup(r->token) : NULL;
    const char *keyfile = r->credentials ? r->credentials : r->nkey_seed_file;
    if (keyfile) {
        if (ae_nkey_load_file(keyfile, &u->nkey, &u->jwt, err) != 0) {
            free(u);
            return AE_EINVAL;
        }
        u->have_nkey = true;
    }
    u->want_tls = r->tls;
    u->ws_compress = r->ws_compression;
    u->ws_no_masking = r->ws_no_masking;
    u->ws_frame_wait_ns = r->ws_frame_wait_ns >= 0 ? r->ws_frame_wait_ns : AE_WS_FRAME_WAIT_DEF_NS;
    if (r->tls) {
        ae_tls_config cfg = {.ca_file = r->tls_ca_file,
                             .cert_file = r->tls_cert_file,
                             .key_file = r->tls_key_file,
                             .insecure = r->tls_insecure};
        if (ae_tls_ctx_new(&cfg, &u->tls_ctx, err) != 0) {
            free(u);
            return AE_EINVAL;
        }
    }
    snprintf(u->vid, sizeof u->vid, "%s", o->vid ? o->vid : s->server_name);
    snprintf(u->env, sizeof u->env, "%s", o->env ? o->env : "prod");
    snprintf(u->name, sizeof u->name, "%s", s->server_name);
    char rnd[24];
    rand_token(rnd, 22);
    snprintf(u->inbox_prefix, sizeof u->inbox_prefix, "_INBOX.%s.", rnd);
    u->tokens_at = ae_mono_ns();
    u->reconnect = (ae_timer){.cb = on_reconnect_timer, .ctx = u};
    u->retry_write = (ae_timer){.cb = on_retry_write, .ctx = u};
    u->flush_timer = (ae_timer){.cb = on_retry_write, .ctx = u};
    u->state = AE_UPLINK_DISCONNECTED;
    s->uplink = u;
    s->uplink_hooks.ctx = u;
    s->uplink_hooks.forward = hook_forward;
    s->uplink_hooks.interest = hook_interest;
    s->uplink_hooks.tick = hook_tick;
    s->uplink_hooks.drain = hook_drain;
    s->uplink_hooks.congested = hook_congested;
    /* Local subscriptions made before the uplink existed (none at start-up, but keep it
     * honest for a restart of the uplink) are picked up by the first interest hook. */
    ae_loop_timer_start(s->loop, &u->reconnect, 0);
    return 0;
}

void ae_uplink_stop(ae_server *s)
{
    ae_uplink *u = s->uplink;
    if (!u)
        return;
    u->srv->draining = true; /* no reconnect from disconnect() */
    ae_homeprobe_stop(&u->home);
    disconnect(u, NULL);
    ae_loop_timer_stop(s->loop, &u->reconnect);
    ae_loop_timer_stop(s->loop, &u->retry_write);
    ae_loop_timer_stop(s->loop, &u->flush_timer);
    ae_interest_free(&u->local);
    ae_hub_urls_free(&u->urls);
    free(u->user);
    free(u->pass);
    free(u->token);
    free(u->jwt);
    free(u->bounds);
    ae_ws_link_reset(&u->ws);
    ae_tls_ctx_free(u->tls_ctx);
    memset(&u->nkey, 0, sizeof u->nkey);
    memset(&s->uplink_hooks, 0, sizeof s->uplink_hooks);
    s->uplink = NULL;
    free(u);
}
