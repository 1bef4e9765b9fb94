/* Broker selection, process control and raw-protocol helpers for the compatibility suites
 * (see interop.h). Kept deliberately small: every helper either succeeds or fails the
 * current case with a message that says what the broker did instead, because these tests
 * are read by the broker author to find out where aerie-leaf differs from nats-server. */
#include "interop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Waits for something that should happen are stretched by AH_TIMEOUT_SCALE (sanitizer runs
 * of a sanitized broker are slower); checks that something does NOT happen are not. */
static int scaled(int ms)
{
    return (int)(ms * ah_timeout_scale());
}

bool ai_is_nats(void)
{
    const char *b = getenv("AERIE_BROKER");
    return !b || !*b || strcmp(b, "nats-server") == 0;
}

const char *ai_broker_name(void)
{
    return ai_is_nats() ? "nats-server" : "aerie-leaf";
}

/* Last part of the broker log, for failure messages. Returns a static buffer (tests run one
 * case per process, so this is not shared). */
static const char *log_tail(const ai_broker *b)
{
    static char tail[700];
    char *all = ah_read_file(b->log_path);
    if (!all) {
        snprintf(tail, sizeof tail, "(no log at %s)", b->log_path);
        return tail;
    }
    size_t n = strlen(all);
    const char *from = n > 500 ? all + n - 500 : all;
    snprintf(tail, sizeof tail, "%s", from);
    free(all);
    return tail;
}

/* Spawns the broker with the flags recorded in b and waits for its ports. Returns false
 * when the broker exited before listening (its log says why), true once it listens. */
static bool spawn_broker(ai_broker *b)
{
    const char *bin = ai_is_nats() ? ah_nats_server() : ah_bin("aerie-leaf");
    char port[16], http[16];
    snprintf(port, sizeof port, "%d", b->port);
    snprintf(http, sizeof http, "%d", b->http_port);
    const char *argv[48];
    int n = 0;
    bool ld = b->opts.one_dash;
    argv[n++] = bin;
    argv[n++] = ld ? "-addr" : "-a";
    argv[n++] = "127.0.0.1";
    argv[n++] = ld ? "-port" : "-p";
    argv[n++] = port;
    if (b->opts.config) {
        argv[n++] = ld ? "-config" : "-c";
        argv[n++] = b->conf_path;
    }
    if (b->opts.user) {
        argv[n++] = ld ? "-user" : "--user";
        argv[n++] = b->opts.user;
        argv[n++] = ld ? "-pass" : "--pass";
        argv[n++] = b->opts.pass ? b->opts.pass : "";
    }
    if (b->opts.token) {
        argv[n++] = ld ? "-auth" : "--auth";
        argv[n++] = b->opts.token;
    }
    if (b->opts.monitor) {
        argv[n++] = ld ? "-http_port" : "-m";
        argv[n++] = http;
    }
    for (int i = 0; b->opts.args && b->opts.args[i] && n < 47; i++)
        argv[n++] = b->opts.args[i];
    argv[n] = NULL;
    AH_ASSERT_MSG(ah_spawn(&b->proc, b->log_path, (char *const *)argv) == 0, "cannot start %s (%s)",
                  ai_broker_name(), bin);
    /* Ready when the port's listener is this broker's own socket: the port answering is
     * not enough, another test's server may have taken it first. */
    int64_t deadline = ah_now_ms() + scaled(10000);
    while (!ah_pid_listens(b->proc.pid, b->port)) {
        if (!ah_alive(&b->proc)) {
            fprintf(stderr, "%s exited at startup: %s\n", ai_broker_name(), log_tail(b));
            return false;
        }
        AH_ASSERT_MSG(ah_now_ms() < deadline, "%s did not listen on %d: %s", ai_broker_name(),
                      b->port, log_tail(b));
        ah_sleep_ms(20);
    }
    if (b->http_port) {
        AH_ASSERT_MSG(ah_wait_tcp(b->http_port, scaled(10000)) == 0,
                      "%s did not open monitoring port %d: %s", ai_broker_name(), b->http_port,
                      log_tail(b));
    }
    return true;
}

