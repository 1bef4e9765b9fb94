/* The broker core: accepting connections, routing messages, the loop hooks and their passes
 * over all connections, signals, draining and reload. Works with client.c (connections:
 * accept, deliver, and the per-connection work of each pass), sublist.c (matching) and, through
 * uplink_hooks and durable_hooks (hooks.h), the uplink and forward.c. The modules above the broker
 * (the uplink, the forwarder, HTTP monitoring in monitor.c) are started and stopped by main.c. */
#include "leaf/server.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "leaf/auth.h"
#include "leaf/client.h"
#include "leaf/ping.h"
#include "leaf/registry.h"
#include "leaf/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define TICK_MIN_NS      (100 * AE_NS_PER_MS)
#define TICK_MAX_NS      (500 * AE_NS_PER_MS)
#define SUBLIST_CACHE    4096
#define PROTOCOL_VERSION "2.9.0" /* the nats-server protocol level we implement */

static uint64_t rng_state;

/* xorshift64*: queue member choice needs speed, not cryptographic quality. */
static uint64_t next_rand(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void make_server_id(char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char raw[56];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(next_rand() >> 24);
    }
    if (fd >= 0)
        close(fd);
    out[0] = 'N';
    for (int i = 1; i < 56; i++)
        out[i] = alphabet[raw[i] % 32];
    out[56] = 0;
}

/* ---- the loop's passes over all connections (the registry's lists) --------------------- */

/* Rounds of "parse resumed input, write output" per pass: a flush can resume a producer
 * (its consumer drained), whose input can fill outputs again. Beyond this the loop comes
 * back without sleeping. */
#define READY_ROUNDS 8

/* Subscriptions taken apart per pass when a connection that holds many closes: removing one
 * costs a couple of microseconds, so a million would hold the loop for seconds. */
#define TEARDOWN_SLICE 1024

/* Frees closed connections whose last bytes are out (or that can never get them out).
 * Returns true if some still have subscriptions to take apart. While draining, a closed
 * connection is only retired (socket closed, recorded): its subscriptions go when the
 * server is freed after the loop, in one go, instead of holding up the exit. */
static bool free_closed(ae_server *s)
{
    bool more = false;
    ae_client **pp = &s->reg.closing;
    int64_t now = ae_mono_ns();
    while (*pp) {
        ae_client *c = *pp;
        bool done = c->retired || !c->flush_then_close || c->out.pending == 0;
        if (!done && s->draining && now > s->drain_deadline)
            done = true;
        if (!done && c->write_stall_since && now - c->write_stall_since > 2 * AE_NS_PER_SEC)
            done = true; /* a peer that stopped reading does not get to hold a closing socket */
        if (!done) {
            ae_client_update_interest(c);
            pp = &c->close_next;
            continue;
        }
        ae_client_retire(c);
        if (s->draining) {
            pp = &c->close_next;
            continue;
        }
        if (ae_client_drop_subs(c, TEARDOWN_SLICE) > 0) {
            more = true;
            pp = &c->close_next;
            continue;
        }
        *pp = c->close_next; /* ae_client_free unlinks it from every other list */
        c->on_closing = false;
        ae_client_free(c);
    }
    return more;
}

/* Draining is over once every connection is retired. */
static bool all_retired(const ae_server *s)
{
    for (const ae_client *c = s->reg.head; c; c = c->next)
        if (!c->retired)
            return false;
    return true;
}

static bool clients_before_sleep(ae_server *s)
{
    for (int round = 0; round < READY_ROUNDS; round++) {
        ae_client *c;
        while ((c = ae_registry_next_ready(&s->reg)))
            ae_client_resume_input(c);
        while ((c = ae_registry_next_write(&s->reg))) {
            if (!c->closing || c->flush_then_close)
                ae_client_flush(c);
        }
        if (!s->reg.ready)
            break;
    }
    bool more = free_closed(s);
    if (s->draining && all_retired(s))
        ae_loop_stop(s->loop);
    return more || s->reg.ready != NULL || s->reg.writes != NULL;
}

static void clients_tick(ae_server *s, int64_t now)
{
    for (ae_client *c = s->reg.head; c; c = c->next)
        ae_client_tick(c, now);
}

static void clients_close_all(ae_server *s)
{
    for (ae_client *c = s->reg.head; c; c = c->next) {
        if (!c->closing)
            ae_client_close(c, NULL, "Server Shutdown");
    }
}

