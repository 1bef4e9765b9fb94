/* permessage-deflate (RFC 7692) on top of Debian's zlib: raw deflate (no zlib header), each
 * message ended with a sync flush whose trailing 00 00 ff ff is stripped on the wire and put
 * back before inflating.
 *
 * "No context takeover" (what nats-server 2.9 negotiates both ways) means every message is
 * compressed with a fresh dictionary: a small message barely shrinks, so the uplink packs
 * many NATS operations into one message (docs/uplink.md). With context takeover the history
 * is kept across messages. */
#ifndef AERIE_LEAF_WS_DEFLATE_H
#define AERIE_LEAF_WS_DEFLATE_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ae_ws_deflate {
    void *zs; /* z_stream */
    bool keep_context;
} ae_ws_deflate;

typedef struct ae_ws_inflate {
    void *zs; /* z_stream */
    bool keep_context;
    bool ended; /* the sender closed the deflate stream (BFINAL) within this message */
} ae_ws_inflate;

int ae_ws_deflate_init(ae_ws_deflate *d, bool keep_context, ae_err *err);
void ae_ws_deflate_free(ae_ws_deflate *d);
/* Compresses p[0..n) as one message into out (cap bytes; ae_ws_deflate_bound(n) is always
 * enough), without the trailing 00 00 ff ff. Returns the compressed length or AE_E*. */
ptrdiff_t ae_ws_deflate_message(ae_ws_deflate *d, const uint8_t *p, size_t n, uint8_t *out,
                                size_t cap, ae_err *err);
size_t ae_ws_deflate_bound(size_t n);

int ae_ws_inflate_init(ae_ws_inflate *f, bool keep_context, ae_err *err);
void ae_ws_inflate_free(ae_ws_inflate *f);
/* Inflates a piece of a message's compressed payload; `last` adds the stripped tail and ends
 * the message. Output goes to emit in pieces; limit bounds the total of this message (counted
 * in *produced across calls). Returns 0, AE_EPROTO (bad data), AE_ELIMIT, or emit's code. */
int ae_ws_inflate_piece(ae_ws_inflate *f, const uint8_t *p, size_t n, bool last, uint64_t *produced,
                        uint64_t limit, int (*emit)(void *ctx, const uint8_t *p, size_t n),
                        void *ctx, ae_err *err);

#endif
