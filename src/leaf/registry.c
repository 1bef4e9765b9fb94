/* Connection registry bookkeeping; see registry.h. */
#include "leaf/registry.h"
#include "leaf/client.h"

#include <string.h>

void ae_registry_add(ae_registry *r, ae_client *c)
{
    c->cid = ++r->next_cid;
    c->prev = NULL;
    c->next = r->head;
    if (r->head)
        r->head->prev = c;
    r->head = c;
    r->count++;
    r->total++;
    /* On ENOMEM the connection works, it is only not findable by cid (monitoring skips it). */
    (void)ae_hmap_put(&r->by_cid, (const char *)&c->cid, sizeof c->cid, c);
}

ae_client *ae_registry_find(const ae_registry *r, uint64_t cid)
{
    return ae_hmap_get(&r->by_cid, (const char *)&cid, sizeof cid);
}

void ae_registry_free(ae_registry *r)
{
    ae_hmap_free(&r->by_cid);
}

void ae_registry_remove(ae_registry *r, ae_client *c)
{
    if (c->on_pw) {
        ae_client **pp = &r->writes;
        while (*pp && *pp != c)
            pp = &(*pp)->pw_next;
        if (*pp)
            *pp = c->pw_next;
        c->on_pw = false;
    }
    if (c->on_closing) {
        ae_client **pp = &r->closing;
        while (*pp && *pp != c)
            pp = &(*pp)->close_next;
        if (*pp)
            *pp = c->close_next;
        c->on_closing = false;
    }
    if (c->on_ready) {
        ae_client **pp = &r->ready;
        while (*pp && *pp != c)
            pp = &(*pp)->ready_next;
        if (*pp)
            *pp = c->ready_next;
        c->on_ready = false;
    }
    ae_registry_stall_remove(r, c);
    ae_hmap_del(&r->by_cid, (const char *)&c->cid, sizeof c->cid);
    if (c->prev)
        c->prev->next = c->next;
    else if (r->head == c)
        r->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    r->count--;
}

void ae_registry_want_write(ae_registry *r, ae_client *c)
{
    if (c->on_pw)
        return;
    c->on_pw = true;
    c->pw_next = r->writes;
    r->writes = c;
}

ae_client *ae_registry_next_write(ae_registry *r)
{
    ae_client *c = r->writes;
    if (!c)
        return NULL;
    r->writes = c->pw_next;
    c->pw_next = NULL;
    c->on_pw = false;
    return c;
}

void ae_registry_closing(ae_registry *r, ae_client *c)
{
    if (c->on_closing)
        return;
    c->on_closing = true;
    c->close_next = r->closing;
    r->closing = c;
}

void ae_registry_want_ready(ae_registry *r, ae_client *c)
{
    if (c->on_ready)
        return;
    c->on_ready = true;
    c->ready_next = r->ready;
    r->ready = c;
}

ae_client *ae_registry_next_ready(ae_registry *r)
{
    ae_client *c = r->ready;
    if (!c)
        return NULL;
    r->ready = c->ready_next;
    c->ready_next = NULL;
    c->on_ready = false;
    return c;
}

void ae_registry_stall_add(ae_registry *r, ae_client *c)
{
    if (c->on_stall)
        return;
    c->on_stall = true;
    c->stall_next = r->stalled;
    r->stalled = c;
}

void ae_registry_stall_remove(ae_registry *r, ae_client *c)
{
    if (!c->on_stall)
        return;
    ae_client **pp = &r->stalled;
    while (*pp && *pp != c)
        pp = &(*pp)->stall_next;
    if (*pp)
        *pp = c->stall_next;
    c->stall_next = NULL;
    c->on_stall = false;
}

ae_closed_info *ae_registry_record_closed(ae_registry *r)
{
    ae_closed_info *ci = &r->closed[r->nclosed++ % AE_CLOSED_RING];
    memset(ci, 0, sizeof *ci);
    return ci;
}

uint64_t ae_registry_closed_first(const ae_registry *r)
{
    return r->nclosed < AE_CLOSED_RING ? 0 : r->nclosed - AE_CLOSED_RING;
}

const ae_closed_info *ae_registry_closed_get(const ae_registry *r, uint64_t n)
{
    if (n < ae_registry_closed_first(r) || n >= r->nclosed)
        return NULL;
    return &r->closed[n % AE_CLOSED_RING];
}
