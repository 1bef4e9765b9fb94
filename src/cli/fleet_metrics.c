/* The fleet's /metrics; see fleet_metrics.h. */
#include "cli/fleet_metrics.h"
#include "cli/fleet_state.h"
#include "common/prom.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>

/* ---- per vehicle --------------------------------------------------------------------- */

/* One family over every vehicle that has the figure: get returns false to skip one. */
static void per_vehicle(ae_prom *p, json_t *status, const char *name, const char *type,
                        const char *help, bool (*get)(json_t *v, double *out))
{
    ae_prom_family(p, name, type, help);
    size_t i;
    json_t *v;
    json_array_foreach(status, i, v)
    {
        double x;
        const char *vid = json_string_value(json_object_get(v, "vid"));
        if (!vid || !get(v, &x))
            continue;
        const char *labels[] = {"vid", vid, NULL};
        ae_prom_f64(p, name, labels, x);
    }
}

static bool number(json_t *obj, const char *key, double scale, double *out)
{
    json_t *n = json_object_get(obj, key);
    if (!json_is_number(n))
        return false;
    *out = json_number_value(n) * scale;
    return true;
}

static bool v_online(json_t *v, double *out)
{
    *out = json_is_true(json_object_get(v, "online")) ? 1 : 0;
    return true;
}

static bool v_last_seen(json_t *v, double *out)
{
    int64_t ns;
    const char *s = json_string_value(json_object_get(v, "last_seen"));
    if (!s || ae_parse_rfc3339(s, &ns) != 0)
        return false;
    *out = (double)ns / 1e9;
    return true;
}

static bool v_battery(json_t *v, double *out)
{
    return number(v, "battery_pct", 0.01, out);
}

static bool v_backlog(json_t *v, double *out)
{
    return number(v, "backlog_msgs", 1, out);
}

static bool v_backlog_bytes(json_t *v, double *out)
{
    return number(json_object_get(v, "link"), "backlog_bytes", 1, out);
}

static bool v_backlog_age(json_t *v, double *out)
{
    return number(json_object_get(v, "link"), "backlog_oldest_s", 1, out);
}

static bool v_discarded(json_t *v, double *out)
{
    return number(json_object_get(v, "link"), "discarded_msgs", 1, out);
}

static bool v_reconnects(json_t *v, double *out)
{
    return number(json_object_get(v, "link"), "reconnects", 1, out);
}

static bool v_rtt(json_t *v, double *out)
{
    return json_is_true(json_object_get(v, "online")) &&
           number(json_object_get(v, "link"), "rtt_ms", 1e-3, out);
}

static void vehicles(ae_prom *p, json_t *status)
{
    size_t i, online = 0;
    json_t *v;
    json_array_foreach(status, i, v) online += json_is_true(json_object_get(v, "online"));
    ae_prom_family(p, "aerie_fleet_vehicles", "gauge", "Vehicles the hub knows of.");
    ae_prom_u64(p, "aerie_fleet_vehicles", NULL, json_array_size(status));
    ae_prom_family(p, "aerie_fleet_vehicles_online", "gauge", "Vehicles online now.");
    ae_prom_u64(p, "aerie_fleet_vehicles_online", NULL, online);

    per_vehicle(p, status, "aerie_fleet_vehicle_online", "gauge",
                "1 while the vehicle's leaf reports its uplink up (and its report is fresh).",
                v_online);
    per_vehicle(p, status, "aerie_fleet_vehicle_last_seen_timestamp_seconds", "gauge",
                "When the hub last stored anything from the vehicle (Unix time).", v_last_seen);
    per_vehicle(p, status, "aerie_fleet_vehicle_battery_ratio", "gauge",
                "Battery remaining, 0 to 1, as last reported.", v_battery);
    per_vehicle(p, status, "aerie_fleet_vehicle_backlog_messages", "gauge",
                "Records in the vehicle's store-and-forward log not yet acked by the hub, as "
                "last reported.",
                v_backlog);
    per_vehicle(p, status, "aerie_fleet_vehicle_backlog_bytes", "gauge",
                "Bytes of the vehicle's log on disk, as last reported.", v_backlog_bytes);
    per_vehicle(p, status, "aerie_fleet_vehicle_backlog_oldest_age_seconds", "gauge",
                "Age of the oldest record not yet acked, as last reported.", v_backlog_age);
    per_vehicle(p, status, "aerie_fleet_vehicle_discarded_messages_total", "counter",
                "Records the vehicle's log discarded unsent (store bounds), as last reported.",
                v_discarded);
    per_vehicle(p, status, "aerie_fleet_vehicle_uplink_connects_total", "counter",
                "Connections of the vehicle's uplink (the first included), as last reported.",
                v_reconnects);
    per_vehicle(p, status, "aerie_fleet_vehicle_uplink_rtt_seconds", "gauge",
                "Round-trip time of the vehicle's uplink, as last reported (online only).", v_rtt);
}

/* ---- hub streams ---------------------------------------------------------------------- */

typedef bool (*stream_get)(json_t *info, double *out);

static bool s_messages(json_t *info, double *out)
{
    return number(json_object_get(info, "state"), "messages", 1, out);
}

static bool s_bytes(json_t *info, double *out)
{
    return number(json_object_get(info, "state"), "bytes", 1, out);
}

