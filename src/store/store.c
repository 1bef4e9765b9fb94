/* The durable uplink log: the live segment list, read-only mode, acking, bounds and
 * statistics. Recovery is in recovery.c, the sync
 * thread in sync.c, the meta and secret files and the note in meta.c, set-aside in
 * deadletter.c, the format in segment.c, the ack bitmap in ackset.c, reading in cursor.c;
 * the contract is in store.h and the whole design in docs/store.md.
 *
 * Why the owner thread writes and the sync thread syncs: a write() of a small record into
 * the page cache costs about a microsecond and makes the record immediately readable by
 * cursors with no second copy in memory, while fsync costs a disk round trip (0.3 ms to
 * tens of ms). So appends pwrite() on the loop thread and only the syncs, directory syncs,
 * unlinks and meta-file writes are handed to the sync thread. Appends made while an fsync
 * runs are covered by the next one, which is group commit for free.
 *
 * Sections: helpers | segments | read-only mode | identity | acks and bounds | state queries |
 * stats. Opening and closing are in open.c, appending in append.c, finding and reading a
 * record by seq in read.c. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

int ae_store_failed_err(ae_store *s, ae_err *err)
{
    pthread_mutex_lock(&s->mu);
    int code = atomic_load(&s->failed);
    ae_err_set(err, code, "store %s failed earlier: %s; close and reopen it", s->dir, s->fail_msg);
    pthread_mutex_unlock(&s->mu);
    return code;
}

/* ==== segments ========================================================================= */

/* Creates a new empty segment whose first record will be first_seq and makes it the
 * active one. Nothing is fsynced here: the sync thread syncs the file and the directory
 * before any record in it counts as durable. Owner thread (or open). */
int ae_store_seg_create(ae_store *s, uint64_t first_seq, ae_err *err)
{
    ae_seg *g = calloc(1, sizeof *g);
    ae_seg_file *f = calloc(1, sizeof *f);
    char *path = ae_store_seg_path(s, first_seq);
    uint8_t hdr[AE_SEG_HDR_SIZE];
    int rc;
    if (!g || !f || !path) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory creating a segment");
        goto fail;
    }
    /* O_TRUNC rather than O_EXCL: a file by this name can only be the remains of an earlier
     * create that failed before any record went in. */
    f->fd = s->os->open(s->os->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (f->fd < 0) {
        rc = ae_err_set(err, ae_store_errcode(errno), "store: cannot create segment %s: %s", path,
                        strerror(errno));
        goto fail;
    }
    ae_seg_hdr_encode(hdr, s->epoch, first_seq, ae_now_ns());
    if (ae_os_write_all(s->os, f->fd, hdr, sizeof hdr, 0) != 0) {
        int e = errno;
        rc = ae_err_set(err, ae_store_errcode(e), "store: cannot write header of segment %s: %s",
                        path, strerror(e));
        s->os->close(s->os->ctx, f->fd);
        s->os->unlink(s->os->ctx, path);
        goto fail;
    }
    f->path = path;
    f->refs = 1;
    g->f = f;
    g->first_seq = first_seq;
    g->last_seq = first_seq - 1;
    g->size = AE_SEG_HDR_SIZE;
    if (ae_store_segs_push(s, g) != 0) {
        s->os->close(s->os->ctx, f->fd);
        s->os->unlink(s->os->ctx, path);
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory creating a segment");
        f->path = NULL;
        goto fail;
    }
    s->bytes += AE_SEG_HDR_SIZE;
    pthread_mutex_lock(&s->mu);
    s->dirsync = true;
    if (s->o.sync != AE_SYNC_NEVER &&
        ae_store_push_file(&s->dirty, &s->ndirty, &s->cdirty, f) == 0) {
        f->refs++;
        f->dirty = true;
    }
    pthread_mutex_unlock(&s->mu);
    ae_log_debug("store %s: new segment %s", s->dir, path);
    return 0;
fail:
    free(path);
    free(f);
    free(g);
    return rc;
}

/* ==== read-only mode =================================================================== */

