/* Store tests, part 1: the API on a real directory. Appending, reading, acking in any
 * order, reopening; sequence numbers and epochs; segment rollover and removal; bounds and
 * their counters; recovery from torn tails and corrupt bytes; the sync thread's notify fd.
 * Fault injection and crash simulation are in test_store_fault.c. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "common/log.h"
#include "store/crc32c.h"
#include "store_testutil.h"

#define MAXR 20000
static uint64_t seqs[MAXR];

static void opts_small(ae_store_opts *o)
{
    ae_store_opts_default(o);
    o->segment_bytes = 4096;
}

static void t_crc32c(void)
{
    /* The standard check value, and that chaining pieces equals one pass. */
    AH_ASSERT_EQ_INT(ae_crc32c(0, "123456789", 9), 0xE3069283u);
    uint32_t a = ae_crc32c(ae_crc32c(0, "1234", 4), "56789", 5);
    AH_ASSERT_EQ_INT(a, 0xE3069283u);
    uint8_t zeros[32] = {0};
    AH_ASSERT_EQ_INT(ae_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
}

static void t_append_read_ack_reopen(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    opts_small(&o);
    ae_store *st = tu_open(dir, &o);
    ae_err e = {0};
    for (int i = 0; i < 300; i++) {
        uint64_t s;
        AH_ASSERT_EQ_INT(tu_append(st, &s, &e), 0);
        AH_ASSERT_EQ_INT(s, i + 1);
    }
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, &e), 0);
    AH_ASSERT_EQ_INT(ae_store_durable_seq(st), 300);
    AH_ASSERT_EQ_INT(tu_read_all(st, seqs, MAXR), 300);
    for (int i = 0; i < 300; i++)
        AH_ASSERT_EQ_INT(seqs[i], i + 1);
    /* Ack every odd seq and 2..100: 100 acked below 101 plus the odd ones above. */
    int acked = 0;
    for (uint64_t s = 1; s <= 300; s++)
        if (s % 2 == 1 || s <= 100) {
            AH_ASSERT_EQ_INT(ae_store_ack(st, s, &e), 0);
            acked++;
        }
    AH_ASSERT_EQ_INT(ae_store_ack_floor(st), 101);
    AH_ASSERT_EQ_INT(ae_store_ack(st, 5, NULL), AE_EEXIST);
    AH_ASSERT_EQ_INT(ae_store_ack(st, 301, NULL), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_store_ack(st, 0, NULL), AE_ENOENT);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 300 - acked);
    AH_ASSERT_EQ_INT(ss.acked, acked);
    AH_ASSERT_EQ_INT(ss.appended, 300);
    AH_ASSERT_EQ_INT(ss.oldest_time_ns, 1700000000000000000LL + 102 * 1000);
    size_t n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n, 300 - acked);
    for (size_t i = 0; i < n; i++)
        AH_ASSERT(seqs[i] % 2 == 0 && seqs[i] > 100);
    uint64_t epoch = ae_store_epoch(st);
    AH_ASSERT_EQ_INT(ae_store_close(st, &e), 0);

    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(ae_store_epoch(st), epoch);
    AH_ASSERT_EQ_INT(ae_store_last_seq(st), 300);
    AH_ASSERT_EQ_INT(ae_store_ack_floor(st), 101);
    n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n, 300 - acked); /* a clean close persisted the acked set */
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 300 - acked);
    AH_ASSERT_EQ_INT(ss.recovery_dropped_bytes, 0);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, &e), 0);
    AH_ASSERT_EQ_INT(s, 301);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

