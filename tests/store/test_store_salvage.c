/* Store tests, part 3: damage is never mistaken for a torn tail (issue 18 item 3).
 *
 * A bad record followed by valid ones is corruption: recovery (and a cursor that finds the
 * damage after open) scans forward to the next valid record, keeps everything after it, and
 * counts exactly the records in between as lost, as an error. Only damage that runs to the
 * true end of the data is a torn tail. Every case checks the exact seqs that survive and
 * their contents byte for byte (tu_rec_ok), and what the log said. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "store/segment.h"
#include "store_testutil.h"

#define MAXR 20000
static uint64_t seqs[MAXR];

/* Encoded size of the record tu_msg makes for seq. */
static long rec_len(uint64_t seq)
{
    char subj[64], hdr[64];
    uint8_t pay[512];
    ae_store_msg m;
    tu_msg(seq, &m, subj, hdr, pay);
    return (long)ae_rec_size(&m);
}

/* File offset of record seq in a segment whose first record is `first` and whose records are
 * all tu_msg records. */
static long rec_off(uint64_t first, uint64_t seq)
{
    long off = AE_SEG_HDR_SIZE;
    for (uint64_t s = first; s < seq; s++)
        off += rec_len(s);
    return off;
}

static void flip_byte(const char *path, long off, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    AH_ASSERT(fd >= 0);
    uint8_t b;
    AH_ASSERT_EQ_INT(pread(fd, &b, 1, off), 1);
    b ^= mask;
    AH_ASSERT_EQ_INT(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void copy_file(const char *src, const char *dst)
{
    long sz = tu_file_size(src);
    char *data = ah_read_file(src);
    AH_ASSERT(data && sz >= 0);
    FILE *f = fopen(dst, "wb");
    AH_ASSERT(f);
    AH_ASSERT_EQ_INT(fwrite(data, 1, (size_t)sz, f), sz);
    fclose(f);
    free(data);
}

/* Sends the store's log lines to a fresh file in dir (which the store ignores, and removing
 * the directory removes); returns its path (static buffer). */
static const char *log_to(const char *dir)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/test.log", dir);
    unlink(path);
    ae_log_set_level(AE_LOG_INFO);
    AH_ASSERT_EQ_INT(ae_log_set_file(path), 0);
    return path;
}

static void log_off(void)
{
    ae_log_set_file(NULL);
    ae_log_set_level(AE_LOG_FATAL);
}

/* Asserts the present seqs are exactly 1..n without the ones in `gone` (sorted). */
static void assert_seqs(size_t got, uint64_t n, const uint64_t *gone, size_t ngone)
{
    size_t k = 0, g = 0;
    for (uint64_t s = 1; s <= n; s++) {
        if (g < ngone && gone[g] == s) {
            g++;
            continue;
        }
        AH_ASSERT_MSG(k < got && seqs[k] == s, "seq %" PRIu64 " missing (found %" PRIu64 ")", s,
                      k < got ? seqs[k] : 0);
        k++;
    }
    AH_ASSERT_EQ_INT(got, k);
}

/* The child of crash_fill: appends n records with sync=always, reports once they are all
 * durable, then waits for its SIGKILL. */
static void fill_child(const char *dir, int n, int w)
{
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = NULL;
    if (ae_store_open(dir, &o, &st, NULL) != 0)
        _exit(3);
    for (int i = 0; i < n; i++)
        if (tu_append(st, NULL, NULL) != 0)
            _exit(4);
    if (ae_store_flush(st, 10000, NULL) != 0)
        _exit(5);
    char c = 'd';
    if (write(w, &c, 1) != 1)
        _exit(6);
    for (;;)
        pause();
}

/* n records made durable by a process that is then killed with SIGKILL (no close). */
static void crash_fill(const char *dir, int n)
{
    int pfd[2];
    AH_ASSERT_EQ_INT(pipe(pfd), 0);
    pid_t pid = fork();
    AH_ASSERT(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        fill_child(dir, n, pfd[1]);
    }
    close(pfd[1]);
    char c;
    AH_ASSERT_EQ_INT(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    kill(pid, SIGKILL);
    int status;
    AH_ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
}

/* The reproduction from issue 18: 1,500 durable records, kill -9, one byte flipped in the
 * middle of the only segment. Exactly the one record holding the byte is lost, reported as
 * an error; the 750 after it are kept. */
static void t_flip_middle_of_only_segment(void)
{
    char *dir = ah_mkdtemp("store-salvage");
    crash_fill(dir, 1500);
    char *seg = tu_seg_path(dir, true);
    long sz = tu_file_size(seg);
    flip_byte(seg, sz / 2, 0x5a);
    uint64_t victim = 1;
    while (rec_off(1, victim + 1) <= sz / 2)
        victim++;
    const char *logp = log_to(dir);
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    log_off();
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 1);
    AH_ASSERT_EQ_INT(ss.records, 1499);
    AH_ASSERT_EQ_INT(ss.recovered_records, 1499);
    AH_ASSERT_EQ_INT(ss.recovery_dropped_bytes, rec_len(victim));
    assert_seqs(tu_read_all(st, seqs, MAXR), 1500, &victim, 1);
    char want[128];
    snprintf(want, sizeof want, "seq %" PRIu64 " (1 record)", victim);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "[ERR]"), 2);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "corrupt at offset"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, want), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "torn tail"), 0);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 1501);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);

    /* The damage is still in the file, but its seqs are known lost: not counted again. */
    st = tu_open(dir, &o);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 0);
    AH_ASSERT_EQ_INT(ss.records, 1500);
    size_t n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n, 1500);
    AH_ASSERT_EQ_INT(seqs[n - 1], 1501);
    ae_store_close(st, NULL);
    free(seg);
    ah_rmrf(dir);
    free(dir);
}

