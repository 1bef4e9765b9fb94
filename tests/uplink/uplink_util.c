/* Helpers of the uplink tests; see uplink_util.h. */
#include "uplink_util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Whose logs a failing assertion prints. One case per process, so plain globals suffice. */
static ut_leaf *watched_leaf;
static ah_hub *watched_hub;

void ut_dump_logs(void)
{
    if (watched_leaf && watched_leaf->log_path[0])
        ah_print_tail(watched_leaf->log_path, 4000);
    if (watched_hub)
        ah_hub_print_logs(watched_hub, 1500);
}

void ut_watch_hub(ah_hub *h)
{
    watched_hub = h;
}

void ut_leaf_url(char *buf, size_t cap, int port, const char *userinfo)
{
    ah_leaf_url(buf, cap, port, userinfo);
}

void ut_leaf_start(ut_leaf *l, const char *name, const char *remote, const char *uplink_extra,
                   const char *top_extra)
{
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    char *dir = ah_mkdtemp("leaf");
    AH_ASSERT(dir != NULL);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    free(dir);
    l->port = ah_free_port();
    l->http_port = ah_free_port();
    snprintf(l->conf_path, sizeof l->conf_path, "%s/leaf.conf", l->dir);
    snprintf(l->log_path, sizeof l->log_path, "%s/leaf.log", l->dir);
    /* Fast detection for tests: PING every second, dead after 3 s, redial after 200 ms
     * backing off to 2 s. */
    int rc = ah_write_file(l->conf_path,
                           "server_name: %s\n"
                           "listen: 127.0.0.1:%d\n"
                           "http: 127.0.0.1:%d\n"
                           "ping_interval: \"1s\"\n"
                           "leafnodes {\n"
                           "  remotes = [ { %s\n %s } ]\n"
                           "  reconnect: \"200ms\"\n"
                           "  reconnect_max: \"2s\"\n"
                           "  dead_link_timeout: \"3s\"\n"
                           "}\n"
                           "uplink {\n  vid: %s\n  env: test\n  %s\n}\n"
                           "%s\n",
                           name, l->port, l->http_port, remote, ah_leaf_remote_opts(), name,
                           uplink_extra ? uplink_extra : "", top_extra ? top_extra : "");
    AH_ASSERT(rc == 0);
    watched_leaf = l;
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", l->conf_path, "-D", NULL};
    AH_ASSERT_MSG(ah_spawn(&l->proc, l->log_path, argv) == 0, "cannot start %s", argv[0]);
    int wait = (int)(10000 * ah_timeout_scale());
    UT_ASSERT(ah_wait_tcp(l->port, wait) == 0 && ah_wait_tcp(l->http_port, wait) == 0,
              "aerie-leaf %s did not open its ports", name);
}

void ut_leaf_stop(ut_leaf *l)
{
    if (l->proc.pid <= 0)
        return;
    int status = ah_stop(&l->proc, SIGTERM, (int)(10000 * ah_timeout_scale()));
    char *log = ah_read_file(l->log_path);
    bool clean = log && !strstr(log, "Sanitizer") && !strstr(log, "runtime error:");
    free(log);
    UT_ASSERT(clean, "aerie-leaf %s: sanitizer report in its log", l->name);
    UT_ASSERT(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "aerie-leaf %s did not exit cleanly after SIGTERM (wait status 0x%x)", l->name,
              status);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(l->dir);
    if (watched_leaf == l)
        watched_leaf = NULL;
}

int ut_leaf_log_count(ut_leaf *l, const char *needle)
{
    return ah_count_in_file(l->log_path, needle);
}

json_t *ut_http_json(int port, const char *path)
{
    int status = 0;
    char *body = ah_http_get(port, path, &status);
    json_t *j = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j;
}

json_t *ut_leaf_uplink(ut_leaf *l)
{
    json_t *v = ut_http_json(l->http_port, "/varz");
    json_t *u = json_incref(json_object_get(v, "uplink"));
    json_decref(v);
    return u;
}

const char *ut_uplink_str(ut_leaf *l, const char *field, char *buf, size_t cap)
{
    json_t *u = ut_leaf_uplink(l);
    const char *s = json_string_value(json_object_get(u, field));
    snprintf(buf, cap, "%s", s ? s : "");
    json_decref(u);
    return buf;
}

const char *ut_leaf_state(ut_leaf *l, char *buf, size_t cap)
{
    ut_uplink_str(l, "state", buf, cap);
    if (!buf[0])
        snprintf(buf, cap, "?");
    return buf;
}

long long ut_uplink_int(ut_leaf *l, const char *field)
{
    json_t *u = ut_leaf_uplink(l);
    json_t *v = json_object_get(u, field);
    long long r = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(u);
    return r;
}

static bool wait_state(ut_leaf *l, const char *state, bool equal, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    char buf[64];
    do {
        if ((strcmp(ut_leaf_state(l, buf, sizeof buf), state) == 0) == equal)
            return true;
        ah_sleep_ms(20);
    } while (ah_now_ms() < deadline);
    return false;
}

bool ut_wait_state(ut_leaf *l, const char *state, int timeout_ms)
{
    return wait_state(l, state, true, timeout_ms);
}

bool ut_wait_not_state(ut_leaf *l, const char *state, int timeout_ms)
{
    return wait_state(l, state, false, timeout_ms);
}

long long ut_hub_leaf_counter(int http_port, const char *field)
{
    json_t *j = ut_http_json(http_port, "/leafz");
    if (!j)
        return -1;
    long long sum = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "leafs"), i, v)
    {
        sum += (long long)json_integer_value(json_object_get(v, field));
    }
    json_decref(j);
    return sum;
}

