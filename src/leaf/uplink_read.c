/* The uplink's read path: the socket's events, reading (TLS, websocket unframing), the
 * parser, and the hub's operations handed on by kind. Calls uplink_handshake.c,
 * uplink_traffic.c, uplink_write.c, uplink.c. */
#include "leaf/uplink_internal.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void process_op(ae_uplink *u, const ae_op *op)
{
    switch (op->kind) {
    case AE_OP_INFO:
        uplink_hub_info(u, op);
        break;
    case AE_OP_PING:
        uplink_send_ctrl(u, "PONG\r\n", 6);
        break;
    case AE_OP_PONG:
        u->pings_out = 0;
        if (u->ping_sent_at) {
            u->rtt_ns = ae_mono_ns() - u->ping_sent_at;
            u->ping_sent_at = 0;
        }
        break;
    case AE_OP_ERR:
        uplink_hub_err(u, op);
        break;
    case AE_OP_LSUB:
        if (u->state == AE_UPLINK_READY || u->state == AE_UPLINK_WAIT_ACCEPT)
            uplink_hub_ls_plus(u, op);
        break;
    case AE_OP_LUNSUB:
        uplink_hub_ls_minus(u, op);
        break;
    case AE_OP_LMSG:
    case AE_OP_HMSG:
        if (u->state == AE_UPLINK_READY)
            uplink_hub_msg(u, op);
        break;
    default:
        break;
    }
}

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
 * link was closed (uplink_disconnect done). */
static ssize_t read_socket(ae_uplink *u, uint8_t *buf, size_t cap)
{
    ssize_t n;
    ae_err err = {0};
    if (u->tls) {
        n = ae_tls_read(u->tls, buf, cap, &err);
        if (n == AE_EAGAIN)
            return 0;
        if (n < 0) {
            uplink_set_error(u, "%s", err.msg);
            uplink_disconnect(u, "TLS read error");
            return -1;
        }
    } else {
        n = read(u->io.fd, buf, cap);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (n < 0) {
            uplink_set_error(u, "read from hub failed: %s", strerror(errno));
            uplink_disconnect(u, "read error");
            return -1;
        }
    }
    if (n == 0) {
        uplink_disconnect(u, "the hub closed the connection");
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
        uplink_set_error(u,
                         "the hub refused our credentials (%s): check the user/password, token or "
                         "credentials of leafnodes.remotes, and that the hub allows LEAFNODE_WS",
                         err->msg);
    else
        uplink_set_error(u, "%s:%d: %s", u->cur->host, u->cur->port,
                         rc == AE_ENOMEM ? "out of memory" : err->msg);
    uplink_disconnect(u, rc == AE_ECLOSED ? "the hub closed the websocket" : "websocket error");
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
        uplink_set_state(u, AE_UPLINK_WAIT_INFO);
    }
    if (u->ws.wire.pending) /* PONGs to our hub's PINGs */
        uplink_flush(u);
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
                uplink_disconnect(u, "out of memory");
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
                uplink_disconnect(u, "out of memory");
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
                uplink_set_error(u, "protocol error from the hub (parser error %d)", (int)-r);
                uplink_disconnect(u, "protocol error");
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

void uplink_on_io(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    ae_uplink *u = io->ctx;
    if (u->state == AE_UPLINK_CONNECTING) {
        uplink_connected(u);
        return;
    }
    if (u->state == AE_UPLINK_TLS) {
        uplink_drive_tls(u);
        if (u->state == AE_UPLINK_TLS || u->state == AE_UPLINK_DISCONNECTED)
            return;
    }
    if (events & AE_IO_READ)
        read_hub(u);
    if (u->state != AE_UPLINK_DISCONNECTED && (events & AE_IO_WRITE))
        uplink_flush_and_notify(u);
}
