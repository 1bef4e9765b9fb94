/* The durable log's shared plumbing, below everything else in src/store: paths, error
 * codes, the notify fd and the failed state, waking the sync thread for the meta file, the
 * segment files' reference counts, segments in memory (sparse index, damaged ranges) and the
 * live segment list with the removal of acked segments. store.c, open.c, append.c, read.c,
 * recovery.c, meta.c, sync.c, cursor.c and deadletter.c build on it; it calls none of them. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

bool ae_store_is_full_errno(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

int ae_store_errcode(int e)
{
    return ae_store_is_full_errno(e) ? AE_ENOSPC : AE_EIO;
}

char *ae_store_path(const ae_store *s, const char *name)
{
    size_t n = strlen(s->dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", s->dir, name);
    return p;
}

char *ae_store_seg_path(const ae_store *s, uint64_t first_seq)
{
    char name[40];
    snprintf(name, sizeof name, "%020" PRIu64 ".seg", first_seq);
    return ae_store_path(s, name);
}

void ae_store_notify(ae_store *s)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already nonzero, which is all a watcher needs. */
    ssize_t r = write(s->efd, &one, sizeof one);
    (void)r;
}

int ae_store_fail_locked(ae_store *s, int code, const char *msg)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&s->failed, &expect, code)) {
        snprintf(s->fail_msg, sizeof s->fail_msg, "%s", msg);
        ae_log_error("store %s: %s; the store stops accepting appends until reopened", s->dir, msg);
    }
    pthread_cond_broadcast(&s->done);
    ae_store_notify(s);
    return code;
}

int ae_store_fail(ae_store *s, int code, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    ae_store_fail_locked(s, code, msg);
    pthread_mutex_unlock(&s->mu);
    return code;
}

void ae_store_meta_dirty_locked(ae_store *s)
{
    /* A sync thread asleep without a deadline would not look again until something else
     * woke it, and the change would reach the disk only then (or at close). */
    if (!s->meta_dirty && s->thr_idle)
        pthread_cond_signal(&s->wake);
    s->meta_dirty = true;
}

void ae_store_file_unref_locked(ae_store *s, ae_seg_file *f)
{
    if (--f->refs > 0)
        return;
    s->os->close(s->os->ctx, f->fd);
    free(f->path);
    free(f);
}

int ae_store_push_file(ae_seg_file ***arr, size_t *n, size_t *cap, ae_seg_file *f)
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

void ae_seg_free(ae_seg *g)
{
    if (!g)
        return;
    free(g->idx);
    free(g->holes);
    free(g);
}

int ae_seg_idx_put(ae_seg *g, uint64_t seq, uint64_t off)
{
    size_t i = g->nidx;
    while (i > 0 && g->idx[i - 1].seq >= seq)
        i--;
    if (i < g->nidx && g->idx[i].seq == seq) {
        g->idx[i].off = off;
        return 0;
    }
    if (g->nidx == g->cidx) {
        size_t c = g->cidx ? g->cidx * 2 : 4;
        ae_seg_idx *x = realloc(g->idx, c * sizeof *x);
        if (!x)
            return AE_ENOMEM;
        g->idx = x;
        g->cidx = c;
    }
    memmove(g->idx + i + 1, g->idx + i, (g->nidx - i) * sizeof *g->idx);
    g->idx[i].seq = seq;
    g->idx[i].off = off;
    g->nidx++;
    return 0;
}

int ae_seg_idx_add(ae_seg *g, uint64_t seq, uint64_t off)
{
    if (g->nidx && off < g->idx[g->nidx - 1].off + AE_IDX_STRIDE)
        return 0;
    return ae_seg_idx_put(g, seq, off);
}

int ae_seg_hole_add(ae_seg *g, const ae_seg_hole *h)
{
    ae_seg_hole *a = realloc(g->holes, (g->nholes + 1) * sizeof *a);
    if (!a)
        return AE_ENOMEM;
    g->holes = a;
    size_t i = g->nholes;
    while (i > 0 && a[i - 1].bad_off > h->bad_off)
        i--;
    memmove(a + i + 1, a + i, (g->nholes - i) * sizeof *a);
    a[i] = *h;
    g->nholes++;
    return 0;
}

const ae_seg_hole *ae_seg_hole_at(const ae_seg *g, uint64_t off)
{
    for (size_t i = 0; i < g->nholes; i++)
        if (g->holes[i].bad_off == off)
            return &g->holes[i];
    return NULL;
}

const ae_seg_hole *ae_seg_hole_of(const ae_seg *g, uint64_t seq)
{
    for (size_t i = 0; i < g->nholes; i++)
        if (g->holes[i].lo <= seq && seq <= g->holes[i].hi)
            return &g->holes[i];
    return NULL;
}

int ae_store_segs_push(ae_store *s, ae_seg *g)
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

/* Removes the oldest segment from the live list and hands its file to the sync thread for
 * unlinking. Its seqs must already be acked (or counted as discarded). Owner thread. */
void ae_store_retire_oldest(ae_store *s)
{
    ae_seg *g = s->segs[0];
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof *s->segs);
    s->nsegs--;
    s->bytes -= g->size;
    pthread_mutex_lock(&s->mu);
    if (ae_store_push_file(&s->dead, &s->ndead, &s->cdead, g->f) != 0) {
        /* Cannot queue: leave the file for the next open, which removes acked segments. */
        ae_store_file_unref_locked(s, g->f);
    }
    if (s->thr_idle)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    ae_seg_free(g);
    s->ro_retry_at = 0; /* the removal frees space: a read-only store tries again at once */
}

/* After the floor moved: removes every non-active segment wholly at or below it. */
void ae_store_retire_acked(ae_store *s)
{
    while (s->nsegs > 1 && s->segs[0]->last_seq <= s->acks.floor)
        ae_store_retire_oldest(s);
}
