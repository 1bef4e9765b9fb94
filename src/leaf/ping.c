/* PING as the client's flush barrier (ping.h). */
#include "leaf/ping.h"

#include <stdio.h>

static ae_durability durability(const ae_client *c, uint64_t seq)
{
    const ae_durable_hooks *h = &c->srv->durable_hooks;
    if (!seq || !h->durability)
        return AE_DURABILITY_ON_DISK;
    return h->durability(h->ctx, seq);
}

/* The log failed (an fsync error) before this client's publishes up to `seq` were on disk:
 * they will not reach the hub, and the PONG that follows must not read as "stored". Said
 * once per failure, in the words a refused append uses, which clients report as an
 * asynchronous error on a live connection. */
static void report_lost(ae_client *c, uint64_t seq)
{
    if (seq <= c->lost_reported)
        return;
    c->lost_reported = seq;
    char text[400];
    snprintf(text, sizeof text,
             "Permissions Violation for Publish to \"%s\": not stored for the hub, the uplink "
             "log failed to write it (and may have lost what this connection published since "
             "its last PONG) to disk; see the leaf's log and restart aerie-leaf",
             c->durable_subject);
    ae_client_send_err(c, text);
}

/* PING is the client's flush barrier. When it follows publishes on durable uplink subjects,
 * the PONG waits until the log has them on disk (architecture: store-and-forward contract),
 * and later PONGs queue behind it so none overtakes another. */
void ae_client_ping_op(ae_client *c)
{
    ae_durability d = durability(c, c->durable_wait);
    if (c->deferred_pongs == 0 && d != AE_DURABILITY_PENDING) {
        if (d == AE_DURABILITY_LOST)
            report_lost(c, c->durable_wait);
        ae_client_send(c, "PONG\r\n", 6);
        return;
    }
    if (c->durable_wait > c->pong_wait_seq)
        c->pong_wait_seq = c->durable_wait;
    c->deferred_pongs++;
}

void ae_client_durable_advanced(ae_client *c)
{
    if (!c->deferred_pongs || c->closing)
        return;
    ae_durability d = durability(c, c->pong_wait_seq);
    if (d == AE_DURABILITY_PENDING)
        return;
    if (d == AE_DURABILITY_LOST)
        report_lost(c, c->pong_wait_seq);
    while (c->deferred_pongs) {
        ae_client_send(c, "PONG\r\n", 6);
        c->deferred_pongs--;
    }
}
