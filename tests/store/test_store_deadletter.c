/* Store tests, part 6: setting records aside (ae_store_set_aside, the dead-letter file).
 *
 * The copy holds the record byte for byte (checked by decoding the JSON line), the record is
 * acked only once the copy is written, a copy that cannot be written leaves the record
 * unacked, a line torn by a crash is cut, and across simulated power cuts a record set aside
 * is never gone from both the log and the dead-letter file. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "faultos.h"
#include "store_testutil.h"

#define MAXR 20000
static uint64_t seqs[MAXR];

static char *dl_path(const char *dir)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/deadletter.log", dir);
    return p;
}

/* Decodes base64 text into out (cap bytes). Returns the length, or -1. */
static long unb64(const char *in, uint8_t *out, size_t cap)
{
    size_t n = strlen(in);
    if (n % 4 || n / 4 * 3 > cap)
        return -1;
    int k = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (k < 0)
        return -1;
    while (n && in[n - 1] == '=') {
        n--;
        k--;
    }
    return k;
}

/* The lines of the dead-letter file, parsed; returns how many (at most cap). Strict: fails
 * the case on a line that is not whole JSON; else skips it (after a power cut, lines whose
 * writes never reached the disk may hold anything; their records were never acked). */
static int read_lines_mode(const char *dir, json_t **out, int cap, bool strict)
{
    char *data = ah_read_file(dl_path(dir));
    if (!data)
        return 0;
    int n = 0;
    char *save = NULL;
    size_t total = strlen(data);
    AH_ASSERT_MSG(!strict || total == 0 || data[total - 1] == '\n',
                  "the file does not end in a newline");
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        AH_ASSERT_MSG(j != NULL || !strict, "line %d is not JSON: %s", n + 1, je.text);
        if (!j)
            continue;
        if (n < cap)
            out[n] = j;
        else
            json_decref(j);
        n++;
    }
    free(data);
    return n;
}

static int read_lines(const char *dir, json_t **out, int cap)
{
    return read_lines_mode(dir, out, cap, true);
}

/* Checks that line j is the copy of record seq as tu_msg made it, with `reason`. */
static void check_copy(ae_store *st, json_t *j, uint64_t seq, const char *reason)
{
    char subj[64], hdr[64];
    uint8_t pay[512], buf[1024];
    ae_store_msg m;
    tu_msg(seq, &m, subj, hdr, pay);
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "seq")), seq);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "reason")), reason);
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(j, "event_time_ns")), m.time_ns);
    AH_ASSERT(json_integer_value(json_object_get(j, "set_aside_ns")) > 1700000000000000000LL);
    AH_ASSERT(json_string_value(json_object_get(j, "set_aside")) != NULL);
    char epoch[17];
    snprintf(epoch, sizeof epoch, "%016" PRIx64, ae_store_epoch(st));
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(j, "epoch")), epoch);
    const char *s = json_string_value(json_object_get(j, "subject"));
    AH_ASSERT(s && strlen(s) == m.subject_len && !memcmp(s, m.subject, m.subject_len));
    long n = unb64(json_string_value(json_object_get(j, "headers_b64")), buf, sizeof buf);
    AH_ASSERT_EQ_INT(n, m.hdr_len);
    AH_ASSERT(!m.hdr_len || !memcmp(buf, m.hdr, m.hdr_len));
    n = unb64(json_string_value(json_object_get(j, "payload_b64")), buf, sizeof buf);
    AH_ASSERT_EQ_INT(n, m.payload_len);
    AH_ASSERT(!memcmp(buf, m.payload, m.payload_len));
}

