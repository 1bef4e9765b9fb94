/* Private state shared by the store's files: store.c (open, append, ack, bounds, sync
 * thread), segment.c (on-disk format: headers, records, buffered reads), ackset.c (the
 * acked-above-floor bitmap) and cursor.c (reading the backlog). Nothing here is API.
 *
 * Threads. The owner thread (the broker loop) owns everything except the fields marked
 * [mu], which it shares with the sync thread under st->mu. Fields marked [atomic] may be
 * read from any thread without the lock. */
#ifndef AERIE_STORE_STORE_INTERNAL_H
#define AERIE_STORE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* ---- on-disk format (docs/store.md) --------------------------------------------------- */

#define AE_SEG_MAGIC      "AERIELOG"
#define AE_META_MAGIC     "AERIEMTA"
#define AE_FORMAT_VERSION 1u
#define AE_SEG_HDR_SIZE   48u
#define AE_REC_HDR_SIZE   36u
/* Largest record recovery accepts whatever max_record_bytes says now, so a lowered limit
 * never turns stored records into "corruption". Appends are capped far below. */
#define AE_REC_HARD_MAX   (64u * 1024 * 1024 + AE_REC_HDR_SIZE + 65535u)
#define AE_META_MAX_ACKED 1024u       /* acked-above-floor seqs kept in the meta file */
#define AE_IDX_STRIDE     (64u << 10) /* one sparse-index entry per this many segment bytes */
#define AE_META_NAME      "meta"
#define AE_META_TMP_NAME  "meta.tmp"

static inline void ae_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void ae_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ae_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t ae_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t ae_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ae_get64(const uint8_t *p)
{
    return (uint64_t)ae_get32(p) | (uint64_t)ae_get32(p + 4) << 32;
}

/* Writes a segment header into buf[AE_SEG_HDR_SIZE]. */
void ae_seg_hdr_encode(uint8_t *buf, uint64_t epoch, uint64_t first_seq, int64_t created_ns);
/* Checks a segment header. Returns 0 with *epoch and *first_seq, or AE_ECORRUPT. */
int ae_seg_hdr_decode(const uint8_t *buf, uint64_t *epoch, uint64_t *first_seq);

/* Encoded size of a record for m (header + subject + hdr + payload). */
uint64_t ae_rec_size(const ae_store_msg *m);
/* Encodes the record into buf (ae_rec_size(m) bytes). */
void ae_rec_encode(uint8_t *buf, uint64_t seq, int64_t time_ns, const ae_store_msg *m);
/* The length field of a record header at p (AE_REC_HDR_SIZE bytes available), or 0 when it
 * is out of bounds. */
uint32_t ae_rec_len(const uint8_t *p);
/* Verifies a whole record (len bytes at p: checksum, field sizes) and fills *rec with
 * pointers into p. Returns 0 or AE_ECORRUPT. */
int ae_rec_decode(const uint8_t *p, uint32_t len, ae_store_rec *rec);

/* A read-ahead window over one file, used by recovery and cursors. */
typedef struct ae_rbuf {
    uint8_t *buf;
    size_t cap;
    uint64_t off; /* file offset of buf[0] */
    size_t len;   /* valid bytes in buf */
} ae_rbuf;

/* Makes bytes [pos, pos+n) of fd available at *p, reading ahead up to `limit` (the file's
 * logical end). Returns 0, AE_ECORRUPT if pos+n > limit, AE_ENOMEM, or AE_EIO (errno kept). */
int ae_rbuf_get(const ae_os *os, int fd, ae_rbuf *rb, uint64_t pos, size_t n, uint64_t limit,
                const uint8_t **p);
void ae_rbuf_reset(ae_rbuf *rb); /* forget the window (the file changed or moved) */
void ae_rbuf_free(ae_rbuf *rb);

/* ---- the acked-above-floor set -------------------------------------------------------- */

/* Every seq <= floor is acked. Bits above the floor: bit (s - base) of w is set when s is
 * acked. base is a multiple of 64 and <= floor + 1; words wholly below the floor are dropped
 * as it advances, so memory follows the spread of outstanding acks, not the backlog. */
typedef struct ae_ackset {
    uint64_t floor;
    uint64_t base;
    uint64_t *w;
    size_t nw, cap;
} ae_ackset;

void ae_ackset_init(ae_ackset *a, uint64_t floor);
void ae_ackset_free(ae_ackset *a);
bool ae_ackset_has(const ae_ackset *a, uint64_t s);
/* Marks s acked and advances the floor over any run of acked seqs. Returns 0, AE_EEXIST if
 * it already was, or AE_ENOMEM. */
int ae_ackset_add(ae_ackset *a, uint64_t s);
/* Marks every seq in [lo, hi] acked. Returns how many were not acked before (or
 * UINT64_MAX on ENOMEM, when nothing changed). */
uint64_t ae_ackset_add_range(ae_ackset *a, uint64_t lo, uint64_t hi);
/* Number of acked seqs in [lo, hi]. */
uint64_t ae_ackset_count(const ae_ackset *a, uint64_t lo, uint64_t hi);
/* Copies up to max acked seqs above the floor, lowest first. Returns how many. */
size_t ae_ackset_list(const ae_ackset *a, uint64_t *out, size_t max);

/* ---- segments ------------------------------------------------------------------------- */

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

typedef struct ae_seg {
    uint64_t first_seq; /* from the header; seqs in the file are first_seq, first_seq+1, ... */
    uint64_t last_seq;  /* last record's seq, first_seq - 1 when empty */
    uint64_t size;      /* logical end of the file: header + whole records */
    int64_t first_time, last_time;
    ae_seg_file *f;
    ae_seg_idx *idx; /* sparse index: first record, then every AE_IDX_STRIDE bytes */
    size_t nidx, cidx;
} ae_seg;

struct ae_store {
    char *dir;
    ae_store_opts o;
    const ae_os *os;
    uint64_t epoch;

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
    bool meta_dirty;      /* [mu] ack state changed since the last meta write */
    uint64_t sync_errors; /* [mu] */
    char fail_msg[256];   /* [mu] */
    _Atomic uint64_t durable_seq;
    _Atomic int failed;
    int efd;
};

/* Cursor internals live in cursor.c; store.c only needs to know segments can vanish. */

/* Finds the live segment holding seq (first_seq <= seq <= last_seq), or the first one after
 * it. Returns its index, or nsegs when none. */
size_t ae_store_find_seg(const ae_store *s, uint64_t seq);

/* Locates the record with sequence `seq` in segment g using its sparse index and a scan.
 * Returns 0 with *off, or AE_ECORRUPT / AE_EIO. rb is the caller's read window. */
int ae_store_locate(ae_store *s, ae_seg *g, uint64_t seq, ae_rbuf *rb, uint64_t *off, ae_err *err);

/* Called when a record in g fails its checksum after open: logs it, counts everything from
 * seq to the segment's end as lost, marks those seqs acked and cuts the segment there. */
void ae_store_lost_tail(ae_store *s, ae_seg *g, uint64_t seq, uint64_t off, const char *why);

#endif
