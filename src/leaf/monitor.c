/* Monitoring endpoints over HTTP (libmicrohttpd in external-loop mode); see monitor.h. */
#include "leaf/monitor.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/prom.h"
#include "leaf/forward.h"
#include "leaf/metrics.h"
#include "leaf/monitor_lists.h"
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
    __typeof__(MHD_get_timeout) *get_timeout;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
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
        {(void **)&mhd.get_timeout, "MHD_get_timeout"},
        {(void **)&mhd.lookup_connection_value, "MHD_lookup_connection_value"},
        {(void **)&mhd.create_response_from_buffer, "MHD_create_response_from_buffer"},
        {(void **)&mhd.create_response_from_callback, "MHD_create_response_from_callback"},
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
    uint64_t pass; /* counts runs of libmicrohttpd: long answers get one slice per run */
    int streams;   /* long answers in progress */
};

typedef struct stream_ctx {
    ae_monitor *m;
    ae_mon_list *list;
} stream_ctx;

static const char *arg(struct MHD_Connection *conn, const char *key)
{
    return mhd.lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool arg_true(struct MHD_Connection *conn, const char *key)
{
    const char *v = arg(conn, key);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "detail"));
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
    json_object_set_new(j, "start", ae_mon_rfc3339(s->start_ns));
    json_object_set_new(j, "now", ae_mon_rfc3339(now));
    json_object_set_new(j, "uptime", ae_mon_godur(now - s->start_ns));
    json_object_set_new(j, "mem", json_integer(rss_bytes()));
    json_object_set_new(j, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(j, "gomaxprocs", json_integer(1));
    json_object_set_new(j, "cpu", json_real(0));
    json_object_set_new(j, "connections", json_integer((json_int_t)s->reg.count));
    json_object_set_new(j, "total_connections", json_integer((json_int_t)s->reg.total));
    json_object_set_new(j, "routes", json_integer(0));
    json_object_set_new(j, "remotes", json_integer(0));
    json_object_set_new(j, "leafnodes", json_integer(ae_uplink_leaf_count(s->uplink)));
    json_object_set_new(j, "in_msgs", json_integer((json_int_t)s->in_msgs));
    json_object_set_new(j, "out_msgs", json_integer((json_int_t)s->out_msgs));
    json_object_set_new(j, "in_bytes", json_integer((json_int_t)s->in_bytes));
    json_object_set_new(j, "out_bytes", json_integer((json_int_t)s->out_bytes));
    json_object_set_new(j, "slow_consumers", json_integer((json_int_t)s->slow_consumers));
    /* nats-server 2.11's name: times a fast producer was stalled behind a slow consumer. */
    json_object_set_new(j, "stalled_clients", json_integer((json_int_t)s->stalls));
    json_object_set_new(j, "subscriptions", json_integer((json_int_t)subs));
    json_t *reqs = json_object();
    json_object_set_new(reqs, "/varz", json_integer((json_int_t)m->req_varz));
    json_object_set_new(reqs, "/connz", json_integer((json_int_t)m->req_connz));
    json_object_set_new(reqs, "/subsz", json_integer((json_int_t)m->req_subsz));
    json_object_set_new(reqs, "/healthz", json_integer((json_int_t)m->req_healthz));
    json_object_set_new(reqs, "/leafz", json_integer((json_int_t)m->req_leafz));
    json_object_set_new(j, "http_req_stats", reqs);
    json_object_set_new(j, "config_load_time", ae_mon_rfc3339(s->config_load_ns));
    json_object_set_new(j, "system_account", json_string(""));
    if (s->uplink) {
        ae_uplink_varz(s->uplink, j);
        ae_forward_status(s->forward, json_object_get(j, "uplink"));
    }
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

static ssize_t read_list(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_ctx *sc = cls;
    return ae_mon_list_read(sc->list, sc->m->pass, buf, max);
}

static void free_list(void *cls)
{
    stream_ctx *sc = cls;
    sc->m->streams--;
    ae_mon_list_free(sc->list);
    free(sc);
}

/* A plain-text answer (nats-server answers a bad query that way). */
static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);
    if (!body)
        return MHD_NO;
    struct MHD_Response *r =
        mhd.create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret = mhd.queue_response(conn, status, r);
    mhd.destroy_response(r);
    return ret;
}

