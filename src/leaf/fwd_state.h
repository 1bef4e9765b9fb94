/* Private to the durable forwarder: its state (struct ae_forward and one fsubj per subject),
 * shared by its three files, each of which calls only into those below it:
 *   forward.c       lifecycle, capture, status, the loop's hooks (forward.h);
 *   fwd_drive.c     the per-subject driver: reading the log, publishing, the walk, order
 *                   repair, the hub's replies, timeouts and the window (fwd_drive.h);
 *   fwd_subjects.c  the subjects' records, their JetStream domains, and the note kept with
 *                   the log (fwd_subjects.h).
 * Types and limits only; it does not include forward.h (the public face of forward.c).
 * Loop thread only. */
#ifndef AERIE_LEAF_FWD_STATE_H
#define AERIE_LEAF_FWD_STATE_H

#include "common/hmap.h"
#include "common/timeutil.h"
#include "leaf/msgid.h"
#include "leaf/pipeline.h"
#include "leaf/server.h"
#include "leaf/sublist.h"
#include "leaf/uplink.h"
#include "leaf/walk.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define HELD_LIMIT         (8 * 1024 * 1024) /* bytes of records in memory, all subjects */
#define QUEUE_LIMIT        (256 * 1024)      /* bytes queued on the uplink before we stop */
#define WALK_TIMEOUT_NS    (6 * AE_NS_PER_SEC)
#define RETRY_MIN_NS       (250 * AE_NS_PER_MS)
#define RETRY_MAX_NS       (10 * AE_NS_PER_SEC)
#define ACK_BACKOFF_MAX    4                    /* doublings of the PubAck timeout */
#define ACK_TIMEOUT_MAX_NS (30 * AE_NS_PER_SEC) /* where the doublings stop */
#define NOTE_EVERY_NS      (250 * AE_NS_PER_MS)
#define NOTE_WAIT_NS       (3 * AE_NS_PER_SEC) /* longest wait for a first contact's note */
#define LIVE_BACKLOG_MIN   64 /* records waiting before live copies are worth sending */
#define WINDOW_MIN         16

typedef struct ae_forward ae_forward; /* also in forward.h */

typedef enum phase {
    PH_IDLE,   /* nothing under way; fwd_drive() decides what comes next */
    PH_FIRST,  /* first contact: probing the subject's newest stream sequence */
    PH_NOTE,   /* waiting for the walk start to reach the disk before the first send */
    PH_WALK,   /* reading back what the stream holds */
    PH_REPAIR, /* deleting copies the stream holds out of order */
    PH_READY,  /* publishing */
    PH_WAIT,   /* backing off after an error */
} phase;

extern const char *const fwd_phase_name[]; /* by phase, for logs (fwd_subjects.c) */

/* Where a subject stands in a JetStream domain it is not forwarded to now (a vehicle that
 * failed over to a fallback region comes back, or goes there again). */
typedef struct fdomain_note {
    char domain[64];
    char stream[128];
    uint64_t retired_seq, retired_sseq;
} fdomain_note;

typedef struct fsubj {
    char *subject;
    size_t len;
    int id;
    ae_pipeline pl;
    phase ph;
    bool known;     /* the walk start is on disk: records may be sent */
    bool uncertain; /* the stream may hold records of ours we do not know about */
    char stream[128];
    uint64_t op; /* id of the current probe/walk/repair round */
    ae_walk walk;
    uint64_t note_gen;
    ae_stored_ref *disp;
    size_t ndisp, capdisp;
    unsigned dels_pending;
    bool walk_after_repair; /* the deletes were of copies no walk sees: walk afterwards */
    uint64_t last_after_repair;
    int64_t wait_until, phase_since;
    int failures;
    uint64_t last_captured;
    int64_t last_activity, live_sent;
    bool skipping;      /* records evicted from memory: re-read after a rewind */
    bool runnable;      /* on the queue of subjects waiting for window room */
    fdomain_note *away; /* its notes for other domains */
    size_t naway;
    struct fsubj *run_next;
} fsubj;

struct ae_forward {
    ae_server *srv;
    ae_uplink *up;
    ae_store *st;
    ae_store_cursor *cur;
    ae_io notify;
    ae_timer tick;
    ae_msgid_key key;
    ae_walk_env env;
    char hub_domain[64];  /* the domain forwarded to now: the hub's (its INFO), or configured */
    char conf_domain[64]; /* uplink.domain (default "hub"): when the hub names none */
    char prefix[64];
    bool ready;
    bool cursor_stalled;
    bool rewind_pending;

    ae_sublist *policy; /* uplink.subjects as subscriptions: is a subject durable? */
    ae_sub *policy_subs;
    int npolicy;

    ae_hmap subjects; /* subject -> fsubj */
    fsubj **by_id;
    int nids, capids, nsubjects;
    fsubj *run_head, *run_tail;

    size_t held;       /* bytes of records in pipelines */
    unsigned inflight; /* publishes awaiting a reply, all subjects */
    unsigned window;   /* current limit on inflight */
    uint64_t next_op;
    uint64_t last_durable;
    bool note_dirty;
    int64_t note_at;

    /* window estimation */
    int64_t min_rtt, min_rtt_at;
    double srtt;
    /* The PubAck timeout doubles after each timeout and is back to normal with the next
     * PubAck, as TCP backs off its retransmission timer: a hub that answers late under load
     * (a thousand vehicles reconnecting at once) would otherwise be sent a stream read-back
     * per subject of every vehicle, each a JetStream consumer, and fall further behind. */
    int ack_backoff;
    uint64_t acked_at_last_tick;
    double ack_rate;
    int64_t last_rate_at;

    /* statistics */
    uint64_t captured, forwarded, acked, duplicates, resends, resyncs, skipped_stored;
    uint64_t retries, repairs, deleted, set_aside, hub_errors, capture_errors, live_copies;
    uint64_t stripped_headers, forged_ids, foreign_msgs;
    char last_error[256];
};

#endif
