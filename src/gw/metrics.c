/* aerie-gw's /metrics: the figures and their listener; see metrics.h. */
#include "gw/metrics.h"
#include "gw/gw_priv.h"

#include "common/log.h"
#include "common/mhd.h"
#include "common/prom.h"
#include "common/timeutil.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- addresses and reasons ------------------------------------------------------------ */

int ae_gw_metrics_parse_addr(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon;
    size_t hl;
    if (addr[0] == '[') { /* [IPv6]:PORT */
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || close == addr + 1)
            return AE_EINVAL;
        colon = close + 1;
        addr++;
        hl = (size_t)(close - addr);
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return AE_EINVAL; /* no port, or an IPv6 address without brackets */
        hl = (size_t)(colon - addr);
    }
    for (size_t i = 0; i < hl; i++) /* a host name or address, nothing else */
        if (addr[i] == '[' || addr[i] == ']' || (unsigned char)addr[i] <= ' ')
            return AE_EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 1 || p > 65535 || hl + 1 > cap)
        return AE_EINVAL;
    if (hl == 0)
        snprintf(host, cap, "0.0.0.0");
    else
        snprintf(host, cap, "%.*s", (int)hl, addr);
    *port = (int)p;
    return 0;
}

ae_gw_fail_reason ae_gw_fail_reason_of(const char *state, const char *result)
{
    if (!strcmp(state, AE_GW_CS_EXPIRED))
        return AE_GW_FAIL_EXPIRED;
    if (!strcmp(state, AE_GW_CS_SUPERSEDED))
        return AE_GW_FAIL_SUPERSEDED;
    if (!strcmp(state, AE_GW_CS_DENIED))
        return AE_GW_FAIL_DENIED;
    if (!strcmp(state, AE_GW_CS_FAILED))
        return result && !strcmp(result, "interrupted") ? AE_GW_FAIL_INTERRUPTED : AE_GW_FAIL_ERROR;
    return AE_GW_FAIL_REJECTED;
}

static const char *const reason_names[AE_GW_FAIL_NREASONS] = {
    "denied", "failed", "timeout", "rejected", "expired", "superseded", "interrupted", "error"};

/* ---- the figures ---------------------------------------------------------------------- */

static void gauge(ae_prom *p, const char *name, const char *help, double v)
{
    ae_prom_family(p, name, "gauge", help);
    ae_prom_f64(p, name, NULL, v);
}

static void counter(ae_prom *p, const char *name, const char *help, uint64_t v)
{
    ae_prom_family(p, name, "counter", help);
    ae_prom_u64(p, name, NULL, v);
}

/* One family with a sample per MAVLink link, labelled by its URL. */
static void per_link(ae_prom *p, ae_gw *g, const char *name, const char *type, const char *help,
                     uint64_t (*get)(const ae_gw_link *))
{
    ae_prom_family(p, name, type, help);
    for (int i = 0; i < g->nlinks; i++) {
        const char *labels[] = {"link", g->cfg.mavlink[i], NULL};
        ae_prom_u64(p, name, labels, get(&g->links[i]));
    }
}

static uint64_t link_open(const ae_gw_link *l)
{
    return l->fd >= 0;
}
static uint64_t link_frames(const ae_gw_link *l)
{
    return l->parser.stats.frames;
}
static uint64_t link_bytes(const ae_gw_link *l)
{
    return l->parser.stats.bytes;
}
static uint64_t link_crc(const ae_gw_link *l)
{
    return l->parser.stats.crc_errors;
}
static uint64_t link_lost(const ae_gw_link *l)
{
    return l->parser.stats.seq_lost;
}
static uint64_t link_unknown(const ae_gw_link *l)
{
    return l->parser.stats.unknown_msgid;
}
static uint64_t link_sig(const ae_gw_link *l)
{
    return l->parser.stats.sig_errors;
}
static uint64_t link_tx(const ae_gw_link *l)
{
    return l->tx_frames;
}
static uint64_t link_tx_err(const ae_gw_link *l)
{
    return l->tx_errors;
}

