/* End-to-end: a scripted autopilot (this test, speaking MAVLink over UDP with our codec) or
 * the simulator -> aerie-gw -> a real broker -> a libnats subscriber, checking decoded values,
 * events, command round trips with COMMAND_ACK, retries and timeouts, garbage on the wire,
 * heartbeat loss and a broker restart.
 *
 * The broker is $AERIE_BROKER (default: the harness's nats-server); aerie-leaf accepts the
 * same "-a 127.0.0.1 -p PORT" flags, so the same test proves the leaf compatible. */
#include "common/timeutil.h"
#include "harness/harness.h"
#include "harness/prom_check.h"
#include "mavlink/mavlink.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define VID "VID-001"
#define PFX "fleet.test.veh." VID "."

typedef struct env {
    ah_proc broker, gw, sim;
    int nats_port, mav_port;
    int udp; /* the scripted autopilot's socket */
    struct sockaddr_in gw_addr;
    natsConnection *nc;
    natsSubscription *sub; /* PFX ">" */
    uint8_t seq;
    char dir[512];
} env;

static const char *broker_bin(void)
{
    const char *b = getenv("AERIE_BROKER");
    if (!b || !*b || !strcmp(b, "nats-server"))
        return ah_nats_server();
    if (!strcmp(b, "aerie-leaf"))
        return ah_bin("aerie-leaf");
    return b;
}

static void start_broker(env *e)
{
    char port[16], log[600];
    snprintf(port, sizeof port, "%d", e->nats_port);
    snprintf(log, sizeof log, "%s/broker.log", e->dir);
    char *argv[] = {(char *)broker_bin(), "-a", "127.0.0.1", "-p", port, NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&e->broker, log, argv), 0);
    AH_ASSERT_MSG(ah_wait_tcp(e->nats_port, 10000) == 0, "broker %s did not start", argv[0]);
}

/* Starts broker, subscriber and gateway. extra: more gateway arguments (NULL-terminated). */
static void setup(env *e, const char *const *extra)
{
    memset(e, 0, sizeof *e);
    char *d = ah_mkdtemp("gwe2e");
    snprintf(e->dir, sizeof e->dir, "%s", d);
    free(d);
    e->nats_port = ah_free_port();
    e->mav_port = ah_free_port();
    start_broker(e);

    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", e->nats_port);
    natsOptions *o;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 100);
    AH_ASSERT_EQ_INT(natsConnection_Connect(&e->nc, o), NATS_OK);
    natsOptions_Destroy(o);
    AH_ASSERT_EQ_INT(natsConnection_SubscribeSync(&e->sub, e->nc, PFX ">"), NATS_OK);
    natsConnection_Flush(e->nc);

    char mav[64], log[600];
    snprintf(mav, sizeof mav, "udp://127.0.0.1:%d", e->mav_port);
    snprintf(log, sizeof log, "%s/gw.log", e->dir);
    const char *argv[40] = {
        ah_bin("aerie-gw"), "--mavlink", mav, "--nats", url, "--vid", VID, "--env", "test", "-D"};
    int n = 10;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    AH_ASSERT_EQ_INT(ah_spawn(&e->gw, log, (char *const *)argv), 0);

    e->udp = socket(AF_INET, SOCK_DGRAM, 0);
    AH_ASSERT(e->udp >= 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    AH_ASSERT_EQ_INT(bind(e->udp, (struct sockaddr *)&me, sizeof me), 0);
    e->gw_addr.sin_family = AF_INET;
    e->gw_addr.sin_port = htons((uint16_t)e->mav_port);
    e->gw_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void teardown(env *e)
{
    if (e->gw.pid) {
        int st = ah_stop(&e->gw, SIGTERM, 3000);
        /* A clean exit on SIGTERM: the gateway never crashed during the test. */
        AH_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "aerie-gw did not exit cleanly (status 0x%x); log: %s/gw.log", st, e->dir);
    }
    if (e->sim.pid)
        ah_stop(&e->sim, SIGTERM, 3000);
    natsSubscription_Destroy(e->sub);
    natsConnection_Destroy(e->nc);
    ah_stop(&e->broker, SIGTERM, 3000);
    close(e->udp);
    ah_rmrf(e->dir);
}

