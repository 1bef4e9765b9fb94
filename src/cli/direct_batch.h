/* Many last-by-subject direct gets at once, pipelined on the ae_cli's one connection.
 *
 * A reader that needs the newest message of thousands of subjects (the status of a fleet of
 * 1,000 vehicles is about 7,000 of them) cannot afford one round trip each. Here every
 * request goes out on `<api>.DIRECT.GET.<stream>.<subject>` (the server reads the subject
 * from the request subject, no body) with its own reply subject under one inbox, up to
 * `window` of them in flight, and the replies are matched back by that subject. With a
 * window of 1 it is exactly the one-at-a-time way (what bench/bench_dash_poll compares).
 *
 * The answers mean what ae_cli_direct_get_at's do: a message, "no such message" (404), or
 * "nobody answers" (the stream does not exist or lacks allow_direct). */
#ifndef AERIE_CLI_DIRECT_BATCH_H
#define AERIE_CLI_DIRECT_BATCH_H

#include "cli/cli.h"

#include <stddef.h>

/* The default number of requests in flight: enough to hide the round trip, few enough that
 * the replies never overrun the subscription's pending limits. */
#define AE_DIRECT_BATCH_WINDOW 256

/* One read of a batch: in, the copy and the subject; out, the answer. */
typedef struct ae_last_req {
    const ae_read_src *src; /* borrowed for the call */
    const char *subject;    /* borrowed for the call; a literal subject (no wildcards) */
    natsMsg *msg;           /* out: the newest message (caller destroys), or NULL */
    int rc;                 /* out: 0, AE_ENOENT (no message, or no such stream), AE_ETIMEOUT
                               (no answer within the ae_cli's timeout), AE_EPROTO */
} ae_last_req;

/* Sends every request (window <= 0 means AE_DIRECT_BATCH_WINDOW) and waits for the answers,
 * each within c->timeout_ns of the last answer. Counts into c->req_direct. Returns 0 when
 * every request has its answer in its rc (possibly an error of its own), or AE_EIO / AE_ENOMEM
 * when the batch could not be sent at all (message in err; then no msg is set). */
int ae_cli_last_batch(ae_cli *c, ae_last_req *reqs, size_t n, int window, ae_err *err);

#endif
