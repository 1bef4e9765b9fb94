/* OpenSSL client sessions for the uplink; see tls.h. */
#include "leaf/tls.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ae_tls_ctx {
    SSL_CTX *ctx;
    bool insecure;
};

struct ae_tls {
    SSL *ssl;
    bool want_write;
};

static const char *ssl_errstr(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "no details from OpenSSL";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

int ae_tls_ctx_new(const ae_tls_config *cfg, ae_tls_ctx **out, ae_err *err)
{
    ae_tls_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) {
        free(c);
        return ae_err_set(err, AE_EIO, "cannot create a TLS context: %s", ssl_errstr());
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int rc = 0;
    if (cfg->ca_file) {
        if (SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL) != 1)
            rc = ae_err_set(err, AE_EINVAL, "cannot load CA file %s: %s", cfg->ca_file,
                            ssl_errstr());
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        rc = ae_err_set(err, AE_EINVAL, "cannot load the system trust store: %s", ssl_errstr());
    }
    if (rc == 0 && cfg->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(c->ctx, cfg->cert_file) != 1)
            rc = ae_err_set(err, AE_EINVAL, "cannot load client certificate %s: %s", cfg->cert_file,
                            ssl_errstr());
        else if (SSL_CTX_use_PrivateKey_file(c->ctx, cfg->key_file ? cfg->key_file : cfg->cert_file,
                                             SSL_FILETYPE_PEM) != 1)
            rc = ae_err_set(err, AE_EINVAL, "cannot load client key %s: %s",
                            cfg->key_file ? cfg->key_file : cfg->cert_file, ssl_errstr());
        else if (SSL_CTX_check_private_key(c->ctx) != 1)
            rc = ae_err_set(err, AE_EINVAL, "client key %s does not match certificate %s",
                            cfg->key_file, cfg->cert_file);
    }
    if (rc) {
        ae_tls_ctx_free(c);
        return rc;
    }
    c->insecure = cfg->insecure;
    SSL_CTX_set_verify(c->ctx, cfg->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (cfg->insecure)
        ae_log_warn("TLS certificate verification is OFF for the uplink (tls.insecure): never "
                    "use this outside a test");
    *out = c;
    return 0;
}

void ae_tls_ctx_free(ae_tls_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

int ae_tls_new(ae_tls_ctx *ctx, int fd, const char *host, ae_tls **out, ae_err *err)
{
    ae_tls *t = calloc(1, sizeof *t);
    if (!t)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    t->ssl = SSL_new(ctx->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        ae_tls_free(t);
        return ae_err_set(err, AE_EIO, "cannot start TLS: %s", ssl_errstr());
    }
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    if (!ctx->insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(t->ssl, host);
        if (ok != 1) {
            ae_tls_free(t);
            return ae_err_set(err, AE_EINVAL, "cannot set the expected TLS peer name %s", host);
        }
    }
    if (!is_ip)
        SSL_set_tlsext_host_name(t->ssl, host);
    SSL_set_connect_state(t->ssl);
    *out = t;
    return 0;
}

void ae_tls_free(ae_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}

static int classify(ae_tls *t, int ret, const char *what, ae_err *err)
{
    int e = SSL_get_error(t->ssl, ret);
    t->want_write = e == SSL_ERROR_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return AE_EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK)
        return ae_err_set(err, AE_EAUTH, "TLS %s failed: hub certificate rejected: %s", what,
                          X509_verify_cert_error_string(vr));
    return ae_err_set(err, AE_EIO, "TLS %s failed: %s", what,
                      e == SSL_ERROR_SYSCALL ? "connection closed or reset by the peer"
                                             : ssl_errstr());
}

int ae_tls_handshake(ae_tls *t, ae_err *err)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->want_write = false;
        return 0;
    }
    int rc = classify(t, r, "handshake", err);
    return rc == 0 ? ae_err_set(err, AE_EIO,
                                "TLS handshake failed: the hub closed the "
                                "connection")
                   : rc;
}

bool ae_tls_wants_write(const ae_tls *t)
{
    return t->want_write;
}

ssize_t ae_tls_read(ae_tls *t, void *buf, size_t n, ae_err *err)
{
    ERR_clear_error();
    int r = SSL_read(t->ssl, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
    if (r > 0)
        return r;
    return classify(t, r, "read", err);
}

ssize_t ae_tls_write(ae_tls *t, const void *buf, size_t n, ae_err *err)
{
    ERR_clear_error();
    int r = SSL_write(t->ssl, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
    if (r > 0)
        return r;
    int rc = classify(t, r, "write", err);
    return rc == 0 ? AE_EIO : rc;
}

const char *ae_tls_describe(const ae_tls *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
    return buf;
}