/* One byte of each field of each record (not the last) flipped, one at a time: exactly that
 * record is lost and every other one reads back intact, now and after a second open. */
static void t_flip_every_field(void)
{
    const uint64_t N = 40;
    char *dir = ah_mkdtemp("store-salvage");
    char *work = ah_mkdtemp("store-salvage-w");
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.sync = AE_SYNC_NEVER;
    ae_store *st = tu_open(dir, &o);
    for (uint64_t i = 0; i < N; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    char *seg = tu_seg_path(dir, true);
    char dseg[700], dmeta[700], smeta[700];
    snprintf(dseg, sizeof dseg, "%s/%s", work, strrchr(seg, '/') + 1);
    snprintf(dmeta, sizeof dmeta, "%s/meta", work);
    snprintf(smeta, sizeof smeta, "%s/meta", dir);
    /* length, CRC, seq, time, subject length, flags, header length, payload length, the
     * subject, and the last byte of the body */
    const long fields[] = {0, 3, 5, 8, 15, 17, 24, 26, 28, 32, 36, -1};
    int runs = 0;
    for (uint64_t victim = 1; victim < N; victim++) {
        for (size_t k = 0; k < sizeof fields / sizeof *fields; k++) {
            long at = rec_off(1, victim) + (fields[k] < 0 ? rec_len(victim) - 1 : fields[k]);
            ah_rmrf(work);
            mkdir(work, 0700);
            copy_file(seg, dseg);
            copy_file(smeta, dmeta);
            flip_byte(dseg, at, (uint8_t)(1u << (k % 8)));
            for (int pass = 0; pass < 2; pass++) {
                st = tu_open(work, &o);
                ae_store_stats ss;
                ae_store_stats_get(st, &ss);
                AH_ASSERT_MSG(ss.lost_records == (pass ? 0u : 1u),
                              "victim %" PRIu64 " field %ld pass %d: lost %" PRIu64, victim,
                              fields[k], pass, ss.lost_records);
                assert_seqs(tu_read_all(st, seqs, MAXR), N, &victim, 1);
                AH_ASSERT_EQ_INT(ae_store_last_seq(st), N);
                ae_store_close(st, NULL);
            }
            runs++;
        }
    }
    AH_ASSERT_EQ_INT(runs, (int)(N - 1) * 12);
    free(seg);
    ah_rmrf(work);
    ah_rmrf(dir);
    free(work);
    free(dir);
}

/* Several damaged places, one of them three records long, in the middle segment of three. */
static void t_several_holes(void)
{
    char *dir = ah_mkdtemp("store-salvage");
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.segment_bytes = 16384;
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 300; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    /* The second segment and its first seq. */
    DIR *d = opendir(dir);
    struct dirent *de;
    char names[16][32];
    int k = 0;
    while ((de = readdir(d)) && k < 16)
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".seg"))
            memcpy(names[k++], de->d_name, 25);
    closedir(d);
    qsort(names, (size_t)k, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    AH_ASSERT(k >= 3);
    uint64_t first = strtoull(names[1], NULL, 10);
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, names[1]);
    uint64_t gone[] = {first + 3, first + 10, first + 11, first + 12, first + 30};
    flip_byte(path, rec_off(first, first + 3) + 40, 1);
    for (int i = 10; i <= 12; i++)
        flip_byte(path, rec_off(first, first + (uint64_t)i) + 9, 0x80); /* the seq field */
    flip_byte(path, rec_off(first, first + 30) + 1, 0x10);              /* the length */
    st = tu_open(dir, &o);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 5);
    AH_ASSERT_EQ_INT(ss.records, 295);
    assert_seqs(tu_read_all(st, seqs, MAXR), 300, gone, 5);
    /* A cursor that seeks into each hole lands on the next record that survived. */
    ae_store_cursor *c;
    AH_ASSERT_EQ_INT(ae_store_cursor_new(st, &c, NULL), 0);
    ae_store_rec r;
    ae_store_cursor_seek(c, first + 11);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, first + 13);
    AH_ASSERT(tu_rec_ok(&r));
    ae_store_cursor_seek(c, first + 30);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, first + 31);
    ae_store_cursor_free(c);
    /* Acks of lost seqs say they are already settled. */
    AH_ASSERT_EQ_INT(ae_store_ack(st, first + 10, NULL), AE_EEXIST);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

