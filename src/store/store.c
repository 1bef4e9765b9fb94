/* The durable uplink log: opening and closing a store, appending, acking, bounds,
 * read-only mode, statistics, and the live segment list. Recovery is in recovery.c, the sync
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
 * Sections: helpers | segments | read-only mode | open and close | acks and bounds | append |
 * stats | lookups shared with cursor.c and deadletter.c */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

static int failed_err(ae_store *s, ae_err *err)
{
    pthread_mutex_lock(&s->mu);
    int code = atomic_load(&s->failed);
    ae_err_set(err, code, "store %s failed earlier: %s; close and reopen it", s->dir, s->fail_msg);
    pthread_mutex_unlock(&s->mu);
    return code;
}

/* ==== segments ========================================================================= */

static uint64_t seg_count(const ae_seg *g)
{
    return g->last_seq + 1 - g->first_seq;
}

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
static bool ro_retry_due(ae_store *s)
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

/* ==== open and close =================================================================== */

void ae_store_opts_default(ae_store_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sync = AE_SYNC_ALWAYS;
    o->sync_interval_ns = 10 * AE_NS_PER_MS;
    o->segment_bytes = 16u << 20;
    o->max_record_bytes = 8u << 20;
    o->meta_interval_ns = AE_NS_PER_SEC;
}

static int check_opts(ae_store_opts *o, ae_err *err)
{
    if (o->sync != AE_SYNC_ALWAYS && o->sync != AE_SYNC_INTERVAL && o->sync != AE_SYNC_NEVER)
        return ae_err_set(err, AE_EINVAL, "store: unknown sync policy %d", (int)o->sync);
    if (o->sync_interval_ns <= 0)
        o->sync_interval_ns = 10 * AE_NS_PER_MS;
    if (o->meta_interval_ns <= 0)
        o->meta_interval_ns = AE_NS_PER_SEC;
    if (o->max_record_bytes == 0)
        o->max_record_bytes = 8u << 20;
    if (o->max_record_bytes > 64u << 20)
        return ae_err_set(err, AE_EINVAL, "store: max_record_bytes %u is above the 64 MiB cap",
                          o->max_record_bytes);
    if (o->segment_bytes == 0)
        o->segment_bytes = 16u << 20;
    if (o->max_bytes && o->max_bytes < 16384)
        return ae_err_set(err, AE_EINVAL,
                          "store: max_bytes %" PRIu64 " is too small; use at least 16 KiB",
                          o->max_bytes);
    if (o->max_bytes && o->segment_bytes > o->max_bytes / 4)
        o->segment_bytes = o->max_bytes / 4;
    if (o->segment_bytes < 1024)
        o->segment_bytes = 1024;
    if (o->max_age_ns < 0)
        return ae_err_set(err, AE_EINVAL, "store: negative max_age");
    if (o->meta_max_ack_spread == 0)
        o->meta_max_ack_spread = 64u << 20;
    if (o->meta_max_ack_spread > (uint64_t)AE_META_MAX_WORDS * 64)
        o->meta_max_ack_spread = (uint64_t)AE_META_MAX_WORDS * 64;
    if (!o->os)
        o->os = ae_os_posix();
    return 0;
}

static void store_free(ae_store *s)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        pthread_mutex_lock(&s->mu);
        ae_store_file_unref_locked(s, s->segs[i]->f);
        pthread_mutex_unlock(&s->mu);
        ae_seg_free(s->segs[i]);
    }
    for (size_t i = 0; i < s->ndirty; i++)
        ae_store_file_unref_locked(s, s->dirty[i]);
    for (size_t i = 0; i < s->ndead; i++)
        ae_store_file_unref_locked(s, s->dead[i]);
    if (s->dl)
        ae_store_file_unref_locked(s, s->dl);
    free(s->segs);
    free(s->dirty);
    free(s->dead);
    ae_ackset_free(&s->acks);
    ae_note_unref_locked(s->note);
    memset(s->secret, 0, sizeof s->secret);
    free(s->wbuf);
    if (s->efd >= 0)
        close(s->efd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done);
    free(s->dir);
    free(s);
}

