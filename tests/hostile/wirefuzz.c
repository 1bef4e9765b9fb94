/* wirefuzz: a random protocol fuzzer over real sockets, for aerie-leaf (or nats-server, to
 * compare). While a well-behaved client does request/reply through the broker and checks
 * that every answer comes back, many hostile clients send mutated protocol: valid ops with
 * flipped bytes, wrong sizes, huge or negative numbers, headers in PUB, ops split at random
 * points, garbage, floods of SUB/UNSUB, half-written payloads, abrupt closes.
 *
 *   wirefuzz PORT SECONDS [SEED]          (exit 0: the broker answered throughout)
 *
 * The broker may close hostile clients (that is its job); it must never stop answering the
 * well-behaved one for more than a second, crash, or hang. Part of the hostile-input campaign
 * (bench/hostile_campaign.sh); tests/hostile runs it briefly in CI. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NHOSTILE 24

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(int port, bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nonblock)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static const char *subjects[] = {"a",
                                 "a.b",
                                 "a.*",
                                 "a.>",
                                 ">",
                                 "*",
                                 "",
                                 " ",
                                 "a..b",
                                 "a.b.",
                                 "_INBOX.x",
                                 "$JS.API.>",
                                 "fleet.prod.veh.V.state.p",
                                 "\x01\x02",
                                 "a\tb",
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};

/* One hostile op into buf; returns its length. */
static size_t hostile_op(char *buf, size_t cap)
{
    const char *s = subjects[rnd() % (sizeof subjects / sizeof subjects[0])];
    long n = (long)(rnd() % 64);
    int k = (int)(rnd() % 16);
    int len = 0;
    switch (k) {
    case 0:
        len = snprintf(buf, cap, "CONNECT {\"verbose\":%s,\"headers\":%s,\"protocol\":%ld}\r\n",
                       rnd() % 2 ? "true" : "false", rnd() % 2 ? "true" : "false",
                       (long)(rnd() % 5) - 1);
        break;
    case 1:
        len = snprintf(buf, cap, "PUB %s %ld\r\n%.*s\r\n", s, n, (int)n,
                       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        break;
    case 2: /* a size that lies */
        len = snprintf(buf, cap, "PUB %s %ld\r\nshort\r\n", s, n + 10);
        break;
    case 3:
        len = snprintf(buf, cap, "HPUB %s %ld %ld\r\nNATS/1.0\r\nX: y\r\n\r\npayload\r\n", s,
                       (long)(rnd() % 40), (long)(rnd() % 60));
        break;
    case 4:
        len = snprintf(buf, cap, "SUB %s %s%ld\r\n", s, rnd() % 2 ? "q " : "", n);
        break;
    case 5:
        len = snprintf(buf, cap, "UNSUB %ld %ld\r\n", n, (long)(rnd() % 3) - 1);
        break;
    case 6:
        len = snprintf(buf, cap, "PING\r\n");
        break;
    case 7:
        len = snprintf(buf, cap, "PUB %s 18446744073709551616\r\n", s);
        break;
    case 8:
        len = snprintf(buf, cap, "PUB %s -5\r\n", s);
        break;
    case 9: { /* garbage */
        size_t g = rnd() % 80;
        for (size_t i = 0; i < g && i < cap; i++)
            buf[i] = (char)rnd();
        len = (int)(g < cap ? g : cap);
        break;
    }
    case 10: /* a control line far over the limit */
        len = snprintf(buf, cap, "SUB ");
        while ((size_t)len < cap - 3 && len < 6000)
            buf[len++] = 'x';
        len += snprintf(buf + len, cap - (size_t)len, "\r\n");
        break;
    case 11:
        len = snprintf(buf, cap, "LS+ %s\r\nLMSG %s 2\r\nhi\r\n", s, s);
        break;
    case 12:
        len = snprintf(buf, cap, "INFO {}\r\nPONG\r\n+OK\r\n-ERR 'x'\r\n");
        break;
    case 13:
        len = snprintf(buf, cap, "HPUB %s 12 10\r\nNATS/1.0\r\n\r\n\r\n", s);
        break;
    default: { /* a valid op with one byte flipped */
        len = snprintf(buf, cap, "PUB %s 3\r\nabc\r\n", s);
        if (len > 0)
            buf[rnd() % (size_t)len] ^= (char)(1u << (rnd() % 8));
        break;
    }
    }
    return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

/* The well-behaved client: SUB, then PUB + PING and wait for both, again and again. */
static int good_roundtrip(int fd, int seq)
{
    char out[128], in[4096], payload[32];
    int pl = snprintf(payload, sizeof payload, "good-%d-z", seq);
    int n = snprintf(out, sizeof out, "PUB good %d\r\n%s\r\nPING\r\n", pl, payload);
    if (write(fd, out, (size_t)n) != n)
        return -1;
    size_t got = 0;
    int64_t deadline = now_ms() + 1000;
    bool msg = false, pong = false;
    while (!(msg && pong)) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return -2;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = read(fd, in + got, sizeof in - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        in[got] = 0;
        msg = strstr(in, payload) != NULL;
        pong = strstr(in, "PONG") != NULL;
        if (got > sizeof in - 256)
            got = 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: wirefuzz PORT SECONDS [SEED]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int port = atoi(argv[1]);
    int secs = atoi(argv[2]);
    rng = argc > 3 ? strtoull(argv[3], NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (!rng)
        rng = 1;
    printf("wirefuzz: port %d, %d s, seed %llu\n", port, secs, (unsigned long long)rng);
    int good = dial(port, false);
    if (good < 0) {
        fprintf(stderr, "wirefuzz: cannot connect to port %d\n", port);
        return 1;
    }
    const char *hello = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB good 1\r\n";
    if (write(good, hello, strlen(hello)) < 0)
        return 1;
    int hostile[NHOSTILE];
    for (int i = 0; i < NHOSTILE; i++)
        hostile[i] = -1;
    long ops = 0, reconnects = 0, roundtrips = 0;
    int64_t end = now_ms() + (int64_t)secs * 1000, worst = 0;
    for (int seq = 0; now_ms() < end; seq++) {
        for (int i = 0; i < NHOSTILE; i++) {
            if (hostile[i] < 0 || rnd() % 50 == 0) {
                if (hostile[i] >= 0)
                    close(hostile[i]);
                hostile[i] = dial(port, true);
                reconnects++;
                if (hostile[i] < 0)
                    continue;
            }
            char buf[8192];
            for (int k = 0; k < 8; k++) {
                size_t n = hostile_op(buf, sizeof buf);
                /* split at a random point, as a network would */
                size_t cut = n ? rnd() % (n + 1) : 0;
                if (write(hostile[i], buf, cut) < 0 || write(hostile[i], buf + cut, n - cut) < 0) {
                    if (errno != EAGAIN) {
                        close(hostile[i]);
                        hostile[i] = -1;
                        break;
                    }
                }
                ops++;
            }
            char sink[4096];
            while (hostile[i] >= 0 && read(hostile[i], sink, sizeof sink) > 0)
                ;
        }
        int64_t t0 = now_ms();
        int rc = good_roundtrip(good, seq);
        int64_t dt = now_ms() - t0;
        if (dt > worst)
            worst = dt;
        if (rc != 0) {
            fprintf(stderr,
                    "wirefuzz: the well-behaved client got no answer (%s) after %ld hostile ops "
                    "(seed %llu)\n",
                    rc == -2 ? "1 s without its message and PONG" : "connection lost", ops,
                    (unsigned long long)(argc > 3 ? strtoull(argv[3], NULL, 10) : 0));
            return 1;
        }
        roundtrips++;
    }
    printf("wirefuzz: %ld hostile ops on %ld connections; %ld round trips of the well-behaved "
           "client, slowest %lld ms\n",
           ops, reconnects, roundtrips, (long long)worst);
    return 0;
}
