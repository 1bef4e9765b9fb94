/* WebSocket frame codec and reader; see ws.h. */
#include "leaf/ws.h"

#include <stdio.h>
#include <string.h>

size_t ae_ws_header_encode(uint8_t out[AE_WS_MAX_HEADER], int opcode, bool fin, bool rsv1,
                           const uint8_t *key, uint64_t len)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    uint8_t mbit = key ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        out[n++] = (uint8_t)(mbit | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(mbit | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (key) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    return n;
}

int ae_ws_header_decode(const uint8_t *p, size_t n, ae_ws_header *h, ae_err *err)
{
    if (n < 2)
        return 0;
    memset(h, 0, sizeof *h);
    h->fin = p[0] & 0x80;
    h->rsv1 = p[0] & 0x40;
    h->opcode = p[0] & 0x0f;
    h->masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t need = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (h->masked ? 4 : 0);
    if (n < need)
        return 0;
    size_t off = 2;
    if (len == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
        off = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        off = 10;
        if (len >> 63)
            return ae_err_set(err, AE_EPROTO,
                              "websocket frame from the hub has an invalid 64-bit length");
    }
    if (h->masked) {
        memcpy(h->key, p + off, 4);
        off += 4;
    }
    h->len = len;
    h->hdr_len = off;
    h->rsv23 = p[0] & 0x30; /* refused by the reader */
    return (int)off;
}

void ae_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= key[(offset + i) & 3];
}

int ae_ws_reader_init(ae_ws_reader *r, bool deflate, bool keep_context, uint64_t max_message,
                      ae_err *err)
{
    memset(r, 0, sizeof *r);
    r->deflate = deflate;
    r->keep_context = keep_context;
    r->max_message = max_message ? max_message : AE_WS_MAX_MESSAGE_DEF;
    r->close_code = 1005;
    if (deflate)
        return ae_ws_inflate_init(&r->inf, keep_context, err);
    return 0;
}

void ae_ws_reader_free(ae_ws_reader *r)
{
    ae_ws_inflate_free(&r->inf);
}

static int fail(ae_ws_reader *r, ae_err *err, int code, const char *what)
{
    r->failed = true;
    return ae_err_set(err, code, "websocket: %s", what);
}

/* Checks a complete header against the frame rules and the state of the message. */
static int check_header(ae_ws_reader *r, const ae_ws_header *h, ae_err *err)
{
    if (h->rsv23)
        return fail(r, err, AE_EPROTO, "the hub set reserved bits RSV2/RSV3");
    if (h->masked)
        return fail(r, err, AE_EPROTO, "the hub sent a masked frame (servers must not mask)");
    switch (h->opcode) {
    case AE_WS_OP_CLOSE:
    case AE_WS_OP_PING:
    case AE_WS_OP_PONG:
        if (h->len > AE_WS_MAX_CONTROL)
            return fail(r, err, AE_EPROTO, "control frame longer than 125 bytes");
        if (!h->fin)
            return fail(r, err, AE_EPROTO, "fragmented control frame");
        if (h->rsv1)
            return fail(r, err, AE_EPROTO, "compressed control frame");
        return 0;
    case AE_WS_OP_TEXT:
    case AE_WS_OP_BINARY:
        if (r->in_message)
            return fail(r, err, AE_EPROTO, "new message before the last one ended");
        if (h->rsv1 && !r->deflate)
            return fail(r, err, AE_EPROTO,
                        "compressed frame although permessage-deflate was not negotiated");
        r->in_message = true;
        r->compressed = h->rsv1;
        r->msg_in = r->msg_out = 0;
        break;
    case AE_WS_OP_CONT:
        if (!r->in_message)
            return fail(r, err, AE_EPROTO, "continuation frame without a message");
        if (h->rsv1)
            return fail(r, err, AE_EPROTO, "RSV1 on a continuation frame");
        break;
    default: {
        char what[64];
        snprintf(what, sizeof what, "unknown opcode %d", h->opcode);
        return fail(r, err, AE_EPROTO, what);
    }
    }
    r->msg_in += h->len;
    if (r->msg_in > r->max_message || h->len > r->max_message) {
        char what[96];
        snprintf(what, sizeof what, "message from the hub longer than %llu bytes",
                 (unsigned long long)r->max_message);
        return fail(r, err, AE_ELIMIT, what);
    }
    return 0;
}