static void links(ae_prom *p, ae_gw *g)
{
    per_link(p, g, "aerie_gw_mavlink_link_open", "gauge",
             "1 while the MAVLink link is open (0 after a serial device went away).", link_open);
    per_link(p, g, "aerie_gw_mavlink_frames_total", "counter",
             "Valid MAVLink frames received on the link.", link_frames);
    per_link(p, g, "aerie_gw_mavlink_received_bytes_total", "counter",
             "Bytes received on the link.", link_bytes);
    per_link(p, g, "aerie_gw_mavlink_crc_errors_total", "counter",
             "Frames dropped for a bad checksum (noise on the line, wrong baud rate).", link_crc);
    per_link(p, g, "aerie_gw_mavlink_lost_frames_total", "counter",
             "Frames missing according to the senders' sequence numbers.", link_lost);
    per_link(p, g, "aerie_gw_mavlink_unknown_messages_total", "counter",
             "Well-formed frames of messages the gateway does not decode (skipped).", link_unknown);
    per_link(p, g, "aerie_gw_mavlink_signature_errors_total", "counter",
             "Signed frames with a wrong signature or a replayed timestamp.", link_sig);
    per_link(p, g, "aerie_gw_mavlink_sent_frames_total", "counter",
             "Frames sent on the link (heartbeats and commands).", link_tx);
    per_link(p, g, "aerie_gw_mavlink_send_errors_total", "counter", "Frames that failed to send.",
             link_tx_err);
}

static void commands(ae_prom *p, ae_gw *g)
{
    counter(p, "aerie_gw_commands_sent_total",
            "Commands sent to the autopilot as COMMAND_LONG (first attempts).", g->cmd_sent);
    counter(p, "aerie_gw_command_resends_total",
            "COMMAND_LONGs sent again because no COMMAND_ACK came in time.", g->cmd_resends);
    counter(p, "aerie_gw_commands_acked_total", "Commands the autopilot acknowledged as accepted.",
            g->cmd_acked);
    ae_prom_family(p, "aerie_gw_commands_failed_total", "counter",
                   "Commands that did not end accepted, by reason: denied or failed by the "
                   "autopilot, timeout (no ACK), rejected by the gateway, expired, superseded, "
                   "interrupted by a restart, error (journal).");
    for (int r = 0; r < AE_GW_FAIL_NREASONS; r++) {
        const char *labels[] = {"reason", reason_names[r], NULL};
        ae_prom_u64(p, "aerie_gw_commands_failed_total", labels, g->cmd_failed[r]);
    }
    uint64_t queued = 0, inflight = 0;
    for (const ae_gw_qcmd *q = g->fifo; q; q = q->next)
        queued++;
    for (int i = 0; i < AE_GW_PENDING_MAX; i++)
        inflight += g->cmds[i].used;
    gauge(p, "aerie_gw_commands_queued", "Commands with an id waiting for their turn or running.",
          (double)queued);
    gauge(p, "aerie_gw_commands_inflight", "Commands waiting for the autopilot's COMMAND_ACK.",
          (double)inflight);
}

char *ae_gw_metrics_render(ae_gw *g, size_t *len)
{
    ae_prom p;
    ae_prom_init(&p);
    const char *info[] = {"vid", g->cfg.vid, "env", g->cfg.env, "version", AERIE_VERSION, NULL};
    ae_prom_family(&p, "aerie_gw_info", "gauge",
                   "Always 1; the labels name the vehicle, its environment and the version.");
    ae_prom_u64(&p, "aerie_gw_info", info, 1);
    gauge(&p, "aerie_gw_start_time_seconds", "When this aerie-gw started (Unix time).",
          (double)g->start_ns / 1e9);
    gauge(&p, "aerie_gw_autopilot_link_up",
          "1 while the autopilot's heartbeats arrive (none for heartbeat_timeout: 0).",
          g->vs.have_hb && g->vs.link_ok ? 1 : 0);
    if (g->vs.have_hb)
        gauge(&p, "aerie_gw_autopilot_heartbeat_age_seconds",
              "Time since the autopilot's last HEARTBEAT (absent until the first one).",
              (double)(ae_mono_ns() - g->last_hb) / 1e9);
    gauge(&p, "aerie_gw_nats_connected", "1 while connected to the local NATS server (the leaf).",
          g->nc && natsConnection_Status(g->nc) == NATS_CONN_STATUS_CONNECTED ? 1 : 0);
    counter(&p, "aerie_gw_nats_connects_total",
            "Connections made to the local NATS server, the first included.",
            (uint64_t)atomic_load(&g->connects));
    counter(&p, "aerie_gw_published_messages_total",
            "Telemetry, events and reports handed to the NATS connection.", g->published);
    counter(&p, "aerie_gw_publish_errors_total",
            "Publishes refused (NATS reconnect buffer full or connection closed).", g->pub_errors);
    links(&p, g);
    commands(&p, g);
    return ae_prom_take(&p, len);
}