/* Answers with a body produced a slice at a time as the client reads (monitor_lists.h). */
static enum MHD_Result reply_list(ae_monitor *m, struct MHD_Connection *conn, ae_mon_list *l)
{
    stream_ctx *sc = l ? malloc(sizeof *sc) : NULL;
    if (!sc) {
        ae_mon_list_free(l);
        return MHD_NO;
    }
    *sc = (stream_ctx){.m = m, .list = l};
    m->streams++;
    struct MHD_Response *r =
        mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read_list, sc, free_list);
    if (!r) {
        free_list(sc);
        return MHD_NO;
    }
    mhd.add_response_header(r, "Content-Type", "application/json");
    mhd.add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result ret = mhd.queue_response(conn, MHD_HTTP_OK, r);
    mhd.destroy_response(r);
    return ret;
}

static enum MHD_Result connz(ae_monitor *m, struct MHD_Connection *conn)
{
    const char *subs = arg(conn, "subs");
    const char *state = arg(conn, "state");
    ae_connz_args a = {
        .subs_mode = !subs                         ? 0
                     : !strcasecmp(subs, "detail") ? 2
                     : arg_true(conn, "subs")      ? 1
                                                   : 0,
        .want_open = !state || !strcasecmp(state, "open") || !strcasecmp(state, "all"),
        .want_closed = state && (!strcasecmp(state, "closed") || !strcasecmp(state, "all")),
        .offset = num_arg(conn, "offset", 0),
        .limit = num_arg(conn, "limit", 1024),
    };
    return reply_list(m, conn, ae_mon_connz_new(m->srv, &a));
}

static enum MHD_Result subsz(ae_monitor *m, struct MHD_Connection *conn)
{
    const char *test = arg(conn, "test");
    long limit = num_arg(conn, "limit", 1024);
    ae_subsz_args a = {.list = arg_true(conn, "subs"),
                       .test = test && *test ? test : NULL,
                       .offset = num_arg(conn, "offset", 0),
                       .limit = limit > 0 ? limit : 1024};
    if (a.test && !ae_subject_valid_literal(a.test, strlen(a.test))) {
        char msg[600];
        snprintf(msg, sizeof msg, "invalid test subject, must be valid publish subject: %.500s",
                 a.test);
        return reply_text(conn, MHD_HTTP_BAD_REQUEST, msg);
    }
    return reply_list(m, conn, ae_mon_subsz_new(m->srv, &a));
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
        return connz(m, conn);
    }
    if (!strcmp(url, "/subsz") || !strcmp(url, "/subscriptionsz")) {
        m->req_subsz++;
        return subsz(m, conn);
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
        json_object_set_new(j, "now", ae_mon_rfc3339(ae_now_ns()));
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

/* Runs libmicrohttpd once and re-arms the timer for when it wants to run next: at once while
 * a streamed answer has more to send (its sockets are edge-triggered inside libmicrohttpd, so
 * no event would announce that), else for its own timeouts. One slice of a long answer per
 * loop pass, with client traffic served in between. */
static void run_mhd(ae_monitor *m)
{
    m->pass++;
    mhd.run(m->d);
    /* Without a timeout of its own to keep (no connection open), libmicrohttpd needs a run
     * only when its epoll fd turns readable; the 5 s timer is a safety net. An idle leaf
     * then does not wake twice a second for its monitor. */
    MHD_UNSIGNED_LONG_LONG ms = 5000;
    if (mhd.get_timeout(m->d, &ms) != MHD_YES)
        ms = 5000;
    else if (ms > 500)
        ms = 500;
    if (m->streams > 0)
        ms = 1; /* the next slice of a long answer; the loop sleeps (or serves) in between */
    ae_loop_timer_start(m->srv->loop, &m->timer, (int64_t)ms * AE_NS_PER_MS);
}

static void on_http(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    run_mhd(io->ctx);
}

static void on_http_timer(ae_loop *loop, ae_timer *t)
{
    (void)loop;
    run_mhd(t->ctx);
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
    m->d = mhd.start_daemon(
        flags, (uint16_t)s->opts.http_port, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR,
        res->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)64, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
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
