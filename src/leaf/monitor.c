/* Monitoring endpoints over HTTP (libmicrohttpd in external-loop mode); see monitor.h. */
#include "leaf/monitor.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/prom.h"
#include "leaf/client.h"
#include "leaf/forward.h"
#include "leaf/metrics.h"
#include "leaf/subject.h"
#include "leaf/uplink.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* libmicrohttpd is loaded only when monitoring is configured: with it come GnuTLS and
 * friends, about 2 MiB of resident pages that a vehicle without monitoring should not pay. */
static struct {
    bool loaded;
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} mhd;

static int load_mhd(ae_err *err)
{
    if (mhd.loaded)
        return 0;
    void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return ae_err_set(err, AE_EIO,
                          "HTTP monitoring needs libmicrohttpd (Debian package libmicrohttpd12): "
                          "%s; install it or remove http/-m from the config",
                          dlerror());
    struct {
        void **slot;
        const char *name;
    } syms[] = {
        {(void **)&mhd.start_daemon, "MHD_start_daemon"},
        {(void **)&mhd.stop_daemon, "MHD_stop_daemon"},
        {(void **)&mhd.get_daemon_info, "MHD_get_daemon_info"},
        {(void **)&mhd.run, "MHD_run"},
        {(void **)&mhd.lookup_connection_value, "MHD_lookup_connection_value"},
        {(void **)&mhd.create_response_from_buffer, "MHD_create_response_from_buffer"},
        {(void **)&mhd.add_response_header, "MHD_add_response_header"},
        {(void **)&mhd.queue_response, "MHD_queue_response"},
        {(void **)&mhd.destroy_response, "MHD_destroy_response"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot)
            return ae_err_set(err, AE_EIO, "libmicrohttpd lacks %s: too old?", syms[i].name);
    }
    mhd.loaded = true;
    return 0;
}

struct ae_monitor {
    ae_server *srv;
    struct MHD_Daemon *d;
    ae_io io;
    ae_timer timer;
    int port;
    uint64_t req_varz, req_connz, req_subsz, req_healthz, req_leafz;
};

static const char *arg(struct MHD_Connection *conn, const char *key)
{
    return mhd.lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool arg_true(struct MHD_Connection *conn, const char *key)
{
    const char *v = arg(conn, key);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "detail"));
}

static json_t *rfc3339(int64_t ns)
{
    char buf[48];
    return json_string(ae_format_rfc3339(ns, buf, sizeof buf));
}

