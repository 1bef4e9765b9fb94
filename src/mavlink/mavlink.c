/* MAVLink framing: checksum, the resynchronising parser, the encoder and signing.
 *
 * The parser works on spans: whole frames are taken straight out of the caller's bytes
 * (no copy), and only an incomplete tail is kept in the parser's 280-byte buffer until the
 * next call completes it. A span scan either consumes a complete frame, skips garbage up to
 * the next start byte, or stops at an incomplete frame; after a bad checksum it moves one byte
 * past the bad start byte and looks again, which is what makes the golden stream's fake
 * frames harmless. */
#include "mavlink/mavlink.h"

#include "common/err.h"
#include "common/timeutil.h"

#include <openssl/sha.h>
#include <string.h>

uint16_t ae_mav_crc_accumulate(uint16_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t t = (uint8_t)(p[i] ^ (crc & 0xFF));
        t ^= (uint8_t)(t << 4);
        crc = (uint16_t)((crc >> 8) ^ ((uint16_t)t << 8) ^ ((uint16_t)t << 3) ^ (t >> 4));
    }
    return crc;
}

void ae_mav_signature(const uint8_t key[32], const uint8_t *frame, size_t n, uint8_t out[6])
{
    uint8_t tmp[32 + AE_MAV_MAX_FRAME];
    uint8_t md[SHA256_DIGEST_LENGTH];
    size_t m = n - 6;
    memcpy(tmp, key, 32);
    memcpy(tmp + 32, frame, m);
    SHA256(tmp, 32 + m, md);
    memcpy(out, md, 6);
}

uint64_t ae_mav_signing_now(void)
{
    /* 2015-01-01T00:00:00Z is 1420070400 s after the Unix epoch. */
    int64_t us = ae_now_ns() / 1000 - 1420070400LL * 1000000LL;
    return us > 0 ? (uint64_t)us / 10 : 0;
}

void ae_mav_parser_init(ae_mav_parser *p, ae_mav_frame_cb cb, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->ctx = ctx;
}

void ae_mav_parser_set_key(ae_mav_parser *p, const uint8_t key[32], bool require_signed)
{
    memcpy(p->key, key, 32);
    p->has_key = true;
    p->require_signed = require_signed;
}

const ae_mav_source *ae_mav_parser_source(const ae_mav_parser *p, uint8_t sysid, uint8_t compid)
{
    for (size_t i = 0; i < p->nsources; i++)
        if (p->sources[i].sysid == sysid && p->sources[i].compid == compid)
            return &p->sources[i];
    return NULL;
}

static void track_seq(ae_mav_parser *p, uint8_t sysid, uint8_t compid, uint8_t seq)
{
    for (size_t i = 0; i < p->nsources; i++) {
        ae_mav_source *s = &p->sources[i];
        if (s->sysid != sysid || s->compid != compid)
            continue;
        /* A forward jump of less than half the counter is loss; anything else is a reboot,
         * a duplicate or a second link carrying the same source, none of which is loss. */
        uint8_t gap = (uint8_t)(seq - s->last_seq - 1);
        if (gap < 128) {
            s->lost += gap;
            p->stats.seq_lost += gap;
        }
        s->last_seq = seq;
        s->frames++;
        return;
    }
    if (p->nsources < AE_MAV_MAX_SOURCES) {
        ae_mav_source *s = &p->sources[p->nsources++];
        s->sysid = sysid;
        s->compid = compid;
        s->last_seq = seq;
        s->frames = 1;
        s->lost = 0;
    }
}

/* Replay protection: timestamps must grow strictly per (sysid, compid, link_id). */
static bool sig_fresh(ae_mav_parser *p, const ae_mav_frame *f)
{
    for (size_t i = 0; i < p->nsigstreams; i++) {
        ae_mav_sigstream *s = &p->sigstreams[i];
        if (s->sysid == f->sysid && s->compid == f->compid && s->link_id == f->link_id) {
            if (f->sig_timestamp <= s->last_ts)
                return false;
            s->last_ts = f->sig_timestamp;
            return true;
        }
    }
    /* A full table evicts the oldest-inserted stream: keeps memory bounded; a replay of an
     * evicted stream's frames would pass, which needs 16 concurrent signed streams first. */
    size_t slot = p->nsigstreams;
    if (slot == AE_MAV_MAX_SIGSTREAMS) {
        memmove(p->sigstreams, p->sigstreams + 1, (slot - 1) * sizeof p->sigstreams[0]);
        slot--;
    } else {
        p->nsigstreams++;
    }
    p->sigstreams[slot] = (ae_mav_sigstream){f->sysid, f->compid, f->link_id, f->sig_timestamp};
    return true;
}

