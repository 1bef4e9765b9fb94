/* Prometheus /metrics of aerie-leaf and of `aerie dashboard`, against real processes: a leaf
 * alone, a leaf with a nats-server hub behind an aerie-relay whose link is cut and healed, and
 * a dashboard reading a hub that stops. Every scrape goes through promtool (prom_check.h),
 * and the cases check that the figures follow what the test did: messages sent, records
 * stored during an outage and drained after it, vehicles' reports. aerie-gw's /metrics is
 * tested with the gateway (tests/gw/test_gw_e2e.c, case metrics). */
#include "common/prom.h"
#include "harness/harness.h"
#include "harness/prom_check.h"
#include "sf_util.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool is_zero(double v)
{
    return v == 0;
}

static bool is_one(double v)
{
    return v == 1;
}

/* ---- the writer ------------------------------------------------------------------------ */

static void t_exposition_writer(void)
{
    ae_prom p;
    ae_prom_init(&p);
    ae_prom_family(&p, "aerie_test_things", "gauge", "Things, with a \\ and a\nnewline.");
    const char *labels[] = {"vid", "VID\"1\\\n", "hub", "h", NULL};
    ae_prom_f64(&p, "aerie_test_things", labels, 0.1);
    ae_prom_f64(&p, "aerie_test_things", NULL, NAN);
    ae_prom_f64(&p, "aerie_test_things", NULL, -INFINITY);
    ae_prom_family(&p, "aerie_test_events_total", "counter", "Events.");
    ae_prom_u64(&p, "aerie_test_events_total", NULL, UINT64_MAX);
    ae_prom_family(&p, "aerie_test_wait_seconds", "histogram", "Waits.");
    const double bounds[] = {0.001, 0.5};
    const uint64_t counts[] = {2, 0, 3};
    ae_prom_histogram(&p, "aerie_test_wait_seconds", NULL, bounds, counts, 2, 7.25);
    size_t len = 0;
    char *text = ae_prom_take(&p, &len);
    AH_ASSERT(text && len == strlen(text));
    const char *want = "# HELP aerie_test_things Things, with a \\\\ and a\\nnewline.\n"
                       "# TYPE aerie_test_things gauge\n"
                       "aerie_test_things{vid=\"VID\\\"1\\\\\\n\",hub=\"h\"} 0.1\n"
                       "aerie_test_things NaN\n"
                       "aerie_test_things -Inf\n"
                       "# HELP aerie_test_events_total Events.\n"
                       "# TYPE aerie_test_events_total counter\n"
                       "aerie_test_events_total 18446744073709551615\n"
                       "# HELP aerie_test_wait_seconds Waits.\n"
                       "# TYPE aerie_test_wait_seconds histogram\n"
                       "aerie_test_wait_seconds_bucket{le=\"0.001\"} 2\n"
                       "aerie_test_wait_seconds_bucket{le=\"0.5\"} 2\n"
                       "aerie_test_wait_seconds_bucket{le=\"+Inf\"} 5\n"
                       "aerie_test_wait_seconds_sum 7.25\n"
                       "aerie_test_wait_seconds_count 5\n";
    AH_ASSERT_EQ_STR(text, want);
    char why[4096];
    AH_ASSERT_MSG(ah_promtool_check(text, why, sizeof why) == 0, "%s", why);
    /* and promtool is not a rubber stamp: a counter without _total is refused */
    AH_ASSERT(ah_promtool_check("# HELP x_count A.\n# TYPE x_count counter\nx_count 1\n", why,
                                sizeof why) != 0);
    free(text);
    ae_prom_free(&p);
}

/* ---- a leaf on its own ---------------------------------------------------------------- */