/* ---- the listener ---------------------------------------------------------------------- */

struct ae_gw_metrics_srv {
    const ae_mhd_api *mhd;
    struct MHD_Daemon *d;
    int fd; /* libmicrohttpd's epoll fd */
    int64_t next_run;
};

static enum MHD_Result reply(const ae_mhd_api *mhd, struct MHD_Connection *conn, unsigned code,
                             const char *type, char *body, size_t len)
{
    struct MHD_Response *r = mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    mhd->add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = mhd->queue_response(conn, code, r);
    mhd->destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(const ae_mhd_api *mhd, struct MHD_Connection *conn, unsigned code,
                                  const char *text)
{
    char *body = strdup(text);
    return body ? reply(mhd, conn, code, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    ae_gw *g = cls;
    const ae_mhd_api *mhd = g->metrics->mhd;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(mhd, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is supported\n");
    if (strcmp(url, "/metrics") != 0)
        return reply_text(mhd, conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
    size_t len = 0;
    char *text = ae_gw_metrics_render(g, &len);
    if (!text)
        return reply_text(mhd, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(mhd, conn, MHD_HTTP_OK, AE_PROM_CONTENT_TYPE, text, len);
}

int ae_gw_metrics_start(ae_gw *g, ae_err *err)
{
    char host[256];
    int port;
    if (ae_gw_metrics_parse_addr(g->cfg.metrics, host, sizeof host, &port) != 0)
        return ae_err_set(err, AE_EINVAL, "metrics: \"%s\" is not HOST:PORT", g->cfg.metrics);
    const ae_mhd_api *mhd = ae_mhd_load(err);
    if (!mhd)
        return AE_EIO;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return ae_err_set(err, AE_EINVAL, "metrics: cannot resolve %s", host);
    struct ae_gw_metrics_srv *m = calloc(1, sizeof *m);
    if (!m) {
        freeaddrinfo(res);
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    }
    m->mhd = mhd;
    m->fd = -1;
    g->metrics = m;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (res->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->d = mhd->start_daemon(flags, (uint16_t)port, NULL, NULL, handle, g, MHD_OPTION_SOCK_ADDR,
                             res->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_END);
    freeaddrinfo(res);
    if (!m->d) {
        ae_gw_metrics_stop(g);
        return ae_err_set(err, AE_EIO,
                          "cannot listen for metrics on %s:%d (port in use? choose another "
                          "with --metrics)",
                          host, port);
    }
    m->fd = mhd->get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    ae_log_info("metrics on http://%s:%d/metrics", host, port);
    return 0;
}

int ae_gw_metrics_fd(const ae_gw *g)
{
    return g->metrics ? g->metrics->fd : -1;
}

void ae_gw_metrics_poll(ae_gw *g, bool readable, int64_t now_mono)
{
    struct ae_gw_metrics_srv *m = g->metrics;
    if (!m || !m->d || (!readable && now_mono < m->next_run))
        return;
    m->next_run = now_mono + 500 * AE_NS_PER_MS;
    m->mhd->run(m->d);
}

int64_t ae_gw_metrics_next_run(const ae_gw *g)
{
    const struct ae_gw_metrics_srv *m = g->metrics;
    return m && m->d ? m->next_run : INT64_MAX;
}

void ae_gw_metrics_stop(ae_gw *g)
{
    struct ae_gw_metrics_srv *m = g->metrics;
    if (!m)
        return;
    if (m->d)
        m->mhd->stop_daemon(m->d);
    free(m);
    g->metrics = NULL;
}
