/* Appending a record (store.h, ae_store_append): the checks, rolling to a new segment,
 * making room under max_bytes, the write on the owner thread, and handing the sync to the
 * sync thread (the why of that split is in store.c). */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

int ae_store_append(ae_store *s, const ae_store_msg *m, uint64_t *seq_out, ae_err *err)
{
    if (atomic_load(&s->failed))
        return ae_store_failed_err(s, err);
    if (s->read_only && (!ae_store_ro_retry_due(s) || !ae_store_try_writable(s)))
        return ae_err_set(err, AE_ENOSPC, "store: %s", s->ro_reason);
    if (!m->subject || m->subject_len == 0 || m->subject_len > 65535)
        return ae_err_set(err, AE_EINVAL, "store: subject length %zu is not 1..65535",
                          m->subject_len);
    if ((m->hdr_len && !m->hdr) || (m->payload_len && !m->payload))
        return ae_err_set(err, AE_EINVAL, "store: NULL header or payload with a length");
    uint64_t body = (uint64_t)m->subject_len + m->hdr_len + m->payload_len;
    if (body > s->o.max_record_bytes)
        return ae_err_set(err, AE_ELIMIT,
                          "store: record of %" PRIu64 " bytes exceeds max_record_bytes %u", body,
                          s->o.max_record_bytes);
    uint64_t len = ae_rec_size(m);
    int rc;
    if (s->o.max_bytes && len + 2 * AE_SEG_HDR_SIZE > s->o.max_bytes)
        return ae_err_set(err, AE_ELIMIT,
                          "store: record of %" PRIu64 " bytes cannot fit "
                          "in max_bytes %" PRIu64,
                          len, s->o.max_bytes);
    ae_seg *g;
    bool roll;
    for (;;) {
        g = s->segs[s->nsegs - 1];
        roll = (ae_seg_count(g) && g->size + len > s->o.segment_bytes) || s->roll_pending;
        uint64_t need = len + (roll ? AE_SEG_HDR_SIZE : 0);
        if (!s->o.max_bytes || s->bytes + need <= s->o.max_bytes)
            break;
        /* Over the bound: the oldest segment goes, counted (never silently). */
        if ((rc = ae_store_discard_oldest(s, "max_bytes", err)) != 0)
            return rc;
    }
    if (roll) {
        if ((rc = ae_store_seg_create(s, s->next_seq, err)) != 0) {
            s->st.write_errors++;
            return rc;
        }
        s->roll_pending = false;
        g = s->segs[s->nsegs - 1];
    }
    if (len > s->wcap) {
        size_t c = s->wcap ? s->wcap : 4096;
        while (c < len)
            c *= 2;
        uint8_t *b = realloc(s->wbuf, c);
        if (!b)
            return ae_err_set(err, AE_ENOMEM, "store: out of memory");
        s->wbuf = b;
        s->wcap = c;
    }
    if (ae_seg_idx_add(g, s->next_seq, g->size) != 0)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int64_t t = m->time_ns ? m->time_ns : ae_now_ns();
    ae_rec_encode(s->wbuf, s->next_seq, t, m);
    if (ae_os_write_all(s->os, g->f->fd, s->wbuf, len, g->size) != 0) {
        int e = errno;
        s->st.write_errors++;
        if (g->nidx && g->idx[g->nidx - 1].seq == s->next_seq)
            g->nidx--;
        /* Cut off whatever part of the record reached the file, so no torn record is left
         * behind a later good one. If even that fails the segment is unusable. */
        if (s->os->ftruncate(s->os->ctx, g->f->fd, (off_t)g->size) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "ftruncate of %s after a failed write failed: %s", g->f->path,
                     strerror(errno));
            ae_store_fail(s, AE_EIO, msg);
        }
        return ae_err_set(err, ae_store_errcode(e), "store: write to %s failed: %s%s", g->f->path,
                          strerror(e), e == ENOSPC ? " (disk full; record not stored)" : "");
    }
    uint64_t seq = s->next_seq++;
    if (ae_seg_count(g) == 0)
        g->first_time = t;
    if (t > g->last_time)
        g->last_time = t;
    g->last_seq = seq;
    g->size += len;
    s->bytes += len;
    s->records++;
    s->st.appended++;

    pthread_mutex_lock(&s->mu);
    s->written_seq = seq;
    if (s->o.sync != AE_SYNC_NEVER) {
        if (!g->f->dirty && ae_store_push_file(&s->dirty, &s->ndirty, &s->cdirty, g->f) == 0) {
            g->f->refs++;
            g->f->dirty = true;
        }
        if (s->thr_idle && (s->o.sync == AE_SYNC_ALWAYS || !s->thr_sync_armed))
            pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    if (s->o.sync == AE_SYNC_NEVER)
        atomic_store(&s->durable_seq, seq);
    if (seq_out)
        *seq_out = seq;
    return 0;
}
