/* The gateway loop: MAVLink frames in, NATS documents out; NATS requests in, handed to the
 * command code (queue.c, cmdexec.c); outputs through gw_io.c.
 *
 * One thread (the caller of ae_gw_run) owns the links, the vehicle state, the rate limiter and
 * the commands. libnats runs its own threads: its subscription callbacks (commands, the leaf's
 * link reports, catch-up replies) only queue the message under a mutex and wake the loop
 * through an eventfd. Publishing is thread-safe in libnats, and with "send ASAP" each publish
 * is written to the socket at once, which keeps autopilot-to-subscriber latency at the cost
 * of a syscall per document.
 *
 * While the NATS server is away (the leaf restarts), libnats keeps reconnecting forever and
 * buffers publishes in its reconnect buffer; the loop only notices through the connection
 * counter, which starts a catch-up of queued commands. While the autopilot is away, the
 * heartbeat watchdog turns the silence into event.link and state.status. */
#include "gw/gw_priv.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "mavlink/modes.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- state documents, rate limited ------------------------------------------------------- */

/* Latest-value rate limiting: publish now if the subject's interval has passed, otherwise
 * keep the document and publish the newest one when the interval ends. */
static void publish_state(ae_gw *g, ae_gw_state st, const char *doc, int len, bool force)
{
    if (len < 0)
        return;
    ae_gw_rate_slot *r = &g->rl[st];
    int64_t now = ae_mono_ns();
    int64_t every = g->cfg.rate_ns[st];
    char suffix[32];
    snprintf(suffix, sizeof suffix, "state.%s", ae_gw_state_name(st));
    if (force || every == 0 || r->last == 0 || now - r->last >= every) {
        ae_gw_publish(g, suffix, doc, len);
        r->last = now;
        r->pending = false;
        return;
    }
    memcpy(r->doc, doc, (size_t)len);
    r->len = len;
    r->pending = true;
}

static void flush_rate_slots(ae_gw *g, int64_t now)
{
    for (int st = 0; st < AE_GW_NSTATE; st++) {
        ae_gw_rate_slot *r = &g->rl[st];
        if (r->pending && now - r->last >= g->cfg.rate_ns[st]) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "state.%s", ae_gw_state_name((ae_gw_state)st));
            ae_gw_publish(g, suffix, r->doc, r->len);
            r->last = now;
            r->pending = false;
        }
    }
}

/* ---- heartbeats ---------------------------------------------------------------------- */

/* Our GCS heartbeat on every link that has somewhere to send: autopilots watch for it before
 * they consider a ground station connected. */
static void send_heartbeats(ae_gw *g)
{
    ae_mav_heartbeat hb = {.type = AE_MAV_TYPE_GCS,
                           .autopilot = AE_MAV_AUTOPILOT_INVALID,
                           .system_status = 4,
                           .mavlink_version = 3};
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_header h = {
        .version = 2, .seq = g->tx_seq++, .sysid = g->cfg.sysid, .compid = g->cfg.compid};
    int n = ae_mav_encode_msg(frame, sizeof frame, &h, AE_MAV_MSG_HEARTBEAT, &hb, NULL);
    for (int i = 0; i < g->nlinks && n > 0; i++)
        if (g->links[i].fd >= 0)
            ae_gw_link_send(&g->links[i], frame, (size_t)n, NULL, 0);
}

/* ---- inbound messages --------------------------------------------------------------- */

/* Any thread: makes the loop run a pass now. */
static void wake_loop(ae_gw *g)
{
    uint64_t one = 1;
    ssize_t w = write(g->wake_fd, &one, sizeof one);
    (void)w; /* a full eventfd counter still wakes the loop */
}

/* libnats thread: queue the message for the loop and wake it. A full queue refuses a command
 * as busy; a link report or catch-up reply that does not fit is dropped (the next link report
 * starts another catch-up). */