static int control_done(ae_ws_reader *r, const ae_ws_sink *sink, ae_err *err)
{
    size_t n = (size_t)r->cur.len;
    if (r->cur.opcode == AE_WS_OP_PING) {
        if (sink->ping)
            sink->ping(sink->ctx, r->ctl, n);
        return 0;
    }
    if (r->cur.opcode != AE_WS_OP_CLOSE)
        return 0;
    r->failed = true;
    if (n == 1)
        return ae_err_set(err, AE_EPROTO, "websocket: close frame with a 1-byte payload");
    if (n >= 2)
        r->close_code = r->ctl[0] << 8 | r->ctl[1];
    return ae_err_set(err, AE_ECLOSED, "the hub closed the websocket (status %d%s%.*s)",
                      r->close_code, n > 2 ? ": " : "", n > 2 ? (int)(n - 2) : 0,
                      (const char *)r->ctl + 2);
}

/* Payload bytes of a data frame. */
static int data_piece(ae_ws_reader *r, const uint8_t *p, size_t n, bool frame_end,
                      const ae_ws_sink *sink, ae_err *err)
{
    bool msg_end = frame_end && r->cur.fin;
    int rc = 0;
    if (r->compressed) {
        rc = ae_ws_inflate_piece(&r->inf, p, n, msg_end, &r->msg_out, r->max_message, sink->data,
                                 sink->ctx, err);
    } else if (n) {
        rc = sink->data(sink->ctx, p, n);
    }
    if (rc) {
        r->failed = true;
        return rc;
    }
    if (msg_end)
        r->in_message = false;
    return 0;
}

int ae_ws_reader_feed(ae_ws_reader *r, const uint8_t *in, size_t n, const ae_ws_sink *sink,
                      ae_err *err)
{
    if (r->failed)
        return ae_err_set(err, AE_ECLOSED, "websocket: the stream already failed");
    size_t off = 0;
    while (off < n) {
        if (!r->in_payload) {
            /* collect the header: at most 14 bytes, copied so it may span reads */
            size_t take = n - off;
            if (take > AE_WS_MAX_HEADER - r->hdr_have)
                take = AE_WS_MAX_HEADER - r->hdr_have;
            memcpy(r->hdr + r->hdr_have, in + off, take);
            int h = ae_ws_header_decode(r->hdr, r->hdr_have + take, &r->cur, err);
            if (h < 0) {
                r->failed = true;
                return h;
            }
            if (h == 0) {
                r->hdr_have += take;
                off += take;
                continue;
            }
            off += (size_t)h - r->hdr_have;
            r->hdr_have = 0;
            int rc = check_header(r, &r->cur, err);
            if (rc)
                return rc;
            r->in_payload = true;
            r->done = 0;
            r->frames++;
        }
        uint64_t left = r->cur.len - r->done;
        size_t k = (size_t)(left < n - off ? left : n - off);
        bool is_ctl = r->cur.opcode >= AE_WS_OP_CLOSE;
        int rc = 0;
        if (is_ctl)
            memcpy(r->ctl + r->done, in + off, k);
        r->done += k;
        off += k;
        bool end = r->done == r->cur.len;
        if (is_ctl) {
            if (end)
                rc = control_done(r, sink, err);
        } else if (k || end) {
            rc = data_piece(r, in + off - k, k, end, sink, err);
        }
        if (rc)
            return rc;
        if (end)
            r->in_payload = false;
    }
    return 0;
}
