/* SIGHUP and /varz confirmation for a local fleet's hub nodes; see hub_reload.h. */
#include "cli/hub_reload.h"
#include "common/http.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool ae_hub_pid_runs_conf(pid_t pid, const char *conf)
{
    if (pid <= 0)
        return false;
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    const char *argv0 = buf, *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strcmp(base, "nats-server") != 0)
        return false;
    char want[PATH_MAX], have[PATH_MAX];
    if (!realpath(conf, want))
        snprintf(want, sizeof want, "%s", conf);
    bool next_is_conf = false;
    for (const char *a = buf; a < buf + n; a += strlen(a) + 1) {
        if (next_is_conf) {
            if (!realpath(a, have))
                snprintf(have, sizeof have, "%.*s", (int)sizeof have - 1, a);
            if (strcmp(have, want) == 0)
                return true;
        }
        next_is_conf = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0;
    }
    return false;
}

/* The hub's config_load_time from /varz, or "" when it cannot be read. */
static void varz_load_time(const ae_fleet_hub *h, char *out, size_t cap)
{
    out[0] = 0;
    char *body = NULL;
    if (!h->http_port || ae_http_get(h->http_host, h->http_port, "/varz", &body, 2000) != 200) {
        free(body);
        return;
    }
    json_t *j = json_loads(body, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "config_load_time"));
    snprintf(out, cap, "%s", t ? t : "");
    json_decref(j);
    free(body);
}

/* The last line of a hub's log that mentions a reload, for the error message. */
static void reload_error(const char *log, char *out, size_t cap)
{
    out[0] = 0;
    FILE *fp = log && *log ? fopen(log, "r") : NULL;
    if (!fp)
        return;
    char line[512];
    while (fgets(line, sizeof line, fp))
        if (strstr(line, "reload")) {
            line[strcspn(line, "\r\n")] = 0;
            snprintf(out, cap, "%s", line);
        }
    fclose(fp);
}

/* The index of a hub node whose config_load_time still equals before[i], or -1. */
static int first_pending(const ae_fleet *f, char (*before)[64])
{
    for (size_t i = 0; i < f->n_hubs; i++) {
        char now[64];
        if (!f->hubs[i].http_port)
            continue; /* nothing to confirm with */
        varz_load_time(&f->hubs[i], now, sizeof now);
        if (!now[0] || strcmp(now, before[i]) == 0)
            return (int)i;
    }
    return -1;
}

/* One reload of every node: SIGHUP, then a new config_load_time on each. Returns the number
 * of nodes or an AE_E* with a message. */
static int reload_once(const ae_fleet *f, const pid_t *pids, char (*before)[64], int timeout_ms,
                       ae_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < f->n_hubs && !rc; i++) {
        varz_load_time(&f->hubs[i], before[i], 64);
        if (kill(pids[i], SIGHUP) != 0)
            rc = ae_err_set(err, AE_EIO, "hub %s: SIGHUP to PID %d: %s", f->hubs[i].name,
                            (int)pids[i], strerror(errno));
    }
    /* A reload is confirmed by a new config_load_time; a node that keeps the old one either
     * refused the new config (its log says why) or has not got to it yet. */
    int64_t start = ae_mono_ns(), deadline = start + (int64_t)timeout_ms * AE_NS_PER_MS;
    bool resent = false;
    while (!rc) {
        int pending = first_pending(f, before);
        if (pending < 0)
            return (int)f->n_hubs;
        if (ae_mono_ns() > deadline) {
            char why[512];
            const ae_fleet_proc *p = ae_fleet_proc_find(f, f->hubs[pending].name);
            reload_error(p ? p->log : NULL, why, sizeof why);
            return ae_err_set(err, AE_ETIMEOUT, "hub %s did not reload its config within %d ms%s%s",
                              f->hubs[pending].name, timeout_ms, why[0] ? "; its log says: " : "",
                              why);
        }
        if (!resent && ae_mono_ns() - start > (int64_t)timeout_ms * AE_NS_PER_MS / 2) {
            resent = true;
            kill(pids[pending], SIGHUP);
        }
        ae_sleep_ms(100);
    }
    return rc;
}

int ae_hub_reload_all(const ae_fleet *f, int reloads, int timeout_ms, ae_err *err)
{
    if (!ae_fleet_is_local(f))
        return 0;
    char(*before)[64] = calloc(f->n_hubs, sizeof *before);
    pid_t *pids = calloc(f->n_hubs, sizeof *pids);
    int rc = before && pids ? 0 : ae_err_set(err, AE_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->n_hubs && !rc; i++) {
        const ae_fleet_hub *h = &f->hubs[i];
        const ae_fleet_proc *p = ae_fleet_proc_find(f, h->name);
        pids[i] = p ? p->pid : 0;
        if (!ae_hub_pid_runs_conf(pids[i], h->conf))
            rc = ae_err_set(err, AE_EIO,
                            "hub %s: PID %d is not a nats-server running %s (any more); is "
                            "the fleet up? The config is changed and takes effect when the "
                            "node starts",
                            h->name, (int)pids[i], h->conf);
    }
    for (int k = 0; k < reloads && rc >= 0; k++)
        rc = reload_once(f, pids, before, timeout_ms, err);
    free(before);
    free(pids);
    return rc;
}
