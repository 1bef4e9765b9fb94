/* The dashboard's pure pieces, no server: the recent tracks (dash_tracks.h), the embedded
 * web assets (every file of web/ is served byte for byte, and what the page loads exists),
 * and the rule that decides "backlog draining" (fleet_state.h). The page itself is tested
 * in a browser (tests/browser). */
#include "cli/dash_assets.h"
#include "cli/dash_tracks.h"
#include "cli/fleet_state.h"
#include "harness/harness.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A status array with one vehicle per vid at (lat, lon) as of time t (seconds). */
static json_t *status_of(const char *const *vids, int n, double lat, double lon, int t)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char ts[64];
        snprintf(ts, sizeof ts, "2026-12-02T10:00:%02d.000000000Z", t % 60);
        json_array_append_new(a, json_pack("{s:s, s:{s:f, s:f}, s:s}", "vid", vids[i], "position",
                                           "lat", lat + i, "lon", lon, "position_time", ts));
    }
    return a;
}

static void tracks_keep_the_last_points_oldest_first(void)
{
    ae_dash_tracks t = {AE_HMAP_INIT};
    const char *vids[] = {"VID-001"};
    for (int k = 0; k < AE_DASH_TRACK_POINTS + 10; k++) {
        json_t *st = status_of(vids, 1, 47.0, 8.0 + k * 0.001, k);
        /* the same position time again adds nothing */
        ae_dash_tracks_add(&t, st);
        ae_dash_tracks_add(&t, st);
        json_decref(st);
    }
    json_t *j = ae_dash_tracks_json(&t);
    json_t *pts = json_object_get(j, "VID-001");
    AH_ASSERT_EQ_INT((int)json_array_size(pts), AE_DASH_TRACK_POINTS);
    double first = json_real_value(json_array_get(json_array_get(pts, 0), 1));
    double last = json_real_value(json_array_get(json_array_get(pts, AE_DASH_TRACK_POINTS - 1), 1));
    AH_ASSERT_MSG(first > 8.0 + 9.5 * 0.001 && first < 8.0 + 10.5 * 0.001, "oldest kept %f", first);
    AH_ASSERT_MSG(last > 8.0 + 68.5 * 0.001, "newest %f", last);
    json_decref(j);
    ae_dash_tracks_free(&t);
}

static void tracks_forget_vehicles_that_are_gone(void)
{
    ae_dash_tracks t = {AE_HMAP_INIT};
    const char *two[] = {"VID-001", "VID-002"};
    json_t *st = status_of(two, 2, 47.0, 8.0, 1);
    ae_dash_tracks_add(&t, st);
    json_decref(st);
    st = status_of(two + 1, 1, 47.0, 8.0, 2);
    ae_dash_tracks_add(&t, st);
    json_decref(st);
    /* a vehicle without a position is kept, with no points */
    st = json_pack("[{s:s, s:n, s:n}, {s:s, s:{s:f, s:f}, s:s}]", "vid", "VID-003", "position",
                   "position_time", "vid", "VID-002", "position", "lat", 1.0, "lon", 2.0,
                   "position_time", "2026-12-02T10:00:03Z");
    ae_dash_tracks_add(&t, st);
    json_decref(st);
    json_t *j = ae_dash_tracks_json(&t);
    AH_ASSERT(json_object_get(j, "VID-001") == NULL);
    AH_ASSERT_EQ_INT((int)json_array_size(json_object_get(j, "VID-002")), 3);
    AH_ASSERT_EQ_INT((int)json_array_size(json_object_get(j, "VID-003")), 0);
    json_decref(j);
    ae_dash_tracks_free(&t);
}

static bool asset_named(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/%s", name);
    return ae_dash_asset_find(path) != NULL;
}

static void every_web_file_is_embedded_byte_for_byte(void)
{
    DIR *d = opendir(AERIE_WEB_DIR);
    AH_ASSERT_MSG(d, "cannot open %s", AERIE_WEB_DIR);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", AERIE_WEB_DIR, e->d_name);
        char *text = ah_read_file(path);
        AH_ASSERT(text);
        char url[300];
        snprintf(url, sizeof url, "/%s", e->d_name);
        const ae_dash_asset *a = ae_dash_asset_find(url);
        AH_ASSERT_MSG(a, "%s is not embedded", e->d_name);
        AH_ASSERT_EQ_INT((int)a->size, (int)strlen(text));
        AH_ASSERT(memcmp(a->data, text, a->size) == 0 && a->data[a->size] == 0);
        if (strstr(e->d_name, ".js"))
            AH_ASSERT_EQ_STR(a->type, "text/javascript; charset=utf-8");
        /* every module a script imports is there */
        for (const char *p = text; (p = strstr(p, "from './"));) {
            p += 8;
            char dep[100];
            snprintf(dep, sizeof dep, "%.*s", (int)strcspn(p, "'"), p);
            AH_ASSERT_MSG(asset_named(dep), "%s imports %s, which is not embedded", e->d_name, dep);
        }
        free(text);
        files++;
    }
    closedir(d);
    AH_ASSERT(files >= 6);
    const ae_dash_asset *root = ae_dash_asset_find("/");
    AH_ASSERT(root && strcmp(root->path, "/index.html") == 0);
    AH_ASSERT_CONTAINS((const char *)root->data, "<svg id=\"map\"");
    AH_ASSERT_CONTAINS((const char *)root->data, "type=\"range\" id=\"replay\"");
    AH_ASSERT(asset_named("app.js") && asset_named("style.css"));
    AH_ASSERT(ae_dash_asset_find("/nope.js") == NULL);
    AH_ASSERT(ae_dash_asset_find("/../CMakeLists.txt") == NULL);
}

static void draining_means_a_backlog_older_than_the_lag(void)
{
    struct {
        const char *link;
        bool draining;
    } cases[] = {
        {"{\"online\":true,\"backlog_msgs\":0,\"backlog_oldest_s\":0}", false},
        {"{\"online\":true,\"backlog_msgs\":2,\"backlog_oldest_s\":0.01}", false},
        {"{\"online\":true,\"backlog_msgs\":2500,\"backlog_oldest_s\":31.5}", true},
        {"{\"online\":true,\"backlog_msgs\":7,\"backlog_oldest_s\":2.0}", true},
        {"{\"online\":true,\"backlog_msgs\":7}", true}, /* an older leaf: any backlog */
        {"{\"online\":true}", false},
        {"null", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i].link, JSON_DECODE_ANY, NULL);
        AH_ASSERT_MSG(ae_status_link_draining(j) == cases[i].draining, "%s", cases[i].link);
        json_decref(j);
    }
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"tracks_keep_the_last_points_oldest_first", tracks_keep_the_last_points_oldest_first, 10},
        {"tracks_forget_vehicles_that_are_gone", tracks_forget_vehicles_that_are_gone, 10},
        {"every_web_file_is_embedded_byte_for_byte", every_web_file_is_embedded_byte_for_byte, 10},
        {"draining_means_a_backlog_older_than_the_lag", draining_means_a_backlog_older_than_the_lag,
         10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
