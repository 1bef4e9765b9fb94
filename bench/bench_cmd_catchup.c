/* bench_cmd_catchup: what a fleet reconnecting at once costs the hub when every vehicle
 * catches up on its queued commands, Aerie's way against the usual JetStream way, on the
 * same 3-node nats-server 2.9 cluster with the same FLEET_CMD stream (R3, `aerie hub init`).
 *
 *   aerie:     per vehicle one round of 8 pipelined direct gets (the newest FLEET_CMD message
 *              of each of the 7 command kinds, and the newest FLEET_LINK report), as aerie-gw
 *              sends them after a reconnect (src/gw/queue.c);
 *   consumer:  per vehicle an ephemeral pull consumer filtered to its command subjects
 *              (CONSUMER.CREATE), one fetch of everything pending (MSG.NEXT, no_wait), then
 *              CONSUMER.DELETE: the catch-up a JetStream client library would do.
 *
 * All vehicles start their catch-up at the same moment (a hub restart brings every leaf
 * back at once), spread over client connections to the three nodes. The stream holds
 * --per commands for each of --vehicles vehicles (kinds round-robin), plus one link report
 * each. Printed, medians of --runs runs: seconds until every vehicle is done, per-vehicle
 * latency p50/p99, CPU the three nats-server processes spent (utime+stime from /proc), the
 * requests sent, and whether every vehicle got what it should (aerie: the newest command of
 * each kind it has; consumer: all its commands).
 *
 *   bench_cmd_catchup [--vehicles 1000] [--per 3] [--runs 3] [--conns 6]
 */
#include "harness/harness.h"

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NKINDS  7
#define MAXRUNS 9
static const char *const kinds[NKINDS] = {"arm", "disarm", "takeoff", "land",
                                          "rtl", "mode",   "goto"};

enum { W_AERIE, W_CONSUMER, NWAYS };
static const char *way_name[NWAYS] = {"aerie", "consumer"};

typedef struct veh {
    int idx;
    int conn;
    atomic_int pending; /* replies still expected (aerie) */
    int got_cmds;       /* commands received */
    int64_t t0, t1;     /* ns */
    char consumer[64];
    atomic_bool done;
} veh;

typedef struct bench {
    int nveh, per, nconns;
    ah_hub hub;
    natsConnection *nc[32];
    natsSubscription *sub[32];
    char inbox[32][64];
    veh *v;
    int way;
    atomic_int done;
    atomic_long requests;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} bench;

static bench B;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU ticks (utime + stime) of a process. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (long long)(ut + st);
}

static long long hub_ticks(void)
{
    long long t = 0;
    for (int i = 0; i < B.hub.nodes; i++)
        t += cpu_ticks(B.hub.proc[i].pid);
    return t;
}

static void vehicle_done(veh *v)
{
    if (atomic_exchange(&v->done, true))
        return;
    v->t1 = now_ns();
    if (atomic_fetch_add(&B.done, 1) + 1 == B.nveh) {
        pthread_mutex_lock(&B.mu);
        pthread_cond_signal(&B.cv);
        pthread_mutex_unlock(&B.mu);
    }
}

static void request(int conn, const char *subj, const char *reply, const char *body)
{
    atomic_fetch_add(&B.requests, 1);
    natsConnection_PublishRequest(B.nc[conn], subj, reply, body, body ? (int)strlen(body) : 0);
}

static const char *status_of(natsMsg *m)
{
    const char *st = NULL;
    return natsMsgHeader_Get(m, "Status", &st) == NATS_OK ? st : NULL;
}