static void t_leaf_standalone(void)
{
    int port = ah_free_port(), http = ah_free_port();
    char ps[16], hs[16], *dir = ah_mkdtemp("metricsleaf"), log[600];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(hs, sizeof hs, "%d", http);
    snprintf(log, sizeof log, "%s/leaf.log", dir);
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-a", "127.0.0.1", "-p", ps, "-m", hs, NULL};
    ah_proc leaf;
    AH_ASSERT_EQ_INT(ah_spawn(&leaf, log, argv), 0);
    AH_ASSERT_MSG(ah_wait_tcp(http, 5000) == 0, "aerie-leaf did not start");
    char *t = ah_prom_scrape(http);
    AH_ASSERT(ah_prom_value(t, "aerie_uplink_configured") == 0);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_connections") == 0);
    AH_ASSERT(isnan(ah_prom_value(t, "aerie_uplink_up")));
    AH_ASSERT(isnan(ah_prom_value(t, "aerie_store_backlog_messages")));
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_resident_memory_bytes") > 0);
    free(t);

    /* a client that subscribes and publishes three 5-byte messages to itself */
    int fd = ah_connect(port);
    AH_ASSERT(fd >= 0);
    char buf[4096];
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    ah_send(fd, "CONNECT {\"verbose\":false}\r\nSUB m.x 1\r\n"
                "PUB m.x 5\r\nhello\r\nPUB m.x 5\r\nhello\r\nPUB m.x 5\r\nhello\r\nPING\r\n");
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "PONG", 3000) > 0);
    t = ah_prom_scrape(http);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_connections") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_connections_total") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_subscriptions") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_received_messages_total") == 3);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_received_bytes_total") == 15);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_sent_messages_total") == 3);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_slow_consumers_total") == 0);
    free(t);
    close(fd);
    AH_ASSERT_EQ_INT(ah_prom_wait(http, "aerie_leaf_connections", is_zero, 5000), 0);

    int st = ah_stop(&leaf, SIGTERM, 5000);
    AH_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "aerie-leaf exit 0x%x", st);
    ah_rmrf(dir);
    free(dir);
}

/* ---- a leaf with a hub, through an outage --------------------------------------------- */

static double scrape_value(int port, const char *series)
{
    char *t = ah_prom_scrape(port);
    double v = ah_prom_value(t, series);
    free(t);
    return v;
}

static void t_leaf_uplink_outage(void)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_stream_create(&n.hub, "TWIN_STATE", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "VID-M1", n.urls, NULL, "max_bytes: 4194304", NULL, NULL);
    sf_leaf_start(&l);
    SF_ASSERT(sf_wait_state(&l, "connected", 15000), "the leaf did not connect to the hub");

    sf_pub p;
    sf_pub_open(&p, l.port, l.vid, 2, 100, 1000);
    for (int i = 0; i < 20; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publish %d failed", i);
    SF_ASSERT(sf_pub_flush(&p, 5000), "publishes not flushed");
    SF_ASSERT(sf_wait_drained(&l, 15000), "the backlog did not drain");

    char *t = ah_prom_scrape(l.http_port);
    SF_ASSERT(ah_prom_value(t, "aerie_uplink_configured") == 1, "configured");
    SF_ASSERT(ah_prom_value(t, "aerie_uplink_up") == 1, "uplink_up");
    SF_ASSERT(ah_prom_value(t, "aerie_uplink_state{state=\"connected\"}") == 1, "state");
    SF_ASSERT(ah_prom_value(t, "aerie_uplink_state{state=\"disconnected\"}") == 0, "state");
    SF_ASSERT(ah_prom_value(t, "aerie_uplink_rtt_seconds") >= 0, "rtt");
    SF_ASSERT(ah_prom_value(t, "aerie_uplink_connects_total") == 1, "connects");
    SF_ASSERT(ah_prom_value(t, "aerie_forward_captured_messages_total") == 20, "captured");
    SF_ASSERT(ah_prom_value(t, "aerie_forward_acked_messages_total") == 20, "acked");
    SF_ASSERT(ah_prom_value(t, "aerie_forward_forwarded_messages_total") >= 20, "forwarded");
    SF_ASSERT(ah_prom_value(t, "aerie_store_appended_messages_total") == 20, "appended");
    SF_ASSERT(ah_prom_value(t, "aerie_store_backlog_messages") == 0, "backlog");
    SF_ASSERT(ah_prom_value(t, "aerie_store_backlog_oldest_age_seconds") == 0, "oldest");
    SF_ASSERT(ah_prom_value(t, "aerie_store_max_bytes") == 4194304, "max_bytes");
    SF_ASSERT(ah_prom_value(t, "aerie_store_bytes") > 20 * 100, "bytes");
    SF_ASSERT(ah_prom_value(t, "aerie_store_failed") == 0, "failed");
    /* sync: always: every flushed PING waited for a sync */
    double syncs = ah_prom_value(t, "aerie_store_sync_duration_seconds_count");
    SF_ASSERT(syncs >= 1 &&
                  ah_prom_value(t, "aerie_store_sync_duration_seconds_bucket{le=\"+Inf\"}") ==
                      syncs,
              "sync histogram: count %f", syncs);
    free(t);

    /* the link is cut: the leaf says so, and what is published waits in the log */
    sf_net_cmd(&n, "cut");
    SF_ASSERT(ah_prom_wait(l.http_port, "aerie_uplink_up", is_zero, 10000) == 0,
              "aerie_uplink_up still 1 after the cut");
    for (int i = 0; i < 10; i++)
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publish during the outage failed");
    SF_ASSERT(sf_pub_flush(&p, 5000), "publishes during the outage not flushed");
    ah_sleep_ms(1100);
    t = ah_prom_scrape(l.http_port);
    SF_ASSERT(ah_prom_value(t, "aerie_store_backlog_messages") == 10, "backlog during the outage");
    SF_ASSERT(ah_prom_value(t, "aerie_store_backlog_oldest_age_seconds") >= 1, "oldest age");
    SF_ASSERT(ah_prom_value(t, "aerie_forward_captured_messages_total") == 30, "captured");
    SF_ASSERT(ah_prom_value(t, "aerie_forward_acked_messages_total") == 20, "acked");
    SF_ASSERT(isnan(ah_prom_value(t, "aerie_uplink_rtt_seconds")), "no RTT while down");
    free(t);

    /* healed: the backlog drains to 0 and the link counts a second connection */
    sf_net_cmd(&n, "heal");
    SF_ASSERT(ah_prom_wait(l.http_port, "aerie_store_backlog_messages", is_zero, 20000) == 0,
              "the backlog did not drain after the heal");
    SF_ASSERT(scrape_value(l.http_port, "aerie_forward_acked_messages_total") == 30, "acked");
    SF_ASSERT(ah_prom_wait(l.http_port, "aerie_uplink_up", is_one, 10000) == 1, "up again");
    SF_ASSERT(scrape_value(l.http_port, "aerie_uplink_connects_total") >= 2, "connects");

    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
    nats_Close();
}

