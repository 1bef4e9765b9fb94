/* `aerie topology FILE --out DIR`: from one fleet description (regions, hub nodes, vehicles,
 * env) generate every config: hub cluster nodes, vehicle leaf configs, vehicle gateway
 * settings, the gateway blocks joining regions, and a fleet.json per region for the CLI.
 * The file format is documented in docs/deploy.md. */
#ifndef AERIE_CLI_CMD_TOPOLOGY_H
#define AERIE_CLI_CMD_TOPOLOGY_H

#include "common/err.h"

#include <stdio.h>

/* Runs `aerie topology FILE --out DIR` (argv[0] == "topology"). Prints the files written.
 * Returns the exit code: 0, 1 (invalid description or write failure), 2 (usage). */
int ae_cmd_topology(int argc, char **argv);

/* Generates the configs of the description in `json_text` into directory `out_dir` (created
 * if missing). Secrets not given in the description are taken from out_dir/secrets.json when
 * it exists, else generated and saved there, so a second run writes the same files. `name`
 * is used in messages. Returns 0, AE_EINVAL (message names the field), or AE_EIO. When
 * `listing` is non-NULL, each written path is printed to it. */
int ae_topology_generate(const char *json_text, const char *name, const char *out_dir,
                         FILE *listing, ae_err *err);

#endif
