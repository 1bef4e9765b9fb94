/* Compatibility: slow consumers and fast producers (nats-wire-notes §1.10).
 *
 * slow_consumer: a subscriber that never reads is disconnected once its pending output
 * passes `max_pending`, counted in /varz `slow_consumers`, while the publisher and a healthy
 * subscriber on the same subject carry on and the healthy one receives every message intact
 * and in order.
 *
 * fast_producer_stalled: nats-server's contract for a burst: a subscriber that reads, only
 * slower than the publisher, is not cut; the publisher is paused (its reads stall while the
 * subscriber's pending output is above half of max_pending) and every message arrives.
 *
 * hangup_while_stalled: a stalled publisher whose connection is reset must not make the
 * broker spin (a paused socket with a hang-up is reported by epoll on every pass unless the
 * broker stops watching it): the broker's CPU time stays low while the stall lasts.
 *
 * What is deliberately not asserted: how long stalls take. Neither is the close path:
 * nats-server sends nothing before closing a slow consumer, a compatible server may send
 * `-ERR 'Slow Consumer'` first. */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "interop.h"

enum { BODY = 16384, MAX_MSGS = 3000, AFTER = 30 };
static const char HDR[] = "MSG flood 1 16384\r\n";
#define HDR_LEN (sizeof HDR - 1)
#define MSG_LEN (HDR_LEN + BODY + 2)

/* A subscriber socket with a tiny receive buffer, so that the broker's pending output (not
 * the kernel's buffers) fills up quickly. */
static int tiny_subscriber(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    AH_ASSERT(fd >= 0);
    int small = 4096;
    AH_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    char buf[4096];
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    AH_ASSERT(strncmp(buf, "INFO ", 5) == 0);
    AH_ASSERT(ah_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB flood 1\r\n"
                          "PING\r\n") == 0);
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "PONG\r\n", 3000) > 0);
    AH_ASSERT_EQ_STR(buf, "PONG\r\n");
    return fd;
}

/* The healthy subscriber's stream, checked byte by byte: message i is HDR, BODY bytes of
 * 'a' + i % 26, CRLF. Server PINGs between messages are answered. */
typedef struct stream {
    int fd;
    long long msgs; /* complete messages seen */
    size_t pos;     /* offset inside the current message */
    int ping;       /* bytes of "PING\r\n" matched at a message boundary */
} stream;

static void stream_feed(stream *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (s->pos == 0 && (s->ping > 0 || c == 'P')) {
            AH_ASSERT_MSG(c == "PING\r\n"[s->ping], "bad byte 0x%02x between messages",
                          (unsigned char)c);
            if (++s->ping == 6) {
                s->ping = 0;
                AH_ASSERT(ah_send(s->fd, "PONG\r\n") == 0);
            }
            continue;
        }
        char want;
        if (s->pos < HDR_LEN)
            want = HDR[s->pos];
        else if (s->pos < HDR_LEN + BODY)
            want = (char)('a' + s->msgs % 26);
        else
            want = "\r\n"[s->pos - HDR_LEN - BODY];
        AH_ASSERT_MSG(c == want, "healthy subscriber: message %lld byte %zu is 0x%02x, not 0x%02x",
                      s->msgs, s->pos, (unsigned char)c, (unsigned char)want);
        if (++s->pos == MSG_LEN) {
            s->pos = 0;
            s->msgs++;
        }
    }
}

/* Reads the healthy stream until it holds `want` messages. */
static void stream_wait(stream *s, long long want)
{
    static char buf[65536];
    int64_t deadline = ah_now_ms() + 10000;
    while (s->msgs < want) {
        AH_ASSERT_MSG(ah_now_ms() < deadline, "healthy subscriber stuck at %lld of %lld messages",
                      s->msgs, want);
        ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            stream_feed(s, buf, (size_t)n);
            continue;
        }
        AH_ASSERT_MSG(n != 0, "healthy subscriber was disconnected after %lld messages", s->msgs);
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        poll(&pfd, 1, 50);
    }
}

/* An integer field of /varz; -1 when absent (required: fails the case instead). */
static long long varz_field(const ai_broker *b, const char *field, bool required)
{
    char *body = ai_http(b, "/varz");
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    AH_ASSERT_MSG(j != NULL, "/varz is not JSON: %s", err.text);
    json_t *v = json_object_get(j, field);
    AH_ASSERT_MSG(json_is_integer(v) || (!v && !required), "/varz %s missing or not an integer",
                  field);
    long long n = v ? json_integer_value(v) : -1;
    json_decref(j);
    free(body);
    return n;
}

static long long varz_slow_consumers(const ai_broker *b)
{
    return varz_field(b, "slow_consumers", true);
}

