/* Local client connections: the server side of the NATS client protocol.
 *
 * The read path (plain or TLS), the SUB/UNSUB/PUB handlers and delivery; CONNECT is in
 * connect_op.c, PING (the flush barrier) in ping.c, output, stalls and closing in conn.c;
 * the loop's passes over all connections are server.c's. The protocol behaviour follows
 * nats-server 2.9 as recorded in docs/compatibility.md: the same defaults, the same -ERR
 * texts, the same order of replies, and the same choice between continuing and closing. */
#include "leaf/client.h"
#include "leaf/connect_op.h"
#include "leaf/ping.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "leaf/auth.h"
#include "leaf/perms.h"
#include "leaf/registry.h"
#include "leaf/subject.h"
#include "leaf/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK      (64 * 1024)
#define READS_PER_EVENT 4 /* so one busy publisher cannot starve the others */

static void on_client_io(ae_loop *loop, ae_io *io, unsigned events);

static void send_str(ae_client *c, const char *s)
{
    ae_client_send(c, s, strlen(s));
}

/* Go's %q for a subject in an error text: quotes, with `"` and `\` escaped and control
 * bytes as \xNN, so texts match nats-server's. */
static void quote(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = 0;
}

/* The uplink's interest hook: a local subscription came or went. */
static void local_interest(ae_client *c, const ae_ssub *sub, bool added)
{
    ae_server *s = c->srv;
    if (s->uplink_hooks.interest)
        s->uplink_hooks.interest(s->uplink_hooks.ctx, sub, added);
}

/* ---- accept ------------------------------------------------------------------------------- */

