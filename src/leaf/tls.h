/* TLS 1.3 for the uplink, on a non-blocking socket, with OpenSSL.
 *
 * Verification is always on unless `insecure` is set (tests only; logged loudly): the hub's
 * certificate must chain to the configured CA (or the system store) and match the host name
 * or IP address we dialled. Every failure produces a message that says which check failed. */
#ifndef AERIE_LEAF_TLS_H
#define AERIE_LEAF_TLS_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ae_tls_config {
    const char *ca_file;   /* NULL: the system's trust store */
    const char *cert_file; /* client certificate (optional) */
    const char *key_file;
    bool insecure;
} ae_tls_config;

typedef struct ae_tls_ctx ae_tls_ctx;
typedef struct ae_tls ae_tls;

/* Builds a client context (TLS 1.3 only). Returns 0 or AE_EINVAL with a message naming the
 * file that could not be loaded. */
int ae_tls_ctx_new(const ae_tls_config *cfg, ae_tls_ctx **out, ae_err *err);
void ae_tls_ctx_free(ae_tls_ctx *ctx);

/* Starts a client session on connected fd `fd` for `host` (a name or an IP literal). */
int ae_tls_new(ae_tls_ctx *ctx, int fd, const char *host, ae_tls **out, ae_err *err);
void ae_tls_free(ae_tls *t);

/* Drives the handshake. Returns 0 when done, AE_EAGAIN to be called again when the socket
 * is readable (or writable if ae_tls_wants_write), or an error with a message. */
int ae_tls_handshake(ae_tls *t, ae_err *err);
/* True if the last call stopped because it needs to write. */
bool ae_tls_wants_write(const ae_tls *t);
/* Reads decrypted bytes: > 0, 0 at a clean close, AE_EAGAIN, or AE_EIO with a message. */
ssize_t ae_tls_read(ae_tls *t, void *buf, size_t n, ae_err *err);
/* Writes: bytes accepted (> 0), AE_EAGAIN, or AE_EIO. */
ssize_t ae_tls_write(ae_tls *t, const void *buf, size_t n, ae_err *err);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
const char *ae_tls_describe(const ae_tls *t, char *buf, size_t cap);

#endif
