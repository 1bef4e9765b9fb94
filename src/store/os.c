/* The real OS table (see os.h): thin forwards to the POSIX calls, which are already
 * thread-safe. EINTR is retried here so the store never has to care about signals. Also
 * the two helpers every table shares: write-all and directory fsync. */
#include "store/os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int px_open(void *ctx, const char *path, int flags, mode_t mode)
{
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static int px_close(void *ctx, int fd)
{
    /* Linux releases the descriptor even when close reports EINTR; never retry. */
    return close(fd);
}

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
    ssize_t r;
    do
        r = pread(fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r;
}

static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r;
    do
        r = pwrite(fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r;
}

static int px_fsync(void *ctx, int fd)
{
    return fsync(fd);
}

static int px_fdatasync(void *ctx, int fd)
{
    return fdatasync(fd);
}

static int px_ftruncate(void *ctx, int fd, off_t len)
{
    int r;
    do
        r = ftruncate(fd, len);
    while (r < 0 && errno == EINTR);
    return r;
}

static int px_fstat(void *ctx, int fd, struct stat *st)
{
    return fstat(fd, st);
}

static int px_rename(void *ctx, const char *from, const char *to)
{
    return rename(from, to);
}

static int px_unlink(void *ctx, const char *path)
{
    return unlink(path);
}

static int px_mkdir(void *ctx, const char *path, mode_t mode)
{
    return mkdir(path, mode);
}

static int px_listdir(void *ctx, const char *path, int (*fn)(void *arg, const char *name),
                      void *arg)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                int e = errno;
                closedir(d);
                errno = e;
                return -1;
            }
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        rc = fn(arg, de->d_name);
        if (rc)
            break;
    }
    closedir(d);
    return rc;
}

static const ae_os posix_os = {
    .ctx = NULL,
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fsync = px_fsync,
    .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate,
    .fstat = px_fstat,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
    .listdir = px_listdir,
};

const ae_os *ae_os_posix(void)
{
    return &posix_os;
}

/* ---- helpers on any table ------------------------------------------------------------- */

int ae_os_write_all(const ae_os *os, int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = os->pwrite(os->ctx, fd, p, n, (off_t)off);
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = ENOSPC; /* a zero-byte write makes no progress; treat as full */
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int ae_os_sync_dir(const ae_os *os, const char *dir)
{
    int fd = os->open(os->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return -1;
    int r = os->fsync(os->ctx, fd);
    int e = errno;
    os->close(os->ctx, fd);
    errno = e;
    return r;
}