static void case_slow_consumer(void)
{
    ai_broker b;
    /* nats-server requires max_payload <= max_pending. */
    ai_broker_opts o = {.config = "max_pending: 65536\nmax_payload: 65536\n"
                                  "write_deadline: \"2s\"\n",
                        .monitor = true};
    ai_broker_start(&b, &o);
    AH_ASSERT_EQ_INT(varz_slow_consumers(&b), 0);
    int slow = tiny_subscriber(b.port);
    stream good = {.fd = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false}")};
    AH_ASSERT(ah_send(good.fd, "SUB flood 1\r\n") == 0);
    ai_expect_sync(good.fd, "");
    int pub = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false}");

    static char msg[BODY + 64];
    long long sent = 0, detected_at = -1;
    while (sent < MAX_MSGS && (detected_at < 0 || sent < detected_at + AFTER)) {
        int hl = snprintf(msg, sizeof msg, "PUB flood %d\r\n", BODY);
        memset(msg + hl, 'a' + (int)(sent % 26), BODY);
        memcpy(msg + hl + BODY, "\r\n", 2);
        AH_ASSERT(ah_send_n(pub, msg, (size_t)hl + BODY + 2) == 0);
        sent++;
        /* Lock step with the healthy subscriber, so only the stuck one accumulates. */
        stream_wait(&good, sent);
        if (detected_at < 0 && sent % 8 == 0 && varz_slow_consumers(&b) >= 1)
            detected_at = sent;
    }
    AH_ASSERT_MSG(detected_at >= 0, "no slow consumer reported after %lld x %d bytes", sent, BODY);

    /* The stuck subscriber was disconnected (after whatever the kernel had buffered). */
    AH_ASSERT_MSG(ah_wait_closed(slow, NULL, 0, 15000), "slow subscriber still connected");
    close(slow);
    /* The publisher is still connected and served. */
    char buf[256];
    ai_sync(pub, buf, sizeof buf, 5000);
    AH_ASSERT_MSG(strstr(buf, "-ERR") == NULL, "publisher got: %s", buf);
    /* The healthy subscriber got everything, and keeps getting new messages. */
    AH_ASSERT_EQ_INT(good.msgs, sent);
    AH_ASSERT(ah_send(pub, "PUB after 2\r\nok\r\n") == 0);
    AH_ASSERT(ah_send(good.fd, "SUB after 2\r\n") == 0);
    ai_sync(good.fd, buf, sizeof buf, 5000);
    AH_ASSERT(ah_send(pub, "PUB after 2\r\nok\r\n") == 0);
    ai_sync(pub, buf, sizeof buf, 5000);
    ai_sync(good.fd, buf, sizeof buf, 5000);
    AH_ASSERT_CONTAINS(buf, "MSG after 2 2\r\nok\r\n");
    AH_ASSERT_MSG(varz_slow_consumers(&b) >= 1, "slow_consumers went back to 0");
    printf("  slow consumer detected after %lld messages of %d bytes\n", detected_at, BODY);
    close(good.fd);
    close(pub);
    ai_broker_free(&b);
}

/* ---- fast producers ------------------------------------------------------------------- */

enum { BURST_MSGS = 3000, BURST_BODY = 1000 };

typedef struct burst {
    int fd;
    int sent;
} burst;

/* Publishes BURST_MSGS numbered messages as fast as the broker takes them. */
static void *burst_publisher(void *arg)
{
    burst *bu = arg;
    static char msg[BURST_BODY + 64];
    for (int i = 0; i < BURST_MSGS; i++) {
        int hl = snprintf(msg, sizeof msg, "PUB burst %d\r\n", BURST_BODY);
        memset(msg + hl, 'a' + i % 26, BURST_BODY);
        memcpy(msg + hl + BURST_BODY, "\r\n", 2);
        if (ah_send_n(bu->fd, msg, (size_t)hl + BURST_BODY + 2) != 0)
            break;
        bu->sent++;
    }
    return NULL;
}

