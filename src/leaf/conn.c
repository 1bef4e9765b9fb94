/* A client connection's socket side: queuing and writing output (plaintext, or through TLS
 * once the handshake is done), reading bytes, pausing and resuming reads, fast-producer
 * stalls, and closing. Below client.c: nothing here parses or routes. See
 * client.h. */
#include "common/log.h"
#include "common/timeutil.h"
#include "leaf/client.h"
#include "leaf/registry.h"
#include "leaf/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_BUDGET (4 * 1024 * 1024)

/* nats-server's fast-producer stall bounds (client.go stallClientMinDuration/Max). */
#define STALL_MIN_NS (100 * AE_NS_PER_MS)
#define STALL_MAX_NS (1 * AE_NS_PER_SEC)

/* ---- loop interest ---------------------------------------------------------------------- */

void ae_client_update_interest(ae_client *c)
{
    if (c->hup || !c->io.registered)
        return; /* unregistered after a hang-up while paused; freed soon */
    unsigned want = 0;
    bool tls_write = c->tls && ae_tls_wants_write(c->tls);
    if (c->closing) {
        want = c->flush_then_close && c->out.pending ? AE_IO_WRITE : 0;
    } else if (c->tls_state == AE_CTLS_INFO) {
        want = AE_IO_WRITE;
    } else if (c->tls_state == AE_CTLS_HANDSHAKE) {
        want = AE_IO_READ | (tls_write ? AE_IO_WRITE : 0);
    } else {
        want = (c->pause ? 0 : AE_IO_READ) | (c->out.pending || tls_write ? AE_IO_WRITE : 0);
    }
    ae_loop_mod(c->srv->loop, &c->io, want);
}

/* ---- output ----------------------------------------------------------------------------- */

void ae_client_send(ae_client *c, const void *p, size_t n)
{
    if (c->closing)
        return;
    if (ae_outq_append(&c->out, p, n) != 0) {
        ae_client_drop(c, "Out of Memory");
        return;
    }
    ae_registry_want_write(&c->srv->reg, c);
}

void ae_client_send_ok(ae_client *c)
{
    if (c->verbose)
        ae_client_send(c, "+OK\r\n", 5);
}

