/* bench_dash_poll: what the dashboard's one poll for the whole fleet costs with 1,000
 * vehicles, on a 3-node nats-server 2.9 cluster with `aerie hub init`'s R3 streams.
 *
 * The hub holds, per vehicle, a few link reports (FLEET_LINK) and a few values of each of
 * five state subjects (TWIN_STATE: position, battery, heartbeat, attitude, gps), published
 * with the Aerie-Event-Time header as a vehicle's leaf forwards them. Then, medians of --runs:
 *
 *   one at a time:  ae_status_collect with one direct get in flight (window 1): the way the
 *                   collector read before, a round trip per value;
 *   pipelined:      ae_status_collect as `aerie status` and the dashboard run it (window
 *                   AE_DIRECT_BATCH_WINDOW);
 *   HTTP poll:      GET /api/fleet of a real `aerie dashboard --server ...` process, what
 *                   the page waits for (a fresh collection each time: the polls are spaced
 *                   past the dashboard's half-second cache).
 *
 * "all" says whether every run returned every vehicle with its position.
 *
 * With --page, Debian's headless Chromium then loads the dashboard for 15 s
 * (bench/dash_page.mjs, needs `npm ci` in tests/browser) and reports what each poll costs
 * the page: the wait for its answer and the drawing of map and table.
 *
 *   bench_dash_poll [--vehicles 1000] [--runs 5] [--page]
 */
#include "stats.h"
#include "cli/direct_batch.h"
#include "cli/fleet_state.h"
#include "harness/harness.h"

#include <jansson.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXRUNS 15

