/* Compatibility: the HTTP monitoring endpoints that fleet tooling reads (-m PORT): /varz,
 * /connz (with ?subs=1), /subsz and /healthz. Field names and JSON types must match
 * nats-server's (nats-wire-notes §5), and the counters must reflect real traffic. Values that
 * are inherently server-specific (ids, memory, uptime text) are checked for type only. */
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"

static json_t *get_json(const ai_broker *b, const char *path)
{
    char *body = ai_http(b, path);
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    AH_ASSERT_MSG(j && json_is_object(j), "GET %s: not a JSON object (%s): %.300s", path, err.text,
                  body);
    free(body);
    return j;
}

static json_t *field(json_t *obj, const char *name, const char *where)
{
    json_t *v = json_object_get(obj, name);
    AH_ASSERT_MSG(v != NULL, "%s: field \"%s\" missing", where, name);
    return v;
}

static long long int_field(json_t *obj, const char *name, const char *where)
{
    json_t *v = field(obj, name, where);
    AH_ASSERT_MSG(json_is_integer(v), "%s: \"%s\" is not an integer", where, name);
    return json_integer_value(v);
}

static const char *str_field(json_t *obj, const char *name, const char *where)
{
    json_t *v = field(obj, name, where);
    AH_ASSERT_MSG(json_is_string(v), "%s: \"%s\" is not a string", where, name);
    return json_string_value(v);
}

static void start_monitored(ai_broker *b)
{
    ai_broker_opts o = {.config = "server_name: edge-7\nping_interval: \"30s\"\n", .monitor = true};
    ai_broker_start(b, &o);
}

/* Two clients with names, one subscription, three 5-byte messages delivered once. */
static void make_traffic(const ai_broker *b, int *sub, int *pub)
{
    *sub = ai_client(b->port, "{\"verbose\":false,\"pedantic\":false,\"name\":\"mon-sub\","
                              "\"lang\":\"c\",\"version\":\"9.9.9\"}");
    *pub = ai_client(b->port, "{\"verbose\":false,\"pedantic\":false,\"name\":\"mon-pub\"}");
    AH_ASSERT(ah_send(*sub, "SUB mon.x 1\r\n") == 0);
    ai_expect_sync(*sub, "");
    AH_ASSERT(ah_send(*pub, "PUB mon.x 5\r\nhello\r\nPUB mon.x 5\r\nhello\r\n"
                            "PUB mon.x 5\r\nhello\r\n") == 0);
    char buf[512];
    ai_sync(*pub, buf, sizeof buf, 3000);
    ai_sync(*sub, buf, sizeof buf, 3000);
    AH_ASSERT_EQ_INT(ai_count(buf, "MSG mon.x 1 5\r\nhello\r\n"), 3);
}

static void case_varz(void)
{
    ai_broker b;
    start_monitored(&b);
    int sub, pub;
    make_traffic(&b, &sub, &pub);
    json_t *v = get_json(&b, "/varz");
    const char *w = "/varz";
    AH_ASSERT(strlen(str_field(v, "server_id", w)) > 0);
    AH_ASSERT_EQ_STR(str_field(v, "server_name", w), "edge-7");
    AH_ASSERT(strlen(str_field(v, "version", w)) > 0);
    AH_ASSERT_EQ_INT(int_field(v, "port", w), b.port);
    AH_ASSERT_EQ_INT(int_field(v, "http_port", w), b.http_port);
    AH_ASSERT_EQ_INT(int_field(v, "max_payload", w), 1048576);
    /* Durations are integers in nanoseconds. */
    AH_ASSERT_EQ_INT(int_field(v, "ping_interval", w), 30000000000LL);
    AH_ASSERT_EQ_INT(int_field(v, "connections", w), 2);
    AH_ASSERT(int_field(v, "total_connections", w) >= 2);
    /* Counters: at least our traffic (nats-server counts only client traffic here, but a
     * server may have internal subscriptions of its own). */
    AH_ASSERT(int_field(v, "in_msgs", w) >= 3);
    AH_ASSERT(int_field(v, "out_msgs", w) >= 3);
    AH_ASSERT(int_field(v, "in_bytes", w) >= 15);
    AH_ASSERT(int_field(v, "out_bytes", w) >= 15);
    AH_ASSERT_EQ_INT(int_field(v, "slow_consumers", w), 0);
    AH_ASSERT(int_field(v, "subscriptions", w) >= 1);
    AH_ASSERT(int_field(v, "mem", w) > 0);
    /* uptime is a Go-style duration string ("3s", "1m2s"). */
    const char *up = str_field(v, "uptime", w);
    AH_ASSERT_MSG(strlen(up) >= 2 && strchr("0123456789", up[0]) && up[strlen(up) - 1] == 's',
                  "uptime \"%s\" does not look like a duration", up);
    str_field(v, "start", w);
    str_field(v, "now", w);
    int_field(v, "max_connections", w);
    int_field(v, "max_control_line", w);
    int_field(v, "max_pending", w);
    int_field(v, "ping_max", w);
    int_field(v, "write_deadline", w);
    /* auth_timeout is seconds as a float in nats-server (Go float64): 2 and 2.0 both fit. */
    json_t *at = field(v, "auth_timeout", w);
    AH_ASSERT_MSG(json_is_number(at) && json_number_value(at) == 2.0,
                  "/varz: auth_timeout is not the number 2 (seconds)");
    json_decref(v);
    /* The counters move with traffic. */
    AH_ASSERT(ah_send(pub, "PUB mon.x 5\r\nhello\r\n") == 0);
    char buf[256];
    ai_sync(pub, buf, sizeof buf, 3000);
    ai_sync(sub, buf, sizeof buf, 3000);
    json_t *v2 = get_json(&b, "/varz");
    AH_ASSERT(int_field(v2, "in_msgs", w) >= 4);
    AH_ASSERT(int_field(v2, "out_msgs", w) >= 4);
    json_decref(v2);
    close(sub);
    close(pub);
    ai_broker_free(&b);
}

