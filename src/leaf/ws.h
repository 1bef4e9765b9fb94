/* WebSocket framing (RFC 6455) for the uplink's websocket transport: the frame codec and a
 * streaming frame reader. Pure: no I/O, no clocks, so it is fuzzed (tests/fuzz/fuzz_ws.c) and
 * tested with its input split at every offset (tests/leafunit/test_ws.c).
 *
 * The reader takes the hub's bytes in pieces of any size, checks each frame header (opcode,
 * reserved bits, control frame rules, length limits, no masking from a server), inflates
 * permessage-deflate messages (RFC 7692, ws_deflate.h) and hands the application bytes, in
 * order, to a sink. PINGs are handed to the caller to answer; a CLOSE ends the stream with
 * AE_ECLOSED and the hub's reason. */
#ifndef AERIE_LEAF_WS_H
#define AERIE_LEAF_WS_H

#include "common/err.h"
#include "leaf/ws_deflate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    AE_WS_OP_CONT = 0,
    AE_WS_OP_TEXT = 1,
    AE_WS_OP_BINARY = 2,
    AE_WS_OP_CLOSE = 8,
    AE_WS_OP_PING = 9,
    AE_WS_OP_PONG = 10,
};

#define AE_WS_MAX_HEADER  14
#define AE_WS_MAX_CONTROL 125
/* A hub flushing a long backlog to us packs it into one frame; nats-server bounds what it
 * holds for one connection at 64 MiB (max_pending), so a message above this is not a hub's. */
#define AE_WS_MAX_MESSAGE_DEF (72u * 1024 * 1024)

typedef struct ae_ws_header {
    int opcode;
    bool fin, rsv1, masked;
    bool rsv23; /* RSV2 or RSV3 set (no extension of ours uses them) */
    uint8_t key[4];
    uint64_t len;   /* payload length */
    size_t hdr_len; /* bytes of the header itself */
} ae_ws_header;

/* Writes a frame header for a payload of len bytes into out; key NULL: unmasked. Returns the
 * header's length (2..14). */
size_t ae_ws_header_encode(uint8_t out[AE_WS_MAX_HEADER], int opcode, bool fin, bool rsv1,
                           const uint8_t *key, uint64_t len);

/* Decodes the frame header at p[0..n): returns its length (> 0), 0 when more bytes are
 * needed, or AE_EPROTO (a 64-bit length with the top bit set). Checks nothing else. */
int ae_ws_header_decode(const uint8_t *p, size_t n, ae_ws_header *h, ae_err *err);

/* XORs n bytes with the masking key, starting at byte `offset` of the payload. */
void ae_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset);

/* Where the reader's output goes. data: application bytes (return 0, or an AE_E* code that
 * stops the reader); ping: a PING's payload, to be answered with a PONG carrying it. */
typedef struct ae_ws_sink {
    int (*data)(void *ctx, const uint8_t *p, size_t n);
    void (*ping)(void *ctx, const uint8_t *p, size_t n);
    void *ctx;
} ae_ws_sink;

typedef struct ae_ws_reader {
    bool deflate;         /* permessage-deflate was negotiated: RSV1 messages are inflated */
    bool keep_context;    /* the server keeps its compression context across messages */
    uint64_t max_message; /* limit of one message, before and after inflating */

    uint8_t hdr[AE_WS_MAX_HEADER];
    size_t hdr_have;
    ae_ws_header cur;
    bool in_payload;
    uint64_t done; /* payload bytes of the current frame consumed */
    bool in_message, compressed;
    uint64_t msg_in, msg_out; /* bytes of the current message, on the wire and inflated */
    uint8_t ctl[AE_WS_MAX_CONTROL];
    ae_ws_inflate inf;
    bool failed;
    uint64_t frames;
    int close_code; /* the hub's status code once it closed (1005 when none) */
} ae_ws_reader;

/* Initialises a reader; max_message 0 means AE_WS_MAX_MESSAGE_DEF. Returns 0 or AE_ENOMEM. */
int ae_ws_reader_init(ae_ws_reader *r, bool deflate, bool keep_context, uint64_t max_message,
                      ae_err *err);
void ae_ws_reader_free(ae_ws_reader *r);

/* Consumes all n bytes. Returns 0, or: AE_EPROTO (a bad frame: reserved bits, unknown
 * opcode, a masked or oversized control frame, a fragment out of order, RSV1 without
 * permessage-deflate, bad compressed data), AE_ELIMIT (a message above max_message),
 * AE_ECLOSED (the hub sent CLOSE; err says its code and reason), or the sink's code. After an
 * error the reader refuses further input. */
int ae_ws_reader_feed(ae_ws_reader *r, const uint8_t *in, size_t n, const ae_ws_sink *sink,
                      ae_err *err);

#endif
