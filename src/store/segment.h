/* The on-disk format of the durable log (docs/store.md has the same tables): explicit-width
 * little-endian helpers, the segment header, record encoding and verification, and the
 * read-ahead window that recovery and cursors read files through. Pure format code,
 * implemented in segment.c: no store state, no policy, no locking. */
#ifndef AERIE_STORE_SEGMENT_H
#define AERIE_STORE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/os.h"
#include "store/store.h"

#define AE_SEG_MAGIC    "AERIELOG"
#define AE_SEG_VERSION  1u
#define AE_SEG_HDR_SIZE 48u
#define AE_REC_HDR_SIZE 36u
#define AE_REC_MIN_SIZE (AE_REC_HDR_SIZE + 1u) /* a one-byte subject, nothing else */
/* Largest record recovery accepts whatever max_record_bytes says now, so a lowered limit
 * never turns stored records into "corruption". Appends are capped far below. */
#define AE_REC_HARD_MAX (64u * 1024 * 1024 + AE_REC_HDR_SIZE + 65535u)

static inline void ae_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void ae_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ae_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t ae_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t ae_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ae_get64(const uint8_t *p)
{
    return (uint64_t)ae_get32(p) | (uint64_t)ae_get32(p + 4) << 32;
}

/* Writes a segment header into buf[AE_SEG_HDR_SIZE]. */
void ae_seg_hdr_encode(uint8_t *buf, uint64_t epoch, uint64_t first_seq, int64_t created_ns);
/* Checks a segment header. Returns 0 with *epoch and *first_seq, or AE_ECORRUPT. */
int ae_seg_hdr_decode(const uint8_t *buf, uint64_t *epoch, uint64_t *first_seq);

/* Encoded size of a record for m (header + subject + hdr + payload). */
uint64_t ae_rec_size(const ae_store_msg *m);
/* Encodes the record into buf (ae_rec_size(m) bytes). */
void ae_rec_encode(uint8_t *buf, uint64_t seq, int64_t time_ns, const ae_store_msg *m);
/* The length field of a record header at p (AE_REC_HDR_SIZE bytes available), or 0 when it
 * is out of bounds. */
uint32_t ae_rec_len(const uint8_t *p);
/* Verifies a whole record (len bytes at p: checksum, field sizes) and fills *rec with
 * pointers into p. Returns 0 or AE_ECORRUPT. */
int ae_rec_decode(const uint8_t *p, uint32_t len, ae_store_rec *rec);

/* True when the header at p (AE_REC_HDR_SIZE bytes) is self-consistent: its length is in
 * bounds and equals the header plus the three body lengths, the subject is not empty and
 * the flags are 0. Cheap (no checksum); a flipped bit in any length field fails it. */
bool ae_rec_hdr_plausible(const uint8_t *p);

typedef struct ae_rbuf {
    uint8_t *buf;
    size_t cap;
    uint64_t off; /* file offset of buf[0] */
    size_t len;   /* valid bytes in buf */
} ae_rbuf;

/* Makes bytes [pos, pos+n) of fd available at *p, reading ahead up to `limit` (the file's
 * logical end). Returns 0, AE_ECORRUPT if pos+n > limit, AE_ENOMEM, or AE_EIO (errno kept). */
int ae_rbuf_get(const ae_os *os, int fd, ae_rbuf *rb, uint64_t pos, size_t n, uint64_t limit,
                const uint8_t **p);
void ae_rbuf_reset(ae_rbuf *rb); /* forget the window (the file changed or moved) */
void ae_rbuf_free(ae_rbuf *rb);

/* Salvage after damage: finds the first offset p in (from, limit) of fd that holds a whole
 * valid record (plausible header, checksum, field sizes) whose seq q fits where it was
 * found. Damage starts at `from`, where seq `base` was expected, so a real record there has
 * base <= q <= max_seq, and the records base..q-1 it skipped must fit in the bytes skipped:
 * (q - base) * AE_REC_MIN_SIZE <= p - from. Random bytes, or a record copied into another
 * one's payload, almost never satisfy all of that. Returns 0 with *at = p and *seq = q,
 * AE_ENOENT when no record fits (the damage runs to the end), or AE_EIO / AE_ENOMEM /
 * AE_ECORRUPT (the file is shorter than limit) from reading. */
int ae_rec_scan(const ae_os *os, int fd, ae_rbuf *rb, uint64_t from, uint64_t limit, uint64_t base,
                uint64_t max_seq, uint64_t *at, uint64_t *seq);

#endif
