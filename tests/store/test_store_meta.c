/* Store tests, part 4: what the meta and secret files keep across restarts and crashes.
 *
 * - Every ack that reached a meta write survives a restart (the acked-above-floor bitmap,
 *   format version 2), version-1 meta files are still read, and a spread beyond the cap
 *   falls back as documented, with a warning.
 * - The owner's note: copied, written with the acks in one atomic meta write, its durable
 *   generation and the notify fd, the note recovered after a crash always comes with every
 *   ack made before it was set (power-cut simulation through faultos).
 * - The per-store secret: made once, stable, kept in its own file, made for a directory an
 *   older version set up, never logged. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "faultos.h"
#include "store/crc32c.h"
#include "store/segment.h"
#include "store_testutil.h"

#define MAXR 20000
static uint64_t seqs[MAXR];

/* Runs fn(st) in a child process on a store opened in dir with opts o, waits until the child
 * says it is done (after its own flush), then kills it with SIGKILL: nothing after that
 * point (no close) reaches the disk. */
static void in_killed_child(const char *dir, const ae_store_opts *o, void (*fn)(ae_store *))
{
    int pfd[2];
    AH_ASSERT_EQ_INT(pipe(pfd), 0);
    pid_t pid = fork();
    AH_ASSERT(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        ae_store *st = NULL;
        if (ae_store_open(dir, o, &st, NULL) != 0)
            _exit(3);
        fn(st);
        if (ae_store_flush(st, 10000, NULL) != 0)
            _exit(4);
        char c = 'd';
        if (write(pfd[1], &c, 1) != 1)
            _exit(5);
        for (;;)
            pause();
    }
    close(pfd[1]);
    char c;
    AH_ASSERT_MSG(read(pfd[0], &c, 1) == 1, "the child died before it was done");
    close(pfd[0]);
    kill(pid, SIGKILL);
    int status;
    AH_ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
}

static bool acked_in_5000(uint64_t s)
{
    return s <= 10 || (s % 2 == 1 && s % 7 != 0) || s % 1000 == 0;
}

static void ack_5000(ae_store *st)
{
    for (int i = 0; i < 5000; i++)
        if (tu_append(st, NULL, NULL) != 0)
            _exit(6);
    if (ae_store_flush(st, 10000, NULL) != 0)
        _exit(7);
    for (uint64_t s = 5000; s >= 1; s--)
        if (acked_in_5000(s) && ae_store_ack(st, s, NULL) != 0)
            _exit(8);
}

/* Acks spread far above the floor (about 2,200 of them, more than version 1 kept) all
 * survive a kill -9 that came after the meta write. */
static void t_acks_survive_restart(void)
{
    char *dir = ah_mkdtemp("store-meta");
    ae_store_opts o;
    ae_store_opts_default(&o);
    in_killed_child(dir, &o, ack_5000);
    ae_store *st = tu_open(dir, &o);
    uint64_t nacked = 0;
    for (uint64_t s = 1; s <= 5000; s++) {
        AH_ASSERT_MSG(ae_store_is_acked(st, s) == acked_in_5000(s), "seq %" PRIu64 " is %s", s,
                      ae_store_is_acked(st, s) ? "acked" : "not acked");
        nacked += acked_in_5000(s);
    }
    AH_ASSERT(nacked - 11 > 1024);
    AH_ASSERT_EQ_INT(ae_store_ack_floor(st), 11);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 5000 - nacked);
    size_t n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n, 5000 - nacked);
    for (size_t i = 0; i < n; i++)
        AH_ASSERT(!acked_in_5000(seqs[i]));
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

/* A meta file in the version-1 format (written by the previous release) is read: epoch,
 * floor, high-water mark and its acked seqs; the next write is version 2. */
