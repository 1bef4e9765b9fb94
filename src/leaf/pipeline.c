/* The pipeline of one uplink subject; see pipeline.h for the argument. */
#include "leaf/pipeline.h"

#include <stdlib.h>
#include <string.h>

static size_t rec_bytes(const ae_prec *r)
{
    return sizeof *r + r->hdr_len + r->payload_len;
}

void ae_pipeline_init(ae_pipeline *p, uint32_t (*new_inc)(void))
{
    memset(p, 0, sizeof *p);
    p->new_inc = new_inc;
}

void ae_pipeline_free(ae_pipeline *p)
{
    ae_prec *r = p->head;
    while (r) {
        ae_prec *n = r->next;
        free(r);
        r = n;
    }
    free(p->ahead);
    free(p->reinc);
    uint32_t (*ni)(void) = p->new_inc;
    memset(p, 0, sizeof *p);
    p->new_inc = ni;
}

/* True (and forgets it) when seq must be published under a new incarnation. */
static bool take_reinc(ae_pipeline *p, uint64_t seq)
{
    for (size_t i = 0; i < p->nreinc; i++) {
        if (p->reinc[i] == seq) {
            p->reinc[i] = p->reinc[--p->nreinc];
            return true;
        }
    }
    return false;
}

static void add_reinc(ae_pipeline *p, uint64_t seq)
{
    for (ae_prec *r = p->head; r; r = r->next) {
        if (r->seq == seq) {
            r->inc = p->new_inc();
            return;
        }
    }
    if (p->nreinc == p->capreinc) {
        size_t ncap = p->capreinc ? p->capreinc * 2 : 8;
        uint64_t *n = realloc(p->reinc, ncap * sizeof *n);
        if (!n)
            return; /* the deleted copy's id then dedups the resend: the walk after the
                       duplicate reply catches it (ae_pipeline_ack) */
        p->reinc = n;
        p->capreinc = ncap;
    }
    p->reinc[p->nreinc++] = seq;
}

void ae_pipeline_push(ae_pipeline *p, ae_prec *r)
{
    r->next = NULL;
    r->state = AE_PREC_WAITING;
    r->sseq = 0;
    r->inc = p->nreinc && take_reinc(p, r->seq) ? p->new_inc() : 0;
    if (p->tail)
        p->tail->next = r;
    else
        p->head = r;
    p->tail = r;
    if (!p->unsent)
        p->unsent = r;
    p->bytes += rec_bytes(r);
    if (r->seq > p->max_seq)
        p->max_seq = r->seq;
}

ae_prec *ae_pipeline_next(ae_pipeline *p)
{
    if (p->paused || p->nahead)
        return NULL;
    return p->unsent;
}

void ae_pipeline_sent(ae_pipeline *p, ae_prec *r, int64_t now)
{
    r->state = AE_PREC_SENT;
    r->gen = p->gen;
    r->sent_at = now;
    p->nsent++;
    if (p->unsent == r)
        p->unsent = r->next;
}

static ae_prec *find(ae_pipeline *p, uint64_t seq, ae_prec **prev)
{
    ae_prec *pv = NULL;
    for (ae_prec *r = p->head; r; pv = r, r = r->next) {
        if (r->seq == seq) {
            if (prev)
                *prev = pv;
            return r;
        }
        if (r->state == AE_PREC_WAITING || r->seq > seq)
            break;
    }
    return NULL;
}

/* A reply to a send of this generation arrived: it is no longer outstanding. */
static void answered(ae_pipeline *p, ae_prec *r)
{
    (void)r;
    if (p->nsent)
        p->nsent--;
}

/* Is there a send still unanswered before a stored record? */
static bool has_gap(const ae_pipeline *p)
{
    bool sent_before = false;
    for (const ae_prec *r = p->head; r && r->state != AE_PREC_WAITING; r = r->next) {
        if (r->state == AE_PREC_SENT)
            sent_before = true;
        else if (sent_before)
            return true;
    }
    return false;
}

