/* Gateway units without a broker: options and config files, command building (arguments,
 * errors, PX4 vs ArduPilot altitude frames), telemetry JSON in SI units, endpoint URLs. */
#include "common/err.h"
#include "gw/commands.h"
#include "gw/gw.h"
#include "gw/link.h"
#include "gw/metrics.h"
#include "gw/telemetry.h"
#include "harness/harness.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static json_t *parse(const char *doc, int n)
{
    AH_ASSERT_MSG(n > 0, "document not rendered");
    json_error_t e;
    json_t *j = json_loadb(doc, (size_t)n, 0, &e);
    AH_ASSERT_MSG(j, "bad JSON (%s): %s", e.text, doc);
    return j;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    AH_ASSERT_MSG(json_is_number(v), "%s is not a number", k);
    return json_number_value(v);
}

static void t_config_options(void)
{
    ae_gw_config c;
    ae_gw_config_init(&c);
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_gw_config_check(&c, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "--vid");
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "vid", "VID-001", &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_config_check(&c, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "--mavlink");
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "mavlink", "udp://:14550", &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_config_check(&c, &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "rate", "position=5hz", &err), 0);
    AH_ASSERT_EQ_INT(c.rate_ns[AE_GW_ST_POSITION], 200000000);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "rate", "battery=2s", &err), 0);
    AH_ASSERT_EQ_INT(c.rate_ns[AE_GW_ST_BATTERY], 2000000000LL);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "rate", "all=0", &err), 0);
    for (int i = 0; i < AE_GW_NSTATE; i++)
        AH_ASSERT_EQ_INT(c.rate_ns[i], 0);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "rate", "speed=5", &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "unknown subject");
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "rate", "gps=fast", &err), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "sysid", "0", &err), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "bogus", "1", &err), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "vid", "a.b", &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_config_check(&c, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "letters");
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "signing_key", "drone-fleet golden vectors", &err), 0);
    AH_ASSERT(c.has_key && c.key[0] == 0x9a && c.key[31] == 0x95); /* SHA-256 of the phrase */
    ae_gw_config_free(&c);
}

