/* Compatibility: the command line as nats-server accepts it. Go's flag package takes every
 * flag with one dash or two, and a value after '=' or as the next argument, so programs and
 * test suites start nats-server with -addr, -port, -user, -pass, -auth, -config,
 * -http_port, -server_name, -log, -pid, -DV ...; both brokers must start the same way and
 * behave accordingly. Unknown flags stop the broker (nats-server prints its usage and exits 0;
 * aerie-leaf names the flag and exits 1). */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"

#define QUIET "{\"verbose\":false,\"pedantic\":false"

static void case_one_dash_user(void)
{
    ai_broker b;
    ai_broker_opts o = {.user = "ivan", .pass = "secret", .one_dash = true};
    ai_broker_start(&b, &o);
    int fd = ai_client(b.port, QUIET ",\"user\":\"ivan\",\"pass\":\"secret\"}");
    close(fd);
    fd = ai_open(b.port, NULL, 0);
    AH_ASSERT(ah_send(fd, "CONNECT " QUIET ",\"user\":\"ivan\",\"pass\":\"nope\"}\r\nPING\r\n") ==
              0);
    ai_expect_close(fd, "-ERR 'Authorization Violation'\r\n", 3000, "wrong password");
    close(fd);
    ai_broker_free(&b);
}

static void case_one_dash_token(void)
{
    ai_broker b;
    ai_broker_opts o = {.token = "testSecret", .one_dash = true};
    ai_broker_start(&b, &o);
    int fd = ai_client(b.port, QUIET ",\"auth_token\":\"testSecret\"}");
    close(fd);
    fd = ai_open(b.port, NULL, 0);
    AH_ASSERT(ah_send(fd, "CONNECT " QUIET "}\r\nPING\r\n") == 0);
    ai_expect_close(fd, "-ERR 'Authorization Violation'\r\n", 3000, "no token");
    close(fd);
    ai_broker_free(&b);
}

static void case_one_dash_config_and_more(void)
{
    char *dir = ah_mkdtemp("options");
    AH_ASSERT(dir != NULL);
    char log[600], pid[600];
    snprintf(log, sizeof log, "%s/broker.log", dir);
    snprintf(pid, sizeof pid, "%s/broker.pid", dir);
    const char *args[] = {"-server_name", "veh-7", "-log", log, "-pid", pid, "-DV", NULL};
    ai_broker b;
    ai_broker_opts o = {
        .config = "max_payload: 2048\n", .monitor = true, .one_dash = true, .args = args};
    ai_broker_start(&b, &o);
    char info[4096];
    int fd = ai_open(b.port, info, sizeof info);
    AH_ASSERT_CONTAINS(info, "\"server_name\":\"veh-7\"");
    AH_ASSERT_CONTAINS(info, "\"max_payload\":2048"); /* from -config */
    close(fd);
    char *varz = ai_http(&b, "/varz"); /* -http_port */
    json_t *j = json_loads(varz, 0, NULL);
    AH_ASSERT_MSG(j != NULL, "/varz is not JSON: %s", varz);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "server_name")), "veh-7");
    json_decref(j);
    free(varz);
    char *p = ah_read_file(pid);
    AH_ASSERT_MSG(p != NULL && atoi(p) == (int)b.proc.pid, "-pid file holds %s, not %d",
                  p ? p : "(nothing)", (int)b.proc.pid);
    free(p);
    /* -log: the broker writes its log there (-DV: including the protocol trace). */
    int64_t deadline = ah_now_ms() + 3000;
    while (ah_count_in_file(log, "\n") < 3 && ah_now_ms() < deadline)
        ah_sleep_ms(50);
    AH_ASSERT_MSG(ah_count_in_file(log, "\n") >= 3, "-log %s has almost nothing", log);
    ai_broker_free(&b);
    ah_rmrf(dir);
    free(dir);
}

static void case_two_dash_and_equals(void)
{
    /* --name=value and --flag value mixed, as Go's flag package reads them. */
    const char *args[] = {"--server_name=veh-8", "-D", NULL};
    ai_broker b;
    ai_broker_opts o = {.user = "u", .pass = "p", .args = args};
    ai_broker_start(&b, &o);
    char info[4096];
    int fd = ai_open(b.port, info, sizeof info);
    AH_ASSERT_CONTAINS(info, "\"server_name\":\"veh-8\"");
    AH_ASSERT_CONTAINS(info, "\"auth_required\":true");
    close(fd);
    ai_broker_free(&b);
}

static void case_unknown_flag(void)
{
    const char *bin = ai_is_nats() ? ah_nats_server() : ah_bin("aerie-leaf");
    char port[16];
    snprintf(port, sizeof port, "%d", ah_free_port());
    char *argv[] = {(char *)bin, "-a", "127.0.0.1", "-p", port, "-no_such_flag", NULL};
    ah_output out = ah_run_capture("options", argv, 5000);
    /* nats-server prints its usage and exits 0; aerie-leaf says what is wrong and exits 1. */
    AH_ASSERT_MSG(out.code != -1, "the broker kept running with an unknown flag");
    AH_ASSERT_MSG(ai_is_nats() || out.code == 1, "an unknown flag gave exit code %d", out.code);
    AH_ASSERT_MSG(strstr(out.err, "no_such_flag") || strstr(out.out, "no_such_flag"),
                  "the error does not name the flag: %s%s", out.out, out.err);
    ah_output_free(&out);
    if (!ai_is_nats()) {
        /* A nats-server flag aerie-leaf rightly lacks is refused with the reason. */
        char *argv2[] = {(char *)bin, "-p", port, "-cluster", "nats://127.0.0.1:6222", NULL};
        out = ah_run_capture("options", argv2, 5000);
        AH_ASSERT(out.code != 0);
        AH_ASSERT_CONTAINS(out.err, "clustering belongs to the hub");
        ah_output_free(&out);
    }
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"one_dash_user", case_one_dash_user, 20},
        {"one_dash_token", case_one_dash_token, 20},
        {"one_dash_config_and_more", case_one_dash_config_and_more, 20},
        {"two_dash_and_equals", case_two_dash_and_equals, 20},
        {"unknown_flag", case_unknown_flag, 20},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