ae_pipe_verdict ae_pipeline_ack(ae_pipeline *p, uint32_t gen, uint64_t seq, uint64_t sseq,
                                bool duplicate, uint64_t *delete_sseq)
{
    *delete_sseq = 0;
    ae_prec *r = find(p, seq, NULL);
    if (!r || r->gen != gen || r->state != AE_PREC_SENT || gen != p->gen)
        return AE_PIPE_IGNORED;
    answered(p, r);
    if ((duplicate && p->walk_horizon && sseq <= p->walk_horizon) || sseq <= p->retired_sseq) {
        /* A copy of this record sits where no walk looks: before records already retired
         * (a late copy from an old connection that overtook a resend), or before the last
         * walk's horizon without the walk having seen it (then it was deleted, and the hub
         * still remembers its id). Delete it, spend the id, publish it again. */
        *delete_sseq = sseq;
        r->inc = p->new_inc();
        return AE_PIPE_RESYNC;
    }
    if (r == p->head && p->nstored == 0) {
        /* The usual case, an in-order ack of the oldest record: nothing stored around it to
         * compare with, and no gap once it is stored. Keeps an ack O(1) with thousands of
         * records in flight (the scans below walk the whole window). */
        if (sseq <= p->retired_sseq)
            return AE_PIPE_RESYNC;
        r->state = AE_PREC_STORED;
        r->sseq = sseq;
        p->nstored++;
        p->paused = false;
        return AE_PIPE_OK;
    }
    /* Stream order must follow log order: above everything retired and every stored
     * record before it, below every stored record after it. */
    uint64_t floor = p->retired_sseq;
    bool after = false;
    for (ae_prec *q = p->head; q && q->state != AE_PREC_WAITING; q = q->next) {
        if (q == r) {
            after = true;
            continue;
        }
        if (q->state != AE_PREC_STORED)
            continue;
        if (!after && q->sseq > floor)
            floor = q->sseq;
        if (after && q->sseq <= sseq)
            return AE_PIPE_RESYNC;
    }
    if (sseq <= floor)
        return AE_PIPE_RESYNC;
    r->state = AE_PREC_STORED;
    r->sseq = sseq;
    p->nstored++;
    p->paused = has_gap(p);
    return p->paused ? AE_PIPE_PAUSE : AE_PIPE_OK;
}

ae_pipe_verdict ae_pipeline_refused(ae_pipeline *p, uint32_t gen, uint64_t seq, bool permanent)
{
    ae_prec *r = find(p, seq, NULL);
    if (!r || r->gen != gen || r->state != AE_PREC_SENT || gen != p->gen)
        return AE_PIPE_IGNORED;
    answered(p, r);
    return permanent ? AE_PIPE_SET_ASIDE : AE_PIPE_RESYNC;
}

ae_prec *ae_pipeline_pop_retired(ae_pipeline *p)
{
    ae_prec *r = p->head;
    if (!r || r->state != AE_PREC_STORED)
        return NULL;
    p->head = r->next;
    if (!p->head)
        p->tail = NULL;
    if (p->unsent == r)
        p->unsent = r->next;
    p->nstored--;
    p->bytes -= rec_bytes(r);
    p->retired_seq = r->seq;
    p->retired_sseq = r->sseq;
    r->next = NULL;
    return r;
}

void ae_pipeline_drop(ae_pipeline *p, uint64_t seq)
{
    ae_prec *prev = NULL;
    ae_prec *r = p->head;
    while (r && r->seq != seq) {
        prev = r;
        r = r->next;
    }
    if (!r)
        return;
    if (r->state == AE_PREC_SENT && r->gen == p->gen)
        answered(p, r);
    if (r->state == AE_PREC_STORED)
        p->nstored--;
    if (p->unsent == r)
        p->unsent = r->next;
    if (prev)
        prev->next = r->next;
    else
        p->head = r->next;
    if (p->tail == r)
        p->tail = prev;
    p->bytes -= rec_bytes(r);
    free(r);
    p->paused = has_gap(p);
}