static void t_config_file(void)
{
    char *dir = ah_mkdtemp("gwconf");
    char path[600];
    snprintf(path, sizeof path, "%s/gw.conf", dir);
    AH_ASSERT_EQ_INT(ah_write_file(path,
                                   "# gateway for one vehicle\n"
                                   "vid: VID-007\n"
                                   "env = dev\n"
                                   "nats: \"nats://127.0.0.1:4333\"\n"
                                   "mavlink: [\"udp://:14550\", \"udpout://127.0.0.1:14551\"]\n"
                                   "heartbeat_timeout: 3s\n"
                                   "raw: true\n"
                                   "rate_limits { position: 2, battery: \"500ms\" }\n"
                                   "commands { timeout: 2s, retries: 5 }\n"),
                     0);
    ae_gw_config c;
    ae_gw_config_init(&c);
    ae_err err = {0};
    AH_ASSERT_MSG(ae_gw_config_load(&c, path, &err) == 0, "%s", err.msg);
    AH_ASSERT_EQ_STR(c.vid, "VID-007");
    AH_ASSERT_EQ_STR(c.env, "dev");
    AH_ASSERT_EQ_STR(c.nats_url, "nats://127.0.0.1:4333");
    AH_ASSERT_EQ_INT(c.nmavlink, 2);
    AH_ASSERT_EQ_STR(c.mavlink[1], "udpout://127.0.0.1:14551");
    AH_ASSERT_EQ_INT(c.heartbeat_timeout_ns, 3000000000LL);
    AH_ASSERT(c.raw);
    AH_ASSERT_EQ_INT(c.rate_ns[AE_GW_ST_POSITION], 500000000);
    AH_ASSERT_EQ_INT(c.rate_ns[AE_GW_ST_BATTERY], 500000000);
    AH_ASSERT_EQ_INT(c.cmd_timeout_ns, 2000000000LL);
    AH_ASSERT_EQ_INT(c.cmd_retries, 5);
    ae_gw_config_free(&c);

    /* A bad value names file and line. */
    AH_ASSERT_EQ_INT(ah_write_file(path, "vid: V1\nsysid: 300\n"), 0);
    ae_gw_config_init(&c);
    AH_ASSERT_EQ_INT(ae_gw_config_load(&c, path, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "gw.conf:2");
    AH_ASSERT_CONTAINS(err.msg, "sysid");
    ae_gw_config_free(&c);
    ah_rmrf(dir);
    free(dir);
}

static ae_gw_vehinfo px4(void)
{
    return (ae_gw_vehinfo){.known = true,
                           .sysid = 1,
                           .compid = 1,
                           .autopilot = 12,
                           .type = 2,
                           .home_known = true,
                           .home_alt_msl_m = 488.0};
}

static void t_cmd_build(void)
{
    ae_gw_vehinfo v = px4();
    ae_mav_command_long cl;
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("arm", "", 0, &v, &cl, &err), 0);
    AH_ASSERT(cl.command == 400 && cl.param1 == 1 && cl.param2 == 0);
    AH_ASSERT(cl.target_system == 1 && cl.target_component == 1);
    const char *force = "{\"force\":true}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("disarm", force, strlen(force), &v, &cl, &err), 0);
    AH_ASSERT(cl.param1 == 0 && cl.param2 == 21196);
    const char *to = "{\"alt_m\":20}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("takeoff", to, strlen(to), &v, &cl, &err), 0);
    AH_ASSERT(cl.command == 22 && cl.param7 == 508.0f && isnan(cl.param4));
    v.autopilot = 3; /* ArduPilot: altitude above home as given */
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("takeoff", to, strlen(to), &v, &cl, &err), 0);
    AH_ASSERT(cl.param7 == 20.0f);
    const char *mode = "{\"mode\":\"rtl\"}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("mode", mode, strlen(mode), &v, &cl, &err), 0);
    AH_ASSERT(cl.command == 176 && cl.param1 == 1 && cl.param2 == 6);
    const char *go = "{\"lat\":47.4,\"lon\":8.55,\"alt_m\":30,\"speed_mps\":5}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("goto", go, strlen(go), &v, &cl, &err), 0);
    AH_ASSERT(cl.command == 192 && cl.param1 == 5 && cl.param5 == 47.4f && cl.param7 == 30);
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("rtl", "{}", 2, &v, &cl, &err), 0);
    AH_ASSERT_EQ_INT(cl.command, 20);
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("land", "", 0, &v, &cl, &err), 0);
    AH_ASSERT(cl.command == 21 && isnan(cl.param5));
}

static void t_cmd_errors(void)
{
    ae_gw_vehinfo v = px4();
    ae_mav_command_long cl;
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("fly", "", 0, &v, &cl, &err), AE_ENOENT);
    AH_ASSERT_CONTAINS(err.msg, "known commands: arm");
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("takeoff", "", 0, &v, &cl, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "alt_m");
    const char *typo = "{\"alt\":10}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("takeoff", typo, strlen(typo), &v, &cl, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "does not take argument \"alt\"");
    const char *neg = "{\"alt_m\":-3}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("takeoff", neg, strlen(neg), &v, &cl, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "outside");
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("arm", "{nope", 5, &v, &cl, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "not JSON");
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("arm", "[1]", 3, &v, &cl, &err), AE_EINVAL);
    const char *f = "{\"force\":\"yes\"}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("arm", f, strlen(f), &v, &cl, &err), AE_EINVAL);
    const char *warp = "{\"mode\":\"WARP\"}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("mode", warp, strlen(warp), &v, &cl, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "POSCTL");
    const char *half = "{\"lat\":47.4}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("land", half, strlen(half), &v, &cl, &err), AE_EINVAL);
    const char *far = "{\"lat\":147.4,\"lon\":8,\"alt_m\":10}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("goto", far, strlen(far), &v, &cl, &err), AE_EINVAL);
    v.home_known = false;
    const char *to = "{\"alt_m\":20}";
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("takeoff", to, strlen(to), &v, &cl, &err), AE_EAGAIN);
    AH_ASSERT_CONTAINS(err.msg, "home");
    v.known = false;
    AH_ASSERT_EQ_INT(ae_gw_cmd_build("arm", "", 0, &v, &cl, &err), AE_EAGAIN);
    AH_ASSERT_CONTAINS(err.msg, "heartbeat");
}