static json_t *godur(int64_t ns)
{
    char buf[48];
    return json_string(ae_format_go_duration(ns, buf, sizeof buf));
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

static json_t *varz(ae_monitor *m)
{
    ae_server *s = m->srv;
    const ae_opts *o = &s->opts;
    int64_t now = ae_now_ns();
    uint64_t subs = ae_sublist_count(s->sl);
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "server_name", json_string(s->server_name));
    json_object_set_new(j, "version", json_string("2.9.0"));
    json_object_set_new(j, "aerie_version", json_string(AERIE_VERSION));
    json_object_set_new(j, "proto", json_integer(1));
    json_object_set_new(j, "host", json_string(o->host));
    json_object_set_new(j, "port", json_integer(s->port));
    json_object_set_new(j, "max_connections", json_integer(o->max_connections));
    json_object_set_new(j, "ping_interval", json_integer(o->ping_interval_ns));
    json_object_set_new(j, "ping_max", json_integer(o->ping_max));
    json_object_set_new(j, "http_host", json_string(o->http_host ? o->http_host : o->host));
    json_object_set_new(j, "http_port", json_integer(m->port));
    json_object_set_new(j, "http_base_path", json_string(""));
    json_object_set_new(j, "https_port", json_integer(0));
    json_object_set_new(j, "auth_timeout", json_real((double)o->auth_timeout_ns / 1e9));
    json_object_set_new(j, "max_control_line", json_integer(o->max_control_line));
    json_object_set_new(j, "max_payload", json_integer(o->max_payload));
    json_object_set_new(j, "max_pending", json_integer(o->max_pending));
    json_object_set_new(j, "tls_timeout", json_real(2));
    json_object_set_new(j, "write_deadline", json_integer(o->write_deadline_ns));
    json_object_set_new(j, "start", rfc3339(s->start_ns));
    json_object_set_new(j, "now", rfc3339(now));
    json_object_set_new(j, "uptime", godur(now - s->start_ns));
    json_object_set_new(j, "mem", json_integer(rss_bytes()));
    json_object_set_new(j, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(j, "gomaxprocs", json_integer(1));
    json_object_set_new(j, "cpu", json_real(0));
    json_object_set_new(j, "connections", json_integer((json_int_t)s->nclients));
    json_object_set_new(j, "total_connections", json_integer((json_int_t)s->total_connections));
    json_object_set_new(j, "routes", json_integer(0));
    json_object_set_new(j, "remotes", json_integer(0));
    json_object_set_new(j, "leafnodes", json_integer(ae_uplink_leaf_count(s->uplink)));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)s->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)s->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)s->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)s->out_bytes));
    json_object_set_new(j, "slow_consumers", json_integer((json_int_t)s->slow_consumers));
    json_object_set_new(j, "subscriptions", json_integer((json_int_t)subs));
    json_t *reqs = json_object();
    json_object_set_new(reqs, "/varz", json_integer((json_int_t)m->req_varz));
    json_object_set_new(reqs, "/connz", json_integer((json_int_t)m->req_connz));
    json_object_set_new(reqs, "/subsz", json_integer((json_int_t)m->req_subsz));
    json_object_set_new(reqs, "/healthz", json_integer((json_int_t)m->req_healthz));
    json_object_set_new(reqs, "/leafz", json_integer((json_int_t)m->req_leafz));
    json_object_set_new(j, "http_req_stats", reqs);
    json_object_set_new(j, "config_load_time", rfc3339(s->config_load_ns));
    json_object_set_new(j, "system_account", json_string(""));
    if (s->uplink) {
        ae_uplink_varz(s->uplink, j);
        ae_forward_status(s->forward, json_object_get(j, "uplink"));
    }
    return j;
}

static json_t *sub_detail(const ae_ssub *sub, uint64_t cid)
{
    json_t *d = json_object();
    json_object_set_new(d, "subject", json_string(sub->subject));
    if (sub->queue)
        json_object_set_new(d, "qgroup", json_string(sub->queue));
    json_object_set_new(d, "sid", json_stringn(sub->sid, sub->sid_len));
    json_object_set_new(d, "msgs", json_integer((json_int_t)sub->delivered));
    if (sub->max)
        json_object_set_new(d, "max", json_integer(sub->max));
    json_object_set_new(d, "cid", json_integer((json_int_t)cid));
    return d;
}

