/* The loop's passes over client connections; see clients.h. */
#include "leaf/clients.h"
#include "common/timeutil.h"
#include "leaf/client.h"
#include "leaf/ping.h"
#include "leaf/registry.h"

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

bool ae_clients_before_sleep(ae_server *s)
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

void ae_clients_tick(ae_server *s, int64_t now)
{
    for (ae_client *c = s->reg.head; c; c = c->next)
        ae_client_tick(c, now);
}

void ae_clients_close_all(ae_server *s)
{
    for (ae_client *c = s->reg.head; c; c = c->next) {
        if (!c->closing)
            ae_client_close(c, NULL, "Server Shutdown");
    }
}

void ae_clients_durable_advanced(ae_server *s)
{
    for (ae_client *c = s->reg.head; c; c = c->next)
        ae_client_durable_advanced(c);
}

void ae_clients_resume_uplink_paused(ae_server *s)
{
    for (ae_client *c = s->reg.head; c; c = c->next) {
        if (c->pause & AE_PAUSE_UPLINK)
            ae_client_unpause(c, AE_PAUSE_UPLINK);
    }
}

void ae_clients_free_all(ae_server *s)
{
    while (s->reg.head) {
        ae_client *c = s->reg.head;
        c->closing = true;
        ae_client_free(c);
    }
}
