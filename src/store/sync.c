/* The sync thread: every call that waits on the disk after open. It fdatasyncs segments,
 * fsyncs the directory, publishes the durable seq (and fires the notify fd), removes
 * retired segments and writes the meta file; ae_store_flush waits for it.
 *
 * One loop: wait until something is due, take a snapshot of the work under st->mu, do the
 * slow calls without it, publish the result. Order within a round matters: data files and
 * the directory are synced before the durable seq moves; then the meta file is written,
 * and only then are retired files unlinked (a new active segment must be on disk before the
 * one it replaces disappears, and the meta file must have their seqs acked). */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"

static void timespec_at(struct timespec *ts, int64_t mono_ns)
{
    ts->tv_sec = (time_t)(mono_ns / AE_NS_PER_SEC);
    ts->tv_nsec = (long)(mono_ns % AE_NS_PER_SEC);
}

/* The work of one round, taken under the lock and done without it. */
typedef struct round {
    bool sync_due, dead_due, meta_due, flush_now;
    bool dsync;   /* the directory needs an fsync */
    bool partial; /* not everything due could be taken (ENOMEM): flushes wait a round */
    uint64_t target;
    uint64_t gen;
    ae_seg_file **files, **dead; /* reused across rounds */
    size_t nf, nd;
    ae_meta *mt;
    bool secret_due, secret_ok; /* the secret file is still owed (read-only mode) */
    bool spread_warned;         /* the last meta write had to cut the bitmap (and said so) */
    bool failing;               /* the last meta or secret write failed */
    int64_t warned_at;          /* when that was last logged */
} round;

/* Decides what is due now. Caller holds s->mu. */
static void decide_locked(ae_store *s, round *r, int64_t next_sync, int64_t next_meta)
{
    int64_t now = ae_mono_ns();
    bool failed = atomic_load(&s->failed) != 0;
    bool dirty = s->ndirty > 0 || s->dirsync;
    r->flush_now = s->flush_gen_req != s->flush_gen_done;
    r->sync_due = !failed && s->o.sync != AE_SYNC_NEVER && dirty &&
                  (s->o.sync == AE_SYNC_ALWAYS || r->flush_now || s->stop || s->sync_soon ||
                   now >= next_sync);
    r->dead_due = !failed && s->ndead > 0;
    /* Segments are removed only after a meta file that has their seqs acked, so recovery can
     * tell a removed segment from a lost one. */
    r->meta_due = !failed && r->mt && s->meta_dirty &&
                  (s->stop || r->flush_now || r->dead_due || s->meta_urgent || now >= next_meta);
}

/* Sleeps until the next interval sync or meta write is due or someone signals. Caller holds
 * s->mu. */
static void wait_locked(ae_store *s, int64_t next_sync, int64_t next_meta)
{
    bool failed = atomic_load(&s->failed) != 0;
    bool dirty = s->ndirty > 0 || s->dirsync;
    int64_t deadline = INT64_MAX;
    s->thr_sync_armed = false;
    if (!failed && dirty && s->o.sync == AE_SYNC_INTERVAL) {
        deadline = next_sync;
        s->thr_sync_armed = true;
    }
    if (!failed && s->meta_dirty && next_meta < deadline)
        deadline = next_meta;
    s->thr_idle = true;
    if (deadline == INT64_MAX) {
        pthread_cond_wait(&s->wake, &s->mu);
    } else {
        struct timespec ts;
        timespec_at(&ts, deadline);
        pthread_cond_timedwait(&s->wake, &s->mu, &ts);
    }
    s->thr_idle = false;
}

/* Takes the round's work out of the shared state. Caller holds s->mu. */
static void snapshot_locked(ae_store *s, round *r)
{
    r->nf = r->nd = 0;
    r->target = s->written_seq;
    r->dsync = r->partial = false;
    if (r->sync_due) {
        ae_seg_file **nfiles = realloc(r->files, (s->ndirty + 1) * sizeof *r->files);
        if (nfiles) {
            r->files = nfiles;
            r->nf = s->ndirty;
            memcpy(r->files, s->dirty, r->nf * sizeof *r->files);
            for (size_t i = 0; i < r->nf; i++)
                r->files[i]->dirty = false;
            s->ndirty = 0;
            r->dsync = s->dirsync;
            s->dirsync = s->sync_soon = false;
        } else {
            r->sync_due = false;
            r->partial = true;
        }
    }
    if (r->dead_due) {
        ae_seg_file **ndead = realloc(r->dead, (s->ndead + 1) * sizeof *r->dead);
        if (ndead) {
            r->dead = ndead;
            r->nd = s->ndead;
            memcpy(r->dead, s->dead, r->nd * sizeof *r->dead);
            s->ndead = 0;
        } else {
            r->partial = true;
        }
    }
    if (r->meta_due) {
        /* The meta file stands for the durable seq this round will have published. */
        uint64_t durable = r->sync_due ? r->target : atomic_load(&s->durable_seq);
        if (ae_meta_snapshot_locked(s, r->mt, durable) == 0) {
            s->meta_dirty = s->meta_urgent = false;
            r->secret_due = s->ro_need_secret;
            r->secret_ok = false;
        } else {
            r->meta_due = false;
            r->partial = true;
        }
    }
    r->gen = s->flush_gen_req;
}

