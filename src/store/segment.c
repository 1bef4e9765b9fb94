/* The on-disk format of the durable log (docs/store.md has the same tables): segment
 * headers, record encoding and verification, the read-ahead window used by recovery and
 * cursors, and the scan that finds the next valid record after damage. Pure format code: no
 * store state, no policy. All integers little-endian with explicit widths, so a log written
 * on one machine reads on any other.
 *
 * Segment header, 48 bytes:
 *   0 magic "AERIELOG" | 8 u32 version | 12 u32 header size (48) | 16 u64 store epoch
 *   24 u64 first seq | 32 i64 created (ns) | 40 u32 flags (0) | 44 u32 CRC32C of bytes 0..43
 * Record, 36 bytes + body:
 *   0 u32 record length (header + body) | 4 u32 CRC32C of bytes 0..3 and 8..len-1
 *   8 u64 seq | 16 i64 event time (ns) | 24 u16 subject length | 26 u16 flags (0)
 *   28 u32 header-block length | 32 u32 payload length | 36 subject, header block, payload */
#include "store/segment.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/crc32c.h"

void ae_seg_hdr_encode(uint8_t *b, uint64_t epoch, uint64_t first_seq, int64_t created_ns)
{
    memset(b, 0, AE_SEG_HDR_SIZE);
    memcpy(b, AE_SEG_MAGIC, 8);
    ae_put32(b + 8, AE_SEG_VERSION);
    ae_put32(b + 12, AE_SEG_HDR_SIZE);
    ae_put64(b + 16, epoch);
    ae_put64(b + 24, first_seq);
    ae_put64(b + 32, (uint64_t)created_ns);
    ae_put32(b + 40, 0);
    ae_put32(b + 44, ae_crc32c(0, b, 44));
}

int ae_seg_hdr_decode(const uint8_t *b, uint64_t *epoch, uint64_t *first_seq)
{
    if (memcmp(b, AE_SEG_MAGIC, 8) != 0 || ae_get32(b + 8) != AE_SEG_VERSION ||
        ae_get32(b + 12) != AE_SEG_HDR_SIZE || ae_get32(b + 44) != ae_crc32c(0, b, 44))
        return AE_ECORRUPT;
    *epoch = ae_get64(b + 16);
    *first_seq = ae_get64(b + 24);
    /* Seq 0 means "none" everywhere, and the top values leave no room to grow. */
    if (*first_seq == 0 || *first_seq > UINT64_MAX / 2)
        return AE_ECORRUPT;
    return 0;
}

uint64_t ae_rec_size(const ae_store_msg *m)
{
    return AE_REC_HDR_SIZE + (uint64_t)m->subject_len + m->hdr_len + m->payload_len;
}

static uint32_t rec_crc(const uint8_t *p, uint32_t len)
{
    /* The length is covered too: a flipped length bit must not pass as a shorter record. */
    return ae_crc32c(ae_crc32c(0, p, 4), p + 8, len - 8);
}

void ae_rec_encode(uint8_t *b, uint64_t seq, int64_t time_ns, const ae_store_msg *m)
{
    uint32_t len = (uint32_t)ae_rec_size(m);
    ae_put32(b, len);
    ae_put64(b + 8, seq);
    ae_put64(b + 16, (uint64_t)time_ns);
    ae_put16(b + 24, (uint16_t)m->subject_len);
    ae_put16(b + 26, 0);
    ae_put32(b + 28, (uint32_t)m->hdr_len);
    ae_put32(b + 32, (uint32_t)m->payload_len);
    uint8_t *q = b + AE_REC_HDR_SIZE;
    memcpy(q, m->subject, m->subject_len);
    q += m->subject_len;
    if (m->hdr_len)
        memcpy(q, m->hdr, m->hdr_len);
    q += m->hdr_len;
    if (m->payload_len)
        memcpy(q, m->payload, m->payload_len);
    ae_put32(b + 4, rec_crc(b, len));
}

uint32_t ae_rec_len(const uint8_t *p)
{
    uint32_t len = ae_get32(p);
    if (len < AE_REC_HDR_SIZE + 1 || len > AE_REC_HARD_MAX)
        return 0;
    return len;
}

bool ae_rec_hdr_plausible(const uint8_t *p)
{
    uint32_t len = ae_rec_len(p);
    uint64_t sl = ae_get16(p + 24), hl = ae_get32(p + 28), pl = ae_get32(p + 32);
    return len && sl && ae_get16(p + 26) == 0 && AE_REC_HDR_SIZE + sl + hl + pl == len;
}

