/* Local client connections: the server side of the NATS client protocol.
 *
 * Works with server.c (routing, lists, statistics) and proto.c (parsing). The protocol
 * behaviour follows nats-server 2.9 as recorded in docs/compatibility.md: the same
 * defaults, the same -ERR texts, and the same choice between continuing and closing. */
#include "leaf/client.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "leaf/subject.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK      (64 * 1024)
#define READS_PER_EVENT 4 /* so one busy publisher cannot starve the others */
#define FLUSH_BUDGET    (4 * 1024 * 1024)

static void on_client_io(ae_loop *loop, ae_io *io, unsigned events);
static void send_err(ae_client *c, const char *text);

static bool auth_required(const ae_server *s)
{
    return s->opts.user || s->opts.token || s->opts.nusers > 0;
}

void ae_client_send(ae_client *c, const void *p, size_t n)
{
    if (c->closing && !c->flush_then_close)
        return;
    if (ae_outq_append(&c->out, p, n) != 0) {
        ae_client_close(c, NULL, "Out of Memory");
        return;
    }
    ae_server_want_write(c->srv, c);
}

static void send_str(ae_client *c, const char *s)
{
    ae_client_send(c, s, strlen(s));
}

static void send_ok(ae_client *c)
{
    if (c->verbose)
        send_str(c, "+OK\r\n");
}

void ae_client_send_err(ae_client *c, const char *text)
{
    send_err(c, text);
}

static void send_err(ae_client *c, const char *text)
{
    char line[768];
    int n = snprintf(line, sizeof line, "-ERR '%s'\r\n", text);
    ae_client_send(c, line, (size_t)n);
}

ae_client *ae_client_accept(ae_server *s, int fd, const char *ip, int port)
{
    ae_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->kind = AE_EP_CLIENT;
    c->srv = s;
    c->cid = ++s->next_cid;
    c->io.fd = fd;
    c->io.cb = on_client_io;
    c->io.ctx = c;
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

    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    s->total_connections++;

    if (ae_loop_add(s->loop, &c->io, AE_IO_READ) != 0) {
        ae_client_close(c, NULL, "Server Error");
        return c;
    }
    char info[2048];
    size_t n = ae_server_info_line(s, c, info, sizeof info);
    ae_client_send(c, info, n);
    if ((int64_t)s->nclients > s->opts.max_connections) {
        ae_log_warn("%s:%d - cid:%llu - maximum connections (%lld) exceeded", ip, port,
                    (unsigned long long)c->cid, (long long)s->opts.max_connections);
        ae_client_close(c, "maximum connections exceeded", "Max Connections");
    } else if (s->draining) {
        ae_client_close(c, NULL, "Server Shutdown");
    }
    ae_log_debug("%s:%d - cid:%llu - Client connection created", ip, port,
                 (unsigned long long)c->cid);
    return c;
}

/* ---- subscriptions -------------------------------------------------------------------- */

static void free_ssub(ae_ssub *sub)
{
    free(sub->subject);
    free(sub->queue);
    free(sub->sid);
    free(sub);
}

/* Removes a subscription now (not during a fanout: see ae_server_defer_unsub). */
void ae_client_remove_sub(ae_client *c, ae_ssub *sub)
{
    ae_hmap_del(&c->subs, sub->sid, sub->sid_len);
    c->nsubs--;
    ae_sublist_remove(c->srv->sl, &sub->sub);
    ae_server_local_interest(c->srv, sub, false);
    free_ssub(sub);
}

