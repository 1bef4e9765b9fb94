/* The recent track of every vehicle, as the dashboard's fleet polls saw it: per vehicle a
 * ring of its last AE_DASH_TRACK_POINTS distinct positions (a new one when its position's
 * event time changed). A page that opens gets these at once; after that it adds the
 * positions of each poll itself. Not thread-safe: the caller holds the poll lock. */
#ifndef AERIE_CLI_DASH_TRACKS_H
#define AERIE_CLI_DASH_TRACKS_H

#include "common/hmap.h"

#include <jansson.h>
#include <stdint.h>

#define AE_DASH_TRACK_POINTS 60

typedef struct ae_dash_tracks {
    ae_hmap by_vid; /* vid -> ring (owns its key) */
} ae_dash_tracks;

/* Adds the position of each vehicle of a status array (fleet_state.h) whose position_time
 * is new; forgets vehicles that are no longer in it. */
void ae_dash_tracks_add(ae_dash_tracks *t, json_t *vehicles);

/* {"VID":[[lat,lon],...], ...}, oldest first: a new object. */
json_t *ae_dash_tracks_json(const ae_dash_tracks *t);

void ae_dash_tracks_free(ae_dash_tracks *t);

#endif
