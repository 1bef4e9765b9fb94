/* The durable uplink log: opening and recovering a store directory, appending, acking,
 * bounds, statistics, and the sync thread that makes writes durable off the event loop.
 * Format code is in segment.c, the ack bitmap in ackset.c, reading in cursor.c; the
 * contract is in store.h and the whole design in docs/store.md.
 *
 * Why the owner thread writes and the sync thread syncs: a write() of a small record into
 * the page cache costs about a microsecond and makes the record immediately readable by
 * cursors with no second copy in memory, while fsync costs a disk round trip (0.3 ms to
 * tens of ms). So appends pwrite() on the loop thread and only the syncs, directory syncs,
 * unlinks and meta-file writes are handed to the sync thread. Appends made while an fsync
 * runs are covered by the next one, which is group commit for free.
 *
 * Sections: helpers | meta file | segments | recovery (open) | append | acks and bounds |
 * sync thread | flush, close, stats | lookups shared with cursor.c */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "store/crc32c.h"

/* ==== helpers ========================================================================== */

static int errno_code(int e)
{
    return (e == ENOSPC || e == EDQUOT) ? AE_ENOSPC : AE_EIO;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *seg_path(const ae_store *s, uint64_t first_seq)
{
    char name[40];
    snprintf(name, sizeof name, "%020" PRIu64 ".seg", first_seq);
    return path_join(s->dir, name);
}

static int write_all(const ae_os *os, int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = os->pwrite(os->ctx, fd, p, n, (off_t)off);
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = ENOSPC; /* a zero-byte write makes no progress; treat as full */
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* fsync of the directory itself, so that created, renamed and removed entries survive a
 * power cut (SQLite's UNIXFILE_DIRSYNC). */
static int sync_dir(const ae_os *os, const char *dir)
{
    int fd = os->open(os->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return -1;
    int r = os->fsync(os->ctx, fd);
    int e = errno;
    os->close(os->ctx, fd);
    errno = e;
    return r;
}

static void notify(ae_store *s)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already nonzero, which is all a watcher needs. */
    ssize_t r = write(s->efd, &one, sizeof one);
    (void)r;
}

/* Enters the failed state (first failure wins). Caller holds s->mu. */
static int fail_locked(ae_store *s, int code, const char *msg)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&s->failed, &expect, code)) {
        snprintf(s->fail_msg, sizeof s->fail_msg, "%s", msg);
        ae_log_error("store %s: %s; the store stops accepting appends until reopened", s->dir, msg);
    }
    pthread_cond_broadcast(&s->done);
    notify(s);
    return code;
}

static int fail(ae_store *s, int code, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    fail_locked(s, code, msg);
    pthread_mutex_unlock(&s->mu);
    return code;
}

static int failed_err(ae_store *s, ae_err *err)
{
    pthread_mutex_lock(&s->mu);
    int code = atomic_load(&s->failed);
    ae_err_set(err, code, "store %s failed earlier: %s; close and reopen it", s->dir, s->fail_msg);
    pthread_mutex_unlock(&s->mu);
    return code;
}

static void file_unref_locked(ae_store *s, ae_seg_file *f)
{
    if (--f->refs > 0)
        return;
    s->os->close(s->os->ctx, f->fd);
    free(f->path);
    free(f);
}

static int push_file(ae_seg_file ***arr, size_t *n, size_t *cap, ae_seg_file *f)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        ae_seg_file **a = realloc(*arr, c * sizeof *a);
        if (!a)
            return AE_ENOMEM;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = f;
    return 0;
}

static void seg_free(ae_seg *g)
{
    if (!g)
        return;
    free(g->idx);
    free(g);
}

static int seg_idx_add(ae_seg *g, uint64_t seq, uint64_t off)
{
    if (g->nidx && off < g->idx[g->nidx - 1].off + AE_IDX_STRIDE)
        return 0;
    if (g->nidx == g->cidx) {
        size_t c = g->cidx ? g->cidx * 2 : 4;
        ae_seg_idx *x = realloc(g->idx, c * sizeof *x);
        if (!x)
            return AE_ENOMEM;
        g->idx = x;
        g->cidx = c;
    }
    g->idx[g->nidx].seq = seq;
    g->idx[g->nidx].off = off;
    g->nidx++;
    return 0;
}

static int segs_push(ae_store *s, ae_seg *g)
{
    if (s->nsegs == s->csegs) {
        size_t c = s->csegs ? s->csegs * 2 : 8;
        ae_seg **a = realloc(s->segs, c * sizeof *a);
        if (!a)
            return AE_ENOMEM;
        s->segs = a;
        s->csegs = c;
    }
    s->segs[s->nsegs++] = g;
    return 0;
}

static uint64_t seg_count(const ae_seg *g)
{
    return g->last_seq + 1 - g->first_seq;
}