void ae_pipeline_recall(ae_pipeline *p)
{
    p->gen++;
    for (ae_prec *r = p->head; r; r = r->next) {
        r->state = AE_PREC_WAITING;
        r->sseq = 0;
    }
    p->unsent = p->head;
    p->nsent = 0;
    p->nstored = 0;
    p->paused = false;
    p->nahead = 0;
}

const ae_prec *ae_pipeline_oldest_sent(const ae_pipeline *p)
{
    for (const ae_prec *r = p->head; r && r->state != AE_PREC_WAITING; r = r->next) {
        if (r->state == AE_PREC_SENT)
            return r;
    }
    return NULL;
}

static bool push_ref(ae_stored_ref **v, size_t *n, size_t *cap, ae_stored_ref e)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        ae_stored_ref *nv = realloc(*v, ncap * sizeof *nv);
        if (!nv)
            return false;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = e;
    return true;
}

void ae_pipeline_apply_walk(ae_pipeline *p, const ae_stored_ref *ours, size_t n, uint64_t horizon,
                            ae_stored_ref *displaced, size_t *ndisplaced)
{
    p->nahead = 0;
    p->walk_horizon = horizon;
    uint64_t prev = p->retired_seq;
    for (size_t i = 0; i < n; i++) {
        if (ours[i].seq <= prev || !push_ref(&p->ahead, &p->nahead, &p->capahead, ours[i])) {
            /* a copy of a record at or before one already in the stream's order (or no
             * memory to keep it: deleting is always safe, the record is sent again) */
            displaced[(*ndisplaced)++] = ours[i];
            if (ours[i].seq > p->retired_seq)
                add_reinc(p, ours[i].seq);
            continue;
        }
        prev = ours[i].seq;
    }
}

bool ae_pipeline_settle(ae_pipeline *p, ae_stored_ref *displaced, size_t *ndisplaced, size_t cap,
                        size_t *matched)
{
    size_t k = 0; /* next walk result to match */
    ae_prec *h = p->head;
    while (k < p->nahead) {
        const ae_stored_ref *a = &p->ahead[k];
        while (h && h->state == AE_PREC_STORED)
            h = h->next;
        if (!h && a->seq > p->max_seq)
            break; /* its record is not read from the log yet */
        if (!h || h->seq > a->seq) {
            /* its record was retired or set aside here already; the copy is in order */
            if (a->sseq > p->retired_sseq && !p->head)
                p->retired_sseq = a->sseq;
            k++;
            continue;
        }
        if (h->seq == a->seq) {
            h->state = AE_PREC_STORED;
            h->sseq = a->sseq;
            p->nstored++;
            if (p->unsent == h)
                p->unsent = h->next;
            (*matched)++;
            k++;
            h = h->next;
            continue;
        }
        /* h is not in the stream but a later record is: everything from here on is out of
         * place. Delete those copies and publish the records again, in order. */
        while (k < p->nahead && *ndisplaced < cap) {
            displaced[(*ndisplaced)++] = p->ahead[k];
            add_reinc(p, p->ahead[k].seq);
            k++;
        }
        break;
    }
    memmove(p->ahead, p->ahead + k, (p->nahead - k) * sizeof *p->ahead);
    p->nahead -= k;
    return p->nahead == 0;
}

size_t ae_pipeline_evict(ae_pipeline *p, size_t keep)
{
    size_t kept = 0;
    ae_prec *last = NULL, *r = p->head;
    /* keep everything sent or stored, then WAITING records up to `keep` bytes */
    while (r && (r->state != AE_PREC_WAITING || kept < keep)) {
        kept += rec_bytes(r);
        last = r;
        r = r->next;
    }
    if (!r)
        return 0;
    if (last)
        last->next = NULL;
    else
        p->head = NULL;
    p->tail = last;
    p->max_seq = last ? last->seq : p->retired_seq;
    size_t freed = 0;
    bool unsent_gone = false;
    while (r) {
        ae_prec *n = r->next;
        freed += rec_bytes(r);
        if (p->unsent == r)
            unsent_gone = true;
        free(r);
        r = n;
    }
    if (unsent_gone)
        p->unsent = NULL;
    p->bytes -= freed;
    return freed;
}