/* Replies land on <inbox>.<vehicle>.<step>. */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    int conn = (int)(intptr_t)closure;
    const char *subj = natsMsg_GetSubject(m);
    const char *rest =
        strlen(subj) > strlen(B.inbox[conn]) ? subj + strlen(B.inbox[conn]) + 1 : subj;
    int vi = -1, step = -1;
    /* A pull consumer's messages arrive on the inbox with their stream subject as the
     * message subject: the vehicle is in that subject. */
    if (sscanf(subj, "fleet.prod.veh.V%d.", &vi) == 1)
        step = 1;
    else if (strncmp(subj, B.inbox[conn], strlen(B.inbox[conn])) != 0 ||
             sscanf(rest, "%d.%d", &vi, &step) != 2)
        vi = -1;
    if (vi < 0 || vi >= B.nveh) {
        natsMsg_Destroy(m);
        return;
    }
    veh *v = &B.v[vi];
    const char *st = status_of(m);
    if (B.way == W_AERIE) {
        if (!st && step < NKINDS)
            v->got_cmds++;
        if (atomic_fetch_sub(&v->pending, 1) == 1)
            vehicle_done(v);
        natsMsg_Destroy(m);
        return;
    }
    char api[256], reply[128];
    if (step == 0) { /* CONSUMER.CREATE answered: fetch everything pending */
        json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        const char *name = json_string_value(json_object_get(j, "name"));
        if (name) {
            snprintf(v->consumer, sizeof v->consumer, "%s", name);
            snprintf(api, sizeof api, "$JS.API.CONSUMER.MSG.NEXT.FLEET_CMD.%s", name);
            snprintf(reply, sizeof reply, "%s.%d.1", B.inbox[conn], vi);
            request(conn, api, reply, "{\"batch\":64,\"no_wait\":true}");
        } else {
            vehicle_done(v); /* counted as not delivered */
        }
        json_decref(j);
    } else if (step == 1) {
        if (!st) {
            v->got_cmds++;
        } else { /* 404 No Messages / 408: the batch is over; clean up */
            snprintf(api, sizeof api, "$JS.API.CONSUMER.DELETE.FLEET_CMD.%s", v->consumer);
            snprintf(reply, sizeof reply, "%s.%d.2", B.inbox[conn], vi);
            request(conn, api, reply, NULL);
        }
    } else {
        vehicle_done(v);
    }
    natsMsg_Destroy(m);
}

static void start_vehicle(veh *v)
{
    char subj[256], reply[128];
    v->t0 = now_ns();
    if (B.way == W_AERIE) {
        atomic_store(&v->pending, NKINDS + 1);
        for (int k = 0; k <= NKINDS; k++) {
            if (k < NKINDS)
                snprintf(subj, sizeof subj,
                         "$JS.API.DIRECT.GET.FLEET_CMD.fleet.prod.veh.V%04d.cmd.%s", v->idx,
                         kinds[k]);
            else
                snprintf(subj, sizeof subj,
                         "$JS.API.DIRECT.GET.FLEET_LINK.fleet.prod.veh.V%04d.link", v->idx);
            snprintf(reply, sizeof reply, "%s.%d.%d", B.inbox[v->conn], v->idx, k);
            request(v->conn, subj, reply, NULL);
        }
        return;
    }
    char body[512];
    snprintf(body, sizeof body,
             "{\"stream_name\":\"FLEET_CMD\",\"config\":{\"deliver_policy\":\"all\","
             "\"ack_policy\":\"none\",\"filter_subject\":\"fleet.prod.veh.V%04d.cmd.>\","
             "\"replay_policy\":\"instant\",\"inactive_threshold\":5000000000,"
             "\"num_replicas\":1,\"mem_storage\":true}}",
             v->idx);
    snprintf(reply, sizeof reply, "%s.%d.0", B.inbox[v->conn], v->idx);
    request(v->conn, "$JS.API.CONSUMER.CREATE.FLEET_CMD", reply, body);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double secs, p50_ms, p99_ms, cpu_ms, reqs;
    bool all;
} result;

