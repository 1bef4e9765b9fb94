/* aerie-leaf's /metrics; see metrics.h. */
#include "leaf/metrics.h"
#include "common/prom.h"
#include "common/timeutil.h"
#include "leaf/forward.h"
#include "leaf/uplink.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- one-sample families ------------------------------------------------------------- */

static void gauge(ae_prom *p, const char *name, const char *help, double v)
{
    ae_prom_family(p, name, "gauge", help);
    ae_prom_f64(p, name, NULL, v);
}

static void counter(ae_prom *p, const char *name, const char *help, uint64_t v)
{
    ae_prom_family(p, name, "counter", help);
    ae_prom_u64(p, name, NULL, v);
}

/* A figure of a status object (/varz.uplink, /leafz); 0 when absent. */
static double jnum(json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

static uint64_t jcount(json_t *obj, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(obj, key));
    return v > 0 ? (uint64_t)v : 0;
}

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* ---- the broker ---------------------------------------------------------------------- */

static void broker(ae_prom *p, ae_server *s)
{
    const char *info[] = {"server_name", s->server_name, "version", AERIE_VERSION, NULL};
    ae_prom_family(p, "aerie_leaf_info", "gauge",
                   "Always 1; the labels name this aerie-leaf and its version.");
    ae_prom_u64(p, "aerie_leaf_info", info, 1);
    gauge(p, "aerie_leaf_start_time_seconds", "When this aerie-leaf started (Unix time).",
          (double)s->start_ns / 1e9);
    gauge(p, "aerie_leaf_resident_memory_bytes", "Resident memory of the aerie-leaf process.",
          (double)rss_bytes());
    gauge(p, "aerie_leaf_connections", "Client connections open now.", (double)s->reg.count);
    gauge(p, "aerie_leaf_max_connections", "The configured limit of client connections.",
          (double)s->opts.max_connections);
    counter(p, "aerie_leaf_connections_total", "Client connections accepted since start.",
            s->reg.total);
    gauge(p, "aerie_leaf_subscriptions", "Subscriptions now (local clients and hub interest).",
          (double)ae_sublist_count(s->sl));
    counter(p, "aerie_leaf_received_messages_total",
            "Messages received from local clients and the hub.", s->in_msgs);
    counter(p, "aerie_leaf_received_bytes_total", "Payload bytes received.", s->in_bytes);
    counter(p, "aerie_leaf_sent_messages_total", "Messages delivered to local clients.",
            s->out_msgs);
    counter(p, "aerie_leaf_sent_bytes_total", "Payload bytes delivered to local clients.",
            s->out_bytes);
    counter(p, "aerie_leaf_slow_consumers_total",
            "Clients disconnected for not reading fast enough (max_pending, write_deadline).",
            s->slow_consumers);
    counter(p, "aerie_leaf_stalls_total",
            "Times a fast publisher was paused for a slow subscriber (/varz stalled_clients).",
            s->stalls);
}

/* ---- the uplink ---------------------------------------------------------------------- */

static void uplink(ae_prom *p, ae_server *s)
{
    gauge(p, "aerie_uplink_configured",
          "1 when a hub (leafnodes remote) is configured, 0 for a standalone broker.",
          s->uplink ? 1 : 0);
    if (!s->uplink)
        return;
    json_t *varz = json_object();
    ae_uplink_varz(s->uplink, varz);
    json_t *u = json_object_get(varz, "uplink");
    const char *state = json_string_value(json_object_get(u, "state"));

    gauge(p, "aerie_uplink_up", "1 while the link to the hub is connected and exchanging interest.",
          json_is_true(json_object_get(u, "online")) ? 1 : 0);
    ae_prom_family(p, "aerie_uplink_state", "gauge",
                   "1 for the state the link to the hub is in, 0 for the others.");
    for (int st = AE_UPLINK_DISCONNECTED; st <= AE_UPLINK_READY; st++) {
        const char *name = ae_uplink_state_name((ae_uplink_state)st);
        const char *labels[] = {"state", name, NULL};
        ae_prom_u64(p, "aerie_uplink_state", labels, state && !strcmp(state, name));
    }
    const char *hub = json_string_value(json_object_get(u, "hub"));
    const char *url = json_string_value(json_object_get(u, "url"));
    if (hub && url) {
        const char *labels[] = {"hub", hub, "url", url, NULL};
        ae_prom_family(p, "aerie_uplink_hub_info", "gauge",
                       "Always 1 while connected; the labels name the hub node and its address.");
        ae_prom_u64(p, "aerie_uplink_hub_info", labels, 1);
    }
    if (json_object_get(u, "rtt_ms"))
        gauge(p, "aerie_uplink_rtt_seconds", "Round-trip time to the hub (PING to PONG).",
              jnum(u, "rtt_ms") / 1e3);
    counter(p, "aerie_uplink_connects_total",
            "Connections to the hub that became ready, the first one included.",
            jcount(u, "reconnects"));
    counter(p, "aerie_uplink_received_messages_total", "Messages received from the hub.",
            jcount(u, "in_msgs"));
    counter(p, "aerie_uplink_received_bytes_total", "Bytes received from the hub.",
            jcount(u, "in_bytes"));
    counter(p, "aerie_uplink_sent_messages_total", "Messages sent to the hub.",
            jcount(u, "out_msgs"));
    counter(p, "aerie_uplink_sent_bytes_total", "Bytes sent to the hub.", jcount(u, "out_bytes"));
    counter(p, "aerie_uplink_dropped_messages_total",
            "Best-effort (non-uplink-subject) messages dropped because the link was too slow.",
            jcount(u, "dropped_msgs"));
    json_decref(varz);
}

