/* The durable uplink log of aerie-leaf: an append-only, segmented, checksummed message log
 * in one directory, with out-of-order acks, bounds, and syncs done off the event loop.
 *
 * Who calls what. One thread owns an `ae_store` (the broker's event loop) and makes every
 * call below unless a contract says otherwise. The store runs one helper thread of its own,
 * the sync thread, which does every fsync/fdatasync, removes retired segments and persists
 * the ack state; the owner never blocks on the disk except in open/close/flush. The owner's
 * write path is a single pwrite() into the page cache per record.
 *
 * Sequence numbers start at 1, grow by one per appended record, and are never reused by a
 * store directory, also across restarts and after every record was acked and deleted. The
 * directory also holds a random 64-bit epoch made when it was first initialised, so
 * `<vid>.<epoch>.<seq>` (ae_store_msg_id) names a record uniquely even if the directory is
 * wiped, and a random secret the owner keys message ids with (ae_store_secret). The owner
 * may keep a small note with the ack state (ae_store_set_note) and set a record aside into
 * the dead-letter file (ae_store_set_aside).
 *
 * Durability. A record is *durable* once the fsync covering it (and its segment's directory
 * entry) returned success; ae_store_durable_seq() is the highest durable seq and the
 * notification fd becomes readable when it advances. Cursors hand out durable records only,
 * so a record never leaves the vehicle before it is on disk and its seq can never come back
 * with other contents after a crash. Under AE_SYNC_NEVER the store promises nothing across
 * an OS crash or power cut: a record counts as durable as soon as it is written.
 *
 * Failure. A failed fsync, or a failed write that cannot be rolled back, puts the store in
 * a failed state (ae_store_failed): appends return the error, the durable seq stops, and the
 * notify fd fires. The remedy is close + open, which re-verifies the log from disk (as
 * PostgreSQL does after a failed fsync; retrying an fsync may report success for lost data).
 *
 * A full disk is not a failure. An append that does not fit fails alone (AE_ENOSPC, nothing
 * of it left behind). A disk that is full when open has to write the store's own files (the
 * meta and secret files, the active segment) opens the store read-only: what is logged can
 * be read and acked, appends are refused with AE_ENOSPC, and the store becomes writable by
 * itself once those writes succeed (retried by ae_store_tick, by appends at most once a
 * second, and as soon as a removed segment frees space). ae_store_stats says so.
 *
 * Damage is never silent. Recovery, and cursors reading after open, check every record;
 * past a damaged one they salvage the next valid record, and the seqs in between are
 * counted in lost_records and logged as an error with their range. Only damage that runs
 * to the end of the data is a torn tail, and even that is counted as lost for the records
 * the meta file had already seen durable.
 *
 * See docs/store.md for the on-disk format and recovery rules, and os.h for the OS seam. */
#ifndef AERIE_STORE_STORE_H
#define AERIE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store/os.h"

typedef struct ae_store ae_store;
typedef struct ae_store_cursor ae_store_cursor;

typedef enum {
    AE_SYNC_ALWAYS = 0, /* the sync thread fsyncs as soon as there is anything unsynced; appends
                           made while one fsync runs share the next one (group commit) */
    AE_SYNC_INTERVAL,   /* fsync every sync_interval_ns when there is anything unsynced */
    AE_SYNC_NEVER,      /* never fsync; leave it to the kernel (survives kill -9, not power loss) */
} ae_sync_policy;

typedef struct ae_store_opts {
    ae_sync_policy sync;
    int64_t sync_interval_ns;     /* AE_SYNC_INTERVAL period; 0: 10 ms */
    uint64_t max_bytes;           /* bound on segment bytes on disk; 0: none; else >= 16 KiB */
    int64_t max_age_ns;           /* discard segments whose newest record is older; 0: none */
    uint64_t segment_bytes;       /* roll to a new segment past this size; 0: 16 MiB. With
                                     max_bytes set it is capped at max_bytes / 4 so discards
                                     come in quarters, not the whole log */
    uint32_t max_record_bytes;    /* largest subject + headers + payload accepted; 0: 8 MiB */
    int64_t meta_interval_ns;     /* how often a changed ack state is persisted; 0: 1 s */
    uint64_t meta_max_ack_spread; /* widest spread of acks above the floor the meta file
                                     keeps, in seqs; 0: 64 Mi (8 MiB of bitmap), at most 1 Gi.
                                     Acks beyond it live in memory only (logged once) */
    const ae_os *os;              /* borrowed, must outlive the store; NULL: ae_os_posix() */
} ae_store_opts;

