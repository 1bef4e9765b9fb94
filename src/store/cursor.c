/* Cursors: reading unacked, durable records in seq order without holding the backlog in
 * memory. A cursor remembers only the next seq it wants and, as a shortcut, the file offset
 * where that seq starts; everything else is looked up again in the store's live segment
 * list, so segments may be removed (acked, discarded) between calls. Records are read with
 * pread into a 64 KiB read-ahead window (bigger only while a bigger record is read). A
 * record that fails its checks is handed to ae_store_damage (recovery.c), which salvages
 * what follows it; known holes are stepped over without reading them again. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct ae_store_cursor {
    ae_store *st;
    uint64_t next;    /* next seq wanted */
    uint64_t pos_seg; /* first_seq of the segment pos_off belongs to; 0: no position */
    uint64_t pos_seq; /* seq of the record at pos_off */
    uint64_t pos_off;
    uint64_t rb_seg; /* first_seq of the segment whose bytes rb holds */
    ae_rbuf rb;
};

int ae_store_cursor_new(ae_store *st, ae_store_cursor **out, ae_err *err)
{
    ae_store_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory for a cursor");
    c->st = st;
    c->next = st->acks.floor + 1;
    st->ncursors++;
    *out = c;
    return 0;
}

void ae_store_cursor_free(ae_store_cursor *c)
{
    if (!c)
        return;
    c->st->ncursors--;
    ae_rbuf_free(&c->rb);
    free(c);
}

void ae_store_cursor_seek(ae_store_cursor *c, uint64_t seq)
{
    c->next = seq;
    c->pos_seg = 0;
}

/* Where c->next starts in g: from the cursor's own position (stepping over a hole there)
 * or by a lookup. Returns 0 with *off; AE_EAGAIN to go round the loop again (the cursor
 * moved, or damage was dealt with); AE_EIO / AE_ENOMEM. */
static int find_offset(ae_store_cursor *c, ae_seg *g, uint64_t *off, ae_err *err)
{
    ae_store *s = c->st;
    if (c->pos_seg == g->first_seq && c->pos_seq == c->next) {
        const ae_seg_hole *h = ae_seg_hole_at(g, c->pos_off);
        if (!h) {
            *off = c->pos_off;
            return 0;
        }
        /* Known damage right here: continue with the record after it. */
        c->next = h->hi + 1;
        c->pos_seq = c->next;
        c->pos_off = h->resume_off;
        if (c->next > g->last_seq)
            c->pos_seg = 0;
        return AE_EAGAIN;
    }
    if (ae_store_is_acked(s, c->next)) {
        /* Skip acked records without reading them when we have no position anyway. */
        const ae_seg_hole *h = ae_seg_hole_of(g, c->next);
        c->next = h ? h->hi + 1 : c->next + 1;
        return AE_EAGAIN;
    }
    int rc = ae_store_locate(s, g, c->next, &c->rb, off, err);
    if (rc == AE_ECORRUPT || rc == AE_ENOENT) {
        if (rc == AE_ENOENT)
            c->next++; /* not there (cannot happen for an unacked seq; never loop on it) */
        return AE_EAGAIN;
    }
    return rc;
}

int ae_store_cursor_next(ae_store_cursor *c, ae_store_rec *rec, ae_err *err)
{
    ae_store *s = c->st;
    for (;;) {
        uint64_t visible = ae_store_durable_seq(s);
        if (visible > s->next_seq - 1)
            visible = s->next_seq - 1;
        if (c->next <= s->acks.floor) {
            c->next = s->acks.floor + 1;
            c->pos_seg = 0;
        }
        if (c->next > visible)
            return AE_EAGAIN;
        size_t i = ae_store_find_seg(s, c->next);
        if (i >= s->nsegs)
            return AE_EAGAIN;
        ae_seg *g = s->segs[i];
        if (g->first_seq > c->next) {
            /* A gap (lost or discarded records): continue at the segment's start. */
            c->next = g->first_seq;
            c->pos_seg = 0;
            continue;
        }
        if (c->rb_seg != g->first_seq) {
            ae_rbuf_reset(&c->rb);
            c->rb_seg = g->first_seq;
        }
        uint64_t off;
        int rc = find_offset(c, g, &off, err);
        if (rc == AE_EAGAIN)
            continue;
        if (rc)
            return rc;
        uint32_t len;
        const char *why;
        rc = ae_store_read(s, g, off, c->next, &c->rb, rec, &len, &why, err);
        if (rc == AE_ECORRUPT) {
            c->pos_seg = 0;
            if ((rc = ae_store_damage(s, g, c->next, off, &c->rb, why)) != 0)
                return ae_err_set(err, rc, "store: cannot read past damage at seq %" PRIu64,
                                  c->next);
            continue;
        }
        if (rc)
            return rc;
        c->pos_seg = g->first_seq;
        c->pos_seq = c->next + 1;
        c->pos_off = off + len;
        c->next++;
        if (ae_store_is_acked(s, rec->seq))
            continue;
        return 0;
    }
}