static void enqueue(ae_gw *g, natsConnection *nc, ae_gw_in_kind kind, natsMsg *m)
{
    pthread_mutex_lock(&g->qlock);
    if (g->qlen < AE_GW_INQ_MAX) {
        g->inq[(g->qhead + g->qlen) % AE_GW_INQ_MAX] = (ae_gw_in){kind, m};
        g->qlen++;
        m = NULL;
    }
    pthread_mutex_unlock(&g->qlock);
    if (m) {
        const char *reply = natsMsg_GetReply(m);
        static const char busy[] =
            "{\"ok\":false,\"result\":\"busy\",\"error\":\"gateway command queue full\"}";
        if (kind == AE_GW_IN_CMD && reply)
            natsConnection_Publish(nc, reply, busy, (int)sizeof busy - 1);
        natsMsg_Destroy(m);
        return;
    }
    wake_loop(g);
}

static void on_cmd(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    enqueue(closure, nc, AE_GW_IN_CMD, m);
}

static void on_link(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    enqueue(closure, nc, AE_GW_IN_LINK, m);
}

static void on_catchup(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    enqueue(closure, nc, AE_GW_IN_CATCHUP, m);
}

static void drain_inbound(ae_gw *g)
{
    for (;;) {
        ae_gw_in in = {0};
        pthread_mutex_lock(&g->qlock);
        if (g->qlen > 0) {
            in = g->inq[g->qhead];
            g->qhead = (g->qhead + 1) % AE_GW_INQ_MAX;
            g->qlen--;
        }
        pthread_mutex_unlock(&g->qlock);
        if (!in.m)
            return;
        switch (in.kind) {
        case AE_GW_IN_CMD:
            ae_gw_queue_request(g, in.m);
            natsMsg_Destroy(in.m);
            break;
        case AE_GW_IN_LINK:
            ae_gw_queue_link(g, in.m);
            natsMsg_Destroy(in.m);
            break;
        case AE_GW_IN_CATCHUP:
            ae_gw_queue_catchup_reply(g, in.m);
            break;
        }
    }
}

/* ---- telemetry ---------------------------------------------------------------------------- */

static void stamp_init(ae_gw *g, ae_gw_stamp *ts, const ae_mav_frame *f, int64_t rx_ns)
{
    memset(ts, 0, sizeof *ts);
    ts->vid = g->cfg.vid;
    ts->sysid = f->sysid;
    ts->compid = f->compid;
    ts->rx_ns = rx_ns;
}

static void stamp_boot(ae_gw *g, ae_gw_stamp *ts, uint32_t boot_ms)
{
    ts->has_boot_ms = true;
    ts->boot_ms = boot_ms;
    if (g->have_utc) {
        ts->has_utc = true;
        ts->utc_ns = (int64_t)boot_ms * AE_NS_PER_MS + g->utc_off_ns;
    }
}

/* time_usec fields are either Unix time or time since boot; anything after 2001 is Unix. */
static void stamp_usec(ae_gw *g, ae_gw_stamp *ts, uint64_t usec)
{
    if (usec == 0)
        return;
    if (usec > 1000000000000000ULL) {
        ts->has_utc = true;
        ts->utc_ns = (int64_t)usec * 1000;
    } else {
        stamp_boot(g, ts, (uint32_t)(usec / 1000));
    }
}

static void publish_event(ae_gw *g, const ae_gw_stamp *ts, const char *what, const char *prev,
                          double silent_s)
{
    char doc[AE_GW_DOC_MAX], suffix[48];
    int n = ae_gw_json_event(doc, sizeof doc, ts, what, &g->vs, prev, silent_s);
    snprintf(suffix, sizeof suffix, "event.%s", what);
    if (n > 0)
        ae_gw_publish(g, suffix, doc, n);
    ae_log_info("vehicle %s: event %s%s%s", g->cfg.vid, what, g->vs.have_hb ? " mode " : "",
                g->vs.have_hb ? g->vs.mode : "");
}