void ae_store_enter_read_only(ae_store *s, const char *detail)
{
    if (s->read_only)
        return; /* the first cause is the one reported */
    if (!strncmp(detail, "store: ", 7))
        detail += 7;
    /* Files are named relative to the directory, which the sentence names once: the reason
     * has to fit an ae_err message. */
    char brief[160];
    size_t n = 0, dl = strlen(s->dir);
    while (*detail && n + 1 < sizeof brief) {
        if (!strncmp(detail, s->dir, dl) && detail[dl] == '/')
            detail += dl + 1;
        else
            brief[n++] = *detail++;
    }
    brief[n] = 0;
    snprintf(s->ro_reason, sizeof s->ro_reason,
             "the disk of %s is full: %s; messages are not logged until space is freed", s->dir,
             brief);
    s->read_only = true;
    s->ro_retry_at = ae_mono_ns() + AE_NS_PER_SEC;
    ae_log_error("store %s: read-only: %s (records already logged can still be read and acked)",
                 s->dir, s->ro_reason);
}

/* For appends: a read-only store tries again at most once a second, at once after a removal
 * freed space, and as soon as the sync thread has written what it was asked to. */
bool ae_store_ro_retry_due(ae_store *s)
{
    if (ae_mono_ns() >= s->ro_retry_at)
        return true;
    if (s->ro_need_dir || s->ro_need_seg)
        return false;
    pthread_mutex_lock(&s->mu);
    bool done = !s->ro_need_meta && !s->ro_need_secret;
    pthread_mutex_unlock(&s->mu);
    return done;
}

