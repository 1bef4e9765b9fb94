/* The gateway's outputs, shared by the loop (gateway.c) and the command code (cmdexec.c,
 * queue.c): documents to NATS under the vehicle's prefix, replies to requesters, MAVLink
 * messages to the autopilot, and what the command builder needs to know of the vehicle.
 * The lowest layer of the loop's files: it calls into none of them. Loop thread only. */
#include "gw/gw_priv.h"

#include "common/log.h"

#include <stdio.h>

void ae_gw_publish(ae_gw *g, const char *suffix, const void *data, int len)
{
    char subj[256];
    snprintf(subj, sizeof subj, "%s%s", g->prefix, suffix);
    natsStatus s = natsConnection_Publish(g->nc, subj, data, len);
    if (s == NATS_OK)
        g->published++;
    if (s != NATS_OK) {
        /* Only when the reconnect buffer is full or the connection is closed: count, and log
         * the first of each burst rather than every document. */
        if (g->pub_errors++ % 1000 == 0)
            ae_log_warn("publish %s: %s (%llu documents dropped so far)", subj,
                        natsStatus_GetText(s), (unsigned long long)g->pub_errors);
    }
}

void ae_gw_reply(ae_gw *g, const char *reply, const char *doc, size_t len)
{
    if (!reply)
        return;
    natsStatus s = natsConnection_Publish(g->nc, reply, doc, (int)len);
    if (s != NATS_OK)
        ae_log_warn("command reply to %s: %s", reply, natsStatus_GetText(s));
}

int ae_gw_send_to_autopilot(ae_gw *g, uint32_t msgid, const void *msg)
{
    if (!g->have_ap)
        return AE_EAGAIN;
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_header h = {
        .version = 2, .seq = g->tx_seq++, .sysid = g->cfg.sysid, .compid = g->cfg.compid};
    int n = ae_mav_encode_msg(frame, sizeof frame, &h, msgid, msg, NULL);
    if (n < 0)
        return n;
    ae_gw_link *l = &g->links[g->ap_link];
    if (l->kind == AE_GW_LINK_SERIAL)
        return ae_gw_link_send(l, frame, (size_t)n, NULL, 0);
    return ae_gw_link_send(l, frame, (size_t)n, &g->ap_addr, g->ap_addr_len);
}

ae_gw_vehinfo ae_gw_vehinfo_now(const ae_gw *g)
{
    return (ae_gw_vehinfo){.known = g->have_ap,
                           .sysid = g->ap_sysid,
                           .compid = g->ap_compid,
                           .autopilot = g->vs.hb.autopilot,
                           .type = g->vs.hb.type,
                           .home_known = g->home_known,
                           .home_alt_msl_m = g->home_alt_msl_m};
}
