/* Prometheus scrapes for tests; see prom_check.h. */
#include "harness/prom_check.h"
#include "harness/harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ah_promtool_check(const char *text, char *why, size_t cap)
{
    char *dir = ah_mkdtemp("promtool");
    char path[600], cmd[700];
    snprintf(path, sizeof path, "%s/metrics.txt", dir);
    int rc = -1;
    if (ah_write_file(path, "%s", text) != 0) {
        snprintf(why, cap, "cannot write %s", path);
        goto out;
    }
    snprintf(cmd, sizeof cmd, "exec promtool check metrics < '%s'", path);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/run", dir);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    ah_output o = ah_run_capture(tmp, argv, 20000);
    if (o.code == 0) {
        rc = 0;
    } else if (o.code == 127) {
        snprintf(why, cap,
                 "promtool is not installed (Debian package prometheus; run scripts/install-deps)");
    } else {
        snprintf(why, cap, "promtool check metrics exited %d: %s%s", o.code, o.out, o.err);
    }
    ah_output_free(&o);
out:
    ah_rmrf(dir);
    free(dir);
    return rc;
}

/* The raw answer to GET /metrics (HTTP/1.0: the server closes at the end). */
static char *get_raw(int port)
{
    int fd = ah_connect(port);
    if (fd < 0)
        return NULL;
    ah_send(fd, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return NULL;
    }
    int n = ah_read_until(fd, buf, cap, "\x01never", (int)(5000 * ah_timeout_scale()));
    close(fd);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *ah_prom_scrape(int port)
{
    char *raw = get_raw(port);
    AH_ASSERT_MSG(raw, "no answer to GET /metrics on port %d", port);
    char *body = strstr(raw, "\r\n\r\n");
    AH_ASSERT_MSG(body && !strncmp(raw, "HTTP/1.", 7) && strstr(raw, " 200 ") == raw + 8,
                  "GET /metrics on port %d: %.200s", port, raw);
    *body = 0;
    /* header names are case-insensitive; libmicrohttpd writes them as given */
    AH_ASSERT_MSG(strcasestr(raw, "\r\nContent-Type: text/plain; version=0.0.4"),
                  "GET /metrics: not the exposition format 0.0.4: %s", raw);
    char *text = strdup(body + 4);
    free(raw);
    char why[4096];
    AH_ASSERT_MSG(ah_promtool_check(text, why, sizeof why) == 0, "%s", why);
    return text;
}

double ah_prom_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        if (line[0] != '#' && !strncmp(line, series, n) && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = eol ? eol + 1 : NULL;
    }
    return NAN;
}

double ah_prom_wait(int port, const char *series, bool (*want)(double), int timeout_ms)
{
    int64_t end = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    double v = NAN;
    for (;;) {
        char *text = ah_prom_scrape(port);
        v = ah_prom_value(text, series);
        free(text);
        if ((!isnan(v) && want(v)) || ah_now_ms() > end)
            return v;
        ah_sleep_ms(100);
    }
}
