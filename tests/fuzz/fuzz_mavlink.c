/* libFuzzer target for the MAVLink codec: the input is fed to two parsers, one in a single
 * call and one in pieces whose sizes come from the input itself, one of them verifying
 * signatures. Both must deliver the same frames; every delivered frame is unpacked and
 * re-encoded (the round trip must reproduce its payload up to truncation). Crashes,
 * sanitizer reports and mismatches are findings. */
#include "mavlink/mavlink.h"

#include <stdlib.h>
#include <string.h>

typedef struct seen {
    size_t n;
    uint32_t sum; /* order-sensitive digest of delivered frames */
} seen;

static void on_frame(void *ctx, const ae_mav_frame *f)
{
    seen *s = ctx;
    s->n++;
    for (size_t i = 0; i < f->raw_len; i++)
        s->sum = s->sum * 31u + f->raw[i];
    uint8_t msg[512];
    ae_mav_frame_unpack(f, msg);
    uint8_t payload[256];
    size_t full = ae_mav_pack(f->info, msg, payload);
    /* The bytes we understood must survive the round trip. */
    size_t n = f->len < full ? f->len : full;
    if (memcmp(payload, f->payload, n) != 0)
        abort();
    uint8_t out[AE_MAV_MAX_FRAME];
    ae_mav_header h = {
        .version = f->version, .seq = f->seq, .sysid = f->sysid, .compid = f->compid};
    if (ae_mav_encode_msg(out, sizeof out, &h, f->msgid, msg, NULL) < 0 && f->version == 2)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {1, 2, 3};
    ae_mav_parser a, b;
    seen sa = {0}, sb = {0};
    ae_mav_parser_init(&a, on_frame, &sa);
    ae_mav_parser_init(&b, on_frame, &sb);
    ae_mav_parse(&a, data, size);
    size_t off = 0, k = 0;
    while (off < size) {
        size_t chunk = (size_t)(data[k++ % size] % 17) + 1;
        if (chunk > size - off)
            chunk = size - off;
        ae_mav_parse(&b, data + off, chunk);
        off += chunk;
    }
    if (sa.n != sb.n || sa.sum != sb.sum)
        abort();
    ae_mav_parser c;
    ae_mav_parser_init(&c, NULL, NULL);
    ae_mav_parser_set_key(&c, key, size > 0 && (data[0] & 1));
    ae_mav_parse(&c, data, size);
    return 0;
}