/* Allocates the store and its eventfd, locks and condition variables (monotonic clock). */
static ae_store *store_alloc(void)
{
    ae_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->efd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->done, &ca);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    s->oldest_cache_floor = -1;
    return s;
}

/* Makes everything kept durable now: recovered bytes may still be only in the page cache (a
 * kill -9 leaves them there), and cursors will hand them out as durable. */
static int sync_recovered(ae_store *s, ae_err *err)
{
    if (s->o.sync != AE_SYNC_NEVER) {
        for (size_t i = 0; i < s->nsegs; i++) {
            if (s->os->fdatasync(s->os->ctx, s->segs[i]->f->fd) != 0)
                return ae_err_set(err, ae_store_errcode(errno), "store: fdatasync of %s failed: %s",
                                  s->segs[i]->f->path, strerror(errno));
        }
        if (!s->ro_need_dir && ae_os_sync_dir(s->os, s->dir) != 0)
            return ae_err_set(err, ae_store_errcode(errno),
                              "store: fsync of directory %s failed: %s", s->dir, strerror(errno));
    }
    for (size_t i = 0; i < s->ndirty; i++) {
        s->dirty[i]->dirty = false;
        ae_store_file_unref_locked(s, s->dirty[i]);
    }
    s->ndirty = 0;
    s->dirsync = false;
    s->written_seq = s->next_seq - 1;
    atomic_store(&s->durable_seq, s->next_seq - 1);
    return 0;
}

/* The meta file as open leaves it (the sync thread is not running yet). */
static int write_meta_now(ae_store *s, ae_err *err)
{
    ae_meta *m = calloc(1, sizeof *m);
    if (!m)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int rc = ae_meta_snapshot_locked(s, m, s->next_seq - 1);
    if (rc)
        ae_err_set(err, rc, "store: out of memory");
    else
        rc = ae_meta_write(s, m, s->o.sync != AE_SYNC_NEVER, err);
    ae_meta_clear_locked(m);
    free(m);
    return rc;
}

/* Runs one of the writes open must make. A full disk puts the store in read-only mode
 * (sets *pending, returns 0) instead of failing; any other error is returned with err. */
static int own_write(ae_store *s, int rc, const ae_err *e, bool *pending, ae_err *err)
{
    if (rc == AE_ENOSPC) {
        *pending = true;
        ae_store_enter_read_only(s, e->msg);
        return 0;
    }
    if (rc && err)
        *err = *e;
    return rc;
}

/* The files open writes after recovery: the active segment, the secret, the meta file.
 * Everything recovered is made durable in between. */
static int write_own_files(ae_store *s, bool secret_new, ae_err *err)
{
    ae_err e = {0};
    int rc = 0;
    if (ae_store_needs_segment(s)) {
        if (s->ro_need_dir)
            s->ro_need_seg = true;
        else if ((rc = own_write(s, ae_store_seg_create(s, s->next_seq, &e), &e, &s->ro_need_seg,
                                 err)) != 0)
            return rc;
    }
    s->records = (s->next_seq - 1 - s->acks.floor) -
                 ae_ackset_count(&s->acks, s->acks.floor + 1, s->next_seq - 1);
    if ((rc = sync_recovered(s, err)) != 0)
        return rc;
    if (secret_new) {
        if (s->ro_need_dir)
            s->ro_need_secret = true;
        else if ((rc = own_write(s, ae_secret_write(s, &e), &e, &s->ro_need_secret, err)) != 0)
            return rc;
    }
    if (s->ro_need_dir)
        s->ro_need_meta = true;
    else if ((rc = own_write(s, write_meta_now(s, &e), &e, &s->ro_need_meta, err)) != 0)
        return rc;
    /* While read-only the sync thread keeps trying the meta file (and the secret with it). */
    s->meta_dirty = s->ro_need_meta || s->ro_need_secret;
    return 0;
}

