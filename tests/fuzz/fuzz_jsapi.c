/* Fuzz target for what the durable forwarder parses from the hub and from its own config:
 * JetStream replies (leaf/jsapi.h), consumer delivery metadata, header blocks, message ids
 * (leaf/msgid.h), hub URLs (leaf/hub_urls.h) and the forwarder's note (leaf/fwdnote.h). The first
 * byte picks the parser; the rest is its input. Properties checked beyond "no crash, no
 * out-of-bounds read": an id the parser calls ours formats back to the same bytes, and rebuilding
 * headers never writes past the capacity it asked for. */
#include "leaf/fwdnote.h"
#include "leaf/hub_urls.h"
#include "leaf/jsapi.h"
#include "leaf/msgid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

static void note_entry(void *ctx, const ae_fwdnote_entry *e)
{
    (void)ctx;
    check(strlen(e->subject) == e->subject_len || memchr(e->subject, 0, e->subject_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0] % 7;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    /* an exact-size copy, so reads past the end are caught */
    uint8_t *buf = malloc(n ? n : 1);
    memcpy(buf, in, n);
    switch (sel) {
    case 0: { /* header block | body */
        size_t split = n ? buf[0] % (n + 1) : 0;
        ae_js_reply r;
        ae_js_reply_parse(buf, split, buf + split, n - split, &r);
        uint64_t last;
        ae_js_reply_wrong_last_seq(&r, &last);
        ae_js_reply_is_permanent(&r);
        break;
    }
    case 1: {
        ae_js_delivery d;
        ae_js_delivery_parse((const char *)buf, n, &d);
        break;
    }
    case 2: {
        const char *v;
        size_t vl;
        ae_hdr_status(buf, n);
        if (ae_hdr_get(buf, n, "Nats-Msg-Id", &v, &vl))
            check(v >= (const char *)buf && v + vl <= (const char *)buf + n);
        size_t cap = ae_js_headers_cap(n);
        char *out = malloc(cap);
        int stripped = 0;
        size_t len = ae_js_build_headers(out, cap, "id", "2026-01-01T00:00:00Z", buf, n, &stripped);
        check(len <= cap);
        free(out);
        break;
    }
    case 3: {
        ae_msgid_key k;
        memset(&k, 0, sizeof k);
        memcpy(k.vid, "VID-001", 8);
        k.epoch = 0xabcdefULL;
        uint64_t seq;
        uint32_t inc;
        if (ae_msgid_parse(&k, (const char *)buf, n, &seq, &inc) == AE_MSGID_OURS) {
            char again[AE_MSGID_MAX];
            int m = ae_msgid_format(&k, seq, inc, again, sizeof again);
            check(m == (int)n && memcmp(again, buf, n) == 0);
        }
        break;
    }
    case 5: /* the note the store keeps for the forwarder */
        ae_fwdnote_decode(buf, n, note_entry, NULL);
        break;
    default: {
        char *s = malloc(n + 1);
        memcpy(s, buf, n);
        s[n] = 0;
        ae_hub_urls l;
        memset(&l, 0, sizeof l);
        if (ae_hub_urls_add(&l, s, NULL) == 0)
            check(l.url[0].port > 0 && l.url[0].port <= 65535 && l.url[0].host[0]);
        ae_hub_urls_learn(&l, s);
        ae_hub_urls_free(&l);
        free(s);
        break;
    }
    }
    free(buf);
    return 0;
}
