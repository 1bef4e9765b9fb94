/* What `aerie up` prints once a local fleet runs (cmd_up.c): the hub nodes and streams, the
 * vehicles with their ports (a large fleet's first few), revoked vehicles, the dashboard,
 * the status table of a small fleet, and commands to try next. */
#ifndef AERIE_CLI_UP_REPORT_H
#define AERIE_CLI_UP_REPORT_H

#include "cli/fleet.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct ae_up_report {
    const ae_fleet *f;
    json_t *reg;       /* the credential registry (revoked vehicles are marked) */
    const char *dir;   /* the fleet directory, absolute */
    const char *shown; /* the fleet directory as the user named it, for printed commands */
    bool large;        /* a large fleet: the first vehicles only, no status table */
} ae_up_report;

/* The summary on stdout; status: `aerie status --json`'s array or NULL; streams_line: what
 * creating the hub streams did, or NULL. */
void ae_up_print_summary(const ae_up_report *r, json_t *status, int online,
                         const char *streams_line);

#endif
