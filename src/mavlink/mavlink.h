/* MAVLink v1/v2 framing: the checksum, an incremental parser that survives garbage, and a
 * frame encoder with v2 payload truncation and optional signing.
 *
 * The parser does no I/O. Feed it whatever bytes arrived (a UDP datagram, a serial read of
 * any size) and it calls back once per valid frame with a view that points into its own
 * buffer. It hunts for a start byte, waits for the whole frame, checks CRC_EXTRA from the
 * message table, checks the signature when a key is configured, and keeps counters per
 * parser (one parser per link) and sequence-gap counters per (sysid, compid) source.
 * After a bad frame it rescans from the byte after the bad start byte, so a start byte
 * hidden inside garbage cannot swallow a good frame behind it. */
#ifndef AERIE_MAVLINK_MAVLINK_H
#define AERIE_MAVLINK_MAVLINK_H

#include "mavlink/messages.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_MAV_STX_V1         0xFE
#define AE_MAV_STX_V2         0xFD
#define AE_MAV_IFLAG_SIGNED   0x01
#define AE_MAV_SIGNATURE_LEN  13
#define AE_MAV_MAX_FRAME      280 /* 10 header + 255 payload + 2 crc + 13 signature */
#define AE_MAV_MAX_SOURCES    32  /* (sysid, compid) pairs tracked for sequence gaps */
#define AE_MAV_MAX_SIGSTREAMS 16  /* (sysid, compid, link_id) streams tracked for replay */

/* CRC-16/MCRF4XX as MAVLink uses it. Start from 0xFFFF. */
uint16_t ae_mav_crc_accumulate(uint16_t crc, const uint8_t *p, size_t n);

/* A decoded frame. Pointers are borrowed from the parser (valid only during the callback) or
 * from the caller's buffer (ae_mav_frame_parse). */
typedef struct ae_mav_frame {
    uint8_t version; /* 1 or 2 */
    uint8_t len;     /* payload length as sent */
    uint8_t incompat_flags, compat_flags;
    uint8_t seq, sysid, compid;
    uint32_t msgid;
    const uint8_t *payload;
    const uint8_t *raw; /* the whole frame, signature included */
    size_t raw_len;
    const ae_mav_msginfo *info; /* never NULL for frames handed to the callback */
    bool is_signed;             /* carried a signature block */
    bool sig_verified;          /* a key was configured and the signature matched */
    uint8_t link_id;            /* signature fields, when is_signed */
    uint64_t sig_timestamp;
} ae_mav_frame;

/* Per-source sequence tracking. */
typedef struct ae_mav_source {
    uint8_t sysid, compid;
    uint8_t last_seq;
    uint64_t frames; /* well-formed frames from this source (unknown msgids included) */
    uint64_t lost;   /* frames missing according to seq jumps */
} ae_mav_source;

typedef struct ae_mav_stats {
    uint64_t frames;        /* valid frames delivered */
    uint64_t bytes;         /* bytes fed */
    uint64_t skipped_bytes; /* bytes discarded while hunting for a start byte */
    uint64_t crc_errors;
    uint64_t unknown_msgid;  /* well-formed frames with a msgid not in our table (skipped) */
    uint64_t bad_incompat;   /* v2 frames with incompat bits we do not understand */
    uint64_t sig_unverified; /* signed frames passed without a check (no key configured) */
    uint64_t sig_errors;     /* signature mismatch or replayed timestamp (key configured) */
    uint64_t seq_lost;       /* sum of ae_mav_source.lost */
} ae_mav_stats;

typedef void (*ae_mav_frame_cb)(void *ctx, const ae_mav_frame *f);

typedef struct ae_mav_sigstream {
    uint8_t sysid, compid, link_id;
    uint64_t last_ts;
} ae_mav_sigstream;

typedef struct ae_mav_parser {
    uint8_t buf[AE_MAV_MAX_FRAME];
    size_t have;
    ae_mav_frame_cb cb;
    void *ctx;
    bool has_key;
    bool require_signed; /* with a key: drop unsigned v2/v1 frames too */
    uint8_t key[32];
    ae_mav_stats stats;
    ae_mav_source sources[AE_MAV_MAX_SOURCES];
    size_t nsources;
    ae_mav_sigstream sigstreams[AE_MAV_MAX_SIGSTREAMS];
    size_t nsigstreams;
} ae_mav_parser;

/* Prepares a parser that calls cb(ctx, frame) for each valid frame. cb may be NULL (count
 * only). The parser holds no heap memory; embed it anywhere. */
void ae_mav_parser_init(ae_mav_parser *p, ae_mav_frame_cb cb, void *ctx);
/* Configures the 32-byte signing secret: signed frames are then verified (signature and
 * replay) and dropped on mismatch. With require_signed, unsigned frames are dropped as well.
 * Without a key, signed frames pass with sig_verified = false and are counted. */
void ae_mav_parser_set_key(ae_mav_parser *p, const uint8_t key[32], bool require_signed);
/* Feeds n bytes. Calls the callback for every frame completed by them; a partial frame is
 * kept for the next call. Returns the number of frames delivered. Never fails. The callback
 * must not call ae_mav_parse on the same parser. */
size_t ae_mav_parse(ae_mav_parser *p, const uint8_t *data, size_t n);
/* Looks up the sequence statistics of a source; NULL if never seen. Borrowed. */
const ae_mav_source *ae_mav_parser_source(const ae_mav_parser *p, uint8_t sysid, uint8_t compid);

/* ---- encoding ----------------------------------------------------------------------------- */

typedef struct ae_mav_signing {
    uint8_t key[32];
    uint8_t link_id;
    uint64_t timestamp; /* 10 µs ticks since 2015-01-01; the encoder uses it, then adds 1 */
} ae_mav_signing;

typedef struct ae_mav_header {
    uint8_t version; /* 1 or 2 */
    uint8_t seq, sysid, compid;
    uint8_t compat_flags; /* v2 only */
} ae_mav_header;

/* Encodes one frame around `payload` (the full packed payload of the message, plen bytes as
 * from ae_mav_pack). v2 payloads are truncated to their last non-zero byte (at least one byte);
 * v1 frames carry the base fields only and require msgid < 256. When `sign` is non-NULL
 * (v2 only) the signature block is appended and sign->timestamp incremented.
 * Returns the frame length (<= AE_MAV_MAX_FRAME) written to out, or AE_EINVAL (unknown
 * msgid, v1 with msgid > 255 or signing, cap too small). */
int ae_mav_encode(uint8_t *out, size_t cap, const ae_mav_header *h, uint32_t msgid,
                  const uint8_t *payload, size_t plen, ae_mav_signing *sign);
/* Packs the message struct `msg` for msgid and encodes it: the usual way to send. Same
 * returns as ae_mav_encode. */
int ae_mav_encode_msg(uint8_t *out, size_t cap, const ae_mav_header *h, uint32_t msgid,
                      const void *msg, ae_mav_signing *sign);
/* Unpacks a delivered frame into the message struct for f->msgid (zero-extended). */
void ae_mav_frame_unpack(const ae_mav_frame *f, void *msg);

/* Signature of a frame: the first 6 bytes of SHA-256(key || frame minus its last 6 bytes).
 * `frame` is a complete signed frame of n bytes (n >= 25). */
void ae_mav_signature(const uint8_t key[32], const uint8_t *frame, size_t n, uint8_t out[6]);

/* The current time as a signing timestamp (10 µs ticks since 2015-01-01T00:00:00Z). */
uint64_t ae_mav_signing_now(void);

#endif
