/* The OS seam of the durable log: every filesystem call the store makes goes through an
 * `ae_os` table of function pointers, as SQLite's os_unix.c does with aSyscall[]. The real
 * table (ae_os_posix) forwards to the system calls; tests install tables that fail the Nth
 * call or simulate a power cut by dropping writes that were never synced.
 *
 * Every entry follows the system-call convention: it returns what the call returns (-1 on
 * failure) and sets errno. Entries may be called from the store's sync thread as well as
 * from the thread that owns the store, so a table's implementation must be thread-safe.
 * `ctx` is passed back to every entry unchanged. */
#ifndef AERIE_STORE_OS_H
#define AERIE_STORE_OS_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct ae_os {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, mode_t mode);
    int (*close)(void *ctx, int fd);
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, off_t off);
    int (*fsync)(void *ctx, int fd);
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*fstat)(void *ctx, int fd, struct stat *st);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, mode_t mode);
    /* Calls fn(arg, name) for each entry of directory `path` except "." and "..", in no
     * particular order. Stops early and returns fn's value when fn returns nonzero.
     * Returns 0, or -1 with errno when the directory cannot be read. */
    int (*listdir)(void *ctx, const char *path, int (*fn)(void *arg, const char *name), void *arg);
} ae_os;

/* The table that calls the real system calls. Returns a pointer to a static constant
 * table; never NULL. */
const ae_os *ae_os_posix(void);

/* Helpers built on any table (os.c). */

/* Writes all n bytes at off with os->pwrite, looping over short writes (a write of zero
 * bytes counts as ENOSPC). Returns 0, or -1 with errno. */
int ae_os_write_all(const ae_os *os, int fd, const void *buf, size_t n, uint64_t off);
/* fsync of directory `dir` itself, so that entries created, renamed or removed in it survive
 * a power cut (SQLite's UNIXFILE_DIRSYNC). Returns 0, or -1 with errno. */
int ae_os_sync_dir(const ae_os *os, const char *dir);

#endif