/* ---- the dashboard: fleet metrics ---------------------------------------------------- */

/* Stores one message in the hub's JetStream as a vehicle's leaf would (waits for the ack). */
static void js_store(natsConnection *nc, const char *subject, const char *json)
{
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, nc, subject, json, 5000);
    AH_ASSERT_MSG(s == NATS_OK, "publish %s: %s", subject, natsStatus_GetText(s));
    AH_ASSERT_CONTAINS(natsMsg_GetData(reply), "\"seq\"");
    natsMsg_Destroy(reply);
}

static void t_dashboard_fleet(void)
{
    ah_hub h;
    AH_ASSERT_EQ_INT(ah_hub_start(&h, 1, NULL), 0);
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", h.client_port[0]);
    char *init[] = {
        (char *)ah_bin("aerie"), "hub", "init", "--server", url, "--replicas", "1", NULL};
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/init", h.dir);
    ah_output o = ah_run_capture(prefix, init, 30000);
    AH_ASSERT_MSG(o.code == 0, "aerie hub init: %s%s", o.out, o.err);
    ah_output_free(&o);

    natsConnection *nc = NULL;
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&nc, url), NATS_OK);
    js_store(nc, "fleet.prod.veh.VID-D1.link",
             "{\"vid\":\"VID-D1\",\"online\":true,\"state\":\"connected\",\"rtt_ms\":12.5,"
             "\"reconnects\":3,\"backlog_msgs\":7,\"backlog_bytes\":4096,"
             "\"backlog_oldest_s\":2.5,\"discarded_msgs\":1}");
    js_store(nc, "fleet.prod.veh.VID-D1.state.battery",
             "{\"vid\":\"VID-D1\",\"remaining_pct\":42}");
    js_store(nc, "fleet.prod.veh.VID-D2.link",
             "{\"vid\":\"VID-D2\",\"online\":false,\"state\":\"disconnected\",\"reconnects\":1,"
             "\"backlog_msgs\":250}");
    natsConnection_Destroy(nc);
    nats_Close();

    int port = ah_free_port();
    char ps[16], log[600];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(log, sizeof log, "%s/dashboard.log", h.dir);
    char *dash[] = {(char *)ah_bin("aerie"),
                    "dashboard",
                    "--server",
                    url,
                    "--port",
                    ps,
                    "--listen",
                    "127.0.0.1",
                    NULL};
    ah_proc d;
    AH_ASSERT_EQ_INT(ah_spawn(&d, log, dash), 0);
    AH_ASSERT_MSG(ah_wait_tcp(port, 10000) == 0, "the dashboard did not start");

    char *t = ah_prom_scrape(port);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_up") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicles") == 2);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicles_online") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_online{vid=\"VID-D1\"}") == 1);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_online{vid=\"VID-D2\"}") == 0);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_battery_ratio{vid=\"VID-D1\"}") == 0.42);
    AH_ASSERT(isnan(ah_prom_value(t, "aerie_fleet_vehicle_battery_ratio{vid=\"VID-D2\"}")));
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_backlog_messages{vid=\"VID-D1\"}") == 7);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_backlog_messages{vid=\"VID-D2\"}") == 250);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_backlog_bytes{vid=\"VID-D1\"}") == 4096);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_backlog_oldest_age_seconds{vid=\"VID-D1\"}") ==
              2.5);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_discarded_messages_total{vid=\"VID-D1\"}") ==
              1);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_uplink_connects_total{vid=\"VID-D1\"}") == 3);
    AH_ASSERT(ah_prom_value(t, "aerie_fleet_vehicle_uplink_rtt_seconds{vid=\"VID-D1\"}") == 0.0125);
    AH_ASSERT(isnan(ah_prom_value(t, "aerie_fleet_vehicle_uplink_rtt_seconds{vid=\"VID-D2\"}")));
    double seen =
        ah_prom_value(t, "aerie_fleet_vehicle_last_seen_timestamp_seconds{vid=\"VID-D1\"}");
    double now = (double)time(NULL);
    AH_ASSERT_MSG(fabs(seen - now) < 120, "last seen %f, now %f", seen, now);
    AH_ASSERT(ah_prom_value(t, "aerie_hub_stream_messages{stream=\"FLEET_LINK\",domain=\"\"}") ==
              2);
    AH_ASSERT(ah_prom_value(t, "aerie_hub_stream_messages{stream=\"TWIN_STATE\",domain=\"\"}") ==
              1);
    AH_ASSERT(ah_prom_value(t, "aerie_hub_stream_bytes{stream=\"FLEET_LINK\",domain=\"\"}") > 0);
    AH_ASSERT(ah_prom_value(
                  t, "aerie_hub_stream_max_age_seconds{stream=\"FLEET_LINK\",domain=\"\"}") > 0);
    free(t);

    /* the hub goes away: the scrape still answers, and says so */
    ah_hub_stop(&h);
    AH_ASSERT_MSG(ah_prom_wait(port, "aerie_fleet_up", is_zero, 15000) == 0,
                  "aerie_fleet_up still 1 with the hub stopped");
    int st = ah_stop(&d, SIGTERM, 5000);
    AH_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "dashboard exit 0x%x", st);
}