static void process_sub(ae_client *c, const ae_op *op)
{
    ae_server *s = c->srv;
    if (!ae_subject_valid(op->subject.ptr, op->subject.len)) {
        send_err(c, "Invalid Subject");
        return;
    }
    if (ae_hmap_get(&c->subs, op->sid.ptr, op->sid.len)) {
        send_ok(c); /* a reused sid is ignored; the first subscription stays (nats-server) */
        return;
    }
    if (s->opts.max_subscriptions > 0 && (int64_t)c->nsubs >= s->opts.max_subscriptions) {
        send_err(c, "maximum subscriptions exceeded");
        return;
    }
    ae_ssub *sub = calloc(1, sizeof *sub);
    if (!sub) {
        ae_client_close(c, NULL, "Out of Memory");
        return;
    }
    sub->kind = AE_EP_CLIENT;
    sub->subject = strndup(op->subject.ptr, op->subject.len);
    sub->queue = op->queue.len ? strndup(op->queue.ptr, op->queue.len) : NULL;
    sub->sid = strndup(op->sid.ptr, op->sid.len);
    sub->sid_len = op->sid.len;
    if (!sub->subject || !sub->sid || (op->queue.len && !sub->queue)) {
        free_ssub(sub);
        ae_client_close(c, NULL, "Out of Memory");
        return;
    }
    sub->sub.subject = sub->subject;
    sub->sub.subject_len = op->subject.len;
    sub->sub.queue = sub->queue;
    sub->sub.queue_len = op->queue.len;
    sub->sub.owner = c;
    if (ae_sublist_insert(s->sl, &sub->sub) != 0) {
        free_ssub(sub);
        send_err(c, "Invalid Subject");
        return;
    }
    if (ae_hmap_put(&c->subs, sub->sid, sub->sid_len, sub) != 0) {
        ae_sublist_remove(s->sl, &sub->sub);
        free_ssub(sub);
        ae_client_close(c, NULL, "Out of Memory");
        return;
    }
    c->nsubs++;
    ae_server_local_interest(s, sub, true);
    send_ok(c);
}

static void process_unsub(ae_client *c, const ae_op *op)
{
    ae_ssub *sub = ae_hmap_get(&c->subs, op->sid.ptr, op->sid.len);
    if (sub && !sub->dead) {
        if (op->max_msgs > 0 && sub->delivered < (uint64_t)op->max_msgs)
            sub->max = op->max_msgs;
        else
            ae_client_remove_sub(c, sub);
    }
    send_ok(c);
}

/* ---- publishing ----------------------------------------------------------------------- */

/* The publisher asked for no-responders and has a subscription on the reply subject:
 * send it a 503 status message there, as nats-server does. */
static void send_no_responders(ae_client *c, ae_slice reply)
{
    const ae_match *m = ae_sublist_match(c->srv->sl, reply.ptr, reply.len);
    ae_ssub *mine = NULL;
    for (size_t i = 0; i < m->npsubs && !mine; i++) {
        if (m->psubs[i]->owner == c)
            mine = (ae_ssub *)m->psubs[i];
    }
    for (size_t g = 0; g < m->nqgroups && !mine; g++) {
        for (size_t i = 0; i < m->qgroups[g].n && !mine; i++) {
            if (m->qgroups[g].subs[i]->owner == c)
                mine = (ae_ssub *)m->qgroups[g].subs[i];
        }
    }
    if (!mine)
        return;
    static const char status[] = "NATS/1.0 503\r\n\r\n";
    ae_msg nr = {.subject = reply,
                 .deliver_subject = reply,
                 .hdr_len = sizeof status - 1,
                 .total_len = sizeof status - 1,
                 .payload = (const uint8_t *)status};
    ae_client_deliver(c, mine, &nr);
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
    c->in_msgs++;
    c->in_bytes += op->total_len;
    s->in_msgs++;
    s->in_bytes += op->total_len;

    bool literal = ae_subject_valid_literal(op->subject.ptr, op->subject.len);
    if (!literal) {
        bool structurally_ok = ae_subject_valid(op->subject.ptr, op->subject.len);
        if (c->pedantic)
            send_err(c, "Invalid Publish Subject");
        if (!structurally_ok) {
            /* nats-server drops what it cannot tokenise; a wildcard is matched literally. */
            send_ok(c);
            return;
        }
    }
    ae_msg m = {.subject = op->subject,
                .deliver_subject = op->subject,
                .reply = op->reply,
                .hdr_len = op->hdr_len,
                .total_len = op->total_len,
                .payload = op->payload};
    size_t n = ae_server_route(s, c, &m);
    if (n == 0 && op->reply.len > 0 && c->no_responders && c->headers)
        send_no_responders(c, op->reply);
    send_ok(c);
}

/* ---- CONNECT -------------------------------------------------------------------------- */

static bool json_flag(json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    return v && json_is_boolean(v) ? json_is_true(v) : dflt;
}

static char *json_dup_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Constant-time comparison so a password's length and prefix do not leak through timing. */
static bool secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static bool check_auth(ae_server *s, json_t *o)
{
    const ae_opts *op = &s->opts;
    const char *user = json_string_value(json_object_get(o, "user"));
    const char *pass = json_string_value(json_object_get(o, "pass"));
    const char *token = json_string_value(json_object_get(o, "auth_token"));
    if (op->token)
        return secret_eq(token, op->token);
    if (op->user && user && strcmp(user, op->user) == 0)
        return secret_eq(pass, op->password);
    for (int i = 0; i < op->nusers; i++) {
        if (user && strcmp(user, op->users[i].user) == 0)
            return secret_eq(pass, op->users[i].password ? op->users[i].password : "");
    }
    return false;
}

