/* SIGHUP reload of aerie-leaf: settings the running leaf took at start (its name, sockets,
 * the uplink's remotes, the durable log) are never silently kept at their old values. A
 * reload that changes any of them is refused whole, with an error naming each key; a reload
 * of settings that can change is applied. */
#include "harness/harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *conf_text(int port, const char *name, int max_payload, const char *store)
{
    static char text[2048];
    snprintf(text, sizeof text,
             "server_name: %s\nlisten: 127.0.0.1:%d\nmax_payload: %d\n"
             "leafnodes { remotes = [ { urls: [\"nats-leaf://127.0.0.1:1\"] } ] }\n"
             "store { dir: \"%s\" }\nuplink { subjects: [\"fleet.t.veh.v.state.>\"] }\n",
             name, port, max_payload, store);
    return text;
}

static void info_contains(int port, const char *needle)
{
    char buf[4096];
    int fd = ah_connect(port);
    AH_ASSERT(fd >= 0);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    close(fd);
    AH_ASSERT_CONTAINS(buf, needle);
}

static void reload_refuses_restart_keys(void)
{
    char *dir = ah_mkdtemp("reload");
    char conf[600], log[600], store[600], store2[600];
    snprintf(conf, sizeof conf, "%s/leaf.conf", dir);
    snprintf(log, sizeof log, "%s/leaf.log", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(store2, sizeof store2, "%s/store2", dir);
    int port = ah_free_port();
    AH_ASSERT(ah_write_file(conf, "%s", conf_text(port, "alpha", 1000, store)) == 0);
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", conf, NULL};
    ah_proc p;
    AH_ASSERT(ah_spawn(&p, log, argv) == 0);
    AH_ASSERT(ah_wait_tcp(port, 5000) == 0);
    info_contains(port, "\"server_name\":\"alpha\"");

    /* a new name and a new store directory along with a new max_payload: all refused */
    AH_ASSERT(ah_write_file(conf, "%s", conf_text(port, "beta", 2000, store2)) == 0);
    kill(p.pid, SIGHUP);
    ah_sleep_ms(400);
    AH_ASSERT(ah_alive(&p));
    info_contains(port, "\"server_name\":\"alpha\"");
    info_contains(port, "\"max_payload\":1000");
    char *out = ah_read_file(log);
    AH_ASSERT_CONTAINS(out, "server_name, store.dir changed: these take effect only at a restart");
    free(out);

    /* the same name and store, a new max_payload: applied */
    AH_ASSERT(ah_write_file(conf, "%s", conf_text(port, "alpha", 2000, store)) == 0);
    kill(p.pid, SIGHUP);
    ah_sleep_ms(400);
    info_contains(port, "\"max_payload\":2000");
    AH_ASSERT_EQ_INT(ah_stop(&p, SIGTERM, 5000), 0);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"reload_refuses_restart_keys", reload_refuses_restart_keys, 30},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
