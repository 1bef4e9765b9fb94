/* bench_uplink_bytes: the bytes a vehicle's uplink costs, counted both ways by aerie-relay
 * between the vehicle's leaf and a nats-server 2.9 hub (1 node, JetStream, stream TELEM on
 * fleet.*.veh.*.state.>).
 *
 * The mix: gateway-like JSON telemetry (position, attitude, battery, heartbeat in turn,
 * about 230-byte payloads) published at 400 Hz on the vehicle's leaf by libnats, --msgs of
 * them (default 4000). Leaves, one at a time:
 *   nats-tcp      nats-server as the leaf, nats-leaf:// to the hub's leafnode port
 *   nats-ws       nats-server as the leaf, ws:// with ws_compression to the websocket port
 *   aerie-ws      aerie-leaf, ws:// with ws_compression, store {} + uplink {}: every message
 *                 durable on the vehicle and acknowledged by the hub stream (exactly once)
 *   aerie-tcp     aerie-leaf the same over nats-leaf:// (for reference)
 * and a backlog catch-up: aerie-ws with the relay cut while all messages are published,
 * then healed; the bytes from heal until the stream holds them all. (nats-server as a leaf
 * keeps nothing while its link is down, so it has no catch-up to compare.)
 *
 * Printed per leaf: bytes up, down, total per message (median of --runs runs), and whether
 * every message reached the stream; then the ratios to nats-tcp.
 *
 *   bench_uplink_bytes [--runs N] [--msgs N] [--rate HZ] [--frame-wait DURATION]
 * (--frame-wait sets aerie-leaf's ws_frame_wait, e.g. 50ms; default: aerie-leaf's default)
 */
#include "harness/harness.h"
#include "harness/relay_ctl.h"

#include <jansson.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXRUNS 9

enum { L_NATS_TCP, L_NATS_WS, L_AERIE_WS, L_AERIE_TCP, L_CATCHUP, NLEAF };
static const char *leaf_name[NLEAF] = {"nats-server leaf, TCP", "nats-server leaf, ws+deflate",
                                       "aerie-leaf ws+deflate, durable", "aerie-leaf TCP, durable",
                                       "aerie-leaf ws+deflate, backlog catch-up"};

static int opt_msgs = 4000, opt_runs = 3, opt_rate = 400;
static const char *opt_frame_wait; /* aerie-leaf's ws_frame_wait; NULL: its default */

static void die(const char *msg)
{
    fprintf(stderr, "bench_uplink_bytes: %s\n", msg);
    exit(1);
}

/* ---- the hub and its stream ------------------------------------------------------------ */

static natsConnection *hub_conn(ah_hub *h)
{
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", h->client_port[0]);
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        die("cannot connect to the hub");
    return nc;
}

