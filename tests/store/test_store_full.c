/* Store tests, part 5: a full disk never stops the store (issue 18 item 4).
 *
 * When the disk is full at open, ae_store_open still succeeds, in read-only mode: what is
 * logged can be read and acked, appends are refused with AE_ENOSPC and a clear message,
 * and the store becomes writable again by itself once space returns. The full disk comes
 * from faultos (only the calls that need space fail, as on a real full file system), at
 * every such call of open in turn, for ENOSPC, EDQUOT and EFBIG, and for a store left by a
 * clean close, by a kill -9, by an older version (no secret file), with a damaged segment,
 * and for a directory that does not exist yet. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "faultos.h"
#include "store_testutil.h"

#define MAXR 20000
static uint64_t seqs[MAXR];

enum { ST_CLOSED, ST_KILLED, ST_OLD_VERSION, ST_DAMAGED, ST_NO_DIR, ST_COUNT };
static const char *state_name[] = {"closed", "killed", "old-version", "damaged", "no-dir"};

/* Child of make_state(ST_KILLED): appends and acks, flushes, reports, waits for SIGKILL. */
static void killed_child(const char *dir, int w)
{
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.segment_bytes = 4096;
    ae_store *st = NULL;
    if (ae_store_open(dir, &o, &st, NULL) != 0)
        _exit(3);
    for (int i = 0; i < 100; i++)
        if (tu_append(st, NULL, NULL) != 0)
            _exit(4);
    for (uint64_t s = 1; s <= 20; s++)
        ae_store_ack(st, s, NULL);
    if (ae_store_flush(st, 10000, NULL) != 0)
        _exit(5);
    char c = 'd';
    if (write(w, &c, 1) != 1)
        _exit(6);
    for (;;)
        pause();
}

/* Leaves dir as the given state left it: 100 records in several segments, 1..20 acked
 * (except ST_NO_DIR: no directory at all). Returns how many records are unacked. */
static uint64_t make_state(const char *dir, int state)
{
    ah_rmrf(dir);
    if (state == ST_NO_DIR)
        return 0;
    if (state == ST_KILLED) {
        int pfd[2];
        AH_ASSERT_EQ_INT(pipe(pfd), 0);
        pid_t pid = fork();
        AH_ASSERT(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            killed_child(dir, pfd[1]);
        }
        close(pfd[1]);
        char c;
        AH_ASSERT_EQ_INT(read(pfd[0], &c, 1), 1);
        close(pfd[0]);
        kill(pid, SIGKILL);
        AH_ASSERT_EQ_INT(waitpid(pid, NULL, 0), pid);
        return 80;
    }
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.segment_bytes = 4096;
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 100; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    for (uint64_t s = 1; s <= 20; s++)
        AH_ASSERT_EQ_INT(ae_store_ack(st, s, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    char path[600];
    if (state == ST_OLD_VERSION) {
        snprintf(path, sizeof path, "%s/secret", dir);
        AH_ASSERT_EQ_INT(unlink(path), 0);
    }
    if (state == ST_DAMAGED) {
        /* A bad header in the last segment: set aside at open (a rename). */
        char *seg = tu_seg_path(dir, true);
        int fd = open(seg, O_RDWR);
        AH_ASSERT(fd >= 0 && pwrite(fd, "XX", 2, 0) == 2);
        close(fd);
        free(seg);
        return 0; /* how many survive depends on the segment; not checked */
    }
    return 80;
}

static void opts_fos(ae_store_opts *o, fos *f)
{
    ae_store_opts_default(o);
    o->os = fos_os(f);
    o->segment_bytes = 4096;
    o->meta_interval_ns = 5 * AE_NS_PER_MS;
}

/* Ticks until the store is writable again (or fails the case after 5 s). */
static void tick_until_writable(ae_store *st)
{
    int64_t until = ae_mono_ns() + 5 * AE_NS_PER_SEC;
    ae_store_stats ss;
    for (;;) {
        AH_ASSERT_EQ_INT(ae_store_tick(st, 0, NULL), 0);
        ae_store_stats_get(st, &ss);
        if (!ss.read_only)
            return;
        AH_ASSERT_MSG(ae_mono_ns() < until, "still read-only 5 s after space returned: %s",
                      ss.read_only_reason);
        ah_sleep_ms(5);
    }
}

/* Everything the contract promises while read-only, then recovery once space returns.
 * Returns the seq the first append after that got. */
static uint64_t check_read_only(ae_store *st, fos *f, uint64_t unacked, int err)
{
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.read_only);
    AH_ASSERT_CONTAINS(ss.read_only_reason, "is full");
    AH_ASSERT_CONTAINS(ss.read_only_reason, "messages are not logged until space is freed");
    AH_ASSERT_CONTAINS(ss.read_only_reason, strerror(err));
    AH_ASSERT_EQ_INT(ae_store_failed(st), 0);
    AH_ASSERT(ae_store_secret(st) != NULL);
    uint64_t last = ae_store_last_seq(st);
    ae_err e = {0};
    for (int i = 0; i < 3; i++) {
        AH_ASSERT_EQ_INT(tu_append(st, NULL, &e), AE_ENOSPC);
        AH_ASSERT_CONTAINS(e.msg, "messages are not logged until space is freed");
    }
    AH_ASSERT_EQ_INT(ae_store_last_seq(st), last);
    if (unacked) {
        size_t n = tu_read_all(st, seqs, MAXR);
        AH_ASSERT_EQ_INT(n, unacked);
        for (uint64_t s = 21; s <= 30; s++)
            AH_ASSERT_EQ_INT(ae_store_ack(st, s, NULL), 0);
    }
    AH_ASSERT_EQ_INT(ae_store_tick(st, 0, NULL), 0);
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.read_only); /* still full */
    fos_clear(f);
    tick_until_writable(st);
    uint64_t s = 0;
    AH_ASSERT_EQ_INT(tu_append(st, &s, &e), 0);
    AH_ASSERT_EQ_INT(s, last + 1);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    return s;
}

