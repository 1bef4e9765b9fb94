/* Shared helpers for the store tests: deterministic record contents derived from the seq
 * (so any record read back can be checked byte for byte without remembering it), and small
 * wrappers that open, append and read everything back. Header-only, static functions. */
#ifndef AERIE_TESTS_STORE_TESTUTIL_H
#define AERIE_TESTS_STORE_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "store/store.h"

/* Contents of the record with sequence number seq. Buffers must be 64 / 64 / 512 bytes. */
static inline void tu_msg(uint64_t seq, ae_store_msg *m, char *subj, char *hdr, uint8_t *pay)
{
    memset(m, 0, sizeof *m);
    m->subject_len = (size_t)snprintf(subj, 64, "fleet.t.%u.data", (unsigned)(seq % 5));
    m->subject = subj;
    if (seq % 3 == 0) {
        m->hdr_len =
            (size_t)snprintf(hdr, 64, "NATS/1.0\r\nk: %llu\r\n\r\n", (unsigned long long)seq);
        m->hdr = hdr;
    }
    m->payload_len = (size_t)((seq * 37) % 200 + 1);
    for (size_t i = 0; i < m->payload_len; i++)
        pay[i] = (uint8_t)(seq * 31 + i);
    m->payload = pay;
    m->time_ns = 1700000000000000000LL + (int64_t)seq * 1000;
}

/* True if rec holds exactly what tu_msg says for rec->seq. */
static inline bool tu_rec_ok(const ae_store_rec *r)
{
    char subj[64], hdr[64];
    uint8_t pay[512];
    ae_store_msg m;
    tu_msg(r->seq, &m, subj, hdr, pay);
    return r->subject_len == m.subject_len && !memcmp(r->subject, m.subject, m.subject_len) &&
           r->hdr_len == m.hdr_len && (!m.hdr_len || !memcmp(r->hdr, m.hdr, m.hdr_len)) &&
           r->payload_len == m.payload_len && !memcmp(r->payload, m.payload, m.payload_len) &&
           r->time_ns == m.time_ns;
}

/* Appends the next record with tu_msg contents. Returns the store's return code. */
static inline int tu_append(ae_store *st, uint64_t *seq, ae_err *err)
{
    char subj[64], hdr[64];
    uint8_t pay[512];
    ae_store_msg m;
    uint64_t want = ae_store_last_seq(st) + 1;
    tu_msg(want, &m, subj, hdr, pay);
    uint64_t got = 0;
    int rc = ae_store_append(st, &m, &got, err);
    if (rc == 0 && got != want)
        ah_fail(__FILE__, __LINE__, "append returned seq %llu, expected %llu",
                (unsigned long long)got, (unsigned long long)want);
    if (seq)
        *seq = got;
    return rc;
}

/* Reads every unacked durable record from the oldest; checks each one's contents and
 * strictly increasing order; stores the seqs in out (cap entries). Returns the count. */
static inline size_t tu_read_all(ae_store *st, uint64_t *out, size_t cap)
{
    ae_store_cursor *c;
    AH_ASSERT(ae_store_cursor_new(st, &c, NULL) == 0);
    size_t n = 0;
    uint64_t prev = 0;
    ae_store_rec r;
    ae_err e = {0};
    int rc;
    while ((rc = ae_store_cursor_next(c, &r, &e)) == 0) {
        AH_ASSERT_MSG(tu_rec_ok(&r), "record %llu has wrong contents", (unsigned long long)r.seq);
        AH_ASSERT_MSG(r.seq > prev, "seq %llu after %llu", (unsigned long long)r.seq,
                      (unsigned long long)prev);
        prev = r.seq;
        if (n < cap)
            out[n] = r.seq;
        n++;
    }
    AH_ASSERT_MSG(rc == AE_EAGAIN, "cursor ended with %s: %s", ae_strerror(rc), e.msg);
    ae_store_cursor_free(c);
    return n;
}

static inline ae_store *tu_open(const char *dir, const ae_store_opts *o)
{
    ae_store *st = NULL;
    ae_err e = {0};
    int rc = ae_store_open(dir, o, &st, &e);
    AH_ASSERT_MSG(rc == 0, "open %s: %s %s", dir, ae_strerror(rc), e.msg);
    return st;
}

/* Number of directory entries whose name ends with suffix. */
static inline int tu_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l >= sl && !strcmp(de->d_name + l - sl, suffix))
            n++;
    }
    closedir(d);
    return n;
}

/* Path of the segment file with the highest (or lowest) first seq; caller frees. */
static inline char *tu_seg_path(const char *dir, bool last)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char best[300] = "";
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l != 24 || strcmp(de->d_name + 20, ".seg"))
            continue;
        if (!best[0] || (last ? strcmp(de->d_name, best) > 0 : strcmp(de->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(d);
    if (!best[0])
        return NULL;
    char *p = malloc(strlen(dir) + 310);
    sprintf(p, "%s/%s", dir, best);
    return p;
}

static inline long tu_file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

#endif
