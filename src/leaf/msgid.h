/* Message ids of the durable uplink: the Nats-Msg-Id the forwarder gives every record it
 * publishes to the hub's JetStream, and the check that an id found at the hub is one this
 * vehicle made.
 *
 *   <vid>.<epoch>.<seq>[r<inc>]-<tag>
 *
 * vid is the vehicle id, epoch the store directory's random epoch (16 hex digits), seq the
 * log sequence of the record, inc a non-zero "incarnation" used only when a copy the hub
 * stored out of order was deleted and the record is published again (the hub remembers the
 * old id in its duplicate window, so the new copy needs a new one), and tag 8 hex digits of
 * HMAC-SHA256 over everything before the '-', keyed with the store's secret.
 *
 * Why keyed: the hub deduplicates by id, and the forwarder learns how far the hub got from
 * the ids it finds there. Any other program that can publish on the vehicle's subjects could
 * otherwise write an id with a far higher seq (the forwarder would retire records it never
 * delivered) or this vehicle's *next* ids (the hub would drop the real messages as
 * duplicates). Without the secret, which never leaves the vehicle, neither can be forged. */
#ifndef AERIE_LEAF_MSGID_H
#define AERIE_LEAF_MSGID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_MSGID_KEY_LEN 32
#define AE_MSGID_MAX     192 /* longest id formatted, with its NUL */

typedef struct ae_msgid_key {
    char vid[128];
    uint64_t epoch;
    uint8_t secret[AE_MSGID_KEY_LEN];
} ae_msgid_key;

/* What a parsed id says. */
typedef enum ae_msgid_verdict {
    AE_MSGID_OURS,    /* made by this vehicle and store: seq and inc are valid */
    AE_MSGID_FOREIGN, /* another vehicle's or another store epoch's, or not an Aerie id */
    AE_MSGID_FORGED,  /* our vid and epoch, but the tag does not verify: someone else wrote it */
} ae_msgid_verdict;

/* Formats the id of record seq (inc 0 for its first life) into buf (AE_MSGID_MAX bytes are
 * always enough for a vid up to 127 bytes). Returns the length, or -1 if it did not fit. */
int ae_msgid_format(const ae_msgid_key *k, uint64_t seq, uint32_t inc, char *buf, size_t cap);

/* Classifies an id (not NUL-terminated, len bytes). For AE_MSGID_OURS fills *seq and *inc.
 * Constant-time tag comparison. Never reads past len. */
ae_msgid_verdict ae_msgid_parse(const ae_msgid_key *k, const char *id, size_t len, uint64_t *seq,
                                uint32_t *inc);

#endif