static void process_connect(ae_client *c, const ae_op *op)
{
    ae_server *s = c->srv;
    json_error_t jerr;
    json_t *o = json_loadb(op->arg.ptr, op->arg.len, 0, &jerr);
    if (!o || !json_is_object(o)) {
        ae_log_debug("%s:%d - cid:%llu - bad CONNECT JSON: %s", c->ip, c->port,
                     (unsigned long long)c->cid, o ? "not an object" : jerr.text);
        json_decref(o);
        ae_client_close(c, NULL, "Protocol Violation");
        return;
    }
    c->verbose = json_flag(o, "verbose", true);
    c->pedantic = json_flag(o, "pedantic", true);
    c->echo = json_flag(o, "echo", true);
    c->headers = json_flag(o, "headers", false);
    c->no_responders = json_flag(o, "no_responders", false);
    json_t *proto = json_object_get(o, "protocol");
    c->protocol = json_is_integer(proto) ? (int)json_integer_value(proto) : 0;
    free(c->name);
    free(c->lang);
    free(c->version);
    c->name = json_dup_str(o, "name");
    c->lang = json_dup_str(o, "lang");
    c->version = json_dup_str(o, "version");

    if (auth_required(s) && !check_auth(s, o)) {
        json_decref(o);
        ae_log_warn("%s:%d - cid:%llu - authentication error", c->ip, c->port,
                    (unsigned long long)c->cid);
        ae_client_close(c, "Authorization Violation", "Authentication Failure");
        return;
    }
    json_decref(o);
    if (c->protocol < 0 || c->protocol > 1) {
        ae_client_close(c, "invalid client protocol", "Protocol Violation");
        return;
    }
    if (c->no_responders && !c->headers) {
        ae_client_close(c, "no responders requires headers support", "Protocol Violation");
        return;
    }
    c->connected = true;
    send_ok(c);
}

/* PING is the client's flush barrier. When it follows publishes on durable uplink subjects,
 * the PONG waits until the log has them on disk (architecture: store-and-forward contract),
 * and later PONGs queue behind it so none overtakes another. */
static void process_ping(ae_client *c)
{
    ae_server *s = c->srv;
    bool wait = c->deferred_pongs > 0 ||
                (c->durable_wait && s->durable_hooks.is_durable &&
                 !s->durable_hooks.is_durable(s->durable_hooks.ctx, c->durable_wait));
    if (!wait) {
        send_str(c, "PONG\r\n");
        return;
    }
    if (c->durable_wait > c->pong_wait_seq)
        c->pong_wait_seq = c->durable_wait;
    c->deferred_pongs++;
}

/* ---- the read path -------------------------------------------------------------------- */

static void process_op(ae_client *c, const ae_op *op)
{
    if (!c->connected && op->kind != AE_OP_CONNECT && auth_required(c->srv)) {
        ae_client_close(c, "Authorization Violation", "Authentication Failure");
        return;
    }
    switch (op->kind) {
    case AE_OP_CONNECT:
        process_connect(c, op);
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
        process_ping(c);
        break;
    case AE_OP_PONG:
        c->pings_out = 0;
        if (c->ping_sent_at) {
            c->rtt_ns = ae_mono_ns() - c->ping_sent_at;
            c->ping_sent_at = 0;
        }
        break;
    case AE_OP_ERR:
        ae_log_debug("%s:%d - cid:%llu - client sent -ERR '%.*s'", c->ip, c->port,
                     (unsigned long long)c->cid, (int)op->arg.len, op->arg.ptr);
        break;
    default: /* INFO and +OK from a client carry nothing for us */
        break;
    }
}

/* Parses and handles every complete op in buf; returns bytes consumed (the rest is an
 * incomplete op), or -1 if the connection was closed. */
