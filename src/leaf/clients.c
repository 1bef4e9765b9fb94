/* The loop's passes over client connections; see clients.h. */
#include "leaf/clients.h"
#include "common/timeutil.h"
#include "leaf/client.h"
#include "leaf/registry.h"

/* Rounds of "parse resumed input, write output" per pass: a flush can resume a producer
 * (its consumer drained), whose input can fill outputs again. Beyond this the loop comes
 * back without sleeping. */
#define READY_ROUNDS 8

/* Frees closed connections whose last bytes are out (or that can never get them out). */
static void free_closed(ae_server *s)
{
    ae_client **pp = &s->reg.closing;
    int64_t now = ae_mono_ns();
    while (*pp) {
        ae_client *c = *pp;
        bool done = !c->flush_then_close || c->out.pending == 0;
        if (!done && s->draining && now > s->drain_deadline)
            done = true;
        if (!done && c->write_stall_since && now - c->write_stall_since > 2 * AE_NS_PER_SEC)
            done = true; /* a peer that stopped reading does not get to hold a closing socket */
        if (done) {
            *pp = c->close_next; /* ae_client_free unlinks it from every other list */
            c->on_closing = false;
            ae_client_free(c);
        } else {
            ae_client_update_interest(c);
            pp = &c->close_next;
        }
    }
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
    free_closed(s);
    if (s->draining && !s->reg.head)
        ae_loop_stop(s->loop);
    return s->reg.ready != NULL || s->reg.writes != NULL;
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
