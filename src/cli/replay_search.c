/* Binary search for the start of an event-time window; see replay_search.h.
 *
 * Sequences of other subjects sit between ours, so the search runs over raw sequence numbers
 * x and asks for f(x) = the first message of our subject at or after x. The predicate
 * "f(x) is missing, or f(x) is at or after the window start" is monotone in x, and the
 * answer is f of the smallest x where it holds. When a probe lands before the window, the
 * search jumps past that message's own sequence, so one read can skip a long run of other
 * subjects' messages. */
#include "cli/replay_search.h"

int ae_replay_find_start(const ae_replay_source *src, uint64_t lo, uint64_t hi, int64_t start_ns,
                         ae_replay_hit *out, ae_err *err)
{
    if (hi < lo)
        return AE_ENOENT;
    uint64_t x_lo = lo, x_hi = hi + 1; /* x_hi: the predicate is known to hold there */
    ae_replay_hit best = {0};
    int have_best = 0;
    /* Probe the low end first: a window that starts before the subject's first message (a
     * replay of everything retained) is then answered by a single read. */
    {
        ae_replay_hit h = {0};
        int rc = src->next_at(src->ctx, lo, &h, err);
        if (rc)
            return rc;
        if (h.seq > hi) {
            src->release(src->ctx, h.msg);
            return AE_ENOENT;
        }
        if (h.event_ns >= start_ns) {
            *out = h;
            return 0;
        }
        src->release(src->ctx, h.msg);
        x_lo = h.seq + 1;
    }
    while (x_lo < x_hi) {
        uint64_t mid = x_lo + (x_hi - x_lo) / 2;
        ae_replay_hit h = {0};
        int rc = src->next_at(src->ctx, mid, &h, err);
        if (rc != 0 && rc != AE_ENOENT) {
            if (have_best)
                src->release(src->ctx, best.msg);
            return rc;
        }
        if (rc == AE_ENOENT || h.seq > hi) {
            /* Nothing of ours from mid to the end of the range. */
            if (rc == 0)
                src->release(src->ctx, h.msg);
            if (have_best)
                src->release(src->ctx, best.msg);
            have_best = 0;
            x_hi = mid;
        } else if (h.event_ns >= start_ns) {
            if (have_best)
                src->release(src->ctx, best.msg);
            best = h;
            have_best = 1;
            x_hi = mid;
        } else {
            src->release(src->ctx, h.msg);
            x_lo = h.seq + 1;
        }
    }
    if (!have_best)
        return AE_ENOENT;
    *out = best;
    return 0;
}
