/* The `aerie` binary against real nats-server hubs: hub init (idempotent, then an update),
 * the twin, status, replay by event time (including a block of late data, with the count of
 * direct-get requests bounded), commands against a responder and against nobody, and
 * topology: generated configs accepted by nats-server, and a two-region supercluster started
 * from them that routes a request across regions and through a vehicle leaf. */
#include "gw/gw.h"
#include "harness/harness.h"

#include <jansson.h>
#include <math.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- running the CLI ---------------------------------------------------------------- */

typedef ah_output run_result;

static void run_free(run_result *r)
{
    ah_output_free(r);
}

/* Runs `aerie` with the NULL-terminated arguments, capturing stdout and stderr. */
static run_result run_aerie(const char *dir, const char *first, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)ah_bin("aerie");
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/aerie", dir);
    return ah_run_capture(prefix, argv, 60000);
}

#define RUN_OK(r)                                                                                  \
    AH_ASSERT_MSG((r).code == 0, "exit %d\nstdout: %s\nstderr: %s", (r).code, (r).out, (r).err)

/* ---- a hub with a fleet.json -------------------------------------------------------- */

typedef struct fixture {
    ah_hub hub;
    char *dir;
    natsConnection *nc;
    jsCtx *js;
} fixture;

/* A 3-node hub (with the harness's users, or `authorization` when not NULL), its
 * fleet.json in a fresh directory, and an operator connection. */
static void fixture_start_auth(fixture *f, const char *authorization)
{
    memset(f, 0, sizeof *f);
    ah_hub_opts o = {.nodes = 3, .authorization = authorization};
    AH_ASSERT_EQ_INT(ah_hub_start_opts(&f->hub, &o), 0);
    f->dir = ah_mkdtemp("cli");
    char path[700];
    snprintf(path, sizeof path, "%s/fleet.json", f->dir);
    AH_ASSERT_EQ_INT(
        ah_write_file(path,
                      "{\"env\":\"prod\",\"hub\":{\"urls\":["
                      "\"nats://operator:secret@127.0.0.1:%d\","
                      "\"nats://operator:secret@127.0.0.1:%d\","
                      "\"nats://operator:secret@127.0.0.1:%d\"]},"
                      "\"vehicles\":[{\"vid\":\"V1\"},{\"vid\":\"V2\"},{\"vid\":\"V3\"}]}\n",
                      f->hub.client_port[0], f->hub.client_port[1], f->hub.client_port[2]),
        0);
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", f->hub.client_port[0]);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&f->nc, url), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_JetStream(&f->js, f->nc, NULL), NATS_OK);
}

static void fixture_start(fixture *f)
{
    fixture_start_auth(f, NULL);
}

static void fixture_stop(fixture *f)
{
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    ah_hub_stop(&f->hub);
    ah_rmrf(f->dir);
    free(f->dir);
}

/* ---- hub init ----------------------------------------------------------------------- */

static void hub_init_idempotent(void)
{
    fixture f;
    fixture_start(&f);
    run_result r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "TWIN_STATE   created (R3 max_age=7d direct_get)");
    AH_ASSERT_CONTAINS(r.out, "TWIN_LIVE    created (R3 max_age=1h direct_get)");
    AH_ASSERT_CONTAINS(r.out, "hub init: 5 created, 0 updated, 0 unchanged");
    run_free(&r);

    r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "hub init: 0 created, 0 updated, 5 unchanged");
    run_free(&r);

    /* A changed limit is applied and reported, through --server this time. */
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", f.hub.client_port[1]);
    r = run_aerie(f.dir, "hub", "init", "--server", url, "--state-max-age", "3d", "--link-history",
                  "50", NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "TWIN_STATE   updated: max_age 7d -> 3d");
    AH_ASSERT_CONTAINS(r.out, "FLEET_LINK   updated: max_msgs_per_subject 100 -> 50");
    AH_ASSERT_CONTAINS(r.out, "hub init: 0 created, 2 updated, 3 unchanged");
    run_free(&r);

    /* The server really has the new value, and the stream is still R3 with direct get. */
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    AH_ASSERT_EQ_INT(js_GetStreamInfo(&si, f.js, "TWIN_STATE", NULL, &jerr), NATS_OK);
    AH_ASSERT_EQ_INT(si->Config->MaxAge, 3LL * 86400 * 1000000000LL);
    AH_ASSERT_EQ_INT(si->Config->Replicas, 3);
    AH_ASSERT(si->Config->AllowDirect);
    jsStreamInfo_Destroy(si);

    r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, "--state-max-age", "3d", "--link-history",
                  "50", "--json", NULL);
    RUN_OK(r);
    json_t *j = json_loads(r.out, 0, NULL);
    AH_ASSERT(json_is_object(j));
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "unchanged")), 5);
    json_decref(j);
    run_free(&r);

    /* A bad value is a usage error, not a crash. */
    r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, "--replicas", "nine", NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    AH_ASSERT_CONTAINS(r.err, "bad value for --replicas");
    run_free(&r);
    fixture_stop(&f);
}

/* ---- synthetic vehicle data --------------------------------------------------------- */

static int64_t T0; /* event time of index 0 */

