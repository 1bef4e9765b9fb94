/* Benchmark for the NATS protocol parser (src/leaf/proto.c).
 *
 * Builds one buffer of back-to-back `PUB <subject> <n>\r\n<payload>\r\n` messages per
 * payload size (16 B, 128 B, 1 KiB), then times how fast ae_proto_parse walks it, op by
 * op, as a client connection's read loop would. Prints ops/s and MB/s (input bytes) as
 * the median of 5 runs; each run walks the buffer as many times as it takes to last about
 * 0.3 s, so a shared machine's noise averages out. This measures the parser alone: no
 * sockets, no routing.
 *
 * Usage: bench_parse [total_mib]   (buffer size per payload size, default 64) */
#include "leaf/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills a buffer with PUB messages of `payload` bytes until about `target` bytes. */
static uint8_t *build(size_t payload, size_t target, size_t *len_out, size_t *count_out)
{
    char head[128];
    int hl = snprintf(head, sizeof head, "PUB telem.vehicle42.gps %zu\r\n", payload);
    size_t one = (size_t)hl + payload + 2;
    size_t count = target / one;
    if (count == 0)
        count = 1;
    uint8_t *buf = malloc(count * one);
    if (!buf) {
        perror("malloc");
        exit(1);
    }
    uint8_t *p = buf;
    for (size_t i = 0; i < count; i++) {
        memcpy(p, head, (size_t)hl);
        p += hl;
        for (size_t j = 0; j < payload; j++)
            *p++ = (uint8_t)('a' + (i + j) % 26);
        *p++ = '\r';
        *p++ = '\n';
    }
    *len_out = count * one;
    *count_out = count;
    return buf;
}

/* Parses the whole buffer op by op; returns the sum of payload sizes (which keeps the
 * results live) and exits if the parser stops early. */
static size_t walk(const ae_proto_limits *lim, const uint8_t *buf, size_t len, size_t count)
{
    size_t pos = 0, ops = 0, sum = 0;
    while (pos < len) {
        ae_op op;
        ptrdiff_t r = ae_proto_parse(lim, buf + pos, len - pos, &op, NULL);
        if (r <= 0) {
            fprintf(stderr, "parse stopped at %zu: %td\n", pos, r);
            exit(1);
        }
        sum += op.total_len;
        pos += (size_t)r;
        ops++;
    }
    if (ops != count) {
        fprintf(stderr, "parsed %zu ops, built %zu\n", ops, count);
        exit(1);
    }
    return sum;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 64;
    if (mib == 0)
        mib = 64;
    const size_t sizes[] = {16, 128, 1024};
    ae_proto_limits lim = {
        .kind = AE_PROTO_CLIENT, .max_control_line = 4096, .max_payload = 1048576};

    printf("%-10s %10s %14s %10s\n", "payload", "ops", "ops/s", "MB/s");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len, count;
        uint8_t *buf = build(sizes[s], mib << 20, &len, &count);
        /* One untimed walk checks the buffer and sizes the runs. */
        double t0 = now_s();
        size_t checksum = walk(&lim, buf, len, count);
        double once = now_s() - t0;
        size_t reps = once > 0 ? (size_t)(0.3 / once) + 1 : 1;
        double secs[RUNS];
        for (int run = 0; run < RUNS; run++) {
            t0 = now_s();
            for (size_t k = 0; k < reps; k++)
                checksum += walk(&lim, buf, len, count);
            secs[run] = (now_s() - t0) / (double)reps;
        }
        qsort(secs, RUNS, sizeof secs[0], cmp_double);
        double med = secs[RUNS / 2];
        printf("%-10zu %10zu %14.0f %10.1f\n", sizes[s], count, (double)count / med,
               (double)len / med / 1e6);
        if (checksum != (1 + (size_t)RUNS * reps) * count * sizes[s]) {
            fprintf(stderr, "checksum mismatch\n");
            return 1;
        }
        free(buf);
    }
    return 0;
}
