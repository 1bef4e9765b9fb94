/* TLS on non-blocking sockets, with OpenSSL: TLS 1.3 for the uplink (client side), and
 * TLS 1.2/1.3 on the client port (server side) configured as nats-server configures it.
 *
 * Client side: verification is always on unless `insecure` is set (tests only; logged
 * loudly): the hub's certificate must chain to the configured CA (or the system store) and
 * match the host name or IP address we dialled.
 *
 * Server side: TLS 1.2 with nats-server's default cipher suites (ECDHE with AES-GCM or
 * ChaCha20-Poly1305) or TLS 1.3; with `verify` a client certificate signed by the CA is
 * required. Every failure produces a message that says which check failed. */
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

/* The client port's TLS (the `tls {}` block, or --tls/--tlscert/--tlskey/--tlscacert/
 * --tlsverify). */
typedef struct ae_tls_server_config {
    const char *cert_file; /* server certificate chain (PEM) */
    const char *key_file;
    const char *ca_file; /* CA for client certificates (needed with verify) */
    bool verify;         /* require a client certificate that chains to ca_file */
    /* nats-server's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...): the TLS 1.2 suites
     * allowed (none: nats-server's defaults; TLS 1.3 names are accepted and, as in
     * nats-server, do not restrict TLS 1.3) and the key-exchange curves (X25519, CurveP256,
     * CurveP384, CurveP521; none: OpenSSL's defaults). */
    char **cipher_suites;
    int ncipher_suites;
    char **curves;
    int ncurves;
} ae_tls_server_config;

/* Builds a server context. Returns 0 or AE_EINVAL with a message naming the file or the
 * setting that could not be used. */
int ae_tls_server_ctx_new(const ae_tls_server_config *cfg, ae_tls_ctx **out, ae_err *err);
/* Starts a server session on accepted fd `fd` (the handshake runs in ae_tls_handshake). */
int ae_tls_accept_new(ae_tls_ctx *ctx, int fd, ae_tls **out, ae_err *err);
/* The names a verified client certificate carries, in nats-server's order for
 * verify_and_map: e-mail addresses, DNS names, URIs, then the subject as an RFC 2253
 * distinguished name ("CN=alice,OU=fleet,O=Acme"). Calls fn for each until it returns true;
 * returns true if one did. False without a peer certificate. */
bool ae_tls_peer_names(const ae_tls *t, bool (*fn)(void *ctx, const char *name), void *ctx);
/* True if decrypted bytes are buffered inside OpenSSL (epoll will not report them). */
bool ae_tls_has_pending(const ae_tls *t);

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
