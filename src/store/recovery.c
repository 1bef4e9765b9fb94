/* Recovery: reading a store directory back at open. The meta file gives the epoch, the ack
 * floor and the high-water mark; every segment is verified record by record and cut at its
 * first bad record; from both follow the ack floor, the next seq and the seqs known to be
 * gone. The rules are in docs/store.md ("Recovery"); ae_store_open (store.c) calls
 * ae_store_recover before it creates the active segment, syncs and starts the sync thread.
 *
 * Sections: listing the directory | one segment | the whole directory */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

/* ==== listing the directory ============================================================ */

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

/* ==== one segment ====================================================================== */

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

/* What loading one segment file needs to know and tells. */
typedef struct seg_load_ctx {
    uint64_t name_seq;  /* the first seq its name says */
    bool is_last;       /* the last segment file of the directory */
    uint64_t prev_last; /* last seq of the segment before it (0: none) */
    bool *have_epoch;   /* in: s->epoch is known; out: set once a header told it */
    const char *path;
    int fd;
    uint64_t fsize;
    ae_rbuf rb;
} seg_load_ctx;

/* Checks the header of an opened segment. Returns 0 with *first (and the epoch learned),
 * or sets *bad to why the file cannot be used; AE_E* on I/O errors. */
static int seg_check_header(ae_store *s, seg_load_ctx *c, uint64_t *first, const char **bad,
                            ae_err *err)
{
    const uint8_t *p;
    uint64_t epoch = 0;
    int rc = ae_rbuf_get(s->os, c->fd, &c->rb, 0, AE_SEG_HDR_SIZE, c->fsize, &p);
    if (rc == AE_EIO || rc == AE_ENOMEM)
        return ae_err_set(err, rc, "store: cannot read %s: %s", c->path, strerror(errno));
    if (ae_seg_hdr_decode(p, &epoch, first) != 0)
        *bad = "has a bad header";
    else if (*first != c->name_seq)
        *bad = "has a header that does not match its name";
    else if (*c->have_epoch && epoch != s->epoch)
        *bad = "belongs to another store (epoch differs)";
    else if (*first <= c->prev_last)
        *bad = "overlaps the previous segment";
    if (!*bad && !*c->have_epoch) {
        s->epoch = epoch;
        *c->have_epoch = true;
    }
    return 0;
}

/* Reads the records of g from its header on, building the sparse index, and stops at the
 * first bad one. Returns 0 with *end (the offset after the last good record) and *why
 * (NULL when the whole file was good), or AE_EIO / AE_ENOMEM. */
static int seg_scan_records(ae_store *s, seg_load_ctx *c, ae_seg *g, uint64_t *end,
                            const char **why)
{
    uint64_t off = AE_SEG_HDR_SIZE;
    const uint8_t *p;
    int rc = 0;
    *why = NULL;
    while (off < c->fsize) {
        if (c->fsize - off < AE_REC_HDR_SIZE) {
            *why = "partial record header";
            break;
        }
        if ((rc = ae_rbuf_get(s->os, c->fd, &c->rb, off, AE_REC_HDR_SIZE, c->fsize, &p)) != 0)
            break;
        uint32_t len = ae_rec_len(p);
        if (!len) {
            *why = "bad record length";
            break;
        }
        if (len > c->fsize - off) {
            *why = "record runs past the end of the file";
            break;
        }
        if ((rc = ae_rbuf_get(s->os, c->fd, &c->rb, off, len, c->fsize, &p)) != 0)
            break;
        ae_store_rec rec;
        if (ae_rec_decode(p, len, &rec) != 0) {
            *why = "checksum or field mismatch";
            break;
        }
        if (rec.seq != g->last_seq + 1) {
            *why = "sequence out of order";
            break;
        }
        if ((rc = ae_seg_idx_add(g, rec.seq, off)) != 0)
            break;
        if (g->last_seq < g->first_seq)
            g->first_time = rec.time_ns;
        if (rec.time_ns > g->last_time)
            g->last_time = rec.time_ns;
        g->last_seq = rec.seq;
        off += len;
        s->st.recovered_records++;
    }
    *end = off;
    return rc == AE_ENOMEM ? AE_ENOMEM : rc ? AE_EIO : 0;
}

/* Opens and verifies one segment file, cutting it at its first bad record. Sets *out to the
 * loaded segment, or NULL when the file was set aside or removed. A bad record in the last
 * segment is a torn tail (normal after a crash); elsewhere it is damage. */
