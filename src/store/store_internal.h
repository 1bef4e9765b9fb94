/* Private state shared by the store's files. Nothing here is API (store.h is).
 *
 *   open.c        open and close
 *   append.c      append
 *   store.c       acks and bounds, read-only mode, stats, new segments
 *   read.c        record lookups by seq (for cursor.c and deadletter.c)
 *   base.c        paths, error codes, the notify fd and failed state, file references,
 *                 segments in memory and the live segment list (below all the others)
 *   recovery.c    reading a directory back at open (verify, salvage, floor, next seq,
 *                 losses) and damage found after open
 *   sync.c        the sync thread (fsyncs, removals, meta and secret writes), ae_store_flush
 *   meta.c        the meta file (ack floor and bitmap, high-water marks, note), the secret
 *   deadletter.c  setting records aside into deadletter.log
 *   cursor.c      reading the backlog
 *   segment.c     the format on disk (segment.h); ackset.c the ack bitmap (ackset.h)
 *
 * Threads. The owner thread (the broker loop) owns everything except the fields marked
 * [mu], which it shares with the sync thread under st->mu. Fields marked [atomic] may be
 * read from any thread without the lock. Open runs before the sync thread starts and
 * close after it stopped, so both may touch anything. Each function below says which
 * thread calls it. */
#ifndef AERIE_STORE_STORE_INTERNAL_H
#define AERIE_STORE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/ackset.h"
#include "store/segment.h"
#include "store/store.h"

#define AE_IDX_STRIDE (64u << 10) /* one sparse-index entry per this many segment bytes */
/* The widest run of seqs recovery marks acked in the middle of the log (8 MiB of bitmap);
 * anything wider can only come from a damaged or foreign file and is refused. */
#define AE_RECOVERY_MAX_GAP (1ull << 26)
#define AE_META_NAME        "meta"
#define AE_META_TMP_NAME    "meta.tmp"
#define AE_DEADLETTER_NAME  "deadletter.log"

typedef struct ae_note ae_note; /* the owner's note (meta.c) */

/* ---- segments in memory --------------------------------------------------------------- */

/* An open segment file. Shared between the owner and the sync thread by reference count
 * ([mu]): the owner holds one while the segment is live, the sync thread one while it has
 * the file queued for sync or removal. The last release closes the fd. */
typedef struct ae_seg_file {
    int fd;
    int refs;   /* [mu] */
    bool dirty; /* [mu] has writes the sync thread has not yet taken */
    char *path;
} ae_seg_file;

typedef struct ae_seg_idx {
    uint64_t seq, off;
} ae_seg_idx;

/* Damage inside a segment that recovery or a cursor stepped over: the bytes from bad_off on
 * were not a valid record; the next valid one (seq hi + 1) starts at resume_off (the
 * segment's end when none followed). Seqs lo..hi are lost; lo == hi + 1 when only bytes
 * were skipped. Damaged bytes stay in the file: a segment is never rewritten. */
typedef struct ae_seg_hole {
    uint64_t lo, hi;
    uint64_t bad_off, resume_off;
} ae_seg_hole;

/* A live segment. Owner thread only (the sync thread sees only its ae_seg_file). */
typedef struct ae_seg {
    uint64_t first_seq; /* from the header; seqs in the file are first_seq, first_seq+1, ... */
    uint64_t last_seq;  /* last record's seq, first_seq - 1 when empty */
    uint64_t size;      /* logical end of the file: header + whole records */
    int64_t first_time, last_time;
    ae_seg_file *f;
    ae_seg_idx *idx; /* sparse index: first record, then every AE_IDX_STRIDE bytes, and the
                        first record after each hole (so no index walk crosses one) */
    size_t nidx, cidx;
    ae_seg_hole *holes; /* sorted by bad_off; almost always none */
    size_t nholes;
} ae_seg;

struct ae_store {
    /* Set by open, then read-only: any thread. */
    char *dir;
    ae_store_opts o;
    const ae_os *os;
    uint64_t epoch;
    uint8_t secret[AE_STORE_SECRET_LEN];
    int efd;

    /* The owner's (unless marked). */
    ae_seg **segs; /* sorted by first_seq; the last one is the active segment */
    size_t nsegs, csegs;
    uint64_t next_seq;
    uint64_t bytes;   /* sum of segment sizes */
    uint64_t records; /* unacked records */
    ae_ackset acks;   /* [mu] for writes; the owner reads without the lock */
    ae_store_stats st;
    uint8_t *wbuf; /* encode buffer for appends */
    size_t wcap;
    int ncursors;
    bool roll_pending;          /* the active segment has a damaged record; start a new one */
    int64_t oldest_cache_floor; /* stats: floor for which oldest_cache_time is valid, -1 */
    int64_t oldest_cache_time;