static void send_raw(env *e, const void *b, size_t n)
{
    AH_ASSERT(sendto(e->udp, b, n, 0, (struct sockaddr *)&e->gw_addr, sizeof e->gw_addr) ==
              (ssize_t)n);
}

static void send_msg(env *e, uint32_t msgid, const void *msg)
{
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_header h = {.version = 2, .seq = e->seq++, .sysid = 1, .compid = 1};
    int n = ae_mav_encode_msg(frame, sizeof frame, &h, msgid, msg, NULL);
    AH_ASSERT(n > 0);
    send_raw(e, frame, (size_t)n);
}

static ae_mav_heartbeat hb_px4(bool armed, uint32_t custom_mode)
{
    return (ae_mav_heartbeat){.custom_mode = custom_mode,
                              .type = 2,
                              .autopilot = 12,
                              .base_mode = (uint8_t)(0x1D | (armed ? 0x80 : 0)),
                              .system_status = (uint8_t)(armed ? 4 : 3),
                              .mavlink_version = 3};
}

/* Next message whose subject ends with `suffix` within timeout_ms; others are skipped.
 * Returns the parsed JSON (caller decrefs) or NULL. */
static json_t *wait_doc(env *e, const char *suffix, int timeout_ms)
{
    int64_t end = ah_now_ms() + timeout_ms;
    while (ah_now_ms() < end) {
        natsMsg *m = NULL;
        int64_t left = end - ah_now_ms();
        if (natsSubscription_NextMsg(&m, e->sub, left > 0 ? left : 1) != NATS_OK)
            continue;
        const char *s = natsMsg_GetSubject(m);
        size_t sl = strlen(s), fl = strlen(suffix);
        json_t *j = NULL;
        if (sl >= fl && !strcmp(s + sl - fl, suffix))
            j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        natsMsg_Destroy(m);
        if (j)
            return j;
    }
    return NULL;
}

/* Sends heartbeats until the gateway has published state.heartbeat (it starts listening
 * shortly after spawn). */
static void await_gateway(env *e, bool armed, uint32_t mode)
{
    ae_mav_heartbeat hb = hb_px4(armed, mode);
    for (int i = 0; i < 50; i++) {
        send_msg(e, AE_MAV_MSG_HEARTBEAT, &hb);
        json_t *j = wait_doc(e, "state.heartbeat", 200);
        if (j) {
            json_decref(j);
            return;
        }
    }
    ah_fail(__FILE__, __LINE__, "no state.heartbeat from aerie-gw; log in %s/gw.log", e->dir);
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    AH_ASSERT_MSG(json_is_number(v), "\"%s\" missing or not a number", k);
    return json_number_value(v);
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    AH_ASSERT_MSG(s, "\"%s\" missing or not a string", k);
    return s;
}

static const char *const no_limits[] = {"--rate", "all=0", NULL};

/* ---- cases -------------------------------------------------------------------------------- */

