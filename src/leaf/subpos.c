/* The subscription index's pointer set (subpos.h): open addressing with linear probing,
 * grown at 70 % load, and backward-shift deletion. */
#include "leaf/subpos.h"

#include <stdint.h>
#include <stdlib.h>

static inline uint64_t hash_ptr(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 32);
}

ae_subpos_slot *ae_subpos_find(const ae_subpos *s, const struct ae_sub *sub)
{
    if (!s->cap)
        return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = hash_ptr(sub) & mask;; i = (i + 1) & mask) {
        if (s->tab[i].sub == sub)
            return &s->tab[i];
        if (!s->tab[i].sub)
            return NULL;
    }
}

static void place(ae_subpos_slot *tab, size_t cap, struct ae_sub *sub, uint32_t idx)
{
    size_t mask = cap - 1, i = hash_ptr(sub) & mask;
    while (tab[i].sub)
        i = (i + 1) & mask;
    tab[i].sub = sub;
    tab[i].idx = idx;
}

/* Makes room for one more entry so the following ae_subpos_add cannot fail. */
int ae_subpos_reserve(ae_subpos *s)
{
    if ((s->count + 1) * 10 <= s->cap * 7)
        return 0;
    size_t nc = s->cap ? s->cap * 2 : 64;
    ae_subpos_slot *t = calloc(nc, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->tab[i].sub)
            place(t, nc, s->tab[i].sub, s->tab[i].idx);
    free(s->tab);
    s->tab = t;
    s->cap = nc;
    return 0;
}

void ae_subpos_add(ae_subpos *s, struct ae_sub *sub, uint32_t idx)
{
    place(s->tab, s->cap, sub, idx);
    s->count++;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
void ae_subpos_del(ae_subpos *s, ae_subpos_slot *slot)
{
    size_t mask = s->cap - 1, i = (size_t)(slot - s->tab), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->tab[j].sub)
            break;
        size_t k = hash_ptr(s->tab[j].sub) & mask;
        /* Leave tab[j] where it is if its home k lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        s->tab[i] = s->tab[j];
        i = j;
    }
    s->tab[i].sub = NULL;
    s->count--;
}

void ae_subpos_free(ae_subpos *s)
{
    free(s->tab);
    s->tab = NULL;
    s->cap = s->count = 0;
}
