/* Compatibility: TLS on the client port, configured as nats-server is (nats-wire-notes
 * §1.11): INFO in plaintext with "tls_required" (and "tls_verify" when client certificates
 * are verified), then the handshake, then everything inside TLS. TLS 1.3 and TLS 1.2 with
 * nats-server's default cipher suites (ECDHE with AES-GCM or ChaCha20); other TLS 1.2 suites
 * and plaintext after INFO are refused; `verify` requires a client certificate from the CA;
 * `verify_and_map` takes the user from the certificate (an e-mail address, or the subject DN
 * in any RDN order) with that user's permissions; the `tls {}` block, the command-line flags
 * (--tls/--tlscert/--tlskey, -tlsverify/-tlscacert), a handshake timeout, and payloads up to
 * max_payload through TLS. Test certificates: tests/wire/certs (EC P-256, 100-year validity,
 * CA "Aerie Test CA"; mallory's is signed by another CA). */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "interop.h"

#define CERT(f) AERIE_WIRE_CERTS "/" f

typedef struct tls_client {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char info[4096];
    char error[256]; /* why the handshake failed */
} tls_client;

typedef struct tls_want {
    const char *cert, *key; /* client certificate, or NULL */
    int max_version;        /* TLS1_2_VERSION to force TLS 1.2; 0: up to 1.3 */
    const char *ciphers;    /* TLS 1.2 cipher list, or NULL */
} tls_want;

/* Connects, reads the plaintext INFO and runs the handshake (verifying the server against
 * the test CA and "localhost"). Returns true when it completed. */
static bool tls_open(tls_client *t, int port, const tls_want *w)
{
    memset(t, 0, sizeof *t);
    t->fd = ai_open(port, t->info, sizeof t->info);
    t->ctx = SSL_CTX_new(TLS_client_method());
    AH_ASSERT(t->ctx != NULL);
    AH_ASSERT(SSL_CTX_load_verify_locations(t->ctx, CERT("ca.pem"), NULL) == 1);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (w && w->cert) {
        AH_ASSERT(SSL_CTX_use_certificate_chain_file(t->ctx, w->cert) == 1);
        AH_ASSERT(SSL_CTX_use_PrivateKey_file(t->ctx, w->key, SSL_FILETYPE_PEM) == 1);
    }
    if (w && w->max_version)
        SSL_CTX_set_max_proto_version(t->ctx, w->max_version);
    if (w && w->ciphers)
        AH_ASSERT(SSL_CTX_set_cipher_list(t->ctx, w->ciphers) == 1);
    t->ssl = SSL_new(t->ctx);
    SSL_set_fd(t->ssl, t->fd);
    SSL_set_tlsext_host_name(t->ssl, "localhost");
    SSL_set1_host(t->ssl, "localhost");
    struct timeval tv = {.tv_sec = 5};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (SSL_connect(t->ssl) == 1)
        return true;
    ERR_error_string_n(ERR_get_error(), t->error, sizeof t->error);
    return false;
}

static void tls_close(tls_client *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    if (t->fd >= 0)
        close(t->fd);
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

static void tls_send_n(tls_client *t, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        int w = SSL_write(t->ssl, c, n > 65536 ? 65536 : (int)n);
        AH_ASSERT_MSG(w > 0, "SSL_write failed (%d)", SSL_get_error(t->ssl, w));
        c += w;
        n -= (size_t)w;
    }
}

static void tls_send(tls_client *t, const char *s)
{
    tls_send_n(t, s, strlen(s));
}

/* Reads until `needle` ends what was read, or the peer closes. Returns the bytes read (into
 * a malloc'd buffer the caller frees) and sets *closed. */