static int seg_load(ae_store *s, seg_load_ctx *c, ae_seg **out, ae_err *err)
{
    *out = NULL;
    char *path = ae_store_seg_path(s, c->name_seq);
    if (!path)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    c->path = path;
    int rc = 0;
    ae_seg *g = NULL;
    ae_seg_file *f = NULL;
    c->fd = s->os->open(s->os->ctx, path, O_RDWR, 0);
    struct stat sb;
    if (c->fd < 0) {
        rc = ae_err_set(err, AE_EIO, "store: cannot open segment %s: %s", path, strerror(errno));
        goto out;
    }
    if (s->os->fstat(s->os->ctx, c->fd, &sb) != 0) {
        rc = ae_err_set(err, AE_EIO, "store: fstat of %s failed: %s", path, strerror(errno));
        goto out;
    }
    c->fsize = (uint64_t)sb.st_size;
    uint64_t first = 0;
    const char *bad = NULL;
    if (c->fsize < AE_SEG_HDR_SIZE) {
        if (c->is_last) {
            /* A crash between creating the file and writing its header: nothing in it
             * could have been durable. */
            ae_log_warn("store %s: removing segment %s with a torn header (%" PRIu64
                        " bytes); it never held a durable record",
                        s->dir, path, c->fsize);
            s->st.recovery_dropped_bytes += c->fsize;
            if (s->os->unlink(s->os->ctx, path) != 0)
                rc = ae_err_set(err, AE_EIO, "store: cannot remove %s: %s", path, strerror(errno));
            goto out;
        }
        bad = "is shorter than a segment header";
    } else if ((rc = seg_check_header(s, c, &first, &bad, err)) != 0) {
        goto out;
    }
    if (bad) {
        rc = quarantine(s, path, bad, err);
        goto out;
    }

    g = calloc(1, sizeof *g);
    f = calloc(1, sizeof *f);
    if (!g || !f) {
        rc = ae_err_set(err, AE_ENOMEM, "store: out of memory");
        goto out;
    }
    g->first_seq = first;
    g->last_seq = first - 1;
    uint64_t off;
    const char *why;
    if ((rc = seg_scan_records(s, c, g, &off, &why)) != 0) {
        rc = ae_err_set(err, rc, "store: cannot read segment %s: %s", path, strerror(errno));
        goto out;
    }
    if (why) {
        uint64_t cut = c->fsize - off;
        if (c->is_last)
            ae_log_warn("store %s: segment %s: torn tail at offset %" PRIu64 " (%s): dropped "
                        "%" PRIu64 " bytes after seq %" PRIu64,
                        s->dir, path, off, why, cut, g->last_seq);
        else
            ae_log_error("store %s: segment %s: corrupt at offset %" PRIu64 " (%s): dropped "
                         "%" PRIu64 " bytes after seq %" PRIu64 " to the end of the segment",
                         s->dir, path, off, why, cut, g->last_seq);
        s->st.recovery_dropped_bytes += cut;
        if (s->os->ftruncate(s->os->ctx, c->fd, (off_t)off) != 0) {
            rc = ae_err_set(err, AE_EIO, "store: cannot truncate %s: %s", path, strerror(errno));
            goto out;
        }
    }
    g->size = off;
    f->fd = c->fd;
    f->refs = 1;
    f->path = path;
    g->f = f;
    *out = g;
    ae_rbuf_free(&c->rb);
    return 0;
out:
    ae_rbuf_free(&c->rb);
    if (c->fd >= 0)
        s->os->close(s->os->ctx, c->fd);
    free(path);
    free(f);
    ae_seg_free(g);
    return rc;
}

/* ==== the whole directory ============================================================== */

static uint64_t random_epoch(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        /* No entropy source: mix clocks and pid; still distinct across wipes in practice. */
        v = (uint64_t)ae_now_ns() ^ ((uint64_t)ae_mono_ns() << 21) ^ ((uint64_t)getpid() << 40);
    }
    return v ? v : 1;
}

/* Loads every listed segment in order into s->segs, counting the seqs lost between two
 * segments (a corrupt end was cut). */
static int load_segments(ae_store *s, const namelist *nl, const ae_meta *m, bool have_meta,
                         bool *have_epoch, ae_err *err)
{
    uint64_t prev_last = 0;
    for (size_t i = 0; i < nl->n; i++) {
        seg_load_ctx c = {.name_seq = nl->seqs[i],
                          .is_last = i + 1 == nl->n,
                          .prev_last = prev_last,
                          .have_epoch = have_epoch,
                          .fd = -1};
        ae_seg *g;
        int rc = seg_load(s, &c, &g, err);
        if (rc)
            return rc;
        if (!g)
            continue;
        if (s->nsegs) {
            /* Records between two segments are gone (a corrupt tail was cut). */
            ae_seg *pg = s->segs[s->nsegs - 1];
            if (g->first_seq > pg->last_seq + 1) {
                uint64_t lost = g->first_seq - pg->last_seq - 1;
                if (pg->last_seq + 1 > m->floor || !have_meta) {
                    ae_log_error("store %s: seqs %" PRIu64 "..%" PRIu64 " are lost", s->dir,
                                 pg->last_seq + 1, g->first_seq - 1);
                    s->st.lost_records += lost;
                }
            }
        }
        prev_last = g->last_seq;
        s->bytes += g->size;
        if (ae_store_segs_push(s, g) != 0) {
            ae_store_file_unref_locked(s, g->f);
            ae_seg_free(g);
            return ae_err_set(err, AE_ENOMEM, "store: out of memory");
        }
    }
    return 0;
}

