/* Compatibility: process signals. SIGTERM stops the broker promptly after closing its
 * clients; SIGHUP reloads the config file so that new connections see the new settings (here:
 * a changed auth token) without a restart.
 *
 * Known difference, on purpose: nats-server 2.9.10 exits with status 1 after a SIGTERM
 * shutdown (0 after SIGINT). aerie-leaf must exit 0, which is what service managers expect
 * from a clean stop; the nats-server run accepts 1 so that the test stays valid for both. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop.h"

#define QUIET "{\"verbose\":false,\"pedantic\":false}"

static void case_sigterm(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int c1 = ai_client(b.port, QUIET), c2 = ai_client(b.port, QUIET);
    AH_ASSERT(ah_send(c1, "SUB s 1\r\n") == 0);
    ai_expect_sync(c1, "");
    int64_t t0 = ah_now_ms();
    int status = ai_broker_stop(&b, SIGTERM, 8000);
    int64_t took = ah_now_ms() - t0;
    AH_ASSERT_MSG(status >= 0 && WIFEXITED(status),
                  "%s did not exit by itself after SIGTERM "
                  "(status 0x%x, %lld ms)",
                  ai_broker_name(), status, (long long)took);
    int code = WEXITSTATUS(status);
    if (ai_is_nats())
        AH_ASSERT_MSG(code == 0 || code == 1, "nats-server exit code %d", code);
    else
        AH_ASSERT_MSG(code == 0, "exit code %d after SIGTERM", code);
    AH_ASSERT_MSG(took < 5000, "shutdown took %lld ms", (long long)took);
    /* Both clients were disconnected (the broker is gone, so the sockets must be closed). */
    AH_ASSERT(ah_wait_closed(c1, NULL, 0, 1000));
    AH_ASSERT(ah_wait_closed(c2, NULL, 0, 1000));
    close(c1);
    close(c2);
    /* The port is free again. */
    AH_ASSERT(ah_connect(b.port) < 0);
    ai_broker_free(&b);
}

static void case_sighup_reload_token(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "authorization { token: \"old-token\" }\n"};
    ai_broker_start(&b, &o);
    int early = ai_client(b.port, "{\"verbose\":false,\"auth_token\":\"old-token\"}");
    ai_broker_reload(&b, "authorization { token: \"new-token\" }\n");
    /* Reload is asynchronous: poll until the new token is accepted. Each attempt sends
     * CONNECT without waiting for INFO, because nats-server re-checks every connection on
     * reload, including one that has not sent CONNECT yet: such a connection is closed with
     * Authorization Violation right after its INFO, and even a connection whose CONNECT
     * raced with the reload was seen closed after its PONG. So an attempt counts only when
     * a second PING, 200 ms later, is still answered; otherwise it is retried. */
    int64_t deadline = ah_now_ms() + 5000;
    int fd = -1;
    while (fd < 0) {
        AH_ASSERT_MSG(ah_now_ms() < deadline, "new token not accepted 5 s after SIGHUP");
        int t = ah_connect(b.port);
        AH_ASSERT(t >= 0);
        AH_ASSERT(ah_send(t, "CONNECT {\"verbose\":false,\"auth_token\":\"new-token\"}\r\n"
                             "PING\r\n") == 0);
        char buf[4096];
        ah_read_until(t, buf, sizeof buf, "PONG\r\n", 3000);
        AH_ASSERT_MSG(strncmp(buf, "INFO ", 5) == 0, "no INFO first: %s", buf);
        const char *rest = strstr(buf, "\r\n") + 2;
        if (strcmp(rest, "PONG\r\n") == 0) {
            ah_sleep_ms(200);
            AH_ASSERT(ah_send(t, "PING\r\n") == 0);
            ah_read_until(t, buf, sizeof buf, "PONG\r\n", 3000);
            if (strcmp(buf, "PONG\r\n") == 0) {
                fd = t;
                break;
            }
            rest = buf;
        }
        AH_ASSERT_MSG(strstr(rest, "-ERR 'Authorization Violation'") != NULL, "got: %s", rest);
        close(t);
        ah_sleep_ms(100);
    }
    ai_expect_sync(fd, "");
    close(fd);
    /* The old token is refused for new connections. */
    int t = ai_open(b.port, NULL, 0);
    AH_ASSERT(ah_send(t, "CONNECT {\"verbose\":false,\"auth_token\":\"old-token\"}\r\n"
                         "PING\r\n") == 0);
    ai_expect_close(t, "-ERR 'Authorization Violation'\r\n", 3000, "old token after reload");
    close(t);
    /* A client that authenticated with the old token: nats-server re-checks existing
     * clients on reload and closes those that no longer pass (with Authorization
     * Violation). Keeping them is also defensible for an edge broker, so this is not
     * asserted; the observed behaviour is printed for the record. */
    char buf[256];
    bool closed = ah_wait_closed(early, buf, sizeof buf, 500);
    buf[strcspn(buf, "\r\n")] = '\0';
    printf("  client with the old token after reload: %s %s\n", closed ? "closed" : "kept", buf);
    close(early);
    AH_ASSERT(ah_alive(&b.proc));
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"sigterm", case_sigterm, 30},
        {"sighup_reload_token", case_sighup_reload_token, 30},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
