/* aerie-leaf: the vehicle's edge broker. Parses options, starts the server and, when
 * configured, HTTP monitoring, the uplink to the hub and the durable forwarder, and runs the
 * loop until SIGTERM drains it. The broker (server.c) knows none of those modules: they sit
 * above it and plug in through hooks.h, so they are started and stopped here. */
#include "common/log.h"
#include "leaf/forward.h"
#include "leaf/monitor.h"
#include "leaf/opts.h"
#include "leaf/server.h"
#include "leaf/uplink.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Sanitizer builds free everything at exit so that LeakSanitizer can tell a leak from a
 * shortcut; other builds leave the memory to the kernel: freeing a million subscriptions one
 * by one would take seconds of a SIGTERM deadline for nothing. */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREE_AT_EXIT 1
#endif
#endif
#ifndef FREE_AT_EXIT
#define FREE_AT_EXIT 0
#endif

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", (int)getpid());
    return fclose(f);
}

int main(int argc, char **argv)
{
    /* Output chunks and read buffers come and go with every burst; without this glibc gives
     * the heap top back to the kernel and takes it again (brk) many times a second. 1 MiB of
     * retained free memory is a fair price on a vehicle. */
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    ae_opts opts;
    ae_opts_defaults(&opts);
    ae_err err = {0};
    int rc = ae_opts_from_args(&opts, argc, argv, &err);
    if (rc == 1) {
        ae_opts_free(&opts);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "aerie-leaf: %s\n", err.msg);
        ae_opts_free(&opts);
        return 1;
    }
    ae_log_set_level(opts.log_level);
    if (opts.log_file && ae_log_set_file(opts.log_file) != 0) {
        fprintf(stderr, "aerie-leaf: cannot open log file %s for appending\n", opts.log_file);
        ae_opts_free(&opts);
        return 1;
    }
    if (opts.pid_file && write_pid_file(opts.pid_file) != 0) {
        fprintf(stderr, "aerie-leaf: cannot write pid file %s\n", opts.pid_file);
        ae_opts_free(&opts);
        return 1;
    }
    ae_server *s = NULL;
    if (ae_server_new(&opts, &s, &err) != 0) {
        ae_log(AE_LOG_FATAL, "%s", err.msg);
        ae_opts_free(&opts);
        return 1;
    }
    s->argc = argc;
    s->argv = argv;
    if (s->opts.http_port > 0 && ae_monitor_start(s, &s->monitor, &err) != 0) {
        ae_log(AE_LOG_FATAL, "%s", err.msg);
        ae_server_free(s);
        return 1;
    }
    if (s->opts.nremotes > 0 && ae_uplink_start(s, &err) != 0) {
        ae_log(AE_LOG_FATAL, "%s", err.msg);
        ae_monitor_stop(s->monitor);
        ae_server_free(s);
        return 1;
    }
    if (s->opts.nuplink_subjects > 0 && ae_forward_start(s, s->uplink, &err) != 0) {
        ae_log(AE_LOG_FATAL, "%s", err.msg);
        ae_uplink_stop(s);
        ae_monitor_stop(s->monitor);
        ae_server_free(s);
        return 1;
    }
    int code = ae_server_run(s);
    ae_forward_stop(s);
    ae_uplink_stop(s);
    if (FREE_AT_EXIT) {
        ae_monitor_stop(s->monitor);
        ae_server_free(s);
    }
    return code;
}
