/* libFuzzer target for the durable log's recovery through an in-memory ae_os: the input
 * becomes the segment files (and optionally the meta file) of a store directory that lives
 * only in memory, on a "disk" that may be nearly full. The store is opened (recovery,
 * salvage, maybe read-only mode), every record is read, the owner's calls are made (note,
 * append, ack, set-aside, tick), and the store is closed and opened again. No crash, hang or
 * leak whatever the bytes, and these must hold:
 *   - the cursor returns strictly increasing seqs, exactly stats.records of them;
 *   - a second open finds nothing new to call lost (losses are reported once), unless the
 *     disk was too full to write the meta file.
 *
 * Input: byte 0 is a mode, byte 1 a split point, the rest the files. Mode bit 0: repair
 * checksums (segment header CRC, and every record whose length field is plausible) so the
 * fuzzer gets past them into the structure. Bits 1-2: 0 one segment, 1 two segments split
 * at byte 1, 2 meta (the first byte-1 bytes) plus a segment, 3 two segments of which the
 * second is named after its header's first seq modulo 2 Mi (gaps and overlaps). Bit 3: the
 * disk holds only 256 bytes more than the input (full at open). Bit 4: sync never.
 * Seeds in corpus/store_recovery/ are real files from the store tests. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/crc32c.h"
#include "store/store.h"

/* ---- an in-memory directory ----------------------------------------------------------- */

#define DIR_PATH "/mem"
#define MAXF     16
#define MAXFD    64

typedef struct mfile {
    int refs; /* the name, plus each open fd */
    uint8_t *data;
    size_t len;
} mfile;

static struct {
    pthread_mutex_t mu;
    char *names[MAXF];
    mfile *files[MAXF];
    mfile *fds[MAXFD]; /* fd - 100; NULL: free; dirfd marks the directory */
    size_t used, capacity;
} fs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static mfile dirfd_marker;

static void unref(mfile *f)
{
    if (f && f != &dirfd_marker && --f->refs == 0) {
        fs.used -= f->len;
        free(f->data);
        free(f);
    }
}

static int find(const char *path)
{
    if (strncmp(path, DIR_PATH "/", sizeof DIR_PATH))
        return -1;
    for (int i = 0; i < MAXF; i++)
        if (fs.names[i] && !strcmp(fs.names[i], path + sizeof DIR_PATH))
            return i;
    return -1;
}

static int new_fd(mfile *f)
{
    for (int i = 0; i < MAXFD; i++)
        if (!fs.fds[i]) {
            fs.fds[i] = f;
            if (f != &dirfd_marker)
                f->refs++;
            return 100 + i;
        }
    errno = EMFILE;
    return -1;
}

static mfile *get_fd(int fd)
{
    return fd >= 100 && fd < 100 + MAXFD ? fs.fds[fd - 100] : NULL;
}

#define RET(v, e)                                                                                  \
    do {                                                                                           \
        int e_ = (e);                                                                              \
        pthread_mutex_unlock(&fs.mu);                                                              \
        if (e_)                                                                                    \
            errno = e_;                                                                            \
        return (v);                                                                                \
    } while (0)

static int m_open(void *ctx, const char *path, int flags, mode_t mode)
{
    (void)ctx, (void)mode;
    pthread_mutex_lock(&fs.mu);
    if (!strcmp(path, DIR_PATH))
        RET(new_fd(&dirfd_marker), 0);
    int i = find(path);
    if (i < 0) {
        if (!(flags & O_CREAT) || strncmp(path, DIR_PATH "/", sizeof DIR_PATH))
            RET(-1, ENOENT);
        for (i = 0; i < MAXF && fs.names[i]; i++)
            ;
        if (i == MAXF)
            RET(-1, ENOSPC);
        fs.names[i] = strdup(path + sizeof DIR_PATH);
        fs.files[i] = calloc(1, sizeof(mfile));
        fs.files[i]->refs = 1;
    }
    if (flags & O_TRUNC) {
        fs.used -= fs.files[i]->len;
        fs.files[i]->len = 0;
    }
    RET(new_fd(fs.files[i]), 0);
}

static int m_close(void *ctx, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    mfile *f = get_fd(fd);
    if (!f)
        RET(-1, EBADF);
    fs.fds[fd - 100] = NULL;
    unref(f);
    RET(0, 0);
}