/* A record whose payload carries a valid encoded record (right CRC) with a seq that cannot
 * belong there is never taken for a real one when its container is damaged. */
static void t_embedded_record_not_salvaged(void)
{
    char *dir = ah_mkdtemp("store-salvage");
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.sync = AE_SYNC_NEVER;
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    /* Seq 11 carries two fakes: one claiming seq 5000, one claiming seq 3. */
    uint8_t fake[2][200], body[400];
    ae_store_msg fm = {
        .subject = "fake.subject", .subject_len = 12, .payload = "x", .payload_len = 1};
    uint64_t flen = ae_rec_size(&fm);
    ae_rec_encode(fake[0], 5000, 1, &fm);
    ae_rec_encode(fake[1], 3, 1, &fm);
    memcpy(body, fake[0], flen);
    memcpy(body + flen, fake[1], flen);
    ae_store_msg m = {.subject = "real.subject",
                      .subject_len = 12,
                      .payload = body,
                      .payload_len = 2 * flen,
                      .time_ns = 7};
    uint64_t s;
    AH_ASSERT_EQ_INT(ae_store_append(st, &m, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 11);
    /* Then record 12 onwards in the usual contents, written as tu_msg(12...). */
    for (int i = 0; i < 5; i++) {
        char subj[64], hdr[64];
        uint8_t pay[512];
        ae_store_msg mm;
        tu_msg(12 + (uint64_t)i, &mm, subj, hdr, pay);
        AH_ASSERT_EQ_INT(ae_store_append(st, &mm, NULL, NULL), 0);
    }
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    char *seg = tu_seg_path(dir, true);
    flip_byte(seg, rec_off(1, 11) + 20, 0xff); /* seq 11's event time: its CRC fails */
    st = tu_open(dir, &o);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 1);
    ae_store_cursor *c;
    AH_ASSERT_EQ_INT(ae_store_cursor_new(st, &c, NULL), 0);
    ae_store_rec r;
    for (uint64_t want = 1; want <= 16; want++) {
        if (want == 11)
            continue;
        AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
        AH_ASSERT_EQ_INT(r.seq, want);
        AH_ASSERT(tu_rec_ok(&r));
    }
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), AE_EAGAIN);
    ae_store_cursor_free(c);
    ae_store_close(st, NULL);
    free(seg);
    ah_rmrf(dir);
    free(dir);
}

/* Damage that runs to the end of the data is a torn tail: a warning, nothing counted lost
 * when nothing says the cut records were durable (a kill -9 before any meta write). */