#define AE_STORE_NOTE_MAX   (256u << 10) /* the largest owner note (ae_store_set_note) */
#define AE_STORE_SECRET_LEN 32u          /* bytes of ae_store_secret() */

/* A message to append. All pointers are borrowed for the call. subject_len must be 1..65535;
 * hdr (NATS header block, may be NULL with hdr_len 0) and payload are opaque bytes. */
typedef struct ae_store_msg {
    const char *subject;
    size_t subject_len;
    const void *hdr;
    size_t hdr_len;
    const void *payload;
    size_t payload_len;
    int64_t time_ns; /* event time, ns since the Unix epoch; 0: now */
} ae_store_msg;

/* A record read through a cursor. The pointers point into the cursor's buffer and stay
 * valid until the next call on that cursor or its free. subject is not NUL-terminated. */
typedef struct ae_store_rec {
    uint64_t seq;
    int64_t time_ns;
    const char *subject;
    size_t subject_len;
    const uint8_t *hdr;
    size_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
} ae_store_rec;

/* The upper bounds of the sync-duration buckets in ae_store_stats, in ns (0.5 ms .. 2.5 s:
 * an SSD syncs in well under a millisecond, an SD card on a vehicle in tens to hundreds). */
#define AE_STORE_SYNC_BUCKETS 12
extern const int64_t ae_store_sync_bounds_ns[AE_STORE_SYNC_BUCKETS];

/* Counters since open (unless noted) and the current shape of the log. Nothing the store
 * throws away goes uncounted here. */
typedef struct ae_store_stats {
    uint64_t records;                /* unacked records now in the log */
    uint64_t bytes;                  /* bytes of all segment files now (acked records included
                                        until their segment is removed) */
    uint64_t segments;               /* segment files now */
    int64_t oldest_time_ns;          /* event time of the oldest unacked record; 0 when none */
    uint64_t first_seq;              /* oldest unacked seq (ack_floor + 1) */
    uint64_t last_seq;               /* newest appended seq; 0 when none ever */
    uint64_t durable_seq;            /* newest durable seq */
    uint64_t ack_floor;              /* every seq <= ack_floor is acked (or discarded or lost) */
    uint64_t appended;               /* records appended */
    uint64_t acked;                  /* records acked (each counted once) */
    uint64_t discarded_records;      /* unacked records thrown away by max_bytes / max_age */
    uint64_t discarded_bytes;        /* size of the segments thrown away by max_bytes / max_age */
    uint64_t recovered_records;      /* records found valid at open */
    uint64_t recovery_dropped_bytes; /* bytes cut at open: torn tails and corrupt ranges */
    uint64_t lost_records;           /* records known lost to corruption (at open or on read) */
    uint64_t quarantined_segments;   /* segment files set aside at open (bad header, foreign) */
    uint64_t write_errors;           /* appends that failed in write() (ENOSPC, EIO) */
    uint64_t sync_errors;            /* failed fsync/fdatasync/rename/unlink on the sync thread */
    uint64_t set_aside_records;      /* records copied to the dead-letter file and acked */
    int failed;                      /* 0, or the AE_E* code that put the store in failed state */
    bool read_only;                  /* the disk was full at open: appends are refused (AE_ENOSPC)
                                        until the store could write its own files again */
    char read_only_reason[400];      /* why, when read_only ("the disk of <dir> is full: ...") */

    /* How long the data syncs took: each sync round's fdatasyncs and directory fsync, the
     * wait that a flush (PING under sync: always) and every ack to the hub include. */
    uint64_t syncs;        /* sync rounds that synced something */
    int64_t sync_ns_total; /* their summed duration */
    /* per bucket of ae_store_sync_bounds_ns; the last one counts those above the last bound */
    uint64_t sync_buckets[AE_STORE_SYNC_BUCKETS + 1];
} ae_store_stats;

/* Fills *o with the defaults (AE_SYNC_ALWAYS, no bounds, 16 MiB segments, ...). */
void ae_store_opts_default(ae_store_opts *o);

/* Opens (creating if needed) the store in directory `dir`, recovering what is there: every
 * record is verified, damaged records are skipped (the ones after them salvaged), torn tails
 * cut off, all of it logged and counted, and everything kept is fsynced before open returns
 * (except under AE_SYNC_NEVER), so all of it is durable. Starts the sync thread. `opts` is
 * copied (NULL: defaults). Blocks on disk I/O; call before entering the event loop. A full
 * disk (ENOSPC, EDQUOT, EFBIG) when open has to write opens the store read-only instead of
 * failing (see the top; stats.read_only). Returns 0 and *out, or AE_EINVAL (bad options),
 * AE_EIO (with a message naming the call and path), AE_ENOMEM. */