static ssize_t m_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    mfile *f = get_fd(fd);
    if (!f || f == &dirfd_marker)
        RET(-1, EBADF);
    if ((size_t)off >= f->len)
        RET(0, 0);
    if (n > f->len - (size_t)off)
        n = f->len - (size_t)off;
    memcpy(buf, f->data + off, n);
    RET((ssize_t)n, 0);
}

static int m_resize(mfile *f, size_t len)
{
    if (len > f->len && len - f->len > fs.capacity - fs.used)
        return ENOSPC;
    uint8_t *d = realloc(f->data, len ? len : 1);
    if (!d)
        return ENOMEM;
    if (len > f->len)
        memset(d + f->len, 0, len - f->len);
    fs.used = fs.used - f->len + len;
    f->data = d;
    f->len = len;
    return 0;
}

static ssize_t m_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    mfile *f = get_fd(fd);
    if (!f || f == &dirfd_marker)
        RET(-1, EBADF);
    int e = 0;
    if ((size_t)off + n > f->len && (e = m_resize(f, (size_t)off + n)) != 0)
        RET(-1, e);
    memcpy(f->data + off, buf, n);
    RET((ssize_t)n, 0);
}

static int m_sync(void *ctx, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    RET(get_fd(fd) ? 0 : -1, get_fd(fd) ? 0 : EBADF);
}

static int m_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    mfile *f = get_fd(fd);
    if (!f || f == &dirfd_marker)
        RET(-1, EBADF);
    int e = m_resize(f, (size_t)len);
    RET(e ? -1 : 0, e);
}

static int m_fstat(void *ctx, int fd, struct stat *st)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    mfile *f = get_fd(fd);
    if (!f)
        RET(-1, EBADF);
    memset(st, 0, sizeof *st);
    st->st_mode = f == &dirfd_marker ? S_IFDIR | 0700 : S_IFREG | 0600;
    st->st_size = f == &dirfd_marker ? 0 : (off_t)f->len;
    RET(0, 0);
}

static int m_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    int i = find(from), j = find(to);
    if (i < 0 || strncmp(to, DIR_PATH "/", sizeof DIR_PATH))
        RET(-1, ENOENT);
    if (j >= 0 && j != i) {
        unref(fs.files[j]);
        free(fs.names[j]);
        fs.names[j] = NULL;
        fs.files[j] = NULL;
    }
    free(fs.names[i]);
    fs.names[i] = strdup(to + sizeof DIR_PATH);
    RET(0, 0);
}

static int m_unlink(void *ctx, const char *path)
{
    (void)ctx;
    pthread_mutex_lock(&fs.mu);
    int i = find(path);
    if (i < 0)
        RET(-1, ENOENT);
    unref(fs.files[i]);
    free(fs.names[i]);
    fs.names[i] = NULL;
    fs.files[i] = NULL;
    RET(0, 0);
}

static int m_mkdir(void *ctx, const char *path, mode_t mode)
{
    (void)ctx, (void)mode;
    errno = strcmp(path, DIR_PATH) ? EACCES : EEXIST;
    return -1;
}

static int m_listdir(void *ctx, const char *path, int (*fn)(void *, const char *), void *arg)
{
    (void)ctx;
    char *copy[MAXF] = {0};
    pthread_mutex_lock(&fs.mu);
    if (strcmp(path, DIR_PATH))
        RET(-1, ENOENT);
    for (int i = 0; i < MAXF; i++)
        copy[i] = fs.names[i] ? strdup(fs.names[i]) : NULL;
    pthread_mutex_unlock(&fs.mu);
    int rc = 0;
    for (int i = 0; i < MAXF; i++) {
        if (copy[i] && !rc)
            rc = fn(arg, copy[i]);
        free(copy[i]);
    }
    return rc;
}

static const ae_os mem_os = {
    .open = m_open,
    .close = m_close,
    .pread = m_pread,
    .pwrite = m_pwrite,
    .fsync = m_sync,
    .fdatasync = m_sync,
    .ftruncate = m_ftruncate,
    .fstat = m_fstat,
    .rename = m_rename,
    .unlink = m_unlink,
    .mkdir = m_mkdir,
    .listdir = m_listdir,
};

