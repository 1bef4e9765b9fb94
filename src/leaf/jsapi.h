/* The JetStream messages of the durable forwarder, as nats-server 2.9.10 formats them: the
 * header block of a forwarded record, and the replies the forwarder reads (PubAcks and their
 * errors, the delivery metadata of a consumer, status messages, API responses).
 *
 * Pure functions over bytes received from the hub, which is untrusted input: every parser
 * here takes lengths, never reads past them, and is exercised by tests/fuzz/fuzz_jsapi.c.
 * Wire facts: nats-wire-notes sections 1.5 (headers, status lines), 4.3 (PubAck, expected-
 * sequence errors), 4.4 (ack reply subjects) and 4.7 (error codes). */
#ifndef AERIE_LEAF_JSAPI_H
#define AERIE_LEAF_JSAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* JetStream error codes the forwarder acts on. */
enum {
    AE_JS_ERR_NO_MESSAGE = 10037,       /* no message found (a delete of what is gone) */
    AE_JS_ERR_MSG_TOO_BIG = 10054,      /* message size exceeds maximum allowed */
    AE_JS_ERR_STREAM_NOT_FOUND = 10059, /* stream not found */
    AE_JS_ERR_WRONG_STREAM = 10060,     /* expected stream does not match */
    AE_JS_ERR_WRONG_MSG_ID = 10070,     /* wrong last msg ID */
    AE_JS_ERR_WRONG_LAST_SEQ = 10071,   /* wrong last sequence: N */
    AE_JS_ERR_HDR_TOO_BIG = 10097,      /* header size exceeds maximum allowed */
};

/* A reply to a publish that a stream captured, or to a JetStream API request. */
typedef struct ae_js_reply {
    bool ok;        /* a PubAck with a seq and no error / {"success":true} / no error */
    bool duplicate; /* PubAck: the id was already stored; seq is the stored copy */
    uint64_t seq;   /* PubAck: stream sequence */
    char stream[128];
    int status;   /* a status message instead of JSON (503 no responders, 408, 404), else 0 */
    int code;     /* error.code (HTTP-like), 0 when none */
    int err_code; /* error.err_code, 0 when none */
    char desc[160];
} ae_js_reply;

/* Parses a reply: the header block (may be empty) and the body. A status line in the header
 * ("NATS/1.0 503") gives status; otherwise the body must be a JSON object. Returns true
 * when it could be read (ok or an error), false for anything else (desc says what). */
bool ae_js_reply_parse(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                       ae_js_reply *out);

/* For a 10071 error, the stream's actual last sequence for the subject that the description
 * names ("wrong last sequence: 42"). */
bool ae_js_reply_wrong_last_seq(const ae_js_reply *r, uint64_t *last);

/* True when a resend can never succeed (the record is too large for the stream, its headers
 * too big...): the forwarder sets such a record aside. Transient errors (503, leader
 * elections, storage limits that may clear) are false. */
bool ae_js_reply_is_permanent(const ae_js_reply *r);

/* The metadata a consumer delivery carries in its reply subject:
 * "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>" (9 tokens), or the
 * 11+ token form with domain and account hash, optionally followed by "@<subject>" when the
 * hub delivered it across a leafnode connection. */
typedef struct ae_js_delivery {
    uint64_t stream_seq, consumer_seq, pending;
    int64_t time_ns;
} ae_js_delivery;

bool ae_js_delivery_parse(const char *reply, size_t len, ae_js_delivery *out);

/* The status code of a header block ("NATS/1.0 408 Request Timeout" -> 408), 0 when the
 * block has none or is not a header block. */
int ae_hdr_status(const uint8_t *hdr, size_t len);

/* Finds the first header `key` (case-insensitive) in a header block; *val and *vlen are the
 * value without surrounding blanks. */
bool ae_hdr_get(const uint8_t *hdr, size_t len, const char *key, const char **val, size_t *vlen);

/* True for the headers that decide how JetStream stores a message (Nats-Msg-Id,
 * Nats-Expected-*, Nats-Rollup, Nats-TTL): a publisher on the vehicle may not set them on
 * an uplink subject, because the hub would apply them to the forwarder's publish. */
bool ae_hdr_is_js_control(const char *key, size_t len);

/* Builds the header block of a forwarded record into out: NATS/1.0, Nats-Msg-Id: msgid,
 * Aerie-Event-Time: event_time, then the publisher's own header lines (orig, a whole header
 * block or empty) except the JetStream control headers, which are dropped and counted in
 * *stripped (a stored expectation header would also stop every stream that sources or
 * mirrors this one). Returns the length, or 0 when cap (see ae_js_headers_cap) was too
 * small. */
size_t ae_js_build_headers(char *out, size_t cap, const char *msgid, const char *event_time,
                           const uint8_t *orig, size_t orig_len, int *stripped);

/* An output size that is always enough for ae_js_build_headers with this much of the
 * publisher's header block and ids up to 192 bytes. */
size_t ae_js_headers_cap(size_t orig_len);

#endif