static void t_meta_version_1_is_read(void)
{
    char *dir = ah_mkdtemp("store-meta");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 50; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    uint64_t epoch = ae_store_epoch(st);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    uint8_t b[40 + 8 * 3 + 4];
    memcpy(b, "AERIEMTA", 8);
    ae_put32(b + 8, 1);
    ae_put32(b + 12, 3);
    ae_put64(b + 16, epoch);
    ae_put64(b + 24, 10);
    ae_put64(b + 32, 60); /* seqs up to 60 were handed out */
    ae_put64(b + 40, 12);
    ae_put64(b + 48, 15);
    ae_put64(b + 56, 40);
    ae_put32(b + 64, ae_crc32c(0, b, 64));
    char path[600];
    snprintf(path, sizeof path, "%s/meta", dir);
    FILE *f = fopen(path, "wb");
    AH_ASSERT(f && fwrite(b, 1, sizeof b, f) == sizeof b);
    fclose(f);
    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(ae_store_epoch(st), epoch);
    AH_ASSERT_EQ_INT(ae_store_ack_floor(st), 10);
    AH_ASSERT(ae_store_is_acked(st, 12) && ae_store_is_acked(st, 15) && ae_store_is_acked(st, 40));
    AH_ASSERT(!ae_store_is_acked(st, 11) && !ae_store_is_acked(st, 13));
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.records, 37);
    AH_ASSERT_EQ_INT(ss.lost_records, 0);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 61);
    ae_store_close(st, NULL);
    char *m = ah_read_file(path);
    AH_ASSERT(m && !memcmp(m, "AERIEMTA", 8) && ae_get32((uint8_t *)m + 8) == 2);
    free(m);
    ah_rmrf(dir);
    free(dir);
}

static void ack_all_but_first(ae_store *st)
{
    for (int i = 0; i < 3000; i++)
        if (tu_append(st, NULL, NULL) != 0)
            _exit(6);
    if (ae_store_flush(st, 10000, NULL) != 0)
        _exit(7);
    for (uint64_t s = 2; s <= 3000; s++)
        if (ae_store_ack(st, s, NULL) != 0)
            _exit(8);
}

/* Past meta_max_ack_spread the bitmap is cut: the acks below the cut survive, those above
 * come back unacked after a crash, and the log says so. */
static void t_ack_spread_cap(void)
{
    char *dir = ah_mkdtemp("store-meta");
    char logp[600];
    snprintf(logp, sizeof logp, "%s.log", dir);
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.meta_max_ack_spread = 1000; /* 16 words: seqs 0..1023 */
    ae_log_set_level(AE_LOG_WARN);
    AH_ASSERT_EQ_INT(ae_log_set_file(logp), 0);
    in_killed_child(dir, &o, ack_all_but_first);
    ae_log_set_file(NULL);
    ae_log_set_level(AE_LOG_FATAL);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "kept in memory only"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "acks of seq 1024 and above"), 1);
    ae_store *st = tu_open(dir, &o);
    for (uint64_t s = 1; s <= 3000; s++)
        AH_ASSERT_MSG(ae_store_is_acked(st, s) == (s >= 2 && s < 1024), "seq %" PRIu64, s);
    ae_store_close(st, NULL);
    unlink(logp);
    ah_rmrf(dir);
    free(dir);
}

/* The child of t_quiet_acks_reach_disk: acks while nothing else happens, then waits for
 * its SIGKILL without a flush or a close. */
static void quiet_child(const char *dir, int w)
{
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.meta_interval_ns = 50 * AE_NS_PER_MS;
    ae_store *st = NULL;
    if (ae_store_open(dir, &o, &st, NULL) != 0)
        _exit(3);
    for (int i = 0; i < 10; i++)
        if (tu_append(st, NULL, NULL) != 0)
            _exit(4);
    if (ae_store_flush(st, 10000, NULL) != 0)
        _exit(5);
    ah_sleep_ms(200); /* the sync thread has nothing to do and sleeps */
    for (uint64_t s = 1; s <= 5; s++)
        ae_store_ack(st, s, NULL);
    ae_store_set_note(st, "quiet", 5, false, NULL, NULL);
    ah_sleep_ms(500); /* ten meta intervals */
    char c = 'd';
    if (write(w, &c, 1) != 1)
        _exit(6);
    for (;;)
        pause();
}

/* Acks (and a note) made while the store is otherwise idle reach the disk within the meta
 * interval, not only when an append, a flush or the close next wakes the sync thread. */
