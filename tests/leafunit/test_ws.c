/* Unit tests of the uplink's websocket pieces (leaf/ws.h, ws_deflate.h, ws_handshake.h,
 * ws_link.h): frames built by our encoder (and by hand, as nats-server sends them) are
 * decoded with the input split at every offset; compressed messages round-trip through
 * zlib; the upgrade response parser accepts nats-server's 101 and refuses what is not an
 * upgrade; bad frames end the stream with a clear error. No network. */
#include "harness/harness.h"
#include "leaf/ws.h"
#include "leaf/ws_deflate.h"
#include "leaf/ws_handshake.h"
#include "leaf/ws_link.h"

#include <stdlib.h>
#include <string.h>

typedef struct collected {
    uint8_t data[256 * 1024];
    size_t len;
    int pings;
    uint8_t ping[AE_WS_MAX_CONTROL];
    size_t ping_len;
} collected;

static int on_data(void *ctx, const uint8_t *p, size_t n)
{
    collected *c = ctx;
    if (c->len + n > sizeof c->data)
        return AE_ELIMIT;
    memcpy(c->data + c->len, p, n);
    c->len += n;
    return 0;
}

static void on_ping(void *ctx, const uint8_t *p, size_t n)
{
    collected *c = ctx;
    c->pings++;
    memcpy(c->ping, p, n);
    c->ping_len = n;
}

/* Appends a frame (unmasked, as a server sends) to buf. */
static size_t frame(uint8_t *buf, int op, bool fin, bool rsv1, const void *p, size_t n)
{
    size_t h = ae_ws_header_encode(buf, op, fin, rsv1, NULL, n);
    memcpy(buf + h, p, n);
    return h + n;
}

/* Feeds `in` in two pieces split at `at`; returns the reader's result. */
static int feed_split(const uint8_t *in, size_t n, size_t at, bool deflate, collected *c,
                      ae_err *err)
{
    ae_ws_reader r;
    AH_ASSERT_EQ_INT(ae_ws_reader_init(&r, deflate, false, 0, err), 0);
    memset(c, 0, sizeof *c);
    ae_ws_sink s = {.data = on_data, .ping = on_ping, .ctx = c};
    int rc = ae_ws_reader_feed(&r, in, at, &s, err);
    if (rc == 0)
        rc = ae_ws_reader_feed(&r, in + at, n - at, &s, err);
    ae_ws_reader_free(&r);
    return rc;
}

static void header_lengths(void)
{
    uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 1u << 20};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t b[AE_WS_MAX_HEADER], key[4] = {1, 2, 3, 4};
        for (int masked = 0; masked < 2; masked++) {
            size_t hl =
                ae_ws_header_encode(b, AE_WS_OP_BINARY, true, masked, masked ? key : NULL, lens[i]);
            ae_ws_header h;
            for (size_t k = 0; k < hl; k++)
                AH_ASSERT_EQ_INT(ae_ws_header_decode(b, k, &h, NULL), 0);
            AH_ASSERT_EQ_INT(ae_ws_header_decode(b, hl, &h, NULL), (int)hl);
            AH_ASSERT(h.len == lens[i] && h.fin && h.masked == (bool)masked && h.rsv1 == masked);
            AH_ASSERT_EQ_INT(h.opcode, AE_WS_OP_BINARY);
        }
    }
}

static void split_every_offset(void)
{
    /* a message in two fragments, a PING between them, an empty frame, a 300-byte frame */
    static uint8_t in[4096];
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)('a' + i % 26);
    size_t n = 0;
    n += frame(in + n, AE_WS_OP_BINARY, false, false, "INFO {}", 7);
    n += frame(in + n, AE_WS_OP_PING, true, false, "hi", 2);
    n += frame(in + n, AE_WS_OP_CONT, true, false, "\r\n", 2);
    n += frame(in + n, AE_WS_OP_BINARY, true, false, "", 0);
    n += frame(in + n, AE_WS_OP_BINARY, true, false, big, sizeof big);
    for (size_t at = 0; at <= n; at++) {
        static collected c;
        ae_err err = {0};
        AH_ASSERT_MSG(feed_split(in, n, at, false, &c, &err) == 0, "split at %zu: %s", at, err.msg);
        AH_ASSERT_EQ_INT((int)c.len, 9 + 300);
        AH_ASSERT(!memcmp(c.data, "INFO {}\r\n", 9) && !memcmp(c.data + 9, big, 300));
        AH_ASSERT_EQ_INT(c.pings, 1);
        AH_ASSERT(c.ping_len == 2 && !memcmp(c.ping, "hi", 2));
    }
}