static ptrdiff_t parse_buffer(ae_client *c, const uint8_t *buf, size_t len, size_t *need)
{
    ae_server *s = c->srv;
    ae_proto_limits lim = {.kind = AE_PROTO_CLIENT,
                           .max_control_line = (size_t)s->opts.max_control_line,
                           .max_payload = (size_t)s->opts.max_payload};
    size_t off = 0;
    *need = 0;
    while (off < len) {
        ae_op op;
        ptrdiff_t r = ae_proto_parse(&lim, buf + off, len - off, &op, need);
        if (r == 0)
            break;
        if (r < 0) {
            ae_perr e = (ae_perr)-r;
            const char *text = ae_proto_err_text(e);
            ae_log_debug("%s:%d - cid:%llu - protocol error %d", c->ip, c->port,
                         (unsigned long long)c->cid, (int)e);
            const char *reason = e == AE_PERR_MAX_PAYLOAD   ? "Maximum Payload Exceeded"
                                 : e == AE_PERR_MAX_CONTROL ? "Maximum Control Line Exceeded"
                                                            : "Protocol Violation";
            ae_client_close(c, text, reason);
            return -1;
        }
        process_op(c, &op);
        off += (size_t)r;
        if (c->closing)
            return -1;
    }
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

/* Reads what the socket has. Complete ops are parsed straight out of a buffer shared by all
 * connections (one thread), so an idle connection holds no read buffer; only an incomplete
 * op is copied into the connection's own buffer until its remaining bytes arrive. */
static void client_read(ae_client *c)
{
    static uint8_t shared[READ_CHUNK];
    for (int round = 0; round < READS_PER_EVENT && !c->closing && !c->read_paused; round++) {
        ssize_t n;
        if (c->rlen == 0) {
            n = read(c->io.fd, shared, sizeof shared);
        } else {
            if (!reserve_rbuf(c, READ_CHUNK)) {
                ae_client_close(c, NULL, "Out of Memory");
                return;
            }
            n = read(c->io.fd, c->rbuf + c->rlen, c->rcap - c->rlen);
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
            ae_client_close(c, NULL, "Read Error");
            return;
        }
        c->last_in = ae_loop_now(c->srv->loop);
        size_t need;
        if (c->rlen == 0) {
            ptrdiff_t used = parse_buffer(c, shared, (size_t)n, &need);
            if (used < 0)
                return;
            size_t rest = (size_t)n - (size_t)used;
            if (rest > 0) {
                if (!reserve_rbuf(c, need > rest ? need : rest)) {
                    ae_client_close(c, NULL, "Out of Memory");
                    return;
                }
                memcpy(c->rbuf, shared + used, rest);
                c->rlen = rest;
            }
        } else {
            c->rlen += (size_t)n;
            ptrdiff_t used = parse_buffer(c, c->rbuf, c->rlen, &need);
            if (used < 0)
                return;
            c->rlen -= (size_t)used;
            if (c->rlen == 0)
                release_rbuf(c);
            else if (used > 0)
                memmove(c->rbuf, c->rbuf + used, c->rlen);
        }
        if ((size_t)n < READ_CHUNK)
            return; /* drained the socket */
    }
}

static void on_client_io(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    ae_client *c = io->ctx;
    if (c->closing)
        return;
    if (events & AE_IO_READ)
        client_read(c);
    if (!c->closing && (events & AE_IO_WRITE))
        ae_client_flush(c);
}

/* ---- output --------------------------------------------------------------------------- */

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

void ae_client_deliver(ae_client *c, ae_ssub *sub, const ae_msg *m)
{
    if (c->closing)
        return;
    ae_server *s = c->srv;
    bool with_hdr = m->hdr_len > 0 && c->headers;
    /* A client that did not negotiate headers gets the payload alone, as nats-server does. */
    size_t skip = (m->hdr_len > 0 && !c->headers) ? m->hdr_len : 0;
    size_t body = m->total_len - skip;
    size_t line = 5 + m->deliver_subject.len + 1 + sub->sid_len + 1 +
                  (m->reply.len ? m->reply.len + 1 : 0) + 2 * 21 + 2;
    char *p = ae_outq_reserve(&c->out, line + body + 2);
    if (!p) {
        ae_client_close(c, NULL, "Out of Memory");
        return;
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
        ae_server_defer_unsub(s, sub);
    if ((int64_t)c->out.pending > s->opts.max_pending) {
        s->slow_consumers++;
        ae_log_warn("%s:%d - cid:%llu - Slow Consumer Detected: pending %zu bytes > max_pending "
                    "%lld; closing it so it cannot stall others",
                    c->ip, c->port, (unsigned long long)c->cid, c->out.pending,
                    (long long)s->opts.max_pending);
        ae_client_close(c, NULL, "Slow Consumer (Pending Bytes)");
        return;
    }
    ae_server_want_write(s, c);
}

bool ae_client_flush(ae_client *c)
{
    ae_server *s = c->srv;
    if (c->out.pending == 0) {
        c->write_stall_since = 0;
        if (!c->closing && (c->io.events & AE_IO_WRITE))
            ae_loop_mod(s->loop, &c->io, c->read_paused ? 0 : AE_IO_READ);
        return true;
    }
    ssize_t w = ae_outq_flush_fd(&c->out, c->io.fd, FLUSH_BUDGET);
    if (w < 0) {
        if (!c->closing)
            ae_client_close(c, NULL, "Write Error");
        ae_outq_clear(&c->out);
        return false;
    }
    if (w > 0)
        c->write_stall_since = c->out.pending ? ae_loop_now(s->loop) : 0;
    else if (!c->write_stall_since)
        c->write_stall_since = ae_loop_now(s->loop);
    if (!c->closing) {
        unsigned want = (c->read_paused ? 0 : AE_IO_READ) | (c->out.pending ? AE_IO_WRITE : 0);
        ae_loop_mod(s->loop, &c->io, want);
    }
    return true;
}

void ae_client_set_read_paused(ae_client *c, bool paused)
{
    if (c->closing || c->read_paused == paused)
        return;
    c->read_paused = paused;
    unsigned want = (paused ? 0 : AE_IO_READ) | (c->out.pending ? AE_IO_WRITE : 0);
    ae_loop_mod(c->srv->loop, &c->io, want);
}

void ae_client_close(ae_client *c, const char *err_text, const char *reason)
{
    if (c->closing)
        return;
    ae_server *s = c->srv;
    if (err_text) {
        send_err(c, err_text);
        c->flush_then_close = true;
    } else if (!c->flush_then_close) {
        ae_outq_clear(&c->out);
    }
    c->closing = true;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "Client Closed");
    if (c->io.registered)
        ae_loop_mod(s->loop, &c->io, 0);
    c->close_next = s->closing;
    s->closing = c;
    ae_log_debug("%s:%d - cid:%llu - closing: %s%s%s", c->ip, c->port, (unsigned long long)c->cid,
                 c->close_reason, err_text ? ", -ERR " : "", err_text ? err_text : "");
}

void ae_client_tick(ae_client *c, int64_t now)
{
    ae_server *s = c->srv;
    if (c->closing)
        return;
    if (!c->connected && auth_required(s) && now - c->start_mono > s->opts.auth_timeout_ns) {
        ae_client_close(c, "Authentication Timeout", "Authentication Timeout");
        return;
    }
    if (c->out.pending && c->write_stall_since &&
        now - c->write_stall_since > s->opts.write_deadline_ns) {
        s->slow_consumers++;
        ae_log_warn("%s:%d - cid:%llu - Slow Consumer Detected: write deadline exceeded", c->ip,
                    c->port, (unsigned long long)c->cid);
        ae_client_close(c, NULL, "Slow Consumer (Write Deadline)");
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

void ae_client_free(ae_client *c)
{
    ae_server *s = c->srv;
    /* Unsubscribe everything: the client's subs must stop receiving. */
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(&c->subs, &pos)))
        ae_client_remove_sub(c, e->val);
    ae_hmap_free(&c->subs);

    ae_closed_info *ci = &s->closed[s->nclosed++ % AE_CLOSED_RING];
    memset(ci, 0, sizeof *ci);
    ci->cid = c->cid;
    snprintf(ci->ip, sizeof ci->ip, "%s", c->ip);
    ci->port = c->port;
    ci->start_ns = c->start_ns;
    ci->stop_ns = ae_now_ns();
    ci->in_msgs = c->in_msgs;
    ci->out_msgs = c->out_msgs;
    ci->in_bytes = c->in_bytes;
    ci->out_bytes = c->out_bytes;
    snprintf(ci->name, sizeof ci->name, "%s", c->name ? c->name : "");
    snprintf(ci->lang, sizeof ci->lang, "%s", c->lang ? c->lang : "");
    snprintf(ci->version, sizeof ci->version, "%s", c->version ? c->version : "");
    snprintf(ci->reason, sizeof ci->reason, "%s", c->close_reason);

    ae_loop_del(s->loop, &c->io);
    shutdown(c->io.fd, SHUT_RDWR);
    close(c->io.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nclients--;
    ae_outq_clear(&c->out);
    free(c->rbuf);
    free(c->name);
    free(c->lang);
    free(c->version);
    free(c);
}