static void stream_reset(ah_hub *h)
{
    natsConnection *nc = hub_conn(h);
    jsCtx *js = NULL;
    if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        die("no JetStream");
    js_DeleteStream(js, "TELEM", NULL, NULL);
    const char *subjects[] = {"fleet.*.veh.*.state.>"};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "TELEM";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = 120LL * 1000 * 1000 * 1000;
    jsStreamInfo *si = NULL;
    if (js_AddStream(&si, js, &cfg, NULL, NULL) != NATS_OK)
        die("cannot create stream TELEM");
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static long stream_msgs(ah_hub *h)
{
    natsConnection *nc = hub_conn(h);
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    long n = -1;
    if (natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
        js_GetStreamInfo(&si, js, "TELEM", NULL, NULL) == NATS_OK)
        n = (long)si->State.Msgs;
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n;
}

/* ---- the vehicle's leaf --------------------------------------------------------------- */

typedef struct leaf {
    ah_proc proc;
    char dir[512];
    int port, http_port;
    bool aerie;
} leaf;

static void leaf_start(leaf *l, int kind, int relay_port)
{
    memset(l, 0, sizeof *l);
    char *dir = ah_mkdtemp("bench-bytes");
    if (!dir)
        die("mkdtemp");
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    free(dir);
    l->port = ah_free_port();
    l->http_port = ah_free_port();
    l->aerie = kind != L_NATS_TCP && kind != L_NATS_WS;
    bool ws = kind != L_NATS_TCP && kind != L_AERIE_TCP;
    char url[128], conf[600], log[600], wait[64] = "";
    if (opt_frame_wait && ws)
        snprintf(wait, sizeof wait, ", ws_frame_wait: \"%s\"", opt_frame_wait);
    snprintf(url, sizeof url, "%s://vehicle:secret@127.0.0.1:%d", ws ? "ws" : "nats-leaf",
             relay_port);
    snprintf(conf, sizeof conf, "%s/leaf.conf", l->dir);
    snprintf(log, sizeof log, "%s/leaf.log", l->dir);
    int rc;
    if (l->aerie)
        rc = ah_write_file(
            conf,
            "server_name: V1\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"
            "leafnodes {\n  remotes = [ { urls: [\"%s\"]%s%s } ]\n"
            "  reconnect: \"100ms\"\n  reconnect_max: \"500ms\"\n}\n"
            "store { dir: \"%s/store\" }\n"
            "uplink { vid: V1, env: bench, subjects: [\"fleet.bench.veh.V1.state.>\"] }\n",
            l->port, l->http_port, url, ws ? ", ws_compression: true" : "", wait, l->dir);
    else
        rc = ah_write_file(conf,
                           "server_name: V1\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"
                           "leafnodes {\n  remotes = [ { urls: [\"%s\"]%s } ]\n}\n",
                           l->port, l->http_port, url, ws ? ", ws_compression: true" : "");
    if (rc != 0)
        die("cannot write the leaf config");
    char *argv_a[] = {(char *)ah_bin("aerie-leaf"), "-c", conf, NULL};
    char *argv_n[] = {"nats-server", "-c", conf, NULL};
    if (ah_spawn(&l->proc, log, l->aerie ? argv_a : argv_n) != 0 ||
        ah_wait_tcp(l->port, 10000) != 0)
        die("the leaf did not start");
}

static void leaf_stop(leaf *l)
{
    ah_stop(&l->proc, SIGTERM, 10000);
    ah_rmrf(l->dir);
}

/* Waits until the hub lists one leaf connection. */
static bool hub_has_leaf(ah_hub *h, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + timeout_ms;
    while (ah_now_ms() < deadline) {
        char *body = ah_http_get(h->http_port[0], "/leafz", NULL);
        json_t *j = body ? json_loads(body, 0, NULL) : NULL;
        free(body);
        long n = j ? (long)json_integer_value(json_object_get(j, "leafnodes")) : 0;
        json_decref(j);
        if (n == 1)
            return true;
        ah_sleep_ms(50);
    }
    return false;
}

/* ---- the mix --------------------------------------------------------------------------- */

/* Message i of the mix: subject and JSON payload (about 230 bytes, numbers moving as a
 * flying drone's do). */
static int mix_msg(int i, char *subj, size_t scap, char *buf, size_t cap)
{
    double t = 1764680000.0 + i / 400.0;
    int k = i % 4;
    static const char *kinds[] = {"pos", "att", "bat", "hb"};
    snprintf(subj, scap, "fleet.bench.veh.V1.state.%s", kinds[k]);
    switch (k) {
    case 0:
        return snprintf(
            buf, cap,
            "{\"vid\":\"V1\",\"gw\":\"aerie-gw/"
            "0.1.0\",\"sysid\":1,\"compid\":1,\"type\":\"GLOBAL_POSITION_INT\",\"t\":%.3f,"
            "\"lat\":%.7f,\"lon\":%.7f,\"alt_m\":%.2f,\"rel_alt_m\":%.2f,"
            "\"vx\":%.2f,\"vy\":%.2f,\"vz\":%.2f,\"hdg\":%.1f,\"fix\":3,"
            "\"sats\":%d,\"seq\":%d}",
            t, 47.3977419 + i * 1e-6, 8.5455938 + i * 7e-7, 488.31 + (i % 97) * 0.07,
            30.12 + (i % 89) * 0.05, 5.1 + (i % 13) * 0.1, -1.2 + (i % 7) * 0.1, 0.02 * (i % 5),
            271.4 + (i % 50) * 0.3, 12 + i % 5, i);
    case 1:
        return snprintf(
            buf, cap,
            "{\"vid\":\"V1\",\"gw\":\"aerie-gw/"
            "0.1.0\",\"sysid\":1,\"compid\":1,\"type\":\"ATTITUDE\",\"t\":%.3f,\"roll\":%.4f,"
            "\"pitch\":%.4f,\"yaw\":%.4f,\"rollspeed\":%.4f,\"pitchspeed\":%.4f,"
            "\"yawspeed\":%.4f,\"seq\":%d}",
            t, 0.0123 * (i % 17), -0.0211 * (i % 13), 1.5 + 0.001 * (i % 300), 0.001 * (i % 11),
            -0.002 * (i % 7), 0.0005 * (i % 23), i);
    case 2:
        return snprintf(buf, cap,
                        "{\"vid\":\"V1\",\"gw\":\"aerie-gw/"
                        "0.1.0\",\"sysid\":1,\"compid\":1,\"type\":\"BATTERY_STATUS\",\"t\":%.3f,"
                        "\"voltage_v\":%.3f,\"current_a\":%.2f,\"remaining_pct\":%d,"
                        "\"temperature_c\":%.1f,\"consumed_mah\":%d,\"cells\":[%.3f,%.3f,"
                        "%.3f,%.3f],\"seq\":%d}",
                        t, 16.8 - i * 0.0001, 12.5 + (i % 31) * 0.1, 98 - i / 400,
                        31.2 + (i % 9) * 0.1, 120 + i / 10, 4.2 - i * 2.5e-5, 4.19 - i * 2.5e-5,
                        4.2 - i * 2.6e-5, 4.18 - i * 2.5e-5, i);
    default:
        return snprintf(buf, cap,
                        "{\"vid\":\"V1\",\"gw\":\"aerie-gw/"
                        "0.1.0\",\"sysid\":1,\"compid\":1,\"type\":\"HEARTBEAT\",\"t\":%.3f,"
                        "\"mode\":\"AUTO.MISSION\","
                        "\"armed\":true,\"system_status\":\"ACTIVE\",\"autopilot\":\"PX4\","
                        "\"mission_item\":%d,\"gps_ok\":true,\"link_quality\":%d,"
                        "\"ekf_ok\":true,\"seq\":%d}",
                        t, 3 + i / 800, 90 + i % 10, i);
    }
}

/* Publishes the mix at opt_rate to the leaf. */
static void publish_mix(leaf *l)
{
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", l->port);
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        die("cannot connect to the leaf");
    int64_t start = ah_now_ms();
    for (int i = 0; i < opt_msgs; i++) {
        int64_t due = start + (int64_t)i * 1000 / opt_rate;
        int64_t now = ah_now_ms();
        if (due > now)
            ah_sleep_ms((int)(due - now));
        char subj[64], buf[512];
        int n = mix_msg(i, subj, sizeof subj, buf, sizeof buf);
        natsConnection_Publish(nc, subj, buf, n);
    }
    natsConnection_FlushTimeout(nc, 10000);
    natsConnection_Destroy(nc);
}

/* ---- one measurement -------------------------------------------------------------------- */

typedef struct result {
    double up, down; /* bytes per message */
    bool all;        /* every message reached the stream */
} result;

static void relay_bytes(ah_relay *r, long long *up, long long *down)
{
    char reply[512];
    if (ah_relay_cmd(r, "stats", reply, sizeof reply) != 0)
        die("relay stats");
    const char *j = strchr(reply, '{');
    json_t *o = j ? json_loads(j, 0, NULL) : NULL;
    *up = o ? (long long)json_integer_value(json_object_get(o, "bytes_up")) : 0;
    *down = o ? (long long)json_integer_value(json_object_get(o, "bytes_down")) : 0;
    json_decref(o);
}

static bool wait_stream(ah_hub *h, long want, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + timeout_ms;
    while (ah_now_ms() < deadline) {
        if (stream_msgs(h) >= want)
            return true;
        ah_sleep_ms(100);
    }
    return false;
}

static result measure(ah_hub *h, int kind)
{
    stream_reset(h);
    bool ws = kind != L_NATS_TCP && kind != L_AERIE_TCP;
    ah_relay r;
    if (ah_relay_start(&r, ws ? h->ws_port[0] : h->leaf_port[0]) != 0)
        die("relay");
    leaf l;
    leaf_start(&l, kind, r.port);
    if (!hub_has_leaf(h, 15000))
        die("the leaf did not connect");
    ah_sleep_ms(1500); /* interest and status settle */
    long long up0, down0, up1, down1;
    if (kind == L_CATCHUP) {
        ah_relay_cmd(&r, "cut", NULL, 0);
        publish_mix(&l);
        relay_bytes(&r, &up0, &down0);
        ah_relay_cmd(&r, "heal", NULL, 0);
    } else {
        relay_bytes(&r, &up0, &down0);
        publish_mix(&l);
    }
    result res = {.all = wait_stream(h, opt_msgs, 60000)};
    ah_sleep_ms(500); /* the last acks and keepalives */
    relay_bytes(&r, &up1, &down1);
    res.up = (double)(up1 - up0) / opt_msgs;
    res.down = (double)(down1 - down0) / opt_msgs;
    leaf_stop(&l);
    ah_relay_stop(&r);
    return res;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            opt_runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--msgs") && i + 1 < argc)
            opt_msgs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            opt_rate = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--frame-wait") && i + 1 < argc)
            opt_frame_wait = argv[++i];
        else
            die("usage: bench_uplink_bytes [--runs N] [--msgs N] [--rate HZ] [--frame-wait D]");
    }
    if (opt_runs < 1 || opt_runs > MAXRUNS || opt_msgs < 1 || opt_rate < 1)
        die("bad arguments");
    long payload = 0;
    for (int i = 0; i < opt_msgs; i++) {
        char subj[64], buf[512];
        payload += mix_msg(i, subj, sizeof subj, buf, sizeof buf);
    }
    ah_hub h;
    if (ah_hub_start(&h, 1, NULL) != 0)
        die("the hub did not start");
    static double up[NLEAF][MAXRUNS], down[NLEAF][MAXRUNS], tot[NLEAF][MAXRUNS];
    bool all[NLEAF];
    for (int k = 0; k < NLEAF; k++)
        all[k] = true;
    for (int run = 0; run < opt_runs; run++) {
        for (int k = 0; k < NLEAF; k++) {
            result r = measure(&h, k);
            up[k][run] = r.up;
            down[k][run] = r.down;
            tot[k][run] = r.up + r.down;
            all[k] = all[k] && r.all;
            fprintf(stderr, "run %d %-42s up %7.1f down %7.1f B/msg%s\n", run + 1, leaf_name[k],
                    r.up, r.down, r.all ? "" : " (messages missing)");
        }
    }
    printf("bench_uplink_bytes: %d msgs (mean payload %ld B) at %d Hz, median of %d runs, "
           "bytes per message through the relay\n",
           opt_msgs, payload / opt_msgs, opt_rate, opt_runs);
    printf("%-42s %8s %8s %8s %8s %s\n", "leaf", "up", "down", "total", "vs tcp", "all arrived");
    double base = median(tot[L_NATS_TCP], opt_runs);
    for (int k = 0; k < NLEAF; k++) {
        double t = median(tot[k], opt_runs);
        printf("%-42s %8.1f %8.1f %8.1f %8.2f %s\n", leaf_name[k], median(up[k], opt_runs),
               median(down[k], opt_runs), t, t / base, all[k] ? "yes" : "NO");
    }
    ah_hub_stop(&h);
    return 0;
}
