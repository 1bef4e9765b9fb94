/* The forwarder's note: what it keeps with the durable log's ack state so that after a crash
 * it knows, for every subject, which stream it goes to and where to start reading the stream
 * back (the stream sequence of the newest retired record; see pipeline.h). The store writes
 * the note atomically with its ack state (store.h, ae_store_set_note).
 *
 * A subject has one entry per JetStream domain it was forwarded to (a vehicle that failed
 * over to a fallback region's hubs forwards there, into another stream).
 *
 * Format, little endian: "AFN2", then per entry: u16 subject length, subject, u8 domain
 * length, domain, u8 stream length, stream, u64 retired log seq, u64 its stream seq. "AFN1"
 * (no domain: the one configured) is still read. A truncated or foreign blob yields the
 * entries before the damage. */
#ifndef AERIE_LEAF_FWDNOTE_H
#define AERIE_LEAF_FWDNOTE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ae_fwdnote_entry {
    const char *subject;
    size_t subject_len;
    const char *domain; /* NUL-terminated; "" in an AFN1 note */
    const char *stream; /* NUL-terminated */
    uint64_t retired_seq, retired_sseq;
} ae_fwdnote_entry;

/* Encodes n entries into a malloc'd blob (*len bytes). Returns NULL on allocation failure or
 * a subject or stream name too long for the format. */
uint8_t *ae_fwdnote_encode(const ae_fwdnote_entry *e, size_t n, size_t *len);

/* Calls fn for each entry of blob (subject, domain and stream point into a scratch copy,
 * NUL-terminated, valid for the call). Returns the number of entries read. */
size_t ae_fwdnote_decode(const void *blob, size_t len,
                         void (*fn)(void *ctx, const ae_fwdnote_entry *e), void *ctx);

#endif