static bool s_consumers(json_t *info, double *out)
{
    return number(json_object_get(info, "state"), "consumer_count", 1, out);
}

/* A limit only when set (-1 or 0 is unlimited in nats-server). */
static bool s_max_bytes(json_t *info, double *out)
{
    return number(json_object_get(info, "config"), "max_bytes", 1, out) && *out > 0;
}

static bool s_max_msgs(json_t *info, double *out)
{
    return number(json_object_get(info, "config"), "max_msgs", 1, out) && *out > 0;
}

static bool s_max_age(json_t *info, double *out)
{
    return number(json_object_get(info, "config"), "max_age", 1e-9, out) && *out > 0;
}

static void per_stream(ae_prom *p, json_t *streams, const char *name, const char *help,
                       stream_get get)
{
    ae_prom_family(p, name, "gauge", help);
    size_t i;
    json_t *s;
    json_array_foreach(streams, i, s)
    {
        double x;
        if (!get(json_object_get(s, "info"), &x))
            continue;
        const char *labels[] = {"stream", json_string_value(json_object_get(s, "stream")), "domain",
                                json_string_value(json_object_get(s, "domain")), NULL};
        ae_prom_f64(p, name, labels, x);
    }
}

static void hub_streams(ae_prom *p, json_t *streams)
{
    per_stream(p, streams, "aerie_hub_stream_messages", "Messages in the hub stream.", s_messages);
    per_stream(p, streams, "aerie_hub_stream_bytes", "Bytes in the hub stream.", s_bytes);
    per_stream(p, streams, "aerie_hub_stream_max_bytes",
               "The stream's max_bytes limit (absent when unlimited); at the limit the oldest "
               "messages are discarded.",
               s_max_bytes);
    per_stream(p, streams, "aerie_hub_stream_max_messages",
               "The stream's max_msgs limit (absent when unlimited).", s_max_msgs);
    per_stream(p, streams, "aerie_hub_stream_max_age_seconds",
               "The stream's max_age limit (absent when unlimited).", s_max_age);
    per_stream(p, streams, "aerie_hub_stream_consumers", "Consumers of the hub stream.",
               s_consumers);
}

char *ae_fleet_metrics_render(json_t *status, json_t *streams, size_t *len)
{
    ae_prom p;
    ae_prom_init(&p);
    ae_prom_family(&p, "aerie_fleet_up", "gauge",
                   "1 when the hub answered this scrape; 0 and no other figures when not.");
    ae_prom_u64(&p, "aerie_fleet_up", NULL, status ? 1 : 0);
    if (status)
        vehicles(&p, status);
    if (streams)
        hub_streams(&p, streams);
    return ae_prom_take(&p, len);
}

/* ---- collecting --------------------------------------------------------------------- */

json_t *ae_fleet_streams_collect(ae_cli *c)
{
    static const char *const bases[] = {AE_STREAM_STATE, AE_STREAM_EVENTS, AE_STREAM_CMD,
                                        AE_STREAM_LINK, AE_STREAM_LIVE};
    json_t *out = json_array();
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        ae_read_src srcs[AE_READ_MAX];
        int n = ae_cli_read_sources(c, bases[b], srcs, AE_READ_MAX);
        for (int i = 0; i < n; i++) {
            if (!srcs[i].home)
                continue;
            char api[AE_IDENT_MAX + 32];
            snprintf(api, sizeof api, "STREAM.INFO.%s", srcs[i].stream);
            json_t *info = NULL;
            ae_err err = {0};
            if (ae_cli_api_at(c, srcs[i].api, api, NULL, &info, &err) != 0)
                continue;
            /* "$JS.<domain>.API" names the domain; "$JS.API" is the connected one. */
            char domain[AE_IDENT_MAX + 16] = "";
            if (strncmp(srcs[i].api, "$JS.", 4) == 0 && strcmp(srcs[i].api, "$JS.API") != 0) {
                const char *d = srcs[i].api + 4, *end = strstr(d, ".API");
                snprintf(domain, sizeof domain, "%.*s", end ? (int)(end - d) : (int)strlen(d), d);
            }
            json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "stream", srcs[i].stream,
                                                 "domain", domain, "info", info));
        }
    }
    return out;
}

char *ae_fleet_metrics(ae_cli *c, int64_t stale, size_t *len)
{
    json_t *status = NULL, *streams = NULL;
    ae_err err = {0};
    if (c && ae_status_collect(c, stale, &status, &err) == 0)
        streams = ae_fleet_streams_collect(c);
    char *text = ae_fleet_metrics_render(status, streams, len);
    json_decref(status);
    json_decref(streams);
    return text;
}

enum MHD_Result ae_dash_metrics(ae_dash_req *r)
{
    ae_err err = {0};
    size_t len = 0;
    ae_cli *c = ae_dash_conn_lock(&r->d->reads, &err);
    char *text = ae_fleet_metrics(c, r->d->stale_ns, &len);
    if (c)
        ae_dash_conn_unlock(&r->d->reads, r);
    if (!text)
        return ae_dash_reply_error(r, 500, "out of memory");
    return ae_dash_reply(r, 200, AE_PROM_CONTENT_TYPE, text);
}