static void publish_status(ae_gw *g, const ae_gw_stamp *ts, bool force)
{
    char doc[AE_GW_DOC_MAX];
    const ae_mav_source *src =
        ae_mav_parser_source(&g->links[g->ap_link].parser, g->ap_sysid, g->ap_compid);
    g->vs.frames = src ? src->frames : 0;
    g->vs.lost = src ? src->lost : 0;
    publish_state(g, AE_GW_ST_STATUS, doc, ae_gw_json_status(doc, sizeof doc, ts, &g->vs), force);
}

static void handle_heartbeat(ae_gw *g, const ae_gw_stamp *ts, const ae_mav_heartbeat *hb)
{
    char doc[AE_GW_DOC_MAX], prev_mode[40];
    ae_gw_vstate prev = g->vs;
    snprintf(prev_mode, sizeof prev_mode, "%s", g->vs.mode);
    g->last_hb = ae_mono_ns();
    g->vs.hb = *hb;
    g->vs.have_hb = true;
    ae_mav_mode_name(hb->autopilot, hb->type, hb->custom_mode, g->vs.mode, sizeof g->vs.mode);
    bool link_changed = !g->vs.link_ok;
    g->vs.link_ok = true;
    if (link_changed)
        publish_event(g, ts, "link", NULL, 0);
    if (prev.have_hb) {
        bool was = prev.hb.base_mode & AE_MAV_MODE_FLAG_SAFETY_ARMED;
        bool is = hb->base_mode & AE_MAV_MODE_FLAG_SAFETY_ARMED;
        if (was != is)
            publish_event(g, ts, is ? "armed" : "disarmed", NULL, 0);
        if (strcmp(prev_mode, g->vs.mode) != 0)
            publish_event(g, ts, "mode", prev_mode, 0);
    }
    int n = ae_gw_json_heartbeat(doc, sizeof doc, ts, hb, g->vs.mode);
    bool changed = !prev.have_hb || prev.hb.base_mode != hb->base_mode ||
                   prev.hb.custom_mode != hb->custom_mode ||
                   prev.hb.system_status != hb->system_status;
    publish_state(g, AE_GW_ST_HEARTBEAT, doc, n, changed);
    if (link_changed || changed)
        publish_status(g, ts, true);
}

static bool watching_heartbeat(const ae_gw *g)
{
    return g->vs.have_hb && g->vs.link_ok;
}

static void check_heartbeat_loss(ae_gw *g, int64_t now)
{
    if (!watching_heartbeat(g) || now - g->last_hb < g->cfg.heartbeat_timeout_ns)
        return;
    g->vs.link_ok = false;
    ae_gw_stamp ts = {
        .vid = g->cfg.vid, .sysid = g->ap_sysid, .compid = g->ap_compid, .rx_ns = ae_now_ns()};
    publish_event(g, &ts, "link", NULL, (double)(now - g->last_hb) / 1e9);
    publish_status(g, &ts, true);
    ae_log_warn("vehicle %s: no heartbeat from the autopilot for %.1f s", g->cfg.vid,
                (double)(now - g->last_hb) / 1e9);
}

