/* The ack state of the log: a floor (every seq at or below it is acked) plus a bitmap of the
 * seqs acked above it, because the forwarder has many publishes in flight and their PubAcks
 * arrive in any order. Implemented in ackset.c. Not thread-safe: the store serialises the
 * mutating calls under its lock (see store_internal.h). */
#ifndef AERIE_STORE_ACKSET_H
#define AERIE_STORE_ACKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* Marks acked every seq s with bit (s - base) set in w[0..nw) (base a multiple of 64), for
 * floor < s <= max_seq, then advances the floor. This is how a bitmap read back from the
 * meta file is applied. Returns 0, AE_EINVAL (base not a multiple of 64) or AE_ENOMEM
 * (nothing changed then). */
int ae_ackset_or_words(ae_ackset *a, uint64_t base, const uint64_t *w, size_t nw, uint64_t max_seq);

#endif