int ut_hub_leaf_count(int http_port)
{
    json_t *j = ut_http_json(http_port, "/leafz");
    int n = j ? (int)json_integer_value(json_object_get(j, "leafnodes")) : -1;
    json_decref(j);
    return n;
}

natsConnection *ut_nc_port(int port, const char *user)
{
    char url[128];
    if (user)
        snprintf(url, sizeof url, "nats://%s:secret@127.0.0.1:%d", user, port);
    else
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetTimeout(o, 5000);
    natsOptions_SetAllowReconnect(o, false);
    natsStatus st = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    UT_ASSERT(st == NATS_OK, "libnats connect to %s: %s", url, natsStatus_GetText(st));
    return nc;
}

natsConnection *ut_nc_hub(ah_hub *h, int node)
{
    return ut_nc_port(h->client_port[node], "operator");
}

natsConnection *ut_nc_leaf(ut_leaf *l)
{
    return ut_nc_port(l->port, NULL);
}

static bool is_probe(natsMsg *m)
{
    return natsMsg_GetDataLength(m) == 5 && memcmp(natsMsg_GetData(m), "probe", 5) == 0;
}

void ut_await_flow(natsConnection *pub, const char *subject, natsSubscription **subs, int n,
                   int timeout_ms)
{
    bool got[16] = {false};
    AH_ASSERT(n > 0 && n <= 16);
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    for (;;) {
        natsConnection_PublishString(pub, subject, "probe");
        natsConnection_FlushTimeout(pub, 2000);
        int64_t until = ah_now_ms() + 100;
        while (ah_now_ms() < until) {
            for (int i = 0; i < n; i++) {
                natsMsg *m = NULL;
                if (natsSubscription_NextMsg(&m, subs[i], 10) == NATS_OK) {
                    bool probe = is_probe(m);
                    natsMsg_Destroy(m);
                    UT_ASSERT(probe, "%s: a non-probe message arrived while waiting for flow",
                              subject);
                    got[i] = true;
                }
            }
        }
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && got[i];
        if (all)
            break;
        UT_ASSERT(ah_now_ms() < deadline, "messages on %s did not start to flow within %d ms",
                  subject, timeout_ms);
    }
    /* Probes still in flight: let them land and throw them away. */
    ah_sleep_ms(150);
    for (int i = 0; i < n; i++) {
        natsMsg *m = NULL;
        while (natsSubscription_NextMsg(&m, subs[i], 50) == NATS_OK) {
            bool probe = is_probe(m);
            natsMsg_Destroy(m);
            UT_ASSERT(probe, "%s: a non-probe message arrived while draining probes", subject);
        }
    }
}

natsMsg *ut_next(natsSubscription *sub, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    for (;;) {
        int left = (int)(deadline - ah_now_ms());
        if (left <= 0)
            return NULL;
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
            return NULL;
        if (!is_probe(m))
            return m;
        natsMsg_Destroy(m);
    }
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply) {
        char buf[512];
        int n =
            snprintf(buf, sizeof buf, "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
        natsConnection_Publish(nc, reply, buf, n);
    }
    natsMsg_Destroy(msg);
}

natsSubscription *ut_responder(natsConnection *nc, const char *subject, const char *queue)
{
    natsSubscription *sub = NULL;
    natsStatus st = queue
                        ? natsConnection_QueueSubscribe(&sub, nc, subject, queue, on_request, NULL)
                        : natsConnection_Subscribe(&sub, nc, subject, on_request, NULL);
    UT_ASSERT(st == NATS_OK, "subscribe %s: %s", subject, natsStatus_GetText(st));
    natsConnection_FlushTimeout(nc, 2000);
    return sub;
}

natsMsg *ut_request(natsConnection *nc, const char *subject, const char *payload, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    do {
        natsMsg *reply = NULL;
        natsStatus st = natsConnection_RequestString(&reply, nc, subject, payload, 1000);
        if (st == NATS_OK)
            return reply;
        /* No responders (the leaf's local 503, before the hub's interest arrived) answers
         * at once: pause instead of spinning. */
        ah_sleep_ms(100);
    } while (ah_now_ms() < deadline);
    return NULL;
}

/* True if some leafs[].subscriptions_list entry of the /leafz at port:path matches. */
static bool leafz_lists(int port, const char *path, const char *key, bool prefix_ok)
{
    json_t *j = ut_http_json(port, path);
    bool found = false;
    size_t i, k;
    json_t *leafconn, *v;
    size_t kl = strlen(key);
    json_array_foreach(json_object_get(j, "leafs"), i, leafconn)
    {
        json_array_foreach(json_object_get(leafconn, "subscriptions_list"), k, v)
        {
            const char *s = json_string_value(v);
            if (s && (!strcmp(s, key) || (prefix_ok && !strncmp(s, key, kl) && s[kl] == ' ')))
                found = true;
        }
    }
    json_decref(j);
    return found;
}

bool ut_wait_leafz_has(ut_leaf *l, const char *key, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    do {
        if (leafz_lists(l->http_port, "/leafz", key, false))
            return true;
        ah_sleep_ms(20);
    } while (ah_now_ms() < deadline);
    return false;
}

bool ut_wait_hub_leafz_has(int http_port, const char *subject, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    do {
        if (leafz_lists(http_port, "/leafz?subs=1", subject, true))
            return true;
        ah_sleep_ms(20);
    } while (ah_now_ms() < deadline);
    return false;
}
