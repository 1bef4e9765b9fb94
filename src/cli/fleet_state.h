/* The state file of a local fleet, DIR/fleet.json, written by `aerie up` and read by every
 * other command given `--dir DIR` (or AERIE_DIR). It is the one place where the CLI learns
 * where the hub listens and which vehicles exist. Format (extra keys are ignored):
 *
 *   { "env": "prod",
 *     "hub": { "urls": ["nats://operator:secret@127.0.0.1:4222", ...],
 *              "js_domain": "hub" },                         (optional)
 *     "vehicles": [ { "vid": "VID-001", ... }, ... ],
 *     "stale": "6s" }                                        (optional)
 *
 * `hub.urls` is required and non-empty; `env` defaults to "prod"; `vehicles` may be empty. */
#ifndef AERIE_CLI_FLEET_STATE_H
#define AERIE_CLI_FLEET_STATE_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ae_fleet_state {
    char *env;       /* owned */
    char **hub_urls; /* owned, n_hub_urls entries */
    size_t n_hub_urls;
    char *js_domain; /* owned, NULL when absent */
    char **vids;     /* owned, n_vids entries, in file order */
    size_t n_vids;
    int64_t stale_ns; /* "stale": how old a link report may be and still count (0: unset) */
} ae_fleet_state;

/* Reads DIR/fleet.json. Returns 0 and a new state in *out (free with ae_fleet_state_free),
 * AE_ENOENT if the file does not exist (the message suggests `aerie up`), AE_EINVAL if it is
 * not valid (the message names the file, line and field), or AE_EIO. */
int ae_fleet_state_load(const char *dir, ae_fleet_state **out, ae_err *err);

/* Parses the JSON text of a fleet state; `name` is used in messages. Same returns as above. */
int ae_fleet_state_parse(const char *text, const char *name, ae_fleet_state **out, ae_err *err);

void ae_fleet_state_free(ae_fleet_state *fs); /* accepts NULL */

#endif