void ae_client_send_err(ae_client *c, const char *text)
{
    char line[768];
    int n = snprintf(line, sizeof line, "-ERR '%s'\r\n", text);
    ae_client_send(c, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Writes the plaintext INFO that precedes the TLS handshake; starts the handshake after it. */
static ssize_t flush_plain_info(ae_client *c)
{
    const char *p;
    size_t span = ae_outq_peek(&c->out, &p);
    size_t k = span < c->plain_left ? span : c->plain_left;
    ssize_t w = k ? write(c->io.fd, p, k) : 0;
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    ae_outq_consume(&c->out, (size_t)w);
    c->plain_left -= (size_t)w;
    if (c->plain_left == 0)
        c->tls_state = AE_CTLS_HANDSHAKE;
    return w;
}

/* Writes through TLS up to the budget. */
static ssize_t flush_tls(ae_client *c, size_t budget)
{
    size_t total = 0;
    while (c->out.pending && total < budget) {
        const char *p;
        size_t span = ae_outq_peek(&c->out, &p);
        ae_err err = {0};
        ssize_t w = ae_tls_write(c->tls, p, span, &err);
        if (w == AE_EAGAIN)
            break;
        if (w < 0) {
            ae_log_debug("%s:%d - cid:%llu - %s", c->ip, c->port, (unsigned long long)c->cid,
                         err.msg);
            return -1;
        }
        ae_outq_consume(&c->out, (size_t)w);
        total += (size_t)w;
    }
    return (ssize_t)total;
}

bool ae_client_flush(ae_client *c)
{
    ae_server *s = c->srv;
    ssize_t w = 0;
    if (c->out.pending) {
        switch (c->tls_state) {
        case AE_CTLS_NONE:
            w = ae_outq_flush_fd(&c->out, c->io.fd, FLUSH_BUDGET);
            break;
        case AE_CTLS_INFO:
            w = flush_plain_info(c);
            break;
        case AE_CTLS_HANDSHAKE:
            break; /* everything after INFO waits for the handshake */
        case AE_CTLS_READY:
            w = flush_tls(c, FLUSH_BUDGET);
            break;
        }
    }
    if (w < 0) {
        ae_outq_clear(&c->out);
        if (!c->closing)
            ae_client_drop(c, "Write Error");
        c->flush_then_close = false;
        return false;
    }
    if (c->out.pending == 0)
        c->write_stall_since = 0;
    else if (w > 0)
        c->write_stall_since = ae_loop_now(s->loop);
    else if (!c->write_stall_since)
        c->write_stall_since = ae_loop_now(s->loop);
    /* A consumer back under half of max_pending lets its stalled producers go (nats-server
     * closes the stall channel at the same point). */
    if (c->stalling && (int64_t)c->out.pending < s->opts.max_pending / 2) {
        c->stalling = false;
        ae_client_release_stalled(c);
    }
    ae_client_update_interest(c);
    return true;
}

ssize_t ae_client_read_bytes(ae_client *c, void *buf, size_t n)
{
    if (!c->tls)
        return read(c->io.fd, buf, n);
    ae_err err = {0};
    ssize_t r = ae_tls_read(c->tls, buf, n, &err);
    if (r >= 0)
        return r;
    if (r == AE_EAGAIN) {
        errno = EAGAIN;
        if (ae_tls_wants_write(c->tls))
            ae_client_update_interest(c);
        return -1;
    }
    ae_log_debug("%s:%d - cid:%llu - %s", c->ip, c->port, (unsigned long long)c->cid, err.msg);
    errno = EIO;
    return -1;
}

/* ---- pausing reads and fast-producer stalls
 * ------------------------------------------------------------------------ */

void ae_client_pause(ae_client *c, unsigned why)
{
    if (c->closing || (c->pause & why))
        return;
    c->pause |= why;
    ae_client_update_interest(c);
}

void ae_client_unpause(ae_client *c, unsigned why)
{
    if (!(c->pause & why))
        return;
    c->pause &= ~why;
    if (c->pause || c->closing)
        return;
    /* Complete operations may wait in rbuf (or inside OpenSSL): epoll will not announce
     * them again, so the loop parses them before it sleeps. */
    ae_registry_want_ready(&c->srv->reg, c);
    ae_client_update_interest(c);
}

/* nats-server 2.9's stallDuration: 100 ms, plus 100 ms for every tenth of the upper half of
 * max_pending the consumer is into it; 1 s once it is at max_pending. */
static int64_t stall_duration(int64_t pending, int64_t max_pending)
{
    int64_t ttl = STALL_MIN_NS, half = max_pending / 2;
    if (pending >= max_pending)
        return STALL_MAX_NS;
    if (pending > half && half >= 10)
        ttl += STALL_MIN_NS * ((pending - half) / (half / 10));
    return ttl;
}

void ae_client_stall(ae_client *p, ae_client *consumer)
{
    if (p->closing || p->stalled_on)
        return;
    ae_server *s = p->srv;
    int64_t ttl = stall_duration((int64_t)consumer->out.pending, s->opts.max_pending);
    p->stalled_on = consumer;
    p->stalled++;
    consumer->stalls++;
    s->stalls++;
    p->stall_started = ae_mono_ns();
    ae_registry_stall_add(&s->reg, p);
    ae_client_pause(p, AE_PAUSE_STALL);
    ae_loop_timer_start(s->loop, &p->stall_timer, ttl);
    ae_log_trace("%s:%d - cid:%llu - fast producer stalled up to %lld ms: cid:%llu has %zu "
                 "bytes pending",
                 p->ip, p->port, (unsigned long long)p->cid, (long long)(ttl / AE_NS_PER_MS),
                 (unsigned long long)consumer->cid, consumer->out.pending);
}

void ae_client_stall_timeout(ae_loop *loop, ae_timer *t)
{
    (void)loop;
    ae_client *p = t->ctx;
    ae_log_debug("%s:%d - cid:%llu - Timed out of fast producer stall", p->ip, p->port,
                 (unsigned long long)p->cid);
    ae_client_end_stall(p);
}

void ae_client_end_stall(ae_client *p)
{
    if (!p->stalled_on)
        return;
    ae_server *s = p->srv;
    ae_registry_stall_remove(&s->reg, p);
    ae_loop_timer_stop(s->loop, &p->stall_timer);
    p->stalled_on = NULL;
    p->stalled_ns += ae_mono_ns() - p->stall_started;
    ae_client_unpause(p, AE_PAUSE_STALL);
}

void ae_client_release_stalled(ae_client *c)
{
    ae_client *p = c->srv->reg.stalled;
    while (p) {
        ae_client *next = p->stall_next;
        if (p->stalled_on == c)
            ae_client_end_stall(p);
        p = next;
    }
}

/* ---- closing ---------------------------------------------------------------------------- */

static void mark_closed(ae_client *c, const char *reason)
{
    ae_server *s = c->srv;
    c->closing = true;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "Client Closed");
    ae_registry_closing(&s->reg, c);
    /* Producers waiting for this consumer go on (nats-server unblocks them on close). */
    ae_client_release_stalled(c);
    ae_client_update_interest(c);
    ae_log_debug("%s:%d - cid:%llu - closing: %s", c->ip, c->port, (unsigned long long)c->cid,
                 c->close_reason);
}

void ae_client_close(ae_client *c, const char *err_text, const char *reason)
{
    if (c->closing)
        return;
    if (err_text)
        ae_client_send_err(c, err_text);
    if (c->closing)
        return; /* the -ERR could not be queued */
    c->flush_then_close = true;
    mark_closed(c, reason);
}

void ae_client_drop(ae_client *c, const char *reason)
{
    if (c->closing)
        return;
    ae_outq_clear(&c->out);
    c->flush_then_close = false;
    mark_closed(c, reason);
}