static void t_telemetry(void)
{
    env e;
    setup(&e, no_limits);
    await_gateway(&e, true, 0x04040000);

    ae_mav_system_time st = {.time_unix_usec = 1767225600000000ULL, .time_boot_ms = 100000};
    send_msg(&e, AE_MAV_MSG_SYSTEM_TIME, &st);
    ae_mav_global_position_int p = {.time_boot_ms = 100500,
                                    .lat = 473977418,
                                    .lon = 85455938,
                                    .alt = 503120,
                                    .relative_alt = 15000,
                                    .vx = 250,
                                    .vy = -100,
                                    .vz = -50,
                                    .hdg = 9000};
    send_msg(&e, AE_MAV_MSG_GLOBAL_POSITION_INT, &p);
    json_t *j = wait_doc(&e, "state.position", 3000);
    AH_ASSERT_MSG(j, "no state.position");
    AH_ASSERT(fabs(num(j, "lat") - 47.3977418) < 1e-9);
    AH_ASSERT(fabs(num(j, "lon") - 8.5455938) < 1e-9);
    AH_ASSERT(fabs(num(j, "alt_msl_m") - 503.12) < 1e-9);
    AH_ASSERT(fabs(num(j, "alt_rel_m") - 15.0) < 1e-9);
    AH_ASSERT(fabs(num(j, "vn_mps") - 2.5) < 1e-9);
    AH_ASSERT(fabs(num(j, "vd_mps") + 0.5) < 1e-9);
    AH_ASSERT(fabs(num(j, "heading_deg") - 90.0) < 1e-9);
    AH_ASSERT_EQ_INT(num(j, "time_boot_ms"), 100500);
    /* SYSTEM_TIME maps boot time to UTC: 100.5 s boot = 0.5 s after 2026-01-01. */
    AH_ASSERT_EQ_STR(str(j, "time_utc"), "2026-01-01T00:00:00.500000000Z");
    AH_ASSERT_EQ_STR(str(j, "vid"), VID);
    json_decref(j);

    ae_mav_attitude a = {.time_boot_ms = 100600, .roll = 0.1f, .pitch = -0.2f, .yaw = 1.5f};
    send_msg(&e, AE_MAV_MSG_ATTITUDE, &a);
    j = wait_doc(&e, "state.attitude", 3000);
    AH_ASSERT_MSG(j, "no state.attitude");
    AH_ASSERT(fabs(num(j, "roll_rad") - 0.1) < 1e-5 && fabs(num(j, "yaw_rad") - 1.5) < 1e-5);
    json_decref(j);

    ae_mav_battery_status b = {.current_consumed = 800,
                               .energy_consumed = -1,
                               .temperature = 2500,
                               .current_battery = 1200,
                               .battery_remaining = 64};
    for (int i = 0; i < 10; i++)
        b.voltages[i] = i < 4 ? 3900 : UINT16_MAX;
    send_msg(&e, AE_MAV_MSG_BATTERY_STATUS, &b);
    j = wait_doc(&e, "state.battery", 3000);
    AH_ASSERT_MSG(j, "no state.battery");
    AH_ASSERT(fabs(num(j, "voltage_v") - 15.6) < 1e-9);
    AH_ASSERT(fabs(num(j, "current_a") - 12.0) < 1e-9);
    AH_ASSERT_EQ_INT(num(j, "remaining_pct"), 64);
    json_decref(j);

    ae_mav_gps_raw_int g = {.time_usec = 1767225601000000ULL,
                            .lat = -338688000,
                            .lon = 1512093000,
                            .alt = 58000,
                            .eph = 90,
                            .epv = UINT16_MAX,
                            .vel = 320,
                            .cog = 18000,
                            .fix_type = 3,
                            .satellites_visible = 12};
    send_msg(&e, AE_MAV_MSG_GPS_RAW_INT, &g);
    j = wait_doc(&e, "state.gps", 3000);
    AH_ASSERT_MSG(j, "no state.gps");
    AH_ASSERT_EQ_STR(str(j, "fix_type"), "3D_FIX");
    AH_ASSERT(fabs(num(j, "lat") + 33.8688) < 1e-9);
    AH_ASSERT(json_is_null(json_object_get(j, "vdop")));
    AH_ASSERT_EQ_STR(str(j, "time_utc"), "2026-01-01T00:00:01.000000000Z");
    json_decref(j);

    ae_mav_home_position h = {.latitude = 473977418, .longitude = 85455938, .altitude = 488000};
    send_msg(&e, AE_MAV_MSG_HOME_POSITION, &h);
    j = wait_doc(&e, "state.home", 3000);
    AH_ASSERT_MSG(j, "no state.home");
    AH_ASSERT(fabs(num(j, "alt_msl_m") - 488.0) < 1e-9);
    json_decref(j);

    ae_mav_extended_sys_state x = {.landed_state = 2};
    send_msg(&e, AE_MAV_MSG_EXTENDED_SYS_STATE, &x);
    ae_mav_sys_status s = {
        .load = 500, .voltage_battery = 15600, .current_battery = -1, .battery_remaining = 64};
    send_msg(&e, AE_MAV_MSG_SYS_STATUS, &s);
    j = wait_doc(&e, "state.status", 3000);
    AH_ASSERT_MSG(j, "no state.status");
    AH_ASSERT_EQ_STR(str(j, "autopilot_link"), "ok");
    AH_ASSERT_EQ_STR(str(j, "mode"), "AUTO.MISSION");
    AH_ASSERT_EQ_STR(str(j, "landed_state"), "IN_AIR");
    AH_ASSERT(json_is_true(json_object_get(j, "armed")));
    AH_ASSERT(fabs(num(j, "load") - 0.5) < 1e-9);
    json_decref(j);
    teardown(&e);
}

