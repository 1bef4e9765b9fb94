/* Codec tests against the golden vectors of an independent encoder (node-mavlink 2.3.0, see
 * data/SOURCE.md): every frame decodes to the listed field values, every encoder_exact frame
 * is reproduced byte for byte from those values, golden.bin parses to exactly the documented
 * frames and counters under any chunking, and every negative frame is rejected. Plus the
 * table self-check (CRC_EXTRA recomputed from our own field table), signing, and garbage. */
#include "common/err.h"
#include "harness/harness.h"
#include "mavlink/mavlink.h"
#include "mavlink/modes.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#ifndef AERIE_MAVLINK_DATA
#define AERIE_MAVLINK_DATA "tests/mavlink/data"
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    AH_ASSERT(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        AH_ASSERT(sscanf(h + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void tohex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = '\0';
}

/* Loads a JSON-lines file as an array. */
static json_t *load_jsonl(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", AERIE_MAVLINK_DATA, name);
    char *text = ah_read_file(path);
    AH_ASSERT_MSG(text, "cannot read %s", path);
    json_t *arr = json_array();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        AH_ASSERT_MSG(o, "%s: %s", name, e.text);
        json_array_append_new(arr, o);
    }
    free(text);
    return arr;
}

typedef struct collected {
    int n;
    uint8_t raw[64][AE_MAV_MAX_FRAME];
    size_t raw_len[64];
    ae_mav_frame hdr[64];
} collected;

static void collect(void *ctx, const ae_mav_frame *f)
{
    collected *c = ctx;
    AH_ASSERT(c->n < 64);
    memcpy(c->raw[c->n], f->raw, f->raw_len);
    c->raw_len[c->n] = f->raw_len;
    c->hdr[c->n] = *f;
    c->hdr[c->n].payload = c->hdr[c->n].raw = NULL; /* not valid after the callback */
    c->n++;
}

/* Reads element k of field f from a message struct as a double / int64 / uint64. */
static void *elem(void *msg, const ae_mav_field *f, int k)
{
    return (uint8_t *)msg + f->c_off + (size_t)k * ae_mav_type_size(f->type);
}

static void set_elem(void *msg, const ae_mav_field *f, int k, json_t *v)
{
    void *p = elem(msg, f, k);
    switch (f->type) {
    case AE_MAV_T_U8:
        *(uint8_t *)p = (uint8_t)json_integer_value(v);
        break;
    case AE_MAV_T_I8:
        *(int8_t *)p = (int8_t)json_integer_value(v);
        break;
    case AE_MAV_T_CHAR:
        break; /* handled per field */
    case AE_MAV_T_U16:
        *(uint16_t *)p = (uint16_t)json_integer_value(v);
        break;
    case AE_MAV_T_I16:
        *(int16_t *)p = (int16_t)json_integer_value(v);
        break;
    case AE_MAV_T_U32:
        *(uint32_t *)p = (uint32_t)json_integer_value(v);
        break;
    case AE_MAV_T_I32:
        *(int32_t *)p = (int32_t)json_integer_value(v);
        break;
    case AE_MAV_T_FLOAT:
        if (json_is_string(v)) {
            uint32_t bits = 0x7FC00000u; /* the quiet NaN node-mavlink writes */
            memcpy(p, &bits, 4);
        } else {
            *(float *)p = (float)json_number_value(v);
        }
        break;
    case AE_MAV_T_U64:
        *(uint64_t *)p = strtoull(json_string_value(v), NULL, 10);
        break;
    case AE_MAV_T_I64:
        *(int64_t *)p = strtoll(json_string_value(v), NULL, 10);
        break;
    case AE_MAV_T_DOUBLE:
        *(double *)p = json_number_value(v);
        break;
    }
}

static void check_elem(const char *vec, void *msg, const ae_mav_field *f, int k, json_t *v)
{
    void *p = elem(msg, f, k);
    switch (f->type) {
    case AE_MAV_T_U8:
        AH_ASSERT_MSG(*(uint8_t *)p == json_integer_value(v), "%s.%s", vec, f->name);
        break;
    case AE_MAV_T_I8:
        AH_ASSERT_MSG(*(int8_t *)p == json_integer_value(v), "%s.%s", vec, f->name);
        break;
    case AE_MAV_T_CHAR:
        break;
    case AE_MAV_T_U16:
        AH_ASSERT_MSG(*(uint16_t *)p == json_integer_value(v), "%s.%s", vec, f->name);
        break;
    case AE_MAV_T_I16:
        AH_ASSERT_MSG(*(int16_t *)p == json_integer_value(v), "%s.%s", vec, f->name);
        break;
    case AE_MAV_T_U32:
        AH_ASSERT_MSG(*(uint32_t *)p == json_integer_value(v), "%s.%s[%d]: %u != %lld", vec,
                      f->name, k, *(uint32_t *)p, (long long)json_integer_value(v));
        break;
    case AE_MAV_T_I32:
        AH_ASSERT_MSG(*(int32_t *)p == json_integer_value(v), "%s.%s", vec, f->name);
        break;
    case AE_MAV_T_FLOAT: {
        float got;
        memcpy(&got, p, 4);
        if (json_is_string(v)) {
            AH_ASSERT_MSG(isnan(got), "%s.%s should be NaN", vec, f->name);
        } else {
            float want = (float)json_number_value(v);
            AH_ASSERT_MSG(memcmp(&got, &want, 4) == 0, "%s.%s: %.9g != %.9g", vec, f->name,
                          (double)got, (double)want);
        }
        break;
    }
    case AE_MAV_T_U64:
        AH_ASSERT_MSG(*(uint64_t *)p == strtoull(json_string_value(v), NULL, 10), "%s.%s", vec,
                      f->name);
        break;
    case AE_MAV_T_I64:
        AH_ASSERT_MSG(*(int64_t *)p == strtoll(json_string_value(v), NULL, 10), "%s.%s", vec,
                      f->name);
        break;
    case AE_MAV_T_DOUBLE:
        AH_ASSERT_MSG(*(double *)p == json_number_value(v), "%s.%s", vec, f->name);
        break;
    }
}

/* Applies (set) or compares (check) every field listed in the vector. */
static void walk_fields(const char *vec, const ae_mav_msginfo *mi, json_t *fields, void *msg,
                        bool set)
{
    const char *key;
    json_t *v;
    int seen = 0;
    json_object_foreach(fields, key, v)
    {
        const ae_mav_field *f = ae_mav_field_get(mi, key);
        AH_ASSERT_MSG(f, "%s: field %s not in our table for %s", vec, key, mi->name);
        seen++;
        if (f->type == AE_MAV_T_CHAR) {
            char *p = elem(msg, f, 0);
            const char *s = json_string_value(v);
            if (set) {
                strncpy(p, s, f->count);
            } else {
                AH_ASSERT_EQ_STR(p, s);
            }
        } else if (f->count > 1) {
            AH_ASSERT_EQ_INT(json_array_size(v), f->count);
            for (int k = 0; k < f->count; k++) {
                if (set)
                    set_elem(msg, f, k, json_array_get(v, (size_t)k));
                else
                    check_elem(vec, msg, f, k, json_array_get(v, (size_t)k));
            }
        } else if (set) {
            set_elem(msg, f, 0, v);
        } else {
            check_elem(vec, msg, f, 0, v);
        }
    }
    AH_ASSERT_MSG(seen == mi->nfields, "%s: vector lists %d fields, table has %d", vec, seen,
                  mi->nfields);
}

/* ---- cases -------------------------------------------------------------------------------- */

static void t_crc_check_value(void)
{
    AH_ASSERT_EQ_INT(ae_mav_crc_accumulate(0xFFFF, (const uint8_t *)"123456789", 9), 0x6F91);
}

static const char *c_type_name(ae_mav_type t)
{
    static const char *const n[] = {"uint8_t",  "int8_t",   "char",    "uint16_t",
                                    "int16_t",  "uint32_t", "int32_t", "float",
                                    "uint64_t", "int64_t",  "double"};
    return n[t];
}

/* CRC_EXTRA recomputed from our own field table: proves the table's base fields, their types,
 * wire order and array lengths all match what the protocol hashes. */
static void t_table_crc_extra(void)
{
    size_t n;
    const ae_mav_msginfo *all = ae_mav_msginfo_all(&n);
    AH_ASSERT_EQ_INT(n, 15);
    for (size_t i = 0; i < n; i++) {
        const ae_mav_msginfo *mi = &all[i];
        char text[1024];
        size_t off = (size_t)snprintf(text, sizeof text, "%s ", mi->name);
        uint16_t crc = ae_mav_crc_accumulate(0xFFFF, (const uint8_t *)text, off);
        size_t base = 0, full = 0;
        for (uint8_t k = 0; k < mi->nfields; k++) {
            const ae_mav_field *f = &mi->fields[k];
            AH_ASSERT_MSG(f->wire_off == full, "%s.%s offset %u, expected %zu", mi->name, f->name,
                          f->wire_off, full);
            full += ae_mav_type_size(f->type) * f->count;
            if (f->ext)
                continue;
            base = full;
            int w = snprintf(text, sizeof text, "%s %s ", c_type_name(f->type), f->name);
            crc = ae_mav_crc_accumulate(crc, (const uint8_t *)text, (size_t)w);
            if (f->count > 1)
                crc = ae_mav_crc_accumulate(crc, &f->count, 1);
        }
        uint8_t extra = (uint8_t)((crc & 0xFF) ^ (crc >> 8));
        AH_ASSERT_MSG(extra == mi->crc_extra, "%s: computed CRC_EXTRA %u, table %u", mi->name,
                      extra, mi->crc_extra);
        AH_ASSERT_EQ_INT(base, mi->base_len);
        AH_ASSERT_EQ_INT(full, mi->full_len);
    }
}

static void t_golden_decode(void)
{
    json_t *vecs = load_jsonl("golden.jsonl");
    AH_ASSERT_EQ_INT(json_array_size(vecs), 43);
    size_t i;
    json_t *v;
    json_array_foreach(vecs, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        uint8_t raw[AE_MAV_MAX_FRAME];
        size_t n = unhex(json_string_value(json_object_get(v, "hex")), raw, sizeof raw);
        static collected c;
        memset(&c, 0, sizeof c);
        ae_mav_parser p;
        ae_mav_parser_init(&p, collect, &c);
        ae_mav_parse(&p, raw, n);
        if (!json_is_true(json_object_get(v, "in_table"))) {
            AH_ASSERT_MSG(c.n == 0, "%s: unknown msgid must not be delivered", name);
            AH_ASSERT_EQ_INT(p.stats.unknown_msgid, 1);
            AH_ASSERT_EQ_INT(p.have, 0);
            continue;
        }
        AH_ASSERT_MSG(c.n == 1, "%s: %d frames decoded (crc errors %llu)", name, c.n,
                      (unsigned long long)p.stats.crc_errors);
        ae_mav_frame *f = &c.hdr[0];
        AH_ASSERT_EQ_INT(f->version, json_integer_value(json_object_get(v, "version")));
        AH_ASSERT_EQ_INT(f->msgid, json_integer_value(json_object_get(v, "msgid")));
        AH_ASSERT_EQ_INT(f->sysid, json_integer_value(json_object_get(v, "sysid")));
        AH_ASSERT_EQ_INT(f->compid, json_integer_value(json_object_get(v, "compid")));
        AH_ASSERT_EQ_INT(f->seq, json_integer_value(json_object_get(v, "seq")));
        AH_ASSERT_EQ_INT(f->len, json_integer_value(json_object_get(v, "payload_len")));
        AH_ASSERT_EQ_INT(f->compat_flags, json_integer_value(json_object_get(v, "compat_flags")));
        AH_ASSERT_EQ_INT(f->incompat_flags,
                         json_integer_value(json_object_get(v, "incompat_flags")));
        AH_ASSERT_EQ_INT(f->raw_len, n);
        json_t *sig = json_object_get(v, "signature");
        AH_ASSERT_EQ_INT(f->is_signed, sig != NULL);
        AH_ASSERT(!f->sig_verified); /* no key configured */
        if (sig) {
            AH_ASSERT_EQ_INT(f->link_id, json_integer_value(json_object_get(sig, "link_id")));
            AH_ASSERT_EQ_INT(f->sig_timestamp,
                             json_integer_value(json_object_get(sig, "timestamp")));
            AH_ASSERT_EQ_INT(p.stats.sig_unverified, 1);
        }
        uint8_t msg[512];
        /* Unpack from the copied frame: same bytes the callback saw. */
        size_t hdr = f->version == 2 ? 10 : 6;
        ae_mav_unpack(f->info, c.raw[0] + hdr, f->len, msg);
        walk_fields(name, f->info, json_object_get(v, "fields"), msg, false);
    }
    json_decref(vecs);
}

static void t_golden_encode(void)
{
    json_t *vecs = load_jsonl("golden.jsonl");
    size_t i, exact = 0;
    json_t *v;
    json_array_foreach(vecs, i, v)
    {
        if (!json_is_true(json_object_get(v, "encoder_exact")) ||
            !json_is_true(json_object_get(v, "in_table")))
            continue;
        const char *name = json_string_value(json_object_get(v, "name"));
        const ae_mav_msginfo *mi =
            ae_mav_msginfo_get((uint32_t)json_integer_value(json_object_get(v, "msgid")));
        AH_ASSERT(mi);
        uint8_t msg[512];
        memset(msg, 0, sizeof msg);
        walk_fields(name, mi, json_object_get(v, "fields"), msg, true);
        ae_mav_header h = {
            .version = (uint8_t)json_integer_value(json_object_get(v, "version")),
            .seq = (uint8_t)json_integer_value(json_object_get(v, "seq")),
            .sysid = (uint8_t)json_integer_value(json_object_get(v, "sysid")),
            .compid = (uint8_t)json_integer_value(json_object_get(v, "compid")),
            .compat_flags = (uint8_t)json_integer_value(json_object_get(v, "compat_flags")),
        };
        ae_mav_signing sg, *sign = NULL;
        json_t *sig = json_object_get(v, "signature");
        if (sig) {
            unhex(json_string_value(json_object_get(sig, "key_hex")), sg.key, 32);
            sg.link_id = (uint8_t)json_integer_value(json_object_get(sig, "link_id"));
            sg.timestamp = (uint64_t)json_integer_value(json_object_get(sig, "timestamp"));
            sign = &sg;
        }
        uint8_t out[AE_MAV_MAX_FRAME];
        int n = ae_mav_encode_msg(out, sizeof out, &h, mi->msgid, msg, sign);
        AH_ASSERT_MSG(n > 0, "%s: encode failed %d", name, n);
        char hex[2 * AE_MAV_MAX_FRAME + 1];
        tohex(out, (size_t)n, hex);
        AH_ASSERT_EQ_STR(hex, json_string_value(json_object_get(v, "hex")));
        exact++;
    }
    AH_ASSERT_EQ_INT(exact, 41); /* 43 minus the unknown msgid and the len-0 quirk */
    json_decref(vecs);
}

/* Parses golden.bin delivering `chunk` bytes per call (0: random sizes). */
static void parse_bin(size_t chunk)
{
    char path[512];
    snprintf(path, sizeof path, "%s/golden.bin", AERIE_MAVLINK_DATA);
    FILE *fp = fopen(path, "rb");
    AH_ASSERT(fp);
    uint8_t bin[4096];
    size_t n = fread(bin, 1, sizeof bin, fp);
    fclose(fp);
    AH_ASSERT_EQ_INT(n, 1454);

    static collected c;
    memset(&c, 0, sizeof c);
    ae_mav_parser p;
    ae_mav_parser_init(&p, collect, &c);
    srand(7);
    for (size_t off = 0; off < n;) {
        size_t k = chunk ? chunk : (size_t)(rand() % 40) + 1;
        if (k > n - off)
            k = n - off;
        ae_mav_parse(&p, bin + off, k);
        off += k;
    }
    AH_ASSERT_EQ_INT(c.n, 40);
    AH_ASSERT_EQ_INT(p.stats.crc_errors, 2);
    AH_ASSERT_EQ_INT(p.stats.unknown_msgid, 1);
    AH_ASSERT_EQ_INT(p.stats.bad_incompat, 0);
    AH_ASSERT_EQ_INT(p.have, 4); /* the cut-off header at the end waits for more */
    AH_ASSERT_EQ_INT(p.stats.seq_lost, 1);
    const ae_mav_source *s1 = ae_mav_parser_source(&p, 1, 1);
    const ae_mav_source *s255 = ae_mav_parser_source(&p, 255, 190);
    const ae_mav_source *s2 = ae_mav_parser_source(&p, 2, 1);
    AH_ASSERT(s1 && s255 && s2);
    AH_ASSERT_EQ_INT(s1->frames, 20); /* including the unknown CURRENT_MODE */
    AH_ASSERT_EQ_INT(s1->lost, 1);
    AH_ASSERT_EQ_INT(s255->frames, 9);
    AH_ASSERT_EQ_INT(s255->lost, 0);
    AH_ASSERT_EQ_INT(s2->frames, 12);
    AH_ASSERT_EQ_INT(s2->lost, 0);

    /* Same frames, same order, byte-identical to the vectors, at their offsets. */
    json_t *vecs = load_jsonl("golden.jsonl");
    size_t i;
    json_t *v;
    int k = 0;
    json_array_foreach(vecs, i, v)
    {
        if (!json_is_true(json_object_get(v, "in_bin")) ||
            !json_is_true(json_object_get(v, "in_table")))
            continue;
        char hex[2 * AE_MAV_MAX_FRAME + 1];
        tohex(c.raw[k], c.raw_len[k], hex);
        AH_ASSERT_EQ_STR(hex, json_string_value(json_object_get(v, "hex")));
        size_t off = (size_t)json_integer_value(json_object_get(v, "bin_offset"));
        AH_ASSERT(memcmp(bin + off, c.raw[k], c.raw_len[k]) == 0);
        k++;
    }
    AH_ASSERT_EQ_INT(k, 40);
    json_decref(vecs);
}

static void t_golden_bin_whole(void)
{
    parse_bin(1454);
}
static void t_golden_bin_bytewise(void)
{
    parse_bin(1);
}
static void t_golden_bin_7(void)
{
    parse_bin(7);
}
static void t_golden_bin_random(void)
{
    parse_bin(0);
}

static const uint8_t golden_key[32] = {
    0x9a, 0x41, 0x29, 0x32, 0xfd, 0x0f, 0x54, 0x76, 0x53, 0x0b, 0xb9, 0x1c, 0x81, 0xc0, 0x1b, 0xce,
    0x3b, 0xdc, 0x2d, 0x3e, 0x57, 0x67, 0xd2, 0xa3, 0x07, 0xeb, 0x31, 0xb8, 0x63, 0x2b, 0x5e, 0x95};

static void t_negative(void)
{
    json_t *vecs = load_jsonl("negative.jsonl");
    AH_ASSERT_EQ_INT(json_array_size(vecs), 5);
    size_t i;
    json_t *v;
    json_array_foreach(vecs, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *expect = json_string_value(json_object_get(v, "expect"));
        uint8_t raw[AE_MAV_MAX_FRAME];
        size_t n = unhex(json_string_value(json_object_get(v, "hex")), raw, sizeof raw);
        static collected c;
        /* Strict receiver: key configured. */
        memset(&c, 0, sizeof c);
        ae_mav_parser p;
        ae_mav_parser_init(&p, collect, &c);
        ae_mav_parser_set_key(&p, golden_key, false);
        ae_mav_parse(&p, raw, n);
        AH_ASSERT_MSG(c.n == 0, "%s was accepted by a verifying receiver", name);
        /* Non-verifying receiver: only the bad-signature frame passes, flagged. */
        memset(&c, 0, sizeof c);
        ae_mav_parser_init(&p, collect, &c);
        ae_mav_parse(&p, raw, n);
        if (strcmp(expect, "drop_if_signature_checked") == 0) {
            AH_ASSERT_EQ_INT(c.n, 1);
            AH_ASSERT(c.hdr[0].is_signed && !c.hdr[0].sig_verified);
        } else {
            AH_ASSERT_MSG(c.n == 0, "%s was accepted", name);
        }
    }
    json_decref(vecs);
}

static void t_signed_verify_and_replay(void)
{
    json_t *vecs = load_jsonl("golden.jsonl");
    size_t i;
    json_t *v;
    int checked = 0;
    json_array_foreach(vecs, i, v)
    {
        if (!json_object_get(v, "signature"))
            continue;
        uint8_t raw[AE_MAV_MAX_FRAME];
        size_t n = unhex(json_string_value(json_object_get(v, "hex")), raw, sizeof raw);
        static collected c;
        memset(&c, 0, sizeof c);
        ae_mav_parser p;
        ae_mav_parser_init(&p, collect, &c);
        ae_mav_parser_set_key(&p, golden_key, true);
        ae_mav_parse(&p, raw, n);
        AH_ASSERT_EQ_INT(c.n, 1);
        AH_ASSERT(c.hdr[0].sig_verified);
        ae_mav_parse(&p, raw, n); /* the same timestamp again: a replay */
        AH_ASSERT_EQ_INT(c.n, 1);
        AH_ASSERT_EQ_INT(p.stats.sig_errors, 1);
        checked++;
    }
    AH_ASSERT_EQ_INT(checked, 2);
    json_decref(vecs);

    /* require_signed drops unsigned frames; our own signed frames verify. */
    static collected c;
    memset(&c, 0, sizeof c);
    ae_mav_parser p;
    ae_mav_parser_init(&p, collect, &c);
    ae_mav_parser_set_key(&p, golden_key, true);
    ae_mav_heartbeat hb = {.type = 2, .autopilot = 12, .mavlink_version = 3};
    ae_mav_header h = {.version = 2, .sysid = 9, .compid = 1};
    uint8_t out[AE_MAV_MAX_FRAME];
    int n = ae_mav_encode_msg(out, sizeof out, &h, AE_MAV_MSG_HEARTBEAT, &hb, NULL);
    ae_mav_parse(&p, out, (size_t)n);
    AH_ASSERT_EQ_INT(c.n, 0);
    ae_mav_signing sg = {.link_id = 3, .timestamp = ae_mav_signing_now()};
    memcpy(sg.key, golden_key, 32);
    for (int k = 0; k < 3; k++) {
        h.seq = (uint8_t)k;
        n = ae_mav_encode_msg(out, sizeof out, &h, AE_MAV_MSG_HEARTBEAT, &hb, &sg);
        ae_mav_parse(&p, out, (size_t)n);
    }
    AH_ASSERT_EQ_INT(c.n, 3);
    AH_ASSERT(c.hdr[2].sig_verified);
}

static void t_encode_rules(void)
{
    uint8_t out[AE_MAV_MAX_FRAME];
    ae_mav_header h = {.version = 2, .sysid = 1, .compid = 1};
    ae_mav_extended_sys_state z = {0};
    /* All-zero payload keeps one byte. */
    AH_ASSERT_EQ_INT(
        ae_mav_encode_msg(out, sizeof out, &h, AE_MAV_MSG_EXTENDED_SYS_STATE, &z, NULL),
        10 + 1 + 2);
    /* Unknown msgid, bad version, small buffer, v1 with signing. */
    AH_ASSERT_EQ_INT(ae_mav_encode_msg(out, sizeof out, &h, 436, &z, NULL), AE_EINVAL);
    ae_mav_heartbeat hb = {0};
    h.version = 3;
    AH_ASSERT_EQ_INT(ae_mav_encode_msg(out, sizeof out, &h, 0, &hb, NULL), AE_EINVAL);
    h.version = 2;
    AH_ASSERT_EQ_INT(ae_mav_encode_msg(out, 5, &h, AE_MAV_MSG_EXTENDED_SYS_STATE, &z, NULL),
                     AE_EINVAL);
    ae_mav_signing sg = {0};
    h.version = 1;
    AH_ASSERT_EQ_INT(ae_mav_encode_msg(out, sizeof out, &h, 0, &hb, &sg), AE_EINVAL);
    /* v1 carries base fields only even when extensions are set. */
    ae_mav_command_ack ack = {.command = 400, .result = 0, .progress = 50};
    AH_ASSERT_EQ_INT(ae_mav_encode_msg(out, sizeof out, &h, AE_MAV_MSG_COMMAND_ACK, &ack, NULL),
                     6 + 3 + 2);
}

/* Random bytes with valid frames sprinkled in: nothing crashes, the valid frames come out. */
static void t_garbage_resync(void)
{
    static collected c;
    memset(&c, 0, sizeof c);
    ae_mav_parser p;
    ae_mav_parser_init(&p, collect, &c);
    srand(42);
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_header h = {.version = 2, .sysid = 1, .compid = 1};
    ae_mav_attitude att = {.time_boot_ms = 1234, .roll = 0.5f};
    int fl = ae_mav_encode_msg(frame, sizeof frame, &h, AE_MAV_MSG_ATTITUDE, &att, NULL);
    int delivered_expected = 0;
    for (int round = 0; round < 40; round++) {
        uint8_t junk[600];
        size_t jn = (size_t)(rand() % (int)sizeof junk);
        for (size_t k = 0; k < jn; k++) {
            int r = rand() % 8;
            junk[k] = r == 0 ? AE_MAV_STX_V2 : r == 1 ? AE_MAV_STX_V1 : (uint8_t)rand();
        }
        ae_mav_parse(&p, junk, jn);
        int before = c.n;
        /* Send the frame several times: junk may end in a fake header whose length swallows
         * the first copies (up to 280 bytes), but the frames behind it must come out. */
        for (int k = 0; k < 16; k++)
            ae_mav_parse(&p, frame, (size_t)fl);
        AH_ASSERT(c.n > before);
        delivered_expected++;
        if (c.n >= 40)
            memset(&c, 0, sizeof c);
    }
    AH_ASSERT(delivered_expected == 40);
    AH_ASSERT(p.stats.skipped_bytes > 0);
}

static void t_modes(void)
{
    char buf[64];
    AH_ASSERT_EQ_STR(ae_mav_mode_name(12, 2, 0x04040000, buf, sizeof buf), "AUTO.MISSION");
    AH_ASSERT_EQ_STR(ae_mav_mode_name(12, 2, 3u << 16, buf, sizeof buf), "POSCTL");
    AH_ASSERT_EQ_STR(ae_mav_mode_name(3, 2, 4, buf, sizeof buf), "GUIDED");
    AH_ASSERT_EQ_STR(ae_mav_mode_name(3, 1, 11, buf, sizeof buf), "RTL");
    AH_ASSERT_EQ_STR(ae_mav_mode_name(3, 2, 99, buf, sizeof buf), "CUSTOM(99)");
    float p2, p3;
    uint32_t cm;
    AH_ASSERT_EQ_INT(ae_mav_mode_lookup(12, 2, "mission", &p2, &p3, &cm), 0);
    AH_ASSERT(p2 == 4 && p3 == 4 && cm == 0x04040000);
    AH_ASSERT_EQ_INT(ae_mav_mode_lookup(3, 2, "rtl", &p2, &p3, &cm), 0);
    AH_ASSERT(p2 == 6 && cm == 6);
    AH_ASSERT_EQ_INT(ae_mav_mode_lookup(3, 2, "warp", &p2, &p3, &cm), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_mav_mode_lookup(0, 2, "rtl", &p2, &p3, &cm), AE_EINVAL);
    char list[512];
    AH_ASSERT_CONTAINS(ae_mav_mode_list(3, 2, list, sizeof list), "GUIDED");
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"crc_check_value", t_crc_check_value, 10},
        {"table_crc_extra", t_table_crc_extra, 10},
        {"golden_decode", t_golden_decode, 20},
        {"golden_encode", t_golden_encode, 20},
        {"golden_bin_whole", t_golden_bin_whole, 20},
        {"golden_bin_bytewise", t_golden_bin_bytewise, 20},
        {"golden_bin_7", t_golden_bin_7, 20},
        {"golden_bin_random", t_golden_bin_random, 20},
        {"negative", t_negative, 20},
        {"signed_verify_and_replay", t_signed_verify_and_replay, 20},
        {"encode_rules", t_encode_rules, 10},
        {"garbage_resync", t_garbage_resync, 20},
        {"modes", t_modes, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