static result run_way(int way)
{
    B.way = way;
    atomic_store(&B.done, 0);
    atomic_store(&B.requests, 0);
    for (int i = 0; i < B.nveh; i++) {
        veh *v = &B.v[i];
        memset(v, 0, sizeof *v);
        v->idx = i;
        v->conn = i % B.nconns;
    }
    long long c0 = hub_ticks();
    int64_t t0 = now_ns();
    for (int i = 0; i < B.nveh; i++)
        start_vehicle(&B.v[i]);
    for (int c = 0; c < B.nconns; c++)
        natsConnection_Flush(B.nc[c]);
    pthread_mutex_lock(&B.mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 120;
    while (atomic_load(&B.done) < B.nveh)
        if (pthread_cond_timedwait(&B.cv, &B.mu, &dl) != 0)
            break;
    pthread_mutex_unlock(&B.mu);
    int64_t t1 = now_ns();
    ah_sleep_ms(300); /* let the hub finish what it started (consumer deletes, replication) */
    long long c1 = hub_ticks();
    result r = {.secs = (double)(t1 - t0) / 1e9,
                .cpu_ms = (double)(c1 - c0) * 1000.0 / (double)sysconf(_SC_CLK_TCK),
                .reqs = (double)atomic_load(&B.requests),
                .all = atomic_load(&B.done) == B.nveh};
    int64_t *lat = calloc((size_t)B.nveh, sizeof *lat);
    for (int i = 0; i < B.nveh; i++) {
        veh *v = &B.v[i];
        lat[i] = v->t1 ? v->t1 - v->t0 : (int64_t)120e9;
        /* What each vehicle should have: the newest of each kind it has (aerie), every
         * command of its own (consumer). */
        int want = way == W_AERIE ? (B.per < NKINDS ? B.per : NKINDS) : B.per;
        if (v->got_cmds != want)
            r.all = false;
    }
    qsort(lat, (size_t)B.nveh, sizeof *lat, cmp_i64);
    r.p50_ms = (double)lat[B.nveh / 2] / 1e6;
    r.p99_ms = (double)lat[(B.nveh * 99) / 100] / 1e6;
    free(lat);
    return r;
}

static void fill_stream(void)
{
    natsConnection *nc = B.nc[0];
    char subj[128], id[64];
    for (int i = 0; i < B.nveh; i++) {
        for (int k = 0; k < B.per; k++) {
            snprintf(subj, sizeof subj, "fleet.prod.veh.V%04d.cmd.%s", i, kinds[k % NKINDS]);
            snprintf(id, sizeof id, "V%04d-c%d", i, k);
            natsMsg *m = NULL, *ack = NULL;
            natsMsg_Create(&m, subj, NULL, "{}", 2);
            natsMsgHeader_Set(m, "Nats-Msg-Id", id);
            natsMsgHeader_Set(m, "Aerie-Cmd-Id", id);
            natsMsgHeader_Set(m, "Aerie-Cmd-Ttl-Ms", "60000");
            if (natsConnection_RequestMsg(&ack, nc, m, 10000) != NATS_OK) {
                fprintf(stderr, "bench_cmd_catchup: storing a command failed\n");
                exit(1);
            }
            natsMsg_Destroy(ack);
            natsMsg_Destroy(m);
        }
        snprintf(subj, sizeof subj, "fleet.prod.veh.V%04d.link", i);
        char body[160];
        snprintf(body, sizeof body, "{\"vid\":\"V%04d\",\"online\":true,\"time\":\"%s\"}", i,
                 "2026-12-02T00:00:00Z");
        natsMsg *ack = NULL;
        if (natsConnection_Request(&ack, nc, subj, body, (int)strlen(body), 10000) != NATS_OK) {
            fprintf(stderr, "bench_cmd_catchup: storing a link report failed\n");
            exit(1);
        }
        natsMsg_Destroy(ack);
    }
}

int main(int argc, char **argv)
{
    int runs = 3;
    B.nveh = 1000;
    B.per = 3;
    B.nconns = 6;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--vehicles"))
            B.nveh = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--per"))
            B.per = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns"))
            B.nconns = atoi(argv[i + 1]);
    }
    if (B.nveh < 1 || B.nveh > 9999 || B.per < 1 || B.per > 50 || runs < 1 || runs > MAXRUNS ||
        B.nconns < 1 || B.nconns > 32) {
        fprintf(stderr, "usage: bench_cmd_catchup [--vehicles 1..9999] [--per 1..50] [--runs "
                        "1..9] [--conns 1..32]\n");
        return 2;
    }
    pthread_mutex_init(&B.mu, NULL);
    pthread_cond_init(&B.cv, NULL);
    B.v = calloc((size_t)B.nveh, sizeof *B.v);
    if (ah_hub_start(&B.hub, 3, NULL) != 0) {
        fprintf(stderr, "bench_cmd_catchup: the hub did not start\n");
        return 1;
    }
    char urls[400];
    snprintf(urls, sizeof urls,
             "nats://operator:secret@127.0.0.1:%d,nats://operator:secret@127.0.0.1:%d,"
             "nats://operator:secret@127.0.0.1:%d",
             B.hub.client_port[0], B.hub.client_port[1], B.hub.client_port[2]);
    char *init[] = {(char *)ah_bin("aerie"), "hub", "init", "--server", urls, NULL};
    int rc = 1;
    for (int t = 0; t < 20 && rc != 0; t++) { /* a new cluster elects its leaders first */
        ah_output o = ah_run_capture(B.hub.dir, init, 60000);
        rc = o.code;
        ah_output_free(&o);
        if (rc)
            ah_sleep_ms(500);
    }
    if (rc) {
        fprintf(stderr, "bench_cmd_catchup: aerie hub init failed\n");
        return 1;
    }
    for (int c = 0; c < B.nconns; c++) {
        char url[128];
        snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", B.hub.client_port[c % 3]);
        natsOptions *o = NULL;
        natsOptions_Create(&o);
        natsOptions_SetURL(o, url);
        natsOptions_SetMaxPendingMsgs(o, 1000000);
        if (natsConnection_Connect(&B.nc[c], o) != NATS_OK) {
            fprintf(stderr, "bench_cmd_catchup: cannot connect to the hub\n");
            return 1;
        }
        natsOptions_Destroy(o);
        natsInbox *ib = NULL;
        natsInbox_Create(&ib);
        snprintf(B.inbox[c], sizeof B.inbox[c], "%s", ib);
        natsInbox_Destroy(ib);
        char sub[80];
        snprintf(sub, sizeof sub, "%s.>", B.inbox[c]);
        natsConnection_Subscribe(&B.sub[c], B.nc[c], sub, on_reply, (void *)(intptr_t)c);
        natsSubscription_SetPendingLimits(B.sub[c], -1, -1);
        natsConnection_Flush(B.nc[c]);
    }
    fill_stream();

    result res[NWAYS][MAXRUNS];
    for (int r = 0; r < runs; r++)
        for (int w = 0; w < NWAYS; w++) {
            res[w][r] = run_way(w);
            fprintf(stderr, "run %d %-8s %6.2f s  p50 %7.1f ms  p99 %7.1f ms  hub cpu %7.0f ms%s\n",
                    r + 1, way_name[w], res[w][r].secs, res[w][r].p50_ms, res[w][r].p99_ms,
                    res[w][r].cpu_ms, res[w][r].all ? "" : "  (NOT all delivered)");
            ah_sleep_ms(1000);
        }
    printf("catch-up of %d vehicles at once, %d commands each, 3-node R3 FLEET_CMD (medians of "
           "%d)\n",
           B.nveh, B.per, runs);
    printf("%-38s %12s %12s %8s\n", "measure", "aerie", "consumer", "ratio");
    const char *names[] = {"seconds until all done", "per vehicle p50 (ms)", "per vehicle p99 (ms)",
                           "hub CPU, 3 nodes (ms)", "requests sent"};
    for (int f = 0; f < 5; f++) {
        double med[NWAYS];
        for (int w = 0; w < NWAYS; w++) {
            double x[MAXRUNS];
            for (int r = 0; r < runs; r++)
                x[r] = f == 0   ? res[w][r].secs
                       : f == 1 ? res[w][r].p50_ms
                       : f == 2 ? res[w][r].p99_ms
                       : f == 3 ? res[w][r].cpu_ms
                                : res[w][r].reqs;
            for (int i = 0; i < runs; i++) /* insertion sort: a handful of runs */
                for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
                    double t = x[j];
                    x[j] = x[j - 1];
                    x[j - 1] = t;
                }
            med[w] = x[runs / 2];
        }
        printf("%-38s %12.2f %12.2f %8.2f\n", names[f], med[0], med[1],
               med[1] > 0 ? med[0] / med[1] : 0);
    }
    bool all[NWAYS] = {true, true};
    for (int w = 0; w < NWAYS; w++)
        for (int r = 0; r < runs; r++)
            all[w] = all[w] && res[w][r].all;
    printf("%-38s %12s %12s\n", "delivered all (every run)", all[0] ? "yes" : "NO",
           all[1] ? "yes" : "NO");
    for (int c = 0; c < B.nconns; c++) {
        natsSubscription_Destroy(B.sub[c]);
        natsConnection_Destroy(B.nc[c]);
    }
    ah_hub_stop(&B.hub);
    free(B.v);
    nats_Close();
    return all[0] && all[1] ? 0 : 1;
}