static void clients_durable_advanced(ae_server *s)
{
    for (ae_client *c = s->reg.head; c; c = c->next)
        ae_client_durable_advanced(c);
}

static void clients_resume_uplink_paused(ae_server *s)
{
    for (ae_client *c = s->reg.head; c; c = c->next) {
        if (c->pause & AE_PAUSE_UPLINK)
            ae_client_unpause(c, AE_PAUSE_UPLINK);
    }
}

static void clients_free_all(ae_server *s)
{
    while (s->reg.head) {
        ae_client *c = s->reg.head;
        c->closing = true;
        ae_client_free(c);
    }
}

/* ---- routing ------------------------------------------------------------------------- */

/* Marks a subscription that reached its auto-unsubscribe count for removal once the current
 * fanout is over (the match result it came from must stay valid until then). */
static void defer_unsub(ae_server *s, ae_ssub *sub)
{
    if (s->ndead == s->capdead) {
        size_t ncap = s->capdead ? s->capdead * 2 : 16;
        ae_ssub **nd = realloc(s->dead, ncap * sizeof *nd);
        if (!nd)
            return; /* removed when a later delivery finds it dead again */
        s->dead = nd;
        s->capdead = ncap;
    }
    s->dead[s->ndead++] = sub;
}

static void reap_subs(ae_server *s)
{
    for (size_t i = 0; i < s->ndead; i++) {
        ae_ssub *sub = s->dead[i];
        if (sub->kind == AE_EP_CLIENT)
            ae_client_remove_sub((ae_client *)sub->sub.owner, sub);
    }
    s->ndead = 0;
}

/* Delivers to a local subscription; a local producer whose consumer is now behind stalls
 * (nats-server applies the stall to client producers only, never to routes or leafnodes:
 * here, the uplink). */
static bool deliver_local(ae_server *s, ae_client *src, ae_ssub *sub, const ae_msg *m)
{
    ae_client *c = sub->sub.owner;
    if (!ae_client_deliver(c, sub, m))
        return false;
    if (sub->dead)
        defer_unsub(s, sub);
    if (src && c->stalling)
        ae_client_stall(src, c);
    return true;
}

static bool deliverable(const ae_client *c, const ae_client *src)
{
    return !c->closing && (c != src || c->echo);
}

/* One member of a queue group among local clients, chosen at random; NULL if none. */
static ae_ssub *pick_local(const ae_qgroup *g, const ae_client *src, bool *has_uplink)
{
    size_t n = g->n;
    if (n == 0)
        return NULL;
    size_t start = (size_t)(next_rand() % n);
    for (size_t k = 0; k < n; k++) {
        ae_ssub *sub = (ae_ssub *)g->subs[(start + k) % n];
        if (sub->kind != AE_EP_CLIENT) {
            *has_uplink = true;
            continue;
        }
        if (!sub->dead && deliverable((ae_client *)sub->sub.owner, src))
            return sub;
    }
    return NULL;
}

static bool queue_listed(ae_slice queues, const char *name, size_t len)
{
    size_t pos = 0;
    ae_slice q;
    while (ae_proto_next_queue(queues, &pos, &q)) {
        if (q.len == len && memcmp(q.ptr, name, len) == 0)
            return true;
    }
    return false;
}

#define MAX_FWD_QUEUES 64