static char *tls_read_until(tls_client *t, const char *needle, size_t *len, bool *closed)
{
    size_t cap = 1 << 16, n = 0, nl = strlen(needle);
    char *buf = malloc(cap + 1);
    AH_ASSERT(buf != NULL);
    *closed = false;
    int64_t deadline = ah_now_ms() + (int64_t)(5000 * ah_timeout_scale());
    while (!(n >= nl && memcmp(buf + n - nl, needle, nl) == 0) && ah_now_ms() < deadline) {
        if (cap - n < 16384) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            AH_ASSERT(buf != NULL);
        }
        int r = SSL_read(t->ssl, buf + n, (int)(cap - n));
        if (r <= 0) {
            *closed = true;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* Sends `input` and requires exactly `expect` back (which must end with PONG). */
static void tls_expect(tls_client *t, const char *input, const char *expect)
{
    tls_send(t, input);
    bool closed;
    char *got = tls_read_until(t, "PONG\r\n", NULL, &closed);
    AH_ASSERT_MSG(strcmp(got, expect) == 0, "after %s: expected \"%s\", got \"%s\"%s", input,
                  expect, got, closed ? " and a close" : "");
    free(got);
}

static char *tls_config(const char *extra)
{
    char *c = NULL;
    AH_ASSERT(asprintf(&c, "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n%s}\n",
                       CERT("server-cert.pem"), CERT("server-key.pem"), extra ? extra : "") > 0);
    return c;
}

static void case_tls_pubsub(void)
{
    char *conf = tls_config(NULL);
    ai_broker b;
    ai_broker_opts o = {.config = conf};
    ai_broker_start(&b, &o);
    tls_client sub, pub;
    AH_ASSERT_MSG(tls_open(&sub, b.port, NULL), "TLS 1.3 handshake: %s", sub.error);
    AH_ASSERT_CONTAINS(sub.info, "\"tls_required\":true");
    AH_ASSERT_MSG(!strstr(sub.info, "tls_verify"), "tls_verify without verify: %s", sub.info);
    AH_ASSERT_EQ_STR(SSL_get_version(sub.ssl), "TLSv1.3");
    /* verbose over TLS, and a message back to the same connection */
    tls_expect(&sub, "CONNECT {\"verbose\":true}\r\nSUB t.a 1\r\nPUB t.a 5\r\nhello\r\nPING\r\n",
               "+OK\r\n+OK\r\n+OK\r\nMSG t.a 1 5\r\nhello\r\nPONG\r\n");
    tls_want v12 = {.max_version = TLS1_2_VERSION};
    AH_ASSERT_MSG(tls_open(&pub, b.port, &v12), "TLS 1.2 handshake: %s", pub.error);
    AH_ASSERT_EQ_STR(SSL_get_version(pub.ssl), "TLSv1.2");
    tls_expect(&pub, "CONNECT {\"verbose\":false}\r\nPUB t.a 3\r\nabc\r\nPING\r\n", "PONG\r\n");
    /* A payload of exactly max_payload (1 MiB) crosses both TLS connections intact. */
    size_t big = 1024 * 1024;
    char *payload = malloc(big);
    AH_ASSERT(payload != NULL);
    for (size_t i = 0; i < big; i++)
        payload[i] = (char)('a' + i % 23);
    char hdr[64];
    snprintf(hdr, sizeof hdr, "PUB t.a %zu\r\n", big);
    tls_send(&pub, hdr);
    tls_send_n(&pub, payload, big);
    tls_send(&pub, "\r\nPING\r\n");
    bool closed;
    free(tls_read_until(&pub, "PONG\r\n", NULL, &closed));
    tls_send(&sub, "PING\r\n");
    size_t n;
    char *got = tls_read_until(&sub, "PONG\r\n", &n, &closed);
    const char *first = "MSG t.a 1 3\r\nabc\r\nMSG t.a 1 1048576\r\n";
    AH_ASSERT_MSG(n == strlen(first) + big + 2 + 6, "subscriber got %zu bytes", n);
    AH_ASSERT(memcmp(got, first, strlen(first)) == 0);
    AH_ASSERT(memcmp(got + strlen(first), payload, big) == 0);
    free(got);
    free(payload);
    tls_close(&pub);
    tls_close(&sub);
    ai_broker_free(&b);
    free(conf);
}

static void case_refused(void)
{
    char *conf = tls_config("  timeout: 1\n");
    ai_broker b;
    ai_broker_opts o = {.config = conf};
    ai_broker_start(&b, &o);
    /* Plaintext after INFO: closed, and nothing is said in plaintext. */
    int fd = ai_open(b.port, NULL, 0);
    AH_ASSERT(ah_send(fd, "CONNECT {\"verbose\":false}\r\nPING\r\n") == 0);
    char buf[4096] = "";
    AH_ASSERT_MSG(ah_wait_closed(fd, buf, sizeof buf, (int)(3000 * ah_timeout_scale())),
                  "plaintext CONNECT on a TLS port not closed");
    AH_ASSERT_MSG(!strstr(buf, "PONG") && !strstr(buf, "+OK"), "plaintext answered: %s", buf);
    close(fd);
    /* TLS 1.2 suites outside nats-server's defaults (CBC here) are refused. */
    tls_client t;
    tls_want cbc = {.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-SHA256"};
    AH_ASSERT_MSG(!tls_open(&t, b.port, &cbc), "TLS 1.2 with a CBC suite was accepted");
    tls_close(&t);
    tls_want gcm = {.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"};
    AH_ASSERT_MSG(tls_open(&t, b.port, &gcm), "TLS 1.2 with an ECDHE GCM suite: %s", t.error);
    tls_close(&t);
    /* A client that never starts the handshake is closed after the TLS timeout (1 s). */
    fd = ai_open(b.port, NULL, 0);
    int64_t t0 = ah_now_ms();
    AH_ASSERT_MSG(ah_wait_closed(fd, NULL, 0, (int)(5000 * ah_timeout_scale())),
                  "silent client on a TLS port not closed");
    AH_ASSERT_MSG(ah_now_ms() - t0 >= 500, "closed before the TLS timeout");
    close(fd);
    AH_ASSERT(ah_alive(&b.proc));
    ai_broker_free(&b);
    free(conf);
}

/* True if the broker answers a CONNECT + PING through TLS. With TLS 1.3 the client's side of
 * the handshake may complete before the server has checked the client certificate, so a
 * refusal can show at the handshake, at the first write or at the first read. */
static bool served(tls_client *t, int port, const tls_want *w)
{
    if (!tls_open(t, port, w))
        return false;
    const char *req = "CONNECT {}\r\nPING\r\n";
    if (SSL_write(t->ssl, req, (int)strlen(req)) <= 0)
        return false;
    bool closed;
    char *got = tls_read_until(t, "PONG\r\n", NULL, &closed);
    bool ok = strstr(got, "PONG") != NULL;
    free(got);
    return ok;
}

static void case_verify(void)
{
    char *extra = NULL;
    AH_ASSERT(asprintf(&extra, "  ca_file: \"%s\"\n  verify: true\n", CERT("ca.pem")) > 0);
    char *conf = tls_config(extra);
    ai_broker b;
    ai_broker_opts o = {.config = conf};
    ai_broker_start(&b, &o);
    tls_client t;
    /* Without a certificate, or with one from another CA, the handshake fails (OpenSSL 3
     * clients may only see the refusal on their first read after TLS 1.3's handshake). */
    AH_ASSERT_MSG(!served(&t, b.port, NULL), "served without a client certificate");
    AH_ASSERT_CONTAINS(t.info, "\"tls_verify\":true");
    tls_close(&t);
    tls_want mallory = {.cert = CERT("mallory-cert.pem"), .key = CERT("mallory-key.pem")};
    AH_ASSERT_MSG(!served(&t, b.port, &mallory), "served a certificate from another CA");
    tls_close(&t);
    tls_want alice = {.cert = CERT("alice-cert.pem"), .key = CERT("alice-key.pem")};
    AH_ASSERT_MSG(tls_open(&t, b.port, &alice), "alice's certificate: %s", t.error);
    tls_expect(&t, "CONNECT {\"verbose\":false}\r\nPING\r\n", "PONG\r\n");
    tls_close(&t);
    ai_broker_free(&b);
    free(conf);
    free(extra);
}

static void case_verify_and_map(void)
{
    char *extra = NULL, *conf = NULL;
    AH_ASSERT(asprintf(&extra, "  ca_file: \"%s\"\n  verify_and_map: true\n", CERT("ca.pem")) > 0);
    char *tls = tls_config(extra);
    /* alice by the e-mail address in her certificate, bob by his subject in another order. */
    AH_ASSERT(asprintf(&conf,
                       "%sauthorization { users = [\n"
                       "  {user: \"alice@aerie.test\", permissions: {publish: \"ok.>\"}}\n"
                       "  {user: \"O=Aerie Test,OU=fleet,CN=bob\"}\n"
                       "] }\n",
                       tls) > 0);
    ai_broker b;
    ai_broker_opts o = {.config = conf};
    ai_broker_start(&b, &o);
    tls_client t;
    tls_want alice = {.cert = CERT("alice-cert.pem"), .key = CERT("alice-key.pem")};
    AH_ASSERT_MSG(tls_open(&t, b.port, &alice), "alice: %s", t.error);
    AH_ASSERT_CONTAINS(t.info, "\"auth_required\":true");
    tls_expect(&t, "CONNECT {\"verbose\":true}\r\nPUB no 1\r\nx\r\nPUB ok.1 1\r\ny\r\nPING\r\n",
               "+OK\r\n-ERR 'Permissions Violation for Publish to \"no\"'\r\n+OK\r\nPONG\r\n");
    tls_close(&t);
    tls_want bob = {.cert = CERT("bob-cert.pem"), .key = CERT("bob-key.pem")};
    AH_ASSERT_MSG(tls_open(&t, b.port, &bob), "bob: %s", t.error);
    tls_expect(&t, "CONNECT {\"verbose\":true}\r\nPUB no 1\r\nx\r\nPING\r\n",
               "+OK\r\n+OK\r\nPONG\r\n");
    tls_close(&t);
    ai_broker_free(&b);
    /* A certificate that names no configured user: Authorization Violation. */
    char *conf2 = NULL;
    AH_ASSERT(asprintf(&conf2, "%sauthorization { users = [ {user: \"carol@aerie.test\"} ] }\n",
                       tls) > 0);
    o.config = conf2;
    ai_broker_start(&b, &o);
    AH_ASSERT_MSG(tls_open(&t, b.port, &alice), "alice: %s", t.error);
    tls_send(&t, "CONNECT {\"verbose\":false,\"user\":\"carol@aerie.test\"}\r\nPING\r\n");
    bool closed;
    char *got = tls_read_until(&t, "\r\n", NULL, &closed);
    AH_ASSERT_EQ_STR(got, "-ERR 'Authorization Violation'\r\n");
    free(got);
    tls_close(&t);
    ai_broker_free(&b);
    free(conf2);
    free(conf);
    free(tls);
    free(extra);
}

static void case_command_line(void)
{
    /* --tls --tlscert --tlskey (two dashes) */
    const char *two[] = {
        "--tls", "--tlscert", CERT("server-cert.pem"), "--tlskey", CERT("server-key.pem"), NULL};
    ai_broker b;
    ai_broker_opts o = {.args = two};
    ai_broker_start(&b, &o);
    tls_client t;
    AH_ASSERT_MSG(tls_open(&t, b.port, NULL), "--tls: %s", t.error);
    AH_ASSERT_CONTAINS(t.info, "\"tls_required\":true");
    tls_expect(&t, "CONNECT {\"verbose\":false}\r\nPING\r\n", "PONG\r\n");
    tls_close(&t);
    ai_broker_free(&b);
    /* -tlsverify -tlscacert (one dash; -tlsverify implies TLS) */
    const char *one[] = {"-tlsverify",           "-tlscert",   CERT("server-cert.pem"), "-tlskey",
                         CERT("server-key.pem"), "-tlscacert", CERT("ca.pem"),          NULL};
    o.args = one;
    o.one_dash = true;
    ai_broker_start(&b, &o);
    tls_want alice = {.cert = CERT("alice-cert.pem"), .key = CERT("alice-key.pem")};
    AH_ASSERT_MSG(tls_open(&t, b.port, &alice), "-tlsverify with alice: %s", t.error);
    AH_ASSERT_CONTAINS(t.info, "\"tls_verify\":true");
    tls_expect(&t, "CONNECT {\"verbose\":false}\r\nPING\r\n", "PONG\r\n");
    tls_close(&t);
    ai_broker_free(&b);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"tls_pubsub", case_tls_pubsub, 30},
        {"refused", case_refused, 30},
        {"verify", case_verify, 30},
        {"verify_and_map", case_verify_and_map, 30},
        {"command_line", case_command_line, 30},
    };
    printf("broker under test: %s\n", ai_broker_name());
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