/* ==== meta file ========================================================================
 * "meta" holds the epoch, the ack floor, the highest seq known when it was written and up
 * to AE_META_MAX_ACKED acked seqs above the floor:
 *   0 magic "AERIEMTA" | 8 u32 version | 12 u32 n | 16 u64 epoch | 24 u64 ack floor
 *   32 u64 last seq | 40 u64 acked[n] | u32 CRC32C of everything before
 * It is replaced atomically: write meta.tmp, fsync, rename over meta, fsync the directory. */

typedef struct meta {
    uint64_t epoch, floor, last;
    uint32_t n;
    uint64_t acked[AE_META_MAX_ACKED];
} meta;

static int meta_read(ae_store *s, meta *m)
{
    char *path = path_join(s->dir, AE_META_NAME);
    if (!path)
        return AE_ENOMEM;
    int fd = s->os->open(s->os->ctx, path, O_RDONLY, 0);
    free(path);
    if (fd < 0)
        return errno == ENOENT ? AE_ENOENT : AE_EIO;
    uint8_t buf[44 + 8 * AE_META_MAX_ACKED + 1];
    size_t got = 0;
    int rc = 0;
    while (got < sizeof buf) {
        ssize_t r = s->os->pread(s->os->ctx, fd, buf + got, sizeof buf - got, (off_t)got);
        if (r < 0) {
            rc = AE_EIO;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    s->os->close(s->os->ctx, fd);
    if (rc)
        return rc;
    if (got < 44 || memcmp(buf, AE_META_MAGIC, 8) != 0 || ae_get32(buf + 8) != AE_FORMAT_VERSION)
        return AE_ECORRUPT;
    uint32_t n = ae_get32(buf + 12);
    if (n > AE_META_MAX_ACKED || got != 44 + 8 * (size_t)n)
        return AE_ECORRUPT;
    if (ae_get32(buf + 40 + 8 * n) != ae_crc32c(0, buf, 40 + 8 * n))
        return AE_ECORRUPT;
    m->epoch = ae_get64(buf + 16);
    m->floor = ae_get64(buf + 24);
    m->last = ae_get64(buf + 32);
    if (m->floor > UINT64_MAX / 2 || m->last > UINT64_MAX / 2)
        return AE_ECORRUPT;
    m->n = n;
    for (uint32_t i = 0; i < n; i++)
        m->acked[i] = ae_get64(buf + 40 + 8 * i);
    return 0;
}

/* Writes the meta file atomically. `durable` adds the fsyncs. Thread-agnostic: called by
 * open before the sync thread starts, then only by the sync thread. Returns 0 or AE_E*
 * with a message in err. */
static int meta_write(ae_store *s, const meta *m, bool durable, ae_err *err)
{
    uint8_t buf[44 + 8 * AE_META_MAX_ACKED];
    memcpy(buf, AE_META_MAGIC, 8);
    ae_put32(buf + 8, AE_FORMAT_VERSION);
    ae_put32(buf + 12, m->n);
    ae_put64(buf + 16, m->epoch);
    ae_put64(buf + 24, m->floor);
    ae_put64(buf + 32, m->last);
    for (uint32_t i = 0; i < m->n; i++)
        ae_put64(buf + 40 + 8 * i, m->acked[i]);
    size_t len = 40 + 8 * (size_t)m->n;
    ae_put32(buf + len, ae_crc32c(0, buf, len));
    len += 4;

    char *tmp = path_join(s->dir, AE_META_TMP_NAME), *dst = path_join(s->dir, AE_META_NAME);
    int rc = 0;
    const char *what = NULL;
    if (!tmp || !dst) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory writing meta");
        goto out;
    }
    int fd = s->os->open(s->os->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        what = "open";
        goto oserr;
    }
    if (write_all(s->os, fd, buf, len, 0) != 0) {
        what = "write";
    } else if (durable && s->os->fsync(s->os->ctx, fd) != 0) {
        what = "fsync";
    }
    int e = errno;
    s->os->close(s->os->ctx, fd);
    errno = e;
    if (what)
        goto oserr;
    if (s->os->rename(s->os->ctx, tmp, dst) != 0) {
        what = "rename";
        goto oserr;
    }
    if (durable && sync_dir(s->os, s->dir) != 0) {
        what = "fsync of directory after rename";
        goto oserr;
    }
    goto out;
oserr:
    rc = ae_err_set(err, errno_code(errno), "store: %s of %s failed: %s", what, tmp,
                    strerror(errno));
out:
    free(tmp);
    free(dst);
    return rc;
}

/* Snapshot of the ack state for the meta file. Caller holds s->mu (or is alone). */
static void meta_snapshot_locked(ae_store *s, meta *m)
{
    m->epoch = s->epoch;
    m->floor = s->acks.floor;
    m->last = s->written_seq;
    m->n = (uint32_t)ae_ackset_list(&s->acks, m->acked, AE_META_MAX_ACKED);
}

/* ==== segments ========================================================================= */

/* Creates a new empty segment whose first record will be first_seq and makes it the
 * active one. Nothing is fsynced here: the sync thread syncs the file and the directory
 * before any record in it counts as durable. Owner thread (or open). */
static int seg_create(ae_store *s, uint64_t first_seq, ae_err *err)
{
    ae_seg *g = calloc(1, sizeof *g);
    ae_seg_file *f = calloc(1, sizeof *f);
    char *path = seg_path(s, first_seq);
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
        rc = ae_err_set(err, errno_code(errno), "store: cannot create segment %s: %s", path,
                        strerror(errno));
        goto fail;
    }
    ae_seg_hdr_encode(hdr, s->epoch, first_seq, ae_now_ns());
    if (write_all(s->os, f->fd, hdr, sizeof hdr, 0) != 0) {
        int e = errno;
        rc = ae_err_set(err, errno_code(e), "store: cannot write header of segment %s: %s", path,
                        strerror(e));
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
    if (segs_push(s, g) != 0) {
        s->os->close(s->os->ctx, f->fd);
        s->os->unlink(s->os->ctx, path);
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory creating a segment");
        f->path = NULL;
        goto fail;
    }
    s->bytes += AE_SEG_HDR_SIZE;
    pthread_mutex_lock(&s->mu);
    s->dirsync = true;
    if (s->o.sync != AE_SYNC_NEVER && push_file(&s->dirty, &s->ndirty, &s->cdirty, f) == 0) {
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

/* Removes the oldest segment from the live list and hands its file to the sync thread for
 * unlinking. Its seqs must already be acked (or counted as discarded). Owner thread. */
static void seg_retire_oldest(ae_store *s)
{
    ae_seg *g = s->segs[0];
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof *s->segs);
    s->nsegs--;
    s->bytes -= g->size;
    pthread_mutex_lock(&s->mu);
    if (push_file(&s->dead, &s->ndead, &s->cdead, g->f) != 0) {
        /* Cannot queue: leave the file for the next open, which removes acked segments. */
        file_unref_locked(s, g->f);
    }
    if (s->thr_idle)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    seg_free(g);
}

/* After the floor moved: removes every non-active segment wholly at or below it. */
static void retire_acked(ae_store *s)
{
    while (s->nsegs > 1 && s->segs[0]->last_seq <= s->acks.floor)
        seg_retire_oldest(s);
}

/* ==== recovery (open) ================================================================== */

typedef struct namelist {
    uint64_t *seqs;
    size_t n, cap;
    bool tmp_meta;
} namelist;

static int collect_name(void *arg, const char *name)
{
    namelist *nl = arg;
    if (!strcmp(name, AE_META_TMP_NAME)) {
        nl->tmp_meta = true;
        return 0;
    }
    /* Segments are exactly 20 digits + ".seg"; anything else (quarantined files, editor
     * droppings) is left alone. */
    if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (nl->n == nl->cap) {
        size_t c = nl->cap ? nl->cap * 2 : 16;
        uint64_t *a = realloc(nl->seqs, c * sizeof *a);
        if (!a)
            return AE_ENOMEM;
        nl->seqs = a;
        nl->cap = c;
    }
    nl->seqs[nl->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Renames a segment that cannot be used to "<name>.corrupt" so it is kept for inspection
 * but never read again. */
static int quarantine(ae_store *s, const char *path, const char *why, ae_err *err)
{
    size_t n = strlen(path) + 9;
    char *to = malloc(n);
    if (!to)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    snprintf(to, n, "%s.corrupt", path);
    ae_log_error("store %s: segment %s %s; moved aside to %s", s->dir, path, why, to);
    int rc = 0;
    if (s->os->rename(s->os->ctx, path, to) != 0)
        rc = ae_err_set(err, AE_EIO, "store: cannot move bad segment %s aside: %s", path,
                        strerror(errno));
    free(to);
    s->st.quarantined_segments++;
    return rc;
}

/* Opens and verifies one segment file, cutting it at its first bad record. Sets *g to the
 * loaded segment, or NULL when the file was set aside or removed. `is_last` selects the
 * wording of the log line (a torn tail is normal after a crash; elsewhere it is damage). */
static int seg_load(ae_store *s, uint64_t name_seq, bool is_last, uint64_t prev_last,
                    bool *have_epoch, ae_seg **out, ae_err *err)
{
    *out = NULL;
    char *path = seg_path(s, name_seq);
    if (!path)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int rc = 0;
    ae_rbuf rb = {0};
    ae_seg *g = NULL;
    ae_seg_file *f = NULL;
    int fd = s->os->open(s->os->ctx, path, O_RDWR, 0);
    if (fd < 0) {
        rc = ae_err_set(err, AE_EIO, "store: cannot open segment %s: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (s->os->fstat(s->os->ctx, fd, &sb) != 0) {
        rc = ae_err_set(err, AE_EIO, "store: fstat of %s failed: %s", path, strerror(errno));
        goto out;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    const uint8_t *p;
    uint64_t epoch = 0, first = 0;
    const char *bad = NULL;
    if (fsize < AE_SEG_HDR_SIZE) {
        if (is_last) {
            /* A crash between creating the file and writing its header: nothing in it
             * could have been durable. */
            ae_log_warn("store %s: removing segment %s with a torn header (%" PRIu64
                        " bytes); it never held a durable record",
                        s->dir, path, fsize);
            s->st.recovery_dropped_bytes += fsize;
            if (s->os->unlink(s->os->ctx, path) != 0)
                rc = ae_err_set(err, AE_EIO, "store: cannot remove %s: %s", path, strerror(errno));
            goto out;
        }
        bad = "is shorter than a segment header";
    } else {
        rc = ae_rbuf_get(s->os, fd, &rb, 0, AE_SEG_HDR_SIZE, fsize, &p);
        if (rc == AE_EIO || rc == AE_ENOMEM) {
            rc = ae_err_set(err, rc, "store: cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        rc = 0;
        if (ae_seg_hdr_decode(p, &epoch, &first) != 0)
            bad = "has a bad header";
        else if (first != name_seq)
            bad = "has a header that does not match its name";
        else if (*have_epoch && epoch != s->epoch)
            bad = "belongs to another store (epoch differs)";
        else if (first <= prev_last)
            bad = "overlaps the previous segment";
    }
    if (bad) {
        rc = quarantine(s, path, bad, err);
        goto out;
    }
    if (!*have_epoch) {
        s->epoch = epoch;
        *have_epoch = true;
    }

    g = calloc(1, sizeof *g);
    f = calloc(1, sizeof *f);
    if (!g || !f) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory");
        goto out;
    }
    g->first_seq = first;
    g->last_seq = first - 1;
    uint64_t off = AE_SEG_HDR_SIZE;
    const char *why = NULL;
    while (off < fsize) {
        if (fsize - off < AE_REC_HDR_SIZE) {
            why = "partial record header";
            break;
        }
        rc = ae_rbuf_get(s->os, fd, &rb, off, AE_REC_HDR_SIZE, fsize, &p);
        if (rc)
            break;
        uint32_t len = ae_rec_len(p);
        if (!len) {
            why = "bad record length";
            break;
        }
        if (len > fsize - off) {
            why = "record runs past the end of the file";
            break;
        }
        rc = ae_rbuf_get(s->os, fd, &rb, off, len, fsize, &p);
        if (rc)
            break;
        ae_store_rec rec;
        if (ae_rec_decode(p, len, &rec) != 0) {
            why = "checksum or field mismatch";
            break;
        }
        if (rec.seq != g->last_seq + 1) {
            why = "sequence out of order";
            break;
        }
        if (seg_idx_add(g, rec.seq, off) != 0) {
            rc = AE_ENOMEM;
            break;
        }
        if (g->last_seq < g->first_seq)
            g->first_time = rec.time_ns;
        if (rec.time_ns > g->last_time)
            g->last_time = rec.time_ns;
        g->last_seq = rec.seq;
        off += len;
        s->st.recovered_records++;
    }
    if (rc) {
        rc = ae_err_set(err, rc == AE_ENOMEM ? AE_ENOMEM : AE_EIO,
                        "store: cannot read segment %s: %s", path, strerror(errno));
        goto out;
    }
    if (why) {
        uint64_t cut = fsize - off;
        if (is_last)
            ae_log_warn("store %s: segment %s: torn tail at offset %" PRIu64 " (%s): dropped "
                        "%" PRIu64 " bytes after seq %" PRIu64,
                        s->dir, path, off, why, cut, g->last_seq);
        else
            ae_log_error("store %s: segment %s: corrupt at offset %" PRIu64 " (%s): dropped "
                         "%" PRIu64 " bytes after seq %" PRIu64 " to the end of the segment",
                         s->dir, path, off, why, cut, g->last_seq);
        s->st.recovery_dropped_bytes += cut;
        if (s->os->ftruncate(s->os->ctx, fd, (off_t)off) != 0) {
            rc = ae_err_set(err, AE_EIO, "store: cannot truncate %s: %s", path, strerror(errno));
            goto out;
        }
    }
    g->size = off;
    f->fd = fd;
    f->refs = 1;
    f->path = path;
    g->f = f;
    *out = g;
    ae_rbuf_free(&rb);
    return 0;
out:
    ae_rbuf_free(&rb);
    if (fd >= 0)
        s->os->close(s->os->ctx, fd);
    free(path);
    free(f);
    seg_free(g);
    return rc;
}

static uint64_t random_epoch(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        /* No entropy source: mix clocks and pid; still distinct across wipes in practice. */
        v = (uint64_t)ae_now_ns() ^ ((uint64_t)ae_mono_ns() << 21) ^ ((uint64_t)getpid() << 40);
    }
    return v ? v : 1;
}

static void *sync_main(void *arg);

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
    if (!o->os)
        o->os = ae_os_posix();
    return 0;
}

static void store_free(ae_store *s)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        pthread_mutex_lock(&s->mu);
        file_unref_locked(s, s->segs[i]->f);
        pthread_mutex_unlock(&s->mu);
        seg_free(s->segs[i]);
    }
    for (size_t i = 0; i < s->ndirty; i++)
        file_unref_locked(s, s->dirty[i]);
    for (size_t i = 0; i < s->ndead; i++)
        file_unref_locked(s, s->dead[i]);
    free(s->segs);
    free(s->dirty);
    free(s->dead);
    ae_ackset_free(&s->acks);
    free(s->wbuf);
    if (s->efd >= 0)
        close(s->efd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done);
    free(s->dir);
    free(s);
}

int ae_store_open(const char *dir, const ae_store_opts *opts, ae_store **out, ae_err *err)
{
    *out = NULL;
    ae_store *s = calloc(1, sizeof *s);
    if (!s)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    s->efd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->done, &ca);
        pthread_cond_destroy(&s->wake);
        pthread_cond_init(&s->wake, &ca);
        pthread_condattr_destroy(&ca);
    }
    s->oldest_cache_floor = -1;
    namelist nl = {0};
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
        rc = ae_err_set(err, errno_code(errno), "store: cannot create directory %s: %s", dir,
                        strerror(errno));
        goto fail;
    }

    meta m = {0};
    int mrc = meta_read(s, &m);
    if (mrc == AE_ENOMEM || mrc == AE_EIO) {
        rc = ae_err_set(err, mrc, "store: cannot read %s/meta: %s", dir, strerror(errno));
        goto fail;
    }
    if (mrc == AE_ECORRUPT)
        ae_log_error("store %s: meta file is corrupt; rebuilding it from the segments", dir);
    bool have_meta = mrc == 0;
    bool have_epoch = have_meta;
    if (have_meta)
        s->epoch = m.epoch;

    if (s->os->listdir(s->os->ctx, dir, collect_name, &nl) != 0) {
        rc = ae_err_set(err, AE_EIO, "store: cannot list %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (nl.tmp_meta) {
        /* A meta write that crashed before its rename; the old meta is authoritative. */
        char *tmp = path_join(dir, AE_META_TMP_NAME);
        if (tmp)
            s->os->unlink(s->os->ctx, tmp);
        free(tmp);
    }
    if (nl.n)
        qsort(nl.seqs, nl.n, sizeof *nl.seqs, cmp_u64);

    uint64_t prev_last = 0;
    for (size_t i = 0; i < nl.n; i++) {
        ae_seg *g;
        rc = seg_load(s, nl.seqs[i], i + 1 == nl.n, prev_last, &have_epoch, &g, err);
        if (rc)
            goto fail;
        if (!g)
            continue;
        if (s->nsegs) {
            /* Records between two segments are gone (a corrupt tail was cut). */
            ae_seg *pg = s->segs[s->nsegs - 1];
            if (g->first_seq > pg->last_seq + 1) {
                uint64_t lost = g->first_seq - pg->last_seq - 1;
                if (pg->last_seq + 1 > m.floor || !have_meta) {
                    ae_log_error("store %s: seqs %" PRIu64 "..%" PRIu64 " are lost", dir,
                                 pg->last_seq + 1, g->first_seq - 1);
                    s->st.lost_records += lost;
                }
            }
        }
        prev_last = g->last_seq;
        s->bytes += g->size;
        if (segs_push(s, g) != 0) {
            pthread_mutex_lock(&s->mu);
            file_unref_locked(s, g->f);
            pthread_mutex_unlock(&s->mu);
            seg_free(g);
            rc = ae_err_set(err, AE_ENOMEM, "store: out of memory");
            goto fail;
        }
    }
    if (!have_epoch) {
        if (mrc == AE_ECORRUPT)
            ae_log_warn("store %s: no segment tells the old epoch; starting a new one", dir);
        s->epoch = random_epoch();
        ae_log_info("store %s: initialised with epoch %016" PRIx64, dir, s->epoch);
    }

    /* The floor, the next seq and the gaps. Seqs are never reused, so the next seq is past
     * everything any file remembers. */
    uint64_t floor = have_meta ? m.floor : 0;
    uint64_t last = have_meta ? m.last : 0;
    if (s->nsegs && s->segs[0]->first_seq - 1 > floor)
        floor = s->segs[0]->first_seq - 1;
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i]->last_seq > last)
            last = s->segs[i]->last_seq;
        if (s->segs[i]->first_seq - 1 > last)
            last = s->segs[i]->first_seq - 1;
    }
    if (floor > last)
        last = floor;
    s->next_seq = last + 1;
    ae_ackset_init(&s->acks, floor);
    for (size_t i = 1; i < s->nsegs; i++) {
        uint64_t lo = s->segs[i - 1]->last_seq + 1, hi = s->segs[i]->first_seq - 1;
        if (hi >= lo && ae_ackset_add_range(&s->acks, lo, hi) == UINT64_MAX) {
            rc = ae_err_set(err, AE_ENOMEM, "store: out of memory");
            goto fail;
        }
    }
    if (s->nsegs) {
        /* Seqs past the last record of the last segment up to `last` were never written
         * (or never durable); mark them so they are neither counted nor waited for. */
        uint64_t lo = s->segs[s->nsegs - 1]->last_seq + 1;
        if (last >= lo && ae_ackset_add_range(&s->acks, lo, last) == UINT64_MAX) {
            rc = ae_err_set(err, AE_ENOMEM, "store: out of memory");
            goto fail;
        }
    }
    if (have_meta) {
        for (uint32_t i = 0; i < m.n; i++)
            if (m.acked[i] <= last)
                ae_ackset_add(&s->acks, m.acked[i]);
    }
    /* Segments wholly acked whose removal did not happen before the last shutdown. */
    while (s->nsegs && s->segs[0]->last_seq <= s->acks.floor &&
           (s->nsegs > 1 || s->segs[0]->last_seq + 1 != s->next_seq)) {
        ae_seg *g = s->segs[0];
        ae_log_debug("store %s: removing acked segment %s", dir, g->f->path);
        if (s->os->unlink(s->os->ctx, g->f->path) != 0)
            ae_log_warn("store %s: cannot remove acked segment %s: %s", dir, g->f->path,
                        strerror(errno));
        s->bytes -= g->size;
        file_unref_locked(s, g->f);
        seg_free(g);
        memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof *s->segs);
        s->nsegs--;
    }
    if (s->nsegs == 0 || s->segs[s->nsegs - 1]->last_seq + 1 != s->next_seq) {
        if ((rc = seg_create(s, s->next_seq, err)) != 0)
            goto fail;
    }
    s->records = (s->next_seq - 1 - s->acks.floor) -
                 ae_ackset_count(&s->acks, s->acks.floor + 1, s->next_seq - 1);

    /* Make everything kept durable now: recovered bytes may still be only in the page cache
     * (a kill -9 leaves them there), and cursors will hand them out as durable. */
    if (s->o.sync != AE_SYNC_NEVER) {
        for (size_t i = 0; i < s->nsegs; i++) {
            if (s->os->fdatasync(s->os->ctx, s->segs[i]->f->fd) != 0) {
                rc = ae_err_set(err, errno_code(errno), "store: fdatasync of %s failed: %s",
                                s->segs[i]->f->path, strerror(errno));
                goto fail;
            }
        }
        if (sync_dir(s->os, dir) != 0) {
            rc = ae_err_set(err, errno_code(errno), "store: fsync of directory %s failed: %s", dir,
                            strerror(errno));
            goto fail;
        }
    }
    for (size_t i = 0; i < s->ndirty; i++) {
        s->dirty[i]->dirty = false;
        file_unref_locked(s, s->dirty[i]);
    }
    s->ndirty = 0;
    s->dirsync = false;
    s->written_seq = s->next_seq - 1;
    atomic_store(&s->durable_seq, s->next_seq - 1);
    {
        meta nm;
        meta_snapshot_locked(s, &nm);
        if ((rc = meta_write(s, &nm, s->o.sync != AE_SYNC_NEVER, err)) != 0)
            goto fail;
    }
    if (pthread_create(&s->thr, NULL, sync_main, s) != 0) {
        rc = ae_err_set(err, AE_ENOMEM, "store: cannot start the sync thread");
        goto fail;
    }
    s->thr_started = true;
    ae_log_info("store %s: opened: epoch %016" PRIx64 ", %zu segments, %" PRIu64
                " unacked records, seqs %" PRIu64 "..%" PRIu64,
                dir, s->epoch, s->nsegs, s->records, s->acks.floor + 1, s->next_seq - 1);
    free(nl.seqs);
    *out = s;
    return 0;