static void t_set_aside(void)
{
    char *dir = ah_mkdtemp("store-dl");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    const char *why = "hub: maximum messages per subject exceeded (10077)";
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 3, why, &e), 0);
    AH_ASSERT(ae_store_is_acked(st, 3));
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 6, "wrong expected stream", &e), 0);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.set_aside_records, 2);
    AH_ASSERT_EQ_INT(ss.records, 8);
    AH_ASSERT_EQ_INT(ss.acked, 2);
    /* What cannot be set aside. */
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 3, why, &e), AE_EEXIST);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 0, why, &e), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 11, why, &e), AE_ENOENT);
    json_t *lines[4];
    AH_ASSERT_EQ_INT(read_lines(dir, lines, 4), 2);
    check_copy(st, lines[0], 3, why);
    check_copy(st, lines[1], 6, "wrong expected stream");
    json_decref(lines[0]);
    json_decref(lines[1]);
    AH_ASSERT_EQ_INT(ae_store_close(st, NULL), 0);
    st = tu_open(dir, &o);
    size_t n = tu_read_all(st, seqs, MAXR);
    AH_ASSERT_EQ_INT(n, 8);
    for (size_t i = 0; i < n; i++)
        AH_ASSERT(seqs[i] != 3 && seqs[i] != 6);
    /* Not durable yet: under a long interval a fresh append is not. */
    ae_store_close(st, NULL);
    o.sync = AE_SYNC_INTERVAL;
    o.sync_interval_ns = 60 * AE_NS_PER_SEC;
    st = tu_open(dir, &o);
    uint64_t s;
    AH_ASSERT_EQ_INT(tu_append(st, &s, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, s, why, &e), AE_EAGAIN);
    AH_ASSERT(!ae_store_is_acked(st, s));
    /* Odd bytes: a subject that is not UTF-8 goes as base64, a reason's bad bytes as '?'. */
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    ae_store_msg m = {.subject = "a.\xff.b", .subject_len = 5, .payload = "p", .payload_len = 1};
    AH_ASSERT_EQ_INT(ae_store_append(st, &m, &s, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, s, "bad \xc3 byte", &e), 0);
    AH_ASSERT_EQ_INT(read_lines(dir, lines, 4), 3);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(lines[2], "reason")), "bad ? byte");
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(lines[2], "subject_b64")), "YS7/LmI=");
    AH_ASSERT(json_object_get(lines[2], "subject") == NULL);
    for (int i = 0; i < 3; i++)
        json_decref(lines[i]);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

/* A copy that cannot be written (full disk, also mid-line) leaves the record unacked and
 * nothing of the line behind; once there is space it works. */
static void t_copy_fails_no_ack(void)
{
    char *dir = ah_mkdtemp("store-dl");
    fos *f = fos_new();
    ae_store_opts o;
    ae_store_opts_default(&o);
    o.os = fos_os(f);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 1, "first", NULL), 0);
    fos_full_at(f, 1, ENOSPC, false);
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 2, "second", &e), AE_ENOSPC);
    AH_ASSERT_CONTAINS(e.msg, "unacked");
    AH_ASSERT(!ae_store_is_acked(st, 2));
    fos_clear(f);
    /* Half the line gets in: call 1 is the read of the record, call 2 the line's write (of
     * this thread: the sync thread's calls may come in between). */
    fos_count_only_this_thread(f);
    fos_fail_at(f, 2, ENOSPC, FOS_SHORT_WRITE);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 2, "second", &e), AE_ENOSPC);
    AH_ASSERT(!ae_store_is_acked(st, 2));
    fos_clear(f);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 2, "second", &e), 0);
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.set_aside_records, 2);
    json_t *lines[4];
    AH_ASSERT_EQ_INT(read_lines(dir, lines, 4), 2);
    check_copy(st, lines[0], 1, "first");
    check_copy(st, lines[1], 2, "second");
    json_decref(lines[0]);
    json_decref(lines[1]);
    ae_store_close(st, NULL);
    fos_free(f);
    ah_rmrf(dir);
    free(dir);
}

/* A damaged record cannot be copied: it is counted lost and nothing is written. */
static void t_damaged_record(void)
{
    char *dir = ah_mkdtemp("store-dl");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    char *seg = tu_seg_path(dir, true);
    long off = 48;
    for (uint64_t s = 1; s < 5; s++) {
        char subj[64], hdr[64];
        uint8_t pay[512];
        ae_store_msg m;
        tu_msg(s, &m, subj, hdr, pay);
        off += 36 + (long)(m.subject_len + m.hdr_len + m.payload_len);
    }
    int fd = open(seg, O_RDWR);
    AH_ASSERT(fd >= 0 && pwrite(fd, "\x01", 1, off + 40) == 1);
    close(fd);
    ae_err e = {0};
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 5, "poison", &e), AE_ECORRUPT);
    AH_ASSERT_CONTAINS(e.msg, "damaged");
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    AH_ASSERT_EQ_INT(ss.lost_records, 1);
    AH_ASSERT_EQ_INT(ss.set_aside_records, 0);
    AH_ASSERT_EQ_INT(tu_file_size(dl_path(dir)), -1);
    ae_store_close(st, NULL);
    free(seg);
    ah_rmrf(dir);
    free(dir);
}

