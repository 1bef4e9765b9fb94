/* `aerie replay VID`: a vehicle's stored history by event-time window, as JSON lines or CSV,
 * optionally re-published at 1x/10x speed onto a separate subject prefix. */
#ifndef AERIE_CLI_CMD_REPLAY_H
#define AERIE_CLI_CMD_REPLAY_H

#include "cli/cli.h"

#include <stdbool.h>

/* Runs `aerie replay VID [options]` (argv[0] == "replay"); options are in docs/cli.md.
 * Returns the exit code: 0, 1 (error), 2 (usage). */
int ae_cmd_replay(ae_cli *c, int argc, char **argv);

/* True if NATS subject `subject` matches `pattern` (tokens, `*` one token, `>` the rest). */
bool ae_subject_matches(const char *pattern, const char *subject);

#endif