int ae_rec_decode(const uint8_t *p, uint32_t len, ae_store_rec *rec)
{
    if (len < AE_REC_HDR_SIZE + 1 || ae_get32(p) != len)
        return AE_ECORRUPT;
    uint64_t sl = ae_get16(p + 24), hl = ae_get32(p + 28), pl = ae_get32(p + 32);
    if (sl == 0 || ae_get16(p + 26) != 0 || AE_REC_HDR_SIZE + sl + hl + pl != len)
        return AE_ECORRUPT;
    if (ae_get32(p + 4) != rec_crc(p, len))
        return AE_ECORRUPT;
    rec->seq = ae_get64(p + 8);
    rec->time_ns = (int64_t)ae_get64(p + 16);
    rec->subject = (const char *)p + AE_REC_HDR_SIZE;
    rec->subject_len = sl;
    rec->hdr = p + AE_REC_HDR_SIZE + sl;
    rec->hdr_len = hl;
    rec->payload = rec->hdr + hl;
    rec->payload_len = pl;
    return 0;
}

/* ---- read-ahead window ---------------------------------------------------------------- */

#define RBUF_CHUNK (64u << 10)

int ae_rbuf_get(const ae_os *os, int fd, ae_rbuf *rb, uint64_t pos, size_t n, uint64_t limit,
                const uint8_t **p)
{
    if (pos > limit || n > limit - pos)
        return AE_ECORRUPT;
    if (rb->len && pos >= rb->off && pos + n <= rb->off + rb->len) {
        *p = rb->buf + (pos - rb->off);
        return 0;
    }
    /* Read ahead a chunk (never past the logical end, which may be followed by bytes a
     * failed append left behind), or the whole request when it is bigger. */
    size_t want = n > RBUF_CHUNK ? n : RBUF_CHUNK;
    if (want > limit - pos)
        want = (size_t)(limit - pos);
    if (want > rb->cap) {
        /* Shrink back to one chunk after a big record rather than keep its buffer. */
        uint8_t *nb = malloc(want);
        if (!nb)
            return AE_ENOMEM;
        free(rb->buf);
        rb->buf = nb;
        rb->cap = want;
    } else if (rb->cap > 4 * RBUF_CHUNK && want <= RBUF_CHUNK) {
        uint8_t *nb = malloc(RBUF_CHUNK);
        if (nb) {
            free(rb->buf);
            rb->buf = nb;
            rb->cap = RBUF_CHUNK;
        }
    }
    rb->len = 0;
    size_t got = 0;
    while (got < want) {
        ssize_t r = os->pread(os->ctx, fd, rb->buf + got, want - got, (off_t)(pos + got));
        if (r < 0)
            return AE_EIO;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rb->off = pos;
    rb->len = got;
    if (got < n) {
        /* The file is shorter than its logical end: someone truncated it under us. */
        errno = EIO;
        return AE_ECORRUPT;
    }
    *p = rb->buf;
    return 0;
}

void ae_rbuf_reset(ae_rbuf *rb)
{
    rb->len = 0;
}

void ae_rbuf_free(ae_rbuf *rb)
{
    free(rb->buf);
    rb->buf = NULL;
    rb->cap = rb->len = 0;
}

/* ---- salvage ---------------------------------------------------------------------------- */

int ae_rec_scan(const ae_os *os, int fd, ae_rbuf *rb, uint64_t from, uint64_t limit, uint64_t base,
                uint64_t max_seq, uint64_t *at, uint64_t *seq)
{
    for (uint64_t p = from + 1; p < limit && limit - p >= AE_REC_MIN_SIZE; p++) {
        const uint8_t *h;
        int rc = ae_rbuf_get(os, fd, rb, p, AE_REC_HDR_SIZE, limit, &h);
        if (rc)
            return rc;
        /* The cheap tests first: almost every offset fails one of them. */
        uint64_t q = ae_get64(h + 8);
        if (q < base || q > max_seq || q - base > (p - from) / AE_REC_MIN_SIZE)
            continue;
        if (!ae_rec_hdr_plausible(h) || ae_get32(h) > limit - p)
            continue;
        uint32_t n = ae_get32(h);
        if ((rc = ae_rbuf_get(os, fd, rb, p, n, limit, &h)) != 0)
            return rc;
        ae_store_rec rec;
        if (ae_rec_decode(h, n, &rec) != 0)
            continue;
        *at = p;
        *seq = q;
        return 0;
    }
    return AE_ENOENT;
}
