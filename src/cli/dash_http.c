/* The dashboard's HTTP side: checks, dispatch, replies; see dash_http.h. */
#include "cli/dash_http.h"
#include "cli/dash_assets.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The largest POST body accepted: a command is a few dozen bytes. */
#define BODY_MAX 4096

void ae_dash_init(ae_dash *d, const ae_cli *c, const ae_dash_auth *auth, bool loopback)
{
    memset(d, 0, sizeof *d);
    ae_dash_conn *conns[] = {&d->reads, &d->history, &d->cmds};
    for (int i = 0; i < 3; i++) {
        pthread_mutex_init(&conns[i]->mu, NULL);
        ae_cli *k = &conns[i]->c;
        ae_cli_init_like(k, c);
    }
    pthread_mutex_init(&d->poll_mu, NULL);
    d->auth = auth;
    d->loopback = loopback;
    d->stale_ns = 30 * AE_NS_PER_SEC;
    d->poll_ttl_ns = 500 * AE_NS_PER_MS;
}

void ae_dash_free(ae_dash *d)
{
    ae_dash_conn *conns[] = {&d->reads, &d->history, &d->cmds};
    for (int i = 0; i < 3; i++) {
        ae_cli_close(&conns[i]->c);
        pthread_mutex_destroy(&conns[i]->mu);
    }
    json_decref(d->poll_doc);
    ae_dash_tracks_free(&d->tracks);
    pthread_mutex_destroy(&d->poll_mu);
}

ae_cli *ae_dash_conn_lock(ae_dash_conn *k, ae_err *err)
{
    pthread_mutex_lock(&k->mu);
    ae_cli *c = &k->c;
    if (c->nc && natsConnection_IsClosed(c->nc)) {
        natsConnection_Destroy(c->nc);
        c->nc = NULL;
    }
    c->note[0] = 0;
    if (ae_cli_connect(c, err) != 0) {
        pthread_mutex_unlock(&k->mu);
        return NULL;
    }
    return c;
}

void ae_dash_conn_unlock(ae_dash_conn *k, ae_dash_req *r)
{
    if (k->c.note[0] && r && !r->note[0])
        snprintf(r->note, sizeof r->note, "%s", k->c.note);
    pthread_mutex_unlock(&k->mu);
}

/* ---- replies ----------------------------------------------------------------------------- */

static enum MHD_Result queue(ae_dash_req *r, unsigned code, struct MHD_Response *resp,
                             const char *type)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    if (r->note[0])
        MHD_add_response_header(resp, "Aerie-Note", r->note);
    enum MHD_Result ret;
    if (code == MHD_HTTP_UNAUTHORIZED) {
        char realm[160];
        snprintf(realm, sizeof realm, "Basic realm=\"%s\", charset=\"UTF-8\"",
                 r->d->auth->realm ? r->d->auth->realm : "aerie");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, realm);
    }
    ret = MHD_queue_response(r->conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result ae_dash_reply(ae_dash_req *r, unsigned code, const char *type, char *body)
{
    if (!body)
        return MHD_NO;
    return queue(r, code,
                 MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE), type);
}