/* ---- store-and-forward --------------------------------------------------------------- */

static void forwarder(ae_prom *p, ae_server *s)
{
    json_t *f = json_object();
    ae_forward_status(s->forward, f);
    counter(p, "aerie_forward_captured_messages_total",
            "Messages on uplink subjects written to the durable log.", jcount(f, "captured"));
    counter(p, "aerie_forward_capture_errors_total",
            "Messages on uplink subjects that could not be logged (disk full, I/O error).",
            jcount(f, "capture_errors"));
    counter(p, "aerie_forward_forwarded_messages_total",
            "Publishes of logged records to the hub's stream, resends included.",
            jcount(f, "forwarded"));
    counter(p, "aerie_forward_acked_messages_total",
            "Logged records the hub's stream acknowledged (retired from the backlog).",
            jcount(f, "acked"));
    counter(p, "aerie_forward_resent_messages_total",
            "Publishes sent again after an ack timeout or a reconnect.", jcount(f, "resends"));
    counter(p, "aerie_forward_duplicate_messages_total",
            "Publishes the hub's stream reported as duplicates (already stored).",
            jcount(f, "duplicates"));
    counter(p, "aerie_forward_skipped_stored_messages_total",
            "Records found already in the hub's stream after a reconnect, not sent again.",
            jcount(f, "skipped_stored"));
    counter(p, "aerie_forward_resyncs_total",
            "Read-backs of the hub's stream after a reconnect or an unexpected reply.",
            jcount(f, "resyncs"));
    counter(p, "aerie_forward_set_aside_messages_total",
            "Records the hub refused for good, moved to the dead-letter file.",
            jcount(f, "set_aside"));
    gauge(p, "aerie_forward_inflight_messages", "Publishes waiting for the hub's ack now.",
          jnum(f, "inflight"));
    gauge(p, "aerie_forward_window_messages", "The current limit of publishes in flight.",
          jnum(f, "window"));
    json_decref(f);
}

static void store(ae_prom *p, ae_server *s)
{
    ae_store_stats st;
    ae_store_stats_get(ae_forward_store(s->forward), &st);
    double age = st.oldest_time_ns ? (double)(ae_now_ns() - st.oldest_time_ns) / 1e9 : 0;
    gauge(p, "aerie_store_backlog_messages", "Records logged and not yet acked by the hub.",
          (double)st.records);
    gauge(p, "aerie_store_backlog_oldest_age_seconds",
          "Age (by its event time) of the oldest record not yet acked; 0 without a backlog.",
          age < 0 ? 0 : age);
    gauge(p, "aerie_store_bytes", "Bytes of the log's segment files on disk.", (double)st.bytes);
    gauge(p, "aerie_store_segments", "Segment files of the log.", (double)st.segments);
    gauge(p, "aerie_store_max_bytes",
          "The log's size bound (store.max_bytes); 0 when unbounded. Above it the oldest "
          "records are discarded.",
          (double)s->opts.store_max_bytes);
    gauge(p, "aerie_store_max_age_seconds",
          "The log's age bound (store.max_age); 0 when unbounded.",
          (double)s->opts.store_max_age_ns / 1e9);
    counter(p, "aerie_store_appended_messages_total", "Records appended to the log.", st.appended);
    counter(p, "aerie_store_acked_messages_total",
            "Records retired from the log (acked by the hub or already there).", st.acked);
    counter(p, "aerie_store_discarded_messages_total",
            "Records discarded unsent by store.max_bytes or store.max_age.", st.discarded_records);
    counter(p, "aerie_store_discarded_bytes_total",
            "Bytes of segments discarded by store.max_bytes or store.max_age.", st.discarded_bytes);
    counter(p, "aerie_store_lost_messages_total", "Records found corrupt on disk.",
            st.lost_records);
    counter(p, "aerie_store_write_errors_total", "Appends that failed (ENOSPC, EIO).",
            st.write_errors);
    counter(p, "aerie_store_sync_errors_total", "Failed syncs, renames or removals.",
            st.sync_errors);
    gauge(p, "aerie_store_failed",
          "1 after a failed sync: the log refuses appends until aerie-leaf restarts.",
          st.failed ? 1 : 0);
    gauge(p, "aerie_store_read_only", "1 while the disk is too full for the log to write.",
          st.read_only ? 1 : 0);

    double bounds[AE_STORE_SYNC_BUCKETS];
    for (int i = 0; i < AE_STORE_SYNC_BUCKETS; i++)
        bounds[i] = (double)ae_store_sync_bounds_ns[i] / 1e9;
    ae_prom_family(p, "aerie_store_sync_duration_seconds", "histogram",
                   "Duration of the log's data syncs (fdatasync and directory fsync); a flush "
                   "under sync: always and every ack to the hub wait for one.");
    ae_prom_histogram(p, "aerie_store_sync_duration_seconds", NULL, bounds, st.sync_buckets,
                      AE_STORE_SYNC_BUCKETS, (double)st.sync_ns_total / 1e9);
}

char *ae_leaf_metrics(ae_server *s, size_t *len)
{
    ae_prom p;
    ae_prom_init(&p);
    broker(&p, s);
    uplink(&p, s);
    if (s->forward) {
        forwarder(&p, s);
        store(&p, s);
    }
    return ae_prom_take(&p, len);
}