void ai_broker_start(ai_broker *b, const ai_broker_opts *o)
{
    memset(b, 0, sizeof *b);
    if (o)
        b->opts = *o;
    char *dir = ah_mkdtemp("interop");
    AH_ASSERT_MSG(dir != NULL, "cannot create a scratch directory");
    snprintf(b->dir, sizeof b->dir, "%s", dir);
    free(dir);
    snprintf(b->conf_path, sizeof b->conf_path, "%s/broker.conf", b->dir);
    snprintf(b->log_path, sizeof b->log_path, "%s/broker.log", b->dir);
    if (b->opts.config)
        AH_ASSERT(ah_write_file(b->conf_path, "%s\n", b->opts.config) == 0);
    /* A port drawn free can be taken before the broker binds it: then it exits, and the
     * next try draws new ports. */
    for (int attempt = 0;; attempt++) {
        b->port = ah_free_port();
        b->http_port = b->opts.monitor ? ah_free_port() : 0;
        AH_ASSERT(b->port > 0 && (!b->opts.monitor || b->http_port > 0));
        if (spawn_broker(b))
            return;
        AH_ASSERT_MSG(attempt < 2, "%s did not start in 3 tries: %s", ai_broker_name(),
                      log_tail(b));
        ah_stop(&b->proc, SIGKILL, 1000);
    }
}

void ai_broker_restart(ai_broker *b)
{
    AH_ASSERT_MSG(!ah_alive(&b->proc), "ai_broker_restart: broker still running");
    AH_ASSERT_MSG(spawn_broker(b), "%s did not restart: %s", ai_broker_name(), log_tail(b));
}

int ai_broker_stop(ai_broker *b, int sig, int timeout_ms)
{
    if (b->proc.pid == 0)
        return -1;
    return ah_stop(&b->proc, sig, timeout_ms);
}

void ai_broker_reload(ai_broker *b, const char *config)
{
    AH_ASSERT_MSG(b->opts.config != NULL, "reload needs a broker started with a config");
    AH_ASSERT(ah_write_file(b->conf_path, "%s\n", config) == 0);
    AH_ASSERT(b->proc.pid > 0 && kill(b->proc.pid, SIGHUP) == 0);
}

void ai_broker_free(ai_broker *b)
{
    if (b->proc.pid > 0 && ah_alive(&b->proc))
        ah_stop(&b->proc, SIGTERM, 5000);
    if (b->dir[0])
        ah_rmrf(b->dir);
    b->dir[0] = '\0';
}

/* ---- raw client helpers ------------------------------------------------------------- */

int ai_open(int port, char *info, size_t cap)
{
    int fd = ah_connect(port);
    AH_ASSERT_MSG(fd >= 0, "cannot connect to 127.0.0.1:%d", port);
    char buf[8192];
    int n = ah_read_until(fd, buf, sizeof buf, "\r\n", scaled(3000));
    AH_ASSERT_MSG(n > 0, "no INFO from the broker within 3 s");
    AH_ASSERT_MSG(strncmp(buf, "INFO ", 5) == 0, "first line is not INFO: %s", buf);
    char *end = strstr(buf, "\r\n");
    AH_ASSERT_MSG(end != NULL, "INFO line not terminated by CRLF: %s", buf);
    /* Anything after the INFO line at this point would be unsolicited protocol. */
    AH_ASSERT_MSG(end[2] == '\0', "unexpected bytes after INFO: %s", end + 2);
    if (info) {
        *end = '\0';
        snprintf(info, cap, "%s", buf + 5);
    }
    return fd;
}

int ai_client(int port, const char *connect_json)
{
    int fd = ai_open(port, NULL, 0);
    char line[2048];
    snprintf(line, sizeof line, "CONNECT %s\r\nPING\r\n", connect_json);
    AH_ASSERT(ah_send(fd, line) == 0);
    char buf[512];
    int n = ah_read_until(fd, buf, sizeof buf, "PONG\r\n", scaled(3000));
    AH_ASSERT_MSG(n >= 0, "read error after CONNECT");
    AH_ASSERT_MSG(strcmp(buf, "PONG\r\n") == 0, "CONNECT %s + PING answered with: %s", connect_json,
                  buf);
    return fd;
}