int ae_store_open(const char *dir, const ae_store_opts *opts, ae_store **out, ae_err *err);

/* Stops the sync thread after a last sync and ack-state write, and frees the store. Every
 * cursor must have been freed. NULL is a no-op. Returns 0, or the error of that last sync
 * (the store is freed either way); a last meta write that fails (a full disk) is logged,
 * not returned. Blocks on disk I/O. */
int ae_store_close(ae_store *st, ae_err *err);

/* The random store epoch of this directory. */
uint64_t ae_store_epoch(const ae_store *st);

/* Formats the message id "<vid>.<epoch as 16 hex digits>.<seq>" into buf. Returns the
 * length (as snprintf) or AE_EINVAL if it did not fit. */
int ae_store_msg_id(const ae_store *st, const char *vid, uint64_t seq, char *buf, size_t cap);

/* Appends one record: writes it to the active segment (page cache) and returns its seq in
 * *seq without waiting for the disk. When it becomes durable, ae_store_durable_seq() reaches
 * it and the notify fd fires (under AE_SYNC_NEVER it is durable on return). Enforces
 * max_bytes first by discarding the oldest segments (counted in stats). Returns 0, or
 * AE_EINVAL (bad subject/sizes), AE_ELIMIT (record larger than max_record_bytes or than
 * max_bytes allows), AE_ENOSPC (disk full: nothing of the record is left in the log; or the
 * store is read-only, and the message says "the disk of <dir> is full: ...; messages are not
 * logged until space is freed"), AE_EIO, or the failed-state code. Owner thread only. */
int ae_store_append(ae_store *st, const ae_store_msg *m, uint64_t *seq, ae_err *err);

/* Newest appended seq (0 if the directory never held a record). Owner thread only. */
uint64_t ae_store_last_seq(const ae_store *st);

/* Newest durable seq. Callable from any thread. */
uint64_t ae_store_durable_seq(const ae_store *st);

/* An fd (eventfd, nonblocking) that becomes readable when the durable seq advances, when the
 * durable note generation advances (ae_store_set_note), or when the store fails. Watch it
 * for EPOLLIN, then call ae_store_notify_drain and read ae_store_durable_seq (and
 * ae_store_note_durable_gen). Owned by the store; valid until close. */
int ae_store_notify_fd(const ae_store *st);

/* Resets the notify fd to not-readable. Owner thread only. */
void ae_store_notify_drain(ae_store *st);

/* Asks the sync thread for an immediate sync (under any policy but NEVER) and blocks until
 * everything appended so far is durable, the store failed, or timeout_ms passed (<0: no
 * limit). For shutdown paths, tools and tests, never for the event loop. Returns 0,
 * AE_ETIMEOUT, or the failed-state code. */
int ae_store_flush(ae_store *st, int timeout_ms, ae_err *err);

/* Acks seq (a PubAck arrived for it). Acks may come in any order. When the ack floor passes
 * whole segments they are removed by the sync thread; the ack state (the floor and every
 * ack above it) is persisted at most every meta_interval_ns, so after a crash the records
 * acked since the last meta write may be delivered again.
 * Returns 0 when newly acked, AE_EEXIST when it was already acked (or discarded or lost),
 * AE_ENOENT when seq was never appended. Owner thread only. */
int ae_store_ack(ae_store *st, uint64_t seq, ae_err *err);

/* True if seq is acked (or discarded, lost, or below the ack floor). Owner thread only. */
bool ae_store_is_acked(const ae_store *st, uint64_t seq);

/* All seqs <= the returned value are acked. Owner thread only. */
uint64_t ae_store_ack_floor(const ae_store *st);

/* Applies max_age at wall time now_ns (0: now): discards segments whose newest record is
 * older than now - max_age, counting what was thrown away (never the only segment of a
 * read-only store). A read-only store also tries to become writable here. Call about once
 * a second from the loop. Returns 0 or an error from rolling the active segment. Owner
 * thread only. */
int ae_store_tick(ae_store *st, int64_t now_ns, ae_err *err);

/* 0, or the AE_E* code that put the store in failed state. Callable from any thread. */
int ae_store_failed(const ae_store *st);

/* Fills *out. May read one record header from disk (for oldest_time_ns). Owner thread. */
void ae_store_stats_get(ae_store *st, ae_store_stats *out);

