/* The fault-injecting and crash-simulating OS table for the store tests; see faultos.h.
 * One mutex is held across every call, so the owner thread and the store's sync thread see
 * one global order of calls (which is what "the Nth call" means) and a crash never races
 * with a write in flight. */
#include "faultos.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct op {
    bool trunc;
    uint64_t off, len; /* write: range; trunc: new size in len */
    uint8_t *data;     /* write: new bytes */
    uint8_t *old;      /* bytes that were there before (within prev_size) */
    uint64_t oldn;
    uint64_t prev_size;
} op;

typedef struct track {
    dev_t dev;
    ino_t ino;
    int fd; /* our own dup, valid after rename/unlink */
    op *ops;
    size_t nops, cops;
    struct track *next;
} track;

typedef struct created {
    char *path;
    dev_t dev;
    ino_t ino;
    struct created *next;
} created;

struct fos {
    ae_os os;
    pthread_mutex_t mu;
    long calls;
    long fail_at; /* absolute call number, 0: none */
    /* fos_count_only_this_thread: calls of other threads (the store's sync thread) do not
     * count towards fail_at and never fail through it. */
    bool one_thread;
    pthread_t thread;
    int fail_err, fail_mode;
    bool fired, disk_full;
    bool crash_mode, crashed;
    long crash_at;
    unsigned crash_seed;
    track *tracks;
    created *created;
    long space_calls;    /* calls that need free space (see fos_full_at) */
    long full_at;        /* the disk is full from this space call on; 0: never */
    int full_err;        /* ENOSPC, EDQUOT or EFBIG */
    bool free_on_unlink; /* an unlink makes the disk no longer full */
};

/* ---- crash tracking ------------------------------------------------------------------- */

static track *track_get(fos *f, int fd, bool make)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return NULL;
    for (track *t = f->tracks; t; t = t->next)
        if (t->dev == sb.st_dev && t->ino == sb.st_ino)
            return t;
    if (!make || !S_ISREG(sb.st_mode))
        return NULL;
    track *t = calloc(1, sizeof *t);
    t->dev = sb.st_dev;
    t->ino = sb.st_ino;
    t->fd = dup(fd);
    t->next = f->tracks;
    f->tracks = t;
    return t;
}

static void ops_clear(track *t)
{
    for (size_t i = 0; i < t->nops; i++) {
        free(t->ops[i].data);
        free(t->ops[i].old);
    }
    t->nops = 0;
}

static void track_drop_all(fos *f)
{
    while (f->tracks) {
        track *t = f->tracks;
        f->tracks = t->next;
        ops_clear(t);
        free(t->ops);
        close(t->fd);
        free(t);
    }
    while (f->created) {
        created *c = f->created;
        f->created = c->next;
        free(c->path);
        free(c);
    }
}

static op *op_new(track *t)
{
    if (t->nops == t->cops) {
        t->cops = t->cops ? t->cops * 2 : 16;
        t->ops = realloc(t->ops, t->cops * sizeof *t->ops);
    }
    op *o = &t->ops[t->nops++];
    memset(o, 0, sizeof *o);
    return o;
}

static void save_old(track *t, op *o, uint64_t from, uint64_t to)
{
    if (to <= from)
        return;
    o->oldn = to - from;
    o->old = malloc(o->oldn);
    ssize_t r = pread(t->fd, o->old, o->oldn, (off_t)from);
    if (r < 0)
        r = 0;
    if ((uint64_t)r < o->oldn)
        memset(o->old + r, 0, o->oldn - (uint64_t)r);
}

static void record_write(fos *f, int fd, const void *buf, size_t n, off_t off)
{
    track *t = track_get(f, fd, true);
    if (!t)
        return;
    struct stat sb;
    fstat(fd, &sb);
    op *o = op_new(t);
    o->off = (uint64_t)off;
    o->len = n;
    o->prev_size = (uint64_t)sb.st_size;
    o->data = malloc(n ? n : 1);
    memcpy(o->data, buf, n);
    uint64_t end = o->off + n < o->prev_size ? o->off + n : o->prev_size;
    save_old(t, o, o->off, end);
}

