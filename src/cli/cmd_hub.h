/* `aerie hub init`: create or update the hub streams of the architecture idempotently.
 * Works with cmd_hub.c; main.c dispatches `aerie hub ...` here. */
#ifndef AERIE_CLI_CMD_HUB_H
#define AERIE_CLI_CMD_HUB_H

#include "cli/cli.h"
#include "cli/retention.h"

/* Runs `aerie hub <sub> [options]` with argv[0] == "hub". Returns the process exit code:
 * 0 when every stream is as asked (created, updated or already so), 1 on an error, 2 on a
 * usage error. Prints one line per stream (or a JSON object with --json). */
int ae_cmd_hub(ae_cli *c, int argc, char **argv);

/* Creates or updates every hub stream with the retention limits `ret` (retention.h; any
 * max_bytes still unset becomes ret->budget's share, else unlimited) and `replicas`, printing
 * nothing (for `aerie up`). counts receives created/updated/unchanged. Returns 0, or the
 * first stream's error (AE_E* with a message); a JetStream that is still electing its
 * leader fails here, so callers retry. Needs a connected ae_cli. */
int ae_hub_init_defaults(ae_cli *c, int replicas, const ae_retention *ret, int counts[3],
                         ae_err *err);

/* Formats a duration in ns the short way operators write it ("7d", "2m", "90s", "1.5s").
 * Returns out. */
char *ae_cli_fmt_duration(int64_t ns, char *out, size_t cap);

#endif
