/* Recent tracks of the fleet's vehicles; see dash_tracks.h. */
#include "cli/dash_tracks.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct ring {
    char *vid;
    char last_time[48]; /* position_time of the newest point */
    double lat[AE_DASH_TRACK_POINTS], lon[AE_DASH_TRACK_POINTS];
    int head, n; /* oldest at head */
    bool seen;   /* in the latest status array */
} ring;

void ae_dash_tracks_add(ae_dash_tracks *t, json_t *vehicles)
{
    ae_hmap_ent *e;
    for (size_t pos = 0; (e = ae_hmap_next(&t->by_vid, &pos));)
        ((ring *)e->val)->seen = false;
    size_t i;
    json_t *v;
    json_array_foreach(vehicles, i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "vid"));
        if (!vid)
            continue;
        ring *r = ae_hmap_get(&t->by_vid, vid, strlen(vid));
        if (!r) {
            r = calloc(1, sizeof *r);
            if (!r || !(r->vid = strdup(vid)) ||
                ae_hmap_put(&t->by_vid, r->vid, strlen(r->vid), r) != 0) {
                if (r)
                    free(r->vid);
                free(r);
                continue; /* out of memory: no track for this one */
            }
        }
        r->seen = true;
        json_t *p = json_object_get(v, "position");
        const char *pt = json_string_value(json_object_get(v, "position_time"));
        json_t *lat = json_object_get(p, "lat"), *lon = json_object_get(p, "lon");
        if (!pt || !json_is_number(lat) || !json_is_number(lon) || strcmp(pt, r->last_time) == 0)
            continue;
        snprintf(r->last_time, sizeof r->last_time, "%s", pt);
        int slot = (r->head + r->n) % AE_DASH_TRACK_POINTS;
        if (r->n == AE_DASH_TRACK_POINTS)
            r->head = (r->head + 1) % AE_DASH_TRACK_POINTS;
        else
            r->n++;
        r->lat[slot] = json_number_value(lat);
        r->lon[slot] = json_number_value(lon);
    }
    for (size_t pos = 0; (e = ae_hmap_next(&t->by_vid, &pos));) {
        ring *r = e->val;
        if (r->seen)
            continue;
        ae_hmap_del(&t->by_vid, r->vid, strlen(r->vid));
        free(r->vid);
        free(r);
    }
}

json_t *ae_dash_tracks_json(const ae_dash_tracks *t)
{
    json_t *o = json_object();
    ae_hmap_ent *e;
    for (size_t pos = 0; (e = ae_hmap_next(&t->by_vid, &pos));) {
        const ring *r = e->val;
        json_t *pts = json_array();
        for (int k = 0; k < r->n; k++) {
            int s = (r->head + k) % AE_DASH_TRACK_POINTS;
            json_array_append_new(pts, json_pack("[f, f]", r->lat[s], r->lon[s]));
        }
        json_object_set_new(o, r->vid, pts);
    }
    return o;
}

void ae_dash_tracks_free(ae_dash_tracks *t)
{
    ae_hmap_ent *e;
    for (size_t pos = 0; (e = ae_hmap_next(&t->by_vid, &pos));) {
        ring *r = e->val;
        free(r->vid);
        free(r);
    }
    ae_hmap_free(&t->by_vid);
}
