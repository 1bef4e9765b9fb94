/* The uplink's websocket transport; see ws_link.h. */
#include "leaf/ws_link.h"
#include "common/random.h"

#include <stdlib.h>
#include <string.h>

/* Below this many bytes a frame goes uncompressed: deflate's own overhead would eat the gain
 * (the frame is also sent plain whenever compressing did not make it smaller). */
#define COMPRESS_MIN 32

int ae_ws_link_start(ae_ws_link *l, const char *host, int port, const char *path, bool compress,
                     bool no_masking, ae_err *err)
{
    ae_ws_link_reset(l);
    l->want_compress = compress;
    l->want_no_masking = no_masking;
    l->mask = true;
    if (ae_ws_make_key(l->key, err) != 0)
        return AE_EIO;
    char req[1024];
    int n = ae_ws_request(req, sizeof req, host, port, path, l->key, compress, no_masking);
    if (n < 0)
        return ae_err_set(err, AE_ELIMIT, "websocket upgrade request too long for host %s", host);
    l->pack = malloc(AE_WS_PACK_MAX);
    if (!l->pack || ae_outq_append(&l->wire, req, (size_t)n) != 0) {
        ae_ws_link_reset(l);
        return ae_err_set(err, AE_ENOMEM, "out of memory starting the websocket link");
    }
    l->wire_out += (uint64_t)n;
    return 0;
}

void ae_ws_link_reset(ae_ws_link *l)
{
    ae_ws_reader_free(&l->rd);
    ae_ws_deflate_free(&l->def);
    free(l->pack);
    free(l->zbuf);
    ae_outq_clear(&l->wire);
    l->pack = l->zbuf = NULL;
    l->pack_len = l->zcap = 0;
    l->head_len = 0;
    l->open = l->compress = false;
    memset(&l->rd, 0, sizeof l->rd);
}

/* Appends one frame (header, then the payload masked when we mask) to the wire queue. */
static int put_frame(ae_ws_link *l, int opcode, bool rsv1, const uint8_t *p, size_t n, ae_err *err)
{
    uint8_t key[4], hdr[AE_WS_MAX_HEADER];
    if (l->mask && ae_random_bytes(key, sizeof key, NULL) != 0)
        memset(key, 0x5a, sizeof key);
    size_t hl = ae_ws_header_encode(hdr, opcode, true, rsv1, l->mask ? key : NULL, n);
    char *dst = ae_outq_reserve(&l->wire, hl + n);
    if (!dst)
        return ae_err_set(err, AE_ENOMEM, "out of memory framing data for the hub");
    memcpy(dst, hdr, hl);
    if (n)
        memcpy(dst + hl, p, n);
    if (l->mask)
        ae_ws_mask((uint8_t *)dst + hl, n, key, 0);
    l->wire_out += hl + n;
    l->frames_out++;
    return 0;
}

static void on_ping(void *ctx, const uint8_t *p, size_t n)
{
    ae_ws_link *l = ctx;
    put_frame(l, AE_WS_OP_PONG, false, p, n, NULL);
}

/* The reader's sink, wrapped to count application bytes and answer PINGs by default. */
typedef struct counting {
    ae_ws_link *l;
    const ae_ws_sink *sink;
} counting;

static int count_data(void *ctx, const uint8_t *p, size_t n)
{
    counting *c = ctx;
    c->l->app_in += n;
    return c->sink->data(c->sink->ctx, p, n);
}

static void count_ping(void *ctx, const uint8_t *p, size_t n)
{
    counting *c = ctx;
    if (c->sink->ping)
        c->sink->ping(c->sink->ctx, p, n);
    else
        on_ping(c->l, p, n);
}

/* The hub's HTTP answer; returns bytes used (> 0 once open), 0 for more, or an error. */
static int take_head(ae_ws_link *l, const uint8_t *in, size_t n, ae_err *err)
{
    size_t room = sizeof l->head - l->head_len;
    size_t k = n < room ? n : room;
    memcpy(l->head + l->head_len, in, k);
    size_t before = l->head_len;
    l->head_len += k;
    ae_ws_upgrade up;
    int h = ae_ws_response_parse(l->head, l->head_len, l->key, &up, err);
    if (h <= 0)
        return h == 0 ? (int)k : h;
    l->compress = l->want_compress && up.deflate;
    l->mask = !(l->want_no_masking && up.no_masking);
    /* Without the no-context-takeover parameters a hub keeps (and lets us keep) the
     * dictionary across messages, which compresses small frames much better. */
    bool keep_out = !up.client_no_ctx, keep_in = !up.server_no_ctx;
    int rc = ae_ws_reader_init(&l->rd, l->compress, keep_in, 0, err);
    if (rc == 0 && l->compress) {
        rc = ae_ws_deflate_init(&l->def, keep_out, err);
        l->zcap = ae_ws_deflate_bound(AE_WS_PACK_MAX);
        l->zbuf = rc == 0 ? malloc(l->zcap) : NULL;
        if (rc == 0 && !l->zbuf)
            rc = ae_err_set(err, AE_ENOMEM, "out of memory for websocket compression");
    }
    if (rc)
        return rc;
    l->open = true;
    return h - (int)before; /* bytes of this input that belonged to the head */
}

int ae_ws_link_input(ae_ws_link *l, const uint8_t *in, size_t n, const ae_ws_sink *sink,
                     ae_err *err)
{
    l->wire_in += n;
    if (!l->open) {
        int used = take_head(l, in, n, err);
        if (used < 0)
            return used;
        if (!l->open)
            return 0;
        in += used;
        n -= (size_t)used;
    }
    if (!n)
        return 0;
    counting c = {l, sink};
    ae_ws_sink s = {.data = count_data, .ping = count_ping, .ctx = &c};
    uint64_t before = l->rd.frames;
    int rc = ae_ws_reader_feed(&l->rd, in, n, &s, err);
    l->frames_in += l->rd.frames - before;
    return rc;
}

size_t ae_ws_link_room(const ae_ws_link *l)
{
    return l->pack ? AE_WS_PACK_MAX - l->pack_len : 0;
}

size_t ae_ws_link_pack(ae_ws_link *l, const void *p, size_t n)
{
    size_t k = ae_ws_link_room(l);
    if (k > n)
        k = n;
    memcpy(l->pack + l->pack_len, p, k);
    l->pack_len += k;
    return k;
}

int ae_ws_link_seal(ae_ws_link *l, ae_err *err)
{
    if (!l->pack_len)
        return 0;
    size_t n = l->pack_len;
    l->pack_len = 0;
    l->app_out += n;
    if (l->compress && (n >= COMPRESS_MIN || l->def.keep_context)) {
        ptrdiff_t z = ae_ws_deflate_message(&l->def, l->pack, n, l->zbuf, l->zcap, err);
        if (z < 0)
            return (int)z;
        if ((size_t)z < n || l->def.keep_context)
            return put_frame(l, AE_WS_OP_BINARY, true, l->zbuf, (size_t)z, err);
    }
    return put_frame(l, AE_WS_OP_BINARY, false, l->pack, n, err);
}

void ae_ws_link_close(ae_ws_link *l, int status)
{
    uint8_t p[2] = {(uint8_t)(status >> 8), (uint8_t)status};
    put_frame(l, AE_WS_OP_CLOSE, false, p, sizeof p, NULL);
}