/* Reopens with the real OS: acks made while read-only survived, the record appended after
 * space returned is there, nothing else changed. */
static void check_after(const char *dir, uint64_t unacked, uint64_t appended)
{
    ae_store *st = tu_open(dir, NULL);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(!ss.read_only);
    size_t n = tu_read_all(st, seqs, MAXR);
    if (unacked) {
        AH_ASSERT_EQ_INT(n, unacked - 10 + 1);
        AH_ASSERT_EQ_INT(seqs[0], 31);
    }
    AH_ASSERT(n >= 1);
    AH_ASSERT_EQ_INT(seqs[n - 1], appended);
    ae_store_close(st, NULL);
}

/* For each starting state and each call of open that needs space: the disk is full from
 * that call on. Open always succeeds; read-only exactly when the disk filled before open's
 * own writes were done. */
static void campaign(int err)
{
    char *dir = ah_mkdtemp("store-full");
    int ro_runs = 0;
    for (int state = 0; state < ST_COUNT; state++) {
        long n;
        for (n = 1; n < 100; n++) {
            uint64_t unacked = make_state(dir, state);
            fos *f = fos_new();
            ae_store_opts o;
            opts_fos(&o, f);
            fos_full_at(f, n, err, false);
            ae_store *st = NULL;
            ae_err e = {0};
            int rc = ae_store_open(dir, &o, &st, &e);
            AH_ASSERT_MSG(rc == 0, "%s, full from space call %ld: open failed: %s",
                          state_name[state], n, e.msg);
            bool full = fos_full(f);
            ae_store_stats ss;
            ae_store_stats_get(st, &ss);
            AH_ASSERT_MSG(ss.read_only == full, "%s, call %ld: read_only %d, disk full %d",
                          state_name[state], n, ss.read_only, full);
            uint64_t s;
            if (full) {
                ro_runs++;
                s = check_read_only(st, f, unacked, err);
            } else {
                fos_clear(f); /* the next space call would be the append's */
                AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
            }
            AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
            fos_free(f);
            check_after(dir, full ? unacked : 0, s);
            if (!full)
                break; /* open made fewer than n space calls: every one was tried */
        }
        AH_ASSERT_MSG(n > 1 && n < 100, "%s: campaign ended at %ld", state_name[state], n);
    }
    fprintf(stderr, "  %s: %d read-only opens\n", strerror(err), ro_runs);
    ah_rmrf(dir);
    free(dir);
}

