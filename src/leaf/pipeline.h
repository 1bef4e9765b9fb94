/* The pipeline of one uplink subject: its records on their way from the log to the hub
 * stream, and the bookkeeping that keeps them in the stream exactly once and in publish
 * order while many publishes are in flight.
 *
 * Pure logic, no I/O: forward.c feeds it the records it reads from the log, the hub's
 * replies, and the result of a walk (the subject's messages read back from the stream), and
 * asks it what to send, what to retire from the log and which stored copies to delete.
 * tests/leafunit exercises it without a hub.
 *
 * The argument in short (docs/store-and-forward.md has it in full):
 *  - Records go out in log order, each with an id the hub deduplicates on. A record is
 *    retired (acked in the log) only when the hub acked it AND every earlier record of the
 *    subject is retired, so the retired records are always a stored, in-order prefix.
 *  - The hub may drop a publish inside the window (a stream leader change on nats-server
 *    2.9 does) and store later ones: an ack behind an unanswered send pauses the subject;
 *    an overdue reply, an out-of-order ack or an error makes forward.c recall the
 *    pipeline and walk the stream from the last retired record.
 *  - A walk shows exactly which of our records the hub holds after the last retired one.
 *    Those that continue the in-order prefix are retired; a stored record that follows an
 *    unstored one, or repeats or precedes one before it, is "displaced": forward.c deletes
 *    it and the record is published again under a new incarnation of its id.
 *  - Copies of a record that arrive late (an old connection's bytes released after the
 *    walk) carry the same id as the resend, so the hub keeps the first; one that lands out
 *    of place shows in the acks (a stream sequence below one already stored) and is deleted.
 * Nothing of this puts a JetStream expectation header on a stored message: a stream that
 * sources or mirrors the subject would check it again and stall. */
#ifndef AERIE_LEAF_PIPELINE_H
#define AERIE_LEAF_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ae_prec_state {
    AE_PREC_WAITING, /* read from the log, not sent in this generation */
    AE_PREC_SENT,    /* published, no reply yet */
    AE_PREC_STORED,  /* the hub acked it; retired once everything before it is */
} ae_prec_state;

/* A record of the subject, copied out of the log. */
typedef struct ae_prec {
    struct ae_prec *next;
    uint64_t seq;     /* log sequence */
    uint32_t inc;     /* incarnation of its id (0 unless a stored copy was deleted) */
    uint8_t state;    /* ae_prec_state */
    uint32_t gen;     /* generation it was sent in */
    uint64_t sseq;    /* stream sequence once stored */
    int64_t sent_at;  /* monotonic ns of the send */
    int64_t time_ns;  /* event time */
    uint32_t hdr_len; /* data = publisher's header block, then payload */
    uint32_t payload_len;
    uint8_t data[];
} ae_prec;

/* One of our records found in the stream by a walk. */
typedef struct ae_stored_ref {
    uint64_t seq, sseq;
    uint32_t inc;
} ae_stored_ref;

/* What a reply means for the pipeline. */
typedef enum ae_pipe_verdict {
    AE_PIPE_IGNORED,  /* an older generation's or unknown record's reply */
    AE_PIPE_OK,       /* progress: retire with ae_pipeline_pop_retired, send more */
    AE_PIPE_PAUSE,    /* an ack behind an unanswered send: send nothing until it settles */
    AE_PIPE_RESYNC,   /* recall and walk the stream (lost, out of order, deleted copy, error) */
    AE_PIPE_SET_ASIDE /* the hub can never take this record: set it aside, then drop it */
} ae_pipe_verdict;