static void t_seq_never_reused_epoch_changes(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    opts_small(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 200; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    for (uint64_t s = 200; s >= 1; s--)
        AH_ASSERT_EQ_INT(ae_store_ack(st, s, NULL), 0);
    uint64_t epoch = ae_store_epoch(st);
    char id[128];
    AH_ASSERT(ae_store_msg_id(st, "v42", 7, id, sizeof id) > 0);
    char want[128];
    snprintf(want, sizeof want, "v42.%016" PRIx64 ".7", epoch);
    AH_ASSERT_EQ_STR(id, want);
    AH_ASSERT_EQ_INT(ae_store_msg_id(st, "v42", 7, id, 8), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    AH_ASSERT_EQ_INT(tu_count_files(dir, ".seg"), 1); /* only the active segment remains */

    st = tu_open(dir, &o);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 0);
    AH_ASSERT_EQ_INT(tu_read_all(st, seqs, MAXR), 0);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 201);
    AH_ASSERT_EQ_INT(ae_store_ack(st, 201, NULL), 0);
    ae_store_close(st, NULL);

    /* Lose the segments entirely: the meta file still knows the high-water mark. */
    char path[600];
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".seg")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    closedir(d);
    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 202);
    AH_ASSERT_EQ_INT(ae_store_epoch(st), epoch);
    ae_store_close(st, NULL);

    /* Wipe the directory: seqs restart, so the epoch must differ. */
    ah_rmrf(dir);
    st = tu_open(dir, &o);
    AH_ASSERT(ae_store_epoch(st) != epoch);
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 1);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

