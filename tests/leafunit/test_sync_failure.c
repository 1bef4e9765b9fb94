/* A failed fsync under a publisher (issue 12): a PING that follows publishes on uplink
 * subjects is answered once they are on disk. When the disk fails first (fsync returns EIO,
 * from a preloaded libfailsync), those publishes will never reach the hub; the publisher
 * must be told before its PONG, in the words a refused append uses, and its connection
 * stays up. Real aerie-leaf processes, a raw socket and libnats. */
#include "harness/harness.h"

#include <nats/nats.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUBJECTS "fleet.t.veh.v.state.>"

typedef struct leaf {
    char *dir;
    char trigger[600], log[600];
    int port;
    ah_proc proc;
} leaf;

/* A leaf with a durable uplink subject and no reachable hub (what is logged stays). */
static void leaf_start(leaf *l)
{
    memset(l, 0, sizeof *l);
    l->dir = ah_mkdtemp("syncfail");
    char conf[600], store[600];
    snprintf(conf, sizeof conf, "%s/leaf.conf", l->dir);
    snprintf(store, sizeof store, "%s/store", l->dir);
    snprintf(l->trigger, sizeof l->trigger, "%s/fail-sync-now", l->dir);
    snprintf(l->log, sizeof l->log, "%s/leaf.log", l->dir);
    l->port = ah_free_port();
    AH_ASSERT(ah_write_file(conf,
                            "listen: 127.0.0.1:%d\n"
                            "leafnodes { remotes = [ { urls: [\"nats-leaf://127.0.0.1:1\"] } ] }\n"
                            "store { dir: \"%s\", sync: \"5ms\" }\n"
                            "uplink { subjects: [\"" SUBJECTS "\"], vid: v, env: t }\n",
                            l->port, store) == 0);
    /* Only the leaf gets the fault. ASan wants its runtime first among preloads; the
     * shim has nothing for it to check. */
    char preload[600];
    snprintf(preload, sizeof preload, "%s", ah_bin("libfailsync.so"));
    setenv("LD_PRELOAD", preload, 1);
    setenv("AE_FAILSYNC_TRIGGER", l->trigger, 1);
    const char *asan = getenv("ASAN_OPTIONS");
    char asan_opts[600];
    snprintf(asan_opts, sizeof asan_opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    char *saved_asan = asan ? strdup(asan) : NULL;
    setenv("ASAN_OPTIONS", asan_opts, 1);
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", conf, NULL};
    int rc = ah_spawn(&l->proc, l->log, argv);
    unsetenv("LD_PRELOAD");
    unsetenv("AE_FAILSYNC_TRIGGER");
    if (saved_asan)
        setenv("ASAN_OPTIONS", saved_asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved_asan);
    AH_ASSERT(rc == 0);
    AH_ASSERT(ah_wait_tcp(l->port, 5000) == 0);
}

static void leaf_stop(leaf *l)
{
    AH_ASSERT(ah_alive(&l->proc));
    ah_stop(&l->proc, SIGTERM, 5000);
    ah_rmrf(l->dir);
    free(l->dir);
}

static void fail_the_disk(leaf *l)
{
    AH_ASSERT(ah_write_file(l->trigger, "now\n") == 0);
}

static void raw_publisher_is_told(void)
{
    leaf l;
    leaf_start(&l);
    char buf[4096];
    int fd = ah_connect(l.port);
    AH_ASSERT(fd >= 0);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    AH_ASSERT(ah_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n") ==
              0);

    /* the disk works: the PONG is the only answer */
    AH_ASSERT(ah_send(fd, "PUB fleet.t.veh.v.state.a 2\r\nhi\r\nPING\r\n") == 0);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000) > 0);
    AH_ASSERT(strcmp(buf, "PONG\r\n") == 0);

    /* the disk fails under the next publish: an -ERR naming it, then the PONG */
    fail_the_disk(&l);
    AH_ASSERT(ah_send(fd, "PUB fleet.t.veh.v.state.b 2\r\nhi\r\nPING\r\n") == 0);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000) > 0);
    AH_ASSERT_CONTAINS(buf, "-ERR 'Permissions Violation for Publish to "
                            "\"fleet.t.veh.v.state.b\": not stored for the hub");
    char *pong = strstr(buf, "PONG\r\n");
    AH_ASSERT(pong && strstr(buf, "-ERR") < pong);

    /* the log stays failed: the next publish is refused at once, once, and a local
     * subscriber on a plain subject still gets its message */
    AH_ASSERT(ah_send(fd, "SUB local.x 1\r\nPUB fleet.t.veh.v.state.c 2\r\nhi\r\n"
                          "PUB local.x 2\r\nok\r\nPING\r\n") == 0);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 5000) > 0);
    AH_ASSERT_CONTAINS(buf, "Permissions Violation for Publish to \"fleet.t.veh.v.state.c\"");
    AH_ASSERT_CONTAINS(buf, "MSG local.x 1 2\r\nok\r\n");
    AH_ASSERT(strstr(buf, "state.b") == NULL);
    close(fd);
    AH_ASSERT(ah_count_in_file(l.log, "Input/output error") > 0);
    leaf_stop(&l);
}

static volatile int async_errors;
static char async_text[512];

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)sub;
    (void)err;
    (void)closure;
    const char *last = NULL;
    natsConnection_GetLastError(nc, &last);
    snprintf(async_text, sizeof async_text, "%s", last ? last : "");
    async_errors++;
}

static void libnats_publisher_is_told(void)
{
    leaf l;
    leaf_start(&l);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", l.port);
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    AH_ASSERT(natsOptions_Create(&opts) == NATS_OK);
    AH_ASSERT(natsOptions_SetURL(opts, url) == NATS_OK);
    AH_ASSERT(natsOptions_SetErrorHandler(opts, on_error, NULL) == NATS_OK);
    AH_ASSERT(natsConnection_Connect(&nc, opts) == NATS_OK);

    AH_ASSERT(natsConnection_PublishString(nc, "fleet.t.veh.v.state.a", "1") == NATS_OK);
    AH_ASSERT(natsConnection_FlushTimeout(nc, 5000) == NATS_OK);
    AH_ASSERT(async_errors == 0);

    fail_the_disk(&l);
    AH_ASSERT(natsConnection_PublishString(nc, "fleet.t.veh.v.state.b", "2") == NATS_OK);
    AH_ASSERT(natsConnection_FlushTimeout(nc, 5000) == NATS_OK);
    for (int i = 0; i < 100 && async_errors == 0; i++)
        ah_sleep_ms(20);
    AH_ASSERT(async_errors >= 1);
    AH_ASSERT_CONTAINS(async_text, "fleet.t.veh.v.state.b");
    AH_ASSERT(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    leaf_stop(&l);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"raw_publisher_is_told", raw_publisher_is_told, 30},
        {"libnats_publisher_is_told", libnats_publisher_is_told, 30},
    };
    int rc = ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
    nats_Close();
    return rc;
}