static void t_events(void)
{
    env e;
    setup(&e, no_limits);
    await_gateway(&e, false, 3u << 16); /* disarmed, POSCTL */
    ae_mav_heartbeat hb = hb_px4(true, 3u << 16);
    send_msg(&e, AE_MAV_MSG_HEARTBEAT, &hb);
    json_t *j = wait_doc(&e, "event.armed", 3000);
    AH_ASSERT_MSG(j, "no event.armed");
    AH_ASSERT(json_is_true(json_object_get(j, "armed")));
    json_decref(j);
    hb = hb_px4(true, 0x05040000); /* AUTO.RTL */
    send_msg(&e, AE_MAV_MSG_HEARTBEAT, &hb);
    j = wait_doc(&e, "event.mode", 3000);
    AH_ASSERT_MSG(j, "no event.mode");
    AH_ASSERT_EQ_STR(str(j, "mode"), "AUTO.RTL");
    AH_ASSERT_EQ_STR(str(j, "previous_mode"), "POSCTL");
    json_decref(j);
    hb = hb_px4(false, 0x05040000);
    send_msg(&e, AE_MAV_MSG_HEARTBEAT, &hb);
    j = wait_doc(&e, "event.disarmed", 3000);
    AH_ASSERT_MSG(j, "no event.disarmed");
    json_decref(j);
    ae_mav_statustext t = {.severity = 4};
    snprintf(t.text, sizeof t.text, "Low battery: 25%% remaining");
    send_msg(&e, AE_MAV_MSG_STATUSTEXT, &t);
    j = wait_doc(&e, "event.statustext", 3000);
    AH_ASSERT_MSG(j, "no event.statustext");
    AH_ASSERT_EQ_STR(str(j, "text"), "Low battery: 25% remaining");
    AH_ASSERT_EQ_STR(str(j, "severity"), "WARNING");
    json_decref(j);
    teardown(&e);
}