static void fs_reset(size_t capacity)
{
    for (int i = 0; i < MAXFD; i++)
        if (fs.fds[i])
            abort(); /* the store left a file open */
    for (int i = 0; i < MAXF; i++) {
        unref(fs.files[i]);
        free(fs.names[i]);
        fs.names[i] = NULL;
        fs.files[i] = NULL;
    }
    fs.used = 0;
    fs.capacity = capacity;
}

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, DIR_PATH "/%s", name);
    int fd = m_open(NULL, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (n && m_pwrite(NULL, fd, p, n, 0) != (ssize_t)n))
        abort();
    m_close(NULL, fd);
}

/* ---- the target ------------------------------------------------------------------------ */

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

/* Reads everything; returns how many records, aborting on an order violation. */
static uint64_t read_all(ae_store *st)
{
    ae_store_cursor *c = NULL;
    if (ae_store_cursor_new(st, &c, NULL) != 0)
        return 0;
    ae_store_rec r;
    uint64_t n = 0, prev = 0;
    while (ae_store_cursor_next(c, &r, NULL) == 0 && n < 1000000) {
        if (r.subject_len == 0 || r.seq <= prev)
            abort();
        prev = r.seq;
        n++;
    }
    ae_store_cursor_free(c);
    return n;
}

static void lay_out(uint8_t mode, uint8_t split, uint8_t *buf, size_t n)
{
    size_t cut = split < n ? split : n;
    char name[32];
    switch ((mode >> 1) & 3) {
    case 0:
        if (mode & 1)
            fix_crcs(buf, n);
        put("00000000000000000001.seg", buf, n);
        break;
    case 1:
    case 3:
        if (mode & 1) {
            fix_crcs(buf, cut);
            fix_crcs(buf + cut, n - cut);
        }
        put("00000000000000000001.seg", buf, cut);
        uint64_t first = 2;
        if (((mode >> 1) & 3) == 3 && n - cut >= 32) {
            /* Gaps of up to 2 Mi seqs: wide enough for big ack bitmaps, small enough to keep
             * the fuzzer fast (wider ones are refused by the same code path). */
            memcpy(&first, buf + cut + 24, 8);
            first = first % (2u << 20);
        }
        snprintf(name, sizeof name, "%020llu.seg", (unsigned long long)first);
        put(name, buf + cut, n - cut);
        break;
    default:
        if (mode & 1)
            fix_crcs(buf + cut, n - cut);
        put("meta", buf, cut);
        put("00000000000000000001.seg", buf + cut, n - cut);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        ae_log_set_level(AE_LOG_FATAL);
        init = true;
    }
    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    bool tight = mode & 8;
    fs_reset(tight ? size + 256 : (size_t)64 << 20);
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 2, size - 2);
    lay_out(mode, data[1], buf, size - 2);
    free(buf);

    ae_store_opts o;
    ae_store_opts_default(&o);
    o.sync = (mode >> 4) & 1 ? AE_SYNC_NEVER : AE_SYNC_ALWAYS;
    o.segment_bytes = 4096;
    o.meta_max_ack_spread = 1ull << 30;
    o.os = &mem_os;
    ae_store *st = NULL;
    if (ae_store_open(DIR_PATH, &o, &st, NULL) != 0) {
        fs_reset(0);
        return 0;
    }
    ae_store_stats ss;
    ae_store_stats_get(st, &ss);
    if (read_all(st) != ss.records)
        abort(); /* every unacked record is readable, and nothing else counts */
    ae_store_set_note(st, "fuzz", 4, true, NULL, NULL);
    ae_store_msg m = {.subject = "fuzz.x", .subject_len = 6, .payload = "p", .payload_len = 1};
    uint64_t seq = 0;
    if (ae_store_append(st, &m, &seq, NULL) == 0)
        ae_store_ack(st, seq, NULL);
    ae_store_flush(st, -1, NULL);
    if (ss.first_seq <= ss.last_seq)
        ae_store_set_aside(st, ss.first_seq, "fuzz", NULL);
    ae_store_tick(st, 0, NULL);
    ae_store_stats_get(st, &ss);
    bool ro = ss.read_only;
    uint64_t records = ss.records;
    ae_store_close(st, NULL);

    /* Opened again: the same records, and nothing newly lost. */
    if (ae_store_open(DIR_PATH, &o, &st, NULL) == 0) {
        ae_store_stats_get(st, &ss);
        if (!ro && !tight && (ss.lost_records != 0 || ss.records != records))
            abort();
        if (read_all(st) != ss.records)
            abort();
        ae_store_close(st, NULL);
    }
    fs_reset(0);
    return 0;
}