/* fdatasync of the data files and fsync of the directory. Returns 0, or the AE_E* code with
 * a message in msg: a failed sync is fatal (see store.h). */
static int sync_files(ae_store *s, round *r, char *msg, size_t cap)
{
    const ae_os *os = s->os;
    for (size_t i = 0; i < r->nf; i++) {
        if (os->fdatasync(os->ctx, r->files[i]->fd) != 0) {
            snprintf(msg, cap, "fdatasync of %s failed: %s", r->files[i]->path, strerror(errno));
            return ae_store_errcode(errno);
        }
    }
    if (r->dsync && ae_os_sync_dir(os, s->dir) != 0) {
        snprintf(msg, cap, "fsync of directory %s failed: %s", s->dir, strerror(errno));
        return ae_store_errcode(errno);
    }
    return 0;
}

/* Unlinks retired segments. Failures are not fatal (a removal lost to a power cut only
 * brings back acked records). Returns the number of errors. */
static uint64_t remove_dead(ae_store *s, round *r)
{
    const ae_os *os = s->os;
    uint64_t errs = 0;
    for (size_t i = 0; i < r->nd; i++) {
        if (os->unlink(os->ctx, r->dead[i]->path) != 0 && errno != ENOENT) {
            ae_log_warn("store %s: cannot remove segment %s: %s (retried at next open)", s->dir,
                        r->dead[i]->path, strerror(errno));
            errs++;
        }
    }
    if (r->nd && s->o.sync != AE_SYNC_NEVER && ae_os_sync_dir(os, s->dir) != 0) {
        ae_log_warn("store %s: fsync of directory after removals failed: %s", s->dir,
                    strerror(errno));
        errs++;
    }
    return errs;
}

/* After a meta write reached the disk: the note's generation is durable, and a bitmap cut
 * at the spread cap is reported (once per stretch of time it stays cut). */
static void meta_written(ae_store *s, round *r)
{
    uint64_t gen = r->mt->note ? r->mt->note->gen : 0;
    if (gen > atomic_load(&s->note_durable_gen)) {
        atomic_store(&s->note_durable_gen, gen);
        ae_store_notify(s);
    }
    if (r->mt->dropped_above && !r->spread_warned)
        ae_log_warn("store %s: acks above the floor spread over more than %" PRIu64
                    " seqs; acks of seq %" PRIu64 " and above are kept in memory only, so "
                    "after a crash those records are sent again",
                    s->dir, s->o.meta_max_ack_spread, r->mt->dropped_above);
    r->spread_warned = r->mt->dropped_above != 0;
}

/* Does one round's slow work without the lock and publishes it under the lock. */
/* A failed meta or secret write is not fatal: the log is intact, only the ack state on disk
 * is older, and the write is retried. On a full disk that may last: say so at the first
 * failure and then once a minute, and say when it works again. */
static void report_write(ae_store *s, round *r, const ae_err *e)
{
    int64_t now = ae_mono_ns();
    if (!e) {
        if (r->failing)
            ae_log_info("store %s: the meta file is written again", s->dir);
        r->failing = false;
        return;
    }
    if (!r->failing || now - r->warned_at >= 60 * AE_NS_PER_SEC) {
        const char *msg = strncmp(e->msg, "store: ", 7) ? e->msg : e->msg + 7;
        ae_log_warn("store %s: %s (retried; acks since the last meta write would be sent "
                    "again after a crash)",
                    s->dir, msg);
        r->warned_at = now;
    }
    r->failing = true;
}

/* The secret (while it is owed) and the meta file, then the removals; a meta write that
 * failed for want of space is tried once more after them. Returns true when the meta file
 * was written. */
static bool write_meta_and_remove(ae_store *s, round *r, uint64_t *errs)
{
    bool durable = s->o.sync != AE_SYNC_NEVER, ok = false;
    ae_err e = {0}, se = {0};
    if (r->secret_due)
        r->secret_ok = ae_secret_write(s, &se) == 0;
    if (r->meta_due)
        ok = ae_meta_write(s, r->mt, durable, &e) == 0;
    *errs += remove_dead(s, r);
    if (r->nd && ((r->meta_due && !ok && e.code == AE_ENOSPC) ||
                  (r->secret_due && !r->secret_ok && se.code == AE_ENOSPC))) {
        /* The removals may have made the room that was missing. */
        if (r->secret_due && !r->secret_ok)
            r->secret_ok = ae_secret_write(s, &se) == 0;
        if (r->meta_due && !ok)
            ok = ae_meta_write(s, r->mt, durable, &e) == 0;
    }
    if (r->secret_due && !r->secret_ok) {
        report_write(s, r, &se);
        (*errs)++;
    }
    if (r->meta_due && !ok) {
        report_write(s, r, &e);
        (*errs)++;
    } else if (ok) {
        report_write(s, r, NULL);
        meta_written(s, r);
    }
    return ok;
}