    ae_seg_file *dl;  /* the dead-letter file once opened (deadletter.c); NULL before */
    uint64_t dl_size; /* its length: whole lines */

    /* Read-only mode: the disk was full (ENOSPC, EDQUOT, EFBIG) when open had to write the
     * store's own files. Appends are refused until each of those writes has been done;
     * ae_store_try_writable (store.c) retries the owner's, the sync thread the others. */
    bool read_only;
    char ro_reason[400]; /* "the disk of <dir> is full: ...; messages are not logged ..." */
    bool ro_need_dir;    /* the directory itself could not be created */
    bool ro_need_seg;    /* the active segment could not be created */
    int64_t ro_retry_at; /* monotonic time of the next try from an append */

    /* Shared with the sync thread. */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* wakes the sync thread */
    pthread_cond_t done; /* wakes flush waiters after each sync round */
    pthread_t thr;
    bool thr_started;
    bool stop;               /* [mu] */
    uint64_t flush_gen_req;  /* [mu] flush requests made */
    uint64_t flush_gen_done; /* [mu] requests whose sync round has completed */
    bool thr_idle;           /* [mu] sync thread is waiting on wake */
    bool thr_sync_armed;     /* [mu] its wait already ends at the next interval sync */
    uint64_t written_seq;    /* [mu] */
    ae_seg_file **dirty;     /* [mu] files with unsynced writes, one ref each */
    size_t ndirty, cdirty;
    bool dirsync;       /* [mu] a file was created; the directory needs an fsync */
    ae_seg_file **dead; /* [mu] files to unlink, one ref each */
    size_t ndead, cdead;
    bool meta_dirty;      /* [mu] ack state or note changed since the last meta write */
    bool meta_urgent;     /* [mu] the owner asked for a meta write now */
    bool ro_need_meta;    /* [mu] read-only until a meta write succeeds */
    bool ro_need_secret;  /* [mu] the secret file is still to be written */
    bool sync_soon;       /* [mu] a set-aside copy waits for its sync: sync now */
    ae_note *note;        /* [mu] for writes; the owner reads without the lock */
    uint64_t note_gen;    /* owner: the generation of the last note set or recovered */
    uint64_t sync_errors; /* [mu] */
    char fail_msg[256];   /* [mu] */
    _Atomic uint64_t note_durable_gen; /* [atomic] */
    _Atomic uint64_t durable_seq;      /* [atomic] */
    _Atomic int failed;                /* [atomic] */

    /* [mu] sync round durations (ae_store_stats) */
    uint64_t syncs;
    int64_t sync_ns_total;
    uint64_t sync_buckets[AE_STORE_SYNC_BUCKETS + 1];
};

/* ---- helpers and the segment list (base.c) -------------------------------------------- */

/* AE_ENOSPC for the errnos of a full disk or quota, AE_EIO for the rest. */
int ae_store_errcode(int e);
/* "<dir>/<name>", malloc'ed; NULL on ENOMEM. */
char *ae_store_path(const ae_store *s, const char *name);
/* Path of the segment whose first seq is first_seq (20 digits + ".seg"); NULL on ENOMEM. */
char *ae_store_seg_path(const ae_store *s, uint64_t first_seq);
/* Makes the notify fd readable. Any thread. */
void ae_store_notify(ae_store *s);
/* Enters the failed state (the first failure wins), logs it, wakes flush waiters and the
 * notify fd. Returns code. The _locked form expects s->mu held. Any thread. */
int ae_store_fail_locked(ae_store *s, int code, const char *msg);
int ae_store_fail(ae_store *s, int code, const char *msg);
/* The ack state or the note changed: marks the meta file for the sync thread's next meta
 * write (within meta_interval_ns), waking the thread if it sleeps without a deadline.
 * Caller holds s->mu. */
void ae_store_meta_dirty_locked(ae_store *s);
/* Drops one reference to f, closing and freeing it with the last. Caller holds s->mu (or
 * is alone in open/close). */
void ae_store_file_unref_locked(ae_store *s, ae_seg_file *f);
/* Appends f to a growable array of files. Returns 0 or AE_ENOMEM. */
int ae_store_push_file(ae_seg_file ***arr, size_t *n, size_t *cap, ae_seg_file *f);
/* Frees an in-memory segment (not its file); NULL is a no-op. */
void ae_seg_free(ae_seg *g);
/* Records (seq, off) in g's sparse index when off is AE_IDX_STRIDE past the last entry (or
 * it is the first). Returns 0 or AE_ENOMEM. */
int ae_seg_idx_add(ae_seg *g, uint64_t seq, uint64_t off);
/* Puts (seq, off) into g's sparse index whatever the stride, keeping it sorted. Returns 0 or
 * AE_ENOMEM. */
