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
    bool server; /* accepted on the client port (messages speak of the client's certificate) */
};

/* nats-server 2.9's TLS 1.2 defaults (ciphersuites.go defaultCipherSuites), OpenSSL names. */
static const char NATS_DEFAULT_CIPHERS[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

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

/* Appends ":name" (or "name") to an OpenSSL list; false if it does not fit. */
static bool list_add(char *list, size_t cap, const char *name)
{
    size_t n = strlen(list);
    int w = snprintf(list + n, cap - n, "%s%s", n ? ":" : "", name);
    return w > 0 && (size_t)w < cap - n;
}

/* nats-server's (Go's) cipher suite names into an OpenSSL TLS 1.2 cipher list. */
static int cipher_list(const ae_tls_server_config *cfg, char *out, size_t cap, ae_err *err)
{
    out[0] = 0;
    for (int i = 0; i < cfg->ncipher_suites; i++) {
        const char *go = cfg->cipher_suites[i];
        if (!strcmp(go, "TLS_AES_128_GCM_SHA256") || !strcmp(go, "TLS_AES_256_GCM_SHA384") ||
            !strcmp(go, "TLS_CHACHA20_POLY1305_SHA256"))
            continue; /* TLS 1.3 suites: not configurable, as in nats-server */
        char iana[128];
        /* Go drops the _SHA256 that the IANA name of the ChaCha20 suites ends with. */
        size_t gl = strlen(go);
        bool chacha = gl > 17 && !strcmp(go + gl - 17, "CHACHA20_POLY1305");
        snprintf(iana, sizeof iana, "%s%s", go, chacha ? "_SHA256" : "");
        const char *name = OPENSSL_cipher_name(iana);
        if (!name || !strcmp(name, "(NONE)"))
            return ae_err_set(err, AE_EINVAL,
                              "tls: cipher suite %s is unknown or not available in OpenSSL", go);
        if (!list_add(out, cap, name))
            return ae_err_set(err, AE_EINVAL, "tls: too many cipher suites");
    }
    if (cfg->ncipher_suites > 0 && !out[0])
        snprintf(out, cap, "%s", NATS_DEFAULT_CIPHERS);
    return 0;
}

static int group_list(const ae_tls_server_config *cfg, char *out, size_t cap, ae_err *err)
{
    static const struct {
        const char *go, *ossl;
    } map[] = {{"X25519", "X25519"},
               {"CurveP256", "P-256"},
               {"CurveP384", "P-384"},
               {"CurveP521", "P-521"}};
    out[0] = 0;
    for (int i = 0; i < cfg->ncurves; i++) {
        const char *name = NULL;
        for (size_t k = 0; k < sizeof map / sizeof map[0] && !name; k++)
            if (!strcmp(cfg->curves[i], map[k].go))
                name = map[k].ossl;
        if (!name)
            return ae_err_set(err, AE_EINVAL,
                              "tls: unknown curve preference %s (known: X25519, CurveP256, "
                              "CurveP384, CurveP521)",
                              cfg->curves[i]);
        if (!list_add(out, cap, name))
            return ae_err_set(err, AE_EINVAL, "tls: too many curve preferences");
    }
    return 0;
}

int ae_tls_server_ctx_new(const ae_tls_server_config *cfg, ae_tls_ctx **out, ae_err *err)
{
    char ciphers[2048], groups[256];
    int lrc = cipher_list(cfg, ciphers, sizeof ciphers, err);
    if (lrc == 0)
        lrc = group_list(cfg, groups, sizeof groups, err);
    if (lrc)
        return lrc;
    if (!cfg->cert_file || !cfg->key_file)
        return ae_err_set(err, AE_EINVAL,
                          "TLS on the client port needs a certificate and a key (tls { cert_file, "
                          "key_file } or --tlscert and --tlskey)");
    if (cfg->verify && !cfg->ca_file)
        return ae_err_set(err, AE_EINVAL,
                          "TLS verify needs the CA that signs client certificates (tls { ca_file } "
                          "or --tlscacert)");
    ae_tls_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    c->ctx = SSL_CTX_new(TLS_server_method());
    if (!c->ctx) {
        free(c);
        return ae_err_set(err, AE_EIO, "cannot create a TLS context: %s", ssl_errstr());
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* No session tickets or cache: clients reconnect rarely and each handshake verifies. */
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c->ctx, 0);
    SSL_CTX_set_options(c->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    int rc = 0;
    const char *list = ciphers[0] ? ciphers : NATS_DEFAULT_CIPHERS;
    if (SSL_CTX_set_cipher_list(c->ctx, list) != 1)
        rc = ae_err_set(err, AE_EINVAL, "tls: no usable cipher suite in \"%s\": %s", list,
                        ssl_errstr());
    else if (groups[0] && SSL_CTX_set1_groups_list(c->ctx, groups) != 1)
        rc = ae_err_set(err, AE_EINVAL, "tls: curve preferences \"%s\" not usable: %s", groups,
                        ssl_errstr());
    else if (SSL_CTX_use_certificate_chain_file(c->ctx, cfg->cert_file) != 1)
        rc = ae_err_set(err, AE_EINVAL, "cannot load TLS certificate %s: %s", cfg->cert_file,
                        ssl_errstr());
    else if (SSL_CTX_use_PrivateKey_file(c->ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1)
        rc = ae_err_set(err, AE_EINVAL, "cannot load TLS key %s: %s", cfg->key_file, ssl_errstr());
    else if (SSL_CTX_check_private_key(c->ctx) != 1)
        rc = ae_err_set(err, AE_EINVAL, "TLS key %s does not match certificate %s", cfg->key_file,
                        cfg->cert_file);
    else if (cfg->ca_file && SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL) != 1)
        rc = ae_err_set(err, AE_EINVAL, "cannot load TLS CA file %s: %s", cfg->ca_file,
                        ssl_errstr());
    if (rc) {
        ae_tls_ctx_free(c);
        return rc;
    }
    if (cfg->verify) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(c->ctx, names);
    } else {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    }
    *out = c;
    return 0;
}

int ae_tls_accept_new(ae_tls_ctx *ctx, int fd, ae_tls **out, ae_err *err)
{
    ae_tls *t = calloc(1, sizeof *t);
    if (!t)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    t->server = true;
    t->ssl = SSL_new(ctx->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        ae_tls_free(t);
        return ae_err_set(err, AE_EIO, "cannot start TLS: %s", ssl_errstr());
    }
    SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;
}

static bool offer_general_names(X509 *cert, int type, bool (*fn)(void *, const char *), void *ctx)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != type)
            continue;
        const ASN1_IA5STRING *v = g->d.ia5;
        char buf[512];
        int n = v->length < (int)sizeof buf - 1 ? v->length : (int)sizeof buf - 1;
        memcpy(buf, v->data, (size_t)n);
        buf[n] = 0;
        found = fn(ctx, buf);
    }
    GENERAL_NAMES_free(names);
    return found;
}

bool ae_tls_peer_names(const ae_tls *t, bool (*fn)(void *ctx, const char *name), void *ctx)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    if (!cert)
        return false;
    if (offer_general_names(cert, GEN_EMAIL, fn, ctx) ||
        offer_general_names(cert, GEN_DNS, fn, ctx) || offer_general_names(cert, GEN_URI, fn, ctx))
        return true;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return false;
    bool found = false;
    if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char dn[1024];
        int n = BIO_read(b, dn, sizeof dn - 1);
        if (n > 0) {
            dn[n] = 0;
            found = fn(ctx, dn);
        }
    }
    BIO_free(b);
    return found;
}

bool ae_tls_has_pending(const ae_tls *t)
{
    return SSL_has_pending(t->ssl) == 1;
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
        return ae_err_set(err, AE_EAUTH, "TLS %s failed: %s certificate rejected: %s", what,
                          t->server ? "client" : "hub", X509_verify_cert_error_string(vr));
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
    return rc == 0 ? ae_err_set(err, AE_EIO, "TLS handshake failed: the %s closed the connection",
                                t->server ? "client" : "hub")
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