void ai_sync(int fd, char *buf, size_t cap, int timeout_ms)
{
    AH_ASSERT(ah_send(fd, "PING\r\n") == 0);
    int n = ah_read_until(fd, buf, cap, "PONG\r\n", scaled(timeout_ms));
    AH_ASSERT_MSG(n > 0 && strstr(buf, "PONG\r\n"), "no PONG within %d ms (got: %s)", timeout_ms,
                  n > 0 ? buf : "nothing");
}

void ai_expect_sync(int fd, const char *expect)
{
    char buf[16384];
    ai_sync(fd, buf, sizeof buf, 3000);
    char want[16384];
    snprintf(want, sizeof want, "%sPONG\r\n", expect);
    AH_ASSERT_EQ_STR(buf, want);
}

void ai_expect_close(int fd, const char *expect, int timeout_ms, const char *what)
{
    char buf[8192] = "";
    bool closed = ah_wait_closed(fd, buf, sizeof buf, scaled(timeout_ms));
    AH_ASSERT_MSG(closed, "%.80s: connection not closed within %d ms (got: %s)", what, timeout_ms,
                  buf);
    if (expect)
        AH_ASSERT_MSG(strcmp(buf, expect) == 0, "%.80s: expected \"%s\" before close, got \"%s\"",
                      what, expect, buf);
}

void ai_expect_silent_close(int fd, int timeout_ms, const char *what)
{
    char buf[8192] = "";
    bool closed = ah_wait_closed(fd, buf, sizeof buf, scaled(timeout_ms));
    AH_ASSERT_MSG(closed, "%.80s: connection not closed within %d ms (got: %s)", what, timeout_ms,
                  buf);
    /* Everything sent before the close must be -ERR lines: no +OK, MSG or PONG, which would
     * mean the bad input was (partly) accepted. */
    const char *p = buf;
    while (*p) {
        AH_ASSERT_MSG(strncmp(p, "-ERR '", 6) == 0, "%s: unexpected bytes before close: %s", what,
                      p);
        const char *eol = strstr(p, "\r\n");
        AH_ASSERT_MSG(eol != NULL, "%s: unterminated line before close: %s", what, p);
        p = eol + 2;
    }
}

int ai_count(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

char *ai_http(const ai_broker *b, const char *path)
{
    AH_ASSERT_MSG(b->http_port > 0, "broker started without monitoring");
    int status = 0;
    char *body = ah_http_get(b->http_port, path, &status);
    AH_ASSERT_MSG(body != NULL, "GET %s failed", path);
    AH_ASSERT_MSG(status == 200, "GET %s: HTTP %d: %s", path, status, body);
    return body;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *ai_sorted_units(const char *stream)
{
    size_t cap = 16, n = 0, total = 1;
    char **units = malloc(cap * sizeof *units);
    AH_ASSERT(units != NULL);
    const char *p = stream;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        AH_ASSERT_MSG(eol != NULL, "unterminated protocol line: %s", p);
        size_t len = (size_t)(eol - p) + 2;
        if (strncmp(p, "MSG ", 4) == 0 || strncmp(p, "HMSG ", 5) == 0) {
            /* The last field of the control line is the total size of what follows. */
            const char *last = eol;
            while (last > p && last[-1] != ' ')
                last--;
            size_t size = strtoul(last, NULL, 10);
            AH_ASSERT_MSG(strlen(eol + 2) >= size + 2, "truncated message: %s", p);
            len += size + 2;
        }
        if (n == cap) {
            cap *= 2;
            units = realloc(units, cap * sizeof *units);
            AH_ASSERT(units != NULL);
        }
        units[n] = strndup(p, len);
        AH_ASSERT(units[n] != NULL);
        total += len;
        n++;
        p += len;
    }
    qsort(units, n, sizeof *units, cmp_str);
    char *out = malloc(total);
    AH_ASSERT(out != NULL);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, units[i]);
        free(units[i]);
    }
    free(units);
    return out;
}