int ae_seg_idx_put(ae_seg *g, uint64_t seq, uint64_t off);
/* Records a hole in g, keeping them sorted. Returns 0 or AE_ENOMEM. */
int ae_seg_hole_add(ae_seg *g, const ae_seg_hole *h);
/* The hole whose damage starts at file offset off, or NULL. */
const ae_seg_hole *ae_seg_hole_at(const ae_seg *g, uint64_t off);
/* The hole that lost seq, or NULL. */
const ae_seg_hole *ae_seg_hole_of(const ae_seg *g, uint64_t seq);
/* Appends g to the live list (owner). Returns 0 or AE_ENOMEM. */
int ae_store_segs_push(ae_store *s, ae_seg *g);
/* Creates a new empty active segment whose first record will be first_seq. Owner (or open).
 * Returns 0 or AE_E* with a message. */
int ae_store_seg_create(ae_store *s, uint64_t first_seq, ae_err *err);
/* After the floor moved: removes every non-active segment wholly at or below it. Owner. */
void ae_store_retire_acked(ae_store *s);
/* Removes the oldest segment from the list (its file goes to the sync thread to unlink).
 * Owner thread. */
void ae_store_retire_oldest(ae_store *s);

/* ---- read-only mode (store.c) ---------------------------------------------------------- */

/* True for the errnos of a full disk: ENOSPC, EDQUOT, EFBIG. */
bool ae_store_is_full_errno(int e);
/* Enters read-only mode (owner, or open), logging the reason once; `detail` says what
 * failed ("write of <path> failed: No space left on device"). */
void ae_store_enter_read_only(ae_store *s, const char *detail);
/* Retries what keeps the store read-only: the directory and the active segment here (owner
 * thread), and asks the sync thread to retry the secret and meta files at once; leaves
 * read-only mode when nothing is pending any more. Returns true when writable. Owner. */
bool ae_store_try_writable(ae_store *s);

/* ---- shared with append.c (store.c) -------------------------------------------------- */

/* Records in g (0 for an empty segment: last_seq = first_seq - 1). */
static inline uint64_t ae_seg_count(const ae_seg *g)
{
    return g->last_seq + 1 - g->first_seq;
}
/* Sets err to the failure a failed store keeps reporting; returns its code. */
int ae_store_failed_err(ae_store *s, ae_err *err);
/* For appends: a read-only store tries again at most once a second, at once after a removal
 * freed space, and as soon as the sync thread has written what it was asked to. */
bool ae_store_ro_retry_due(ae_store *s);
/* Throws away the oldest segment to make room (max_bytes) or because it aged out (max_age),
 * counting its unacked records as discarded; `why` names the limit in the log. If it is the
 * active one, a new active segment is created first. Owner thread. */
int ae_store_discard_oldest(ae_store *s, const char *why, ae_err *err);

/* ---- recovery (recovery.c) ------------------------------------------------------------ */

/* Reads the directory back into s (called by ae_store_open with s->dir, s->o and s->os
 * set, before the sync thread starts): meta file, segments verified and cut at damage,
 * epoch, ack floor, next seq, the acked gaps, the note, and fully acked leftovers removed.
 * *fresh_dir tells that nothing said the directory was used before. Leaves the active
 * segment to the caller (see ae_store_needs_segment). Returns 0 or AE_E*. */
int ae_store_recover(ae_store *s, bool *fresh_dir, ae_err *err);
/* True when appends need a new active segment: there is none, or the last one does not end
 * just before the next seq. */
bool ae_store_needs_segment(const ae_store *s);

/* ---- meta file, note and secret (meta.c) --------------------------------------------- */

#define AE_META_MAGIC      "AERIEMTA"
#define AE_META_VERSION    2u         /* version 1 files are still read */
#define AE_META_MAX_WORDS  (1u << 24) /* the most bitmap words a meta file may hold (1 Gi seqs) */
#define AE_SECRET_MAGIC    "AERIESEC"
#define AE_SECRET_NAME     "secret"
#define AE_SECRET_TMP_NAME "secret.tmp"

/* The owner's note (ae_store_set_note): immutable once made, shared by the store and meta
 * snapshots by reference count ([mu]). */
struct ae_note {
    int refs; /* [mu] */
    uint64_t gen;
    size_t len;
    uint8_t data[];
};

/* A copy of len bytes of blob with generation gen, one reference; NULL on ENOMEM. */
ae_note *ae_note_new(const void *blob, size_t len, uint64_t gen);
/* Drops a reference (NULL is a no-op). Caller holds s->mu, or is alone. */
void ae_note_unref_locked(ae_note *n);