static void deflate_round_trip(void)
{
    /* JSON telemetry-like text, compressed as one message and split across two frames */
    char text[4000];
    size_t tl = 0;
    for (int i = 0; tl < sizeof text - 200; i++)
        tl += (size_t)snprintf(
            text + tl, sizeof text - tl,
            "LMSG fleet.prod.veh.V1.pos 120\r\n{\"lat\":47.%04d,\"lon\":8.%04d}\r\n", i * 7,
            i * 13);
    ae_ws_deflate d;
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_ws_deflate_init(&d, false, &err), 0);
    size_t cap = ae_ws_deflate_bound(tl);
    uint8_t *z = malloc(cap);
    ptrdiff_t zl = ae_ws_deflate_message(&d, (const uint8_t *)text, tl, z, cap, &err);
    AH_ASSERT_MSG(zl > 0 && (size_t)zl < tl / 3, "compressed %zu to %td", tl, zl);
    /* the second message must decode on its own (no context takeover) */
    ptrdiff_t zl2 = ae_ws_deflate_message(&d, (const uint8_t *)text, tl, z + zl, cap, &err);
    AH_ASSERT_EQ_INT((int)zl2, (int)zl);
    static uint8_t in[16384];
    size_t half = (size_t)zl / 2, n = 0;
    n += frame(in + n, AE_WS_OP_BINARY, false, true, z, half);
    n += frame(in + n, AE_WS_OP_CONT, true, false, z + half, (size_t)zl - half);
    n += frame(in + n, AE_WS_OP_BINARY, true, true, z + zl, (size_t)zl2);
    for (size_t at = 0; at <= n; at += 7) {
        static collected c;
        AH_ASSERT_MSG(feed_split(in, n, at, true, &c, &err) == 0, "split at %zu: %s", at, err.msg);
        AH_ASSERT_EQ_INT((int)c.len, (int)(2 * tl));
        AH_ASSERT(!memcmp(c.data, text, tl) && !memcmp(c.data + tl, text, tl));
    }
    /* garbage marked compressed is refused, not crashed on */
    n = frame(in, AE_WS_OP_BINARY, true, true, "\xff\xff\xff\xff\xff\xff", 6);
    static collected c;
    AH_ASSERT_EQ_INT(feed_split(in, n, 3, true, &c, &err), AE_EPROTO);
    AH_ASSERT_CONTAINS(err.msg, "bad compressed");
    ae_ws_deflate_free(&d);
    free(z);
}