static void on_frame(void *ctx, const ae_mav_frame *f)
{
    ae_gw_link_ctx *lc = ctx;
    ae_gw *g = lc->g;
    ae_gw_link *l = &g->links[lc->idx];
    int64_t rx_ns = ae_now_ns();
    if (g->cfg.raw)
        ae_gw_publish(g, "raw.mavlink", f->raw, (int)f->raw_len);

    union {
        ae_mav_heartbeat hb;
        ae_mav_sys_status sys;
        ae_mav_system_time st;
        ae_mav_gps_raw_int gps;
        ae_mav_attitude att;
        ae_mav_global_position_int pos;
        ae_mav_mission_current mc;
        ae_mav_command_ack ack;
        ae_mav_battery_status bat;
        ae_mav_home_position home;
        ae_mav_extended_sys_state ext;
        ae_mav_statustext txt;
        uint8_t any[256];
    } m;
    ae_mav_frame_unpack(f, &m);

    if (f->msgid == AE_MAV_MSG_HEARTBEAT && !g->have_ap &&
        m.hb.autopilot != AE_MAV_AUTOPILOT_INVALID && m.hb.type != AE_MAV_TYPE_GCS &&
        (g->cfg.target_sysid == 0 || g->cfg.target_sysid == f->sysid)) {
        g->have_ap = true;
        g->ap_sysid = f->sysid;
        g->ap_compid = f->compid;
        ae_log_info("vehicle %s: autopilot %s sysid %u compid %u on %s", g->cfg.vid,
                    ae_mav_autopilot_name(m.hb.autopilot), f->sysid, f->compid, l->url);
    }
    bool from_ap = g->have_ap && f->sysid == g->ap_sysid && f->compid == g->ap_compid;
    if (from_ap) {
        /* Commands go back to where the autopilot's frames come from. */
        g->ap_link = lc->idx;
        if (l->kind != AE_GW_LINK_SERIAL) {
            g->ap_addr = l->last_from;
            g->ap_addr_len = l->last_from_len;
        }
    }
    ae_gw_stamp ts;
    stamp_init(g, &ts, f, rx_ns);
    char doc[AE_GW_DOC_MAX];
    switch (f->msgid) {
    case AE_MAV_MSG_STATUSTEXT:
        /* From any component of the vehicle (camera, companion): operators want them all. */
        if (g->have_ap && f->sysid == g->ap_sysid) {
            int n = ae_gw_json_statustext(doc, sizeof doc, &ts, &m.txt);
            if (n > 0)
                ae_gw_publish(g, "event.statustext", doc, n);
        }
        return;
    case AE_MAV_MSG_COMMAND_ACK:
        if (g->have_ap && f->sysid == g->ap_sysid)
            ae_gw_exec_ack(g, &m.ack);
        return;
    default:
        break;
    }
    if (!from_ap)
        return;
    switch (f->msgid) {
    case AE_MAV_MSG_HEARTBEAT:
        handle_heartbeat(g, &ts, &m.hb);
        break;
    case AE_MAV_MSG_SYSTEM_TIME:
        if (m.st.time_unix_usec) {
            g->have_utc = true;
            g->utc_off_ns =
                (int64_t)m.st.time_unix_usec * 1000 - (int64_t)m.st.time_boot_ms * AE_NS_PER_MS;
        }
        break;
    case AE_MAV_MSG_GLOBAL_POSITION_INT:
        stamp_boot(g, &ts, m.pos.time_boot_ms);
        publish_state(g, AE_GW_ST_POSITION, doc, ae_gw_json_position(doc, sizeof doc, &ts, &m.pos),
                      false);
        break;
    case AE_MAV_MSG_ATTITUDE:
        stamp_boot(g, &ts, m.att.time_boot_ms);
        publish_state(g, AE_GW_ST_ATTITUDE, doc, ae_gw_json_attitude(doc, sizeof doc, &ts, &m.att),
                      false);
        break;
    case AE_MAV_MSG_GPS_RAW_INT:
        stamp_usec(g, &ts, m.gps.time_usec);
        publish_state(g, AE_GW_ST_GPS, doc, ae_gw_json_gps(doc, sizeof doc, &ts, &m.gps), false);
        break;
    case AE_MAV_MSG_BATTERY_STATUS:
        publish_state(g, AE_GW_ST_BATTERY, doc, ae_gw_json_battery(doc, sizeof doc, &ts, &m.bat),
                      false);
        break;
    case AE_MAV_MSG_HOME_POSITION: {
        stamp_usec(g, &ts, m.home.time_usec);
        bool changed = !g->home_known || g->home_alt_msl_m != m.home.altitude / 1e3;
        g->home_known = true;
        g->home_alt_msl_m = m.home.altitude / 1e3;
        publish_state(g, AE_GW_ST_HOME, doc, ae_gw_json_home(doc, sizeof doc, &ts, &m.home),
                      changed);
        break;
    }
    case AE_MAV_MSG_SYS_STATUS:
        g->vs.sys = m.sys;
        g->vs.have_sys = true;
        publish_status(g, &ts, false);
        break;
    case AE_MAV_MSG_EXTENDED_SYS_STATE:
        g->vs.ext = m.ext;
        g->vs.have_ext = true;
        break;
    case AE_MAV_MSG_MISSION_CURRENT:
        g->vs.have_mission = true;
        g->vs.mission_seq = m.mc.seq;
        break;
    default:
        break;
    }
}

