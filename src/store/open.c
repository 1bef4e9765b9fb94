/* Opening and closing a store (store.h): options and their checks, recovering the directory
 * (recovery.c), starting the sync thread (sync.c), writing the store's own files (active
 * segment, secret, meta) or entering read-only mode when the disk is full; and, at close,
 * the final sync and the teardown. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

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