static void case_fast_producer_stalled(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "max_pending: 262144\nmax_payload: 65536\n"
                                  "write_deadline: \"30s\"\n",
                        .monitor = true};
    ai_broker_start(&b, &o);
    /* A reader with a small receive buffer that takes 4 KiB per millisecond or so: much slower
     * than the publisher, but always reading. */
    int sub = tiny_subscriber(b.port);
    AH_ASSERT(ah_send(sub, "SUB burst 2\r\n") == 0);
    char sync[64];
    AH_ASSERT(ah_send(sub, "PING\r\n") == 0);
    AH_ASSERT(ah_read_until(sub, sync, sizeof sync, "PONG\r\n", 3000) > 0);
    burst bu = {.fd = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false}")};
    pthread_t th;
    pthread_create(&th, NULL, burst_publisher, &bu);
    /* Both subscriptions (sid 1 from tiny_subscriber's flood, sid 2) are on this socket; only
     * burst messages arrive. Every message is checked byte by byte, in order. */
    static const char hdr[] = "MSG burst 2 1000\r\n";
    size_t one = sizeof hdr - 1 + BURST_BODY + 2, pos = 0;
    long long got = 0;
    int64_t deadline = ah_now_ms() + (int64_t)(60000 * ah_timeout_scale());
    char buf[4096];
    while (got < BURST_MSGS) {
        AH_ASSERT_MSG(ah_now_ms() < deadline, "subscriber stuck at %lld of %d messages", got,
                      BURST_MSGS);
        ssize_t n = recv(sub, buf, sizeof buf, 0);
        AH_ASSERT_MSG(n > 0, "the slower subscriber was cut after %lld of %d messages", got,
                      BURST_MSGS);
        for (ssize_t i = 0; i < n; i++) {
            char want = pos < sizeof hdr - 1 ? hdr[pos]
                        : pos < sizeof hdr - 1 + BURST_BODY
                            ? (char)('a' + got % 26)
                            : "\r\n"[pos - (sizeof hdr - 1) - BURST_BODY];
            AH_ASSERT_MSG(buf[i] == want, "message %lld byte %zu is 0x%02x, not 0x%02x", got, pos,
                          (unsigned char)buf[i], (unsigned char)want);
            if (++pos == one) {
                pos = 0;
                got++;
            }
        }
        usleep(1000);
    }
    pthread_join(th, NULL);
    AH_ASSERT_EQ_INT(bu.sent, BURST_MSGS);
    AH_ASSERT_EQ_INT(varz_slow_consumers(&b), 0);
    /* The publisher is still connected and was never told off. */
    char tail[256];
    ai_sync(bu.fd, tail, sizeof tail, 5000);
    AH_ASSERT_MSG(strstr(tail, "-ERR") == NULL, "publisher got: %s", tail);
    /* nats-server 2.9.10 does not count stalls; aerie-leaf does (nats-server 2.11's name). */
    long long stalls = varz_field(&b, "stalled_clients", !ai_is_nats());
    if (!ai_is_nats())
        AH_ASSERT_MSG(stalls >= 1, "no stall counted in /varz stalled_clients");
    printf("  %d messages delivered to the slower subscriber; stalled_clients %lld\n", BURST_MSGS,
           stalls);
    close(bu.fd);
    close(sub);
    ai_broker_free(&b);
}

/* CPU seconds (user + system) the process has used. */
static double cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *st = ah_read_file(path);
    AH_ASSERT(st != NULL);
    /* Fields after the command (which may hold spaces) start behind the last ')'. */
    const char *p = strrchr(st, ')');
    AH_ASSERT(p != NULL);
    unsigned long ut = 0, stime = 0;
    int field = 2;
    for (p++; *p && field < 15; p++) {
        if (*p == ' ') {
            field++;
            if (field == 14)
                ut = strtoul(p + 1, NULL, 10);
            if (field == 15)
                stime = strtoul(p + 1, NULL, 10);
        }
    }
    free(st);
    return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void case_hangup_while_stalled(void)
{
    ai_broker b;
    ai_broker_opts o = {.config = "max_pending: 1048576\nmax_payload: 65536\n"
                                  "write_deadline: \"60s\"\n",
                        .monitor = true};
    ai_broker_start(&b, &o);
    int stuck = tiny_subscriber(b.port); /* never reads */
    int pub = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false}");
    /* 16 KiB messages until the broker stops reading the publisher (its socket takes nothing
     * for a second): the stuck subscriber, once the kernel's buffers are full, passes half
     * of max_pending and the publisher stalls, again and again, with its later messages
     * unread. */
    static char msg[BODY + 64];
    int hl = snprintf(msg, sizeof msg, "PUB flood %d\r\n", BODY);
    memset(msg + hl, 'x', BODY);
    memcpy(msg + hl + BODY, "\r\n", 2);
    size_t len = (size_t)hl + BODY + 2, off = 0;
    int sent = 0;
    while (sent < 4000) {
        struct pollfd pfd = {.fd = pub, .events = POLLOUT};
        if (poll(&pfd, 1, 1000) <= 0)
            break; /* the broker stopped reading: it is stalled */
        ssize_t w = send(pub, msg + off, len - off, MSG_DONTWAIT);
        AH_ASSERT(w > 0 || errno == EAGAIN);
        if (w > 0 && (off += (size_t)w) == len) {
            off = 0;
            sent++;
        }
    }
    AH_ASSERT_MSG(sent < 4000, "the broker never stopped reading the publisher");
    /* Reset the publisher's connection while it is stalled. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(pub, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(pub);
    ah_sleep_ms(300);
    double c0 = cpu_seconds(b.proc.pid);
    int64_t t0 = ah_now_ms();
    ah_sleep_ms(2000);
    double used = cpu_seconds(b.proc.pid) - c0;
    double wall = (double)(ah_now_ms() - t0) / 1000.0;
    printf("  broker CPU while a reset publisher was stalled: %.2f s in %.2f s\n", used, wall);
    AH_ASSERT_MSG(used < 0.25 * wall, "the broker spun: %.2f s of CPU in %.2f s", used, wall);
    AH_ASSERT(ah_alive(&b.proc));
    /* It still serves. */
    int c = ai_client(b.port, "{\"verbose\":false,\"pedantic\":false}");
    AH_ASSERT(ah_send(c, "SUB ok 1\r\nPUB ok 1\r\nx\r\n") == 0);
    ai_expect_sync(c, "MSG ok 1 1\r\nx\r\n");
    close(c);
    close(stuck);
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"slow_consumer", case_slow_consumer, 90},
        {"fast_producer_stalled", case_fast_producer_stalled, 120},
        {"hangup_while_stalled", case_hangup_while_stalled, 60},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
