/* The websocket upgrade of the uplink; see ws_handshake.h. */
#include "leaf/ws_handshake.h"
#include "common/random.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ae_ws_make_key(char out[25], ae_err *err)
{
    unsigned char raw[16];
    if (ae_random_bytes(raw, sizeof raw, err) != 0)
        return AE_EIO;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
    return 0;
}

void ae_ws_accept_for(const char *key, char out[29])
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s%s", key, ws_guid);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), md);
    EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

int ae_ws_request(char *buf, size_t cap, const char *host, int port, const char *path,
                  const char *key, bool compress, bool no_masking)
{
    bool v6 = strchr(host, ':') != NULL;
    const char *p = path && path[0] == '/' ? path : "/";
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    int n = snprintf(buf, cap,
                     "GET %.*s/leafnode HTTP/1.1\r\n"
                     "Host: %s%s%s:%d\r\n"
                     "User-Agent: aerie-leaf\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s\r\n",
                     (int)pl, p, v6 ? "[" : "", host, v6 ? "]" : "", port, key,
                     compress ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                "server_no_context_takeover; client_no_context_takeover\r\n"
                              : "",
                     no_masking ? "Nats-No-Masking: true\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return AE_ELIMIT;
    return n;
}

/* Trims spaces and tabs at both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* Whether the comma separated list v[0..n) has the token tok (case-insensitive). */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    while (n) {
        const char *c = memchr(v, ',', n);
        size_t len = c ? (size_t)(c - v) : n;
        const char *t = v;
        size_t k = len;
        trim(&t, &k);
        if (k == tl && !strncasecmp(t, tok, tl))
            return true;
        if (!c)
            break;
        v = c + 1;
        n -= len + 1;
    }
    return false;
}

/* Sec-WebSocket-Extensions: which of permessage-deflate's parameters the hub chose. */
static void parse_extensions(const char *v, size_t n, ae_ws_upgrade *out)
{
    while (n) {
        const char *c = memchr(v, ',', n);
        size_t len = c ? (size_t)(c - v) : n;
        const char *e = v;
        size_t el = len;
        bool first = true, pmd = false;
        while (el) {
            const char *sc = memchr(e, ';', el);
            size_t pl = sc ? (size_t)(sc - e) : el;
            const char *prm = e;
            size_t k = pl;
            trim(&prm, &k);
            if (first)
                pmd = k == 18 && !strncasecmp(prm, "permessage-deflate", 18);
            else if (pmd && k == 26 && !strncasecmp(prm, "server_no_context_takeover", 26))
                out->server_no_ctx = true;
            else if (pmd && k == 26 && !strncasecmp(prm, "client_no_context_takeover", 26))
                out->client_no_ctx = true;
            first = false;
            if (!sc)
                break;
            e = sc + 1;
            el -= pl + 1;
        }
        if (pmd)
            out->deflate = true;
        if (!c)
            break;
        v = c + 1;
        n -= len + 1;
    }
}

static int bad(ae_err *err, const char *p, size_t n, const char *what)
{
    size_t sl = 0;
    while (sl < n && sl < 80 && p[sl] != '\r' && p[sl] != '\n')
        sl++;
    char line[96];
    size_t j = 0;
    for (size_t i = 0; i < sl; i++)
        line[j++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    line[j] = 0;
    return ae_err_set(err, AE_EPROTO, "the hub did not upgrade to websocket: %s (\"%s\")", what,
                      line);
}

int ae_ws_response_parse(const char *p, size_t n, const char *key, ae_ws_upgrade *out, ae_err *err)
{
    memset(out, 0, sizeof *out);
    size_t scan = n < AE_WS_MAX_RESPONSE ? n : AE_WS_MAX_RESPONSE;
    size_t head = 0;
    for (size_t i = 0; i + 3 < scan; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            head = i + 4;
            break;
        }
    }
    if (!head) {
        if (n >= AE_WS_MAX_RESPONSE)
            return ae_err_set(err, AE_ELIMIT,
                              "the hub's answer to the websocket upgrade has no end within %d "
                              "bytes: is this a websocket port?",
                              AE_WS_MAX_RESPONSE);
        /* Not HTTP at all (a NATS INFO on a plain leafnode port): no need to wait. */
        size_t k = n < 5 ? n : 5;
        if (k && strncmp(p, "HTTP/", k) != 0)
            return bad(err, p, n, "the answer is not HTTP (a leafnode or client port?)");
        return 0;
    }
    int major = 0, minor = 0, status = 0;
    char sp = 0, first[64];
    size_t fl = 0;
    while (fl < sizeof first - 1 && fl < head && p[fl] != '\r')
        fl++;
    memcpy(first, p, fl);
    first[fl] = 0;
    int got = sscanf(first, "HTTP/%1d.%1d %3d%c", &major, &minor, &status, &sp);
    if (got < 3 || (got == 4 && sp != ' ') || major != 1)
        return bad(err, p, head, "malformed status line");
    out->status = status;
    if (status != 101)
        return bad(err, p, head, "status is not 101");
    bool upgrade = false, connection = false, accept = false;
    char want[29];
    ae_ws_accept_for(key, want);
    const char *line = memchr(p, '\n', head) + 1;
    const char *end = p + head - 2; /* the final CRLF */
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line + 1));
        if (!eol || eol == line || eol[-1] != '\r')
            return bad(err, p, head, "malformed header line");
        size_t ll = (size_t)(eol - 1 - line);
        const char *colon = memchr(line, ':', ll);
        if (!colon)
            return bad(err, p, head, "header line without a colon");
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vl = ll - nl - 1;
        trim(&v, &vl);
        if (nl == 7 && !strncasecmp(line, "Upgrade", 7))
            upgrade = has_token(v, vl, "websocket");
        else if (nl == 10 && !strncasecmp(line, "Connection", 10))
            connection = has_token(v, vl, "upgrade");
        else if (nl == 20 && !strncasecmp(line, "Sec-WebSocket-Accept", 20))
            accept = vl == 28 && !memcmp(v, want, 28);
        else if (nl == 24 && !strncasecmp(line, "Sec-WebSocket-Extensions", 24))
            parse_extensions(v, vl, out);
        else if (nl == 15 && !strncasecmp(line, "Nats-No-Masking", 15))
            out->no_masking = vl == 4 && !strncasecmp(v, "true", 4);
        line = eol + 1;
    }
    if (!upgrade)
        return bad(err, p, head, "no \"Upgrade: websocket\"");
    if (!connection)
        return bad(err, p, head, "no \"Connection: Upgrade\"");
    if (!accept)
        return bad(err, p, head, "wrong or missing Sec-WebSocket-Accept");
    return (int)head;
}
