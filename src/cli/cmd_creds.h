/* `aerie creds`: per-vehicle identities on the hubs (cmd_creds.c, docs/security.md). */
#ifndef AERIE_CLI_CMD_CREDS_H
#define AERIE_CLI_CMD_CREDS_H

#include "cli/cli.h"

/* `aerie creds add VID | list` (argv[0] is "creds"), on the fleet directory --dir DIR (a
 * fleet made by `aerie up`) or --out DIR (the output of `aerie topology`). Returns the exit
 * code: 0, 1 (an error), 2 (usage). */
int ae_cmd_creds(ae_cli *c, int argc, char **argv);

#endif