static void record_trunc(fos *f, int fd, off_t len)
{
    track *t = track_get(f, fd, true);
    if (!t)
        return;
    struct stat sb;
    fstat(fd, &sb);
    op *o = op_new(t);
    o->trunc = true;
    o->len = (uint64_t)len;
    o->prev_size = (uint64_t)sb.st_size;
    save_old(t, o, o->len, o->prev_size);
}

static int ign;
#define IGN(x) (ign = (int)(x))

/* Undo every unsynced op (newest first), then replay each with a random fate. */
static void crash_file(track *t, unsigned *seed)
{
    for (size_t i = t->nops; i-- > 0;) {
        op *o = &t->ops[i];
        if (o->trunc) {
            IGN(ftruncate(t->fd, (off_t)o->prev_size));
            if (o->oldn)
                IGN(pwrite(t->fd, o->old, o->oldn, (off_t)o->len));
        } else {
            if (o->oldn)
                IGN(pwrite(t->fd, o->old, o->oldn, (off_t)o->off));
            IGN(ftruncate(t->fd, (off_t)o->prev_size));
        }
    }
    for (size_t i = 0; i < t->nops; i++) {
        op *o = &t->ops[i];
        int fate = rand_r(seed) % 4; /* 0,1 keep; 2 drop; 3 garbage */
        if (fate == 2)
            continue;
        if (o->trunc) {
            IGN(ftruncate(t->fd, (off_t)o->len));
            continue;
        }
        if (fate == 3)
            for (uint64_t k = 0; k < o->len; k++)
                o->data[k] = (uint8_t)rand_r(seed);
        IGN(pwrite(t->fd, o->data, o->len, (off_t)o->off));
    }
}

static void do_crash(fos *f)
{
    unsigned seed = f->crash_seed;
    for (track *t = f->tracks; t; t = t->next)
        crash_file(t, &seed);
    for (created *c = f->created; c; c = c->next) {
        struct stat sb;
        if (rand_r(&seed) % 2 && stat(c->path, &sb) == 0 && sb.st_ino == c->ino &&
            sb.st_dev == c->dev)
            unlink(c->path);
    }
    track_drop_all(f);
    f->crashed = true;
}

/* ---- call accounting ------------------------------------------------------------------ */

/* Counts a call; returns 0 to go ahead, or an errno to fail it with. Holds f->mu on return
 * (the caller unlocks). `is_write` lets short-write mode act. */
/* A call of a thread that fos_count_only_this_thread excludes: it moves the armed fault one
 * call on, so that the fault still lands on the nth call of the counted thread. Caller
 * holds f->mu; n is the call's number. */
static bool foreign_call(fos *f, long n)
{
    if (!f->one_thread || pthread_equal(pthread_self(), f->thread))
        return false;
    if (f->fail_at && n <= f->fail_at)
        f->fail_at++;
    return true;
}

static int enter(fos *f, bool is_write, bool *short_write)
{
    pthread_mutex_lock(&f->mu);
    long n = ++f->calls;
    bool foreign = foreign_call(f, n);
    if (short_write)
        *short_write = false;
    if (f->crashed)
        return EIO;
    if (f->crash_at && n >= f->crash_at) {
        do_crash(f);
        return EIO;
    }
    if (is_write && f->disk_full)
        return ENOSPC;
    if (!foreign && f->fail_at &&
        (n == f->fail_at || (n > f->fail_at && f->fail_mode == FOS_FAIL_PERSIST))) {
        f->fired = true;
        if (f->fail_mode == FOS_SHORT_WRITE) {
            if (!is_write)
                return f->fail_err;
            f->disk_full = true;
            if (short_write)
                *short_write = true;
            return 0;
        }
        return f->fail_err;
    }
    return 0;
}

/* For a call that needs free space (a write, creating a file or directory, a rename): the
 * errno of a full disk, or 0. Caller holds f->mu. */
static int space(fos *f)
{
    long n = ++f->space_calls;
    if (f->full_at && n >= f->full_at) {
        f->fired = true;
        return f->full_err;
    }
    return 0;
}