typedef struct ae_pipeline {
    ae_prec *head, *tail; /* unretired records in log order */
    ae_prec *unsent;      /* first WAITING record; all after it are WAITING */
    uint32_t gen;
    unsigned nsent;   /* SENT in this generation */
    unsigned nstored; /* STORED and not yet retired: 0 lets an in-order ack skip the scans */
    size_t bytes;     /* memory held by the records */
    uint64_t max_seq;

    uint64_t retired_seq;  /* newest retired record (0 none) */
    uint64_t retired_sseq; /* where the stream holds it: no unretired record of ours is
                              stored at or below this (the walk starts after it) */
    bool paused;           /* an ack arrived behind an unanswered send */

    ae_stored_ref *ahead; /* from the last walk: our records stored past retired_sseq, in
                             stream order with increasing seq, not yet matched */
    size_t nahead, capahead;
    uint64_t walk_horizon; /* the last walk saw every message of the subject up to here */
    uint64_t *reinc;       /* seqs whose stored copy was deleted: publish with a new id */
    size_t nreinc, capreinc;
    uint32_t (*new_inc)(void); /* a fresh non-zero incarnation (random) */
} ae_pipeline;

void ae_pipeline_init(ae_pipeline *p, uint32_t (*new_inc)(void));
/* Frees every record and buffer. */
void ae_pipeline_free(ae_pipeline *p);

/* A record read from the log (seq above every record pushed so far). Takes ownership. */
void ae_pipeline_push(ae_pipeline *p, ae_prec *r);

/* The next record to publish, or NULL: nothing waiting, paused, or a walk's results not yet
 * settled against the records (ae_pipeline_settle). */
ae_prec *ae_pipeline_next(ae_pipeline *p);
/* Marks r (from ae_pipeline_next) published at `now`. */
void ae_pipeline_sent(ae_pipeline *p, ae_prec *r, int64_t now);

/* The hub acked record seq, sent in generation gen, as stored at stream sequence sseq. With
 * AE_PIPE_RESYNC, *delete_sseq may name a copy of the record that sits where no walk will
 * look (before the last retired record, or before the last walk's horizon without the walk
 * having seen it): the caller deletes it (harmless if it is gone) before walking. */
ae_pipe_verdict ae_pipeline_ack(ae_pipeline *p, uint32_t gen, uint64_t seq, uint64_t sseq,
                                bool duplicate, uint64_t *delete_sseq);
/* The hub refused record seq; permanent: no resend can succeed. */
ae_pipe_verdict ae_pipeline_refused(ae_pipeline *p, uint32_t gen, uint64_t seq, bool permanent);

/* Pops the oldest record if it is retired-ready (stored, in order). Returns it (the caller
 * acks it in the log and frees it) or NULL. */
ae_prec *ae_pipeline_pop_retired(ae_pipeline *p);
/* Removes record seq (set aside by the caller, or larger than the hub takes) and frees it. */
void ae_pipeline_drop(ae_pipeline *p, uint64_t seq);

/* Takes back everything sent: a new generation, every unretired record WAITING again, the
 * walk's results forgotten. Replies of older generations are ignored from now on. */
void ae_pipeline_recall(ae_pipeline *p);
/* The oldest send still unanswered, or NULL. */
const ae_prec *ae_pipeline_oldest_sent(const ae_pipeline *p);

/* Applies a walk: ours holds our records found after retired_sseq in stream order; horizon
 * the newest stream sequence the walk covered. Copies of records that break the order (a seq
 * not above the one before it) are appended to displaced (room for n entries; the caller
 * deletes them). Call after ae_pipeline_recall. */
void ae_pipeline_apply_walk(ae_pipeline *p, const ae_stored_ref *ours, size_t n, uint64_t horizon,
                            ae_stored_ref *displaced, size_t *ndisplaced);
/* Matches the walk's results against the records now in the pipeline: records the stream
 * holds in order become stored; a stored record after one it does not hold is displaced
 * (appended to displaced, up to cap; the record gets a new incarnation). *matched counts the
 * records found stored. Returns false while results wait for records not read from the log
 * yet. */
bool ae_pipeline_settle(ae_pipeline *p, ae_stored_ref *displaced, size_t *ndisplaced, size_t cap,
                        size_t *matched);
/* Frees WAITING records from the newest back while the pipeline holds more than keep
 * bytes (a blocked subject must not hold every other one up). max_seq drops to the newest
 * record kept, so the evicted ones are taken again when they are read from the log again.
 * Returns the bytes freed. */
size_t ae_pipeline_evict(ae_pipeline *p, size_t keep);

#endif
