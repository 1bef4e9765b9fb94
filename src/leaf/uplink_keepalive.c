/* The uplink's tick: the handshake's timeout, PINGs that detect a dead link (only PINGs that
 * left count; a queue that makes no progress is dead too), the look for the home region,
 * and the periodic link status message. Calls uplink_status.c, uplink_write.c, uplink.c. */
#include "leaf/uplink_internal.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

/* How often the uplink PINGs: often enough that ping_max unanswered ones fit in the
 * dead-link timeout. Read from the options each time, so a reload applies. */
static int64_t ping_every(const ae_uplink *u)
{
    const ae_opts *o = &u->srv->opts;
    int64_t every = o->dead_link_ns / (o->ping_max + 1);
    if (every > o->ping_interval_ns)
        every = o->ping_interval_ns;
    return every < 100 * AE_NS_PER_MS ? 100 * AE_NS_PER_MS : every;
}

void uplink_hook_tick(void *ctx, int64_t now)
{
    ae_uplink *u = ctx;
    if (u->state != AE_UPLINK_DISCONNECTED && u->state != AE_UPLINK_READY &&
        now - u->state_since > HANDSHAKE_TIMEOUT_NS) {
        uplink_set_error(u, "no answer from hub %s:%d within %llds (state %s)",
                         u->cur ? u->cur->host : "?", u->cur ? u->cur->port : 0,
                         (long long)(HANDSHAKE_TIMEOUT_NS / AE_NS_PER_SEC),
                         ae_uplink_state_name(u->state));
        uplink_disconnect(u, "handshake timeout");
        return;
    }
    if (u->state == AE_UPLINK_READY && now >= u->next_ping) {
        /* Only PINGs that left count: one queued behind a large message at a low uplink.rate
         * is not the hub's silence. A queue that makes no progress at all is. */
        if (u->pings_out >= u->srv->opts.ping_max) {
            uplink_set_error(u, "the link to hub %s is dead: %d PINGs unanswered in %.1fs",
                             u->hub_name, u->pings_out,
                             (double)(u->pings_out * ping_every(u)) / 1e9);
            uplink_disconnect(u, "Stale Connection");
            return;
        }
        if (u->ping_queued && now - u->last_progress > u->srv->opts.dead_link_ns) {
            uplink_set_error(u, "the link to hub %s is dead: nothing could be written for %.1fs",
                             u->hub_name, (double)(now - u->last_progress) / 1e9);
            uplink_disconnect(u, "Stale Connection");
            return;
        }
        u->next_ping = now + ping_every(u);
        if (!u->ping_queued) {
            u->ping_queued = true;
            uplink_send_ctrl(u, "PING\r\n", 6);
        }
    }
    uplink_check_home(u, now);
    if (ae_now_ns() >= u->next_status)
        ae_uplink_publish_status(u);
}