static void t_campaign_enospc(void)
{
    campaign(ENOSPC);
}

static void t_campaign_edquot(void)
{
    campaign(EDQUOT);
}

static void t_campaign_efbig(void)
{
    campaign(EFBIG);
}

/* Removing a segment frees space: the store leaves read-only mode without anyone clearing
 * the fault, through the sync thread's meta write after the removal. */
static void t_writable_after_removal(void)
{
    char *dir = ah_mkdtemp("store-full");
    uint64_t unacked = make_state(dir, ST_CLOSED);
    fos *f = fos_new();
    ae_store_opts o;
    opts_fos(&o, f);
    fos_full_at(f, 1, ENOSPC, true);
    ae_store *st = tu_open(dir, &o);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT(ss.read_only);
    AH_ASSERT(ss.segments > 2);
    AH_ASSERT_EQ_INT(tu_read_all(st, seqs, MAXR), unacked);
    /* Ack (as a forwarder draining the backlog would) until the oldest segment goes. */
    ae_store_cursor *c;
    AH_ASSERT_EQ_INT(ae_store_cursor_new(st, &c, NULL), 0);
    ae_store_rec r;
    uint64_t segs0 = ss.segments;
    while (ae_store_stats_get(st, &ss), ss.segments == segs0) {
        AH_ASSERT_EQ_INT(ae_store_cursor_next(c, &r, NULL), 0);
        AH_ASSERT_EQ_INT(ae_store_ack(st, r.seq, NULL), 0);
    }
    ae_store_cursor_free(c);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT(!fos_full(f)); /* the unlink made room */
    tick_until_writable(st);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(s, 101);
    ae_store_close(st, NULL);
    fos_free(f);
    ah_rmrf(dir);
    free(dir);
}

/* A long stretch of failing meta writes says so once, and once when they work again. */
static void t_full_disk_logs_once(void)
{
    char *dir = ah_mkdtemp("store-full");
    char logp[600];
    snprintf(logp, sizeof logp, "%s.log", dir);
    make_state(dir, ST_CLOSED);
    ae_log_set_level(AE_LOG_INFO);
    AH_ASSERT_EQ_INT(ae_log_set_file(logp), 0);
    fos *f = fos_new();
    ae_store_opts o;
    opts_fos(&o, f);
    o.meta_interval_ns = AE_NS_PER_MS;
    fos_full_at(f, 1, ENOSPC, false);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 40; i++) {
        ae_store_ack(st, 21 + (uint64_t)i, NULL); /* keeps the ack state changing */
        ae_store_tick(st, 0, NULL);
        tu_append(st, NULL, NULL);
        ah_sleep_ms(5);
    }
    fos_clear(f);
    tick_until_writable(st);
    ae_store_close(st, NULL);
    fos_free(f);
    ae_log_set_file(NULL);
    ae_log_set_level(AE_LOG_FATAL);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "read-only: the disk of"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "(retried;"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "the meta file is written again"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "there is space again"), 1);
    AH_ASSERT_EQ_INT(ah_count_in_file(logp, "opened read-only"), 1);
    unlink(logp);
    ah_rmrf(dir);
    free(dir);
}

/* Other failures stay fatal: an EIO from a write of open is not a full disk. */
static void t_other_errors_stay_fatal(void)
{
    char *dir = ah_mkdtemp("store-full");
    make_state(dir, ST_CLOSED);
    fos *f = fos_new();
    ae_store_opts o;
    opts_fos(&o, f);
    /* The meta file's write: fail every pwrite from the first on with EIO. */
    fos_full_at(f, 1, EIO, false);
    ae_store *st = NULL;
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_open(dir, &o, &st, &e), AE_EIO);
    AH_ASSERT_CONTAINS(e.msg, "meta.tmp");
    fos_free(f);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"campaign_enospc", t_campaign_enospc, 120},
        {"campaign_edquot", t_campaign_edquot, 120},
        {"campaign_efbig", t_campaign_efbig, 120},
        {"writable_after_removal", t_writable_after_removal, 30},
        {"full_disk_logs_once", t_full_disk_logs_once, 30},
        {"other_errors_stay_fatal", t_other_errors_stay_fatal, 30},
    };
    ae_log_set_level(AE_LOG_FATAL);
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
