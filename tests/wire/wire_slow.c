/* Compatibility: slow consumers. A subscriber that never reads must be disconnected once its
 * pending output passes `max_pending`, counted in /varz `slow_consumers`, while the publisher
 * and a healthy subscriber on the same subject carry on and the healthy one receives every
 * message intact and in order (nats-wire-notes §1.10).
 *
 * What is deliberately not asserted: timing. nats-server throttles a fast producer (stalls
 * its reads up to 1 s per message while a subscriber is over half its limit); a compatible
 * server need not. Neither is the close path: nats-server sends nothing before closing a slow
 * consumer, a compatible server may send `-ERR 'Slow Consumer'` first. */
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
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

static long long varz_slow_consumers(const ai_broker *b)
{
    char *body = ai_http(b, "/varz");
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    AH_ASSERT_MSG(j != NULL, "/varz is not JSON: %s", err.text);
    json_t *v = json_object_get(j, "slow_consumers");
    AH_ASSERT_MSG(json_is_integer(v), "/varz slow_consumers missing or not an integer");
    long long n = json_integer_value(v);
    json_decref(j);
    free(body);
    return n;
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

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"slow_consumer", case_slow_consumer, 90},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