ae_client *ae_client_accept(ae_server *s, int fd, const char *ip, int port)
{
    ae_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    if (s->tls_ctx) {
        ae_err err = {0};
        if (ae_tls_accept_new(s->tls_ctx, fd, &c->tls, &err) != 0) {
            ae_log_error("%s:%d - %s", ip, port, err.msg);
            close(fd);
            free(c);
            return NULL;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->kind = AE_EP_CLIENT;
    c->srv = s;
    c->io.fd = fd;
    c->io.cb = on_client_io;
    c->io.ctx = c;
    c->stall_timer = (ae_timer){.cb = ae_client_stall_timeout, .ctx = c};
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    c->port = port;
    /* nats-server's defaults for a connection that has not sent CONNECT. */
    c->verbose = true;
    c->pedantic = true;
    c->echo = true;
    c->start_ns = ae_now_ns();
    c->start_mono = ae_mono_ns();
    c->last_in = c->start_mono;
    int64_t first =
        s->opts.ping_interval_ns < 2 * AE_NS_PER_SEC ? s->opts.ping_interval_ns : 2 * AE_NS_PER_SEC;
    c->next_ping = c->start_mono + first + (int64_t)(first * 0.2 * (rand() / (double)RAND_MAX));
    ae_registry_add(&s->reg, c);
    if (ae_loop_add(s->loop, &c->io, 0) != 0)
        ae_client_drop(c, "Server Error");
    return c;
}

void ae_client_start(ae_client *c, const char *info, size_t info_len)
{
    ae_server *s = c->srv;
    ae_client_send(c, info, info_len);
    if (c->tls) {
        c->tls_state = AE_CTLS_INFO;
        c->plain_left = info_len;
    }
    if ((int64_t)s->reg.count > s->opts.max_connections) {
        ae_log_warn("%s:%d - cid:%llu - maximum connections (%lld) exceeded", c->ip, c->port,
                    (unsigned long long)c->cid, (long long)s->opts.max_connections);
        ae_client_send_err(c, "maximum connections exceeded");
        c->plain_left = c->out.pending; /* said before any TLS, as nats-server does */
        ae_client_close(c, NULL, "Maximum Connections Exceeded");
    } else if (s->draining) {
        ae_client_close(c, NULL, "Server Shutdown");
    }
    ae_client_update_interest(c);
    ae_log_debug("%s:%d - cid:%llu - Client connection created", c->ip, c->port,
                 (unsigned long long)c->cid);
}

/* ---- subscriptions ------------------------------------------------------------------------ */

/* A client's subscription is one allocation: the record, then its subject, queue and sid
 * (a connection may hold a million; one malloc and one free each keeps subscribing and
 * closing fast). */
static ae_ssub *new_ssub(ae_slice subject, ae_slice queue, ae_slice sid)
{
    size_t extra = subject.len + 1 + (queue.len ? queue.len + 1 : 0) + sid.len + 1;
    ae_ssub *sub = calloc(1, sizeof *sub + extra);
    if (!sub)
        return NULL;
    char *p = (char *)(sub + 1);
    sub->subject = memcpy(p, subject.ptr, subject.len);
    p += subject.len + 1;
    if (queue.len) {
        sub->queue = memcpy(p, queue.ptr, queue.len);
        p += queue.len + 1;
    }
    sub->sid = memcpy(p, sid.ptr, sid.len);
    sub->sid_len = sid.len;
    return sub;
}

/* Takes sub out of the index and frees it; the caller keeps c->subs in step. */
static void drop_sub(ae_client *c, ae_ssub *sub)
{
    c->nsubs--;
    ae_sublist_remove(c->srv->sl, &sub->sub);
    local_interest(c, sub, false);
    free(sub);
}

void ae_client_remove_sub(ae_client *c, ae_ssub *sub)
{
    ae_hmap_del(&c->subs, sub->sid, sub->sid_len);
    drop_sub(c, sub);
}

static void sub_violation(ae_client *c, const ae_op *op)
{
    char subj[600], q[600], text[1400];
    quote(subj, sizeof subj, op->subject.ptr, op->subject.len > 512 ? 512 : op->subject.len);
    if (op->queue.len) {
        quote(q, sizeof q, op->queue.ptr, op->queue.len > 512 ? 512 : op->queue.len);
        snprintf(text, sizeof text, "Permissions Violation for Subscription to %s using queue %s",
                 subj, q);
    } else {
        snprintf(text, sizeof text, "Permissions Violation for Subscription to %s", subj);
    }
    ae_log_error("%s:%d - cid:%llu - Subscription Violation - User %s, Subject %.*s", c->ip,
                 c->port, (unsigned long long)c->cid, c->user ? c->user : "?", (int)op->subject.len,
                 op->subject.ptr);
    ae_client_send_err(c, text);
}

/* The order of checks is nats-server's: permissions, the subscription limit, a reused sid
 * (ignored: the first subscription stays), then the subject itself. */
static void process_sub(ae_client *c, const ae_op *op)
{
    ae_server *s = c->srv;
    ae_ssub *sub = NULL;
    if (c->perms && !ae_perms_can_subscribe(c->perms, op->subject.ptr, op->subject.len,
                                            op->queue.ptr, op->queue.len)) {
        sub_violation(c, op);
        return;
    }
    if (s->opts.max_subscriptions > 0 && (int64_t)c->nsubs >= s->opts.max_subscriptions) {
        ae_client_send_err(c, "maximum subscriptions exceeded");
        return;
    }
    if (ae_hmap_get(&c->subs, op->sid.ptr, op->sid.len)) {
        ae_client_send_ok(c);
        return;
    }
    if (!ae_subject_valid(op->subject.ptr, op->subject.len)) {
        ae_client_send_err(c, "Invalid Subject");
        return;
    }
    if (!(sub = new_ssub(op->subject, op->queue, op->sid))) {
        ae_client_drop(c, "Out of Memory");
        return;
    }
    sub->kind = AE_EP_CLIENT;
    sub->sub.subject = sub->subject;
    sub->sub.subject_len = op->subject.len;
    sub->sub.queue = sub->queue;
    sub->sub.queue_len = op->queue.len;
    sub->sub.owner = c;
    if (ae_sublist_insert(s->sl, &sub->sub) != 0) {
        free(sub);
        ae_client_send_err(c, "Invalid Subject");
        return;
    }
    if (ae_hmap_put(&c->subs, sub->sid, sub->sid_len, sub) != 0) {
        ae_sublist_remove(s->sl, &sub->sub);
        free(sub);
        ae_client_drop(c, "Out of Memory");
        return;
    }
    c->nsubs++;
    if (c->perms)
        ae_perms_note_subscription(c->perms, sub->subject, sub->sub.subject_len);
    local_interest(c, sub, true);
    ae_client_send_ok(c);
}

static void process_unsub(ae_client *c, const ae_op *op)
{
    ae_ssub *sub = ae_hmap_get(&c->subs, op->sid.ptr, op->sid.len);
    ae_client_send_ok(c);
    if (sub && !sub->dead) {
        if (op->max_msgs > 0 && sub->delivered < (uint64_t)op->max_msgs)
            sub->max = op->max_msgs;
        else
            ae_client_remove_sub(c, sub);
    }
}

/* ---- publishing --------------------------------------------------------------------------- */

/* The publisher asked for no-responders and has a plain subscription on the reply subject:
 * nats-server sends it a 503 status message there. */
static void send_no_responders(ae_client *c, ae_slice reply)
{
    const ae_match *m = ae_sublist_match(c->srv->sl, reply.ptr, reply.len);
    const ae_ssub *mine = NULL;
    for (size_t i = 0; i < m->npsubs && !mine; i++) {
        if (m->psubs[i]->owner == c)
            mine = (const ae_ssub *)m->psubs[i];
    }
    if (!mine)
        return;
    char head[1200];
    int n = snprintf(head, sizeof head, "HMSG %.*s %.*s 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
                     (int)reply.len, reply.ptr, (int)mine->sid_len, mine->sid);
    if (n > 0 && (size_t)n < sizeof head)
        ae_client_send(c, head, (size_t)n);
}

/* nats-server reserves these reply prefixes for itself (service imports, JetStream acks,
 * gateway replies) and refuses them from clients. */
static bool reserved_reply(ae_slice r)
{
    return (r.len > 3 && !memcmp(r.ptr, "_R_.", 4)) ||
           (r.len > 8 && !memcmp(r.ptr, "$JS.ACK.", 8)) ||
           (r.len > 5 && !memcmp(r.ptr, "$GNR.", 5));
}

static void pub_violation(ae_client *c, const char *what, ae_slice s)
{
    char q[600], text[700];
    quote(q, sizeof q, s.ptr, s.len > 512 ? 512 : s.len);
    snprintf(text, sizeof text, "Permissions Violation for Publish %s %s", what, q);
    ae_log_error("%s:%d - cid:%llu - Publish Violation - User %s, %s %s", c->ip, c->port,
                 (unsigned long long)c->cid, c->user ? c->user : "?",
                 what[0] == 't' ? "Subject" : "Reply", q);
    ae_client_send_err(c, text);
}

static void process_pub(ae_client *c, const ae_op *op)
{
    ae_server *s = c->srv;
    if (op->kind == AE_OP_HPUB && !c->headers) {
        ae_log_debug("%s:%d - cid:%llu - message headers not supported", c->ip, c->port,
                     (unsigned long long)c->cid);
        ae_client_close(c, NULL, "Protocol Violation");
        return;
    }
    bool literal = ae_subject_valid_literal(op->subject.ptr, op->subject.len);
    if (!literal && c->pedantic)
        ae_client_send_err(c, "Invalid Publish Subject");
    c->in_msgs++;
    c->in_bytes += op->total_len;
    s->in_msgs++;
    s->in_bytes += op->total_len;
    /* nats-server's checks, in its order; a refused message gets no +OK. */
    if (c->perms &&
        !ae_perms_can_publish(c->perms, op->subject.ptr, op->subject.len, ae_loop_now(s->loop))) {
        pub_violation(c, "to", op->subject);
        return;
    }
    if (op->reply.len && reserved_reply(op->reply)) {
        pub_violation(c, "with Reply of", op->reply);
        return;
    }
    /* +OK before the message is delivered, even back to this connection (nats-server). */
    ae_client_send_ok(c);
    if (!literal && !ae_subject_valid(op->subject.ptr, op->subject.len))
        return; /* nats-server drops what it cannot tokenise; a wildcard is matched literally */
    ae_msg m = {.subject = op->subject,
                .deliver_subject = op->subject,
                .reply = op->reply,
                .hdr_len = op->hdr_len,
                .total_len = op->total_len,
                .payload = op->payload};
    size_t n = ae_server_route(s, c, &m);
    if (n == 0 && op->reply.len > 0 && c->no_responders && !c->closing)
        send_no_responders(c, op->reply);
}

/* ---- the read path ------------------------------------------------------------------------ */

static void process_op(ae_client *c, const ae_op *op)
{
    if (!c->connected && op->kind != AE_OP_CONNECT && ae_auth_required(&c->srv->opts)) {
        ae_client_close(c, "Authorization Violation", "Authentication Failure");
        return;
    }
    switch (op->kind) {
    case AE_OP_CONNECT:
        ae_client_connect_op(c, op);
        break;
    case AE_OP_PUB:
    case AE_OP_HPUB:
        process_pub(c, op);
        break;
    case AE_OP_SUB:
        process_sub(c, op);
        break;
    case AE_OP_UNSUB:
        process_unsub(c, op);
        break;
    case AE_OP_PING:
        ae_client_ping_op(c);
        break;
    case AE_OP_PONG:
        c->pings_out = 0;
        if (c->ping_sent_at) {
            c->rtt_ns = ae_mono_ns() - c->ping_sent_at;
            c->ping_sent_at = 0;
        }
        break;
    case AE_OP_ERR:
        /* nats-server treats an -ERR from a client as the end of the conversation. */
        ae_log_warn("%s:%d - cid:%llu - Client Error %.*s", c->ip, c->port,
                    (unsigned long long)c->cid, (int)op->arg.len, op->arg.ptr);
        ae_client_close(c, NULL, "Parse Error");
        break;
    default: /* INFO and +OK from a client carry nothing for us */
        break;
    }
}

/* Parses and handles complete ops in buf until the input ends or reading is paused (a fast
 * producer stalls between two ops, as nats-server's read loop waits). Returns the bytes
 * consumed (the rest waits in rbuf), or -1 if the connection was closed. */
static ptrdiff_t parse_buffer(ae_client *c, const uint8_t *buf, size_t len, size_t *need)
{
    ae_server *s = c->srv;
    ae_proto_limits lim = {.kind = AE_PROTO_CLIENT,
                           .max_control_line = (size_t)s->opts.max_control_line,
                           .max_payload = (size_t)s->opts.max_payload};
    size_t off = 0;
    *need = 0;
    while (off < len && !c->pause) {
        ae_op op;
        ptrdiff_t r = ae_proto_parse(&lim, buf + off, len - off, &op, need);
        if (r == 0)
            break;
        if (r < 0) {
            ae_perr e = (ae_perr)-r;
            ae_log_debug("%s:%d - cid:%llu - protocol error %d", c->ip, c->port,
                         (unsigned long long)c->cid, (int)e);
            const char *reason = e == AE_PERR_MAX_PAYLOAD   ? "Maximum Message Payload Exceeded"
                                 : e == AE_PERR_MAX_CONTROL ? "Maximum Control Line Exceeded"
                                                            : "Protocol Violation";
            /* What is already queued (the +OK of an earlier CONNECT) still goes out. */
            ae_client_close(c, ae_proto_err_text(e), reason);
            return -1;
        }
        process_op(c, &op);
        off += (size_t)r;
        if (c->closing)
            return -1;
    }
    if (c->pause)
        *need = 0;
    return (ptrdiff_t)off;
}

/* Makes room for at least `want` more bytes in the client's own buffer. */
static bool reserve_rbuf(ae_client *c, size_t want)
{
    if (c->rcap - c->rlen >= want)
        return true;
    size_t ncap = c->rcap ? c->rcap : 4096;
    while (ncap - c->rlen < want)
        ncap *= 2;
    uint8_t *nb = realloc(c->rbuf, ncap);
    if (!nb)
        return false;
    c->rbuf = nb;
    c->rcap = ncap;
    return true;
}

static void release_rbuf(ae_client *c)
{
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
}

/* Parses what rbuf holds; keeps the unparsed rest. Returns false if the connection closed. */
static bool parse_rbuf(ae_client *c)
{
    size_t need;
    ptrdiff_t used = parse_buffer(c, c->rbuf, c->rlen, &need);
    if (used < 0)
        return false;
    c->rlen -= (size_t)used;
    if (c->rlen == 0)
        release_rbuf(c);
    else if (used > 0)
        memmove(c->rbuf, c->rbuf + used, c->rlen);
    return true;
}

/* Reads what the socket has. Complete ops are parsed straight out of a buffer shared by all
 * connections (one thread), so an idle connection holds no read buffer; only an incomplete
 * op (or the rest of the input when a stall paused parsing) is copied into the connection's
 * own buffer. */
static void client_read(ae_client *c)
{
    static uint8_t shared[READ_CHUNK];
    for (int round = 0; round < READS_PER_EVENT && !c->closing && !c->pause; round++) {
        ssize_t n;
        if (c->rlen == 0) {
            n = ae_client_read_bytes(c, shared, sizeof shared);
        } else {
            if (!reserve_rbuf(c, READ_CHUNK)) {
                ae_client_drop(c, "Out of Memory");
                return;
            }
            n = ae_client_read_bytes(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        }
        if (n == 0) {
            ae_client_close(c, NULL, "Client Closed");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            ae_client_drop(c, "Read Error");
            return;
        }
        c->last_in = ae_loop_now(c->srv->loop);
        if (c->rlen == 0) {
            size_t need;
            ptrdiff_t used = parse_buffer(c, shared, (size_t)n, &need);
            if (used < 0)
                return;
            size_t rest = (size_t)n - (size_t)used;
            if (rest > 0) {
                if (!reserve_rbuf(c, need > rest ? need : rest)) {
                    ae_client_drop(c, "Out of Memory");
                    return;
                }
                memcpy(c->rbuf, shared + used, rest);
                c->rlen = rest;
            }
        } else {
            c->rlen += (size_t)n;
            if (!parse_rbuf(c))
                return;
        }
        if (!c->tls && (size_t)n < READ_CHUNK)
            return; /* drained the socket */
    }
    /* Decrypted bytes left inside OpenSSL are invisible to epoll: read them next pass. */
    if (c->tls && !c->closing && !c->pause && ae_tls_has_pending(c->tls))
        ae_registry_want_ready(&c->srv->reg, c);
}

void ae_client_resume_input(ae_client *c)
{
    if (c->closing || c->pause)
        return;
    if (c->rlen > 0 && !parse_rbuf(c))
        return;
    if (c->closing || c->pause)
        return;
    if (c->hup) {
        ae_client_close(c, NULL, "Client Closed");
        return;
    }
    client_read(c);
}

static void tls_handshake_step(ae_client *c)
{
    ae_err err = {0};
    int rc = ae_tls_handshake(c->tls, &err);
    if (rc == AE_EAGAIN) {
        ae_client_update_interest(c);
        return;
    }
    if (rc != 0) {
        ae_log_warn("%s:%d - cid:%llu - TLS handshake error: %s", c->ip, c->port,
                    (unsigned long long)c->cid, err.msg);
        ae_client_drop(c, "TLS Handshake Failure");
        return;
    }
    char d[128];
    ae_log_debug("%s:%d - cid:%llu - TLS handshake complete (%s)", c->ip, c->port,
                 (unsigned long long)c->cid, ae_tls_describe(c->tls, d, sizeof d));
    c->tls_state = AE_CTLS_READY;
    if (c->out.pending)
        ae_registry_want_write(&c->srv->reg, c);
    ae_client_update_interest(c);
}

static void on_client_io(ae_loop *loop, ae_io *io, unsigned events)
{
    ae_client *c = io->ctx;
    if (c->closing) {
        if (c->flush_then_close && c->out.pending)
            ae_client_flush(c);
        return;
    }
    if (c->tls_state == AE_CTLS_INFO) {
        if (events & AE_IO_WRITE)
            ae_client_flush(c);
        return;
    }
    if (c->tls_state == AE_CTLS_HANDSHAKE) {
        tls_handshake_step(c);
        if (c->closing || c->tls_state != AE_CTLS_READY)
            return;
    }
    if (events & AE_IO_READ) {
        if (c->pause) {
            /* Not reading now, so a hang-up would be reported on every pass: stop watching
             * the socket; what rbuf holds is parsed when the pause ends, then it closes. */
            if (events & AE_IO_HUP) {
                c->hup = true;
                ae_loop_del(loop, &c->io);
            }
            return;
        }
        client_read(c);
    }
    if (!c->closing && (events & AE_IO_WRITE))
        ae_client_flush(c);
}

/* ---- output ------------------------------------------------------------------------------- */

static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

bool ae_client_deliver(ae_client *c, ae_ssub *sub, const ae_msg *m)
{
    if (c->closing)
        return false;
    if (c->perms &&
        ae_perms_delivery_denied(c->perms, m->deliver_subject.ptr, m->deliver_subject.len))
        return false;
    ae_server *s = c->srv;
    bool with_hdr = m->hdr_len > 0 && c->headers;
    /* A client that did not negotiate headers gets the payload alone, as nats-server does. */
    size_t skip = (m->hdr_len > 0 && !c->headers) ? m->hdr_len : 0;
    size_t body = m->total_len - skip;
    size_t line = 5 + m->deliver_subject.len + 1 + sub->sid_len + 1 +
                  (m->reply.len ? m->reply.len + 1 : 0) + 2 * 21 + 2;
    char *p = ae_outq_reserve(&c->out, line + body + 2);
    if (!p) {
        ae_client_drop(c, "Out of Memory");
        return false;
    }
    char *start = p;
    if (with_hdr) {
        memcpy(p, "HMSG ", 5);
    } else {
        memcpy(p, "MSG ", 4);
        p--;
    }
    p += 5;
    memcpy(p, m->deliver_subject.ptr, m->deliver_subject.len);
    p += m->deliver_subject.len;
    *p++ = ' ';
    memcpy(p, sub->sid, sub->sid_len);
    p += sub->sid_len;
    *p++ = ' ';
    if (m->reply.len) {
        memcpy(p, m->reply.ptr, m->reply.len);
        p += m->reply.len;
        *p++ = ' ';
    }
    if (with_hdr) {
        p += fmt_u64(p, m->hdr_len);
        *p++ = ' ';
    }
    p += fmt_u64(p, body);
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, m->payload + skip, body);
    p += body;
    *p++ = '\r';
    *p++ = '\n';
    /* Give back the part of the reservation the control line did not need. */
    size_t used = (size_t)(p - start);
    size_t reserved = line + body + 2;
    ae_outq_unreserve(&c->out, reserved - used);

    c->out_msgs++;
    c->out_bytes += body;
    s->out_msgs++;
    s->out_bytes += body;
    sub->delivered++;
    if (sub->max > 0 && sub->delivered >= (uint64_t)sub->max)
        sub->dead = true; /* the router removes it once the fanout is over */
    if (c->perms && m->reply.len)
        ae_perms_note_request(c->perms, m->reply.ptr, m->reply.len, ae_loop_now(s->loop));
    if ((int64_t)c->out.pending > s->opts.max_pending) {
        s->slow_consumers++;
        ae_log_warn("%s:%d - cid:%llu - Slow Consumer Detected: pending %zu bytes > max_pending "
                    "%lld; closing it so it cannot stall others",
                    c->ip, c->port, (unsigned long long)c->cid, c->out.pending,
                    (long long)s->opts.max_pending);
        ae_client_drop(c, "Slow Consumer (Pending Bytes)");
        return true;
    }
    if ((int64_t)c->out.pending > s->opts.max_pending / 2)
        c->stalling = true;
    ae_registry_want_write(&s->reg, c);
    return true;
}

/* ---- periodic checks and the end ---------------------------------------------------------- */

void ae_client_tick(ae_client *c, int64_t now)
{
    ae_server *s = c->srv;
    if (c->closing)
        return;
    if (c->tls_state == AE_CTLS_INFO || c->tls_state == AE_CTLS_HANDSHAKE) {
        if (now - c->start_mono > s->opts.tls_timeout_ns) {
            ae_log_warn("%s:%d - cid:%llu - TLS handshake timeout", c->ip, c->port,
                        (unsigned long long)c->cid);
            ae_client_drop(c, "TLS Handshake Failure");
        }
        return;
    }
    if (!c->connected && ae_auth_required(&s->opts) &&
        now - c->start_mono > s->opts.auth_timeout_ns) {
        ae_client_close(c, "Authentication Timeout", "Authentication Timeout");
        return;
    }
    if (c->out.pending && c->write_stall_since &&
        now - c->write_stall_since > s->opts.write_deadline_ns) {
        s->slow_consumers++;
        ae_log_warn("%s:%d - cid:%llu - Slow Consumer Detected: write deadline exceeded", c->ip,
                    c->port, (unsigned long long)c->cid);
        ae_client_drop(c, "Slow Consumer (Write Deadline)");
        return;
    }
    if (now >= c->next_ping) {
        c->next_ping = now + s->opts.ping_interval_ns;
        if (c->pings_out + 1 > s->opts.ping_max) {
            ae_client_close(c, "Stale Connection", "Stale Connection");
            return;
        }
        /* Like nats-server, skip the PING if the client was heard from within the interval. */
        if (c->connected && now - c->last_in < s->opts.ping_interval_ns && c->pings_out == 0)
            return;
        c->pings_out++;
        c->ping_sent_at = now;
        send_str(c, "PING\r\n");
    }
}

static void record_closed(ae_client *c)
{
    ae_closed_info *ci = ae_registry_record_closed(&c->srv->reg);
    ci->cid = c->cid;
    snprintf(ci->ip, sizeof ci->ip, "%s", c->ip);
    ci->port = c->port;
    ci->start_ns = c->start_ns;
    ci->stop_ns = ae_now_ns();
    ci->in_msgs = c->in_msgs;
    ci->out_msgs = c->out_msgs;
    ci->in_bytes = c->in_bytes;
    ci->out_bytes = c->out_bytes;
    ci->subs = (int)c->nsubs;
    snprintf(ci->name, sizeof ci->name, "%s", c->name ? c->name : "");
    snprintf(ci->lang, sizeof ci->lang, "%s", c->lang ? c->lang : "");
    snprintf(ci->version, sizeof ci->version, "%s", c->version ? c->version : "");
    snprintf(ci->user, sizeof ci->user, "%s", c->user ? c->user : "");
    snprintf(ci->reason, sizeof ci->reason, "%s", c->close_reason);
}

void ae_client_retire(ae_client *c)
{
    if (c->retired)
        return;
    ae_server *s = c->srv;
    c->retired = true;
    c->closing = true;
    record_closed(c);
    ae_client_end_stall(c);
    ae_client_release_stalled(c);
    ae_loop_timer_stop(s->loop, &c->stall_timer);
    ae_loop_del(s->loop, &c->io);
    shutdown(c->io.fd, SHUT_RDWR);
    close(c->io.fd);
    c->io.fd = -1;
    ae_tls_free(c->tls);
    c->tls = NULL;
    ae_outq_clear(&c->out);
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
}

uint64_t ae_client_drop_subs(ae_client *c, uint64_t max)
{
    ae_hmap_ent *e;
    /* Deleting leaves the table's layout as it is, so the position stays good. */
    for (uint64_t n = 0; n < max && (e = ae_hmap_next(&c->subs, &c->drop_pos)); n++) {
        ae_ssub *sub = e->val;
        ae_hmap_del(&c->subs, sub->sid, sub->sid_len);
        drop_sub(c, sub);
    }
    return c->nsubs;
}

void ae_client_free(ae_client *c)
{
    ae_client_retire(c);
    /* Unsubscribe everything: the client's subs must stop receiving. The sid table goes as a
     * whole afterwards. */
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(&c->subs, &pos)))
        drop_sub(c, e->val);
    ae_hmap_free(&c->subs);
    ae_registry_remove(&c->srv->reg, c);
    ae_perms_free(c->perms);
    free(c->name);
    free(c->lang);
    free(c->version);
    free(c->user);
    free(c);
}