int ae_store_open(const char *dir, const ae_store_opts *opts, ae_store **out, ae_err *err)
{
    *out = NULL;
    ae_store *s = store_alloc();
    if (!s)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int rc;
    if (opts)
        s->o = *opts;
    else
        ae_store_opts_default(&s->o);
    if ((rc = check_opts(&s->o, err)) != 0)
        goto fail;
    s->os = s->o.os;
    s->dir = strdup(dir);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!s->dir || s->efd < 0) {
        rc = ae_err_set(err, AE_ENOMEM, "store: cannot allocate store or eventfd: %s",
                        strerror(errno));
        goto fail;
    }
    if (s->os->mkdir(s->os->ctx, dir, 0700) != 0 && errno != EEXIST) {
        ae_err e = {0};
        rc = ae_err_set(&e, ae_store_errcode(errno), "store: cannot create directory %s: %s", dir,
                        strerror(errno));
        if ((rc = own_write(s, rc, &e, &s->ro_need_dir, err)) != 0)
            goto fail;
    }
    bool fresh, secret_new;
    if ((rc = ae_store_recover(s, &fresh, err)) != 0 ||
        (rc = ae_secret_load(s, fresh, &secret_new, err)) != 0 ||
        (rc = write_own_files(s, secret_new, err)) != 0)
        goto fail;
    if (pthread_create(&s->thr, NULL, ae_store_sync_main, s) != 0) {
        rc = ae_err_set(err, AE_ENOMEM, "store: cannot start the sync thread");
        goto fail;
    }
    s->thr_started = true;
    ae_log_info("store %s: opened%s: epoch %016" PRIx64 ", %zu segments, %" PRIu64
                " unacked records, seqs %" PRIu64 "..%" PRIu64,
                dir, s->read_only ? " read-only" : "", s->epoch, s->nsegs, s->records,
                s->acks.floor + 1, s->next_seq - 1);
    *out = s;
    return 0;
fail:
    store_free(s);
    return rc;
}

int ae_store_close(ae_store *s, ae_err *err)
{
    if (!s)
        return 0;
    if (s->ncursors)
        ae_log_error("store %s: closed with %d cursors still open", s->dir, s->ncursors);
    if (s->thr_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        s->meta_dirty = true; /* a clean shutdown leaves a fresh high-water mark */
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thr, NULL);
    }
    int rc = atomic_load(&s->failed);
    if (rc)
        ae_err_set(err, rc, "store %s failed: %s", s->dir, s->fail_msg);
    store_free(s);
    return rc;
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
static int discard_oldest(ae_store *s, const char *why, ae_err *err)
{
    if (s->nsegs == 1) {
        if (seg_count(s->segs[0]) == 0)
            return ae_err_set(err, AE_ELIMIT, "store: nothing left to discard");
        int rc = ae_store_seg_create(s, s->next_seq, err);
        if (rc)
            return rc;
    }
    ae_seg *g = s->segs[0];
    uint64_t unacked = 0;
    if (seg_count(g)) {
        uint64_t acked = ae_ackset_count(&s->acks, g->first_seq, g->last_seq);
        unacked = seg_count(g) - acked;
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
    while (s->nsegs && seg_count(s->segs[0]) && s->segs[0]->last_time < cutoff) {
        if ((atomic_load(&s->failed) || s->read_only) && s->nsegs == 1)
            break; /* cannot roll a failed store, nor one on a full disk */
        int rc = discard_oldest(s, "max_age", err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ==== append =========================================================================== */

int ae_store_append(ae_store *s, const ae_store_msg *m, uint64_t *seq_out, ae_err *err)
{
    if (atomic_load(&s->failed))
        return failed_err(s, err);
    if (s->read_only && (!ro_retry_due(s) || !ae_store_try_writable(s)))
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
        roll = (seg_count(g) && g->size + len > s->o.segment_bytes) || s->roll_pending;
        uint64_t need = len + (roll ? AE_SEG_HDR_SIZE : 0);
        if (!s->o.max_bytes || s->bytes + need <= s->o.max_bytes)
            break;
        /* Over the bound: the oldest segment goes, counted (never silently). */
        if ((rc = discard_oldest(s, "max_bytes", err)) != 0)
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
    if (seg_count(g) == 0)
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

/* ==== lookups shared with cursor.c and deadletter.c ==================================== */

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