static json_t *find_conn(json_t *conns, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(conns, i, c)
    {
        json_t *n = json_object_get(c, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            return c;
    }
    ah_fail(__FILE__, __LINE__, "/connz: no connection named %s", name);
}

static void case_connz(void)
{
    ai_broker b;
    start_monitored(&b);
    int sub, pub;
    make_traffic(&b, &sub, &pub);
    json_t *z = get_json(&b, "/connz");
    const char *w = "/connz";
    AH_ASSERT(strlen(str_field(z, "server_id", w)) > 0);
    AH_ASSERT_EQ_INT(int_field(z, "num_connections", w), 2);
    json_t *conns = field(z, "connections", w);
    AH_ASSERT(json_is_array(conns) && json_array_size(conns) == 2);
    json_t *s = find_conn(conns, "mon-sub");
    json_t *p = find_conn(conns, "mon-pub");
    AH_ASSERT(int_field(s, "cid", w) != int_field(p, "cid", w));
    AH_ASSERT_EQ_STR(str_field(s, "ip", w), "127.0.0.1");
    long long port = int_field(s, "port", w);
    AH_ASSERT(port > 0 && port < 65536);
    AH_ASSERT_EQ_STR(str_field(s, "lang", w), "c");
    AH_ASSERT_EQ_STR(str_field(s, "version", w), "9.9.9");
    AH_ASSERT_EQ_INT(int_field(s, "subscriptions", w), 1);
    AH_ASSERT_EQ_INT(int_field(p, "subscriptions", w), 0);
    AH_ASSERT_EQ_INT(int_field(s, "out_msgs", w), 3);
    AH_ASSERT_EQ_INT(int_field(p, "in_msgs", w), 3);
    AH_ASSERT_EQ_INT(int_field(p, "in_bytes", w), 15);
    AH_ASSERT_EQ_INT(int_field(s, "out_bytes", w), 15);
    int_field(s, "pending_bytes", w);
    str_field(s, "uptime", w);
    json_decref(z);

    /* ?subs=1 lists the subjects of each connection. */
    json_t *zs = get_json(&b, "/connz?subs=1");
    json_t *list = field(find_conn(field(zs, "connections", w), "mon-sub"), "subscriptions_list",
                         "/connz?subs=1");
    AH_ASSERT(json_is_array(list) && json_array_size(list) == 1);
    AH_ASSERT_EQ_STR(json_string_value(json_array_get(list, 0)), "mon.x");
    json_decref(zs);

    /* A closed connection disappears from the open list. */
    close(pub);
    int64_t deadline = ah_now_ms() + 3000;
    for (;;) {
        json_t *z2 = get_json(&b, "/connz");
        long long n = int_field(z2, "num_connections", w);
        json_decref(z2);
        if (n == 1)
            break;
        AH_ASSERT_MSG(ah_now_ms() < deadline, "closed client still listed (%lld)", n);
        ah_sleep_ms(50);
    }
    close(sub);
    ai_broker_free(&b);
}

static void case_subsz_healthz(void)
{
    ai_broker b;
    start_monitored(&b);
    int sub, pub;
    make_traffic(&b, &sub, &pub);
    json_t *s = get_json(&b, "/subsz");
    AH_ASSERT(int_field(s, "num_subscriptions", "/subsz") >= 1);
    json_decref(s);
    /* Subscribing more shows up in the count. */
    json_t *s0 = get_json(&b, "/subsz");
    long long before = int_field(s0, "num_subscriptions", "/subsz");
    json_decref(s0);
    AH_ASSERT(ah_send(sub, "SUB mon.y 2\r\nSUB mon.z q 3\r\n") == 0);
    ai_expect_sync(sub, "");
    json_t *s1 = get_json(&b, "/subsz");
    AH_ASSERT_EQ_INT(int_field(s1, "num_subscriptions", "/subsz"), before + 2);
    json_decref(s1);

    json_t *h = get_json(&b, "/healthz");
    AH_ASSERT_EQ_STR(str_field(h, "status", "/healthz"), "ok");
    AH_ASSERT_EQ_INT(json_object_size(h), 1);
    json_decref(h);
    close(sub);
    close(pub);
    ai_broker_free(&b);
}

/* A connection with n subscriptions "big.<i>" (sid i). */
static int many_subs(const ai_broker *b, int n)
{
    int fd = ai_client(b->port, "{\"verbose\":false,\"pedantic\":false,\"name\":\"many\"}");
    size_t cap = (size_t)n * 32 + 16, len = 0;
    char *cmds = malloc(cap);
    AH_ASSERT(cmds != NULL);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(cmds + len, cap - len, "SUB big.%d %d\r\n", i, i);
    AH_ASSERT(ah_send_n(fd, cmds, len) == 0);
    free(cmds);
    char buf[256];
    ai_sync(fd, buf, sizeof buf, 20000);
    return fd;
}

/* Large answers are complete (every subscription listed, counts right), and the broker
 * keeps serving while one is being produced for a client that does not read it (aerie-leaf
 * produces them a slice at a time; bench/bench_monitor measures how long clients wait). */
static void case_large_lists(void)
{
    enum { N = 20000 };
    ai_broker b;
    start_monitored(&b);
    int fd = many_subs(&b, N);
    json_t *c = get_json(&b, "/connz?subs=1");
    json_t *conns = field(c, "connections", "/connz?subs=1");
    json_t *mine = find_conn(conns, "many");
    AH_ASSERT_MSG(mine != NULL, "the connection with %d subscriptions is not listed", N);
    json_t *list = field(mine, "subscriptions_list", "/connz?subs=1");
    AH_ASSERT_EQ_INT(json_array_size(list), N);
    AH_ASSERT_EQ_INT(int_field(mine, "subscriptions", "/connz"), N);
    AH_ASSERT_EQ_INT(int_field(c, "num_connections", "/connz"), 1);
    json_decref(c);
    c = get_json(&b, "/connz?subs=detail");
    list = field(find_conn(field(c, "connections", "/connz"), "many"), "subscriptions_list_detail",
                 "/connz?subs=detail");
    AH_ASSERT_EQ_INT(json_array_size(list), N);
    json_t *d = json_array_get(list, 0);
    AH_ASSERT(strncmp(str_field(d, "subject", "detail"), "big.", 4) == 0);
    AH_ASSERT(int_field(d, "cid", "detail") > 0);
    json_decref(c);
    /* /subsz pages: the default limit is 1024; "total" is what the page holds (nats-server). */
    json_t *s = get_json(&b, "/subsz?subs=1");
    AH_ASSERT_EQ_INT(json_array_size(field(s, "subscriptions_list", "/subsz")), 1024);
    AH_ASSERT_EQ_INT(int_field(s, "total", "/subsz"), 1024);
    json_decref(s);
    s = get_json(&b, "/subsz?subs=1&offset=10&limit=3");
    AH_ASSERT_EQ_INT(json_array_size(field(s, "subscriptions_list", "/subsz")), 3);
    AH_ASSERT_EQ_INT(int_field(s, "total", "/subsz"), 3);
    json_decref(s);
    int status = 0;
    char *bad = ah_http_get(b.http_port, "/subsz?subs=1&test=big.*", &status);
    AH_ASSERT_MSG(status == 400, "a wildcard test subject gave HTTP %d: %s", status, bad);
    free(bad);
    s = get_json(&b, "/subsz?subs=1&limit=100000&test=big.77");
    AH_ASSERT_EQ_INT(int_field(s, "total", "/subsz?test"), 1);
    list = field(s, "subscriptions_list", "/subsz?test");
    AH_ASSERT_EQ_INT(json_array_size(list), 1);
    AH_ASSERT_EQ_STR(str_field(json_array_get(list, 0), "subject", "/subsz?test"), "big.77");
    json_decref(s);
    /* A monitoring client that asks for the full list and reads nothing does not hold up
     * the others. */
    int http = ah_connect(b.http_port);
    AH_ASSERT(http >= 0);
    AH_ASSERT(ah_send(http, "GET /connz?subs=detail HTTP/1.0\r\n\r\n") == 0);
    int other = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false}");
    AH_ASSERT(ah_send(other, "SUB q 1\r\nPUB q 2\r\nok\r\n") == 0);
    ai_expect_sync(other, "MSG q 1 2\r\nok\r\n");
    ai_expect_sync(fd, "");
    close(other);
    /* SIGTERM is honoured on time with that answer still unread. */
    int st = ai_broker_stop(&b, SIGTERM, (int)(5000 * ah_timeout_scale()));
    AH_ASSERT_MSG(WIFEXITED(st), "not exited by itself within 5 s of SIGTERM (status %d)", st);
    close(http);
    close(fd);
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"varz", case_varz, 20},
        {"connz", case_connz, 20},
        {"subsz_healthz", case_subsz_healthz, 20},
        {"large_lists", case_large_lists, 60},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
