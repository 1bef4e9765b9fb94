/* bench_replay: `aerie replay VID --since 1h` of a 10 Hz subject (36,000 messages) on a
 * 3-node nats-server 2.9 cluster with `aerie hub init`'s R3 streams, among other vehicles'
 * data (--others vehicles at 1 Hz for the same hour, interleaved, so the subject is sparse
 * in the stream as it is in a fleet's).
 *
 * The window asked for is that hour exactly (--start/--end: `--since 1h` would slide).
 * The same read three ways, medians of --runs:
 *   nats-server:     an ordered push consumer on the subject through libnats, in process
 *                    (what the server can stream, no Aerie code);
 *   aerie replay:    the `aerie replay` process, JSON lines to a pipe (search for the window
 *                    start, then its ordered consumer; replay_search.c, cmd_replay.c);
 *   one at a time:   direct gets {seq, next_by_subj}, a round trip per message (how replay
 *                    walked a subject before), in process, for --direct-runs (1 by default:
 *                    it is slow).
 * "all" says whether every run returned every one of the 36,000 messages, in order.
 *
 *   bench_replay [--messages 36000] [--others 9] [--runs 5] [--direct-runs 1]
 */
#include "stats.h"
#include "harness/harness.h"

#include <jansson.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXRUNS 15

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fmt_time(int64_t ns, char *out, size_t cap)
{
    time_t secs = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, cap - k, ".%09lldZ", (long long)(ns % 1000000000LL));
}

static void publish(jsCtx *js, const char *vid, int i, int64_t ev_ns)
{
    char subj[128], body[160], ts[48];
    snprintf(subj, sizeof subj, "fleet.prod.veh.%s.state.position", vid);
    snprintf(body, sizeof body, "{\"lat\":47.39%05d,\"lon\":8.54,\"alt_rel_m\":30,\"i\":%d}",
             i % 100000, i);
    fmt_time(ev_ns, ts, sizeof ts);
    natsMsg *m = NULL;
    natsMsg_Create(&m, subj, NULL, body, (int)strlen(body));
    natsMsgHeader_Set(m, "Aerie-Event-Time", ts);
    if (js_PublishMsgAsync(js, &m, NULL) != NATS_OK)
        natsMsg_Destroy(m);
}

/* The hour: V1 at 10 Hz, the others at 1 Hz, in event-time order. Returns the count. */
static long populate(jsCtx *js, int n, int others, int64_t t0)
{
    long total = 0;
    for (int i = 0; i < n; i++) {
        int64_t ev = t0 + (int64_t)i * 100000000LL;
        publish(js, "V1", i, ev);
        total++;
        if (i % 10 == 0)
            for (int o = 0; o < others; o++, total++) {
                char vid[16];
                snprintf(vid, sizeof vid, "V%d", o + 2);
                publish(js, vid, i / 10, ev);
            }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    js_PublishAsyncComplete(js, &po);
    return total;
}

/* Reads V1's subject with an ordered consumer: the count of messages in order. */
static long read_ordered(jsCtx *js, long want)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "TWIN_STATE";
    so.Ordered = true;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    if (js_SubscribeSync(&sub, js, "fleet.prod.veh.V1.state.position", NULL, &so, &jerr) != NATS_OK)
        return -1;
    natsSubscription_SetPendingLimits(sub, -1, 256 * 1024 * 1024);
    long got = 0;
    while (got < want) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 5000) != NATS_OK)
            break;
        natsMsg_Destroy(m);
        got++;
    }
    natsSubscription_Destroy(sub);
    return got;
}

/* Walks V1's subject with one direct get per message. */
static long read_direct(natsConnection *nc, long want)
{
    uint64_t seq = 1;
    long got = 0;
    while (got < want) {
        char req[160];
        snprintf(req, sizeof req,
                 "{\"seq\":%llu,\"next_by_subj\":\"fleet.prod.veh.V1.state.position\"}",
                 (unsigned long long)seq);
        natsMsg *r = NULL;
        if (natsConnection_RequestString(&r, nc, "$JS.API.DIRECT.GET.TWIN_STATE", req, 5000) !=
            NATS_OK)
            break;
        const char *s = NULL;
        bool ok = natsMsgHeader_Get(r, "Nats-Sequence", &s) == NATS_OK && s;
        if (ok)
            seq = strtoull(s, NULL, 10) + 1;
        natsMsg_Destroy(r);
        if (!ok)
            break;
        got++;
    }
    return got;
}