static json_t *conn_json(ae_client *c, int subs_mode, int64_t now)
{
    json_t *j = json_object();
    json_object_set_new(j, "cid", json_integer((json_int_t)c->cid));
    json_object_set_new(j, "kind", json_string("Client"));
    json_object_set_new(j, "type", json_string("nats"));
    json_object_set_new(j, "ip", json_string(c->ip));
    json_object_set_new(j, "port", json_integer(c->port));
    json_object_set_new(j, "start", rfc3339(c->start_ns));
    json_object_set_new(j, "last_activity", rfc3339(c->start_ns + (c->last_in - c->start_mono)));
    json_object_set_new(j, "rtt", godur(c->rtt_ns));
    json_object_set_new(j, "uptime", godur(now - c->start_ns));
    json_object_set_new(j, "idle", godur(ae_mono_ns() - c->last_in));
    json_object_set_new(j, "pending_bytes", json_integer((json_int_t)c->out.pending));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)c->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)c->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)c->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)c->out_bytes));
    json_object_set_new(j, "subscriptions", json_integer((json_int_t)c->nsubs));
    if (c->name)
        json_object_set_new(j, "name", json_string(c->name));
    if (c->lang)
        json_object_set_new(j, "lang", json_string(c->lang));
    if (c->version)
        json_object_set_new(j, "version", json_string(c->version));
    if (subs_mode && c->nsubs) {
        json_t *list = json_array();
        size_t pos = 0;
        ae_hmap_ent *e;
        while ((e = ae_hmap_next(&c->subs, &pos))) {
            const ae_ssub *sub = e->val;
            if (subs_mode == 2)
                json_array_append_new(list, sub_detail(sub, c->cid));
            else
                json_array_append_new(list, json_string(sub->subject));
        }
        json_object_set_new(j, subs_mode == 2 ? "subscriptions_list_detail" : "subscriptions_list",
                            list);
    }
    return j;
}

static json_t *closed_json(const ae_closed_info *ci)
{
    json_t *j = json_object();
    json_object_set_new(j, "cid", json_integer((json_int_t)ci->cid));
    json_object_set_new(j, "kind", json_string("Client"));
    json_object_set_new(j, "type", json_string("nats"));
    json_object_set_new(j, "ip", json_string(ci->ip));
    json_object_set_new(j, "port", json_integer(ci->port));
    json_object_set_new(j, "start", rfc3339(ci->start_ns));
    json_object_set_new(j, "stop", rfc3339(ci->stop_ns));
    json_object_set_new(j, "uptime", godur(ci->stop_ns - ci->start_ns));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)ci->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)ci->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)ci->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)ci->out_bytes));
    json_object_set_new(j, "subscriptions", json_integer(ci->subs));
    if (ci->name[0])
        json_object_set_new(j, "name", json_string(ci->name));
    if (ci->lang[0])
        json_object_set_new(j, "lang", json_string(ci->lang));
    if (ci->version[0])
        json_object_set_new(j, "version", json_string(ci->version));
    json_object_set_new(j, "reason", json_string(ci->reason));
    return j;
}

static long num_arg(struct MHD_Connection *conn, const char *key, long dflt)
{
    const char *v = arg(conn, key);
    if (!v)
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return (*end || n < 0) ? dflt : n;
}

static json_t *connz(ae_monitor *m, struct MHD_Connection *conn)
{
    ae_server *s = m->srv;
    const char *subs = arg(conn, "subs");
    int subs_mode = !subs ? 0 : !strcasecmp(subs, "detail") ? 2 : arg_true(conn, "subs") ? 1 : 0;
    const char *state = arg(conn, "state");
    bool want_open = !state || !strcasecmp(state, "open") || !strcasecmp(state, "all");
    bool want_closed = state && (!strcasecmp(state, "closed") || !strcasecmp(state, "all"));
    long offset = num_arg(conn, "offset", 0);
    long limit = num_arg(conn, "limit", 1024);
    int64_t now = ae_now_ns();

    json_t *list = json_array();
    long total = 0, idx = 0;
    if (want_open) {
        /* Oldest first, as nats-server's default sort by cid. */
        ae_client *last = s->clients;
        while (last && last->next)
            last = last->next;
        for (ae_client *c = last; c; c = c->prev) {
            if (c->closing)
                continue;
            total++;
            if (idx++ >= offset && (long)json_array_size(list) < limit)
                json_array_append_new(list, conn_json(c, subs_mode, now));
        }
    }
    if (want_closed) {
        uint64_t n = s->nclosed < AE_CLOSED_RING ? s->nclosed : AE_CLOSED_RING;
        for (uint64_t i = s->nclosed - n; i < s->nclosed; i++) {
            total++;
            if (idx++ >= offset && (long)json_array_size(list) < limit)
                json_array_append_new(list, closed_json(&s->closed[i % AE_CLOSED_RING]));
        }
    }
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "now", rfc3339(now));
    json_object_set_new(j, "num_connections", json_integer((json_int_t)json_array_size(list)));
    json_object_set_new(j, "total", json_integer(total));
    json_object_set_new(j, "offset", json_integer(offset));
    json_object_set_new(j, "limit", json_integer(limit));
    json_object_set_new(j, "connections", list);
    return j;
}