fail:
    free(nl.seqs);
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
        int rc = seg_create(s, s->next_seq, err);
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
        s->meta_dirty = true;
        pthread_mutex_unlock(&s->mu);
    }
    s->records -= unacked;
    s->st.discarded_records += unacked;
    s->st.discarded_bytes += g->size;
    if (unacked)
        ae_log_warn("store %s: %s: discarded segment %s with %" PRIu64
                    " unacked records (seqs %" PRIu64 "..%" PRIu64 ", %" PRIu64 " bytes)",
                    s->dir, why, g->f->path, unacked, g->first_seq, g->last_seq, g->size);
    seg_retire_oldest(s);
    retire_acked(s);
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
        s->meta_dirty = true;
    pthread_mutex_unlock(&s->mu);
    if (rc == AE_EEXIST)
        return AE_EEXIST;
    if (rc)
        return ae_err_set(err, rc, "store: out of memory recording an ack");
    s->records--;
    s->st.acked++;
    if (s->acks.floor != old_floor)
        retire_acked(s);
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
    if (!s->o.max_age_ns)
        return 0;
    if (!now_ns)
        now_ns = ae_now_ns();
    int64_t cutoff = now_ns - s->o.max_age_ns;
    while (s->nsegs && seg_count(s->segs[0]) && s->segs[0]->last_time < cutoff) {
        if (atomic_load(&s->failed) && s->nsegs == 1)
            break; /* cannot roll a failed store */
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
        if ((rc = seg_create(s, s->next_seq, err)) != 0) {
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
    if (seg_idx_add(g, s->next_seq, g->size) != 0)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int64_t t = m->time_ns ? m->time_ns : ae_now_ns();
    ae_rec_encode(s->wbuf, s->next_seq, t, m);
    if (write_all(s->os, g->f->fd, s->wbuf, len, g->size) != 0) {
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
            fail(s, AE_EIO, msg);
        }
        return ae_err_set(err, errno_code(e), "store: write to %s failed: %s%s", g->f->path,
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
        if (!g->f->dirty && push_file(&s->dirty, &s->ndirty, &s->cdirty, g->f) == 0) {
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

/* ==== sync thread ======================================================================
 * One loop: wait until something is due, take a snapshot of the work under the lock, do the
 * slow calls without it, publish the result. Order within a round matters: data files and
 * the directory are synced before the durable seq moves, and only then are retired files
 * unlinked (a new active segment must be on disk before the one it replaces disappears). */

static void timespec_at(struct timespec *ts, int64_t mono_ns)
{
    ts->tv_sec = (time_t)(mono_ns / AE_NS_PER_SEC);
    ts->tv_nsec = (long)(mono_ns % AE_NS_PER_SEC);
}

static void *sync_main(void *arg)
{
    ae_store *s = arg;
    const ae_os *os = s->os;
    int64_t next_sync = 0, next_meta = 0;
    ae_seg_file **files = NULL, **dead = NULL;
    meta *mt = malloc(sizeof *mt);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        int64_t now = ae_mono_ns();
        bool failed = atomic_load(&s->failed) != 0;
        bool dirty = s->ndirty > 0 || s->dirsync;
        bool flush_now = s->flush_gen_req != s->flush_gen_done;
        bool sync_due = !failed && s->o.sync != AE_SYNC_NEVER && dirty &&
                        (s->o.sync == AE_SYNC_ALWAYS || flush_now || s->stop || now >= next_sync);
        bool dead_due = !failed && s->ndead > 0;
        bool meta_due =
            !failed && mt && s->meta_dirty && (s->stop || flush_now || now >= next_meta);
        if (!sync_due && !dead_due && !meta_due) {
            if (flush_now) {
                /* Nothing (more) to do for the flush waiters: release them. */
                s->flush_gen_done = s->flush_gen_req;
                pthread_cond_broadcast(&s->done);
                continue;
            }
            if (s->stop)
                break;
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
            continue;
        }
        /* Snapshot. */
        size_t nf = 0, nd = 0;
        uint64_t target = s->written_seq;
        bool dsync = false, partial = false;
        if (sync_due) {
            ae_seg_file **nfiles = realloc(files, (s->ndirty + 1) * sizeof *files);
            if (nfiles) {
                files = nfiles;
                nf = s->ndirty;
                memcpy(files, s->dirty, nf * sizeof *files);
                for (size_t i = 0; i < nf; i++)
                    files[i]->dirty = false;
                s->ndirty = 0;
                dsync = s->dirsync;
                s->dirsync = false;
            } else {
                sync_due = false;
                partial = true;
            }
        }
        if (dead_due) {
            ae_seg_file **ndead = realloc(dead, (s->ndead + 1) * sizeof *dead);
            if (ndead) {
                dead = ndead;
                nd = s->ndead;
                memcpy(dead, s->dead, nd * sizeof *dead);
                s->ndead = 0;
            } else {
                partial = true;
            }
        }
        if (meta_due) {
            meta_snapshot_locked(s, mt);
            s->meta_dirty = false;
        }
        uint64_t gen = s->flush_gen_req;
        pthread_mutex_unlock(&s->mu);

        char msg[256];
        int code = 0;
        for (size_t i = 0; i < nf && !code; i++) {
            if (os->fdatasync(os->ctx, files[i]->fd) != 0) {
                code = errno_code(errno);
                snprintf(msg, sizeof msg, "fdatasync of %s failed: %s", files[i]->path,
                         strerror(errno));
            }
        }
        if (!code && dsync && sync_dir(os, s->dir) != 0) {
            code = errno_code(errno);
            snprintf(msg, sizeof msg, "fsync of directory %s failed: %s", s->dir, strerror(errno));
        }
        uint64_t errs = code ? 1 : 0;
        if (!code && sync_due) {
            if (target > atomic_load(&s->durable_seq))
                atomic_store(&s->durable_seq, target);
            notify(s);
        }
        if (!code && nd) {
            for (size_t i = 0; i < nd; i++) {
                if (os->unlink(os->ctx, dead[i]->path) != 0 && errno != ENOENT) {
                    ae_log_warn("store %s: cannot remove segment %s: %s (retried at next "
                                "open)",
                                s->dir, dead[i]->path, strerror(errno));
                    errs++;
                }
            }
            if (s->o.sync != AE_SYNC_NEVER && sync_dir(os, s->dir) != 0) {
                /* Not fatal: a removal lost to a power cut only brings back acked records. */
                ae_log_warn("store %s: fsync of directory after removals failed: %s", s->dir,
                            strerror(errno));
                errs++;
            }
        }
        bool meta_failed = false;
        if (!code && meta_due) {
            ae_err e = {0};
            if (meta_write(s, mt, s->o.sync != AE_SYNC_NEVER, &e) != 0) {
                /* Not fatal either: the log is intact, only the ack state is older; retry. */
                ae_log_warn("store %s: %s (ack state will be retried)", s->dir, e.msg);
                errs++;
                meta_failed = true;
            }
        }

        pthread_mutex_lock(&s->mu);
        s->sync_errors += errs;
        if (code)
            fail_locked(s, code, msg);
        for (size_t i = 0; i < nf; i++)
            file_unref_locked(s, files[i]);
        for (size_t i = 0; i < nd; i++)
            file_unref_locked(s, dead[i]);
        if (meta_due) {
            if (meta_failed && !s->stop)
                s->meta_dirty = true;
            next_meta = ae_mono_ns() + s->o.meta_interval_ns;
        }
        if (sync_due)
            next_sync = ae_mono_ns() + s->o.sync_interval_ns;
        /* Everything due when this round took its snapshot is done, flushes included. */
        if (!code && !partial)
            s->flush_gen_done = gen;
        pthread_cond_broadcast(&s->done);
    }
    s->thr_idle = false;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    free(files);
    free(dead);
    free(mt);
    return NULL;
}

/* ==== flush, close, stats ============================================================== */

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
    pthread_mutex_unlock(&s->mu);
    out->failed = atomic_load(&s->failed);
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

/* ==== lookups shared with cursor.c ===================================================== */

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
    if (seq < g->first_seq || seq > g->last_seq || !g->nidx)
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
        if (rc)
            return ae_err_set(err, rc == AE_ECORRUPT ? AE_ECORRUPT : AE_EIO,
                              "store: reading %s at %" PRIu64 ": %s", g->f->path, o,
                              strerror(errno));
        uint32_t len = ae_rec_len(p);
        if (!len || len > g->size - o)
            return ae_err_set(err, AE_ECORRUPT, "store: bad record length in %s at %" PRIu64,
                              g->f->path, o);
        o += len;
        s_at++;
    }
    *off = o;
    return 0;
}

void ae_store_lost_tail(ae_store *s, ae_seg *g, uint64_t seq, uint64_t off, const char *why)
{
    if (seq > g->last_seq)
        return;
    uint64_t n = g->last_seq - seq + 1;
    uint64_t acked = ae_ackset_count(&s->acks, seq, g->last_seq);
    ae_log_error("store %s: segment %s: record seq %" PRIu64 " at offset %" PRIu64
                 " is damaged (%s); %" PRIu64 " records from there to the segment's end are "
                 "lost",
                 s->dir, g->f->path, seq, off, why, n);
    pthread_mutex_lock(&s->mu);
    uint64_t fresh = ae_ackset_add_range(&s->acks, seq, g->last_seq);
    s->meta_dirty = true;
    pthread_mutex_unlock(&s->mu);
    if (fresh != UINT64_MAX) {
        s->records -= n - acked;
        s->st.lost_records += n - acked;
    }
    /* Nothing more may go into a segment with a hole in it. */
    if (g == s->segs[s->nsegs - 1])
        s->roll_pending = true;
    retire_acked(s);
}