#define LEAVE(f, ret, e)                                                                           \
    do {                                                                                           \
        int e_ = (e);                                                                              \
        pthread_mutex_unlock(&(f)->mu);                                                            \
        if (e_)                                                                                    \
            errno = e_;                                                                            \
        return (ret);                                                                              \
    } while (0)

static int f_open(void *ctx, const char *path, int flags, mode_t mode)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    if (e)
        LEAVE(f, -1, e);
    struct stat sb;
    bool existed = stat(path, &sb) == 0;
    if (!existed && (flags & O_CREAT) && (e = space(f)) != 0)
        LEAVE(f, -1, e);
    int fd = open(path, flags | O_CLOEXEC, mode);
    e = fd < 0 ? errno : 0;
    if (fd >= 0 && f->crash_mode) {
        if (!existed && (flags & O_CREAT) && fstat(fd, &sb) == 0) {
            created *c = calloc(1, sizeof *c);
            c->path = strdup(path);
            c->dev = sb.st_dev;
            c->ino = sb.st_ino;
            c->next = f->created;
            f->created = c;
        }
    }
    LEAVE(f, fd, e);
}

static int f_close(void *ctx, int fd)
{
    fos *f = ctx;
    pthread_mutex_lock(&f->mu);
    foreign_call(f, ++f->calls);
    int r = close(fd);
    int e = r ? errno : 0;
    LEAVE(f, r, e);
}

static ssize_t f_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    if (e)
        LEAVE(f, -1, e);
    ssize_t r = pread(fd, buf, n, off);
    LEAVE(f, r, r < 0 ? errno : 0);
}

static ssize_t f_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    fos *f = ctx;
    bool sw;
    int e = enter(f, true, &sw);
    if (e || (e = space(f)) != 0)
        LEAVE(f, -1, e);
    if (sw)
        n = n / 2;
    if (f->crash_mode)
        record_write(f, fd, buf, n, off);
    ssize_t r = pwrite(fd, buf, n, off);
    LEAVE(f, r, r < 0 ? errno : 0);
}

static int f_sync(fos *f, int fd, bool data_only)
{
    int e = enter(f, false, NULL);
    if (e)
        LEAVE(f, -1, e);
    if (f->crash_mode) {
        struct stat sb;
        if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            while (f->created) {
                created *c = f->created;
                f->created = c->next;
                free(c->path);
                free(c);
            }
        } else {
            track *t = track_get(f, fd, false);
            if (t)
                ops_clear(t);
        }
    }
    (void)data_only;
    LEAVE(f, 0, 0);
}

static int f_fsync(void *ctx, int fd)
{
    return f_sync(ctx, fd, false);
}

static int f_fdatasync(void *ctx, int fd)
{
    return f_sync(ctx, fd, true);
}

static int f_ftruncate(void *ctx, int fd, off_t len)
{
    fos *f = ctx;
    int e = enter(f, false, NULL); /* shrinking works on a full disk */
    if (e)
        LEAVE(f, -1, e);
    if (f->crash_mode)
        record_trunc(f, fd, len);
    int r = ftruncate(fd, len);
    LEAVE(f, r, r ? errno : 0);
}

static int f_fstat(void *ctx, int fd, struct stat *st)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    if (e)
        LEAVE(f, -1, e);
    int r = fstat(fd, st);
    LEAVE(f, r, r ? errno : 0);
}

static int f_rename(void *ctx, const char *from, const char *to)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    if (e || (e = space(f)) != 0)
        LEAVE(f, -1, e);
    int r = rename(from, to);
    e = r ? errno : 0;
    /* A rename counts as durable at once (see faultos.h), so the renamed file is no longer
     * a new entry that a crash may take away: removing it would leave neither the old file
     * nor the new one under `to`, which no real file system does. */
    for (created **pc = &f->created; !r && *pc;) {
        created *c = *pc;
        if (!strcmp(c->path, from)) {
            *pc = c->next;
            free(c->path);
            free(c);
        } else {
            pc = &c->next;
        }
    }
    LEAVE(f, r, e);
}

static int f_unlink(void *ctx, const char *path)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    if (e)
        LEAVE(f, -1, e);
    int r = unlink(path);
    e = r ? errno : 0;
    if (!r && f->free_on_unlink)
        f->full_at = 0;
    LEAVE(f, r, e);
}

