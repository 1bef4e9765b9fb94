/* Finding and reading one record by seq, for cursor.c and deadletter.c (store_internal.h,
 * "record lookups"): the live segment holding a seq, the record's offset through the sparse
 * index and a checked walk over record headers, and the verified read. Owner thread. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

size_t ae_store_find_seg(const ae_store *s, uint64_t seq)
{
    size_t lo = 0, hi = s->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->segs[mid]->last_seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int ae_store_locate(ae_store *s, ae_seg *g, uint64_t seq, ae_rbuf *rb, uint64_t *off, ae_err *err)
{
    if (seq < g->first_seq || seq > g->last_seq || !g->nidx || ae_seg_hole_of(g, seq))
        return ae_err_set(err, AE_ENOENT, "store: seq %" PRIu64 " is not in %s", seq, g->f->path);
    size_t lo = 0, hi = g->nidx;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (g->idx[mid].seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    uint64_t s_at = g->idx[lo].seq, o = g->idx[lo].off;
    while (s_at < seq) {
        const uint8_t *p;
        int rc = ae_rbuf_get(s->os, g->f->fd, rb, o, AE_REC_HDR_SIZE, g->size, &p);
        const char *why = NULL;
        if (rc == AE_ECORRUPT)
            why = "record header runs past the segment's end";
        else if (rc)
            return ae_err_set(err, rc, "store: reading %s at %" PRIu64 ": %s", g->f->path, o,
                              strerror(errno));
        else if (ae_get64(p + 8) != s_at)
            why = "unexpected seq";
        else if (!ae_rec_hdr_plausible(p) || ae_get32(p) > g->size - o)
            why = "bad record length";
        if (why) {
            rc = ae_store_damage(s, g, s_at, o, rb, why); /* g may be gone now */
            return ae_err_set(err, rc ? rc : AE_ECORRUPT,
                              "store: seq %" PRIu64 " is damaged (%s); see the log", s_at, why);
        }
        o += ae_get32(p);
        s_at++;
    }
    *off = o;
    return 0;
}

int ae_store_read(ae_store *s, ae_seg *g, uint64_t off, uint64_t seq, ae_rbuf *rb,
                  ae_store_rec *rec, uint32_t *len, const char **why, ae_err *err)
{
    const uint8_t *p;
    *len = 0;
    *why = NULL;
    int rc = ae_rbuf_get(s->os, g->f->fd, rb, off, AE_REC_HDR_SIZE, g->size, &p);
    if (rc == 0) {
        *len = ae_rec_len(p);
        if (!*len)
            *why = "bad length";
        else
            rc = ae_rbuf_get(s->os, g->f->fd, rb, off, *len, g->size, &p);
    }
    if (rc == AE_EIO || rc == AE_ENOMEM)
        return ae_err_set(err, rc, "store: reading %s at %" PRIu64 ": %s", g->f->path, off,
                          strerror(errno));
    if (rc == AE_ECORRUPT)
        *why = "record runs past the segment's end";
    if (!*why && ae_rec_decode(p, *len, rec) != 0)
        *why = "checksum or field mismatch";
    if (!*why && rec->seq != seq)
        *why = "unexpected seq";
    return *why ? AE_ECORRUPT : 0;
}
