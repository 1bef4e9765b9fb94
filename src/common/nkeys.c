/* nkey encoding, signing and credential files; see nkeys.h. */
#include "common/nkeys.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First byte of a seed: 18 << 3 ('S'); key types are 5-bit values shifted left by 3. */
#define PREFIX_SEED (18 << 3)

static int type_byte(char type)
{
    switch (type) {
    case 'U':
        return 20 << 3;
    case 'A':
        return 0;
    case 'O':
        return 14 << 3;
    case 'N':
        return 13 << 3;
    case 'C':
        return 2 << 3;
    default:
        return -1;
    }
}

static char type_char(int b)
{
    const char types[] = "UAONC";
    for (int i = 0; types[i]; i++) {
        if (type_byte(types[i]) == b)
            return types[i];
    }
    return 0;
}

/* CRC-16/XMODEM, the checksum nkeys append. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static size_t base32_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    uint32_t buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32[(buf << (5 - bits)) & 31];
    out[o] = 0;
    return o;
}

static int base32_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen)
{
    uint32_t buf = 0;
    int bits = 0;
    size_t o = 0;
    for (; *in; in++) {
        const char *p = strchr(b32, toupper((unsigned char)*in));
        if (!p || !*in)
            return -1;
        buf = (buf << 5) | (uint32_t)(p - b32);
        bits += 5;
        if (bits >= 8) {
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    *outlen = o;
    return 0;
}

static int derive_public(ae_nkey *k, ae_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->seed, 32);
    size_t len = 32;
    if (!pk || EVP_PKEY_get_raw_public_key(pk, k->pub, &len) != 1 || len != 32) {
        EVP_PKEY_free(pk);
        return ae_err_set(err, AE_EIO, "cannot derive the Ed25519 public key (OpenSSL)");
    }
    EVP_PKEY_free(pk);
    return 0;
}

int ae_nkey_from_seed(const char *seed, ae_nkey *out, ae_err *err)
{
    uint8_t raw[64];
    size_t n;
    if (!seed || base32_decode(seed, raw, sizeof raw, &n) != 0 || n != 36)
        return ae_err_set(err, AE_EINVAL,
                          "not an nkey seed (expected 58 base32 characters "
                          "starting with S)");
    uint16_t want = (uint16_t)(raw[34] | raw[35] << 8);
    if (crc16(raw, 34) != want)
        return ae_err_set(err, AE_EINVAL, "nkey seed checksum mismatch: the seed is damaged");
    if ((raw[0] & 0xF8) != PREFIX_SEED)
        return ae_err_set(err, AE_EINVAL, "this nkey is not a seed (a public key was given?)");
    int tb = ((raw[0] & 7) << 5) | ((raw[1] & 0xF8) >> 3);
    char t = type_char(tb);
    if (!t)
        return ae_err_set(err, AE_EINVAL, "unknown nkey seed type");
    out->type = t;
    memcpy(out->seed, raw + 2, 32);
    return derive_public(out, err);
}

int ae_nkey_generate(char type, ae_nkey *out, ae_err *err)
{
    if (type_byte(type) < 0)
        return ae_err_set(err, AE_EINVAL, "unknown nkey type '%c'", type);
    if (RAND_bytes(out->seed, 32) != 1)
        return ae_err_set(err, AE_EIO, "no randomness for a new nkey (OpenSSL RAND_bytes)");
    out->type = type;
    return derive_public(out, err);
}

int ae_nkey_public(const ae_nkey *k, char *out, size_t cap)
{
    uint8_t raw[35];
    raw[0] = (uint8_t)type_byte(k->type);
    memcpy(raw + 1, k->pub, 32);
    uint16_t c = crc16(raw, 33);
    raw[33] = (uint8_t)(c & 0xff);
    raw[34] = (uint8_t)(c >> 8);
    if (cap < 57)
        return AE_EINVAL;
    base32_encode(raw, sizeof raw, out);
    return 0;
}

int ae_nkey_seed(const ae_nkey *k, char *out, size_t cap)
{
    uint8_t raw[36];
    int tb = type_byte(k->type);
    raw[0] = (uint8_t)(PREFIX_SEED | (tb >> 5));
    raw[1] = (uint8_t)((tb & 31) << 3);
    memcpy(raw + 2, k->seed, 32);
    uint16_t c = crc16(raw, 34);
    raw[34] = (uint8_t)(c & 0xff);
    raw[35] = (uint8_t)(c >> 8);
    if (cap < 59)
        return AE_EINVAL;
    base32_encode(raw, sizeof raw, out);
    return 0;
}

int ae_nkey_sign(const ae_nkey *k, const void *msg, size_t len, char *out, size_t cap, ae_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t sig[64];
    size_t siglen = sizeof sig;
    int ok = pk && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    if (!ok)
        return ae_err_set(err, AE_EIO, "Ed25519 signing failed (OpenSSL)");
    /* base64url without padding */
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (cap < 87)
        return ae_err_set(err, AE_EINVAL, "signature buffer too small");
    size_t o = 0;
    for (size_t i = 0; i < 64; i += 3) {
        uint32_t v = (uint32_t)sig[i] << 16;
        if (i + 1 < 64)
            v |= (uint32_t)sig[i + 1] << 8;
        if (i + 2 < 64)
            v |= sig[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < 64)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < 64)
            out[o++] = tbl[v & 63];
    }
    out[o] = 0;
    return 0;
}

/* The first line after `begin` that is not a marker or blank, trimmed; malloc'd. */
static char *block_after(const char *text, const char *begin)
{
    const char *p = strstr(text, begin);
    if (!p)
        return NULL;
    p = strchr(p, '\n');
    while (p && *p) {
        p++;
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        while (n && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        if (n && strncmp(p, "---", 3) != 0)
            return strndup(p, n);
        p = e;
    }
    return NULL;
}

int ae_nkey_load_file(const char *path, ae_nkey *key, char **jwt, ae_err *err)
{
    if (jwt)
        *jwt = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return ae_err_set(err, AE_EIO, "cannot read credentials %s: %m", path);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *seed = block_after(text, "BEGIN USER NKEY SEED");
    if (!seed) {
        /* a plain seed file: the first token starting with S */
        const char *s = strstr(text, "SU");
        if (s) {
            size_t k = 0;
            while (s[k] && !isspace((unsigned char)s[k]))
                k++;
            seed = strndup(s, k);
        }
    }
    if (!seed)
        return ae_err_set(err, AE_EINVAL, "%s holds no user nkey seed (SU...)", path);
    ae_err inner = {0};
    int rc = ae_nkey_from_seed(seed, key, &inner);
    memset(seed, 0, strlen(seed));
    free(seed);
    if (rc)
        return ae_err_set(err, rc, "%s: %s", path, inner.msg);
    if (jwt)
        *jwt = block_after(text, "BEGIN NATS USER JWT");
    return 0;
}