static void pub_state(fixture *f, const char *vid, const char *name, int i, int64_t ev_ns,
                      const char *payload)
{
    char subj[200], ts[64], id[100];
    snprintf(subj, sizeof subj, "fleet.prod.veh.%s.state.%s", vid, name);
    time_t secs = (time_t)(ev_ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%09lldZ", (long long)(ev_ns % 1000000000LL));
    snprintf(id, sizeof id, "%s.1.%s.%d", vid, name, i);
    natsMsg *m = NULL;
    AH_ASSERT_EQ_INT(natsMsg_Create(&m, subj, NULL, payload, (int)strlen(payload)), NATS_OK);
    natsMsgHeader_Set(m, "Aerie-Event-Time", ts);
    natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    AH_ASSERT_EQ_INT(js_PublishMsgAsync(f->js, &m, NULL), NATS_OK);
}

static void pos(fixture *f, const char *vid, int i)
{
    char p[128];
    snprintf(p, sizeof p, "{\"lat\":47.%04d,\"lon\":8.5,\"alt\":%d,\"i\":%d}", i, 100 + i, i);
    pub_state(f, vid, "position", i, T0 + (int64_t)i * 1000000000LL, p);
}

static void bat(fixture *f, const char *vid, int i)
{
    char p[64];
    snprintf(p, sizeof p, "{\"pct\":%d,\"i\":%d}", 100 - i / 4, i);
    pub_state(f, vid, "battery", i, T0 + (int64_t)i * 2000000000LL + 500000000LL, p);
}

/* Stream layout (what an outage of V1 looks like at the hub):
 *   phase 1: V1 and V2 live, positions 0..199, V1 battery every other second
 *   phase 2: V1 offline; V2 positions 200..299 arrive
 *   phase 3: V1 reconnects and its backlog, positions 200..299 (old event times), arrives
 *   phase 4: both live, positions 300..399
 * Per subject the stream order is still event-time order, but arrival times say nothing
 * about event times for V1's block 200..299. */
static void load_fleet(fixture *f)
{
    T0 = ((int64_t)time(NULL) - 3600) * 1000000000LL;
    for (int i = 0; i < 200; i++) {
        pos(f, "V1", i);
        pos(f, "V2", i);
        if (i % 2 == 0)
            bat(f, "V1", i / 2);
    }
    for (int i = 200; i < 300; i++)
        pos(f, "V2", i);
    for (int i = 200; i < 300; i++) {
        pos(f, "V1", i);
        if (i % 2 == 0)
            bat(f, "V1", i / 2);
    }
    for (int i = 300; i < 400; i++) {
        pos(f, "V1", i);
        pos(f, "V2", i);
        if (i % 2 == 0)
            bat(f, "V1", i / 2);
    }
    pub_state(f, "V1", "heartbeat", 0, T0 + 399000000000LL, "{\"armed\":false}");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 20000;
    AH_ASSERT_EQ_INT(js_PublishAsyncComplete(f->js, &po), NATS_OK);
    /* The vehicle leaves' own link reports. */
    jsPubAck *pa = NULL;
    AH_ASSERT_EQ_INT(js_Publish(&pa, f->js, "fleet.prod.veh.V1.link",
                                "{\"online\":true,\"backlog_msgs\":0}", 32, NULL, NULL),
                     NATS_OK);
    jsPubAck_Destroy(pa);
    pa = NULL;
    AH_ASSERT_EQ_INT(js_Publish(&pa, f->js, "fleet.prod.veh.V2.link",
                                "{\"online\":false,\"backlog_msgs\":12}", 34, NULL, NULL),
                     NATS_OK);
    jsPubAck_Destroy(pa);
}

/* ---- twin and status ---------------------------------------------------------------- */

static void twin_and_status(void)
{
    fixture f;
    fixture_start(&f);
    run_result r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, NULL);
    RUN_OK(r);
    run_free(&r);
    load_fleet(&f);

    r = run_aerie(f.dir, "twin", "V1", "--dir", f.dir, "--json", "--stats", NULL);
    RUN_OK(r);
    json_t *tw = json_loads(r.out, 0, NULL);
    AH_ASSERT_MSG(json_is_object(tw), "not a JSON object: %s", r.out);
    json_t *want_pos = json_loads("{\"lat\":47.0399,\"lon\":8.5,\"alt\":499,\"i\":399}", 0, NULL);
    json_t *want_bat = json_loads("{\"pct\":51,\"i\":199}", 0, NULL);
    AH_ASSERT_MSG(json_equal(json_object_get(tw, "position"), want_pos), "%s", r.out);
    AH_ASSERT_MSG(json_equal(json_object_get(tw, "battery"), want_bat), "%s", r.out);
    AH_ASSERT(json_is_object(json_object_get(tw, "heartbeat")));
    AH_ASSERT_EQ_INT(json_object_size(tw), 4); /* three states and "_meta" */
    json_t *meta = json_object_get(json_object_get(tw, "_meta"), "position");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(meta, "source")), "state");
    /* One stream info each for the state and the live subject lists, one direct get per
     * state: no scan. */
    AH_ASSERT_CONTAINS(r.err, "twin stats: direct_get=3 api=2");
    json_decref(tw);
    json_decref(want_pos);
    json_decref(want_bat);
    run_free(&r);

    r = run_aerie(f.dir, "twin", "V1", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "position");
    AH_ASSERT_CONTAINS(r.out, "\"i\":399");
    run_free(&r);

    r = run_aerie(f.dir, "twin", "NOPE", "--dir", f.dir, NULL);
    AH_ASSERT_EQ_INT(r.code, 1);
    AH_ASSERT_CONTAINS(r.err, "no state stored for vehicle NOPE");
    run_free(&r);

    r = run_aerie(f.dir, "status", "--dir", f.dir, "--json", NULL);
    RUN_OK(r);
    json_t *st = json_loads(r.out, 0, NULL);
    AH_ASSERT_MSG(json_is_array(st), "not an array: %s", r.out);
    AH_ASSERT_EQ_INT(json_array_size(st), 3); /* V3 is listed in fleet.json but never spoke */
    json_t *v1 = json_array_get(st, 0), *v2 = json_array_get(st, 1), *v3 = json_array_get(st, 2);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(v1, "vid")), "V1");
    AH_ASSERT(json_is_true(json_object_get(v1, "online")));
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(v1, "battery_pct")), 51);
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(v1, "position"), "alt")),
                     499);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(v2, "vid")), "V2");
    AH_ASSERT(json_is_false(json_object_get(v2, "online")));
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(v2, "backlog_msgs")), 12);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(v3, "vid")), "V3");
    AH_ASSERT(json_is_false(json_object_get(v3, "online")));
    AH_ASSERT(json_is_null(json_object_get(v3, "last_seen")));
    json_decref(st);
    run_free(&r);

    r = run_aerie(f.dir, "status", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "VID");
    AH_ASSERT_CONTAINS(r.out, "V1               online");
    AH_ASSERT_CONTAINS(r.out, "V2               offline");
    char *table = strstr(r.out, "\nHISTORY");
    AH_ASSERT_MSG(table, "no history table: %s", r.out);
    table = strdup(table);
    run_free(&r);

    /* --json --history: the vehicles as above, and the history table's figures */
    r = run_aerie(f.dir, "status", "--dir", f.dir, "--json", "--history", NULL);
    RUN_OK(r);
    json_t *doc = json_loads(r.out, 0, NULL);
    AH_ASSERT_MSG(json_is_object(doc), "not an object: %s", r.out);
    AH_ASSERT_EQ_INT(json_array_size(json_object_get(doc, "vehicles")), 3);
    json_t *hist = json_object_get(doc, "history"), *row;
    AH_ASSERT_EQ_INT(json_array_size(hist), 5);
    size_t k;
    int with_msgs = 0;
    json_array_foreach(hist, k, row)
    {
        /* each row is the table's line of that stream, number for number */
        const char *name = json_string_value(json_object_get(row, "stream"));
        char want[64];
        snprintf(want, sizeof want, "\n%-16s %10lld ", name,
                 (long long)json_integer_value(json_object_get(row, "messages")));
        AH_ASSERT_MSG(strstr(table, want), "%s: no line \"%s\" in %s", name, want + 1, table);
        AH_ASSERT(json_is_integer(json_object_get(row, "bytes")) &&
                  json_is_integer(json_object_get(row, "max_bytes")) &&
                  json_is_integer(json_object_get(row, "max_age_ns")) &&
                  json_is_integer(json_object_get(row, "max_msgs_per_subject")));
        bool has = json_integer_value(json_object_get(row, "messages")) > 0;
        with_msgs += has;
        AH_ASSERT(has ? json_is_string(json_object_get(row, "oldest"))
                      : json_is_null(json_object_get(row, "oldest")));
        if (strcmp(name, "FLEET_LINK") == 0)
            AH_ASSERT_EQ_INT(json_integer_value(json_object_get(row, "max_msgs_per_subject")), 100);
        if (strcmp(name, "TWIN_STATE") == 0)
            AH_ASSERT_EQ_INT(json_integer_value(json_object_get(row, "max_age_ns")),
                             7 * 86400 * 1000000000LL);
    }
    AH_ASSERT(with_msgs > 0);
    json_decref(doc);
    free(table);
    run_free(&r);
    fixture_stop(&f);
}