static json_t *subsz(ae_monitor *m, struct MHD_Connection *conn)
{
    ae_server *s = m->srv;
    ae_sublist_stats st;
    ae_sublist_get_stats(s->sl, &st);
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "now", rfc3339(ae_now_ns()));
    json_object_set_new(j, "num_subscriptions", json_integer((json_int_t)st.num_subs));
    json_object_set_new(j, "num_cache", json_integer((json_int_t)st.num_cache));
    json_object_set_new(j, "num_inserts", json_integer((json_int_t)st.num_inserts));
    json_object_set_new(j, "num_removes", json_integer((json_int_t)st.num_removes));
    json_object_set_new(j, "num_matches", json_integer((json_int_t)st.num_matches));
    json_object_set_new(j, "cache_hit_rate",
                        json_real(st.num_matches ? (double)st.cache_hits / st.num_matches : 0));
    json_object_set_new(j, "max_fanout", json_integer((json_int_t)st.max_fanout));
    json_object_set_new(j, "avg_fanout",
                        json_real(st.num_matches ? (double)st.total_fanout / st.num_matches : 0));
    if (arg_true(conn, "subs") || arg(conn, "test")) {
        const char *test = arg(conn, "test");
        long offset = num_arg(conn, "offset", 0), limit = num_arg(conn, "limit", 1024);
        long idx = 0, total = 0;
        json_t *list = json_array();
        for (ae_client *c = s->clients; c; c = c->next) {
            size_t pos = 0;
            ae_hmap_ent *e;
            while ((e = ae_hmap_next(&c->subs, &pos))) {
                const ae_ssub *sub = e->val;
                if (test &&
                    !ae_subject_matches(sub->subject, strlen(sub->subject), test, strlen(test)))
                    continue;
                total++;
                if (idx++ >= offset && (long)json_array_size(list) < limit) {
                    json_t *d = sub_detail(sub, c->cid);
                    json_object_set_new(d, "account", json_string("$G"));
                    json_array_append_new(list, d);
                }
            }
        }
        json_object_set_new(j, "total", json_integer(total));
        json_object_set_new(j, "offset", json_integer(offset));
        json_object_set_new(j, "limit", json_integer(limit));
        json_object_set_new(j, "subscriptions_list", list);
    }
    return j;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return MHD_NO;
    struct MHD_Response *r =
        mhd.create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    mhd.add_response_header(r, "Content-Type", "application/json");
    mhd.add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result ret = mhd.queue_response(conn, status, r);
    mhd.destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    ae_monitor *m = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        json_t *e = json_pack("{s:s}", "error", "only GET is supported");
        return reply_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED, e);
    }
    if (!strcmp(url, "/varz")) {
        m->req_varz++;
        return reply_json(conn, MHD_HTTP_OK, varz(m));
    }
    if (!strcmp(url, "/connz")) {
        m->req_connz++;
        return reply_json(conn, MHD_HTTP_OK, connz(m, conn));
    }
    if (!strcmp(url, "/subsz") || !strcmp(url, "/subscriptionsz")) {
        m->req_subsz++;
        return reply_json(conn, MHD_HTTP_OK, subsz(m, conn));
    }
    if (!strcmp(url, "/healthz")) {
        m->req_healthz++;
        if (m->srv->draining)
            return reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                              json_pack("{s:s,s:s}", "status", "unavailable", "error",
                                        "server is shutting down"));
        return reply_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    }
    if (!strcmp(url, "/leafz")) {
        m->req_leafz++;
        ae_server *s = m->srv;
        json_t *j = s->uplink ? ae_uplink_leafz(s->uplink) : NULL;
        if (j)
            ae_forward_status(s->forward, json_array_get(json_object_get(j, "leafs"), 0));
        else {
            j = json_object();
            json_object_set_new(j, "leafnodes", json_integer(0));
            json_object_set_new(j, "leafs", json_array());
        }
        json_object_set_new(j, "server_id", json_string(s->server_id));
        json_object_set_new(j, "now", rfc3339(ae_now_ns()));
        return reply_json(conn, MHD_HTTP_OK, j);
    }
    if (!strcmp(url, "/metrics")) {
        size_t n = 0;
        char *text = ae_leaf_metrics(m->srv, &n);
        if (!text)
            return reply_json(conn, 500, json_pack("{s:s}", "error", "out of memory"));
        struct MHD_Response *r = mhd.create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
        if (!r)
            return MHD_NO;
        mhd.add_response_header(r, "Content-Type", AE_PROM_CONTENT_TYPE);
        enum MHD_Result ret = mhd.queue_response(conn, MHD_HTTP_OK, r);
        mhd.destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/")) {
        json_t *j = json_pack("{s:[s,s,s,s,s]}", "endpoints", "/varz", "/connz", "/subsz",
                              "/healthz", "/leafz");
        return reply_json(conn, MHD_HTTP_OK, j);
    }
    return reply_json(conn, MHD_HTTP_NOT_FOUND,
                      json_pack("{s:s}", "error",
                                "not found: try /varz, /connz, /subsz, "
                                "/healthz or /leafz"));
}

