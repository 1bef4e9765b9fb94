/* `aerie replay VID`: a vehicle's stored history by event-time window, as JSON lines or CSV,
 * optionally re-published at 1x/10x speed onto a separate subject prefix. */
#ifndef AERIE_CLI_CMD_REPLAY_H
#define AERIE_CLI_CMD_REPLAY_H

#include "cli/cli.h"

#include <stdbool.h>
#include <stdint.h>

/* Runs `aerie replay VID [options]` (argv[0] == "replay"); options are in docs/cli.md.
 * Returns the exit code: 0, 1 (error), 2 (usage). */
int ae_cmd_replay(ae_cli *c, int argc, char **argv);

/* One message of a replay, in event-time order. Everything is borrowed for the call. */
typedef struct ae_replay_item {
    const char *subject, *stream;
    uint64_t seq;
    int64_t event_ns;
    natsMsg *msg;
} ae_replay_item;

/* Called for each message; a non-zero return (an AE_E* with err set) stops the replay. */
typedef int (*ae_replay_emit_fn)(void *ctx, const ae_replay_item *it, ae_err *err);

/* The replay itself, on a connected ae_cli: every stored message of `vid` whose subject
 * matches filter_rel (relative to fleet.<env>.veh.<vid>., or absolute when it starts with
 * "fleet.") and whose event time is in [start_ns, end_ns), merged across subjects in event
 * time order (ties by stream sequence), handed to emit. *subjects receives the number of
 * subjects and *search_requests the direct gets spent finding the window's start. Returns
 * 0, AE_ENOENT when the hub has none of the twin streams, or the first error. */
int ae_replay_each(ae_cli *c, const char *vid, const char *filter_rel, int64_t start_ns,
                   int64_t end_ns, ae_replay_emit_fn emit, void *ctx, int *subjects,
                   long *search_requests, ae_err *err);

/* True if NATS subject `subject` matches `pattern` (tokens, `*` one token, `>` the rest). */
bool ae_subject_matches(const char *pattern, const char *subject);

#endif