/* Waits for a COMMAND_LONG from the gateway on the autopilot socket. */
static bool recv_command(env *e, ae_mav_command_long *out, int timeout_ms)
{
    ae_mav_parser p;
    bool got = false;
    ae_mav_parser_init(&p, NULL, NULL);
    int64_t end = ah_now_ms() + timeout_ms;
    while (!got && ah_now_ms() < end) {
        struct pollfd pf = {.fd = e->udp, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        uint8_t buf[2048];
        ssize_t n = recv(e->udp, buf, sizeof buf, 0);
        if (n <= 0)
            continue;
        /* A datagram holds one frame from the gateway: count it through the parser (CRC
         * checked), then decode the payload in place. */
        size_t hdr = buf[0] == AE_MAV_STX_V2 ? 10 : 6;
        uint32_t msgid = hdr == 10 ? (uint32_t)(buf[7] | buf[8] << 8 | buf[9] << 16) : buf[5];
        size_t before = p.stats.frames;
        ae_mav_parse(&p, buf, (size_t)n);
        if (p.stats.frames == before + 1 && msgid == AE_MAV_MSG_COMMAND_LONG) {
            ae_mav_unpack(ae_mav_msginfo_get(msgid), buf + hdr, buf[1], out);
            AH_ASSERT_EQ_INT(buf[hdr == 10 ? 5 : 3], 255); /* from the gateway's sysid */
            got = true;
        }
    }
    return got;
}

static void send_ack(env *e, uint16_t cmd, uint8_t result)
{
    ae_mav_command_ack ack = {
        .command = cmd, .result = result, .target_system = 255, .target_component = 190};
    send_msg(e, AE_MAV_MSG_COMMAND_ACK, &ack);
}

/* Sends a request with its own reply inbox; returns the subscription for the reply. */
static natsSubscription *request(env *e, const char *cmd, const char *body)
{
    char inbox[128], subj[128];
    snprintf(inbox, sizeof inbox, "_INBOX.test.%s.%lld", cmd, (long long)ah_now_ms());
    snprintf(subj, sizeof subj, PFX "cmd.%s", cmd);
    natsSubscription *s = NULL;
    AH_ASSERT_EQ_INT(natsConnection_SubscribeSync(&s, e->nc, inbox), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_PublishRequestString(e->nc, subj, inbox, body), NATS_OK);
    natsConnection_Flush(e->nc);
    return s;
}

static json_t *reply_of(natsSubscription *s, int timeout_ms)
{
    natsMsg *m = NULL;
    json_t *j = NULL;
    if (natsSubscription_NextMsg(&m, s, timeout_ms) == NATS_OK) {
        j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(s);
    AH_ASSERT_MSG(j, "no JSON reply within %d ms", timeout_ms);
    return j;
}

static void t_command_roundtrip(void)
{
    env e;
    const char *const args[] = {"--rate", "all=0", "--cmd-timeout", "300ms", "--cmd-retries",
                                "2",      NULL};
    setup(&e, args);
    await_gateway(&e, false, 3u << 16);

    /* arm: accepted on the first attempt */
    natsSubscription *s = request(&e, "arm", "{}");
    ae_mav_command_long cl;
    AH_ASSERT_MSG(recv_command(&e, &cl, 3000), "no COMMAND_LONG reached the autopilot");
    AH_ASSERT_EQ_INT(cl.command, 400);
    AH_ASSERT(cl.param1 == 1.0f && cl.target_system == 1 && cl.target_component == 1);
    AH_ASSERT_EQ_INT(cl.confirmation, 0);
    send_ack(&e, 400, 0);
    json_t *j = reply_of(s, 3000);
    AH_ASSERT(json_is_true(json_object_get(j, "ok")));
    AH_ASSERT_EQ_STR(str(j, "result"), "accepted");
    AH_ASSERT_EQ_INT(num(j, "attempts"), 1);
    json_decref(j);

    /* rtl: first attempt ignored, the retransmission (confirmation 1) denied */
    s = request(&e, "rtl", "");
    AH_ASSERT(recv_command(&e, &cl, 3000));
    AH_ASSERT_EQ_INT(cl.command, 20);
    AH_ASSERT_EQ_INT(cl.confirmation, 0);
    AH_ASSERT(recv_command(&e, &cl, 3000));
    AH_ASSERT_EQ_INT(cl.confirmation, 1);
    send_ack(&e, 20, 2);
    j = reply_of(s, 3000);
    AH_ASSERT(json_is_false(json_object_get(j, "ok")));
    AH_ASSERT_EQ_STR(str(j, "result"), "denied");
    AH_ASSERT_EQ_INT(num(j, "attempts"), 2);
    json_decref(j);

    /* land: never answered -> timeout after 1 + 2 attempts */
    s = request(&e, "land", "{}");
    j = reply_of(s, 5000);
    AH_ASSERT_EQ_STR(str(j, "result"), "timeout");
    AH_ASSERT_EQ_INT(num(j, "attempts"), 3);
    json_decref(j);

    /* errors answered by the gateway itself */
    s = request(&e, "selfdestruct", "{}");
    j = reply_of(s, 3000);
    AH_ASSERT_EQ_STR(str(j, "result"), "unknown_command");
    AH_ASSERT_CONTAINS(str(j, "error"), "known commands");
    json_decref(j);
    s = request(&e, "takeoff", "{\"alt\": 5}");
    j = reply_of(s, 3000);
    AH_ASSERT_EQ_STR(str(j, "result"), "bad_arguments");
    AH_ASSERT_CONTAINS(str(j, "error"), "alt_m");
    json_decref(j);
    s = request(&e, "mode", "not json");
    j = reply_of(s, 3000);
    AH_ASSERT_EQ_STR(str(j, "result"), "bad_arguments");
    json_decref(j);
    teardown(&e);
}

static void t_garbage_never_crashes(void)
{
    env e;
    setup(&e, no_limits);
    await_gateway(&e, true, 0x04040000);
    srand(1234);
    uint8_t junk[1500];
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(rand() % (int)sizeof junk) + 1;
        for (size_t i = 0; i < n; i++) {
            int r = rand() % 6;
            junk[i] = r == 0 ? 0xFD : r == 1 ? 0xFE : (uint8_t)rand();
        }
        send_raw(&e, junk, n);
    }
    /* truncated frames: every prefix of a valid frame */
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_global_position_int p = {.time_boot_ms = 1, .lat = 10, .lon = 20};
    ae_mav_header h = {.version = 2, .seq = 0, .sysid = 1, .compid = 1};
    int fl = ae_mav_encode_msg(frame, sizeof frame, &h, AE_MAV_MSG_GLOBAL_POSITION_INT, &p, NULL);
    for (int k = 1; k < fl; k++)
        send_raw(&e, frame, (size_t)k);
    send_raw(&e, "", 0);
    /* The parser may be holding a fake frame's head; valid frames behind it still come out. */
    p.lat = 473977418;
    bool seen = false;
    for (int i = 0; i < 40 && !seen; i++) {
        send_msg(&e, AE_MAV_MSG_GLOBAL_POSITION_INT, &p);
        json_t *j = wait_doc(&e, "state.position", 100);
        if (j && fabs(num(j, "lat") - 47.3977418) < 1e-9)
            seen = true;
        json_decref(j);
    }
    AH_ASSERT_MSG(seen, "no valid position after the garbage");
    AH_ASSERT(ah_alive(&e.gw));
    teardown(&e);
}

static void t_heartbeat_loss(void)
{
    env e;
    const char *const args[] = {"--rate", "all=0", "--heartbeat-timeout", "500ms", NULL};
    setup(&e, args);
    await_gateway(&e, true, 0x04040000);
    int64_t t0 = ah_now_ms();
    json_t *j = wait_doc(&e, "event.link", 4000);
    /* the first heartbeat reported "ok"; skip it if it is still queued */
    if (j && !strcmp(str(j, "state"), "ok")) {
        json_decref(j);
        j = wait_doc(&e, "event.link", 4000);
    }
    AH_ASSERT_MSG(j, "no event.link after the autopilot went quiet");
    AH_ASSERT_EQ_STR(str(j, "state"), "lost");
    AH_ASSERT(num(j, "silent_s") >= 0.5);
    AH_ASSERT(ah_now_ms() - t0 < 3000);
    json_decref(j);
    j = wait_doc(&e, "state.status", 2000);
    AH_ASSERT_MSG(j, "no state.status after link loss");
    AH_ASSERT_EQ_STR(str(j, "autopilot_link"), "lost");
    json_decref(j);
    ae_mav_heartbeat hb = hb_px4(true, 0x04040000);
    send_msg(&e, AE_MAV_MSG_HEARTBEAT, &hb);
    j = wait_doc(&e, "event.link", 3000);
    AH_ASSERT_MSG(j, "no event.link when the autopilot came back");
    AH_ASSERT_EQ_STR(str(j, "state"), "ok");
    json_decref(j);
    teardown(&e);
}

static void t_broker_restart(void)
{
    env e;
    setup(&e, no_limits);
    await_gateway(&e, true, 0x04040000);
    AH_ASSERT(ah_stop(&e.broker, SIGTERM, 3000) >= 0);
    ae_mav_global_position_int p = {.time_boot_ms = 5, .lat = 1, .lon = 2};
    for (int i = 0; i < 20; i++) { /* telemetry while the broker is away is buffered or lost */
        send_msg(&e, AE_MAV_MSG_GLOBAL_POSITION_INT, &p);
        ah_sleep_ms(25);
    }
    AH_ASSERT(ah_alive(&e.gw));
    start_broker(&e);
    /* Both our subscriber and the gateway reconnect by themselves. */
    bool seen = false;
    p.lat = 123456789;
    for (int i = 0; i < 100 && !seen; i++) {
        send_msg(&e, AE_MAV_MSG_GLOBAL_POSITION_INT, &p);
        json_t *j = wait_doc(&e, "state.position", 100);
        if (j && fabs(num(j, "lat") - 12.3456789) < 1e-9)
            seen = true;
        json_decref(j);
    }
    AH_ASSERT_MSG(seen, "no telemetry after the broker restarted");
    teardown(&e);
}

static void t_simulator_flight(void)
{
    env e;
    setup(&e, no_limits);
    char mav[64], log[600];
    snprintf(mav, sizeof mav, "udpout://127.0.0.1:%d", e.mav_port);
    snprintf(log, sizeof log, "%s/sim.log", e.dir);
    char *argv[] = {(char *)ah_bin("gw_sim"), "--mavlink", mav, "--autopilot", "px4", "--home",
                    "47.397742,8.545594,488", NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&e.sim, log, argv), 0);
    json_t *j = wait_doc(&e, "state.home", 5000);
    AH_ASSERT_MSG(j, "no state.home from the simulator");
    AH_ASSERT(fabs(num(j, "alt_msl_m") - 488.0) < 1e-6);
    json_decref(j);

    natsSubscription *s = request(&e, "arm", "");
    j = reply_of(s, 5000);
    AH_ASSERT_EQ_STR(str(j, "result"), "accepted");
    json_decref(j);
    s = request(&e, "takeoff", "{\"alt_m\": 4}");
    j = reply_of(s, 5000);
    AH_ASSERT_EQ_STR(str(j, "result"), "accepted");
    json_decref(j);
    double alt = 0;
    for (int64_t end = ah_now_ms() + 6000; ah_now_ms() < end && alt < 3.5;) {
        j = wait_doc(&e, "state.position", 1000);
        if (j)
            alt = num(j, "alt_rel_m");
        json_decref(j);
    }
    AH_ASSERT_MSG(alt >= 3.5, "the simulator did not climb (alt %.2f m)", alt);
    /* disarm in the air is refused without force */
    s = request(&e, "disarm", "");
    j = reply_of(s, 5000);
    AH_ASSERT_EQ_STR(str(j, "result"), "denied");
    json_decref(j);
    s = request(&e, "mode", "{\"mode\":\"LAND\"}");
    j = reply_of(s, 5000);
    AH_ASSERT_EQ_STR(str(j, "result"), "accepted");
    json_decref(j);
    teardown(&e);
}