/* ---- replay ------------------------------------------------------------------------- */

static void fmt_time(int64_t ns, char *out, size_t cap)
{
    time_t secs = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, cap - k, ".%09lldZ", (long long)(ns % 1000000000LL));
}

/* Replays V1 positions in [a, b) seconds after T0 and checks that exactly indexes a..b-1
 * come back in order, with a search cost bounded by a logarithm of the stream size. */
static void check_position_window(fixture *f, int a, int b)
{
    char s[64], e[64];
    fmt_time(T0 + (int64_t)a * 1000000000LL, s, sizeof s);
    fmt_time(T0 + (int64_t)b * 1000000000LL, e, sizeof e);
    run_result r = run_aerie(f->dir, "replay", "V1", "--dir", f->dir, "--subject", "state.position",
                             "--start", s, "--end", e, "--stats", NULL);
    RUN_OK(r);
    int want = a;
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        AH_ASSERT_MSG(json_is_object(j), "bad line: %s", line);
        AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "subject")),
                         "fleet.prod.veh.V1.state.position");
        AH_ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "payload"), "i")),
                         want);
        char et[64];
        fmt_time(T0 + (int64_t)want * 1000000000LL, et, sizeof et);
        AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "event_time")), et);
        json_decref(j);
        want++;
    }
    AH_ASSERT_MSG(want == b, "window [%d,%d): got up to %d", a, b, want);
    /* ~1,300 messages in the stream: a search costs about log2(1300) + 2 = 12 reads. */
    const char *p = strstr(r.err, "search_requests=");
    AH_ASSERT_MSG(p, "no stats: %s", r.err);
    long search = strtol(p + 16, NULL, 10);
    AH_ASSERT_MSG(search >= 1 && search <= 16, "search took %ld requests: %s", search, r.err);
    run_free(&r);
}

