/* Tests of aerie-relay through relay_ctl.h. Each case owns both ends of the relayed link:
 * it listens on a target port itself, connects through the relay, and accepts the relay's
 * upstream connection, so it can observe exactly what each side sees under cut,
 * blackhole, heal, delay and rate. */
#include "harness/harness.h"
#include "harness/relay_ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int listen_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    AH_ASSERT(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    AH_ASSERT(listen(fd, 16) == 0);
    return fd;
}

/* Accepts one connection within timeout_ms; -1 if none arrived. */
static int accept_within(int lfd, int timeout_ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    return accept(lfd, NULL, NULL);
}

/* A target listener, a relay in front of it, and one connection through it. */
struct link {
    ah_relay relay;
    int lfd;
    int client; /* our end towards the relay */
    int server; /* the relay's upstream connection, accepted by us */
};

static void link_open(struct link *l)
{
    int port = ah_free_port();
    l->lfd = listen_port(port);
    AH_ASSERT(ah_relay_start(&l->relay, port) == 0);
    l->client = ah_connect(l->relay.port);
    AH_ASSERT(l->client >= 0);
    l->server = accept_within(l->lfd, 5000);
    AH_ASSERT_MSG(l->server >= 0, "relay did not connect to the target");
}

static void link_close(struct link *l)
{
    close(l->client);
    close(l->server);
    close(l->lfd);
    ah_relay_stop(&l->relay);
}

static void cmd_ok(ah_relay *r, const char *cmd, const char *expect)
{
    char reply[600];
    int rc = ah_relay_cmd(r, cmd, reply, sizeof reply);
    AH_ASSERT_MSG(rc == 0, "relay '%s' answered '%s'", cmd, reply);
    AH_ASSERT_CONTAINS(reply, expect);
}

/* Sends one byte each way and returns the round trip in ms. */
static int64_t round_trip(struct link *l)
{
    char buf[16];
    int64_t t0 = ah_now_ms();
    AH_ASSERT(ah_send(l->client, "p") == 0);
    AH_ASSERT_EQ_INT(ah_read_until(l->server, buf, sizeof buf, "p", 5000), 1);
    AH_ASSERT(ah_send(l->server, "q") == 0);
    AH_ASSERT_EQ_INT(ah_read_until(l->client, buf, sizeof buf, "q", 5000), 1);
    return ah_now_ms() - t0;
}

static void t_forwards_both_ways(void)
{
    struct link l;
    link_open(&l);
    char buf[256];
    AH_ASSERT(ah_send(l.client, "hello hub\r\n") == 0);
    ah_read_until(l.server, buf, sizeof buf, "\r\n", 3000);
    AH_ASSERT_EQ_STR(buf, "hello hub\r\n");
    AH_ASSERT(ah_send(l.server, "hello leaf\r\n") == 0);
    ah_read_until(l.client, buf, sizeof buf, "\r\n", 3000);
    AH_ASSERT_EQ_STR(buf, "hello leaf\r\n");

    /* 1 MiB with a position-dependent pattern arrives complete and in order. */
    enum { N = 1 << 20 };
    unsigned char *out = malloc(N), *in = malloc(N);
    AH_ASSERT(out && in);
    for (size_t i = 0; i < N; i++)
        out[i] = (unsigned char)(i * 7 + (i >> 11));
    if (fork() == 0) { /* writer child: the relay needs a reader on the other side */
        _exit(ah_send_n(l.client, out, N) == 0 ? 0 : 1);
    }
    size_t got = 0;
    int64_t deadline = ah_now_ms() + 15000;
    while (got < N && ah_now_ms() < deadline) {
        ssize_t n = recv(l.server, in + got, N - got, 0);
        AH_ASSERT(n > 0);
        got += (size_t)n;
    }
    int st = 0;
    wait(&st);
    AH_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    AH_ASSERT_EQ_INT(got, N);
    AH_ASSERT(memcmp(in, out, N) == 0);
    free(in);
    free(out);

    char reply[600];
    AH_ASSERT(ah_relay_cmd(&l.relay, "stats", reply, sizeof reply) == 0);
    AH_ASSERT_CONTAINS(reply, "\"state\":\"normal\"");
    AH_ASSERT_CONTAINS(reply, "\"connections\":1");
    char expect[64];
    snprintf(expect, sizeof expect, "\"bytes_up\":%d", 11 + N);
    AH_ASSERT_CONTAINS(reply, expect);
    AH_ASSERT_CONTAINS(reply, "\"bytes_down\":12");

    /* A FIN from one side reaches the other side as a FIN. */
    shutdown(l.client, SHUT_WR);
    AH_ASSERT(ah_wait_closed(l.server, NULL, 0, 3000));
    link_close(&l);
}

