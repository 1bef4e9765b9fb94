/* Recovery: reading a store directory back at open. The meta file gives the epoch, the ack
 * floor and the high-water mark; every segment is verified record by record and cut at its
 * first bad record; from both follow the ack floor, the next seq and the seqs known to be
 * gone. The rules are in docs/store.md ("Recovery"); ae_store_open (open.c) calls
 * ae_store_recover before it creates the active segment, syncs and starts the sync thread.
 *
 * After open, a cursor that finds a damaged record calls ae_store_damage (the last section),
 * which applies the same salvage rule to the live segment.
 *
 * Sections: listing the directory | one segment | the whole directory | damage found after
 * open */
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
    bool tmp_files; /* meta.tmp or secret.tmp: a replacement that crashed before its rename */
} namelist;

static int collect_name(void *arg, const char *name)
{
    namelist *nl = arg;
    if (!strcmp(name, AE_META_TMP_NAME) || !strcmp(name, AE_SECRET_TMP_NAME)) {
        nl->tmp_files = true;
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
    if (s->os->rename(s->os->ctx, path, to) != 0) {
        if (ae_store_is_full_errno(errno))
            ae_log_error("store %s: cannot move %s aside now (%s); it is skipped and moved "
                         "at the next open",
                         s->dir, path, strerror(errno));
        else
            rc = ae_err_set(err, AE_EIO, "store: cannot move bad segment %s aside: %s", path,
                            strerror(errno));
    }
    free(to);
    s->st.quarantined_segments++;
    return rc;
}

/* What loading one segment file needs to know and tells. */
typedef struct seg_load_ctx {
    uint64_t name_seq;  /* the first seq its name says */
    bool is_last;       /* the last segment file of the directory */
    uint64_t prev_last; /* last seq of the segment before it (0: none) */
    uint64_t max_seq;   /* no record in it can have a higher seq (the next file's name) */
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
    else if (c->prev_last && *first - c->prev_last > AE_RECOVERY_MAX_GAP)
        *bad = "starts implausibly far after the previous segment";
    if (!*bad && !*c->have_epoch) {
        s->epoch = epoch;
        *c->have_epoch = true;
    }
    return 0;
}

/* Reads and verifies the record at off, which should be seq `want`. Returns 0 with *rec and
 * *len, or 0 with *bad saying what is wrong with it; AE_EIO / AE_ENOMEM. */
static int read_one(ae_store *s, seg_load_ctx *c, uint64_t off, uint64_t want, ae_store_rec *rec,
                    uint32_t *len, const char **bad)
{
    const uint8_t *p;
    *bad = NULL;
    if (c->fsize - off < AE_REC_HDR_SIZE) {
        *bad = "partial record header";
        return 0;
    }
    int rc = ae_rbuf_get(s->os, c->fd, &c->rb, off, AE_REC_HDR_SIZE, c->fsize, &p);
    if (rc)
        return rc == AE_ENOMEM ? AE_ENOMEM : AE_EIO;
    *len = ae_rec_len(p);
    if (!*len) {
        *bad = "bad record length";
        return 0;
    }
    if (*len > c->fsize - off) {
        *bad = "record runs past the end of the file";
        return 0;
    }
    if ((rc = ae_rbuf_get(s->os, c->fd, &c->rb, off, *len, c->fsize, &p)) != 0)
        return rc == AE_ENOMEM ? AE_ENOMEM : AE_EIO;
    if (ae_rec_decode(p, *len, rec) != 0)
        *bad = "checksum or field mismatch";
    else if (rec->seq != want)
        *bad = "sequence out of order";
    return 0;
}

/* Damage at off in g: looks for the next valid record. When there is one, records the hole
 * and moves g and *off on to it (returns 0); AE_ENOENT when the damage runs to the end. */
static int salvage(ae_store *s, seg_load_ctx *c, ae_seg *g, uint64_t *off, const char *bad)
{
    uint64_t at, q;
    int rc =
        ae_rec_scan(s->os, c->fd, &c->rb, *off, c->fsize, g->last_seq + 1, c->max_seq, &at, &q);
    if (rc)
        return rc == AE_ENOENT || rc == AE_ENOMEM ? rc : AE_EIO;
    ae_seg_hole h = {.lo = g->last_seq + 1, .hi = q - 1, .bad_off = *off, .resume_off = at};
    if (ae_seg_hole_add(g, &h) != 0 || ae_seg_idx_put(g, q, at) != 0)
        return AE_ENOMEM;
    ae_log_error("store %s: segment %s: corrupt at offset %" PRIu64 " (%s): skipped %" PRIu64
                 " bytes to the next valid record, seq %" PRIu64 " at offset %" PRIu64,
                 s->dir, c->path, *off, bad, at - *off, q, at);
    s->st.recovery_dropped_bytes += at - *off;
    g->last_seq = q - 1;
    *off = at;
    return 0;
}

/* Reads the records of g from its header on, building the sparse index. Damage followed by
 * valid records becomes a hole (salvage); damage that runs to the end stops the scan.
 * Returns 0 with *end (the offset after the last good record) and *why (NULL when the file
 * ended cleanly), or AE_EIO / AE_ENOMEM. */
static int seg_scan_records(ae_store *s, seg_load_ctx *c, ae_seg *g, uint64_t *end,
                            const char **why)
{
    uint64_t off = AE_SEG_HDR_SIZE;
    bool any = false;
    int rc = 0;
    *why = NULL;
    while (off < c->fsize) {
        ae_store_rec rec;
        uint32_t len = 0;
        const char *bad;
        if ((rc = read_one(s, c, off, g->last_seq + 1, &rec, &len, &bad)) != 0)
            break;
        if (bad) {
            rc = salvage(s, c, g, &off, bad);
            if (rc == AE_ENOENT) {
                *why = bad;
                rc = 0;
                break;
            }
            if (rc)
                break;
            continue;
        }
        if ((rc = ae_seg_idx_add(g, rec.seq, off)) != 0)
            break;
        if (!any)
            g->first_time = rec.time_ns;
        any = true;
        if (rec.time_ns > g->last_time)
            g->last_time = rec.time_ns;
        g->last_seq = rec.seq;
        off += len;
        s->st.recovered_records++;
    }
    *end = off;
    return rc;
}

/* Opens and verifies one segment file, salvaging past damage and cutting off damage that runs
 * to its end. Sets *out to the loaded segment, or NULL when the file was set aside or
 * removed. Damage at the end of the last segment is a torn tail (normal after a crash);
 * at the end of any other segment it is corruption. */
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

/* What recovery learned beyond the segments themselves. */
typedef struct recov {
    ae_meta *m; /* as read; version 1 or 2 */
    bool have_meta;
    bool have_epoch;
    uint64_t last_hint; /* seqs up to here may have been handed out (quarantined files) */
} recov;

/* Loads every listed segment in order into s->segs. */
static int load_segments(ae_store *s, const namelist *nl, recov *rv, ae_err *err)
{
    uint64_t prev_last = 0;
    for (size_t i = 0; i < nl->n; i++) {
        seg_load_ctx c = {.name_seq = nl->seqs[i],
                          .is_last = i + 1 == nl->n,
                          .prev_last = prev_last,
                          .max_seq = i + 1 < nl->n ? nl->seqs[i + 1] - 1 : UINT64_MAX / 2,
                          .have_epoch = &rv->have_epoch,
                          .fd = -1};
        ae_seg *g;
        int rc = seg_load(s, &c, &g, err);
        if (rc)
            return rc;
        if (!g) {
            /* Set aside (or an empty torn header): its seqs may have been handed out, as
             * many as its bytes could hold (and fewer than the next file's name says), so
             * they are never handed out again. */
            uint64_t most =
                c.fsize > AE_SEG_HDR_SIZE ? (c.fsize - AE_SEG_HDR_SIZE) / AE_REC_MIN_SIZE : 0;
            uint64_t top = c.name_seq - 1 + (most < c.max_seq ? most : c.max_seq);
            if (top > c.max_seq)
                top = c.max_seq;
            if (top > rv->last_hint)
                rv->last_hint = top;
            continue;
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

/* Formats what part of seqs lo..hi is lost: `fresh` of them were not acked before. */
static void describe_lost(char *buf, size_t cap, uint64_t lo, uint64_t hi, uint64_t fresh)
{
    uint64_t n = hi - lo + 1;
    int k = lo == hi
                ? snprintf(buf, cap, "seq %" PRIu64 " (1 record) is lost", lo)
                : snprintf(buf, cap, "seqs %" PRIu64 "..%" PRIu64 " (%" PRIu64 " records) are lost",
                           lo, hi, n);
    if (fresh < n && k > 0 && (size_t)k < cap)
        snprintf(buf + k, cap - (size_t)k,
                 "; %" PRIu64 " of them unacked, the other %" PRIu64 " were already acked", fresh,
                 n - fresh);
}

/* Marks seqs lo..hi acked because they are gone; those not acked before are lost records,
 * counted and logged as an error saying `where`. Returns 0 or AE_ENOMEM. */
static int account_lost(ae_store *s, uint64_t lo, uint64_t hi, const char *where)
{
    if (hi < lo)
        return 0;
    uint64_t fresh = ae_ackset_add_range(&s->acks, lo, hi);
    if (fresh == UINT64_MAX)
        return AE_ENOMEM;
    s->st.lost_records += fresh;
    if (fresh) {
        char what[200];
        describe_lost(what, sizeof what, lo, hi, fresh);
        ae_log_error("store %s: %s %s", s->dir, what, where);
    }
    return 0;
}

/* The seqs past the last record (lo on): never written, or never durable (a torn tail) --
 * except those the meta file had seen durable, which damage destroyed. */
static int account_tail(ae_store *s, const recov *rv, uint64_t lo, uint64_t last)
{
    char where[600];
    uint64_t durable = rv->have_meta ? rv->m->durable : 0;
    if (durable > last)
        durable = last;
    if (s->nsegs)
        snprintf(where, sizeof where,
                 "from the end of segment %s although the meta file had them durable",
                 s->segs[s->nsegs - 1]->f->path);
    else
        snprintf(where, sizeof where, "(no segment file is left)");
    int rc = account_lost(s, lo, durable, where);
    if (!rc && last >= lo &&
        ae_ackset_add_range(&s->acks, lo > durable ? lo : durable + 1, last) == UINT64_MAX)
        rc = AE_ENOMEM;
    return rc;
}

/* Every seq that is gone is marked acked; those not acked before are lost, counted and
 * logged: seqs before the first segment (its files are gone: the meta file's floor says
 * they were not all acked), holes, gaps between segments, and the tail. */
static int account_gone(ae_store *s, const recov *rv, uint64_t last)
{
    char where[600];
    int rc = 0;
    if (!s->nsegs)
        return account_tail(s, rv, s->acks.floor + 1, last);
    snprintf(where, sizeof where, "before the first segment %s (their segment files are gone)",
             s->segs[0]->f->path);
    if (rv->have_meta)
        rc = account_lost(s, s->acks.floor + 1, s->segs[0]->first_seq - 1, where);
    for (size_t i = 0; i < s->nsegs && !rc; i++) {
        ae_seg *g = s->segs[i];
        snprintf(where, sizeof where, "to damage in segment %s", g->f->path);
        for (size_t k = 0; k < g->nholes && !rc; k++)
            rc = account_lost(s, g->holes[k].lo, g->holes[k].hi, where);
        if (i > 0 && !rc) {
            snprintf(where, sizeof where, "between segments %s and %s (damage or a file set aside)",
                     s->segs[i - 1]->f->path, g->f->path);
            rc = account_lost(s, s->segs[i - 1]->last_seq + 1, g->first_seq - 1, where);
        }
    }
    return rc ? rc : account_tail(s, rv, s->segs[s->nsegs - 1]->last_seq + 1, last);
}

/* The floor, the next seq and what is gone. Seqs are never reused, so the next seq is past
 * everything any file remembers. */
static int set_floor_and_next(ae_store *s, const recov *rv, ae_err *err)
{
    const ae_meta *m = rv->m;
    uint64_t floor = rv->have_meta ? m->floor : 0;
    uint64_t last = rv->have_meta ? m->last : 0;
    if (rv->last_hint > last)
        last = rv->last_hint;
    /* Without a meta file nothing is known about seqs before the first segment. */
    if (!rv->have_meta && s->nsegs)
        floor = s->segs[0]->first_seq - 1;
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i]->last_seq > last)
            last = s->segs[i]->last_seq;
        if (s->segs[i]->first_seq - 1 > last)
            last = s->segs[i]->first_seq - 1;
    }
    if (floor > last)
        last = floor;
    if (s->nsegs && last - s->segs[s->nsegs - 1]->last_seq > AE_RECOVERY_MAX_GAP) {
        /* Only a damaged or foreign meta file says so: no store hands out that many seqs
         * without writing them. */
        ae_log_error("store %s: the meta file's last seq %" PRIu64 " is implausibly far past the "
                     "last record (%" PRIu64 "); ignoring it",
                     s->dir, last, s->segs[s->nsegs - 1]->last_seq);
        last = s->segs[s->nsegs - 1]->last_seq;
        if (floor > last)
            floor = last;
    }
    s->next_seq = last + 1;
    /* The acks the meta file kept come first, so that what was acked is never called lost. */
    ae_ackset_init(&s->acks, floor);
    if (rv->have_meta) {
        for (size_t i = 0; i < m->nacked; i++) /* version 1 */
            if (m->acked[i] <= last)
                ae_ackset_add(&s->acks, m->acked[i]);
        if (m->nw && ae_ackset_or_words(&s->acks, m->base, m->words, m->nw, last) != 0)
            return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    }
    if (account_gone(s, rv, last) != 0)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
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

int ae_store_recover(ae_store *s, bool *fresh_dir, ae_err *err)
{
    const char *dir = s->dir;
    namelist nl = {0};
    recov rv = {.m = calloc(1, sizeof *rv.m)};
    int rc = 0;
    if (!rv.m)
        return ae_err_set(err, AE_ENOMEM, "store: out of memory");
    int mrc = ae_meta_read(s, rv.m);
    if (mrc == AE_ENOMEM || mrc == AE_EIO) {
        rc = ae_err_set(err, mrc, "store: cannot read %s/meta: %s", dir, strerror(errno));
        goto out;
    }
    if (mrc == AE_ECORRUPT)
        ae_log_error("store %s: meta file is corrupt; rebuilding it from the segments", dir);
    rv.have_meta = rv.have_epoch = mrc == 0;
    if (rv.have_meta)
        s->epoch = rv.m->epoch;

    if (s->os->listdir(s->os->ctx, dir, collect_name, &nl) != 0 &&
        !(errno == ENOENT && s->ro_need_dir)) { /* no directory: nothing to recover */
        rc = ae_err_set(err, AE_EIO, "store: cannot list %s: %s", dir, strerror(errno));
        goto out;
    }
    if (nl.tmp_files) {
        /* Writes that crashed before their rename; the old files are authoritative. */
        const char *names[] = {AE_META_TMP_NAME, AE_SECRET_TMP_NAME};
        for (int i = 0; i < 2; i++) {
            char *tmp = ae_store_path(s, names[i]);
            if (tmp)
                s->os->unlink(s->os->ctx, tmp);
            free(tmp);
        }
    }
    if (nl.n)
        qsort(nl.seqs, nl.n, sizeof *nl.seqs, cmp_u64);
    if ((rc = load_segments(s, &nl, &rv, err)) != 0)
        goto out;
    *fresh_dir = !rv.have_epoch;
    if (!rv.have_epoch) {
        if (mrc == AE_ECORRUPT)
            ae_log_warn("store %s: no segment tells the old epoch; starting a new one", dir);
        s->epoch = random_epoch();
        ae_log_info("store %s: initialised with epoch %016" PRIx64, dir, s->epoch);
    }
    if ((rc = set_floor_and_next(s, &rv, err)) != 0)
        goto out;
    remove_acked_leftovers(s);
    /* The owner's note of the last meta write that reached the disk. */
    s->note = rv.m->note;
    rv.m->note = NULL;
    s->note_gen = s->note ? s->note->gen : 0;
    atomic_store(&s->note_durable_gen, s->note_gen);
out:
    free(nl.seqs);
    ae_meta_clear_locked(rv.m);
    free(rv.m);
    return rc;
}

bool ae_store_needs_segment(const ae_store *s)
{
    return s->nsegs == 0 || s->segs[s->nsegs - 1]->last_seq + 1 != s->next_seq;
}

/* ==== damage found after open ========================================================== */

int ae_store_damage(ae_store *s, ae_seg *g, uint64_t seq, uint64_t off, ae_rbuf *rb,
                    const char *why)
{
    uint64_t at = g->size, q = g->last_seq + 1;
    int rc = ae_rec_scan(s->os, g->f->fd, rb, off, g->size, seq, g->last_seq, &at, &q);
    if (rc == AE_ECORRUPT) /* the file is shorter than it should be: the rest is gone */
        rc = AE_ENOENT;
    if (rc && rc != AE_ENOENT)
        return rc;
    bool to_end = rc == AE_ENOENT;
    ae_seg_hole h = {.lo = seq,
                     .hi = to_end ? g->last_seq : q - 1,
                     .bad_off = off,
                     .resume_off = to_end ? g->size : at};
    if (ae_seg_hole_add(g, &h) != 0 || (!to_end && ae_seg_idx_put(g, q, at) != 0))
        return AE_ENOMEM;
    pthread_mutex_lock(&s->mu);
    uint64_t fresh = ae_ackset_add_range(&s->acks, h.lo, h.hi);
    ae_store_meta_dirty_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (fresh == UINT64_MAX)
        return AE_ENOMEM;
    s->records -= fresh;
    s->st.lost_records += fresh;
    char what[200], next[120];
    if (h.lo <= h.hi)
        describe_lost(what, sizeof what, h.lo, h.hi, fresh);
    else
        snprintf(what, sizeof what, "no record is lost");
    if (to_end)
        snprintf(next, sizeof next, "nothing valid follows it in the segment");
    else
        snprintf(next, sizeof next, "reading on from seq %" PRIu64 " at offset %" PRIu64, q, at);
    ae_log_error("store %s: segment %s: record seq %" PRIu64 " at offset %" PRIu64
                 " is damaged (%s); %s; %s",
                 s->dir, g->f->path, seq, off, why, what, next);
    /* Nothing more may go behind damage at the end of the active segment. */
    if (to_end && g == s->segs[s->nsegs - 1])
        s->roll_pending = true;
    ae_store_retire_acked(s);
    return 0;
}
