/* Compatibility: connection start-up on the raw client protocol. INFO comes first and carries
 * the fields clients rely on; CONNECT options take nats-server's defaults (verbose and
 * pedantic are ON when CONNECT is absent or silent about them); echo, protocol level and
 * no_responders are honoured; authentication (user/password, token, config users) accepts
 * good credentials and rejects everything else with the exact nats-server error text.
 * Facts: nats-wire-notes §1.2, §1.3, §1.9 (verified against nats-server 2.9.10). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"

#define AUTH_VIOLATION "-ERR 'Authorization Violation'\r\n"

static json_t *parse_info(const char *info)
{
    json_error_t err;
    json_t *j = json_loads(info, 0, &err);
    AH_ASSERT_MSG(j && json_is_object(j), "INFO is not a JSON object (%s): %s", err.text, info);
    return j;
}

static void case_info_first(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int fd = ah_connect(b.port);
    AH_ASSERT(fd >= 0);
    char buf[8192];
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    /* INFO is sent before the client says anything, as one CRLF-terminated line. nats-server
     * puts a space before the CRLF; clients do not care, so either is accepted. */
    AH_ASSERT_MSG(strncmp(buf, "INFO {", 6) == 0, "first bytes: %s", buf);
    size_t len = strlen(buf);
    AH_ASSERT_MSG(len > 2 && strcmp(buf + len - 2, "\r\n") == 0 && !strstr(buf, "\r\n")[2],
                  "INFO is not exactly one line: %s", buf);
    buf[len - 2] = '\0';
    json_t *j = parse_info(buf + 5);
    json_t *v;
    v = json_object_get(j, "server_id");
    AH_ASSERT_MSG(json_is_string(v) && json_string_length(v) > 0, "server_id: %s", buf);
    v = json_object_get(j, "version");
    AH_ASSERT_MSG(json_is_string(v), "version: %s", buf);
    /* Clients gate headers on the version; it must read as >= 2.2.0. */
    int major = 0, minor = 0;
    AH_ASSERT_MSG(sscanf(json_string_value(v), "%d.%d", &major, &minor) == 2 &&
                      (major > 2 || (major == 2 && minor >= 2)),
                  "version %s is below 2.2", json_string_value(v));
    v = json_object_get(j, "proto");
    AH_ASSERT_MSG(json_is_integer(v) && json_integer_value(v) == 1, "proto: %s", buf);
    AH_ASSERT_MSG(json_is_true(json_object_get(j, "headers")), "headers: %s", buf);
    v = json_object_get(j, "max_payload");
    AH_ASSERT_MSG(json_is_integer(v) && json_integer_value(v) == 1048576,
                  "max_payload (default 1 MiB): %s", buf);
    v = json_object_get(j, "auth_required");
    AH_ASSERT_MSG(!v || json_is_false(v), "auth_required without auth: %s", buf);
    json_decref(j);
    /* Nothing else arrives until the client speaks. */
    AH_ASSERT_EQ_INT(ah_read_for(fd, buf, sizeof buf, 300), 0);
    close(fd);
    ai_broker_free(&b);
}

static void check_auth_required(const ai_broker *b)
{
    char info[8192];
    int fd = ai_open(b->port, info, sizeof info);
    json_t *j = parse_info(info);
    AH_ASSERT_MSG(json_is_true(json_object_get(j, "auth_required")), "auth_required: %s", info);
    json_decref(j);
    close(fd);
}

static void case_info_auth_required(void)
{
    ai_broker b;
    ai_broker_opts o = {.user = "alice", .pass = "s3cret"};
    ai_broker_start(&b, &o);
    check_auth_required(&b);
    ai_broker_free(&b);
    ai_broker_opts t = {.token = "tok123"};
    ai_broker_start(&b, &t);
    check_auth_required(&b);
    ai_broker_free(&b);
}

static void case_no_connect_is_verbose_pedantic(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int fd = ai_open(b.port, NULL, 0);
    /* No CONNECT at all: the connection is verbose, so PUB is acknowledged... */
    AH_ASSERT(ah_send(fd, "PUB a 1\r\nx\r\n") == 0);
    ai_expect_sync(fd, "+OK\r\n");
    /* ...and pedantic, so a wildcard publish subject is reported. nats-server then still
     * processes the message and sends +OK; a stricter server may drop it instead, so only
     * the -ERR line is required. */
    AH_ASSERT(ah_send(fd, "PUB a.* 1\r\nx\r\n") == 0);
    char buf[1024];
    ai_sync(fd, buf, sizeof buf, 3000);
    AH_ASSERT_MSG(strncmp(buf, "-ERR 'Invalid Publish Subject'\r\n", 32) == 0, "got: %s", buf);
    close(fd);
    ai_broker_free(&b);
}