static void t_quiet_acks_reach_disk(void)
{
    char *dir = ah_mkdtemp("store-meta");
    int pfd[2];
    AH_ASSERT_EQ_INT(pipe(pfd), 0);
    pid_t pid = fork();
    AH_ASSERT(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        quiet_child(dir, pfd[1]);
    }
    close(pfd[1]);
    char c;
    AH_ASSERT_MSG(read(pfd[0], &c, 1) == 1, "the child died before it was done");
    close(pfd[0]);
    kill(pid, SIGKILL);
    AH_ASSERT_EQ_INT(waitpid(pid, NULL, 0), pid);
    ae_store *st = tu_open(dir, NULL);
    AH_ASSERT_EQ_INT(ae_store_ack_floor(st), 5);
    const void *blob;
    AH_ASSERT_EQ_INT(ae_store_note(st, &blob), 5);
    AH_ASSERT(!memcmp(blob, "quiet", 5));
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

static void wait_gen(ae_store *st, uint64_t gen)
{
    int64_t until = ae_mono_ns() + 5 * AE_NS_PER_SEC;
    while (ae_store_note_durable_gen(st) < gen) {
        AH_ASSERT_MSG(ae_mono_ns() < until, "note generation %" PRIu64 " never became durable",
                      gen);
        struct pollfd p = {.fd = ae_store_notify_fd(st), .events = POLLIN};
        poll(&p, 1, 100);
        ae_store_notify_drain(st);
    }
}

static void t_note_roundtrip(void)
{
    char *dir = ah_mkdtemp("store-meta");
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.meta_interval_ns = 30 * AE_NS_PER_SEC; /* only urgent writes, flushes and close */
    ae_store *st = tu_open(dir, &o);
    const void *blob;
    AH_ASSERT_EQ_INT(ae_store_note(st, &blob), 0);
    AH_ASSERT(blob == NULL);
    AH_ASSERT_EQ_INT(ae_store_note_durable_gen(st), 0);
    /* The first change after open is written at once (as acks are); after that, a note that
     * is not urgent stays in memory until the next meta write, an interval later. */
    uint64_t g0, g1, g2;
    AH_ASSERT_EQ_INT(ae_store_set_note(st, "first", 5, false, &g0, NULL), 0);
    AH_ASSERT_EQ_INT(g0, 1);
    wait_gen(st, g0);
    char text[] = "cursor=17;subjects=3";
    AH_ASSERT_EQ_INT(ae_store_set_note(st, text, sizeof text, false, &g1, NULL), 0);
    AH_ASSERT_EQ_INT(g1, 2);
    text[0] = 'X'; /* the store keeps its own copy */
    AH_ASSERT_EQ_INT(ae_store_note(st, &blob), sizeof text);
    AH_ASSERT_EQ_STR((const char *)blob, "cursor=17;subjects=3");
    ah_sleep_ms(200);
    AH_ASSERT_EQ_INT(ae_store_note_durable_gen(st), 1);
    /* Urgent: written now, and the notify fd says so. */
    static uint8_t big[AE_STORE_NOTE_MAX];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    ae_store_notify_drain(st);
    AH_ASSERT_EQ_INT(ae_store_set_note(st, big, sizeof big, true, &g2, NULL), 0);
    AH_ASSERT_EQ_INT(g2, 3);
    wait_gen(st, g2);
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_set_note(st, big, sizeof big + 1, true, NULL, &e), AE_EINVAL);
    AH_ASSERT_CONTAINS(e.msg, "limit");
    AH_ASSERT_EQ_INT(ae_store_set_note(st, NULL, 5, true, NULL, &e), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(ae_store_note(st, &blob), sizeof big);
    AH_ASSERT(!memcmp(blob, big, sizeof big));
    AH_ASSERT_EQ_INT(ae_store_note_durable_gen(st), 3);
    /* An empty note clears it; its generation still counts. */
    uint64_t g3;
    AH_ASSERT_EQ_INT(ae_store_set_note(st, NULL, 0, true, &g3, NULL), 0);
    AH_ASSERT_EQ_INT(g3, 4);
    wait_gen(st, g3);
    AH_ASSERT_EQ_INT(ae_store_note(st, &blob), 0);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(ae_store_note(st, &blob), 0);
    AH_ASSERT(blob == NULL);
    AH_ASSERT_EQ_INT(ae_store_note_durable_gen(st), 4);
    ae_store_close(st, NULL);
    /* Under sync never a write to the page cache counts. */
    ah_rmrf(dir);
    o.sync = AE_SYNC_NEVER;
    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(ae_store_set_note(st, "n", 1, true, &g1, NULL), 0);
    wait_gen(st, g1);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

/* Power cuts at random calls while the owner acks and sets notes (the note names how many
 * ack rounds were done). Whatever note comes back, every ack made before it was set is
 * there, and a generation that was reported durable is never lost. */
static void t_note_crash_consistency(void)
{
    char *dir = ah_mkdtemp("store-meta-crash");
    unsigned seed = 77;
    int crashed = 0, with_note = 0;
    for (int it = 0; it < 150; it++) {
        ah_rmrf(dir);
        fos *f = fos_new();
        fos_crash_mode(f);
        ae_store_opts o;
        ae_store_opts_default(&o);
        o.os = fos_os(f);
        o.segment_bytes = 2048;
        o.meta_interval_ns = AE_NS_PER_MS;
        o.sync = it % 3 ? AE_SYNC_ALWAYS : AE_SYNC_INTERVAL;
        ae_store *st = tu_open(dir, &o);
        for (int i = 0; i < 120; i++)
            AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
        AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
        fos_crash_at(f, 5 + rand_r(&seed) % 200, (unsigned)it * 31u);
        static uint64_t acked_at[64]; /* acks done before note k was set (seqs 1..n acked) */
        uint64_t durable_gen = 0, gen = 0;
        for (int k = 1; k < 60 && !fos_crashed(f); k++) {
            /* Ack round k: seqs in a shuffled window, then the note. */
            uint64_t lo = (uint64_t)(k - 1) * 2 + 1;
            ae_store_ack(st, lo + 1, NULL);
            ae_store_ack(st, lo, NULL);
            acked_at[k] = lo + 1;
            char note[32];
            int n = snprintf(note, sizeof note, "round %d", k);
            if (ae_store_set_note(st, note, (size_t)n, k % 4 == 0, &gen, NULL) != 0)
                break;
            uint64_t d = ae_store_note_durable_gen(st);
            if (d > durable_gen)
                durable_gen = d;
            ah_sleep_ms(1);
        }
        crashed += fos_crashed(f);
        ae_store_close(st, NULL);
        ae_store_opts_default(&o);
        o.sync = AE_SYNC_NEVER;
        st = tu_open(dir, &o);
        fos_free(f);
        const void *blob;
        size_t len = ae_store_note(st, &blob);
        uint64_t dg = ae_store_note_durable_gen(st);
        AH_ASSERT_MSG(dg >= durable_gen, "run %d: generation %" PRIu64 " was durable, got %" PRIu64,
                      it, durable_gen, dg);
        if (len) {
            with_note++;
            int k = 0;
            char text[32] = "";
            AH_ASSERT(len < sizeof text);
            memcpy(text, blob, len);
            AH_ASSERT_MSG(sscanf(text, "round %d", &k) == 1 && k >= 1 && k < 60, "note %s", text);
            AH_ASSERT_EQ_INT(dg, (uint64_t)k);
            for (uint64_t s = 1; s <= acked_at[k]; s++)
                AH_ASSERT_MSG(ae_store_is_acked(st, s),
                              "run %d: note of round %d came back without the ack of %" PRIu64, it,
                              k, s);
        }
        ae_store_close(st, NULL);
    }
    AH_ASSERT_MSG(crashed > 120 && with_note > 50, "crashed %d, with a note %d", crashed,
                  with_note);
    ah_rmrf(dir);
    free(dir);
}

static bool file_has_bytes(const char *path, const uint8_t *b, size_t n)
{
    long sz = tu_file_size(path);
    char *data = ah_read_file(path);
    bool found = false;
    for (long i = 0; data && i + (long)n <= sz && !found; i++)
        found = !memcmp(data + i, b, n);
    free(data);
    return found;
}

static void t_secret(void)
{
    char *dir = ah_mkdtemp("store-meta");
    char *dir2 = ah_mkdtemp("store-meta2");
    char logp[600], spath[600];
    snprintf(logp, sizeof logp, "%s.log", dir);
    snprintf(spath, sizeof spath, "%s/secret", dir);
    ae_log_set_level(AE_LOG_TRACE);
    AH_ASSERT_EQ_INT(ae_log_set_file(logp), 0);
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    uint8_t s1[32], zero[32] = {0};
    memcpy(s1, ae_store_secret(st), 32);
    AH_ASSERT(memcmp(s1, zero, 32) != 0);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    ae_store_close(st, NULL);
    struct stat sb;
    AH_ASSERT_EQ_INT(stat(spath, &sb), 0);
    AH_ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
    AH_ASSERT(file_has_bytes(spath, s1, 32));
    st = tu_open(dir, &o);
    AH_ASSERT(!memcmp(ae_store_secret(st), s1, 32));
    ae_store_close(st, NULL);
    ae_store *st2 = tu_open(dir2, &o);
    AH_ASSERT(memcmp(ae_store_secret(st2), s1, 32) != 0);
    ae_store_close(st2, NULL);

    /* A directory set up by an older version has no secret file: one is made and kept. */
    AH_ASSERT_EQ_INT(unlink(spath), 0);
    st = tu_open(dir, &o);
    uint8_t s2[32];
    memcpy(s2, ae_store_secret(st), 32);
    AH_ASSERT(memcmp(s2, s1, 32) != 0);
    AH_ASSERT_EQ_INT(ae_store_last_seq(st), 10);
    ae_store_close(st, NULL);
    st = tu_open(dir, &o);
    AH_ASSERT(!memcmp(ae_store_secret(st), s2, 32));
    ae_store_close(st, NULL);
    /* A damaged one is replaced, with a warning. (The byte is flipped, not overwritten: a
     * random secret holds any given byte value one time in 256.) */
    int fd = open(spath, O_RDWR);
    uint8_t b;
    AH_ASSERT(fd >= 0 && pread(fd, &b, 1, 30) == 1);
    b ^= 0xff;
    AH_ASSERT(pwrite(fd, &b, 1, 30) == 1);
    close(fd);
    st = tu_open(dir, &o);
    AH_ASSERT(memcmp(ae_store_secret(st), s2, 32) != 0);
    uint8_t s3[32];
    memcpy(s3, ae_store_secret(st), 32);
    ae_store_close(st, NULL);
    ae_log_set_file(NULL);
    ae_log_set_level(AE_LOG_FATAL);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "made a per-store secret"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "the secret file is damaged"), 1);
    /* Never logged, in any form: raw or hex. */
    const uint8_t *all[] = {s1, s2, s3};
    for (int k = 0; k < 3; k++) {
        char hex[65];
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", all[k][i]);
        AH_ASSERT(!file_has_bytes(logp, all[k], 32));
        AH_ASSERT_EQ_INT(ah_count_in_file(logp, hex), 0);
        for (int i = 0; i < 64; i++)
            hex[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
        AH_ASSERT_EQ_INT(ah_count_in_file(logp, hex), 0);
    }
    AH_ASSERT(tu_file_size(logp) > 200); /* the store did log (at trace level) */
    unlink(logp);
    ah_rmrf(dir2);
    ah_rmrf(dir);
    free(dir2);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"acks_survive_restart", t_acks_survive_restart, 60},
        {"quiet_acks_reach_disk", t_quiet_acks_reach_disk, 30},
        {"meta_version_1_is_read", t_meta_version_1_is_read, 30},
        {"ack_spread_cap", t_ack_spread_cap, 60},
        {"note_roundtrip", t_note_roundtrip, 30},
        {"note_crash_consistency", t_note_crash_consistency, 120},
        {"secret", t_secret, 30},
    };
    ae_log_set_level(AE_LOG_FATAL);
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
