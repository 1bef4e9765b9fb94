/* permessage-deflate with zlib; see ws_deflate.h. */
#include "leaf/ws_deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* RFC 7692 7.2.1: raw deflate, 32 KiB window; level 6 is zlib's balance of speed and size on
 * a vehicle's CPU. */
#define WINDOW_BITS (-15)
#define LEVEL       6
#define MEM_LEVEL   8

static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

int ae_ws_deflate_init(ae_ws_deflate *d, bool keep_context, ae_err *err)
{
    memset(d, 0, sizeof *d);
    z_stream *zs = calloc(1, sizeof *zs);
    if (!zs)
        return ae_err_set(err, AE_ENOMEM, "out of memory for the websocket compressor");
    if (deflateInit2(zs, LEVEL, Z_DEFLATED, WINDOW_BITS, MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(zs);
        return ae_err_set(err, AE_ENOMEM, "zlib deflateInit2 failed");
    }
    d->zs = zs;
    d->keep_context = keep_context;
    return 0;
}

void ae_ws_deflate_free(ae_ws_deflate *d)
{
    if (d->zs) {
        deflateEnd(d->zs);
        free(d->zs);
    }
    d->zs = NULL;
}

size_t ae_ws_deflate_bound(size_t n)
{
    /* deflateBound for a stream without header, plus the sync flush's empty block. */
    return n + n / 1000 + (n >> 12) + (n >> 14) + (n >> 25) + 64;
}

ptrdiff_t ae_ws_deflate_message(ae_ws_deflate *d, const uint8_t *p, size_t n, uint8_t *out,
                                size_t cap, ae_err *err)
{
    z_stream *zs = d->zs;
    if (!zs)
        return ae_err_set(err, AE_EINVAL, "websocket compressor not initialised");
    zs->next_in = (Bytef *)(uintptr_t)p;
    zs->avail_in = (uInt)n;
    zs->next_out = out;
    zs->avail_out = (uInt)cap;
    int rc = deflate(zs, Z_SYNC_FLUSH);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || zs->avail_in != 0 || zs->avail_out == 0) {
        deflateReset(zs);
        return ae_err_set(err, AE_EIO, "websocket compression failed (zlib %d)", rc);
    }
    size_t len = cap - zs->avail_out;
    if (!d->keep_context)
        deflateReset(zs);
    if (len < 4 || memcmp(out + len - 4, sync_tail, 4) != 0)
        return ae_err_set(err, AE_EIO, "websocket compression: no sync flush marker");
    return (ptrdiff_t)(len - 4);
}

int ae_ws_inflate_init(ae_ws_inflate *f, bool keep_context, ae_err *err)
{
    memset(f, 0, sizeof *f);
    z_stream *zs = calloc(1, sizeof *zs);
    if (!zs)
        return ae_err_set(err, AE_ENOMEM, "out of memory for the websocket decompressor");
    if (inflateInit2(zs, WINDOW_BITS) != Z_OK) {
        free(zs);
        return ae_err_set(err, AE_ENOMEM, "zlib inflateInit2 failed");
    }
    f->zs = zs;
    f->keep_context = keep_context;
    return 0;
}

void ae_ws_inflate_free(ae_ws_inflate *f)
{
    if (f->zs) {
        inflateEnd(f->zs);
        free(f->zs);
    }
    f->zs = NULL;
}

static int inflate_some(ae_ws_inflate *f, const uint8_t *p, size_t n, uint64_t *produced,
                        uint64_t limit, int (*emit)(void *, const uint8_t *, size_t), void *ctx,
                        ae_err *err)
{
    z_stream *zs = f->zs;
    uint8_t out[16384];
    zs->next_in = (Bytef *)(uintptr_t)p;
    zs->avail_in = (uInt)n;
    for (;;) {
        zs->next_out = out;
        zs->avail_out = sizeof out;
        int rc = inflate(zs, Z_SYNC_FLUSH);
        size_t got = sizeof out - zs->avail_out;
        bool bad = rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END;
        /* what was decoded before bad data goes out first, so that the result does not
         * depend on how the message was split into reads */
        if (got) {
            *produced += got;
            if (*produced > limit)
                return ae_err_set(err, AE_ELIMIT,
                                  "a compressed websocket message from the hub inflates to more "
                                  "than %llu bytes",
                                  (unsigned long long)limit);
            int erc = emit(ctx, out, got);
            if (erc)
                return erc;
        }
        if (bad)
            return ae_err_set(err, AE_EPROTO, "bad compressed websocket data from the hub (%s)",
                              zs->msg ? zs->msg : "zlib error");
        if (rc == Z_STREAM_END) {
            /* A final block inside a message: whatever follows is not deflate data. */
            if (zs->avail_in)
                return ae_err_set(err, AE_EPROTO,
                                  "bad compressed websocket data from the hub "
                                  "(bytes after the final block)");
            inflateReset(zs);
            f->ended = true;
            return 0;
        }
        if (zs->avail_in == 0 && zs->avail_out != 0)
            return 0;
        if (rc == Z_BUF_ERROR && got == 0)
            return 0;
    }
}

int ae_ws_inflate_piece(ae_ws_inflate *f, const uint8_t *p, size_t n, bool last, uint64_t *produced,
                        uint64_t limit, int (*emit)(void *ctx, const uint8_t *p, size_t n),
                        void *ctx, ae_err *err)
{
    if (!f->zs)
        return ae_err_set(err, AE_EINVAL, "websocket decompressor not initialised");
    int rc = 0;
    if (n && f->ended) /* however the message was split into frames and reads */
        rc = ae_err_set(err, AE_EPROTO,
                        "bad compressed websocket data from the hub "
                        "(bytes after the final block)");
    else if (n)
        rc = inflate_some(f, p, n, produced, limit, emit, ctx, err);
    /* a sender that closed the stream itself (BFINAL) needs no tail */
    if (rc == 0 && last && !f->ended)
        rc = inflate_some(f, sync_tail, sizeof sync_tail, produced, limit, emit, ctx, err);
    if (rc != 0 || last) {
        f->ended = false;
        if (rc != 0 || !f->keep_context)
            inflateReset(f->zs);
    }
    return rc;
}