static void bad_frames(void)
{
    struct {
        const char *what;
        uint8_t bytes[16];
        size_t n;
        bool deflate;
        int rc;
        const char *msg;
    } cases[] = {
        {"opcode 3", {0x83, 0x00}, 2, false, AE_EPROTO, "unknown opcode"},
        {"RSV2", {0xa2, 0x00}, 2, false, AE_EPROTO, "reserved"},
        {"RSV1 without deflate", {0xc2, 0x00}, 2, false, AE_EPROTO, "not negotiated"},
        {"masked from a server", {0x82, 0x80, 1, 2, 3, 4}, 6, false, AE_EPROTO, "masked"},
        {"long ping", {0x89, 0x7e, 0x00, 0x80}, 4, false, AE_EPROTO, "125"},
        {"fragmented ping", {0x09, 0x00}, 2, false, AE_EPROTO, "fragmented"},
        {"continuation first", {0x80, 0x00}, 2, false, AE_EPROTO, "continuation"},
        {"oversize", {0x82, 0x7f, 0, 0, 0, 0x10, 0, 0, 0, 0}, 10, false, AE_ELIMIT, "longer"},
        {"64-bit top bit", {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, false, AE_EPROTO, "64-bit"},
        {"close 1008",
         {0x88, 0x06, 0x03, 0xf0, 'A', 'u', 't', 'h'},
         8,
         false,
         AE_ECLOSED,
         "status 1008: Auth"},
        {"close 1-byte", {0x88, 0x01, 0x03}, 3, false, AE_EPROTO, "1-byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t at = 0; at <= cases[i].n; at++) {
            static collected c;
            ae_err err = {0};
            int rc = feed_split(cases[i].bytes, cases[i].n, at, cases[i].deflate, &c, &err);
            AH_ASSERT_MSG(rc == cases[i].rc, "%s split at %zu: rc %d (%s)", cases[i].what, at, rc,
                          err.msg);
            AH_ASSERT_CONTAINS(err.msg, cases[i].msg);
        }
    }
}

static const char *response_101(char *buf, size_t cap, const char *key, const char *extra)
{
    char acc[29];
    ae_ws_accept_for(key, acc);
    snprintf(buf, cap,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n%s\r\n",
             acc, extra);
    return buf;
}

static void handshake(void)
{
    /* RFC 6455's own example key and accept value */
    char acc[29];
    ae_ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
    AH_ASSERT_EQ_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    char req[1024];
    int n = ae_ws_request(req, sizeof req, "::1", 443, "/edge/", "KEY", true, true);
    AH_ASSERT(n > 0);
    AH_ASSERT_CONTAINS(req, "GET /edge/leafnode HTTP/1.1\r\nHost: [::1]:443\r\n");
    AH_ASSERT_CONTAINS(req, "permessage-deflate; server_no_context_takeover; "
                            "client_no_context_takeover\r\n");
    AH_ASSERT_CONTAINS(req, "Nats-No-Masking: true\r\n");
    ae_ws_request(req, sizeof req, "hub", 80, "", "KEY", false, false);
    AH_ASSERT_CONTAINS(req, "GET /leafnode HTTP/1.1\r\n");
    AH_ASSERT(!strstr(req, "Extensions") && !strstr(req, "Masking"));

    const char *key = "x3JJHMbDL1EzLkh9GBhXDw==";
    char resp[1024];
    response_101(resp, sizeof resp, key,
                 "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover\r\nNats-No-Masking: true\r\n");
    size_t rl = strlen(resp);
    ae_ws_upgrade up;
    ae_err err = {0};
    for (size_t k = 0; k < rl; k++)
        AH_ASSERT_EQ_INT(ae_ws_response_parse(resp, k, key, &up, &err), 0);
    AH_ASSERT_EQ_INT(ae_ws_response_parse(resp, rl, key, &up, &err), (int)rl);
    AH_ASSERT(up.deflate && up.server_no_ctx && up.client_no_ctx && up.no_masking);
    response_101(resp, sizeof resp, key, "");
    AH_ASSERT_EQ_INT(ae_ws_response_parse(resp, strlen(resp), key, &up, &err), (int)strlen(resp));
    AH_ASSERT(!up.deflate && !up.no_masking);

    /* not upgrades */
    AH_ASSERT_EQ_INT(ae_ws_response_parse(resp, strlen(resp), "otherkey", &up, &err), AE_EPROTO);
    AH_ASSERT_CONTAINS(err.msg, "Sec-WebSocket-Accept");
    const char *e400 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    AH_ASSERT_EQ_INT(ae_ws_response_parse(e400, strlen(e400), key, &up, &err), AE_EPROTO);
    AH_ASSERT_CONTAINS(err.msg, "HTTP/1.1 400 Bad Request");
    const char *info = "INFO {\"server_id\":\"N\"}\r\n";
    AH_ASSERT_EQ_INT(ae_ws_response_parse(info, strlen(info), key, &up, &err), AE_EPROTO);
    AH_ASSERT_CONTAINS(err.msg, "not HTTP");
    static char endless[AE_WS_MAX_RESPONSE + 10];
    memset(endless, 'x', sizeof endless);
    memcpy(endless, "HTTP/1.1 101 ", 13);
    AH_ASSERT_EQ_INT(ae_ws_response_parse(endless, sizeof endless, key, &up, &err), AE_ELIMIT);
}

/* The link: upgrade, then what we frame decodes to what we packed (our frames are masked
 * and compressed; the reader here plays the hub after unmasking). */
static void link_packs_and_compresses(void)
{
    ae_ws_link l = {0};
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_ws_link_start(&l, "127.0.0.1", 8080, "", true, false, &err), 0);
    AH_ASSERT(l.wire.pending > 0 && !l.open);
    ae_outq_clear(&l.wire);
    char resp[1024];
    response_101(resp, sizeof resp, l.key,
                 "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover\r\n");
    static collected c;
    memset(&c, 0, sizeof c);
    ae_ws_sink s = {.data = on_data, .ctx = &c};
    /* the 101 and a first frame (INFO) in one read, split at every offset is covered above */
    uint8_t in[2048];
    size_t n = strlen(resp);
    memcpy(in, resp, n);
    n += frame(in + n, AE_WS_OP_BINARY, true, false, "INFO {}\r\n", 9);
    AH_ASSERT_EQ_INT(ae_ws_link_input(&l, in, n, &s, &err), 0);
    AH_ASSERT(l.open && l.compress && l.mask);
    AH_ASSERT_EQ_INT((int)c.len, 9);
    /* pack 40 telemetry messages into one frame */
    char msg[300];
    size_t total = 0;
    for (int i = 0; i < 40; i++) {
        int k = snprintf(msg, sizeof msg,
                         "LMSG fleet.prod.veh.V7.att 64\r\n{\"roll\":0.%03d,\"pitch\":0.%03d,"
                         "\"yaw\":1.%03d,\"t\":%d}\r\n",
                         i, 2 * i, 3 * i, 1000 + i);
        AH_ASSERT_EQ_INT((int)ae_ws_link_pack(&l, msg, (size_t)k), k);
        total += (size_t)k;
    }
    AH_ASSERT_EQ_INT(ae_ws_link_seal(&l, &err), 0);
    AH_ASSERT(l.frames_out == 1 && l.app_out == total);
    AH_ASSERT_MSG(l.wire.pending < total / 3, "%zu bytes framed to %zu", total, l.wire.pending);
    /* unmask and decode it */
    static uint8_t wire[65536];
    size_t wl = 0;
    const char *p;
    size_t k;
    while ((k = ae_outq_peek(&l.wire, &p)) > 0) {
        memcpy(wire + wl, p, k);
        wl += k;
        ae_outq_consume(&l.wire, k);
    }
    ae_ws_header h;
    int hl = ae_ws_header_decode(wire, wl, &h, &err);
    AH_ASSERT(hl > 0 && h.masked && h.rsv1 && h.fin && h.len == wl - (size_t)hl);
    ae_ws_mask(wire + hl, (size_t)h.len, h.key, 0);
    wire[1] &= 0x7f; /* now as if unmasked: drop the mask bit and the key */
    memmove(wire + hl - 4, wire + hl, (size_t)h.len);
    wl -= 4;
    static collected out;
    AH_ASSERT_MSG(feed_split(wire, wl, wl / 2, true, &out, &err) == 0, "%s", err.msg);
    AH_ASSERT_EQ_INT((int)out.len, (int)total);
    /* a PING from the hub is answered with a PONG in the wire queue */
    n = frame(in, AE_WS_OP_PING, true, false, "p", 1);
    AH_ASSERT_EQ_INT(ae_ws_link_input(&l, in, n, &s, &err), 0);
    AH_ASSERT(l.wire.pending == 2 + 4 + 1);
    ae_ws_link_reset(&l);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"header_lengths", header_lengths, 10},
        {"split_every_offset", split_every_offset, 10},
        {"deflate_round_trip", deflate_round_trip, 10},
        {"bad_frames", bad_frames, 10},
        {"handshake", handshake, 10},
        {"link_packs_and_compresses", link_packs_and_compresses, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
