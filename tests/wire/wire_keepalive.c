/* Compatibility: server-initiated keepalive. With `ping_interval: "1s"` the broker PINGs an
 * idle client; a client that answers stays connected, one that does not is told
 * `-ERR 'Stale Connection'` and closed once `ping_max` PINGs are outstanding
 * (nats-wire-notes §1.6). Timing is only bounded loosely: these tests check what happens,
 * not how fast. */
#include <string.h>
#include <unistd.h>

#include "interop.h"

#define QUIET "{\"verbose\":false,\"pedantic\":false}"

static void case_server_pings_answered(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "ping_interval: \"1s\"\nping_max: 2\n"};
    ai_broker_start(&b, &o);
    int fd = ai_client(b.port, QUIET);
    int pings = 0;
    int64_t end = ah_now_ms() + 4000;
    char buf[256];
    while (ah_now_ms() < end) {
        int n = ah_read_for(fd, buf, sizeof buf, 200);
        if (n == 0)
            continue;
        /* Only PINGs may arrive unasked on an idle connection. */
        AH_ASSERT_MSG(ai_count(buf, "PING\r\n") * 6 == n, "unexpected bytes: %s", buf);
        for (int i = ai_count(buf, "PING\r\n"); i > 0; i--, pings++)
            AH_ASSERT(ah_send(fd, "PONG\r\n") == 0);
    }
    /* nats-server pings about once per interval, skipping a tick after client traffic
     * (our PONGs count); over 4 s that is at least two. More than 10 would be a ping storm. */
    AH_ASSERT_MSG(pings >= 2 && pings <= 10, "%d server PINGs in 4 s with ping_interval 1s", pings);
    printf("  %d server PINGs answered in 4 s\n", pings);
    /* Still connected and working. */
    AH_ASSERT(ah_send(fd, "SUB k 1\r\nPUB k 1\r\nx\r\n") == 0);
    ai_sync(fd, buf, sizeof buf, 3000);
    AH_ASSERT_CONTAINS(buf, "MSG k 1 1\r\nx\r\n");
    close(fd);
    ai_broker_free(&b);
}

static void case_stale_connection(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "ping_interval: \"1s\"\nping_max: 2\n"};
    ai_broker_start(&b, &o);
    int fd = ai_client(b.port, QUIET);
    int64_t t0 = ah_now_ms();
    /* Never answer: ping_max (2) PINGs go unanswered, then the broker gives up. */
    ai_expect_close(fd, "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n", 10000, "silent client");
    AH_ASSERT_MSG(ah_now_ms() - t0 >= 1500, "stale after only %lld ms",
                  (long long)(ah_now_ms() - t0));
    close(fd);
    ai_broker_free(&b);
}

static void case_default_no_early_ping(void)
{
    ai_broker b;
    ai_broker_start(&b, NULL);
    int fd = ai_client(b.port, QUIET);
    /* Default ping_interval is 2 minutes. nats-server caps the first PING to a client at
     * about 2 s after connect (an RTT probe), so one early PING is allowed; anything else
     * within 3 s is not. */
    char buf[256];
    int n = ah_read_for(fd, buf, sizeof buf, 3000);
    AH_ASSERT_MSG(n == 0 || strcmp(buf, "PING\r\n") == 0, "idle client got: %s", buf);
    if (n)
        AH_ASSERT(ah_send(fd, "PONG\r\n") == 0);
    ai_expect_sync(fd, "");
    close(fd);
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"server_pings_answered", case_server_pings_answered, 30},
        {"stale_connection", case_stale_connection, 30},
        {"default_no_early_ping", case_default_no_early_ping, 30},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