static int f_mkdir(void *ctx, const char *path, mode_t mode)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    struct stat sb;
    if (!e && stat(path, &sb) != 0)
        e = space(f);
    if (e)
        LEAVE(f, -1, e);
    int r = mkdir(path, mode);
    LEAVE(f, r, r ? errno : 0);
}

static int f_listdir(void *ctx, const char *path, int (*fn)(void *, const char *), void *arg)
{
    fos *f = ctx;
    int e = enter(f, false, NULL);
    if (e)
        LEAVE(f, -1, e);
    pthread_mutex_unlock(&f->mu);
    return ae_os_posix()->listdir(NULL, path, fn, arg);
}

fos *fos_new(void)
{
    fos *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->os = (ae_os){
        .ctx = f,
        .open = f_open,
        .close = f_close,
        .pread = f_pread,
        .pwrite = f_pwrite,
        .fsync = f_fsync,
        .fdatasync = f_fdatasync,
        .ftruncate = f_ftruncate,
        .fstat = f_fstat,
        .rename = f_rename,
        .unlink = f_unlink,
        .mkdir = f_mkdir,
        .listdir = f_listdir,
    };
    return f;
}

void fos_free(fos *f)
{
    if (!f)
        return;
    track_drop_all(f);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const ae_os *fos_os(fos *f)
{
    return &f->os;
}

void fos_fail_at(fos *f, long n, int err, int mode)
{
    pthread_mutex_lock(&f->mu);
    f->fail_at = f->calls + n;
    f->fail_err = err;
    f->fail_mode = mode;
    f->fired = false;
    f->disk_full = false;
    pthread_mutex_unlock(&f->mu);
}

void fos_count_only_this_thread(fos *f)
{
    pthread_mutex_lock(&f->mu);
    f->one_thread = true;
    f->thread = pthread_self();
    pthread_mutex_unlock(&f->mu);
}

void fos_clear(fos *f)
{
    pthread_mutex_lock(&f->mu);
    f->fail_at = 0;
    f->disk_full = false;
    f->full_at = 0;
    pthread_mutex_unlock(&f->mu);
}

void fos_full_at(fos *f, long n, int err, bool free_on_unlink)
{
    pthread_mutex_lock(&f->mu);
    f->full_at = f->space_calls + n;
    f->full_err = err;
    f->free_on_unlink = free_on_unlink;
    f->fired = false;
    pthread_mutex_unlock(&f->mu);
}

long fos_space_calls(fos *f)
{
    pthread_mutex_lock(&f->mu);
    long n = f->space_calls;
    pthread_mutex_unlock(&f->mu);
    return n;
}

bool fos_full(fos *f)
{
    pthread_mutex_lock(&f->mu);
    bool r = f->full_at && f->space_calls >= f->full_at;
    pthread_mutex_unlock(&f->mu);
    return r;
}

long fos_calls(fos *f)
{
    pthread_mutex_lock(&f->mu);
    long n = f->calls;
    pthread_mutex_unlock(&f->mu);
    return n;
}

bool fos_fired(fos *f)
{
    pthread_mutex_lock(&f->mu);
    bool r = f->fired;
    pthread_mutex_unlock(&f->mu);
    return r;
}

void fos_crash_mode(fos *f)
{
    pthread_mutex_lock(&f->mu);
    f->crash_mode = true;
    pthread_mutex_unlock(&f->mu);
}

void fos_crash_at(fos *f, long n, unsigned seed)
{
    pthread_mutex_lock(&f->mu);
    f->crash_at = f->calls + n;
    f->crash_seed = seed;
    pthread_mutex_unlock(&f->mu);
}

void fos_crash(fos *f, unsigned seed)
{
    pthread_mutex_lock(&f->mu);
    f->crash_seed = seed;
    if (!f->crashed)
        do_crash(f);
    pthread_mutex_unlock(&f->mu);
}

bool fos_crashed(fos *f)
{
    pthread_mutex_lock(&f->mu);
    bool r = f->crashed;
    pthread_mutex_unlock(&f->mu);
    return r;
}
