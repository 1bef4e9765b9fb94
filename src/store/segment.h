/* The on-disk format of the durable log (docs/store.md has the same tables): explicit-width
 * little-endian helpers, the segment header, record encoding and verification, and the
 * read-ahead window that recovery and cursors read files through. Pure format code,
 * implemented in segment.c: no store state, no policy, no locking. */
#ifndef AERIE_STORE_SEGMENT_H
#define AERIE_STORE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "store/os.h"
#include "store/store.h"

#define AE_SEG_MAGIC    "AERIELOG"
#define AE_SEG_VERSION  1u
#define AE_SEG_HDR_SIZE 48u
#define AE_REC_HDR_SIZE 36u
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

/* A read-ahead window over one file, used by recovery and cursors. */
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

#endif
