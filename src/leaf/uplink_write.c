/* The uplink's write path: control lines (PING/PONG/LS±/CONNECT) always ahead of data, never
 * splitting a data message; data paced to uplink.rate; over websocket, what waits packed
 * into as few frames as it can (a frame may wait ws_frame_wait to fill). Flow control: the
 * congested hook pauses publishers above DATA_QUEUE_HWM; they and the forwarder are told
 * below LOW_WATER. Calls uplink.c (a failed write disconnects). */
#include "leaf/uplink_internal.h"
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void uplink_send_ctrl(ae_uplink *u, const char *s, size_t n)
{
    if (u->state == AE_UPLINK_DISCONNECTED || u->io.fd < 0)
        return;
    ae_outq_append(&u->ctrl, s, n);
    ae_log_trace("uplink: >>> %.*s", (int)(n > 2 ? n - 2 : n), s);
    /* Over websocket, control lines of one loop pass (a burst of LS+ at connect) share a
     * frame: flushed at the end of the pass, not held beyond it. An -ERR goes at once, as a
     * uplink_disconnect follows it. */
    if (u->use_ws && u->state == AE_UPLINK_READY && s[0] != '-')
        ae_loop_timer_start(u->srv->loop, &u->flush_timer, 0);
    else
        uplink_flush(u);
}

void uplink_send_ctrlf(ae_uplink *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void uplink_send_ctrlf(ae_uplink *u, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof buf)
        uplink_send_ctrl(u, buf, (size_t)n);
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

/* Where the uplink_flush loop puts protocol bytes: the socket, or over websocket the frame being
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

void uplink_on_retry_write(ae_loop *loop, ae_timer *t)
{
    (void)loop;
    uplink_flush_and_notify(t->ctx);
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
void uplink_flush(ae_uplink *u)
{
    if (u->io.fd < 0 || u->state == AE_UPLINK_CONNECTING || u->state == AE_UPLINK_TLS)
        return;
    int64_t rate = u->srv->opts.uplink_rate;
    bool blocked = false;
    if (u->use_ws) {
        ae_err err = {0};
        if (drain_wire(u, &err) != 0) {
            uplink_disconnect(u, err.msg);
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
            uplink_disconnect(u, err.msg);
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
            uplink_disconnect(u, err.msg);
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

/* After a socket-driven flush the forwarder may queue more; never from inside
 * uplink_queue_data, or publishing would recurse through the forwarder. */
void uplink_flush_and_notify(ae_uplink *u)
{
    uplink_flush(u);
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
int uplink_queue_data(ae_uplink *u, const char *line, size_t line_len, const void *hdr,
                      size_t hdr_len, const void *payload, size_t payload_len)
{
    size_t total = line_len + hdr_len + payload_len + 2;
    if (u->data.pending == 0)
        u->data_since = ae_mono_ns();
    if (ae_outq_append(&u->data, line, line_len) != 0 ||
        (hdr_len && ae_outq_append(&u->data, hdr, hdr_len) != 0) ||
        (payload_len && ae_outq_append(&u->data, payload, payload_len) != 0) ||
        ae_outq_append(&u->data, "\r\n", 2) != 0 || !push_bound(u, (uint32_t)total)) {
        uplink_disconnect(u, "out of memory queueing data for the hub");
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
    return uplink_queue_data(u, line, (size_t)n, hdr, hdr_len, payload, payload_len);
}

bool uplink_hook_congested(void *ctx)
{
    const ae_uplink *u = ctx;
    return u->data.pending > DATA_QUEUE_HWM;
}

size_t ae_uplink_queued(const ae_uplink *u)
{
    return u->data.pending;
}
