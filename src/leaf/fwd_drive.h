/* Private to the durable forwarder: its state (struct ae_forward), shared by forward.c
 * (lifecycle, capture, status, the loop's hooks) and fwd_drive.c (the per-subject driver:
 * reading the log, publishing, the walk, order repair, the hub's replies), and the driver's
 * functions. forward.c calls into fwd_drive.c, never the other way round; so this header
 * does not include forward.h (the public face of forward.c). Loop thread only. */
#ifndef AERIE_LEAF_FWD_DRIVE_H
#define AERIE_LEAF_FWD_DRIVE_H

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

#define HELD_LIMIT       (8 * 1024 * 1024) /* bytes of records in memory, all subjects */
#define QUEUE_LIMIT      (256 * 1024)      /* bytes queued on the uplink before we stop */
#define WALK_TIMEOUT_NS  (6 * AE_NS_PER_SEC)
#define RETRY_MIN_NS     (250 * AE_NS_PER_MS)
#define RETRY_MAX_NS     (10 * AE_NS_PER_SEC)
#define NOTE_EVERY_NS    (250 * AE_NS_PER_MS)
#define NOTE_WAIT_NS     (3 * AE_NS_PER_SEC) /* longest wait for a first contact's note */
#define LIVE_BACKLOG_MIN 64 /* records waiting before live copies are worth sending */
#define WINDOW_MIN       16

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

extern const char *const fwd_phase_name[]; /* by phase, for logs */

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
    uint64_t acked_at_last_tick;
    double ack_rate;
    int64_t last_rate_at;

    /* statistics */
    uint64_t captured, forwarded, acked, duplicates, resends, resyncs, skipped_stored;
    uint64_t retries, repairs, deleted, set_aside, hub_errors, capture_errors, live_copies;
    uint64_t stripped_headers, forged_ids, foreign_msgs;
    char last_error[256];
};

/* ---- fwd_drive.c ------------------------------------------------------------------------ */

/* Records an error in last_hub_error and logs it. */
void fwd_error(ae_forward *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The subject's state, created when `create` (NULL: absent, or out of memory). */
fsubj *fwd_subject_get(ae_forward *f, const char *s, size_t n, bool create);
void fwd_subject_free(ae_forward *f, fsubj *ss);
/* Hands the note (fwdnote.h) to the store; urgent writes it now. *gen (may be NULL) is its
 * generation. Returns 0 or the store's error. */
int fwd_write_note(ae_forward *f, bool urgent, uint64_t *gen);
/* Makes the subjects of the last run's note known (each walked before it sends). */
void fwd_read_note(ae_forward *f);
/* Reads the log into the pipelines and publishes what the window allows. */
void fwd_pump(ae_forward *f);
/* Moves one subject on (first contact, walk, repair, publishing). */
void fwd_drive(ae_forward *f, fsubj *ss);
/* Subjects that waited for window room publish, in turn. */
void fwd_send_runnable(ae_forward *f);
/* Timeouts and backoff of one subject (from the tick). */
void fwd_check_subject(ae_forward *f, fsubj *ss, int64_t now);
/* Forgets a drained subject unused for uplink.subject_idle. */
void fwd_release_idle(ae_forward *f, fsubj *ss, int64_t now);
/* Follows the window to the link (once a second). */
void fwd_adapt_window(ae_forward *f, int64_t now);
/* The uplink's client hooks (hooks.h: ae_uplink_client). */
void fwd_on_ready(void *ctx, bool ready);
/* The link came up in JetStream domain `domain`: subjects switch to their state there. */
void fwd_enter_domain(ae_forward *f, const char *domain);
void fwd_on_inbox(void *ctx, const ae_op *op);
void fwd_on_writable(void *ctx);

#endif