static void t_out_of_order_acks(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    opts_small(&o);
    ae_store *st = tu_open(dir, &o);
    const int N = 5000;
    for (int i = 0; i < N; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    /* Ack in a shuffled order within a sliding window, as a forwarder with many publishes
     * in flight would; check the floor against a brute-force model after every ack. */
    static uint64_t order[5000];
    static bool model[5001];
    for (int i = 0; i < N; i++)
        order[i] = (uint64_t)i + 1;
    unsigned seed = 7;
    for (int i = 0; i < N; i++) {
        int w = 1 + rand_r(&seed) % 64;
        int j = i + rand_r(&seed) % w;
        if (j >= N)
            j = N - 1;
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint64_t floor = 0;
    for (int i = 0; i < N; i++) {
        AH_ASSERT_EQ_INT(ae_store_ack(st, order[i], NULL), 0);
        model[order[i]] = true;
        while (floor < (uint64_t)N && model[floor + 1])
            floor++;
        AH_ASSERT_EQ_INT(ae_store_ack_floor(st), floor);
        if (i % 97 == 0)
            for (uint64_t s = 1; s <= (uint64_t)N; s += 13)
                AH_ASSERT_EQ_INT(ae_store_is_acked(st, s), model[s]);
    }
    AH_ASSERT_EQ_INT(floor, N);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 0);
    AH_ASSERT_EQ_INT(ss.acked, N);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT_EQ_INT(tu_count_files(dir, ".seg"), 1);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

static void t_rollover_and_removal(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    opts_small(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 1000; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.segments > 20);
    AH_ASSERT_EQ_INT(tu_count_files(dir, ".seg"), (int)ss.segments);
    /* A cursor in the middle of the log while segments disappear under it. */
    ae_store_cursor *c;
    AH_ASSERT_EQ_INT(ae_store_cursor_new(st, &c, NULL), 0);
    ae_store_rec r;
    for (int i = 0; i < 400; i++) {
        AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
        AH_ASSERT_EQ_INT(r.seq, i + 1);
    }
    for (uint64_t s = 1; s <= 600; s++)
        AH_ASSERT_EQ_INT(ae_store_ack(st, s, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, 601);
    AH_ASSERT(tu_rec_ok(&r));
    ae_store_cursor_seek(c, 0);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, 601);
    ae_store_cursor_seek(c, 900);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, 900);
    ae_store_cursor_free(c);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.segments < 20);
    AH_ASSERT_EQ_INT(tu_count_files(dir, ".seg"), (int)ss.segments);
    AH_ASSERT_EQ_INT(ss.records, 400);
    AH_ASSERT_EQ_INT(ss.bytes, ss.segments ? ss.bytes : 0);
    for (uint64_t s = 601; s <= 1000; s++)
        AH_ASSERT_EQ_INT(ae_store_ack(st, s, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT_EQ_INT(tu_count_files(dir, ".seg"), 1);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

static void t_bounds_bytes_and_age(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.max_bytes = 64 * 1024;
    ae_store *st = tu_open(dir, &o);
    const int N = 3000;
    for (int i = 0; i < N; i++) {
        ae_err e = {0};
        int rc = tu_append(st, NULL, &e);
        AH_ASSERT_MSG(rc == 0, "append %d: %s", i, e.msg);
        ae_store_stats ss;
        ae_store_stats_get(st, &ss);
        AH_ASSERT(ss.bytes <= o.max_bytes);
    }
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.discarded_records > 0);
    AH_ASSERT(ss.discarded_bytes > 0);
    AH_ASSERT_EQ_INT(ss.records + ss.discarded_records, N);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    size_t n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n, ss.records);
    AH_ASSERT_EQ_INT(seqs[0], ss.ack_floor + 1);
    AH_ASSERT_EQ_INT(seqs[n - 1], N);
    /* Acking a discarded seq says so. */
    AH_ASSERT_EQ_INT(ae_store_ack(st, 1, NULL), AE_EEXIST);
    /* A record that could never fit. */
    static uint8_t big[70000];
    ae_store_msg m = {.subject = "x", .subject_len = 1, .payload = big, .payload_len = sizeof big};
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_append(st, &m, NULL, &e), AE_ELIMIT);
    AH_ASSERT_CONTAINS(e.msg, "max_bytes");
    ae_store_close(st, NULL);
    ah_rmrf(dir);

    /* Age: records stamped 10 s ago go at the first tick, fresh ones stay. */
    ae_store_opts_default(&o);
    o.segment_bytes = 4096;
    o.max_age_ns = 5 * AE_NS_PER_SEC;
    st = tu_open(dir, &o);
    int64_t now = ae_now_ns();
    char subj[] = "a.b";
    uint8_t pay[100] = {0};
    for (int i = 0; i < 100; i++) {
        ae_store_msg mm = {.subject = subj,
                           .subject_len = 3,
                           .payload = pay,
                           .payload_len = sizeof pay,
                           .time_ns = now - 10 * AE_NS_PER_SEC};
        AH_ASSERT_EQ_INT(ae_store_append(st, &mm, NULL, NULL), 0);
    }
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.oldest_time_ns == now - 10 * AE_NS_PER_SEC);
    for (int i = 0; i < 10; i++) {
        ae_store_msg mm = {.subject = subj,
                           .subject_len = 3,
                           .payload = pay,
                           .payload_len = sizeof pay,
                           .time_ns = now};
        AH_ASSERT_EQ_INT(ae_store_append(st, &mm, NULL, NULL), 0);
    }
    AH_ASSERT_EQ_INT(ae_store_tick(st, now, NULL), 0);
    ae_store_stats_get(st, &ss);
    /* Segment granularity: every old segment goes; the one mixing old and new stays. */
    AH_ASSERT(ss.discarded_records >= 70 && ss.discarded_records <= 100);
    AH_ASSERT_EQ_INT(ss.records + ss.discarded_records, 110);
    AH_ASSERT_EQ_INT(ae_store_tick(st, now + 6 * AE_NS_PER_SEC, NULL), 0);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 0);
    AH_ASSERT_EQ_INT(ss.discarded_records, 110);
    AH_ASSERT_EQ_INT(ss.oldest_time_ns, 0);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 111);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

/* Copies file src to dst, first n bytes only (n < 0: all). */
static void copy_prefix(const char *src, const char *dst, long n)
{
    char *data = ah_read_file(src);
    long sz = tu_file_size(src);
    AH_ASSERT(data && sz >= 0);
    if (n < 0 || n > sz)
        n = sz;
    FILE *f = fopen(dst, "wb");
    AH_ASSERT(f);
    AH_ASSERT_EQ_INT(fwrite(data, 1, (size_t)n, f), n);
    fclose(f);
    free(data);
}