size_t ae_server_route(ae_server *s, ae_client *src, const ae_msg *m)
{
    bool from_uplink = m->from_uplink;
    bool uplink_plain = false;
    ae_slice fwdq[MAX_FWD_QUEUES];
    size_t nfwdq = 0;
    size_t n = 0;

    bool durable = false; /* an uplink subject: it reaches the hub through the log only */
    if (!from_uplink && s->durable_hooks.capture) {
        bool failed = false;
        uint64_t seq = s->durable_hooks.capture(s->durable_hooks.ctx, m, &failed);
        durable = seq || failed;
        if (failed && src) {
            /* Tell the publisher, without closing it: clients treat a permissions violation
             * as an asynchronous error on a live connection (an unknown -ERR would close it
             * and the gateway would reconnect into the same full disk). */
            char text[600];
            snprintf(text, sizeof text,
                     "Permissions Violation for Publish to \"%.*s\": not stored for the hub, the "
                     "uplink log refused it (see /leafz last_hub_error)",
                     (int)(m->subject.len > 300 ? 300 : m->subject.len), m->subject.ptr);
            ae_client_send_err(src, text);
        }
        if (seq) {
            if (src) {
                src->durable_wait = seq;
                size_t k = m->subject.len < sizeof src->durable_subject - 1
                               ? m->subject.len
                               : sizeof src->durable_subject - 1;
                memcpy(src->durable_subject, m->subject.ptr, k);
                src->durable_subject[k] = 0;
            }
            n++; /* the hub stream is a receiver: no 503 for requests on uplink subjects */
        }
    }
    /* Matched only now: the capture may change the sublist (an uplink that gives up on
     * out-of-memory removes the hub's interest), which would leave an earlier match stale. */
    const ae_match *r = ae_sublist_match(s->sl, m->subject.ptr, m->subject.len);
    for (size_t i = 0; i < r->npsubs; i++) {
        ae_ssub *sub = (ae_ssub *)r->psubs[i];
        if (sub->kind == AE_EP_CLIENT) {
            if (!sub->dead && deliverable(sub->sub.owner, src) && deliver_local(s, src, sub, m))
                n++;
        } else if (!from_uplink) {
            uplink_plain = true;
        }
    }
    for (size_t g = 0; g < r->nqgroups; g++) {
        const ae_qgroup *grp = &r->qgroups[g];
        if (from_uplink && !queue_listed(m->queues, grp->name, grp->name_len))
            continue;
        bool has_uplink = false;
        ae_ssub *sub = pick_local(grp, src, &has_uplink);
        if (sub) {
            if (deliver_local(s, src, sub, m))
                n++;
        } else if (!from_uplink && has_uplink && nfwdq < MAX_FWD_QUEUES) {
            /* No local member: let the hub pick one of its members. */
            fwdq[nfwdq++] = (ae_slice){grp->name, grp->name_len};
        }
    }
    /* Never also as plain leafnode traffic, or the hub stream would store it twice. */
    if (!from_uplink && !durable && (uplink_plain || nfwdq > 0) && s->uplink_hooks.forward) {
        s->uplink_hooks.forward(s->uplink_hooks.ctx, m, fwdq, nfwdq);
        n++;
        /* A publisher that outruns the hub link waits, as nats-server stalls a fast
         * producer, instead of its messages being dropped; other clients go on. */
        if (src && s->uplink_hooks.congested && s->uplink_hooks.congested(s->uplink_hooks.ctx))
            ae_client_pause(src, AE_PAUSE_UPLINK);
    }
    if (s->ndead)
        reap_subs(s);
    return n;
}

void ae_server_resume_readers(ae_server *s)
{
    clients_resume_uplink_paused(s);
}

void ae_server_durable_advanced(ae_server *s)
{
    clients_durable_advanced(s);
}

/* ---- INFO ---------------------------------------------------------------------------- */

static void json_escape_into(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 7 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = 0;
}

/* The INFO line for a new connection, with nats-server's fields in nats-server's order
 * (tls_required and tls_verify where nats-server puts them). Returns its length. */
static size_t info_line(ae_server *s, ae_client *c, char *out, size_t cap)
{
    char name[256], host[128];
    json_escape_into(name, sizeof name, s->server_name);
    json_escape_into(host, sizeof host, s->opts.host);
    int n =
        snprintf(out, cap,
                 "INFO {\"server_id\":\"%s\",\"server_name\":\"%s\",\"version\":\"%s\","
                 "\"proto\":1,\"host\":\"%s\",\"port\":%d,\"headers\":true,%s%s%s"
                 "\"max_payload\":%lld,\"client_id\":%llu,\"client_ip\":\"%s\","
                 "\"aerie_version\":\"%s\"} \r\n",
                 s->server_id, name, PROTOCOL_VERSION, host, s->port,
                 ae_auth_required(&s->opts) ? "\"auth_required\":true," : "",
                 s->tls_ctx ? "\"tls_required\":true," : "",
                 s->tls_ctx && s->opts.tls_verify ? "\"tls_verify\":true," : "",
                 (long long)s->opts.max_payload, (unsigned long long)c->cid, c->ip, AERIE_VERSION);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* ---- accept, signals, timers ----------------------------------------------------------- */

static void on_accept(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    ae_server *s = io->ctx;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                ae_log_error("accept on port %d failed: %s", s->port, strerror(errno));
            return;
        }
        char ip[64] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
        ae_client *c = ae_client_accept(s, fd, ip, port);
        if (c) {
            char info[2048];
            ae_client_start(c, info, info_line(s, c, info, sizeof info));
        }
    }
}