static void replay_windows(void)
{
    fixture f;
    fixture_start(&f);
    run_result r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, NULL);
    RUN_OK(r);
    run_free(&r);
    load_fleet(&f);

    check_position_window(&f, 100, 150); /* live data */
    check_position_window(&f, 210, 260); /* entirely inside the late block */
    check_position_window(&f, 250, 320); /* late block into live data */
    check_position_window(&f, 0, 5);     /* the very start */
    check_position_window(&f, 395, 400); /* the end */

    /* All state subjects merged by event time: positions 180..219 and batteries whose event
     * time (2k + 0.5 s) falls in [180 s, 220 s): k = 90..109. */
    char s[64], e[64];
    fmt_time(T0 + 180 * 1000000000LL, s, sizeof s);
    fmt_time(T0 + 220 * 1000000000LL, e, sizeof e);
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--start", s, "--end", e, NULL);
    RUN_OK(r);
    int n_pos = 0, n_bat = 0;
    char last[64] = "";
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        AH_ASSERT_MSG(json_is_object(j), "bad line: %s", line);
        const char *subj = json_string_value(json_object_get(j, "subject"));
        const char *et = json_string_value(json_object_get(j, "event_time"));
        AH_ASSERT_MSG(strcmp(last, et) <= 0, "out of order: %s after %s", et, last);
        snprintf(last, sizeof last, "%s", et);
        if (strstr(subj, ".position"))
            n_pos++;
        else if (strstr(subj, ".battery"))
            n_bat++;
        json_decref(j);
    }
    AH_ASSERT_EQ_INT(n_pos, 40);
    AH_ASSERT_EQ_INT(n_bat, 20);
    run_free(&r);

    /* --since covers everything (event times are an hour old): 400 + 200 + 1 messages. */
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--since", "2h", "--csv", NULL);
    RUN_OK(r);
    int lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    AH_ASSERT_EQ_INT(lines, 1 + 601);
    AH_ASSERT(strncmp(r.out, "event_time,subject,seq,payload\n", 31) == 0);
    run_free(&r);

    /* --since shorter than the data's age: nothing, and that is not an error. */
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--since", "10m", NULL);
    RUN_OK(r);
    AH_ASSERT_EQ_STR(r.out, "");
    run_free(&r);

    /* Re-publish at full speed onto a separate prefix, seen by a subscriber. */
    natsSubscription *sub = NULL;
    AH_ASSERT_EQ_INT(natsConnection_SubscribeSync(&sub, f.nc, "sim.replay.fleet.prod.veh.V1.>"),
                     NATS_OK);
    natsConnection_Flush(f.nc);
    fmt_time(T0 + 10 * 1000000000LL, s, sizeof s);
    fmt_time(T0 + 15 * 1000000000LL, e, sizeof e);
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--subject", "state.position", "--start",
                  s, "--end", e, "--republish", "sim.replay", "--speed", "0", NULL);
    RUN_OK(r);
    run_free(&r);
    for (int i = 10; i < 15; i++) {
        natsMsg *m = NULL;
        AH_ASSERT_EQ_INT(natsSubscription_NextMsg(&m, sub, 2000), NATS_OK);
        AH_ASSERT_EQ_STR(natsMsg_GetSubject(m), "sim.replay.fleet.prod.veh.V1.state.position");
        char want[32];
        snprintf(want, sizeof want, "\"i\":%d", i);
        AH_ASSERT_CONTAINS(natsMsg_GetData(m), want);
        const char *et = NULL;
        AH_ASSERT_EQ_INT(natsMsgHeader_Get(m, "Aerie-Event-Time", &et), NATS_OK);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);

    /* A prefix that a hub stream would capture is refused. */
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--since", "2h", "--republish",
                  "fleet.x.veh.y.state", NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    AH_ASSERT_CONTAINS(r.err, "no hub stream stores");
    run_free(&r);
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--since", "xyz", NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    AH_ASSERT_CONTAINS(r.err, "--since xyz");
    run_free(&r);

    /* A slow subject: its one message in the window, then many of other subjects. The
     * consumer for the rest of it has nothing to deliver; the replay must end with the one
     * message, not wait for a delivery that never comes and fail (a 1,000-vehicle fleet at
     * 0.02 Hz, docs/benchmarks.md). */
    pub_state(&f, "V1", "gps", 0, T0 + 400 * 1000000000LL, "{\"fix\":3}");
    for (int i = 400; i < 500; i++)
        pos(&f, "V2", i);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 20000;
    AH_ASSERT_EQ_INT(js_PublishAsyncComplete(f.js, &po), NATS_OK);
    r = run_aerie(f.dir, "replay", "V1", "--dir", f.dir, "--subject", "state.gps", "--since", "2h",
                  NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "\"fix\":3");
    AH_ASSERT_EQ_INT((int)(strchr(r.out, '\n') - r.out + 1), (int)strlen(r.out)); /* one line */
    run_free(&r);
    fixture_stop(&f);
}

/* A consumer create that JetStream never answers (here the reader may not publish one; on
 * a real hub, its meta leader being elected after a node or region went away: the
 * deploy_regions failure of 2026-12-03) costs the replay one timeout, then it reads the
 * rest with direct gets: everything, in order. Before, the replay failed. */
static void replay_without_consumers(void)
{
    fixture f;
    fixture_start_auth(&f, "authorization {\n  users = [\n"
                           "    { user: operator, password: secret }\n"
                           "    { user: reader, password: secret, permissions: { publish: {\n"
                           "        allow: [\">\"], deny: [\"$JS.API.CONSUMER.CREATE.>\"] } } }\n"
                           "  ]\n}\n");
    run_result r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, NULL);
    RUN_OK(r);
    run_free(&r);
    load_fleet(&f);
    char url[128];
    snprintf(url, sizeof url, "nats://reader:secret@127.0.0.1:%d", f.hub.client_port[0]);
    r = run_aerie(f.dir, "replay", "V1", "--server", url, "--since", "2h", "--csv", "--timeout",
                  "2s", NULL);
    RUN_OK(r);
    int lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    AH_ASSERT_EQ_INT(lines, 1 + 601);
    run_free(&r);
    fixture_stop(&f);
}

/* A JetStream that answers every request with "temporarily unavailable" (10008, what a hub
 * says while its meta leader is being elected), played by a subscriber on the API of a
 * domain of our own; counts the requests. */
static void on_unavailable(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    __atomic_add_fetch((int *)closure, 1, __ATOMIC_SEQ_CST);
    natsConnection_PublishString(nc, natsMsg_GetReply(msg),
                                 "{\"error\":{\"code\":503,\"err_code\":10008,\"description\":"
                                 "\"JetStream system temporarily unavailable\"}}");
    natsMsg_Destroy(msg);
}