/* ---- NATS --------------------------------------------------------------------------------- */

static void on_disconnected(natsConnection *nc, void *closure)
{
    ae_log_warn("NATS disconnected; buffering and reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    ae_gw *g = closure;
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    ae_log_info("NATS reconnected to %s", url);
    atomic_fetch_add(&g->connects, 1);
    wake_loop(g); /* the catch-up that follows a (re)connect */
}

/* The first connection, when it was made in the background (the server was not up yet). */
static void on_connected(natsConnection *nc, void *closure)
{
    ae_gw *g = closure;
    ae_log_info("NATS connected");
    atomic_fetch_add(&g->connects, 1);
    wake_loop(g); /* the catch-up that follows a (re)connect */
}

static int nats_start(ae_gw *g, ae_err *err)
{
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        snprintf(g->cu_inbox, sizeof g->cu_inbox, "%s", inbox);
        natsInbox_Destroy(inbox);
        s = natsOptions_Create(&g->opts);
    }
    char name[128];
    snprintf(name, sizeof name, "%s", g->cfg.name ? g->cfg.name : "");
    if (!*name)
        snprintf(name, sizeof name, "aerie-gw %s", g->cfg.vid);
    if (s == NATS_OK)
        s = natsOptions_SetURL(g->opts, g->cfg.nats_url);
    if (s == NATS_OK)
        s = natsOptions_SetName(g->opts, name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(g->opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(g->opts, 250);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(g->opts, 8 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(g->opts, true, on_connected, g);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(g->opts, true);
    /* A gateway's traffic is a few small documents a second: the library's shared delivery
     * threads instead of one per subscription, and 8 KiB I/O buffers instead of 32 KiB, cut
     * its memory (a thousand of them run on a large local fleet's one machine). */
    if (s == NATS_OK)
        s = natsOptions_UseGlobalMessageDelivery(g->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetIOBufSize(g->opts, 8 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(g->opts, on_disconnected, g);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(g->opts, on_reconnected, g);
    if (s != NATS_OK)
        return ae_err_set(err, AE_EINVAL, "NATS options (url %s): %s", g->cfg.nats_url,
                          natsStatus_GetText(s));
    s = natsConnection_Connect(&g->nc, g->opts);
    if (s == NATS_OK) {
        atomic_fetch_add(&g->connects, 1);
    } else if (s == NATS_NOT_YET_CONNECTED) {
        ae_log_warn("NATS server %s not reachable yet; retrying in the background",
                    g->cfg.nats_url);
    } else {
        return ae_err_set(err, AE_EIO, "connect to %s: %s", g->cfg.nats_url, natsStatus_GetText(s));
    }
    char subj[256];
    snprintf(subj, sizeof subj, "%scmd.*", g->prefix);
    s = natsConnection_Subscribe(&g->sub, g->nc, subj, on_cmd, g);
    if (s == NATS_OK) {
        snprintf(subj, sizeof subj, "%slink", g->prefix);
        s = natsConnection_Subscribe(&g->link_sub, g->nc, subj, on_link, g);
    }
    if (s == NATS_OK) {
        snprintf(subj, sizeof subj, "%s.>", g->cu_inbox);
        s = natsConnection_Subscribe(&g->cu_sub, g->nc, subj, on_catchup, g);
    }
    if (s != NATS_OK)
        return ae_err_set(err, AE_EIO, "subscribe %s: %s", subj, natsStatus_GetText(s));
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int ae_gw_new(const ae_gw_config *cfg, ae_gw **out, ae_err *err)
{
    int rc = ae_gw_config_check(cfg, err);
    if (rc)
        return rc;
    ae_gw *g = calloc(1, sizeof *g);
    if (!g)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    g->cfg = *cfg;
    g->cfg.nats_url = dup_or_null(cfg->nats_url);
    g->cfg.vid = dup_or_null(cfg->vid);
    g->cfg.env = dup_or_null(cfg->env);
    g->cfg.name = dup_or_null(cfg->name);
    g->cfg.state_dir = dup_or_null(cfg->state_dir);
    g->cfg.cmd_domain = dup_or_null(cfg->cmd_domain);
    g->cfg.metrics = dup_or_null(cfg->metrics);
    for (int i = 0; i < cfg->nmavlink; i++)
        g->cfg.mavlink[i] = strdup(cfg->mavlink[i]);
    g->wake_fd = -1;
    pthread_mutex_init(&g->qlock, NULL);
    snprintf(g->prefix, sizeof g->prefix, "fleet.%s.veh.%s.", g->cfg.env, g->cfg.vid);
    for (int i = 0; i < AE_GW_MAX_LINKS; i++)
        g->links[i].fd = -1;
    for (int i = 0; i < g->cfg.nmavlink; i++) {
        g->lctx[i] = (ae_gw_link_ctx){g, i};
        rc = ae_gw_link_open(&g->links[i], g->cfg.mavlink[i], on_frame, &g->lctx[i], err);
        if (rc)
            goto fail;
        if (g->cfg.has_key)
            ae_mav_parser_set_key(&g->links[i].parser, g->cfg.key, g->cfg.require_signed);
        g->nlinks++;
        ae_log_info("MAVLink link %s open", g->cfg.mavlink[i]);
    }
    g->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (g->wake_fd < 0) {
        rc = ae_err_set(err, AE_EIO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    g->start_ns = ae_now_ns();
    rc = nats_start(g, err);
    if (rc == 0)
        rc = ae_gw_queue_start(g, err);
    if (rc == 0 && g->cfg.metrics)
        rc = ae_gw_metrics_start(g, err);
    if (rc)
        goto fail;
    *out = g;
    return 0;
fail:
    ae_gw_free(g);
    return rc;
}

/* The loop sleeps until the earliest of what is due without an event: our heartbeat to the
 * autopilot, a rate-limited document's turn, the autopilot's heartbeat going overdue, a
 * command's retry, the queue's deadlines, the metrics listener's housekeeping. Events (a
 * frame, a NATS message, a (re)connect) wake it through their fds. An idle gateway wakes
 * about once a second instead of every few milliseconds: a thousand of them share a core. */
static int poll_timeout_ms(ae_gw *g, int64_t now)
{
    int64_t next = g->next_hb_tx;
    for (int st = 0; st < AE_GW_NSTATE; st++) {
        const ae_gw_rate_slot *r = &g->rl[st];
        if (r->pending && r->last + g->cfg.rate_ns[st] < next)
            next = r->last + g->cfg.rate_ns[st];
    }
    if (watching_heartbeat(g) && g->last_hb + g->cfg.heartbeat_timeout_ns < next)
        next = g->last_hb + g->cfg.heartbeat_timeout_ns;
    int64_t t = ae_gw_exec_next_deadline(g);
    next = t < next ? t : next;
    t = ae_gw_queue_next_deadline(g, now);
    next = t < next ? t : next;
    t = ae_gw_metrics_next_run(g);
    next = t < next ? t : next;
    if (next <= now)
        return 0;
    int64_t ms = (next - now + AE_NS_PER_MS - 1) / AE_NS_PER_MS;
    return ms > 1000 ? 1000 : (int)ms;
}

int ae_gw_run(ae_gw *g, volatile sig_atomic_t *stop)
{
    struct pollfd pf[AE_GW_MAX_LINKS + 2];
    int mfd = ae_gw_metrics_fd(g);
    while (!*stop) {
        int n = 0;
        for (int i = 0; i < g->nlinks; i++) {
            pf[n].fd = g->links[i].fd;
            pf[n].events = POLLIN;
            pf[n].revents = 0;
            n++;
        }
        pf[n].fd = g->wake_fd;
        pf[n].events = POLLIN;
        pf[n].revents = 0;
        pf[n + 1].fd = mfd; /* -1 (ignored by poll) without a metrics listener */
        pf[n + 1].events = POLLIN;
        pf[n + 1].revents = 0;
        int r = poll(pf, (nfds_t)n + 2, poll_timeout_ms(g, ae_mono_ns()));
        if (r < 0 && errno != EINTR) {
            ae_log_error("poll: %s", strerror(errno));
            return AE_EIO;
        }
        for (int i = 0; i < g->nlinks; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            if (ae_gw_link_read(&g->links[i]) == AE_EIO) {
                ae_log_error("MAVLink link %s failed: %s; closing it", g->links[i].url,
                             strerror(errno));
                ae_gw_link_close(&g->links[i]);
            }
        }
        if (pf[n].revents & POLLIN) {
            uint64_t v;
            ssize_t rd = read(g->wake_fd, &v, sizeof v);
            (void)rd;
        }
        drain_inbound(g);
        int64_t now = ae_mono_ns();
        flush_rate_slots(g, now);
        ae_gw_exec_timeouts(g, now);
        ae_gw_queue_tick(g, now);
        check_heartbeat_loss(g, now);
        if (mfd >= 0)
            ae_gw_metrics_poll(g, pf[n + 1].revents & POLLIN, now);
        if (now >= g->next_hb_tx) {
            send_heartbeats(g);
            g->next_hb_tx = now + AE_NS_PER_SEC;
        }
    }
    return 0;
}

void ae_gw_free(ae_gw *g)
{
    if (!g)
        return;
    ae_gw_metrics_stop(g);
    natsSubscription *subs[] = {g->sub, g->link_sub, g->cu_sub};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (subs[i]) {
            natsSubscription_Unsubscribe(subs[i]);
            natsSubscription_Destroy(subs[i]);
        }
    }
    if (g->nc) {
        /* A completed flush means the leaf logged every report: say so in the journal. */
        if (natsConnection_FlushTimeout(g->nc, 1000) == NATS_OK && g->journal) {
            ae_err err = {0};
            if (ae_gw_journal_mark_flushed(g->journal, &err) != 0)
                ae_log_warn("%s", err.msg);
        }
        natsConnection_Destroy(g->nc);
    }
    natsOptions_Destroy(g->opts);
    for (int i = 0; i < g->qlen; i++)
        natsMsg_Destroy(g->inq[(g->qhead + i) % AE_GW_INQ_MAX].m);
    ae_gw_exec_free(g);
    ae_gw_queue_free(g);
    for (int i = 0; i < AE_GW_MAX_LINKS; i++) {
        if (g->links[i].fd >= 0) {
            const ae_mav_stats *s = &g->links[i].parser.stats;
            ae_log_info("link %s: %llu frames, %llu crc errors, %llu unknown, %llu lost",
                        g->links[i].url, (unsigned long long)s->frames,
                        (unsigned long long)s->crc_errors, (unsigned long long)s->unknown_msgid,
                        (unsigned long long)s->seq_lost);
        }
        ae_gw_link_close(&g->links[i]);
    }
    if (g->wake_fd >= 0)
        close(g->wake_fd);
    pthread_mutex_destroy(&g->qlock);
    ae_gw_config_free(&g->cfg);
    free(g);
}
