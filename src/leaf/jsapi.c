/* JetStream messages of the forwarder; see jsapi.h. */
#include "leaf/jsapi.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const uint8_t *find_crlf(const uint8_t *p, const uint8_t *end)
{
    for (; p + 1 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    }
    return NULL;
}

int ae_hdr_status(const uint8_t *hdr, size_t len)
{
    if (len < 12 || memcmp(hdr, "NATS/1.0 ", 9) != 0)
        return 0;
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (hdr[i] < '0' || hdr[i] > '9')
            return 0;
        code = code * 10 + (hdr[i] - '0');
    }
    return code;
}

bool ae_hdr_get(const uint8_t *hdr, size_t len, const char *key, const char **val, size_t *vlen)
{
    const uint8_t *end = hdr + len;
    const uint8_t *line = find_crlf(hdr, end);
    size_t klen = strlen(key);
    while (line && line + 2 < end) {
        line += 2;
        const uint8_t *eol = find_crlf(line, end);
        if (!eol || eol == line)
            return false;
        const uint8_t *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && (size_t)(colon - line) == klen &&
            strncasecmp((const char *)line, key, klen) == 0) {
            const uint8_t *v = colon + 1;
            const uint8_t *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *val = (const char *)v;
            *vlen = (size_t)(e - v);
            return true;
        }
        line = eol;
    }
    return false;
}

bool ae_hdr_is_js_control(const char *key, size_t len)
{
    static const char *const exact[] = {"Nats-Msg-Id", "Nats-Rollup", "Nats-TTL"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        if (len == strlen(exact[i]) && strncasecmp(key, exact[i], len) == 0)
            return true;
    }
    return len >= 14 && strncasecmp(key, "Nats-Expected-", 14) == 0;
}

size_t ae_js_headers_cap(size_t orig_len)
{
    return orig_len + 512;
}

size_t ae_js_build_headers(char *out, size_t cap, const char *msgid, const char *event_time,
                           const uint8_t *orig, size_t orig_len, int *stripped)
{
    int n = snprintf(out, cap, "NATS/1.0\r\nNats-Msg-Id: %s\r\nAerie-Event-Time: %s\r\n", msgid,
                     event_time);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    const uint8_t *end = orig + orig_len;
    const uint8_t *line = orig_len ? find_crlf(orig, end) : NULL; /* skip the version line */
    while (line && line + 2 < end) {
        line += 2;
        const uint8_t *eol = find_crlf(line, end);
        if (!eol || eol == line)
            break; /* the blank line that closes the block */
        const uint8_t *colon = memchr(line, ':', (size_t)(eol - line));
        size_t ll = (size_t)(eol - line) + 2;
        if (colon && ae_hdr_is_js_control((const char *)line, (size_t)(colon - line))) {
            if (stripped)
                (*stripped)++;
        } else {
            if (len + ll + 2 >= cap)
                return 0;
            memcpy(out + len, line, ll);
            len += ll;
        }
        line = eol;
    }
    if (len + 2 > cap)
        return 0;
    memcpy(out + len, "\r\n", 2);
    return len + 2;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, cap, "%s", s ? s : "");
}

bool ae_js_reply_parse(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                       ae_js_reply *out)
{
    memset(out, 0, sizeof *out);
    out->status = ae_hdr_status(hdr, hdr_len);
    if (out->status) {
        /* "NATS/1.0 503" and friends: keep the description for the log */
        const uint8_t *eol = find_crlf(hdr, hdr + hdr_len);
        size_t dl = eol ? (size_t)(eol - hdr) : hdr_len;
        snprintf(out->desc, sizeof out->desc, "status %.*s", (int)(dl > 9 ? dl - 9 : 0),
                 (const char *)hdr + (dl > 9 ? 9 : dl));
        return true;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        snprintf(out->desc, sizeof out->desc, "not a JetStream reply (%.*s)",
                 (int)(body_len > 60 ? 60 : body_len), (const char *)body);
        json_decref(j);
        return false;
    }
    copy_str(out->stream, sizeof out->stream, json_object_get(j, "stream"));
    json_t *e = json_object_get(j, "error");
    if (e) {
        json_t *c = json_object_get(e, "code"), *ec = json_object_get(e, "err_code");
        out->code = json_is_integer(c) ? (int)json_integer_value(c) : 0;
        out->err_code = json_is_integer(ec) ? (int)json_integer_value(ec) : 0;
        copy_str(out->desc, sizeof out->desc, json_object_get(e, "description"));
        if (!out->desc[0])
            snprintf(out->desc, sizeof out->desc, "error %d", out->code);
        json_decref(j);
        return true;
    }
    json_t *seq = json_object_get(j, "seq");
    if (json_is_integer(seq) && json_integer_value(seq) > 0) {
        out->seq = (uint64_t)json_integer_value(seq);
        out->duplicate = json_is_true(json_object_get(j, "duplicate"));
        out->ok = true;
    } else if (json_is_true(json_object_get(j, "success")) || json_object_get(j, "type")) {
        out->ok = true; /* an API response without error */
    } else {
        snprintf(out->desc, sizeof out->desc, "a reply without seq or error");
    }
    json_decref(j);
    return true;
}

bool ae_js_reply_wrong_last_seq(const ae_js_reply *r, uint64_t *last)
{
    if (r->err_code != AE_JS_ERR_WRONG_LAST_SEQ)
        return false;
    const char *p = strstr(r->desc, "wrong last sequence: ");
    if (!p)
        return false;
    p += strlen("wrong last sequence: ");
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 20; p++, digits++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (!digits || (*p >= '0' && *p <= '9'))
        return false;
    *last = v;
    return true;
}

bool ae_js_reply_is_permanent(const ae_js_reply *r)
{
    return r->err_code == AE_JS_ERR_MSG_TOO_BIG || r->err_code == AE_JS_ERR_HDR_TOO_BIG ||
           r->err_code == AE_JS_ERR_WRONG_STREAM;
}

/* Splits s[0..len) at dots into at most max tokens; returns the count (max + 1 if more). */
static int tokens(const char *s, size_t len, const char **tok, size_t *tl, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (n == max)
                return max + 1;
            tok[n] = s + start;
            tl[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

static bool tok_u64(const char *p, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

bool ae_js_delivery_parse(const char *reply, size_t len, ae_js_delivery *out)
{
    const char *at = memchr(reply, '@', len);
    if (at)
        len = (size_t)(at - reply);
    if (len < 8 || memcmp(reply, "$JS.ACK.", 8) != 0)
        return false;
    const char *tok[16];
    size_t tl[16];
    int n = tokens(reply, len, tok, tl, 15);
    /* 9 tokens: $JS ACK stream consumer delivered sseq cseq ts pending;
     * 11 or more: $JS ACK domain account stream consumer delivered sseq cseq ts pending ... */
    int base;
    if (n == 9)
        base = 4;
    else if (n >= 11 && n <= 15)
        base = 6;
    else
        return false;
    uint64_t dc, sseq, cseq, ts, pend;
    if (!tok_u64(tok[base], tl[base], &dc) || !tok_u64(tok[base + 1], tl[base + 1], &sseq) ||
        !tok_u64(tok[base + 2], tl[base + 2], &cseq) ||
        !tok_u64(tok[base + 3], tl[base + 3], &ts) || !tok_u64(tok[base + 4], tl[base + 4], &pend))
        return false;
    out->stream_seq = sseq;
    out->consumer_seq = cseq;
    out->pending = pend;
    out->time_ns = (int64_t)ts;
    return true;
}