/* The CLI retries 10008 with a backoff within --timeout, and says so when it never ends. */
static void js_temporarily_unavailable(void)
{
    fixture f;
    fixture_start(&f);
    int requests = 0;
    natsSubscription *sub = NULL;
    AH_ASSERT_EQ_INT(
        natsConnection_Subscribe(&sub, f.nc, "$JS.fake.API.>", on_unavailable, &requests), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_Flush(f.nc), NATS_OK);
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", f.hub.client_port[0]);
    run_result r = run_aerie(f.dir, "replay", "V1", "--server", url, "--js-domain", "fake",
                             "--since", "1h", "--timeout", "2s", NULL);
    AH_ASSERT_MSG(r.code != 0, "replay succeeded against an unavailable JetStream: %s", r.out);
    AH_ASSERT_CONTAINS(r.err, "stayed temporarily unavailable (err_code 10008)");
    int n = __atomic_load_n(&requests, __ATOMIC_SEQ_CST);
    /* 100, 200, 400, 800 ms apart, then 1 s: 5 in 2 s (fewer on a slow machine), not 1 */
    AH_ASSERT_MSG(n >= 3 && n <= 8, "%d requests in the 2 s timeout", n);
    run_free(&r);
    natsSubscription_Destroy(sub);
    fixture_stop(&f);
}

/* ---- commands ----------------------------------------------------------------------- */

/* The vehicle stand-in: accepts everything except `land`, echoing the request body. */
static void on_cmd(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    const char *subj = natsMsg_GetSubject(msg);
    const char *name = strrchr(subj, '.') + 1;
    char reply[512];
    if (strcmp(name, "land") == 0)
        snprintf(reply, sizeof reply,
                 "{\"ok\":false,\"result\":\"denied\",\"error\":\"not armed\"}");
    else
        snprintf(reply, sizeof reply,
                 "{\"ok\":true,\"result\":\"accepted\",\"cmd\":\"%s\",\"args\":%.*s}", name,
                 natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), reply);
    natsMsg_Destroy(msg);
}