static void t_torn_tail_is_only_at_the_end(void)
{
    char *dir = ah_mkdtemp("store-salvage");
    crash_fill(dir, 50);
    char *seg = tu_seg_path(dir, true);
    flip_byte(seg, rec_off(1, 50) + 12, 0x01); /* the last record's seq field */
    const char *logp = log_to(dir);
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    log_off();
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 0);
    AH_ASSERT_EQ_INT(tu_read_all(st, seqs, MAXR), 49);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "torn tail"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "[ERR]"), 0);
    AH_ASSERT_EQ_INT(tu_file_size(seg), rec_off(1, 50));
    ae_store_close(st, NULL);

    free(seg);
    ah_rmrf(dir);
    free(dir);
}

/* A torn tail that cuts records the meta file had seen durable (here: after a clean close)
 * is a loss of confirmed records, counted and logged as an error with the seq range. */
static void t_cut_durable_tail_is_lost(void)
{
    char *dir = ah_mkdtemp("store-salvage");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 52; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    char *seg = tu_seg_path(dir, true);
    long end = tu_file_size(seg);
    AH_ASSERT_EQ_INT(truncate(seg, end - 5), 0);
    const char *logp = log_to(dir);
    st = tu_open(dir, &o);
    log_off();
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 1);
    AH_ASSERT_EQ_INT(tu_read_all(st, seqs, MAXR), 51);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "torn tail"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "seq 52 (1 record) is lost"), 1);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 53);
    ae_store_close(st, NULL);
    /* Counted once: the next open finds nothing new. */
    st = tu_open(dir, &o);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 0);
    ae_store_close(st, NULL);
    free(seg);
    ah_rmrf(dir);
    free(dir);
}

/* Bit rot found by a cursor after open: the same salvage, at read time. */
static void t_bitrot_while_open(void)
{
    char *dir = ah_mkdtemp("store-salvage");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 100; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    char *seg = tu_seg_path(dir, true);
    /* Seq 50 rots; a cursor reading in order finds it with its position on it. (The flip
     * comes first: a cursor's read-ahead window would hide it otherwise.) */
    flip_byte(seg, rec_off(1, 50) + 38, 0x04);
    ae_store_cursor *c;
    AH_ASSERT_EQ_INT(ae_store_cursor_new(st, &c, NULL), 0);
    ae_store_rec r;
    for (uint64_t want = 1; want <= 100; want++) {
        if (want == 50)
            continue;
        AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
        AH_ASSERT_EQ_INT(r.seq, want);
        AH_ASSERT(tu_rec_ok(&r));
    }
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), AE_EAGAIN);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 1);
    AH_ASSERT_EQ_INT(ss.records, 99);
    /* A second cursor reads through the known hole without reporting it again. */
    uint64_t gone = 50;
    assert_seqs(tu_read_all(st, seqs, MAXR), 100, &gone, 1);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 1);
    /* Appends continue behind it. */
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, s);
    ae_store_cursor_free(c);

    /* A damaged length field between the sparse index entry and the seq a cursor seeks. */
    flip_byte(seg, rec_off(1, 20) + 2, 0x40);
    AH_ASSERT_EQ_INT(ae_store_cursor_new(st, &c, NULL), 0);
    ae_store_cursor_seek(c, 30);
    AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
    AH_ASSERT_EQ_INT(r.seq, 30);
    AH_ASSERT(tu_rec_ok(&r));
    ae_store_cursor_free(c);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 2);
    uint64_t gone2[] = {20, 50};
    assert_seqs(tu_read_all(st, seqs, MAXR), 101, gone2, 2);
    ae_store_close(st, NULL);

    /* Reopened: both holes are found again, neither is counted again. */
    st = tu_open(dir, &o);
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 0);
    AH_ASSERT_EQ_INT(ss.records, 99);
    ae_store_close(st, NULL);
    free(seg);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"flip_middle_of_only_segment", t_flip_middle_of_only_segment, 60},
        {"flip_every_field", t_flip_every_field, 120},
        {"several_holes", t_several_holes, 30},
        {"embedded_record_not_salvaged", t_embedded_record_not_salvaged, 30},
        {"torn_tail_is_only_at_the_end", t_torn_tail_is_only_at_the_end, 30},
        {"cut_durable_tail_is_lost", t_cut_durable_tail_is_lost, 30},
        {"bitrot_while_open", t_bitrot_while_open, 30},
    };
    ae_log_set_level(AE_LOG_FATAL); /* recovery logs loudly by design; keep output readable */
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
