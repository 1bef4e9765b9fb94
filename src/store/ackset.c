/* The ack state of the log: a floor (every seq at or below it is acked) plus a bitmap of
 * seqs acked above the floor, because the forwarder has many publishes in flight and their
 * PubAcks arrive in any order. See ackset.h. Owner-thread data; the store takes st->mu
 * around the mutating calls because the sync thread snapshots it. */
#include "store/ackset.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

void ae_ackset_init(ae_ackset *a, uint64_t floor)
{
    memset(a, 0, sizeof *a);
    a->floor = floor;
    a->base = (floor + 1) & ~(uint64_t)63;
}

void ae_ackset_free(ae_ackset *a)
{
    free(a->w);
    a->w = NULL;
    a->nw = a->cap = 0;
}

bool ae_ackset_has(const ae_ackset *a, uint64_t s)
{
    if (s <= a->floor)
        return true;
    uint64_t i = s - a->base;
    if (i / 64 >= a->nw)
        return false;
    return (a->w[i / 64] >> (i % 64)) & 1;
}

/* Moves the floor over set bits, then drops words wholly at or below it. */
static void advance(ae_ackset *a)
{
    for (;;) {
        uint64_t i = a->floor + 1 - a->base;
        size_t wi = (size_t)(i / 64);
        if (wi >= a->nw)
            break;
        uint64_t word = a->w[wi] >> (i % 64);
        if (word == ~(uint64_t)0 >> (i % 64)) {
            a->floor += 64 - i % 64; /* rest of this word set */
            continue;
        }
        /* count trailing ones */
        uint64_t ones = (uint64_t)__builtin_ctzll(~word);
        a->floor += ones;
        break;
    }
    uint64_t drop = (a->floor + 1 - a->base) / 64;
    if (drop) {
        if (drop >= a->nw) {
            a->nw = 0;
        } else {
            memmove(a->w, a->w + drop, (a->nw - drop) * sizeof *a->w);
            a->nw -= drop;
        }
        a->base += drop * 64;
    }
    if (a->nw == 0)
        a->base = (a->floor + 1) & ~(uint64_t)63;
}

static int grow(ae_ackset *a, size_t nw)
{
    if (nw <= a->nw)
        return 0;
    if (nw > a->cap) {
        size_t cap = a->cap ? a->cap : 8;
        while (cap < nw)
            cap *= 2;
        uint64_t *w = realloc(a->w, cap * sizeof *w);
        if (!w)
            return AE_ENOMEM;
        a->w = w;
        a->cap = cap;
    }
    memset(a->w + a->nw, 0, (nw - a->nw) * sizeof *a->w);
    a->nw = nw;
    return 0;
}

int ae_ackset_add(ae_ackset *a, uint64_t s)
{
    if (ae_ackset_has(a, s))
        return AE_EEXIST;
    uint64_t i = s - a->base;
    if (grow(a, (size_t)(i / 64 + 1)) != 0)
        return AE_ENOMEM;
    a->w[i / 64] |= (uint64_t)1 << (i % 64);
    if (s == a->floor + 1)
        advance(a);
    return 0;
}

uint64_t ae_ackset_count(const ae_ackset *a, uint64_t lo, uint64_t hi)
{
    if (hi < lo)
        return 0;
    uint64_t n = 0;
    if (lo <= a->floor) {
        uint64_t top = hi < a->floor ? hi : a->floor;
        n += top - lo + 1;
        lo = a->floor + 1;
        if (lo > hi)
            return n;
    }
    /* lo > floor >= base - 1, so lo >= base. */
    uint64_t end = a->base + (uint64_t)a->nw * 64; /* first seq past the bitmap */
    if (hi >= end)
        hi = end - 1;
    for (uint64_t s = lo; s <= hi && s < end;) {
        uint64_t i = s - a->base;
        uint64_t word = a->w[i / 64] >> (i % 64);
        uint64_t span = 64 - i % 64;
        if (span > hi - s + 1)
            span = hi - s + 1;
        if (span < 64)
            word &= ((uint64_t)1 << span) - 1;
        n += (uint64_t)__builtin_popcountll(word);
        s += span;
    }
    return n;
}

uint64_t ae_ackset_add_range(ae_ackset *a, uint64_t lo, uint64_t hi)
{
    if (hi < lo)
        return 0;
    uint64_t before = ae_ackset_count(a, lo, hi);
    if (lo <= a->floor + 1) {
        /* Fast path for discards: raise the floor directly. */
        if (hi > a->floor) {
            a->floor = hi;
            advance(a);
        }
        return (hi - lo + 1) - before;
    }
    if (grow(a, (size_t)((hi - a->base) / 64 + 1)) != 0)
        return UINT64_MAX;
    for (uint64_t s = lo; s <= hi; s++) {
        uint64_t i = s - a->base;
        a->w[i / 64] |= (uint64_t)1 << (i % 64);
    }
    return (hi - lo + 1) - before;
}

size_t ae_ackset_list(const ae_ackset *a, uint64_t *out, size_t max)
{
    size_t n = 0;
    for (size_t wi = 0; wi < a->nw && n < max; wi++) {
        uint64_t word = a->w[wi];
        while (word && n < max) {
            int b = __builtin_ctzll(word);
            uint64_t s = a->base + wi * 64 + (uint64_t)b;
            if (s > a->floor)
                out[n++] = s;
            word &= word - 1;
        }
    }
    return n;
}

int ae_ackset_or_words(ae_ackset *a, uint64_t base, const uint64_t *w, size_t nw, uint64_t max_seq)
{
    if (base % 64)
        return AE_EINVAL;
    /* Trim to the words that can hold a seq in (floor, max_seq]. */
    while (nw && (w[nw - 1] == 0 || base + 64 * (uint64_t)(nw - 1) > max_seq))
        nw--;
    size_t skip = 0;
    while (skip < nw && base + 64 * (uint64_t)skip + 63 <= a->floor)
        skip++;
    if (skip == nw)
        return 0;
    /* base + 64 * skip > floor - 63 and is a multiple of 64, so it is >= a->base. */
    uint64_t first = base + 64 * (uint64_t)skip;
    size_t at = (size_t)((first - a->base) / 64);
    if (grow(a, at + (nw - skip)) != 0)
        return AE_ENOMEM;
    for (size_t i = skip; i < nw; i++) {
        uint64_t s0 = base + 64 * (uint64_t)i, m = w[i];
        if (s0 <= a->floor)
            m &= ~(uint64_t)0 << (a->floor - s0 + 1); /* floor - s0 + 1 <= 63 here */
        if (max_seq < s0 + 63)                        /* then 0 <= max_seq - s0 < 63 */
            m &= ((uint64_t)1 << (max_seq - s0 + 1)) - 1;
        a->w[at + (i - skip)] |= m;
    }
    /* The words past the highest set bit stay allocated but zero; harmless. */
    if (ae_ackset_has(a, a->floor + 1))
        advance(a);
    return 0;
}