static void start_drain(ae_server *s)
{
    if (s->draining)
        return;
    s->draining = true;
    s->drain_deadline = ae_mono_ns() + s->opts.lame_duck_ns;
    ae_log_info("Initiating Shutdown...");
    if (s->listen_io.registered) {
        ae_loop_del(s->loop, &s->listen_io);
        close(s->listen_io.fd);
        s->listen_io.fd = -1;
    }
    if (s->uplink_hooks.drain)
        s->uplink_hooks.drain(s->uplink_hooks.ctx);
    /* Each client keeps what is already queued for it and is closed once that is written. */
    clients_close_all(s);
}

static void on_signal(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    ae_server *s = io->ctx;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            ae_err err = {0};
            if (ae_server_reload(s, &err) != 0)
                ae_log_error("config reload failed, keeping the running config: %s", err.msg);
            else
                ae_log_info("Reloaded server configuration");
        } else {
            ae_log_info("Trapped \"%s\" signal",
                        si.ssi_signo == SIGINT ? "interrupt" : "terminated");
            start_drain(s);
        }
    }
}

/* The tick checks the timeouts of clients and the uplink (auth, TLS handshake, write
 * deadline, PINGs, the dead link): a quarter of the shortest of them keeps each within 25 %
 * of its setting, between 100 and 500 ms. A vehicle with the defaults ticks twice a second;
 * idle wakeups are what a thousand vehicles on one machine pay for. Read each time, so a
 * reload applies. */
static int64_t tick_every(const ae_opts *o)
{
    int64_t shortest = o->ping_interval_ns;
    int64_t uplink_ping = o->dead_link_ns / (o->ping_max + 1);
    const int64_t limits[] = {uplink_ping, o->auth_timeout_ns, o->tls_timeout_ns,
                              o->write_deadline_ns};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i] > 0 && limits[i] < shortest)
            shortest = limits[i];
    int64_t every = shortest / 4;
    return every < TICK_MIN_NS ? TICK_MIN_NS : every > TICK_MAX_NS ? TICK_MAX_NS : every;
}

static void on_tick(ae_loop *loop, ae_timer *t)
{
    ae_server *s = t->ctx;
    int64_t now = ae_loop_now(loop);
    clients_tick(s, now);
    if (s->uplink_hooks.tick)
        s->uplink_hooks.tick(s->uplink_hooks.ctx, now);
    ae_loop_timer_start(loop, t, tick_every(&s->opts));
}

/* Parse resumed input, flush output, free closed connections; if draining and all is out,
 * stop. */
