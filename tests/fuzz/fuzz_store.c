/* libFuzzer target for the durable log's recovery: the input becomes a segment file and/or
 * the meta file of a fresh store directory, then the store is opened (recovery), every
 * record is read through a cursor, one record is appended and acked, and the store is
 * closed. None of it may crash, hang or leak, whatever the bytes.
 *
 * Input layout: byte 0 is a mode; bit 0 set means "repair checksums" (the header CRC and
 * the CRC of every record whose length field is plausible are recomputed) so the fuzzer
 * gets past the checks into the structural code; bits 1-2 pick what the rest becomes:
 * 0 one segment, 1 meta only, 2 meta (first 64 bytes... up to byte 1's value) + segment,
 * 3 two segments split at byte 1. Seeds in corpus/store/ are real files from the tests. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "store/crc32c.h"
#include "store/store.h"

static char dir[256];

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}

static void clean(void)
{
    const char *names[] = {
        "00000000000000000001.seg",         "00000000000000000002.seg",        "meta", "meta.tmp",
        "00000000000000000001.seg.corrupt", "00000000000000000002.seg.corrupt"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    /* Segments created by the append get other names; sweep them too. */
    for (int s = 1; s < 64; s++) {
        snprintf(path, sizeof path, "%s/%020d.seg", dir, s);
        unlink(path);
    }
}

static void fix_crcs(uint8_t *p, size_t n)
{
    if (n < 48)
        return;
    uint32_t c = ae_crc32c(0, p, 44);
    memcpy(p + 44, &c, 4); /* little-endian host assumed (fuzzing runs on x86/arm64) */
    size_t off = 48;
    while (off + 36 <= n) {
        uint32_t len;
        memcpy(&len, p + off, 4);
        if (len < 37 || len > n - off)
            break;
        c = ae_crc32c(ae_crc32c(0, p + off, 4), p + off + 8, len - 8);
        memcpy(p + off + 4, &c, 4);
        off += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/aerie-fuzz-store-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir))
            abort();
        ae_log_set_level(AE_LOG_FATAL);
    }
    if (size < 2)
        return 0;
    uint8_t mode = data[0], split = data[1];
    uint8_t *buf = malloc(size - 2 + 1);
    memcpy(buf, data + 2, size - 2);
    size_t n = size - 2;
    clean();
    size_t cut = split < n ? split : n;
    switch ((mode >> 1) & 3) {
    case 0:
        if (mode & 1)
            fix_crcs(buf, n);
        put("00000000000000000001.seg", buf, n);
        break;
    case 1:
        put("meta", buf, n);
        break;
    case 2:
        if (mode & 1)
            fix_crcs(buf + cut, n - cut);
        put("meta", buf, cut);
        put("00000000000000000001.seg", buf + cut, n - cut);
        break;
    default:
        if (mode & 1) {
            fix_crcs(buf, cut);
            fix_crcs(buf + cut, n - cut);
        }
        put("00000000000000000001.seg", buf, cut);
        put("00000000000000000002.seg", buf + cut, n - cut);
        break;
    }
    free(buf);

    ae_store_opts o;
    ae_store_opts_default(&o);
    o.sync = AE_SYNC_NEVER;
    o.segment_bytes = 4096;
    ae_store *st = NULL;
    if (ae_store_open(dir, &o, &st, NULL) != 0)
        return 0;
    ae_store_cursor *c = NULL;
    if (ae_store_cursor_new(st, &c, NULL) == 0) {
        ae_store_rec r;
        int guard = 0;
        while (ae_store_cursor_next(c, &r, NULL) == 0 && ++guard < 100000)
            if (r.subject_len == 0)
                abort(); /* the decoder promised a non-empty subject */
        ae_store_cursor_free(c);
    }
    ae_store_msg m = {.subject = "fuzz.x", .subject_len = 6, .payload = "p", .payload_len = 1};
    uint64_t seq = 0;
    if (ae_store_append(st, &m, &seq, NULL) == 0) {
        if (seq == 0)
            abort();
        ae_store_ack(st, seq, NULL);
    }
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    ae_store_close(st, NULL);
    return 0;
}