static void rfc3339_now(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

/* Publishes the fleet's data; returns the number of messages. */
static long populate(natsConnection *nc, int nveh)
{
    static const char *const states[] = {"position", "battery", "heartbeat", "attitude", "gps"};
    long n = 0;
    for (int round = 0; round < 3; round++)
        for (int v = 0; v < nveh; v++) {
            char subj[128], body[256], ts[48];
            for (int s = 0; s < 6; s++) {
                rfc3339_now(ts, sizeof ts);
                if (s == 5) {
                    snprintf(subj, sizeof subj, "fleet.prod.veh.VID-%04d.link", v + 1);
                    snprintf(body, sizeof body,
                             "{\"vid\":\"VID-%04d\",\"online\":true,\"backlog_msgs\":0,"
                             "\"backlog_oldest_s\":0}",
                             v + 1);
                } else {
                    snprintf(subj, sizeof subj, "fleet.prod.veh.VID-%04d.state.%s", v + 1,
                             states[s]);
                    snprintf(body, sizeof body,
                             "{\"vid\":\"VID-%04d\",\"lat\":%.7f,\"lon\":%.7f,\"alt_rel_m\":30,"
                             "\"remaining_pct\":%d,\"mode\":\"AUTO.MISSION\",\"armed\":true}",
                             v + 1, 47.39 + (v / 40) * 0.002,
                             8.54 + (v % 40) * 0.003 + round * 1e-5, 90 - round);
                }
                natsMsg *m = NULL;
                natsMsg_Create(&m, subj, NULL, body, (int)strlen(body));
                natsMsgHeader_Set(m, "Aerie-Event-Time", ts);
                natsConnection_PublishMsg(nc, m);
                natsMsg_Destroy(m);
                n++;
            }
        }
    natsConnection_FlushTimeout(nc, 10000);
    return n;
}

/* Messages stored in a stream, or -1. */
static long stream_msgs(natsConnection *nc, const char *stream)
{
    char subj[128];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO.%s", stream);
    natsMsg *r = NULL;
    if (natsConnection_RequestString(&r, nc, subj, "", 5000) != NATS_OK)
        return -1;
    json_t *j = json_loadb(natsMsg_GetData(r), (size_t)natsMsg_GetDataLength(r), 0, NULL);
    natsMsg_Destroy(r);
    long n = (long)json_integer_value(json_object_get(json_object_get(j, "state"), "messages"));
    json_decref(j);
    return n;
}

/* Every vehicle there, each with a position. */
static bool complete(json_t *vehicles, int nveh)
{
    if ((int)json_array_size(vehicles) != nveh)
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(vehicles, i,
                       v) if (!json_is_object(json_object_get(v, "position"))) return false;
    return true;
}

int main(int argc, char **argv)
{
    int nveh = 1000, runs = 5;
    bool page = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--page") == 0)
            page = true;
        else if (strcmp(argv[i], "--vehicles") == 0 && i + 1 < argc)
            nveh = atoi(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
    }
    if (nveh < 1 || runs < 1 || runs > MAXRUNS) {
        fprintf(stderr, "usage: bench_dash_poll [--vehicles 1000] [--runs 5 (1..%d)]\n", MAXRUNS);
        return 2;
    }
    ah_hub hub;
    if (ah_hub_start(&hub, 3, NULL) != 0) {
        fprintf(stderr, "bench_dash_poll: the hub did not start\n");
        return 1;
    }
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", hub.client_port[0]);
    char *init[] = {(char *)ah_bin("aerie"), "hub", "init", "--server", url, NULL};
    ah_output o = ah_run_capture(hub.dir, init, 60000);
    if (o.code != 0) {
        fprintf(stderr, "bench_dash_poll: aerie hub init failed: %s\n", o.err);
        ah_hub_stop(&hub);
        return 1;
    }
    ah_output_free(&o);
    natsConnection *nc = NULL;
    natsConnection_ConnectTo(&nc, url);
    long published = populate(nc, nveh);
    for (int k = 0;
         k < 200 && stream_msgs(nc, "TWIN_STATE") + stream_msgs(nc, "FLEET_LINK") < published; k++)
        ah_sleep_ms(100);
    printf("%d vehicles, %ld messages stored (3 per subject, 6 subjects per vehicle)\n", nveh,
           published);

    /* In process: the collector one at a time, then pipelined. */
    ae_cli c;
    ae_cli_init(&c);
    c.server = url;
    c.env = "prod";
    ae_err err = {0};
    if (ae_cli_connect(&c, &err) != 0) {
        fprintf(stderr, "bench_dash_poll: %s\n", err.msg);
        return 1;
    }
    double ms[2][MAXRUNS];
    long gets[2] = {0, 0};
    bool all[2] = {true, true};
    int windows[2] = {1, AE_DIRECT_BATCH_WINDOW};
    for (int r = 0; r < runs; r++)
        for (int w = 0; w < 2; w++) {
            long before = c.req_direct;
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            json_t *st = NULL;
            int rc = ae_status_collect_window(&c, 30LL * 1000000000LL, windows[w], &st, &err);
            clock_gettime(CLOCK_MONOTONIC, &b);
            ms[w][r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
            gets[w] = c.req_direct - before;
            all[w] = all[w] && rc == 0 && complete(st, nveh);
            json_decref(st);
        }
    ae_cli_close(&c);

    /* Over HTTP: a real dashboard process. */
    int port = ah_free_port();
    char ports[16], log[600];
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(log, sizeof log, "%s/dashboard.log", hub.dir);
    char *dargv[] = {(char *)ah_bin("aerie"), "dashboard", "--server", url, "--port", ports, NULL};
    ah_proc dash;
    double http_ms[MAXRUNS];
    size_t bytes = 0;
    bool http_all = ah_spawn(&dash, log, dargv) == 0 && ah_wait_tcp(port, 10000) == 0;
    for (int r = 0; r < runs && http_all; r++) {
        ah_sleep_ms(600); /* past the dashboard's poll cache */
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int code = 0;
        char *body = ah_http_get(port, "/api/fleet", &code);
        clock_gettime(CLOCK_MONOTONIC, &b);
        http_ms[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        json_t *j = body ? json_loads(body, 0, NULL) : NULL;
        http_all = code == 200 && complete(json_object_get(j, "vehicles"), nveh);
        bytes = body ? strlen(body) : 0;
        json_decref(j);
        free(body);
    }
    if (page && http_all) {
        char url_s[64], n_s[16];
        snprintf(url_s, sizeof url_s, "http://127.0.0.1:%d/", port);
        snprintf(n_s, sizeof n_s, "%d", nveh);
        char *nargv[] = {"/usr/bin/node", AERIE_SOURCE_DIR "/bench/dash_page.mjs", url_s, n_s,
                         NULL};
        ah_output po = ah_run_capture(hub.dir, nargv, 120000);
        printf("%s", po.code == 0 ? po.out : po.err);
        ah_output_free(&po);
    }
    ah_stop(&dash, SIGTERM, 5000);

    double one = bench_median(ms[0], runs), piped = bench_median(ms[1], runs);
    printf("status of %d vehicles (medians of %d)   one at a time   pipelined   ratio\n", nveh,
           runs);
    printf("collect (ms)                            %13.1f %11.1f %7.2f\n", one, piped,
           piped / one);
    printf("direct gets per poll                    %13ld %11ld\n", gets[0], gets[1]);
    printf("all vehicles, with positions            %13s %11s\n", all[0] ? "yes" : "NO",
           all[1] ? "yes" : "NO");
    if (http_all)
        printf("GET /api/fleet of `aerie dashboard`: %.1f ms (median of %d), %zu bytes, all "
               "vehicles: yes\n",
               bench_median(http_ms, runs), runs, bytes);
    else
        printf("GET /api/fleet of `aerie dashboard`: FAILED (see %s)\n", log);
    natsConnection_Destroy(nc);
    ah_hub_stop(&hub);
    nats_Close();
    return all[0] && all[1] && http_all ? 0 : 1;
}