static void case_verbose_ok(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int fd = ai_open(b.port, NULL, 0);
    /* CONNECT {} means verbose: +OK after CONNECT, SUB, PUB, HPUB and UNSUB, never PING.
     * echo is off so the PUB produces no MSG to interleave. */
    AH_ASSERT(ah_send(fd, "CONNECT {\"echo\":false,\"headers\":true}\r\n"
                          "SUB a 1\r\n"
                          "PUB a 1\r\nx\r\n"
                          "HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
                          "UNSUB 1\r\n"
                          "UNSUB 77\r\n") == 0);
    ai_expect_sync(fd, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
    ai_expect_sync(fd, "");
    close(fd);
    ai_broker_free(&b);
}

static void case_echo(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int quiet = ai_client(b.port, "{\"verbose\":false,\"echo\":false}");
    int loud = ai_client(b.port, "{\"verbose\":false}");
    AH_ASSERT(ah_send(quiet, "SUB e 1\r\n") == 0);
    AH_ASSERT(ah_send(loud, "SUB e 1\r\n") == 0);
    ai_expect_sync(quiet, "");
    ai_expect_sync(loud, "");
    AH_ASSERT(ah_send(quiet, "PUB e 5\r\nquiet\r\n") == 0);
    ai_expect_sync(quiet, ""); /* its own message does not come back */
    ai_expect_sync(loud, "MSG e 1 5\r\nquiet\r\n");
    AH_ASSERT(ah_send(loud, "PUB e 4\r\nloud\r\n") == 0);
    ai_expect_sync(loud, "MSG e 1 4\r\nloud\r\n"); /* echo defaults to true */
    ai_expect_sync(quiet, "MSG e 1 4\r\nloud\r\n");
    close(quiet);
    close(loud);
    ai_broker_free(&b);
}

static void case_connect_option_errors(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int fd = ai_open(b.port, NULL, 0);
    AH_ASSERT(ah_send(fd, "CONNECT {\"verbose\":false,\"protocol\":5}\r\nPING\r\n") == 0);
    ai_expect_close(fd, "-ERR 'invalid client protocol'\r\n", 3000, "protocol 5");
    close(fd);
    fd = ai_open(b.port, NULL, 0);
    AH_ASSERT(ah_send(fd, "CONNECT {\"verbose\":false,\"no_responders\":true}\r\nPING\r\n") == 0);
    ai_expect_close(fd, "-ERR 'no responders requires headers support'\r\n", 3000,
                    "no_responders without headers");
    close(fd);
    /* protocol 0 and 1 are both fine. */
    close(ai_client(b.port, "{\"verbose\":false,\"protocol\":0}"));
    close(ai_client(b.port, "{\"verbose\":false,\"protocol\":1,\"headers\":true,"
                            "\"no_responders\":true}"));
    ai_broker_free(&b);
}

static void case_malformed_connect(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int fd = ai_open(b.port, NULL, 0);
    /* nats-server closes without a word on invalid JSON; an -ERR first is also fine. */
    AH_ASSERT(ah_send(fd, "CONNECT {verbose:false}\r\nPING\r\n") == 0);
    ai_expect_silent_close(fd, 3000, "malformed CONNECT JSON");
    close(fd);
    ai_broker_free(&b);
}

/* Good credentials work, bad ones get Authorization Violation and a close. */
static void check_auth(const ai_broker *b, const char *good, const char *const *bad, int nbad)
{
    close(ai_client(b->port, good));
    for (int i = 0; i < nbad; i++) {
        int fd = ai_open(b->port, NULL, 0);
        char line[512];
        snprintf(line, sizeof line, "CONNECT %s\r\nPING\r\n", bad[i]);
        AH_ASSERT(ah_send(fd, line) == 0);
        ai_expect_close(fd, AUTH_VIOLATION, 3000, bad[i]);
        close(fd);
    }
    /* Any operation before CONNECT is an authorization violation when auth is on. */
    const char *early[] = {"PING\r\n", "SUB a 1\r\n", "PUB a 1\r\nx\r\n"};
    for (int i = 0; i < 3; i++) {
        int fd = ai_open(b->port, NULL, 0);
        AH_ASSERT(ah_send(fd, early[i]) == 0);
        ai_expect_close(fd, AUTH_VIOLATION, 3000, early[i]);
        close(fd);
    }
}

static void case_auth_user_pass(void)
{
    ai_broker b;
    ai_broker_opts o = {.user = "alice", .pass = "s3cret"};
    ai_broker_start(&b, &o);
    const char *bad[] = {
        "{\"verbose\":false,\"user\":\"alice\",\"pass\":\"nope\"}",
        "{\"verbose\":false,\"user\":\"bob\",\"pass\":\"s3cret\"}",
        "{\"verbose\":false}",
        "{\"verbose\":false,\"auth_token\":\"s3cret\"}",
    };
    check_auth(&b, "{\"verbose\":false,\"user\":\"alice\",\"pass\":\"s3cret\"}", bad, 4);
    ai_broker_free(&b);
}

static void case_auth_token(void)
{
    ai_broker b;
    ai_broker_opts o = {.token = "tok123"};
    ai_broker_start(&b, &o);
    const char *bad[] = {
        "{\"verbose\":false,\"auth_token\":\"tok124\"}",
        "{\"verbose\":false}",
        "{\"verbose\":false,\"user\":\"tok123\"}",
    };
    check_auth(&b, "{\"verbose\":false,\"auth_token\":\"tok123\"}", bad, 3);
    ai_broker_free(&b);
}

static void case_auth_config_users(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "authorization {\n"
                                  "  users = [\n"
                                  "    {user: pilot, password: p1}\n"
                                  "    {user: ground, password: \"g 2\"}\n"
                                  "  ]\n"
                                  "}\n"};
    ai_broker_start(&b, &o);
    const char *bad[] = {
        "{\"verbose\":false,\"user\":\"pilot\",\"pass\":\"g 2\"}",
        "{\"verbose\":false,\"user\":\"nobody\",\"pass\":\"p1\"}",
    };
    check_auth(&b, "{\"verbose\":false,\"user\":\"pilot\",\"pass\":\"p1\"}", bad, 2);
    close(ai_client(b.port, "{\"verbose\":false,\"user\":\"ground\",\"pass\":\"g 2\"}"));
    ai_broker_free(&b);

    ai_broker_opts t = {.config = "authorization { token: \"cfgtok\" }\n"};
    ai_broker_start(&b, &t);
    const char *badt[] = {"{\"verbose\":false,\"auth_token\":\"x\"}"};
    check_auth(&b, "{\"verbose\":false,\"auth_token\":\"cfgtok\"}", badt, 1);
    ai_broker_free(&b);
}