static void t_cut_resets_and_refuses(void)
{
    struct link l;
    link_open(&l);
    cmd_ok(&l.relay, "cut", "OK cut");
    AH_ASSERT_MSG(ah_wait_closed(l.client, NULL, 0, 3000), "client side not closed by cut");
    AH_ASSERT_MSG(ah_wait_closed(l.server, NULL, 0, 3000), "target side not closed by cut");
    /* RST, not FIN: a send on the reset socket fails. */
    AH_ASSERT_EQ_INT(ah_send(l.client, "x"), -1);

    /* While cut, a new connection is closed at once and never reaches the target. */
    int c2 = ah_connect(l.relay.port);
    if (c2 >= 0) {
        AH_ASSERT(ah_wait_closed(c2, NULL, 0, 3000));
        close(c2);
    }
    AH_ASSERT_EQ_INT(accept_within(l.lfd, 300), -1);
    char reply[600];
    AH_ASSERT(ah_relay_cmd(&l.relay, "stats", reply, sizeof reply) == 0);
    AH_ASSERT_CONTAINS(reply, "\"state\":\"cut\"");
    AH_ASSERT_CONTAINS(reply, "\"connections\":0");

    cmd_ok(&l.relay, "heal", "OK heal");
    close(l.client);
    close(l.server);
    l.client = ah_connect(l.relay.port);
    AH_ASSERT(l.client >= 0);
    l.server = accept_within(l.lfd, 3000);
    AH_ASSERT(l.server >= 0);
    round_trip(&l);
    link_close(&l);
}

static void t_blackhole_holds_then_heals(void)
{
    struct link l;
    link_open(&l);
    round_trip(&l);
    cmd_ok(&l.relay, "blackhole", "OK blackhole");
    AH_ASSERT(ah_send(l.client, "up-1") == 0);
    AH_ASSERT(ah_send(l.server, "down-1") == 0);
    char buf[256];
    /* Nothing arrives and nothing closes (ah_wait_closed drains and reports closes). */
    AH_ASSERT_EQ_INT(ah_read_for(l.server, buf, sizeof buf, 600), 0);
    AH_ASSERT(!ah_wait_closed(l.client, buf, sizeof buf, 200));
    AH_ASSERT_EQ_STR(buf, "");
    AH_ASSERT(!ah_wait_closed(l.server, buf, sizeof buf, 200));
    AH_ASSERT_EQ_STR(buf, "");

    /* A connection made during the outage does not reach the target. */
    int c2 = ah_connect(l.relay.port);
    AH_ASSERT(c2 >= 0);
    AH_ASSERT(ah_send(c2, "second") == 0);
    AH_ASSERT_EQ_INT(accept_within(l.lfd, 400), -1);
    char reply[600];
    AH_ASSERT(ah_relay_cmd(&l.relay, "stats", reply, sizeof reply) == 0);
    AH_ASSERT_CONTAINS(reply, "\"state\":\"blackhole\"");

    /* Heal: held bytes are delivered in order, and the held connection goes through. */
    cmd_ok(&l.relay, "heal", "OK heal");
    ah_read_until(l.server, buf, sizeof buf, "up-1", 3000);
    AH_ASSERT_EQ_STR(buf, "up-1");
    ah_read_until(l.client, buf, sizeof buf, "down-1", 3000);
    AH_ASSERT_EQ_STR(buf, "down-1");
    int s2 = accept_within(l.lfd, 3000);
    AH_ASSERT_MSG(s2 >= 0, "held connection not connected after heal");
    ah_read_until(s2, buf, sizeof buf, "second", 3000);
    AH_ASSERT_EQ_STR(buf, "second");
    round_trip(&l);
    close(c2);
    close(s2);
    link_close(&l);
}