static void t_torn_tail_every_offset(void)
{
    char *dir = ah_mkdtemp("store");
    char *work = ah_mkdtemp("store-torn");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 30; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    /* Close without acks; the meta file remembers last seq 30. */
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    char *seg = tu_seg_path(dir, true);
    long full = tu_file_size(seg);
    char subj[64], hdr[64];
    uint8_t pay[512];
    ae_store_msg m;
    tu_msg(30, &m, subj, hdr, pay);
    long last_len = 36 + (long)(m.subject_len + m.hdr_len + m.payload_len);
    long start = full - last_len;
    char dseg[700], dmeta[700], smeta[700];
    snprintf(dseg, sizeof dseg, "%s/%s", work, strrchr(seg, '/') + 1);
    snprintf(dmeta, sizeof dmeta, "%s/meta", work);
    snprintf(smeta, sizeof smeta, "%s/meta", dir);
    ae_store_opts_default(&o);
    o.sync = AE_SYNC_NEVER; /* keep the loop fast; syncing is not what is tested here */
    for (long cut = start; cut <= full; cut++) {
        ah_rmrf(work);
        mkdir(work, 0700);
        copy_prefix(seg, dseg, cut);
        copy_prefix(smeta, dmeta, -1);
        st = tu_open(work, &o);
        ae_store_stats ss;
        ae_store_stats_get(st, &ss);
        size_t n = tu_read_all(st, seqs, MAXR);
        AH_ASSERT_EQ_INT(n, cut == full ? 30 : 29);
        AH_ASSERT_EQ_INT(ss.recovery_dropped_bytes, cut == full ? 0 : cut - start);
        AH_ASSERT_EQ_INT(tu_file_size(dseg), cut == full ? full : start);
        uint64_t s;
        AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
        AH_ASSERT_EQ_INT(s, 31); /* seq 30 is never handed out again */
        ae_store_close(st, NULL);
        /* And the repaired log reopens clean. */
        st = tu_open(work, &o);
        ae_store_stats_get(st, &ss);
        AH_ASSERT_EQ_INT(ss.recovery_dropped_bytes, 0);
        AH_ASSERT_EQ_INT(tu_read_all(st, seqs, MAXR), n + 1);
        ae_store_close(st, NULL);
    }
    /* Without the meta file, the torn record's seq is reused: it was never durable. */
    ah_rmrf(work);
    mkdir(work, 0700);
    copy_prefix(seg, dseg, start + 5);
    st = tu_open(work, &o);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 30);
    ae_store_close(st, NULL);
    free(seg);
    ah_rmrf(work);
    ah_rmrf(dir);
    free(work);
    free(dir);
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    AH_ASSERT(fd >= 0);
    uint8_t b;
    AH_ASSERT_EQ_INT(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    AH_ASSERT_EQ_INT(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void t_corrupt_middle(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    opts_small(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 200; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    /* Damage the 5th record of the first segment. */
    char *first = tu_seg_path(dir, false);
    long off = 48;
    for (uint64_t s = 1; s < 5; s++) {
        char subj[64], hdr[64];
        uint8_t pay[512];
        ae_store_msg m;
        tu_msg(s, &m, subj, hdr, pay);
        off += 36 + (long)(m.subject_len + m.hdr_len + m.payload_len);
    }
    flip_byte(first, off + 40);
    st = tu_open(dir, &o);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.recovery_dropped_bytes > 0);
    AH_ASSERT_EQ_INT(ss.lost_records, 1); /* only the damaged record: the rest is salvaged */
    size_t n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n + ss.lost_records, 200);
    AH_ASSERT_EQ_INT(seqs[3], 4);
    AH_ASSERT_EQ_INT(seqs[4], 6);
    AH_ASSERT_EQ_INT(seqs[n - 1], 200);
    AH_ASSERT_EQ_INT(ss.records, n);
    AH_ASSERT(tu_file_size(first) > off); /* damage in the middle is not cut off */
    ae_store_close(st, NULL);

    /* A damaged segment header: the file is set aside, the rest kept. */
    char *mid = NULL;
    {
        DIR *d = opendir(dir);
        struct dirent *de;
        char names[64][260];
        int k = 0;
        while ((de = readdir(d)) && k < 64)
            if (strlen(de->d_name) == 24 && strstr(de->d_name, ".seg"))
                snprintf(names[k++], 260, "%s", de->d_name);
        closedir(d);
        qsort(names, (size_t)k, 260, (int (*)(const void *, const void *))strcmp);
        mid = malloc(700);
        snprintf(mid, 700, "%s/%s", dir, names[k / 2]);
    }
    flip_byte(mid, 20);
    st = tu_open(dir, &o);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.quarantined_segments, 1);
    AH_ASSERT_EQ_INT(tu_count_files(dir, ".corrupt"), 1);
    size_t n2 = tu_read_all(st, seqs, MAXR);
    AH_ASSERT(n2 < n && n2 > 0);
    AH_ASSERT_EQ_INT(seqs[n2 - 1], 200);
    AH_ASSERT_EQ_INT(ss.records, n2);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 201);
    ae_store_close(st, NULL);
    free(mid);
    free(first);
    ah_rmrf(dir);
    free(dir);
}