/* Runs `aerie replay` and counts its lines whose payload "i" runs 0, 1, 2, ... */
static long run_replay(const char *dir, const char *url, int64_t t0, int n)
{
    char start[48], end[48];
    fmt_time(t0, start, sizeof start);
    fmt_time(t0 + (int64_t)n * 100000000LL, end, sizeof end);
    char *argv[] = {(char *)ah_bin("aerie"),
                    "replay",
                    "V1",
                    "--server",
                    (char *)url,
                    "--start",
                    start,
                    "--end",
                    end,
                    "--env",
                    "prod",
                    "--subject",
                    "state.position",
                    NULL};
    ah_output o = ah_run_capture(dir, argv, 120000);
    long in_order = 0;
    char *save = NULL;
    for (char *line = o.code == 0 ? strtok_r(o.out, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        json_int_t i = json_integer_value(json_object_get(json_object_get(j, "payload"), "i"));
        json_decref(j);
        if (i != in_order)
            break;
        in_order++;
    }
    if (o.code != 0)
        fprintf(stderr, "bench_replay: aerie replay failed: %s\n", o.err);
    else if (in_order != n)
        fprintf(stderr, "bench_replay: aerie replay gave %ld messages in order of %d\n", in_order,
                n);
    ah_output_free(&o);
    return in_order;
}

int main(int argc, char **argv)
{
    int n = 36000, others = 9, runs = 5, direct_runs = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--messages") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--others") == 0)
            others = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--direct-runs") == 0)
            direct_runs = atoi(argv[i + 1]);
    }
    if (n < 10 || others < 0 || runs < 1 || runs > MAXRUNS || direct_runs < 0 ||
        direct_runs > MAXRUNS) {
        fprintf(stderr,
                "usage: bench_replay [--messages 36000] [--others 9] [--runs 5 (1..%d)] "
                "[--direct-runs 1]\n",
                MAXRUNS);
        return 2;
    }
    ah_hub hub;
    if (ah_hub_start(&hub, 3, NULL) != 0) {
        fprintf(stderr, "bench_replay: the hub did not start\n");
        return 1;
    }
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", hub.client_port[0]);
    char *init[] = {(char *)ah_bin("aerie"), "hub", "init", "--server", url, NULL};
    ah_output o = ah_run_capture(hub.dir, init, 60000);
    if (o.code != 0) {
        fprintf(stderr, "bench_replay: aerie hub init failed: %s\n", o.err);
        ah_hub_stop(&hub);
        return 1;
    }
    ah_output_free(&o);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsConnection_ConnectTo(&nc, url);
    natsConnection_JetStream(&js, nc, NULL);
    /* The hour (for 36,000 messages) ends a minute ago; the replay asks for exactly it. */
    int64_t t0 = ((int64_t)time(NULL) - 60) * 1000000000LL - (int64_t)n * 100000000LL;
    double p0 = now_ms();
    long total = populate(js, n, others, t0);
    printf("TWIN_STATE: %ld messages published in %.1f s; V1's position: %d at 10 Hz, %d other "
           "vehicles at 1 Hz\n",
           total, (now_ms() - p0) / 1e3, n, others);
    fflush(stdout); /* before the children fork */

    double ms[3][MAXRUNS];
    bool all[3] = {true, true, true};
    for (int r = 0; r < runs; r++) {
        double a = now_ms();
        all[0] = all[0] && read_ordered(js, n) == n;
        ms[0][r] = now_ms() - a;
        a = now_ms();
        all[1] = all[1] && run_replay(hub.dir, url, t0, n) == n;
        ms[1][r] = now_ms() - a;
    }
    for (int r = 0; r < direct_runs; r++) {
        double a = now_ms();
        all[2] = all[2] && read_direct(nc, n) == n;
        ms[2][r] = now_ms() - a;
    }
    double server = bench_median(ms[0], runs), replay = bench_median(ms[1], runs);
    printf("replay of %d messages (medians of %d)   nats-server ordered consumer   aerie replay   "
           "ratio\n",
           n, runs);
    printf("  time                                   %8.0f ms                 %8.0f ms   "
           "%.2f\n",
           server, replay, replay / server);
    printf("  all %d in order                       %-26s %s\n", n, all[0] ? "yes" : "NO",
           all[1] ? "yes" : "NO");
    if (direct_runs > 0) {
        double direct = bench_median(ms[2], direct_runs);
        printf("  one direct get per message (before)    %8.0f ms (%d run%s, all: %s), %.1fx the "
               "replay\n",
               direct, direct_runs, direct_runs == 1 ? "" : "s", all[2] ? "yes" : "NO",
               direct / replay);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    ah_hub_stop(&hub);
    return all[0] && all[1] && all[2] ? 0 : 1;
}