/* ---- the alerts of docs/operations.md ------------------------------------------------- */

static void promtool_ok(const char *args)
{
    char cmd[1200], *tmp = ah_mkdtemp("promtool"), prefix[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && exec promtool %s", AERIE_SOURCE_DIR, args);
    snprintf(prefix, sizeof prefix, "%s/run", tmp);
    ah_output o = ah_run_capture(prefix, (char *[]){"/bin/sh", "-c", cmd, NULL}, 60000);
    ah_rmrf(tmp);
    free(tmp);
    AH_ASSERT_MSG(o.code == 0, "promtool %s exited %d: %s%s", args, o.code, o.out, o.err);
    AH_ASSERT_CONTAINS(o.out, "SUCCESS");
    ah_output_free(&o);
}

/* The example scrape config and alert rules are valid, and each alert fires on the series it
 * is meant for, after its `for:`, and not on the look-alikes (tests/metrics/alerts_test.yml). */
static void t_alert_rules(void)
{
    promtool_ok("check config deploy/prometheus/prometheus.yml");
    promtool_ok("test rules tests/metrics/alerts_test.yml");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static const ah_case cases[] = {
        {"exposition_writer", t_exposition_writer, 30},
        {"leaf_standalone", t_leaf_standalone, 30},
        {"leaf_uplink_outage", t_leaf_uplink_outage, 120},
        {"dashboard_fleet", t_dashboard_fleet, 90},
        {"alert_rules", t_alert_rules, 60},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