static void on_http(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    ae_monitor *m = io->ctx;
    mhd.run(m->d);
}

/* libmicrohttpd also needs to be run for its own timeouts. */
static void on_http_timer(ae_loop *loop, ae_timer *t)
{
    ae_monitor *m = t->ctx;
    mhd.run(m->d);
    ae_loop_timer_start(loop, t, 500 * AE_NS_PER_MS);
}

int ae_monitor_start(ae_server *s, ae_monitor **out, ae_err *err)
{
    int lrc = load_mhd(err);
    if (lrc)
        return lrc;
    ae_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    m->srv = s;
    const char *host = s->opts.http_host ? s->opts.http_host : s->opts.host;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", s->opts.http_port);
    if (getaddrinfo(host, ps, &hints, &res) != 0) {
        free(m);
        return ae_err_set(err, AE_EINVAL, "cannot resolve monitoring address %s", host);
    }
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (res->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->d =
        mhd.start_daemon(flags, (uint16_t)s->opts.http_port, NULL, NULL, handle, m,
                         MHD_OPTION_SOCK_ADDR, res->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    freeaddrinfo(res);
    if (!m->d) {
        free(m);
        return ae_err_set(err, AE_EIO,
                          "cannot listen for monitoring on %s:%d (port in use? pick another "
                          "with -m or http:)",
                          host, s->opts.http_port);
    }
    const union MHD_DaemonInfo *info = mhd.get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
    m->io = (ae_io){.fd = info->epoll_fd, .cb = on_http, .ctx = m};
    ae_loop_add(s->loop, &m->io, AE_IO_READ);
    m->timer = (ae_timer){.cb = on_http_timer, .ctx = m};
    ae_loop_timer_start(s->loop, &m->timer, 500 * AE_NS_PER_MS);
    m->port = s->opts.http_port;
    ae_log_info("Starting http monitor on %s:%d", host, m->port);
    *out = m;
    return 0;
}

void ae_monitor_stop(ae_monitor *m)
{
    if (!m)
        return;
    ae_loop_del(m->srv->loop, &m->io);
    ae_loop_timer_stop(m->srv->loop, &m->timer);
    mhd.stop_daemon(m->d);
    free(m);
}