bool ae_store_try_writable(ae_store *s)
{
    if (!s->read_only)
        return true;
    /* The owner's own writes are cheap to try (a mkdir, a 48-byte header); the meta and
     * secret files are the sync thread's, which is asked at most once a second (it also
     * retries by itself at every meta interval). */
    int64_t now = ae_mono_ns();
    bool ask = now >= s->ro_retry_at;
    if (ask)
        s->ro_retry_at = now + AE_NS_PER_SEC;
    if (s->ro_need_dir) {
        if (s->os->mkdir(s->os->ctx, s->dir, 0700) != 0 && errno != EEXIST)
            return false;
        s->ro_need_dir = false;
    }
    if (s->ro_need_seg || ae_store_needs_segment(s)) {
        if (ae_store_seg_create(s, s->next_seq, NULL) != 0)
            return false;
        s->ro_need_seg = s->roll_pending = false;
    }
    pthread_mutex_lock(&s->mu);
    bool pending = s->ro_need_meta || s->ro_need_secret;
    if (pending && ask) {
        s->meta_dirty = s->meta_urgent = true;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    if (pending)
        return false;
    s->read_only = false;
    ae_log_info("store %s: there is space again: messages are logged again", s->dir);
    return true;
}

uint64_t ae_store_epoch(const ae_store *s)
{
    return s->epoch;
}

int ae_store_msg_id(const ae_store *s, const char *vid, uint64_t seq, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.%016" PRIx64 ".%" PRIu64, vid, s->epoch, seq);
    if (n < 0 || (size_t)n >= cap)
        return AE_EINVAL;
    return n;
}

/* ==== acks and bounds ================================================================== */

/* Throws away the oldest segment to make room or because it aged out, counting its unacked
 * records. If it is the active one, a new active segment is created first. */
int ae_store_discard_oldest(ae_store *s, const char *why, ae_err *err)
{
    if (s->nsegs == 1) {
        if (ae_seg_count(s->segs[0]) == 0)
            return ae_err_set(err, AE_ELIMIT, "store: nothing left to discard");
        int rc = ae_store_seg_create(s, s->next_seq, err);
        if (rc)
            return rc;
    }
    ae_seg *g = s->segs[0];
    uint64_t unacked = 0;
    if (ae_seg_count(g)) {
        uint64_t acked = ae_ackset_count(&s->acks, g->first_seq, g->last_seq);
        unacked = ae_seg_count(g) - acked;
        pthread_mutex_lock(&s->mu);
        ae_ackset_add_range(&s->acks, g->first_seq, g->last_seq);
        ae_store_meta_dirty_locked(s);
        pthread_mutex_unlock(&s->mu);
    }
    s->records -= unacked;
    s->st.discarded_records += unacked;
    s->st.discarded_bytes += g->size;
    if (unacked)
        ae_log_warn("store %s: %s: discarded segment %s with %" PRIu64
                    " unacked records (seqs %" PRIu64 "..%" PRIu64 ", %" PRIu64 " bytes)",
                    s->dir, why, g->f->path, unacked, g->first_seq, g->last_seq, g->size);
    ae_store_retire_oldest(s);
    ae_store_retire_acked(s);
    return 0;
}

int ae_store_ack(ae_store *s, uint64_t seq, ae_err *err)
{
    if (seq == 0 || seq >= s->next_seq)
        return ae_err_set(err, AE_ENOENT,
                          "store: ack for seq %" PRIu64 " which was never "
                          "appended (last is %" PRIu64 ")",
                          seq, s->next_seq - 1);
    uint64_t old_floor = s->acks.floor;
    pthread_mutex_lock(&s->mu);
    int rc = ae_ackset_add(&s->acks, seq);
    if (rc == 0)
        ae_store_meta_dirty_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (rc == AE_EEXIST)
        return AE_EEXIST;
    if (rc)
        return ae_err_set(err, rc, "store: out of memory recording an ack");
    s->records--;
    s->st.acked++;
    if (s->acks.floor != old_floor)
        ae_store_retire_acked(s);
    return 0;
}

bool ae_store_is_acked(const ae_store *s, uint64_t seq)
{
    return ae_ackset_has(&s->acks, seq);
}

uint64_t ae_store_ack_floor(const ae_store *s)
{
    return s->acks.floor;
}

int ae_store_tick(ae_store *s, int64_t now_ns, ae_err *err)
{
    if (s->read_only)
        ae_store_try_writable(s);
    if (!s->o.max_age_ns)
        return 0;
    if (!now_ns)
        now_ns = ae_now_ns();
    int64_t cutoff = now_ns - s->o.max_age_ns;
    while (s->nsegs && ae_seg_count(s->segs[0]) && s->segs[0]->last_time < cutoff) {
        if ((atomic_load(&s->failed) || s->read_only) && s->nsegs == 1)
            break; /* cannot roll a failed store, nor one on a full disk */
        int rc = ae_store_discard_oldest(s, "max_age", err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ==== state queries =========================================================================== */

uint64_t ae_store_last_seq(const ae_store *s)
{
    return s->next_seq - 1;
}

uint64_t ae_store_durable_seq(const ae_store *s)
{
    return atomic_load(&((ae_store *)s)->durable_seq);
}

int ae_store_notify_fd(const ae_store *s)
{
    return s->efd;
}

void ae_store_notify_drain(ae_store *s)
{
    uint64_t v;
    ssize_t r = read(s->efd, &v, sizeof v);
    (void)r;
}

int ae_store_failed(const ae_store *s)
{
    return atomic_load(&((ae_store *)s)->failed);
}

/* ==== stats ============================================================================ */

void ae_store_stats_get(ae_store *s, ae_store_stats *out)
{
    *out = s->st;
    out->records = s->records;
    out->bytes = s->bytes;
    out->segments = s->nsegs;
    out->first_seq = s->acks.floor + 1;
    out->last_seq = s->next_seq - 1;
    out->durable_seq = atomic_load(&s->durable_seq);
    out->ack_floor = s->acks.floor;
    pthread_mutex_lock(&s->mu);
    out->sync_errors = s->sync_errors;
    out->syncs = s->syncs;
    out->sync_ns_total = s->sync_ns_total;
    memcpy(out->sync_buckets, s->sync_buckets, sizeof out->sync_buckets);
    pthread_mutex_unlock(&s->mu);
    out->failed = atomic_load(&s->failed);
    out->read_only = s->read_only;
    snprintf(out->read_only_reason, sizeof out->read_only_reason, "%s",
             s->read_only ? s->ro_reason : "");
    out->oldest_time_ns = 0;
    /* The oldest unacked record's time, read from disk and cached per floor. */
    uint64_t q = s->acks.floor + 1;
    while (q < s->next_seq && ae_ackset_has(&s->acks, q))
        q++;
    if (q >= s->next_seq)
        return;
    if (s->oldest_cache_floor == (int64_t)q) {
        out->oldest_time_ns = s->oldest_cache_time;
        return;
    }
    size_t i = ae_store_find_seg(s, q);
    if (i >= s->nsegs || s->segs[i]->first_seq > q)
        return;
    ae_rbuf rb = {0};
    uint64_t off;
    const uint8_t *p;
    if (ae_store_locate(s, s->segs[i], q, &rb, &off, NULL) == 0 &&
        ae_rbuf_get(s->os, s->segs[i]->f->fd, &rb, off, AE_REC_HDR_SIZE, s->segs[i]->size, &p) ==
            0) {
        out->oldest_time_ns = (int64_t)ae_get64(p + 16);
        s->oldest_cache_floor = (int64_t)q;
        s->oldest_cache_time = out->oldest_time_ns;
    }
    ae_rbuf_free(&rb);
}