static bool is_zero(double v)
{
    return v == 0;
}

/* The series of a MAVLink link counter, labelled with the link's URL. */
static double link_value(const char *text, const char *name, int mav_port)
{
    char series[160];
    snprintf(series, sizeof series, "%s{link=\"udp://127.0.0.1:%d\"}", name, mav_port);
    return ah_prom_value(text, series);
}

/* --metrics: what an operator alerts on follows what happened on the wire, and every scrape
 * is one promtool accepts. */
static void t_metrics(void)
{
    env e;
    int mport = ah_free_port();
    char maddr[64];
    snprintf(maddr, sizeof maddr, "127.0.0.1:%d", mport);
    const char *const args[] = {
        "--rate", "all=0",     "--cmd-timeout", "1s", "--cmd-retries", "1", "--heartbeat-timeout",
        "3s",     "--metrics", maddr,           NULL};
    setup(&e, args);
    AH_ASSERT_MSG(ah_wait_tcp(mport, 5000) == 0, "no metrics listener; log in %s/gw.log", e.dir);
    char *t = ah_prom_scrape(mport);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_autopilot_link_up") == 0);
    AH_ASSERT(isnan(ah_prom_value(t, "aerie_gw_autopilot_heartbeat_age_seconds")));
    AH_ASSERT(ah_prom_value(t, "aerie_gw_info{vid=\"" VID "\",env=\"test\",version=\"" AERIE_VERSION
                               "\"}") == 1);
    AH_ASSERT(link_value(t, "aerie_gw_mavlink_link_open", e.mav_port) == 1);
    free(t);

    await_gateway(&e, false, 3u << 16);
    /* accepted; denied by the autopilot; never answered (1 resend, then timeout); unknown */
    natsSubscription *s = request(&e, "arm", "{}");
    ae_mav_command_long cl;
    AH_ASSERT(recv_command(&e, &cl, 3000));
    send_ack(&e, cl.command, 0);
    json_decref(reply_of(s, 3000));
    s = request(&e, "rtl", "");
    AH_ASSERT(recv_command(&e, &cl, 3000));
    send_ack(&e, cl.command, 2);
    json_decref(reply_of(s, 3000));
    s = request(&e, "land", "{}");
    json_t *j = reply_of(s, 6000);
    AH_ASSERT_EQ_STR(str(j, "result"), "timeout");
    json_decref(j);
    s = request(&e, "selfdestruct", "{}");
    json_decref(reply_of(s, 3000));
    /* a heartbeat with its checksum broken */
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_heartbeat hb = hb_px4(false, 3u << 16);
    ae_mav_header h = {.version = 2, .seq = e.seq++, .sysid = 1, .compid = 1};
    int n = ae_mav_encode_msg(frame, sizeof frame, &h, AE_MAV_MSG_HEARTBEAT, &hb, NULL);
    AH_ASSERT(n > 2);
    frame[n - 1] ^= 0x5a;
    send_raw(&e, frame, (size_t)n);
    ah_sleep_ms(300);

    t = ah_prom_scrape(mport);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_nats_connected") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_published_messages_total") > 0);
    AH_ASSERT(link_value(t, "aerie_gw_mavlink_frames_total", e.mav_port) >= 1);
    AH_ASSERT(link_value(t, "aerie_gw_mavlink_crc_errors_total", e.mav_port) == 1);
    AH_ASSERT(link_value(t, "aerie_gw_mavlink_sent_frames_total", e.mav_port) >= 4);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_sent_total") == 3);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_acked_total") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_command_resends_total") >= 1);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_failed_total{reason=\"denied\"}") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_failed_total{reason=\"timeout\"}") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_failed_total{reason=\"rejected\"}") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_failed_total{reason=\"expired\"}") == 0);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_commands_inflight") == 0);
    double age = ah_prom_value(t, "aerie_gw_autopilot_heartbeat_age_seconds");
    AH_ASSERT_MSG(age >= 0 && age < 30, "heartbeat age %f", age);
    free(t);

    /* silence: the link goes down after heartbeat_timeout, and the age keeps growing */
    double up = ah_prom_wait(mport, "aerie_gw_autopilot_link_up", is_zero, 10000);
    AH_ASSERT_MSG(up == 0, "aerie_gw_autopilot_link_up still %f after the autopilot fell silent",
                  up);
    t = ah_prom_scrape(mport);
    AH_ASSERT(ah_prom_value(t, "aerie_gw_autopilot_heartbeat_age_seconds") >= 3);
    free(t);
    teardown(&e);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static const ah_case cases[] = {
        {"telemetry", t_telemetry, 30},
        {"events", t_events, 30},
        {"command_roundtrip", t_command_roundtrip, 40},
        {"garbage_never_crashes", t_garbage_never_crashes, 40},
        {"heartbeat_loss", t_heartbeat_loss, 30},
        {"broker_restart", t_broker_restart, 40},
        {"simulator_flight", t_simulator_flight, 40},
        {"metrics", t_metrics, 60},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