static void t_corrupt_while_open(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    opts_small(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 100; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    /* Bit rot after open, in the first segment's second record. */
    char *first = tu_seg_path(dir, false);
    char subj[64], hdr[64];
    uint8_t pay[512];
    ae_store_msg m;
    tu_msg(1, &m, subj, hdr, pay);
    flip_byte(first, 48 + 36 + (long)(m.subject_len + m.hdr_len + m.payload_len) + 38);
    size_t n = tu_read_all(st, seqs, MAXR);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.lost_records > 0);
    AH_ASSERT_EQ_INT(n + ss.lost_records, 100);
    AH_ASSERT_EQ_INT(seqs[0], 1);
    AH_ASSERT_EQ_INT(seqs[1], 2 + ss.lost_records);
    AH_ASSERT_EQ_INT(ss.records, n);
    ae_store_close(st, NULL);
    free(first);
    ah_rmrf(dir);
    free(dir);
}

static void t_garbage_files(void)
{
    /* Arbitrary bytes as segments and meta must give a clean open, never a crash. */
    char *dir = ah_mkdtemp("store");
    unsigned seed = 99;
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.sync = AE_SYNC_NEVER;
    for (int it = 0; it < 200; it++) {
        ah_rmrf(dir);
        mkdir(dir, 0700);
        ae_store *st = tu_open(dir, &o);
        for (int i = 0; i < 20; i++)
            AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
        ae_store_close(st, NULL);
        char *seg = tu_seg_path(dir, true);
        char meta[700];
        snprintf(meta, sizeof meta, "%s/meta", dir);
        const char *victim = it % 4 == 3 ? meta : seg;
        long sz = tu_file_size(victim);
        int fd = open(victim, O_RDWR);
        for (int k = 0; k < 1 + it % 5; k++) {
            uint8_t b = (uint8_t)rand_r(&seed);
            AH_ASSERT_EQ_INT(pwrite(fd, &b, 1, rand_r(&seed) % sz), 1);
        }
        if (it % 7 == 0)
            AH_ASSERT_EQ_INT(ftruncate(fd, rand_r(&seed) % sz), 0);
        close(fd);
        ae_err e = {0};
        int rc = ae_store_open(dir, &o, &st, &e);
        AH_ASSERT_MSG(rc == 0, "iteration %d: %s", it, e.msg);
        size_t n = tu_read_all(st, seqs, MAXR);
        AH_ASSERT(n <= 20);
        uint64_t s;
        AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
        ae_store_close(st, NULL);
        free(seg);
    }
    ah_rmrf(dir);
    free(dir);
}

static void wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    AH_ASSERT_MSG(poll(&p, 1, ms) == 1, "notify fd not readable within %d ms", ms);
}

