/* libFuzzer target for the uplink's websocket frame reader (src/leaf/ws.c) with
 * permessage-deflate (src/leaf/ws_deflate.c).
 *
 * Input layout: byte 0 picks whether deflate was negotiated and a small message limit, byte
 * 1 where to cut the stream in two, the rest is what a hub sent after the upgrade. The
 * stream is fed whole (from an exact-size heap copy, so ASan sees any over-read) and then
 * in two pieces; both must give the same application bytes, PINGs and result: the reader
 * may not depend on how reads split the stream. Violations abort(). */
#include "leaf/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MAX (1u << 20)

typedef struct out {
    uint8_t *buf;
    size_t len;
    unsigned pings;
    size_t ping_bytes;
} out;

static int on_data(void *ctx, const uint8_t *p, size_t n)
{
    out *o = ctx;
    if (o->len + n > OUT_MAX)
        return AE_ELIMIT;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static void on_ping(void *ctx, const uint8_t *p, size_t n)
{
    out *o = ctx;
    if (n > AE_WS_MAX_CONTROL)
        abort();
    o->pings++;
    o->ping_bytes += n;
    (void)p;
}

static int run(const uint8_t *d, size_t n, size_t cut, bool deflate, uint64_t limit, out *o)
{
    ae_ws_reader r;
    ae_err err = {0};
    if (ae_ws_reader_init(&r, deflate, false, limit, &err) != 0)
        abort();
    ae_ws_sink s = {.data = on_data, .ping = on_ping, .ctx = o};
    int rc = ae_ws_reader_feed(&r, d, cut, &s, &err);
    if (rc == 0)
        rc = ae_ws_reader_feed(&r, d + cut, n - cut, &s, &err);
    if (rc != 0 && !err.msg[0] && rc != AE_ELIMIT)
        abort(); /* every error says what was wrong */
    ae_ws_reader_free(&r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool deflate = data[0] & 1;
    uint64_t limit = (data[0] & 2) ? 4096 : 0;
    size_t n = size - 2;
    size_t cut = n ? data[1] % (n + 1) : 0;
    uint8_t *stream = malloc(n ? n : 1);
    memcpy(stream, data + 2, n);
    out a = {.buf = malloc(OUT_MAX)}, b = {.buf = malloc(OUT_MAX)};
    int ra = run(stream, n, n, deflate, limit, &a);
    int rb = run(stream, n, cut, deflate, limit, &b);
    if (ra != rb || a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0 || a.pings != b.pings ||
        a.ping_bytes != b.ping_bytes) {
        if (getenv("FUZZ_WS_DEBUG"))
            fprintf(stderr, "whole: rc %d, %zu bytes; split at %zu: rc %d, %zu bytes\n", ra, a.len,
                    cut, rb, b.len);
        abort();
    }
    free(a.buf);
    free(b.buf);
    free(stream);
    return 0;
}