/* The meta file's contents: read at open, or a snapshot for the sync thread to write. */
typedef struct ae_meta {
    uint32_t version; /* as read: 1 or 2 */
    uint64_t epoch, floor, last;
    uint64_t durable;       /* the durable seq when written (0: not known, version 1) */
    uint64_t base;          /* bitmap: bit i of words[i / 64] is seq base + i (version 2) */
    uint64_t *words;        /* owned */
    size_t nw, wcap;        /* words used, allocated */
    uint64_t *acked;        /* version 1: acked seqs above the floor (owned) */
    size_t nacked;          /* version 1 */
    ae_note *note;          /* one reference; NULL: no note */
    uint64_t dropped_above; /* snapshot: acks from this seq on did not fit the spread cap */
} ae_meta;

/* Reads "<dir>/meta" into *m (zeroed first). Returns 0, AE_ENOENT (none), AE_ECORRUPT,
 * AE_EIO or AE_ENOMEM; m holds nothing on failure. Open only. */
int ae_meta_read(ae_store *s, ae_meta *m);
/* Frees what m holds and zeroes it. Caller holds s->mu, or is alone. */
void ae_meta_clear_locked(ae_meta *m);
/* Copies the ack state, the note (a reference) and the high-water marks into m, reusing
 * its buffers; `durable` is the durable seq the write will stand for. The bitmap is cut at
 * o.meta_max_ack_spread seqs (m->dropped_above says where). Caller holds s->mu (or is
 * alone). Returns 0 or AE_ENOMEM (m unchanged). */
int ae_meta_snapshot_locked(ae_store *s, ae_meta *m, uint64_t durable);
/* Writes m as the meta file (version 2) atomically; `durable` adds the fsyncs of the file
 * and the directory. Open (before the sync thread starts), then only the sync thread.
 * Returns 0 or AE_E* with a message in err. */
int ae_meta_write(ae_store *s, const ae_meta *m, bool durable, ae_err *err);

/* Reads "<dir>/secret" into s->secret when it is there, intact and of this epoch; else makes
 * a new one (getrandom) and sets *need_write. fresh_dir: the directory was just set up (a
 * new secret is then no news). Returns 0, or AE_EIO / AE_ENOMEM. Open only. */
int ae_secret_load(ae_store *s, bool fresh_dir, bool *need_write, ae_err *err);
/* Writes s->secret to "<dir>/secret" atomically and durably (whatever the sync policy).
 * Open, then only the sync thread. Returns 0 or AE_E* with a message. */
int ae_secret_write(ae_store *s, ae_err *err);

/* ---- the sync thread (sync.c) --------------------------------------------------------- */

/* The sync thread's body; arg is the store. Started by open, stopped by close. */
void *ae_store_sync_main(void *arg);

/* ---- record lookups (read.c; owner thread) ------------------------------------------- */

/* Finds the live segment holding seq (first_seq <= seq <= last_seq), or the first one after
 * it. Returns its index, or nsegs when none. */
size_t ae_store_find_seg(const ae_store *s, uint64_t seq);

/* Locates the record with sequence `seq` in segment g: the nearest sparse-index entry, then a
 * walk over record headers, each checked (its seq, ae_rec_hdr_plausible). Returns 0 with
 * *off; AE_ENOENT when seq is not in g or was lost in a hole; AE_EIO; or AE_ECORRUPT when
 * the walk met a damaged header: ae_store_damage has then dealt with it, and g may be gone
 * (the caller looks the segment up again). rb is the caller's read window over g. */
int ae_store_locate(ae_store *s, ae_seg *g, uint64_t seq, ae_rbuf *rb, uint64_t *off, ae_err *err);

/* Reads the record at off in g, which should be seq `seq`, into *rec (pointers into rb) and
 * verifies it. Returns 0 with *len; AE_ECORRUPT with *why when it is damaged (the caller
 * hands it to ae_store_damage); AE_EIO / AE_ENOMEM with a message. */
int ae_store_read(ae_store *s, ae_seg *g, uint64_t off, uint64_t seq, ae_rbuf *rb,
                  ae_store_rec *rec, uint32_t *len, const char **why, ae_err *err);

/* ---- damage found after open (recovery.c) --------------------------------------------- */

/* Record `seq` of g, at file offset off, turned out bad after open (`why`: checksum, length,
 * seq). Scans for the next valid record (ae_rec_scan), marks seq up to its seq - 1 lost (acked,
 * counted in lost_records, logged as an error with the seq range) and records the hole so
 * cursors step over it. When nothing valid follows, seq up to the segment's end is lost and
 * an active segment is rolled before the next append. Returns 0, or AE_EIO / AE_ENOMEM when
 * the scan could not read (nothing changed; try again later). Owner thread. The floor may
 * move and segments be retired, g among them. rb is a read window over g. */
int ae_store_damage(ae_store *s, ae_seg *g, uint64_t seq, uint64_t off, ae_rbuf *rb,
                    const char *why);

#endif