static bool before_sleep(ae_loop *loop, void *ctx)
{
    (void)loop;
    return clients_before_sleep(ctx);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int listen_on(const char *host, int port, int *bound_port, ae_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0)
        return ae_err_set(err, AE_EINVAL, "cannot resolve listen address %s: %s", host,
                          gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return ae_err_set(err, AE_EIO, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return ae_err_set(err, AE_EIO,
                          "cannot listen on %s:%d: %s (is another server using the port? choose "
                          "another with -p or listen:)",
                          host, port, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* The client port's TLS context from the options (NULL without TLS). */
static int make_tls_ctx(const ae_opts *o, ae_tls_ctx **out, ae_err *err)
{
    *out = NULL;
    if (!o->tls)
        return 0;
    ae_tls_server_config tc = {.cert_file = o->tls_cert_file,
                               .key_file = o->tls_key_file,
                               .ca_file = o->tls_ca_file,
                               .verify = o->tls_verify,
                               .cipher_suites = o->tls_cipher_suites,
                               .ncipher_suites = o->ntls_cipher_suites,
                               .curves = o->tls_curves,
                               .ncurves = o->ntls_curves};
    return ae_tls_server_ctx_new(&tc, out, err);
}

int ae_server_new(ae_opts *opts, ae_server **out, ae_err *err)
{
    ae_server *s = calloc(1, sizeof *s);
    if (!s)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    s->opts = *opts;
    memset(opts, 0, sizeof *opts);
    rng_state = (uint64_t)ae_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    make_server_id(s->server_id);
    if (s->opts.server_name) {
        snprintf(s->server_name, sizeof s->server_name, "%s", s->opts.server_name);
    } else {
        snprintf(s->server_name, sizeof s->server_name, "%s", s->server_id);
    }
    s->start_ns = ae_now_ns();
    s->config_load_ns = s->start_ns;
    s->loop = ae_loop_new();
    s->sl = ae_sublist_new(SUBLIST_CACHE);
    if (!s->loop || !s->sl) {
        ae_server_free(s);
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    int trc = make_tls_ctx(&s->opts, &s->tls_ctx, err);
    if (trc) {
        ae_server_free(s);
        return trc;
    }
    int fd = listen_on(s->opts.host, s->opts.port, &s->port, err);
    if (fd < 0) {
        ae_server_free(s);
        return fd;
    }
    s->listen_io = (ae_io){.fd = fd, .cb = on_accept, .ctx = s};
    ae_loop_add(s->loop, &s->listen_io, AE_IO_READ);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd >= 0) {
        s->signal_io = (ae_io){.fd = sfd, .cb = on_signal, .ctx = s};
        ae_loop_add(s->loop, &s->signal_io, AE_IO_READ);
    }
    s->tick = (ae_timer){.cb = on_tick, .ctx = s};
    ae_loop_timer_start(s->loop, &s->tick, TICK_MIN_NS);
    ae_loop_set_before_sleep(s->loop, before_sleep, s);
    *out = s;
    return 0;
}

int ae_server_run(ae_server *s)
{
    ae_log_info("Starting aerie-leaf");
    ae_log_info("  Version:  %s (NATS protocol %s)", AERIE_VERSION, PROTOCOL_VERSION);
    ae_log_info("  Name:     %s", s->server_name);
    ae_log_info("  ID:       %s", s->server_id);
    ae_log_info("Listening for client connections on %s:%d", s->opts.host, s->port);
    if (s->tls_ctx)
        ae_log_info("TLS required for client connections%s",
                    s->opts.tls_map      ? " (client certificates verified and mapped to users)"
                    : s->opts.tls_verify ? " (client certificates verified)"
                                         : "");
    if (ae_loop_set_slice(s->opts.sched_slice_ns) != 0)
        ae_log_debug("could not ask for a %lld us scheduler slice: %s",
                     (long long)(s->opts.sched_slice_ns / 1000), strerror(errno));
    ae_log_info("Server is ready");
    if (ae_loop_run(s->loop) != 0) {
        ae_log_error("event loop failed: %s", strerror(errno));
        return 1;
    }
    ae_log_info("Server Exiting..");
    return s->exit_code;
}

void ae_server_free(ae_server *s)
{
    if (!s)
        return;
    clients_free_all(s);
    ae_registry_free(&s->reg);
    if (s->listen_io.registered)
        close(s->listen_io.fd);
    if (s->signal_io.registered)
        close(s->signal_io.fd);
    ae_sublist_free(s->sl);
    ae_tls_ctx_free(s->tls_ctx);
    ae_loop_free(s->loop);
    free(s->dead);
    ae_opts_free(&s->opts);
    free(s);
}

int ae_server_reload(ae_server *s, ae_err *err)
{
    if (!s->opts.config_file)
        return ae_err_set(err, AE_EINVAL, "no config file to reload (start with -c FILE)");
    ae_opts fresh;
    ae_opts_defaults(&fresh);
    int rc = ae_opts_from_args(&fresh, s->argc, s->argv, err);
    if (rc != 0) {
        ae_opts_free(&fresh);
        return rc < 0 ? rc : AE_EINVAL;
    }
    char keys[512];
    if (ae_opts_restart_changes(&s->opts, &fresh, keys, sizeof keys) > 0) {
        ae_opts_free(&fresh);
        return ae_err_set(err, AE_EINVAL,
                          "%s changed: these take effect only at a restart (restart aerie-leaf "
                          "to apply them; nothing of this reload was applied)",
                          keys);
    }
    /* New connections get the new TLS settings; connections already up keep their session. */
    ae_tls_ctx *tls_ctx = NULL;
    rc = make_tls_ctx(&fresh, &tls_ctx, err);
    if (rc) {
        ae_opts_free(&fresh);
        return rc;
    }
    ae_tls_ctx_free(s->tls_ctx); /* OpenSSL keeps it alive for the sessions that use it */
    s->tls_ctx = tls_ctx;
    ae_opts old = s->opts;
    s->opts = fresh;
    ae_opts_free(&old);
    ae_log_set_level(s->opts.log_level);
    s->config_load_ns = ae_now_ns();
    return 0;
}
