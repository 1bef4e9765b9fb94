/* The websocket opening handshake of the uplink (RFC 6455 section 4, RFC 7692 section 5):
 * the HTTP upgrade request a leaf sends to a hub's websocket port, and the parser of the
 * hub's response. Pure: no I/O; the response parser is fuzzed (tests/fuzz/fuzz_ws.c).
 *
 * nats-server takes a websocket connection for a leafnode when the request path starts with
 * /leafnode; it answers permessage-deflate with "server_no_context_takeover;
 * client_no_context_takeover" and honours "Nats-No-Masking: true" by echoing it. */
#ifndef AERIE_LEAF_WS_HANDSHAKE_H
#define AERIE_LEAF_WS_HANDSHAKE_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>

#define AE_WS_MAX_RESPONSE 8192 /* a 101 response head longer than this is refused */

typedef struct ae_ws_upgrade {
    int status;         /* HTTP status code */
    bool deflate;       /* permessage-deflate accepted */
    bool server_no_ctx; /* the hub compresses each message with a fresh dictionary */
    bool client_no_ctx; /* so must we */
    bool no_masking;    /* Nats-No-Masking: true */
} ae_ws_upgrade;

/* Sec-WebSocket-Key: base64 of 16 random bytes (24 chars + NUL). Returns 0 or AE_EIO. */
int ae_ws_make_key(char out[25], ae_err *err);
/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)) (28 chars + NUL). */
void ae_ws_accept_for(const char *key, char out[29]);

/* Writes the upgrade request for ws[s]://host:port<path> into buf. path is the URL's path
 * ("" or "/..."); "/leafnode" is appended as nats-server expects. Returns its length, or
 * AE_ELIMIT when cap is too small. */
int ae_ws_request(char *buf, size_t cap, const char *host, int port, const char *path,
                  const char *key, bool compress, bool no_masking);

/* Parses the response head at p[0..n). Returns the head's length (through the blank line)
 * when it is a valid upgrade for `key`; 0 when more bytes are needed; AE_EPROTO when it is not
 * an upgrade (status, Upgrade, Connection or Sec-WebSocket-Accept wrong; err says which and
 * quotes the status line), AE_ELIMIT when no blank line within AE_WS_MAX_RESPONSE bytes. */
int ae_ws_response_parse(const char *p, size_t n, const char *key, ae_ws_upgrade *out, ae_err *err);

#endif