/* A crash that tore the last line: it is cut when the file is next written. */
static void t_torn_line(void)
{
    char *dir = ah_mkdtemp("store-dl");
    ae_store_opts o;
    ae_store_opts_default(&o);
    ae_store *st = tu_open(dir, &o);
    for (int i = 0; i < 10; i++)
        AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 1, "one", NULL), 0);
    ae_store_close(st, NULL);
    FILE *f = fopen(dl_path(dir), "ab");
    AH_ASSERT(f && fputs("{\"seq\":2,\"reason\":\"tor", f) >= 0);
    fclose(f);
    st = tu_open(dir, &o);
    AH_ASSERT_EQ_INT(ae_store_set_aside(st, 4, "four", NULL), 0);
    json_t *lines[4];
    AH_ASSERT_EQ_INT(read_lines(dir, lines, 4), 2);
    check_copy(st, lines[0], 1, "one");
    check_copy(st, lines[1], 4, "four");
    json_decref(lines[0]);
    json_decref(lines[1]);
    ae_store_close(st, NULL);
    ah_rmrf(dir);
    free(dir);
}

/* Power cuts at random calls while records are set aside, some of them the last unacked
 * record of a segment (so the segment goes right after): every record whose set-aside
 * returned 0 is afterwards still in the log unacked, or whole in the dead-letter file. */
static void t_power_cuts(void)
{
    char *dir = ah_mkdtemp("store-dl-crash");
    unsigned seed = 4242;
    int crashed = 0, checked = 0;
    for (int it = 0; it < 200; it++) {
        ah_rmrf(dir);
        fos *f = fos_new();
        fos_crash_mode(f);
        ae_store_opts o;
        ae_store_opts_default(&o);
        o.os = fos_os(f);
        o.segment_bytes = 1024;
        o.meta_interval_ns = AE_NS_PER_MS;
        o.sync = it % 2 ? AE_SYNC_ALWAYS : AE_SYNC_INTERVAL;
        o.sync_interval_ns = 50 * AE_NS_PER_MS;
        ae_store *st = tu_open(dir, &o);
        for (int i = 0; i < 60; i++)
            AH_ASSERT_EQ_INT(tu_append(st, NULL, NULL), 0);
        AH_ASSERT_EQ_INT(ae_store_flush(st, 5000, NULL), 0);
        fos_crash_at(f, 2 + rand_r(&seed) % 120, (unsigned)it * 13u);
        static bool aside[61];
        memset(aside, 0, sizeof aside);
        /* Ack everything but every 5th record, then set those aside one by one. */
        for (uint64_t s = 1; s <= 60; s++)
            if (s % 5)
                ae_store_ack(st, s, NULL);
        for (uint64_t s = 5; s <= 60 && !fos_crashed(f); s += 5) {
            if (ae_store_set_aside(st, s, "poison", NULL) == 0)
                aside[s] = true;
            ah_sleep_ms(1);
        }
        crashed += fos_crashed(f);
        ae_store_close(st, NULL);
        fos_free(f);
        ae_store_opts_default(&o);
        o.sync = AE_SYNC_NEVER;
        st = tu_open(dir, &o);
        static bool present[61], copied[61];
        memset(present, 0, sizeof present);
        memset(copied, 0, sizeof copied);
        size_t n = tu_read_all(st, seqs, MAXR);
        for (size_t i = 0; i < n; i++)
            if (seqs[i] <= 60)
                present[seqs[i]] = true;
        json_t *lines[64];
        int nl = read_lines_mode(dir, lines, 64, false);
        for (int i = 0; i < nl && i < 64; i++) {
            json_int_t q = json_integer_value(json_object_get(lines[i], "seq"));
            if (q > 0 && q <= 60) {
                check_copy(st, lines[i], (uint64_t)q, "poison");
                copied[q] = true;
            }
            json_decref(lines[i]);
        }
        for (uint64_t s = 5; s <= 60; s += 5) {
            if (!aside[s])
                continue;
            checked++;
            AH_ASSERT_MSG(present[s] || copied[s],
                          "run %d: seq %" PRIu64 " was set aside, but is neither in the log nor in "
                          "the dead-letter file",
                          it, s);
        }
        ae_store_close(st, NULL);
    }
    AH_ASSERT_MSG(crashed > 150 && checked > 300, "crashed %d, checked %d", crashed, checked);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"set_aside", t_set_aside, 30},           {"copy_fails_no_ack", t_copy_fails_no_ack, 30},
        {"damaged_record", t_damaged_record, 30}, {"torn_line", t_torn_line, 30},
        {"power_cuts", t_power_cuts, 120},
    };
    ae_log_set_level(AE_LOG_FATAL);
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