static void commands(void)
{
    fixture f;
    fixture_start(&f);
    /* First without FLEET_CMD: nobody listens, the hub says so at once. */
    run_result r = run_aerie(f.dir, "cmd", "V9", "rtl", "--dir", f.dir, NULL);
    AH_ASSERT_EQ_INT(r.code, 3);
    AH_ASSERT_CONTAINS(r.err, "vehicle V9 is not reachable");
    run_free(&r);

    r = run_aerie(f.dir, "hub", "init", "--dir", f.dir, NULL);
    RUN_OK(r);
    run_free(&r);
    natsSubscription *sub = NULL;
    AH_ASSERT_EQ_INT(natsConnection_Subscribe(&sub, f.nc, "fleet.prod.veh.V1.cmd.*", on_cmd, NULL),
                     NATS_OK);
    natsConnection_Flush(f.nc);

    r = run_aerie(f.dir, "cmd", "V1", "rtl", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "\"result\":\"accepted\"");
    AH_ASSERT_CONTAINS(r.out, "\"cmd\":\"rtl\"");
    run_free(&r);

    r = run_aerie(f.dir, "cmd", "V1", "takeoff", "20", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "\"args\":{\"alt_m\":20}");
    run_free(&r);

    r = run_aerie(f.dir, "cmd", "V1", "goto", "47.39", "-8.5", "30", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "\"lon\":-8.5");
    run_free(&r);

    r = run_aerie(f.dir, "cmd", "V1", "land", "--dir", f.dir, NULL);
    AH_ASSERT_EQ_INT(r.code, 1);
    AH_ASSERT_CONTAINS(r.out, "not armed");
    AH_ASSERT_CONTAINS(r.err, "did not accept land");
    run_free(&r);

    /* What a command carries: its id (also the hub's Nats-Msg-Id), TTL, issue time, sender. */
    natsSubscription *peek = NULL;
    AH_ASSERT_EQ_INT(natsConnection_SubscribeSync(&peek, f.nc, "fleet.prod.veh.V1.cmd.mode"),
                     NATS_OK);
    natsConnection_Flush(f.nc);
    r = run_aerie(f.dir, "cmd", "V1", "mode", "HOLD", "--ttl", "90s", "--id", "V1-retry1", "--dir",
                  f.dir, NULL);
    RUN_OK(r);
    run_free(&r);
    natsMsg *seen = NULL;
    AH_ASSERT_EQ_INT(natsSubscription_NextMsg(&seen, peek, 5000), NATS_OK);
    const char *hv = NULL;
    AH_ASSERT(natsMsgHeader_Get(seen, "Aerie-Cmd-Id", &hv) == NATS_OK && !strcmp(hv, "V1-retry1"));
    AH_ASSERT(natsMsgHeader_Get(seen, "Nats-Msg-Id", &hv) == NATS_OK && !strcmp(hv, "V1-retry1"));
    AH_ASSERT(natsMsgHeader_Get(seen, "Aerie-Cmd-Ttl-Ms", &hv) == NATS_OK && !strcmp(hv, "90000"));
    AH_ASSERT(natsMsgHeader_Get(seen, "Aerie-Cmd-Issued", &hv) == NATS_OK && hv[4] == '-');
    AH_ASSERT(natsMsgHeader_Get(seen, "Aerie-Cmd-Actor", &hv) == NATS_OK && strchr(hv, '@'));
    natsMsg_Destroy(seen);
    natsSubscription_Destroy(peek);

    /* An offline vehicle: FLEET_CMD stores the command, the vehicle never answers; the
     * answer says it is queued and how to follow it. */
    int64_t t = ah_now_ms();
    r = run_aerie(f.dir, "cmd", "V2", "rtl", "--dir", f.dir, "--timeout", "1s", NULL);
    AH_ASSERT_EQ_INT(r.code, 3);
    AH_ASSERT_CONTAINS(r.err, "vehicle V2 did not answer yet; rtl is queued on the hub as V2-");
    AH_ASSERT_CONTAINS(r.out, "\"state\":\"queued\"");
    AH_ASSERT(ah_now_ms() - t >= 900);
    json_t *q = json_loads(r.out, 0, NULL);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(q, "id")));
    json_decref(q);
    run_free(&r);
    r = run_aerie(f.dir, "cmd", "status", id, "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "rtl to V2: queued (the hub's view: no report from the vehicle yet)");
    AH_ASSERT_CONTAINS(r.out, "TTL 30s");
    run_free(&r);
    r = run_aerie(f.dir, "cmd", "list", "V2", "--pending", "--json", "--dir", f.dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, id);
    run_free(&r);
    r = run_aerie(f.dir, "cmd", "status", "V2-nosuchcmd", "--dir", f.dir, NULL);
    AH_ASSERT_EQ_INT(r.code, 1);
    AH_ASSERT_CONTAINS(r.err, "knows no command V2-nosuchcmd");
    run_free(&r);

    /* Bad TTLs and ids are usage errors. */
    static const char *const bad[][2] = {
        {"--ttl", "0s"}, {"--ttl", "2h"}, {"--id", "V9-x"}, {"--id", "nodash"}, {"--wait", "soon"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_aerie(f.dir, "cmd", "V1", "rtl", bad[i][0], bad[i][1], "--dir", f.dir, NULL);
        AH_ASSERT_MSG(r.code == 2, "%s %s: exit %d", bad[i][0], bad[i][1], r.code);
        run_free(&r);
    }

    r = run_aerie(f.dir, "cmd", "V1", "takeoff", "--dir", f.dir, NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    AH_ASSERT_CONTAINS(r.err, "takeoff needs alt");
    run_free(&r);
    natsSubscription_Destroy(sub);
    fixture_stop(&f);
}

/* ---- topology ----------------------------------------------------------------------- */

typedef struct topo_ports {
    int client[4], cluster[4], leaf[4], gw[4], http[4];
    int veh_port;
} topo_ports;

/* `extra` is inserted as top-level members of the description ("" for none). */
static void write_topology(const char *dir, topo_ports *p, const char *extra)
{
    for (int i = 0; i < 4; i++) {
        p->client[i] = ah_free_port();
        p->cluster[i] = ah_free_port();
        p->leaf[i] = ah_free_port();
        p->gw[i] = ah_free_port();
        p->http[i] = ah_free_port();
    }
    p->veh_port = ah_free_port();
    char path[700], hubs[4][400];
    static const char *names[] = {"eu1", "eu2", "eu3", "us1"};
    for (int i = 0; i < 4; i++)
        snprintf(hubs[i], sizeof hubs[i],
                 "{\"name\":\"%s\",\"host\":\"127.0.0.1\",\"client_port\":%d,\"cluster_port\":%d,"
                 "\"leaf_port\":%d,\"gateway_port\":%d,\"http_port\":%d}",
                 names[i], p->client[i], p->cluster[i], p->leaf[i], p->gw[i], p->http[i]);
    snprintf(path, sizeof path, "%s/fleet-topology.json", dir);
    AH_ASSERT_EQ_INT(
        ah_write_file(path,
                      "{%s\"env\":\"prod\",\"operator\":{\"user\":\"operator\","
                      "\"password\":\"secret\"},\"vehicle_store_dir\":\"%s/veh/{vid}\","
                      "\"jetstream\":{\"store_dir\":\"%s/data/{name}\","
                      "\"max_file_store\":\"256MB\",\"max_memory_store\":\"64MB\"},"
                      "\"regions\":[{\"name\":\"eu\",\"hubs\":[%s,%s,%s]},"
                      "{\"name\":\"us\",\"hubs\":[%s]}],"
                      "\"vehicles\":[{\"vid\":\"VID-001\",\"region\":\"eu\","
                      "\"leaf_port\":%d},{\"vid\":\"VID-002\",\"region\":\"us\"}]}\n",
                      extra, dir, dir, hubs[0], hubs[1], hubs[2], hubs[3], p->veh_port),
        0);
    snprintf(path, sizeof path, "%s/veh", dir);
    mkdir(path, 0700); /* the vehicle's state directory, which its leaf's store goes under */
}

static int nats_check(const char *conf, const char *logdir)
{
    char log[700];
    snprintf(log, sizeof log, "%s/check.log", logdir);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(127);
        execl(ah_nats_server(), "nats-server", "-t", "-c", conf, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `aerie-leaf -t -c CONF`: the vehicle leaf accepts its generated config. */
static int leaf_check(const char *conf, const char *logdir)
{
    char log[700];
    snprintf(log, sizeof log, "%s/leafcheck.log", logdir);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(127);
        execl(ah_bin("aerie-leaf"), "aerie-leaf", "-t", "-c", conf, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* aerie-gw's own config loader accepts the generated gateway config, and it names the
 * vehicle and the local leaf. */
static void gw_conf_loads(const char *path, const char *vid, int leaf_port)
{
    ae_gw_config cfg;
    ae_gw_config_init(&cfg);
    ae_err err = {0};
    AH_ASSERT_MSG(ae_gw_config_load(&cfg, path, &err) == 0, "aerie-gw rejects %s: %s", path,
                  err.msg);
    AH_ASSERT_MSG(ae_gw_config_check(&cfg, &err) == 0, "aerie-gw rejects %s: %s", path, err.msg);
    AH_ASSERT_EQ_STR(cfg.vid, vid);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", leaf_port);
    AH_ASSERT_EQ_STR(cfg.nats_url, url);
    AH_ASSERT_EQ_INT(cfg.nmavlink, 1);
    ae_gw_config_free(&cfg);
}

/* The public key creds.json records for vid, or "" (caller frees). */
static char *registry_public(const char *out, const char *vid)
{
    char path[800];
    snprintf(path, sizeof path, "%s/creds/creds.json", out);
    json_t *reg = json_load_file(path, 0, NULL);
    const char *pub = json_string_value(
        json_object_get(json_object_get(json_object_get(reg, "vehicles"), vid), "public"));
    char *r = strdup(pub ? pub : "");
    json_decref(reg);
    return r;
}

static void topology_configs_load(void)
{
    char *dir = ah_mkdtemp("cli-topo");
    topo_ports p;
    write_topology(dir, &p, "");
    char file[700], out[700];
    snprintf(file, sizeof file, "%s/fleet-topology.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    run_result r = run_aerie(dir, "topology", file, "--out", out, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "hub-eu1.conf");
    AH_ASSERT_CONTAINS(r.out, "leaf-VID-002.conf");
    AH_ASSERT_CONTAINS(r.out, "/creds/VID-001.nk");
    run_free(&r);
    static const char *hubs[] = {"hub-eu1.conf", "hub-eu2.conf", "hub-eu3.conf", "hub-us1.conf"};
    for (size_t i = 0; i < 4; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s", out, hubs[i]);
        AH_ASSERT_MSG(nats_check(path, dir) == 0, "nats-server -t rejects %s", hubs[i]);
    }
    /* nkey is an aerie-leaf option (a stock nats-server leaf has none): aerie-leaf checks. */
    static const char *leaves[] = {"leaf-VID-001.conf", "leaf-VID-002.conf"};
    for (size_t i = 0; i < 2; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s", out, leaves[i]);
        AH_ASSERT_MSG(leaf_check(path, dir) == 0, "aerie-leaf -t rejects %s", leaves[i]);
    }
    char path[800];
    /* The gateway configs load in aerie-gw as written (they once named options it has not). */
    snprintf(path, sizeof path, "%s/gw-VID-001.conf", out);
    gw_conf_loads(path, "VID-001", p.veh_port);
    snprintf(path, sizeof path, "%s/gw-VID-002.conf", out);
    gw_conf_loads(path, "VID-002", 4222);
    snprintf(path, sizeof path, "%s/hub-eu2.conf", out);
    char *eu2 = ah_read_file(path);
    AH_ASSERT_CONTAINS(eu2, "gateway {");
    AH_ASSERT_CONTAINS(eu2, "{ name: \"us\", urls: [");
    /* Secure by default: anonymous connections refused, the operator only as a client,
     * each vehicle its own public key, in its own region only, and no secret of it. */
    AH_ASSERT_CONTAINS(eu2, "no_auth_user: \"aerie-nobody\"");
    AH_ASSERT_CONTAINS(eu2, "{ user: \"operator\", password: \"secret\", allowed_connection_types: "
                            "[\"STANDARD\"] }");
    AH_ASSERT_CONTAINS(eu2, "\"T-default\": {"); /* the operator's account, the streams' */
    char *pub1 = registry_public(out, "VID-001"), *pub2 = registry_public(out, "VID-002");
    AH_ASSERT(pub1[0] == 'U' && pub2[0] == 'U');
    char want[900];
    snprintf(want, sizeof want,
             "{ nkey: \"%s\", allowed_connection_types: [\"LEAFNODE\", \"LEAFNODE_WS\"] }", pub1);
    AH_ASSERT_CONTAINS(eu2, want);
    /* Its login only in its own region; its account everywhere, so that a command given in
     * any region reaches it across the gateways. */
    AH_ASSERT(!strstr(eu2, pub2) && !strstr(eu2, "# VID-002"));
    AH_ASSERT_CONTAINS(eu2, "\"V-VID-002\": {");
    snprintf(path, sizeof path, "%s/hub-us1.conf", out);
    char *us1 = ah_read_file(path);
    AH_ASSERT(us1 && strstr(us1, pub2) && !strstr(us1, pub1));
    free(us1);
    snprintf(path, sizeof path, "%s/creds/VID-001.nk", out);
    char *seed = ah_read_file(path);
    AH_ASSERT(seed && strncmp(seed, "SU", 2) == 0);
    struct stat sb;
    AH_ASSERT(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    seed[strcspn(seed, "\n")] = 0;
    AH_ASSERT(!strstr(eu2, seed));
    snprintf(path, sizeof path, "%s/leaf-VID-001.conf", out);
    char *leaf = ah_read_file(path);
    snprintf(want, sizeof want, "nkey: \"%s/creds/VID-001.nk\"", out);
    AH_ASSERT_CONTAINS(leaf, want);
    AH_ASSERT(!strstr(leaf, "@")); /* no password in the URLs */
    free(leaf);
    /* Regenerating reuses the saved secrets and keys: identical output. */
    r = run_aerie(dir, "topology", file, "--out", out, NULL);
    RUN_OK(r);
    run_free(&r);
    snprintf(path, sizeof path, "%s/hub-eu2.conf", out);
    char *again = ah_read_file(path);
    AH_ASSERT_EQ_STR(again, eu2);
    free(again);
    /* A vehicle revoked in the output's registry stays revoked when regenerating. */
    r = run_aerie(dir, "revoke", "VID-001", "--out", out, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "--evict-only");
    run_free(&r);
    r = run_aerie(dir, "topology", file, "--out", out, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "VID-001: revoked");
    run_free(&r);
    again = ah_read_file(path);
    AH_ASSERT(again && !strstr(again, pub1) && strstr(again, "no_auth_user"));
    free(again);
    free(eu2);
    free(seed);
    free(pub1);
    free(pub2);

    /* "vehicle_auth": "password" keeps per-vehicle password users, for a stock nats-server
     * leaf, and is just as closed to anonymous connections. */
    write_topology(dir, &p, "\"vehicle_auth\":\"password\",");
    snprintf(out, sizeof out, "%s/out-pw", dir);
    r = run_aerie(dir, "topology", file, "--out", out, NULL);
    RUN_OK(r);
    run_free(&r);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", out, leaves[i]);
        AH_ASSERT_MSG(nats_check(path, dir) == 0, "nats-server -t rejects %s", leaves[i]);
        snprintf(path, sizeof path, "%s/%s", out, hubs[i]);
        AH_ASSERT_MSG(nats_check(path, dir) == 0, "nats-server -t rejects %s", hubs[i]);
    }
    snprintf(path, sizeof path, "%s/hub-eu1.conf", out);
    char *pw = ah_read_file(path);
    AH_ASSERT_CONTAINS(pw, "{ user: \"VID-001\", password: \"");
    AH_ASSERT_CONTAINS(pw, "no_auth_user: \"aerie-nobody\"");
    free(pw);
    ah_rmrf(dir);
    free(dir);
}

static int spawn_server(ah_proc *pr, const char *out, const char *name)
{
    char conf[800], log[800];
    snprintf(conf, sizeof conf, "%s/hub-%s.conf", out, name);
    snprintf(log, sizeof log, "%s/%s.log", out, name);
    char *argv[] = {(char *)ah_nats_server(), "-c", conf, NULL};
    return ah_spawn(pr, log, argv);
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char reply[300];
    snprintf(reply, sizeof reply, "{\"ok\":true,\"from\":\"%s\",\"got\":%.*s}",
             (const char *)closure, natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), reply);
    natsMsg_Destroy(msg);
}

static void topology_supercluster(void)
{
    char *dir = ah_mkdtemp("cli-sc");
    topo_ports p;
    write_topology(dir, &p, "");
    char file[700], out[700];
    snprintf(file, sizeof file, "%s/fleet-topology.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    run_result r = run_aerie(dir, "topology", file, "--out", out, NULL);
    RUN_OK(r);
    run_free(&r);
    ah_proc hubs[4];
    memset(hubs, 0, sizeof hubs);
    static const char *names[] = {"eu1", "eu2", "eu3", "us1"};
    for (int i = 0; i < 4; i++)
        AH_ASSERT_EQ_INT(spawn_server(&hubs[i], out, names[i]), 0);
    for (int i = 0; i < 4; i++) {
        int ok = 0;
        for (int t = 0; t < 200 && !ok; t++) {
            int st = 0;
            char *b = ah_http_get(p.http[i], "/healthz?js-enabled-only=true", &st);
            ok = b && st == 200;
            free(b);
            if (!ok)
                ah_sleep_ms(50);
        }
        AH_ASSERT_MSG(ok, "hub %s did not become healthy", names[i]);
    }
    /* A leaf without credentials is refused (no_auth_user maps it to aerie-nobody). */
    int fd = ah_connect(p.leaf[0]);
    AH_ASSERT(fd >= 0);
    char buf[4096];
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    ah_send(fd, "CONNECT {\"name\":\"intruder\"}\r\nPING\r\n");
    ah_read_until(fd, buf, sizeof buf, "Authorization Violation", 3000);
    AH_ASSERT_CONTAINS(buf, "Authorization Violation");
    close(fd);
    /* The vehicle leaf: aerie-leaf from its generated config, signing in with its nkey. */
    ah_proc leaf = {0};
    char lconf[800], llog[800];
    snprintf(lconf, sizeof lconf, "%s/leaf-VID-001.conf", out);
    snprintf(llog, sizeof llog, "%s/leaf.log", out);
    char *largv[] = {(char *)ah_bin("aerie-leaf"), "-c", lconf, NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&leaf, llog, largv), 0);
    AH_ASSERT_EQ_INT(ah_wait_tcp(p.veh_port, 5000), 0);

    char url[128];
    natsConnection *us = NULL, *eu = NULL, *veh = NULL;
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", p.client[3]);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&us, url), NATS_OK);
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", p.client[1]);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&eu, url), NATS_OK);
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", p.veh_port);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&veh, url), NATS_OK);

    /* A service in region us answers a request made in region eu, across the gateways. */
    natsSubscription *s1 = NULL, *s2 = NULL;
    AH_ASSERT_EQ_INT(natsConnection_Subscribe(&s1, us, "svc.echo", on_echo, "us"), NATS_OK);
    natsConnection_Flush(us);
    /* The vehicle answers commands through its leaf (region eu). */
    AH_ASSERT_EQ_INT(
        natsConnection_Subscribe(&s2, veh, "fleet.prod.veh.VID-001.cmd.*", on_echo, "VID-001"),
        NATS_OK);
    natsConnection_Flush(veh);
    natsMsg *m = NULL;
    natsStatus s = NATS_TIMEOUT;
    for (int t = 0; t < 100 && s != NATS_OK; t++) { /* gateway interest takes a moment */
        s = natsConnection_RequestString(&m, eu, "svc.echo", "{}", 200);
        if (s != NATS_OK)
            ah_sleep_ms(100);
    }
    AH_ASSERT_EQ_INT(s, NATS_OK);
    AH_ASSERT_CONTAINS(natsMsg_GetData(m), "\"from\":\"us\"");
    natsMsg_Destroy(m);

    /* `aerie cmd` from the us region's view reaches the vehicle on the eu leaf. */
    char usdir[800];
    snprintf(usdir, sizeof usdir, "%s/us", out);
    int code = -1;
    for (int t = 0; t < 50 && code != 0; t++) {
        r = run_aerie(dir, "cmd", "VID-001", "mode", "LOITER", "--dir", usdir, "--timeout", "1s",
                      NULL);
        code = r.code;
        if (code != 0) {
            run_free(&r);
            ah_sleep_ms(100);
        }
    }
    AH_ASSERT_MSG(code == 0, "aerie cmd across regions failed");
    AH_ASSERT_CONTAINS(r.out, "\"from\":\"VID-001\"");
    AH_ASSERT_CONTAINS(r.out, "\"mode\":\"LOITER\"");
    run_free(&r);

    natsSubscription_Destroy(s1);
    natsSubscription_Destroy(s2);
    natsConnection_Destroy(us);
    natsConnection_Destroy(eu);
    natsConnection_Destroy(veh);
    ah_stop(&leaf, SIGTERM, 3000);
    for (int i = 0; i < 4; i++)
        ah_stop(&hubs[i], SIGTERM, 5000);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"hub_init_idempotent", hub_init_idempotent, 60},
        {"twin_and_status", twin_and_status, 60},
        {"replay_windows", replay_windows, 90},
        {"replay_without_consumers", replay_without_consumers, 90},
        {"js_temporarily_unavailable", js_temporarily_unavailable, 60},
        {"commands", commands, 60},
        {"topology_configs_load", topology_configs_load, 60},
        {"topology_supercluster", topology_supercluster, 90},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
