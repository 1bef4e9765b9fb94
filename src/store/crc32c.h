/* CRC32C (Castagnoli), the checksum on every durable-log record, segment header and meta
 * file. Written here rather than taken from a library because OpenSSL has none and the
 * table-driven form is a few lines; slicing by 8 keeps it well above disk speed. */
#ifndef AERIE_STORE_CRC32C_H
#define AERIE_STORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC32C over n bytes of p. Start with crc = 0; the result of one call may be
 * passed as `crc` to the next to checksum discontiguous pieces. Thread-safe (the tables are
 * built once, on first use, under pthread_once). */
uint32_t ae_crc32c(uint32_t crc, const void *p, size_t n);

#endif
