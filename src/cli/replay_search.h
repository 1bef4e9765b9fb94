/* Finding where an event-time window starts inside one subject of a stream, with a number
 * of reads logarithmic in the stream's sequence range (no scan).
 *
 * The data model: a stream holds many subjects interleaved; one subject's messages appear in
 * increasing stream sequence, and (an Aerie rule: one publisher per vehicle subject, the
 * vehicle leaf forwards each subject in publish order) also in increasing event time, even
 * when they arrive late after an outage. The only read needed is "the first message of this
 * subject at or after sequence s" (JetStream direct get with next_by_subj), supplied as a
 * callback so the search can be tested without a server. */
#ifndef AERIE_CLI_REPLAY_SEARCH_H
#define AERIE_CLI_REPLAY_SEARCH_H

#include "common/err.h"

#include <stdint.h>

typedef struct ae_replay_hit {
    uint64_t seq;     /* stream sequence of the message */
    int64_t event_ns; /* its event time */
    void *msg;        /* the caller's message object (owned by whoever holds the hit) */
} ae_replay_hit;

typedef struct ae_replay_source {
    /* Fills *out with the first message of the subject whose sequence is >= seq. Returns 0,
     * AE_ENOENT when there is none, or another AE_E* (the search stops with it). */
    int (*next_at)(void *ctx, uint64_t seq, ae_replay_hit *out, ae_err *err);
    /* Releases a hit's msg that the search does not hand back. */
    void (*release)(void *ctx, void *msg);
    void *ctx;
} ae_replay_source;

/* Finds the first message of the subject with sequence in [lo, hi] and event time >= start_ns.
 * Returns 0 and the hit in *out (the caller now owns out->msg), AE_ENOENT when no message in
 * the range qualifies, or the source's error. Makes at most about log2(hi - lo + 2) + 1 reads. */
int ae_replay_find_start(const ae_replay_source *src, uint64_t lo, uint64_t hi, int64_t start_ns,
                         ae_replay_hit *out, ae_err *err);

#endif
