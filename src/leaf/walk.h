/* Reading back what the hub stream holds of one uplink subject, so the forwarder knows
 * exactly which of its records are stored, where, and in what order: the probe and the
 * walk. Used after every (re)connect for subjects with records in flight, and whenever the
 * replies to a pipelined subject stop making sense (pipeline.h).
 *
 *  - The probe publishes an empty message on the subject itself with header
 *    `Nats-Expected-Last-Subject-Sequence: 999999999999999` (and `Aerie-Probe: 1`). The
 *    stream leader checks that header before it stores anything and refuses with
 *    "wrong last sequence: N", N being the subject's newest stream sequence in the leader's
 *    own store. Followers and mirrors never answer it, so N is not stale (nats-server
 *    2.9.10 jetstream_cluster.go, processClusteredInboundMsg). The reply also names the
 *    stream. Nothing is stored.
 *  - The walk creates a pull consumer filtered to the subject, starting after the last
 *    retired record (headers only, no acks, memory storage, deleted by the hub two seconds
 *    after its last pull), and reads the subject's messages until it has seen stream
 *    sequence N. A consumer may sit on a follower that is behind; the walk then keeps
 *    pulling until the follower catches up to N, so its answer is never older than the
 *    probe's.
 * Both requests are scoped to the subject (the filter is part of the API subject), so a hub
 * can grant each vehicle exactly its own subjects (docs/security.md). */
#ifndef AERIE_LEAF_WALK_H
#define AERIE_LEAF_WALK_H

#include "leaf/msgid.h"
#include "leaf/pipeline.h"
#include "leaf/proto.h"

#include <stdbool.h>
#include <stdint.h>

#define AE_WALK_PROBE_SEQ 999999999999999ULL

/* What a walk needs from its owner; borrowed for the walk's life. */
typedef struct ae_walk_env {
    /* sends one message to the hub (the uplink's publish; a test's recorder) */
    int (*send)(void *ctx, const char *subject, size_t subject_len, const char *reply,
                size_t reply_len, const void *hdr, size_t hdr_len, const void *payload,
                size_t payload_len);
    void *ctx;
    const char *inbox;  /* the uplink's inbox prefix, "_INBOX.<rand>." */
    const char *domain; /* the hub's JetStream domain */
    const ae_msgid_key *key;
} ae_walk_env;

typedef enum ae_walk_status {
    AE_WALK_PENDING, /* waiting for more replies */
    AE_WALK_DONE,    /* found[] holds our records after `after`, in stream order */
    AE_WALK_FAILED,  /* error[] says why; try again later */
} ae_walk_status;

typedef struct ae_walk {
    int subj_id;
    uint64_t op; /* this round's id, part of every reply subject */
    const char *subject;
    size_t subject_len;
    char stream[128]; /* known before, or learned from the probe's reply */
    uint64_t after;   /* messages with a stream sequence above this are read */
    bool probe_only;  /* first contact: only the newest sequence is wanted */

    bool probed;
    uint64_t last; /* the probe's answer */
    bool consumer_ok;
    char consumer[32];
    uint64_t seen;     /* newest stream sequence delivered */
    uint64_t last_any; /* newest stream sequence of any message delivered */
    ae_stored_ref *found;
    size_t nfound, capfound;
    unsigned foreign, forged; /* messages on the subject that are not ours / forged ids */
    int64_t began, pulled_at; /* monotonic ns */
    bool pull_open;           /* a pull request is outstanding */
    char error[400];
} ae_walk;

/* Starts a round: sends the probe and (unless probe_only, and once the stream is known)
 * the consumer. stream may be "" when unknown. */
void ae_walk_begin(ae_walk *w, const ae_walk_env *e, int subj_id, const char *subject,
                   size_t subject_len, const char *stream, uint64_t after, bool probe_only,
                   uint64_t op);
/* A reply for this round: kind is the letter of its reply subject ('p' probe, 'c' consumer
 * created, 'w' a delivery or status of the pull). */
ae_walk_status ae_walk_reply(ae_walk *w, const ae_walk_env *e, char kind, const ae_op *op);
/* Called from the owner's timer while PENDING: pulls again when the last pull expired
 * without reaching the probe's answer. Returns FAILED after timeout_ns since begin. */
ae_walk_status ae_walk_tick(ae_walk *w, const ae_walk_env *e, int64_t now, int64_t timeout_ns);
void ae_walk_free(ae_walk *w);

/* Sends MSG.DELETE of stream sequence sseq with reply <inbox>d.<id>.<op>.<k>. */
void ae_walk_send_delete(const ae_walk_env *e, const char *stream, int subj_id, uint64_t op,
                         unsigned k, uint64_t sseq);

#endif
