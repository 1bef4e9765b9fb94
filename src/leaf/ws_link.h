/* The uplink's websocket transport: one connection's upgrade, framing and counters, between
 * the uplink's queues (NATS protocol bytes) and the socket (websocket frames).
 *
 * Writing: the uplink packs protocol bytes with ae_ws_link_pack (up to AE_WS_PACK_MAX per
 * frame) and seals them into one frame with ae_ws_link_seal; sealed frames wait in `wire`
 * for the socket. Packing many NATS operations into one frame is what makes compression pay:
 * nats-server negotiates no context takeover, so each frame is compressed on its own.
 * Reading: ae_ws_link_input takes the socket's bytes: first the hub's HTTP answer, then
 * frames, whose application bytes go to the sink; PINGs are answered into `wire`. */
#ifndef AERIE_LEAF_WS_LINK_H
#define AERIE_LEAF_WS_LINK_H

#include "leaf/outq.h"
#include "leaf/ws.h"
#include "leaf/ws_deflate.h"
#include "leaf/ws_handshake.h"

#include <stdbool.h>
#include <stdint.h>

#define AE_WS_PACK_MAX (64 * 1024) /* protocol bytes in one frame, before compression */

typedef struct ae_ws_link {
    bool want_compress, want_no_masking;
    bool open;     /* the hub answered 101: frames flow */
    bool compress; /* permessage-deflate in use */
    bool mask;     /* our frames are masked (unless the hub accepted Nats-No-Masking) */
    char key[25];
    char head[AE_WS_MAX_RESPONSE];
    size_t head_len;
    ae_ws_reader rd;
    ae_ws_deflate def;
    uint8_t *pack; /* protocol bytes of the next frame */
    size_t pack_len;
    uint8_t *zbuf; /* compression output */
    size_t zcap;
    ae_outq wire; /* sealed frames for the socket */
    /* counters: protocol bytes (before compression) and wire bytes (frames) both ways */
    uint64_t app_out, app_in, wire_out, wire_in, frames_out, frames_in;
} ae_ws_link;

/* Starts a connection: writes the upgrade request into l->wire. Returns 0 or AE_E*. */
int ae_ws_link_start(ae_ws_link *l, const char *host, int port, const char *path, bool compress,
                     bool no_masking, ae_err *err);
/* Frees buffers and the codec state (the counters stay). Safe on a zeroed or freed link. */
void ae_ws_link_reset(ae_ws_link *l);

/* Takes n bytes from the socket. Returns 0 or an AE_E* code with err saying what was wrong
 * (an answer that is not an upgrade, a bad frame, the hub's CLOSE, or the sink's error). */
int ae_ws_link_input(ae_ws_link *l, const uint8_t *in, size_t n, const ae_ws_sink *sink,
                     ae_err *err);

/* Room left in the frame being packed. */
size_t ae_ws_link_room(const ae_ws_link *l);
/* Copies up to the room left of p[0..n) into the frame being packed; returns what it took. */
size_t ae_ws_link_pack(ae_ws_link *l, const void *p, size_t n);
/* Turns the packed bytes into one frame in l->wire (compressed when that is smaller).
 * Returns 0 or AE_E*. */
int ae_ws_link_seal(ae_ws_link *l, ae_err *err);
/* Queues a CLOSE frame (status 1000 or 1001) to say goodbye. */
void ae_ws_link_close(ae_ws_link *l, int status);

#endif