static void t_sync_notify(void)
{
    char *dir = ah_mkdtemp("store");
    ae_sync_policy pol[] = {AE_SYNC_ALWAYS, AE_SYNC_INTERVAL, AE_SYNC_NEVER};
    for (int k = 0; k < 3; k++) {
        ah_rmrf(dir);
        ae_store_opts o;
        ae_store_opts_default(&o);
        o.sync = pol[k];
        o.sync_interval_ns = 20 * AE_NS_PER_MS;
        ae_store *st = tu_open(dir, &o);
        int fd = ae_store_notify_fd(st);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        AH_ASSERT_EQ_INT(poll(&p, 1, 0), 0);
        uint64_t s = 0;
        int64_t t0 = ae_mono_ns();
        for (int round = 0; round < 5; round++) {
            for (int i = 0; i < 10; i++)
                AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
            if (pol[k] == AE_SYNC_NEVER) {
                AH_ASSERT_EQ_INT(ae_store_durable_seq(st), s);
                continue;
            }
            while (ae_store_durable_seq(st) < s) {
                wait_readable(fd, 2000);
                ae_store_notify_drain(st);
            }
            AH_ASSERT_EQ_INT(poll(&p, 1, 0), 0);
        }
        int64_t ms = (ae_mono_ns() - t0) / AE_NS_PER_MS;
        if (pol[k] == AE_SYNC_INTERVAL)
            AH_ASSERT_MSG(ms >= 5 * 15, "interval policy synced too early: %lld ms", (long long)ms);
        AH_ASSERT_EQ_INT(ae_store_failed(st), 0);
        ae_store_stats ss;
        ae_store_stats_get(st, &ss);
        AH_ASSERT_EQ_INT(ss.durable_seq, 50);
        AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    }
    ah_rmrf(dir);
    free(dir);
}

static void t_bad_args(void)
{
    char *dir = ah_mkdtemp("store");
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.max_bytes = 100;
    ae_store *st = NULL;
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_open(dir, &o, &st, &e), AE_EINVAL);
    AH_ASSERT_CONTAINS(e.msg, "max_bytes");
    o.max_bytes = 0;
    o.sync = 42;
    AH_ASSERT_EQ_INT(ae_store_open(dir, &o, &st, &e), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_store_open("/proc/nonexistent/x", NULL, &st, &e), AE_EIO);
    AH_ASSERT_CONTAINS(e.msg, "/proc/nonexistent/x");
    ae_store_opts_default(&o);
    o.max_record_bytes = 1000;
    st = tu_open(dir, &o);
    ae_store_msg m = {.subject = "", .subject_len = 0};
    AH_ASSERT_EQ_INT(ae_store_append(st, &m, NULL, &e), AE_EINVAL);
    static uint8_t big[2000];
    m = (ae_store_msg){.subject = "a", .subject_len = 1, .payload = big, .payload_len = 2000};
    AH_ASSERT_EQ_INT(ae_store_append(st, &m, NULL, &e), AE_ELIMIT);
    AH_ASSERT_CONTAINS(e.msg, "max_record_bytes");
    AH_ASSERT_EQ_INT(ae_store_last_seq(st), 0);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"crc32c", t_crc32c, 10},
        {"append_read_ack_reopen", t_append_read_ack_reopen, 30},
        {"seq_never_reused_epoch_changes", t_seq_never_reused_epoch_changes, 30},
        {"out_of_order_acks", t_out_of_order_acks, 30},
        {"rollover_and_removal", t_rollover_and_removal, 30},
        {"bounds_bytes_and_age", t_bounds_bytes_and_age, 30},
        {"torn_tail_every_offset", t_torn_tail_every_offset, 60},
        {"corrupt_middle", t_corrupt_middle, 30},
        {"corrupt_while_open", t_corrupt_while_open, 30},
        {"garbage_files", t_garbage_files, 60},
        {"sync_notify", t_sync_notify, 30},
        {"bad_args", t_bad_args, 30},
    };
    ae_log_set_level(AE_LOG_FATAL); /* recovery logs loudly by design; keep output readable */
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