/* Sets the owner's note: a small blob (at most AE_STORE_NOTE_MAX bytes; len 0 means no note)
 * kept with the ack state and written in the same atomic meta-file write as the ack floor
 * and the acked-above-floor bitmap. Acks and note are snapshotted under one lock, so a note
 * on disk never comes without the acks made before it was set: ack first, then set the
 * note. The blob is copied. *gen (may be NULL) gets the note's generation, one more than the
 * last one set or recovered. `urgent` asks the sync thread to write the meta file now rather
 * than at the next meta_interval_ns. When a meta write holding generation g has reached the
 * disk (under AE_SYNC_NEVER: the page cache), ae_store_note_durable_gen() is >= g and the
 * notify fd fires. Returns 0, or AE_EINVAL (len over the limit, or blob NULL with len > 0),
 * AE_ENOMEM. Owner thread only. */
int ae_store_set_note(ae_store *st, const void *blob, size_t len, bool urgent, uint64_t *gen,
                      ae_err *err);

/* The current note: sets *blob to its bytes (NULL when there is none), which belong to the
 * store and stay valid until the next ae_store_set_note or the close, and returns its length
 * (0: no note). After open it is the note of the last meta write that reached the disk, so
 * after a crash it may be older than the last one set. Owner thread only. */
size_t ae_store_note(const ae_store *st, const void **blob);

/* The highest note generation known to be on disk (after open: the recovered note's, 0 when
 * none). Callable from any thread. */
uint64_t ae_store_note_durable_gen(const ae_store *st);

/* The store's secret: AE_STORE_SECRET_LEN random bytes (getrandom) made when the directory
 * was first set up -- or at the first open by a version that has secrets -- and kept in
 * "<dir>/secret", written atomically and fsynced. The owner keys message ids with it so that
 * other programs cannot forge them; it never leaves the vehicle and is never logged. The
 * bytes belong to the store and stay valid until close. If the disk was too full to write
 * it at open, it is written as soon as space returns (see read_only in ae_store_stats); a
 * crash before that replaces it. Callable from any thread. */
const uint8_t *ae_store_secret(const ae_store *st);

/* Sets record seq aside: for a record the hub refuses for good. Copies it, with `reason` (a
 * sentence, say the hub's error; NULL: none) and the wall time, as one line to the
 * dead-letter file "<dir>/deadletter.log" (JSON lines, see docs/store.md; `jq` reads it),
 * then acks it, counted in set_aside_records and logged. The copy is made durable under the
 * store's sync policy before the ack can reach the disk: under AE_SYNC_ALWAYS and
 * AE_SYNC_INTERVAL the sync thread syncs the file at once, and neither the meta file with
 * the ack nor the removal of the record's segment comes before that. The copy is never lost
 * silently: when it cannot be written, the record is not acked and the error is returned.
 * The record must be unacked and durable. Returns 0, or AE_ENOENT (never appended, or no
 * longer in the log), AE_EEXIST (already acked), AE_EAGAIN (not durable yet), AE_ECORRUPT
 * (the record is damaged: counted lost instead), AE_ENOSPC / AE_EIO (the copy could not be
 * written; the record stays unacked), AE_ENOMEM, or the failed-state code. Blocks on no
 * fsync. Owner thread only. */
int ae_store_set_aside(ae_store *st, uint64_t seq, const char *reason, ae_err *err);

/* A cursor over unacked durable records in seq order, starting at the oldest. It holds a
 * read buffer (64 KiB, or the largest record read) and never the backlog, and survives
 * segments being removed under it. Returns 0 and *out, or AE_ENOMEM. Owner thread only. */
int ae_store_cursor_new(ae_store *st, ae_store_cursor **out, ae_err *err);

/* Frees a cursor; NULL is a no-op. */
void ae_store_cursor_free(ae_store_cursor *c);

/* Moves the cursor so the next record returned is the first unacked one with seq >= seq
 * (seek to 0 or to ack_floor + 1 to resend everything unacked after a reconnect). */
void ae_store_cursor_seek(ae_store_cursor *c, uint64_t seq);

/* Reads the next unacked durable record into *rec (pointers valid until the next call on
 * c). Returns 0; AE_EAGAIN when it has caught up with the durable seq (call again after the
 * notify fd fires); AE_EIO when a read failed (retry later). A record that fails its
 * checks now is skipped like recovery skips one: the next valid record is salvaged, the
 * seqs in between are counted lost (lost_records) and logged as an error. */
int ae_store_cursor_next(ae_store_cursor *c, ae_store_rec *rec, ae_err *err);

#endif