static void t_rate_limits_throughput(void)
{
    struct link l;
    link_open(&l);
    cmd_ok(&l.relay, "rate 8000", "OK rate 8000");
    /* The target streams as fast as it can; we count what arrives in 2 s. */
    pid_t w = fork();
    if (w == 0) {
        char block[4096];
        memset(block, 'r', sizeof block);
        int64_t end = ah_now_ms() + 2500;
        while (ah_now_ms() < end)
            if (send(l.server, block, sizeof block, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                ah_sleep_ms(5);
        _exit(0);
    }
    char buf[65536];
    size_t got = 0;
    int64_t t0 = ah_now_ms();
    while (ah_now_ms() - t0 < 2000) {
        int n = ah_read_for(l.client, buf, sizeof buf, (int)(2000 - (ah_now_ms() - t0)));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int64_t took = ah_now_ms() - t0;
    waitpid(w, NULL, 0);
    fprintf(stderr, "rate 8000: %zu bytes in %lld ms\n", got, (long long)took);
    AH_ASSERT_MSG(got < 3 * 8000 * 2, "%zu bytes in 2 s through a 8000 B/s cap", got);
    AH_ASSERT_MSG(got > 8000 / 2, "only %zu bytes in 2 s: throttle starves the link", got);

    /* Back to unlimited: the backlog now drains quickly. */
    cmd_ok(&l.relay, "rate 0", "OK rate 0");
    size_t more = 0;
    for (;;) {
        int n = ah_read_for(l.client, buf, sizeof buf, 300);
        if (n <= 0)
            break;
        more += (size_t)n;
    }
    AH_ASSERT_MSG(more > 3 * 8000 * 2, "unlimited rate released only %zu bytes", more);
    link_close(&l);
}

static void t_delay_adds_latency(void)
{
    struct link l;
    link_open(&l);
    int64_t base = round_trip(&l);
    cmd_ok(&l.relay, "delay 200", "OK delay 200");
    int64_t slow = round_trip(&l);
    AH_ASSERT_MSG(slow >= 150 && slow >= base + 150, "round trip %lld ms (base %lld ms)",
                  (long long)slow, (long long)base);
    cmd_ok(&l.relay, "delay 0", "OK delay 0");
    AH_ASSERT(round_trip(&l) < slow);
    link_close(&l);
}

static void t_control_errors(void)
{
    ah_relay r;
    AH_ASSERT(ah_relay_start(&r, ah_free_port()) == 0);
    char reply[600];
    const char *bad[] = {"bogus", "delay", "delay abc", "delay -1", "rate 1.5", "cut now", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        AH_ASSERT_MSG(ah_relay_cmd(&r, bad[i], reply, sizeof reply) == -1, "'%s' accepted", bad[i]);
        AH_ASSERT_MSG(strncmp(reply, "ERR ", 4) == 0, "'%s' answered '%s'", bad[i], reply);
    }
    cmd_ok(&r, "help", "stats");
    cmd_ok(&r, "stats", "\"rate\":0");

    /* With nothing listening at the target, a client is reset promptly, not left hanging. */
    int c = ah_connect(r.port);
    AH_ASSERT(c >= 0);
    AH_ASSERT(ah_wait_closed(c, NULL, 0, 3000));
    close(c);
    AH_ASSERT(ah_alive(&r.proc));
    ah_relay_stop(&r);
    AH_ASSERT_EQ_INT(r.proc.pid, 0);
}

/* Runs aerie-relay with args and returns its exit code (stdout/stderr into log). */
static int relay_exit_code(char *const argv[], char **log_text)
{
    char *dir = ah_mkdtemp("relaycli");
    char log[600];
    snprintf(log, sizeof log, "%s/out.log", dir);
    ah_proc p;
    AH_ASSERT(ah_spawn(&p, log, argv) == 0);
    for (int i = 0; i < 250 && ah_alive(&p); i++)
        ah_sleep_ms(20);
    int st = ah_stop(&p, SIGKILL, 100);
    *log_text = ah_read_file(log);
    ah_rmrf(dir);
    free(dir);
    AH_ASSERT(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void t_command_line(void)
{
    const char *bin = ah_bin("aerie-relay");
    char *text = NULL;
    char *no_to[] = {(char *)bin, "--listen", "4000", NULL};
    AH_ASSERT_EQ_INT(relay_exit_code(no_to, &text), 2);
    AH_ASSERT_CONTAINS(text, "--to");
    free(text);
    char *bad_port[] = {(char *)bin, "--listen", "70000", "--to", "127.0.0.1:1", NULL};
    AH_ASSERT_EQ_INT(relay_exit_code(bad_port, &text), 2);
    AH_ASSERT_CONTAINS(text, "bad option or value");
    free(text);
    /* Only loopback targets: the relay is a test tool and never sends traffic elsewhere. */
    char *remote[] = {(char *)bin, "--listen", "4000", "--to", "192.0.2.1:4222", NULL};
    AH_ASSERT_EQ_INT(relay_exit_code(remote, &text), 2);
    AH_ASSERT_CONTAINS(text, "loopback");
    free(text);
}

/* Commands also work on stdin, answered on stdout (for a person at a terminal). */
static void t_stdin_control(void)
{
    int port = ah_free_port();
    char listen_s[16];
    snprintf(listen_s, sizeof listen_s, "%d", port);
    int in[2], out[2];
    AH_ASSERT(pipe(in) == 0 && pipe(out) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(ah_bin("aerie-relay"), "aerie-relay", "--listen", listen_s, "--to", "127.0.0.1:9",
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char buf[512];
    ah_read_until(out[0], buf, sizeof buf, "\n", 5000);
    AH_ASSERT_CONTAINS(buf, "READY listen=");
    AH_ASSERT(write(in[1], "delay 5\nstats\nquit\n", 19) == 19);
    ah_read_until(out[0], buf, sizeof buf, "OK bye\n", 5000);
    AH_ASSERT_CONTAINS(buf, "OK delay 5\n");
    AH_ASSERT_CONTAINS(buf, "\"delay_ms\":5");
    AH_ASSERT_CONTAINS(buf, "OK bye\n");
    int st = 0;
    AH_ASSERT(waitpid(pid, &st, 0) == pid);
    AH_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"forwards_both_ways", t_forwards_both_ways, 30},
        {"cut_resets_and_refuses", t_cut_resets_and_refuses, 30},
        {"blackhole_holds_then_heals", t_blackhole_holds_then_heals, 30},
        {"rate_limits_throughput", t_rate_limits_throughput, 30},
        {"delay_adds_latency", t_delay_adds_latency, 30},
        {"control_errors", t_control_errors, 30},
        {"command_line", t_command_line, 30},
        {"stdin_control", t_stdin_control, 30},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
