/* The leafnode uplink to the hub (see uplink.h): its lifecycle. Start and stop, state
 * changes and the status JSON that reports them, dialling the next hub URL, disconnect
 * (which schedules the reconnect with backoff and jitter), going back home from a fallback
 * region, and the forwarder's calls. The other files (listed in uplink_internal.h) call into
 * this one; it calls none of them. Protocol facts: docs/compatibility.md and the NATS
 * leafnode notes (LS+/LS- carry no account; LMSG lists hub queue groups; `$LDS.` detects
 * loops; JetStream deliveries encode the stream subject after an `@` in the reply). */
#include "leaf/uplink_internal.h"
#include "common/log.h"
#include "common/random.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void schedule_reconnect(ae_uplink *u);

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

void uplink_rand_token(char *out, size_t n)
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

void uplink_set_state(ae_uplink *u, ae_uplink_state st)
{
    if (u->state == st)
        return;
    ae_log_debug("uplink: %s -> %s", ae_uplink_state_name(u->state), ae_uplink_state_name(st));
    u->state = st;
    u->state_since = ae_mono_ns();
    if (st == AE_UPLINK_DISCONNECTED) { /* local subscribers hear it; the hub is gone */
        char subj[300];
        size_t sn;
        free(uplink_status_to_local(u, subj, sizeof subj, &sn));
    }
}

void uplink_set_error(ae_uplink *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->last_error, sizeof u->last_error, fmt, ap);
    va_end(ap);
    ae_log_error("uplink: %s", u->last_error);
}

/* ---- the status message ---------------------------------------------------------------- */

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
json_t *uplink_status_json(ae_uplink *u, bool with_client)
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

char *uplink_status_to_local(ae_uplink *u, char *subj, size_t cap, size_t *subj_len)
{
    u->next_status = ae_now_ns() + u->srv->opts.link_status_interval_ns;
    json_t *j = uplink_status_json(u, true);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return NULL;
    int sn = snprintf(subj, cap, "fleet.%s.veh.%s.link", u->env, u->vid);
    ae_msg m = {.subject = {subj, (size_t)sn},
                .deliver_subject = {subj, (size_t)sn},
                .total_len = strlen(body),
                .payload = (const uint8_t *)body,
                .from_uplink = true};
    ae_server_route(u->srv, NULL, &m);
    *subj_len = (size_t)sn;
    return body;
}

/* ---- backoff --------------------------------------------------------------------------- */

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

/* ---- disconnect ------------------------------------------------------------------------ */

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

void uplink_disconnect(ae_uplink *u, const char *why)
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
    uplink_set_state(u, AE_UPLINK_DISCONNECTED);
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
        uplink_set_error(u, "cannot resolve hub %s: %s", u->cur->host, gai_strerror(gai));
        schedule_reconnect(u);
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        uplink_set_error(u, "socket: %s", strerror(errno));
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
        uplink_set_error(u, "cannot connect to hub %s:%d: %s", u->cur->host, u->cur->port,
                         strerror(errno));
        close(fd);
        schedule_reconnect(u);
        return;
    }
    u->io = (ae_io){.fd = fd, .cb = uplink_on_io, .ctx = u};
    u->use_ws = u->cur->ws;
    ae_loop_add(u->srv->loop, &u->io, AE_IO_WRITE);
    u->state = AE_UPLINK_DISCONNECTED; /* uplink_set_state logs the transition */
    uplink_set_state(u, AE_UPLINK_CONNECTING);
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

/* ---- going home ------------------------------------------------------------------------ */

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
    uplink_disconnect(u, "going back to the home region");
}

/* While failed over to a fallback region, looks now and then whether home answers. */
void uplink_check_home(ae_uplink *u, int64_t now)
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
    uplink_rand_token(rnd, 22);
    snprintf(u->inbox_prefix, sizeof u->inbox_prefix, "_INBOX.%s.", rnd);
    u->tokens_at = ae_mono_ns();
    u->reconnect = (ae_timer){.cb = on_reconnect_timer, .ctx = u};
    u->retry_write = (ae_timer){.cb = uplink_on_retry_write, .ctx = u};
    u->flush_timer = (ae_timer){.cb = uplink_on_retry_write, .ctx = u};
    u->state = AE_UPLINK_DISCONNECTED;
    s->uplink = u;
    s->uplink_hooks.ctx = u;
    s->uplink_hooks.forward = uplink_hook_forward;
    s->uplink_hooks.interest = uplink_hook_interest;
    s->uplink_hooks.tick = uplink_hook_tick;
    s->uplink_hooks.drain = hook_drain;
    s->uplink_hooks.congested = uplink_hook_congested;
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
    u->srv->draining = true; /* no reconnect from uplink_disconnect() */
    ae_homeprobe_stop(&u->home);
    uplink_disconnect(u, NULL);
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
