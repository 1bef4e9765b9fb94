/* The subscription index: a token trie with separate `*` and `>` links, plus a bounded
 * cache of match results keyed by literal subject.
 *
 * Subscriptions are owned by the caller (a client, the uplink), which embeds `ae_sub` in
 * its own record and keeps subject and queue bytes alive while the sub is inserted.
 * Match results are owned by the sublist and stay valid until the next call of any
 * ae_sublist_* function on the same sublist, so a caller that fans a message out must
 * defer removals (auto-unsubscribe, closes) until it has finished with the result. */
#ifndef AERIE_LEAF_SUBLIST_H
#define AERIE_LEAF_SUBLIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct ae_sub {
    const char *subject; /* borrowed from the caller; not NUL-terminated necessarily */
    size_t subject_len;
    const char *queue; /* NULL or queue group name; borrowed */
    size_t queue_len;
    void *owner; /* opaque to the sublist */
} ae_sub;

typedef struct ae_qgroup {
    const char *name; /* points at one member's queue bytes */
    size_t name_len;
    ae_sub **subs; /* members matching the subject */
    size_t n;
} ae_qgroup;

typedef struct ae_match {
    ae_sub **psubs; /* plain (non-queue) subscriptions that match */
    size_t npsubs;
    ae_qgroup *qgroups; /* one entry per queue group name with matching members */
    size_t nqgroups;
} ae_match;

typedef struct ae_sublist_stats {
    uint64_t num_subs;
    uint64_t num_cache; /* entries currently cached */
    uint64_t num_inserts;
    uint64_t num_removes;
    uint64_t num_matches;
    uint64_t cache_hits;
    uint64_t max_fanout;
    uint64_t total_fanout; /* sum over matches of the result size; avg = total/num_matches */
} ae_sublist_stats;

typedef struct ae_sublist ae_sublist;

/* Creates an empty sublist whose cache holds at most `cache_max` results (0 disables it).
 * Returns NULL on allocation failure. */
ae_sublist *ae_sublist_new(size_t cache_max);
void ae_sublist_free(ae_sublist *sl); /* accepts NULL; does not free the subs */

/* Adds `sub` (borrowed for as long as it stays inserted). Returns 0, AE_EINVAL for an
 * invalid subject, AE_ENOMEM. Inserting the same ae_sub twice is AE_EEXIST. */
int ae_sublist_insert(ae_sublist *sl, ae_sub *sub);
/* Removes `sub`. Returns 0 or AE_ENOENT. */
int ae_sublist_remove(ae_sublist *sl, ae_sub *sub);

/* All subscriptions matching the literal subject. Never NULL (an empty result is returned
 * on allocation failure, too). See the validity rule above. */
const ae_match *ae_sublist_match(ae_sublist *sl, const char *subject, size_t len);

size_t ae_sublist_count(const ae_sublist *sl);
void ae_sublist_get_stats(const ae_sublist *sl, ae_sublist_stats *out);
/* Trie nodes currently allocated (diagnostics and tests: 0 once every sub is removed,
 * since empty nodes are freed at once). */
size_t ae_sublist_node_count(const ae_sublist *sl);

#endif
