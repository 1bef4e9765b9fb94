/* Where each subscription sits in the subscription index (sublist.c): a hash set of ae_sub
 * pointers, each with its index in its trie node's array. It makes a duplicate insert or an
 * unknown remove one lookup, and a removal a swap with the last element instead of a scan.
 * A zeroed ae_subpos is empty. Not thread-safe (the loop thread only). */
#ifndef AERIE_LEAF_SUBPOS_H
#define AERIE_LEAF_SUBPOS_H

#include <stddef.h>
#include <stdint.h>

struct ae_sub; /* sublist.h; only its address is used here */

typedef struct ae_subpos_slot {
    struct ae_sub *sub; /* NULL: empty */
    uint32_t idx;
} ae_subpos_slot;

typedef struct ae_subpos {
    ae_subpos_slot *tab;
    size_t cap, count;
} ae_subpos;

/* The slot of sub, or NULL when it is not in the set. */
ae_subpos_slot *ae_subpos_find(const ae_subpos *s, const struct ae_sub *sub);
/* Makes room for one more entry so that the following ae_subpos_add cannot fail: 0 or -1
 * (out of memory). */
int ae_subpos_reserve(ae_subpos *s);
/* Adds sub (not in the set yet) at idx, after ae_subpos_reserve. */
void ae_subpos_add(ae_subpos *s, struct ae_sub *sub, uint32_t idx);
/* Removes the entry at slot (from ae_subpos_find); other slots may move. */
void ae_subpos_del(ae_subpos *s, ae_subpos_slot *slot);
/* Frees the table; s is empty afterwards. */
void ae_subpos_free(ae_subpos *s);

#endif
