/* A small open-addressing hash map from byte-string keys to pointers.
 *
 * Keys are borrowed: the map stores the key pointer given to ae_hmap_put, so the bytes
 * must stay valid and unchanged while the entry exists (usually the value owns them).
 * Used for per-client sid tables and the uplink's interest counts. Not thread-safe. */
#ifndef AERIE_COMMON_HMAP_H
#define AERIE_COMMON_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ae_hmap_ent {
    const char *key; /* NULL: empty slot */
    size_t klen;
    uint64_t hash;
    void *val;
} ae_hmap_ent;

typedef struct ae_hmap {
    ae_hmap_ent *ents;
    size_t cap;   /* power of two, or 0 */
    size_t count; /* live entries */
    size_t used;  /* live + tombstones */
} ae_hmap;

#define AE_HMAP_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

uint64_t ae_hash_bytes(const void *p, size_t n);

/* The value stored under the key, or NULL. */
void *ae_hmap_get(const ae_hmap *m, const char *key, size_t klen);
/* Stores val under key (borrowed), replacing any previous value. Returns 0 or AE_ENOMEM. */
int ae_hmap_put(ae_hmap *m, const char *key, size_t klen, void *val);
/* Removes the key; returns its value or NULL if absent. */
void *ae_hmap_del(ae_hmap *m, const char *key, size_t klen);
/* Frees the table (not the values). */
void ae_hmap_free(ae_hmap *m);
/* Iteration: for (size_t i = 0; (e = ae_hmap_next(m, &i)); ) ...; entries may be deleted
 * during iteration but not added. */
ae_hmap_ent *ae_hmap_next(const ae_hmap *m, size_t *pos);

#endif
