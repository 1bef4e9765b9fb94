/* NATS nkeys: Ed25519 identities encoded as base32 strings with a type prefix and a
 * CRC-16 checksum ("SU..." user seeds, "U..." user public keys), signing of a server's
 * nonce for authentication, and .creds files (a user JWT plus its seed).
 * The cryptography is OpenSSL's; only the encoding is ours. */
#ifndef AERIE_COMMON_NKEYS_H
#define AERIE_COMMON_NKEYS_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ae_nkey {
    uint8_t seed[32]; /* Ed25519 private seed */
    uint8_t pub[32];  /* Ed25519 public key */
    char type;        /* 'U' user, 'A' account, 'O' operator, 'N' server, 'C' cluster */
} ae_nkey;

/* Decodes a seed string ("SU..."). Returns 0, or AE_EINVAL with a message (bad base32,
 * checksum, or not a seed). */
int ae_nkey_from_seed(const char *seed, ae_nkey *out, ae_err *err);
/* A new random key of the given type ('U' for per-vehicle credentials). Returns 0 or AE_EIO. */
int ae_nkey_generate(char type, ae_nkey *out, ae_err *err);
/* Encodes the public key ("U...", 56 chars) into out (cap >= 57). */
int ae_nkey_public(const ae_nkey *k, char *out, size_t cap);
/* Encodes the seed ("SU...", 58 chars) into out (cap >= 59). */
int ae_nkey_seed(const ae_nkey *k, char *out, size_t cap);
/* Signs msg and writes the signature as unpadded base64url (86 chars) into out (cap >= 87). */
int ae_nkey_sign(const ae_nkey *k, const void *msg, size_t len, char *out, size_t cap, ae_err *err);

/* Reads a file holding an nkey seed, or a .creds file. For a .creds file *jwt receives the
 * user JWT (malloc'd; NULL otherwise). Returns 0, AE_EIO (cannot read: message names the
 * path), or AE_EINVAL (no valid seed found). */
int ae_nkey_load_file(const char *path, ae_nkey *key, char **jwt, ae_err *err);

#endif