const int64_t ae_store_sync_bounds_ns[AE_STORE_SYNC_BUCKETS] = {
    AE_NS_PER_MS / 2,   AE_NS_PER_MS,       AE_NS_PER_MS * 5 / 2, 5 * AE_NS_PER_MS,
    10 * AE_NS_PER_MS,  25 * AE_NS_PER_MS,  50 * AE_NS_PER_MS,    100 * AE_NS_PER_MS,
    250 * AE_NS_PER_MS, 500 * AE_NS_PER_MS, AE_NS_PER_SEC,        2500 * AE_NS_PER_MS};

/* Counts one sync round's duration. s->mu held. */
static void time_sync_locked(ae_store *s, int64_t ns)
{
    size_t b = 0;
    while (b < AE_STORE_SYNC_BUCKETS && ns > ae_store_sync_bounds_ns[b])
        b++;
    s->sync_buckets[b]++;
    s->syncs++;
    s->sync_ns_total += ns;
}

/* Does one round's slow work without the lock and publishes it under the lock. */
static void run_round(ae_store *s, round *r, int64_t *next_sync, int64_t *next_meta)
{
    char msg[256];
    int64_t t0 = ae_mono_ns();
    int code = sync_files(s, r, msg, sizeof msg);
    int64_t sync_ns = ae_mono_ns() - t0;
    uint64_t errs = code ? 1 : 0;
    if (!code && r->sync_due) {
        if (r->target > atomic_load(&s->durable_seq))
            atomic_store(&s->durable_seq, r->target);
        ae_store_notify(s);
    }
    bool meta_ok = !code && write_meta_and_remove(s, r, &errs);

    pthread_mutex_lock(&s->mu);
    s->sync_errors += errs;
    if (!code && (r->nf || r->dsync))
        time_sync_locked(s, sync_ns);
    if (code)
        ae_store_fail_locked(s, code, msg);
    for (size_t i = 0; i < r->nf; i++)
        ae_store_file_unref_locked(s, r->files[i]);
    for (size_t i = 0; i < r->nd; i++)
        ae_store_file_unref_locked(s, r->dead[i]);
    if (r->secret_due && !r->secret_ok && !s->stop)
        s->meta_dirty = true; /* the secret goes with the next meta write */
    if (r->secret_due && r->secret_ok)
        s->ro_need_secret = false;
    if (r->meta_due) {
        if (meta_ok)
            s->ro_need_meta = false;
        else if (!s->stop)
            s->meta_dirty = true;
        *next_meta = ae_mono_ns() + s->o.meta_interval_ns;
    }
    if (r->sync_due)
        *next_sync = ae_mono_ns() + s->o.sync_interval_ns;
    /* Everything due when this round took its snapshot is done, flushes included. */
    if (!code && !r->partial)
        s->flush_gen_done = r->gen;
    pthread_cond_broadcast(&s->done);
}

void *ae_store_sync_main(void *arg)
{
    ae_store *s = arg;
    /* The first change after open is written at once, then at most one per interval. */
    int64_t next_sync = 0, next_meta = 0;
    round r = {0};
    r.mt = calloc(1, sizeof *r.mt);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        decide_locked(s, &r, next_sync, next_meta);
        if (!r.sync_due && !r.dead_due && !r.meta_due) {
            if (r.flush_now) {
                /* Nothing (more) to do for the flush waiters: release them. */
                s->flush_gen_done = s->flush_gen_req;
                pthread_cond_broadcast(&s->done);
                continue;
            }
            if (s->stop)
                break;
            wait_locked(s, next_sync, next_meta);
            continue;
        }
        snapshot_locked(s, &r);
        pthread_mutex_unlock(&s->mu);
        run_round(s, &r, &next_sync, &next_meta); /* returns with s->mu held */
    }
    s->thr_idle = false;
    if (r.mt)
        ae_meta_clear_locked(r.mt);
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    free(r.files);
    free(r.dead);
    free(r.mt);
    return NULL;
}

int ae_store_flush(ae_store *s, int timeout_ms, ae_err *err)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : ae_mono_ns() + timeout_ms * AE_NS_PER_MS;
    pthread_mutex_lock(&s->mu);
    uint64_t gen = ++s->flush_gen_req;
    pthread_cond_signal(&s->wake);
    int rc = 0;
    while (s->flush_gen_done < gen && !atomic_load(&s->failed)) {
        if (deadline == INT64_MAX) {
            pthread_cond_wait(&s->done, &s->mu);
        } else {
            struct timespec ts;
            timespec_at(&ts, deadline);
            if (pthread_cond_timedwait(&s->done, &s->mu, &ts) != 0 && ae_mono_ns() >= deadline) {
                rc = ae_err_set(err, AE_ETIMEOUT, "store %s: flush timed out after %d ms", s->dir,
                                timeout_ms);
                break;
            }
        }
    }
    int f = atomic_load(&s->failed);
    if (!rc && f)
        rc = ae_err_set(err, f, "store %s failed: %s", s->dir, s->fail_msg);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