static uint64_t get_u48(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 5; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

enum { FRAME_OK, FRAME_SKIP, FRAME_BAD };

/* Checks and delivers a complete frame of `total` bytes at d. FRAME_OK and FRAME_SKIP consume
 * the whole frame (SKIP: well-formed but not for us); FRAME_BAD means the bytes are not a
 * frame and scanning resumes at d + 1. */
static int check_frame(ae_mav_parser *p, const uint8_t *d, size_t total)
{
    ae_mav_frame f;
    size_t hdr;
    f.version = d[0] == AE_MAV_STX_V2 ? 2 : 1;
    f.len = d[1];
    if (f.version == 2) {
        hdr = 10;
        f.incompat_flags = d[2];
        f.compat_flags = d[3];
        f.seq = d[4];
        f.sysid = d[5];
        f.compid = d[6];
        f.msgid = (uint32_t)d[7] | (uint32_t)d[8] << 8 | (uint32_t)d[9] << 16;
    } else {
        hdr = 6;
        f.incompat_flags = f.compat_flags = 0;
        f.seq = d[2];
        f.sysid = d[3];
        f.compid = d[4];
        f.msgid = d[5];
    }
    f.info = ae_mav_msginfo_get(f.msgid);
    if (!f.info) {
        /* Without CRC_EXTRA the frame cannot be validated: trust the length and step over it. */
        p->stats.unknown_msgid++;
        track_seq(p, f.sysid, f.compid, f.seq); /* it still used a sequence number */
        return FRAME_SKIP;
    }
    uint16_t crc = ae_mav_crc_accumulate(0xFFFF, d + 1, hdr - 1 + f.len);
    crc = ae_mav_crc_accumulate(crc, &f.info->crc_extra, 1);
    const uint8_t *c = d + hdr + f.len;
    if (crc != (uint16_t)(c[0] | c[1] << 8)) {
        p->stats.crc_errors++;
        return FRAME_BAD;
    }
    f.payload = d + hdr;
    f.raw = d;
    f.raw_len = total;
    f.is_signed = (f.incompat_flags & AE_MAV_IFLAG_SIGNED) != 0;
    f.sig_verified = false;
    f.link_id = 0;
    f.sig_timestamp = 0;
    if (f.is_signed) {
        const uint8_t *s = c + 2;
        f.link_id = s[0];
        f.sig_timestamp = get_u48(s + 1);
        if (p->has_key) {
            uint8_t sig[6];
            ae_mav_signature(p->key, d, total, sig);
            if (memcmp(sig, s + 7, 6) != 0 || !sig_fresh(p, &f)) {
                p->stats.sig_errors++;
                return FRAME_SKIP;
            }
            f.sig_verified = true;
        } else {
            p->stats.sig_unverified++;
        }
    } else if (p->has_key && p->require_signed) {
        p->stats.sig_errors++;
        return FRAME_SKIP;
    }
    track_seq(p, f.sysid, f.compid, f.seq);
    p->stats.frames++;
    if (p->cb)
        p->cb(p->ctx, &f);
    return FRAME_OK;
}

/* Scans d[0..n): returns how many bytes were consumed; the rest is an incomplete frame. */
static size_t scan(ae_mav_parser *p, const uint8_t *d, size_t n, size_t *delivered)
{
    size_t i = 0;
    while (i < n) {
        if (d[i] != AE_MAV_STX_V2 && d[i] != AE_MAV_STX_V1) {
            size_t j = i + 1;
            while (j < n && d[j] != AE_MAV_STX_V2 && d[j] != AE_MAV_STX_V1)
                j++;
            p->stats.skipped_bytes += j - i;
            i = j;
            continue;
        }
        size_t rem = n - i;
        size_t hdr = d[i] == AE_MAV_STX_V2 ? 10 : 6;
        if (rem < hdr)
            break;
        size_t total = hdr + d[i + 1] + 2;
        if (hdr == 10) {
            uint8_t inc = d[i + 2];
            if (inc & ~AE_MAV_IFLAG_SIGNED) {
                p->stats.bad_incompat++;
                i++;
                continue;
            }
            if (inc & AE_MAV_IFLAG_SIGNED)
                total += AE_MAV_SIGNATURE_LEN;
        }
        if (rem < total)
            break;
        int r = check_frame(p, d + i, total);
        if (r == FRAME_BAD) {
            i++;
        } else {
            if (r == FRAME_OK)
                (*delivered)++;
            i += total;
        }
    }
    return i;
}

size_t ae_mav_parse(ae_mav_parser *p, const uint8_t *data, size_t n)
{
    size_t delivered = 0;
    p->stats.bytes += n;
    /* First finish whatever is buffered, topping it up from the new bytes. The buffer never
     * holds a complete frame between calls, so each pass either completes one or runs out of
     * input. */
    while (p->have > 0 && n > 0) {
        size_t take = sizeof p->buf - p->have;
        if (take > n)
            take = n;
        memcpy(p->buf + p->have, data, take);
        p->have += take;
        data += take;
        n -= take;
        size_t used = scan(p, p->buf, p->have, &delivered);
        memmove(p->buf, p->buf + used, p->have - used);
        p->have -= used;
    }
    if (n == 0)
        return delivered;
    size_t used = scan(p, data, n, &delivered);
    memcpy(p->buf, data + used, n - used); /* < AE_MAV_MAX_FRAME: scan stopped at a partial */
    p->have = n - used;
    return delivered;
}

/* ---- encoding ----------------------------------------------------------------------------- */

int ae_mav_encode(uint8_t *out, size_t cap, const ae_mav_header *h, uint32_t msgid,
                  const uint8_t *payload, size_t plen, ae_mav_signing *sign)
{
    const ae_mav_msginfo *mi = ae_mav_msginfo_get(msgid);
    if (!mi)
        return AE_EINVAL;
    size_t len, hdr;
    if (h->version == 1) {
        if (msgid > 255 || sign || plen < mi->base_len)
            return AE_EINVAL;
        len = mi->base_len; /* MAVLink 1 carries base fields only, never truncated */
        hdr = 6;
    } else if (h->version == 2) {
        len = plen > 255 ? 255 : plen;
        while (len > 1 && payload[len - 1] == 0)
            len--;
        hdr = 10;
    } else {
        return AE_EINVAL;
    }
    size_t total = hdr + len + 2 + (sign ? AE_MAV_SIGNATURE_LEN : 0);
    if (cap < total)
        return AE_EINVAL;
    if (hdr == 6) {
        out[0] = AE_MAV_STX_V1;
        out[1] = (uint8_t)len;
        out[2] = h->seq;
        out[3] = h->sysid;
        out[4] = h->compid;
        out[5] = (uint8_t)msgid;
    } else {
        out[0] = AE_MAV_STX_V2;
        out[1] = (uint8_t)len;
        out[2] = sign ? AE_MAV_IFLAG_SIGNED : 0;
        out[3] = h->compat_flags;
        out[4] = h->seq;
        out[5] = h->sysid;
        out[6] = h->compid;
        out[7] = (uint8_t)msgid;
        out[8] = (uint8_t)(msgid >> 8);
        out[9] = (uint8_t)(msgid >> 16);
    }
    memcpy(out + hdr, payload, len);
    uint16_t crc = ae_mav_crc_accumulate(0xFFFF, out + 1, hdr - 1 + len);
    crc = ae_mav_crc_accumulate(crc, &mi->crc_extra, 1);
    out[hdr + len] = (uint8_t)crc;
    out[hdr + len + 1] = (uint8_t)(crc >> 8);
    if (sign) {
        uint8_t *s = out + hdr + len + 2;
        s[0] = sign->link_id;
        for (int i = 0; i < 6; i++)
            s[1 + i] = (uint8_t)(sign->timestamp >> (8 * i));
        ae_mav_signature(sign->key, out, total, s + 7);
        sign->timestamp++;
    }
    return (int)total;
}

int ae_mav_encode_msg(uint8_t *out, size_t cap, const ae_mav_header *h, uint32_t msgid,
                      const void *msg, ae_mav_signing *sign)
{
    const ae_mav_msginfo *mi = ae_mav_msginfo_get(msgid);
    if (!mi)
        return AE_EINVAL;
    uint8_t payload[256];
    size_t plen = ae_mav_pack(mi, msg, payload);
    return ae_mav_encode(out, cap, h, msgid, payload, plen, sign);
}

void ae_mav_frame_unpack(const ae_mav_frame *f, void *msg)
{
    ae_mav_unpack(f->info, f->payload, f->len, msg);
}