static void case_auth_timeout(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "authorization { user: u, password: p, timeout: 1 }\n"};
    ai_broker_start(&b, &o);
    int fd = ai_open(b.port, NULL, 0);
    int64_t t0 = ah_now_ms();
    ai_expect_close(fd, "-ERR 'Authentication Timeout'\r\n", 5000, "silent client");
    /* A lower bound only: the broker must actually wait for the client (1 s configured). */
    AH_ASSERT_MSG(ah_now_ms() - t0 >= 500, "closed after %lld ms, before the 1 s timeout",
                  (long long)(ah_now_ms() - t0));
    close(fd);
    /* A client that does authenticate in time is not affected by the timer. */
    fd = ai_client(b.port, "{\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}");
    ah_sleep_ms(1500);
    ai_expect_sync(fd, "");
    close(fd);
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"info_first", case_info_first, 20},
        {"info_auth_required", case_info_auth_required, 20},
        {"no_connect_is_verbose_pedantic", case_no_connect_is_verbose_pedantic, 20},
        {"verbose_ok", case_verbose_ok, 20},
        {"echo", case_echo, 20},
        {"connect_option_errors", case_connect_option_errors, 20},
        {"malformed_connect", case_malformed_connect, 20},
        {"auth_user_pass", case_auth_user_pass, 30},
        {"auth_token", case_auth_token, 30},
        {"auth_config_users", case_auth_config_users, 30},
        {"auth_timeout", case_auth_timeout, 30},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
