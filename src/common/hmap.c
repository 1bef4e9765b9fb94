/* Open-addressing hash map with linear probing and tombstones; see hmap.h. */
#include "common/hmap.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* Marks a deleted slot so probe chains stay intact. */
static const char tombstone[1];

uint64_t ae_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a, 64-bit, with a final mix so low bits spread well for power-of-two tables. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static ae_hmap_ent *find(const ae_hmap *m, const char *key, size_t klen, uint64_t h)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        ae_hmap_ent *e = &m->ents[i];
        if (!e->key)
            return NULL;
        if (e->key != tombstone && e->hash == h && e->klen == klen &&
            memcmp(e->key, key, klen) == 0)
            return e;
    }
}

void *ae_hmap_get(const ae_hmap *m, const char *key, size_t klen)
{
    ae_hmap_ent *e = find(m, key, klen, ae_hash_bytes(key, klen));
    return e ? e->val : NULL;
}

static int grow(ae_hmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 8;
    if (m->count * 4 < m->cap)
        ncap = m->cap; /* mostly tombstones: rehash at the same size */
    ae_hmap_ent *ents = calloc(ncap, sizeof *ents);
    if (!ents)
        return AE_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        ae_hmap_ent *e = &m->ents[i];
        if (!e->key || e->key == tombstone)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ents[j].key)
            j = (j + 1) & (ncap - 1);
        ents[j] = *e;
    }
    free(m->ents);
    m->ents = ents;
    m->cap = ncap;
    m->used = m->count;
    return 0;
}

int ae_hmap_put(ae_hmap *m, const char *key, size_t klen, void *val)
{
    uint64_t h = ae_hash_bytes(key, klen);
    ae_hmap_ent *e = find(m, key, klen, h);
    if (e) {
        e->key = key;
        e->val = val;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc)
            return rc;
    }
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->ents[i].key && m->ents[i].key != tombstone)
        i = (i + 1) & mask;
    if (!m->ents[i].key)
        m->used++;
    m->ents[i] = (ae_hmap_ent){key, klen, h, val};
    m->count++;
    return 0;
}

void *ae_hmap_del(ae_hmap *m, const char *key, size_t klen)
{
    ae_hmap_ent *e = find(m, key, klen, ae_hash_bytes(key, klen));
    if (!e)
        return NULL;
    void *v = e->val;
    e->key = tombstone;
    e->val = NULL;
    m->count--;
    return v;
}

void ae_hmap_free(ae_hmap *m)
{
    free(m->ents);
    *m = (ae_hmap)AE_HMAP_INIT;
}

ae_hmap_ent *ae_hmap_next(const ae_hmap *m, size_t *pos)
{
    while (*pos < m->cap) {
        ae_hmap_ent *e = &m->ents[(*pos)++];
        if (e->key && e->key != tombstone)
            return e;
    }
    return NULL;
}