/* The floor, the next seq and the gaps. Seqs are never reused, so the next seq is past
 * everything any file remembers. */
static int set_floor_and_next(ae_store *s, const ae_meta *m, bool have_meta, ae_err *err)
{
    uint64_t floor = have_meta ? m->floor : 0;
    uint64_t last = have_meta ? m->last : 0;
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
        if (hi >= lo && ae_ackset_add_range(&s->acks, lo, hi) == UINT64_MAX)
            return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    }
    if (s->nsegs) {
        /* Seqs past the last record of the last segment up to `last` were never written
         * (or never durable); mark them so they are neither counted nor waited for. */
        uint64_t lo = s->segs[s->nsegs - 1]->last_seq + 1;
        if (last >= lo && ae_ackset_add_range(&s->acks, lo, last) == UINT64_MAX)
            return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    }
    if (have_meta) {
        for (uint32_t i = 0; i < m->n; i++)
            if (m->acked[i] <= last)
                ae_ackset_add(&s->acks, m->acked[i]);
    }
    return 0;
}

/* Segments wholly acked whose removal did not happen before the last shutdown. */
static void remove_acked_leftovers(ae_store *s)
{
    while (s->nsegs && s->segs[0]->last_seq <= s->acks.floor &&
           (s->nsegs > 1 || s->segs[0]->last_seq + 1 != s->next_seq)) {
        ae_seg *g = s->segs[0];
        ae_log_debug("store %s: removing acked segment %s", s->dir, g->f->path);
        if (s->os->unlink(s->os->ctx, g->f->path) != 0)
            ae_log_warn("store %s: cannot remove acked segment %s: %s", s->dir, g->f->path,
                        strerror(errno));
        s->bytes -= g->size;
        ae_store_file_unref_locked(s, g->f);
        ae_seg_free(g);
        memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof *s->segs);
        s->nsegs--;
    }
}

int ae_store_recover(ae_store *s, ae_err *err)
{
    const char *dir = s->dir;
    namelist nl = {0};
    ae_meta *m = calloc(1, sizeof *m);
    int rc = 0;
    if (!m)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int mrc = ae_meta_read(s, m);
    if (mrc == AE_ENOMEM || mrc == AE_EIO) {
        rc = ae_err_set(err, mrc, "store: cannot read %s/meta: %s", dir, strerror(errno));
        goto out;
    }
    if (mrc == AE_ECORRUPT)
        ae_log_error("store %s: meta file is corrupt; rebuilding it from the segments", dir);
    bool have_meta = mrc == 0;
    bool have_epoch = have_meta;
    if (have_meta)
        s->epoch = m->epoch;

    if (s->os->listdir(s->os->ctx, dir, collect_name, &nl) != 0) {
        rc = ae_err_set(err, AE_EIO, "store: cannot list %s: %s", dir, strerror(errno));
        goto out;
    }
    if (nl.tmp_meta) {
        /* A meta write that crashed before its rename; the old meta is authoritative. */
        char *tmp = ae_store_path(s, AE_META_TMP_NAME);
        if (tmp)
            s->os->unlink(s->os->ctx, tmp);
        free(tmp);
    }
    if (nl.n)
        qsort(nl.seqs, nl.n, sizeof *nl.seqs, cmp_u64);
    if ((rc = load_segments(s, &nl, m, have_meta, &have_epoch, err)) != 0)
        goto out;
    if (!have_epoch) {
        if (mrc == AE_ECORRUPT)
            ae_log_warn("store %s: no segment tells the old epoch; starting a new one", dir);
        s->epoch = random_epoch();
        ae_log_info("store %s: initialised with epoch %016" PRIx64, dir, s->epoch);
    }
    if ((rc = set_floor_and_next(s, m, have_meta, err)) != 0)
        goto out;
    remove_acked_leftovers(s);
out:
    free(nl.seqs);
    free(m);
    return rc;
}

bool ae_store_needs_segment(const ae_store *s)
{
    return s->nsegs == 0 || s->segs[s->nsegs - 1]->last_seq + 1 != s->next_seq;
}