static void t_telemetry_json(void)
{
    ae_gw_stamp ts = {.vid = "VID-001", .sysid = 1, .compid = 1, .rx_ns = 1767225600000000000LL};
    ts.has_boot_ms = true;
    ts.boot_ms = 123456;
    ts.has_utc = true;
    ts.utc_ns = 1767225600123000000LL;
    ae_mav_global_position_int p = {.time_boot_ms = 123456,
                                    .lat = 473977418,
                                    .lon = 85455938,
                                    .alt = 488120,
                                    .relative_alt = 15250,
                                    .vx = 120,
                                    .vy = -35,
                                    .vz = -10,
                                    .hdg = UINT16_MAX};
    char doc[2048];
    json_t *j = parse(doc, ae_gw_json_position(doc, sizeof doc, &ts, &p));
    AH_ASSERT(fabs(num(j, "lat") - 47.3977418) < 1e-9);
    AH_ASSERT(fabs(num(j, "lon") - 8.5455938) < 1e-9);
    AH_ASSERT(fabs(num(j, "alt_msl_m") - 488.12) < 1e-9);
    AH_ASSERT(fabs(num(j, "alt_rel_m") - 15.25) < 1e-9);
    AH_ASSERT(fabs(num(j, "vn_mps") - 1.2) < 1e-9);
    AH_ASSERT(fabs(num(j, "ve_mps") + 0.35) < 1e-9);
    AH_ASSERT(json_is_null(json_object_get(j, "heading_deg")));
    AH_ASSERT_EQ_INT(num(j, "time_boot_ms"), 123456);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "time_utc")),
                     "2026-01-01T00:00:00.123000000Z");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "vid")), "VID-001");
    json_decref(j);

    ae_mav_battery_status b = {.current_consumed = 1234,
                               .energy_consumed = -1,
                               .temperature = INT16_MAX,
                               .current_battery = 1530,
                               .battery_remaining = 78};
    for (int i = 0; i < 10; i++)
        b.voltages[i] = i < 4 ? 4100 : UINT16_MAX;
    ts.has_boot_ms = ts.has_utc = false;
    j = parse(doc, ae_gw_json_battery(doc, sizeof doc, &ts, &b));
    AH_ASSERT(fabs(num(j, "voltage_v") - 16.4) < 1e-9);
    AH_ASSERT_EQ_INT(json_array_size(json_object_get(j, "cell_voltages_v")), 4);
    AH_ASSERT(fabs(num(j, "current_a") - 15.3) < 1e-9);
    AH_ASSERT(fabs(num(j, "consumed_ah") - 1.234) < 1e-9);
    AH_ASSERT(json_is_null(json_object_get(j, "energy_j")));
    AH_ASSERT(json_is_null(json_object_get(j, "temperature_c")));
    AH_ASSERT(json_is_null(json_object_get(j, "time_boot_ms")));
    AH_ASSERT_EQ_INT(num(j, "remaining_pct"), 78);
    json_decref(j);

    ae_mav_statustext t = {.severity = 4};
    snprintf(t.text, sizeof t.text, "say \"hi\"\\\x01");
    j = parse(doc, ae_gw_json_statustext(doc, sizeof doc, &ts, &t));
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "text")), "say \"hi\"\\\x01");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "severity")), "WARNING");
    json_decref(j);

    ae_mav_heartbeat hb = {.custom_mode = 0x04040000,
                           .type = 2,
                           .autopilot = 12,
                           .base_mode = 157,
                           .system_status = 4,
                           .mavlink_version = 3};
    j = parse(doc, ae_gw_json_heartbeat(doc, sizeof doc, &ts, &hb, "AUTO.MISSION"));
    AH_ASSERT(json_is_true(json_object_get(j, "armed")));
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "autopilot")), "PX4");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "system_status")), "ACTIVE");
    json_decref(j);
    /* Too small a buffer is an error, never a truncated document. */
    AH_ASSERT_EQ_INT(ae_gw_json_heartbeat(doc, 40, &ts, &hb, "AUTO.MISSION"), -1);
}