enum MHD_Result ae_dash_reply_json(ae_dash_req *r, unsigned code, json_t *j)
{
    char *d = j ? json_dumps(j, AE_CLI_JSON_FLAGS | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return ae_dash_reply(r, code, "application/json", d ? d : strdup("null"));
}

enum MHD_Result ae_dash_reply_error(ae_dash_req *r, unsigned code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ae_dash_reply_json(r, code, json_pack("{s:s}", "error", msg));
}

const char *ae_dash_arg(ae_dash_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- checks ------------------------------------------------------------------------------ */

/* Equal in time independent of where they differ (for secrets). */
static bool secret_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return diff == 0;
}

/* True when the request carries the credentials; sets r->user. */
static bool authorized(ae_dash_req *r, char *user_buf, size_t cap)
{
    const ae_dash_auth *a = r->d->auth;
    if (!a->required)
        return true;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (a->token && h && strncasecmp(h, "Bearer ", 7) == 0 && secret_eq(h + 7, a->token)) {
        snprintf(user_buf, cap, "token");
        r->user = user_buf;
        return true;
    }
    if (!a->user || !a->password)
        return false;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(r->conn, &pass);
    bool ok = user && pass && secret_eq(user, a->user) && secret_eq(pass, a->password);
    if (ok) {
        snprintf(user_buf, cap, "%s", user);
        r->user = user_buf;
    }
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

/* The host part of a Host header ("127.0.0.1:8080" -> "127.0.0.1", "[::1]:80" -> "::1"). */
static void host_of(const char *h, char *out, size_t cap)
{
    if (h[0] == '[') {
        const char *e = strchr(h, ']');
        snprintf(out, cap, "%.*s", e ? (int)(e - h - 1) : 0, h + 1);
        return;
    }
    const char *colon = strchr(h, ':');
    snprintf(out, cap, "%.*s", colon ? (int)(colon - h) : (int)strlen(h), h);
}

/* Bound to loopback: the Host must be a loopback name, or DNS rebinding could reach us. */
static bool host_ok(ae_dash_req *r)
{
    if (!r->d->loopback)
        return true;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    if (!h)
        return true; /* HTTP/1.0 without Host: not a browser */
    char host[256];
    host_of(h, host, sizeof host);
    return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* A POST must be JSON and, with an Origin, from the dashboard's own origin. */
static bool post_ok(ae_dash_req *r)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    if (!origin)
        return true;
    return host && strncmp(origin, "http://", 7) == 0 && strcasecmp(origin + 7, host) == 0;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

/* What a connection keeps between libmicrohttpd's calls for one request. */
typedef struct pending_req {
    char *body;
    size_t len;
    bool too_big;
} pending_req;

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    pending_req *p = *con_cls;
    if (p) {
        free(p->body);
        free(p);
    }
    *con_cls = NULL;
}

static enum MHD_Result serve_asset(ae_dash_req *r)
{
    const ae_dash_asset *a = ae_dash_asset_find(r->url);
    if (!a)
        return ae_dash_reply_error(r, MHD_HTTP_NOT_FOUND,
                                   "no such page: %s (the dashboard is at /, its data at /api/)",
                                   r->url);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    return queue(r, MHD_HTTP_OK, resp, a->type);
}

static enum MHD_Result dispatch(ae_dash_req *r)
{
    bool head = strcmp(r->method, "HEAD") == 0;
    bool path_known = false;
    for (const ae_dash_route *rt = ae_dash_routes; rt->path; rt++) {
        size_t n = strlen(rt->path);
        bool prefix = rt->path[n - 1] == '/';
        if (prefix ? strncmp(r->url, rt->path, n) != 0 : strcmp(r->url, rt->path) != 0)
            continue;
        path_known = true;
        if (strcmp(rt->method, r->method) != 0 && !(head && strcmp(rt->method, "GET") == 0))
            continue;
        r->rest = prefix ? r->url + n : "";
        return rt->fn(r);
    }
    if (path_known)
        return ae_dash_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on %s",
                                   r->method, r->url);
    if (strcmp(r->method, "GET") != 0 && !head)
        return ae_dash_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET on %s", r->url);
    return serve_asset(r);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    ae_dash *d = cls;
    bool post = strcmp(method, "POST") == 0;
    if (post) {
        /* The body arrives in pieces before the last call, which answers. */
        pending_req *p = *con_cls;
        if (!p) {
            if (!(p = calloc(1, sizeof *p)))
                return MHD_NO;
            *con_cls = p;
            return MHD_YES;
        }
        if (*upload_data_size) {
            if (p->len + *upload_data_size > BODY_MAX) {
                p->too_big = true;
            } else {
                char *nb = realloc(p->body, p->len + *upload_data_size + 1);
                if (!nb)
                    return MHD_NO;
                memcpy(nb + p->len, upload_data, *upload_data_size);
                p->body = nb;
                p->len += *upload_data_size;
                p->body[p->len] = 0;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
    }
    atomic_fetch_add(&d->requests, 1);
    ae_dash_req r = {.d = d, .conn = conn, .method = method, .url = url};
    char user[128];
    if (!host_ok(&r))
        return ae_dash_reply_error(&r, MHD_HTTP_FORBIDDEN,
                                   "this dashboard answers only to a loopback host name "
                                   "(127.0.0.1, localhost); bind it elsewhere with --listen");
    if (!authorized(&r, user, sizeof user))
        return ae_dash_reply_error(&r, MHD_HTTP_UNAUTHORIZED,
                                   "log in with the operator's user and password (or send "
                                   "Authorization: Bearer TOKEN)");
    if (post) {
        pending_req *p = *con_cls;
        if (!post_ok(&r))
            return ae_dash_reply_error(&r, MHD_HTTP_FORBIDDEN,
                                       "a POST must carry Content-Type: application/json and "
                                       "come from the dashboard's own page");
        if (p->too_big)
            return ae_dash_reply_error(&r, 413 /* content too large */, "the body is over %d bytes",
                                       BODY_MAX);
        r.body = p->body ? p->body : "";
        r.body_len = p->len;
    }
    return dispatch(&r);
}

struct MHD_Daemon *ae_dash_start(ae_dash *d, const struct sockaddr_in *addr, ae_err *err)
{
    struct MHD_Daemon *mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        ntohs(addr->sin_port), NULL, NULL, handle, d, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!mhd) {
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof ip);
        ae_err_set(err, AE_EIO, "cannot listen on %s:%d (in use? pick another with --port)", ip,
                   ntohs(addr->sin_port));
    }
    return mhd;
}

const ae_dash_asset *ae_dash_asset_find(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (const ae_dash_asset *a = ae_dash_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}