static void t_link_urls(void)
{
    ae_gw_link l;
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, "tcp://1.2.3.4:5760", NULL, NULL, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "udpout://");
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, "udp://127.0.0.1:notaport", NULL, NULL, &err), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, "serial:///dev/ttyS0:12345", NULL, NULL, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "baud");
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, "serial:///nonexistent/tty:57600", NULL, NULL, &err),
                     AE_EIO);
    AH_ASSERT_CONTAINS(err.msg, "/nonexistent/tty");
    /* /dev/null opens but is not a terminal: a clear error, no crash. */
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, "serial:///dev/null", NULL, NULL, &err), AE_EIO);
    AH_ASSERT_CONTAINS(err.msg, "serial");
    int port = ah_free_port();
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%d", port);
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, url, NULL, NULL, &err), 0);
    AH_ASSERT_EQ_INT(l.kind, AE_GW_LINK_UDP_LISTEN);
    AH_ASSERT_EQ_INT(ae_gw_link_send(&l, (const uint8_t *)"x", 1, NULL, 0), AE_EAGAIN);
    ae_gw_link_close(&l);
    snprintf(url, sizeof url, "udpout://127.0.0.1:%d", port);
    AH_ASSERT_EQ_INT(ae_gw_link_open(&l, url, NULL, NULL, &err), 0);
    AH_ASSERT_EQ_INT(ae_gw_link_send(&l, (const uint8_t *)"x", 1, NULL, 0), 0);
    ae_gw_link_close(&l);
}

/* --metrics ADDR: the accepted forms, and a clear refusal of the rest (config and option). */
static void t_metrics_addr(void)
{
    char host[64];
    int port = 0;
    AH_ASSERT_EQ_INT(ae_gw_metrics_parse_addr("127.0.0.1:9102", host, sizeof host, &port), 0);
    AH_ASSERT_EQ_STR(host, "127.0.0.1");
    AH_ASSERT_EQ_INT(port, 9102);
    AH_ASSERT_EQ_INT(ae_gw_metrics_parse_addr("[::1]:8223", host, sizeof host, &port), 0);
    AH_ASSERT_EQ_STR(host, "::1");
    AH_ASSERT_EQ_INT(port, 8223);
    AH_ASSERT_EQ_INT(ae_gw_metrics_parse_addr(":8223", host, sizeof host, &port), 0);
    AH_ASSERT_EQ_STR(host, "0.0.0.0");
    AH_ASSERT_EQ_INT(ae_gw_metrics_parse_addr("vehicle.vpn:80", host, sizeof host, &port), 0);
    AH_ASSERT_EQ_STR(host, "vehicle.vpn");
    const char *bad[] = {"9102",     "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                         "::1:9102", "[::1]9102", "[]:9102",    "a]b:1",       "a b:1",
                         "h:12x",    ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        AH_ASSERT_MSG(ae_gw_metrics_parse_addr(bad[i], host, sizeof host, &port) == AE_EINVAL,
                      "\"%s\" accepted", bad[i]);
    AH_ASSERT_EQ_INT(ae_gw_metrics_parse_addr("127.0.0.1:1", host, 4, &port), AE_EINVAL);
    ae_gw_config c;
    ae_gw_config_init(&c);
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "metrics", "localhost", &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "metrics: \"localhost\" is not HOST:PORT");
    AH_ASSERT_EQ_INT(ae_gw_config_set(&c, "metrics", "127.0.0.1:9102", &err), 0);
    AH_ASSERT_EQ_STR(c.metrics, "127.0.0.1:9102");
    ae_gw_config_free(&c);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"config_options", t_config_options, 10}, {"config_file", t_config_file, 10},
        {"cmd_build", t_cmd_build, 10},           {"cmd_errors", t_cmd_errors, 10},
        {"telemetry_json", t_telemetry_json, 10}, {"link_urls", t_link_urls, 10},
        {"metrics_addr", t_metrics_addr, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
