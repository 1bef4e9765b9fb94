/* Whole-file read and temp-file-plus-rename replace; see fileio.h. */
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ae_file_read(const char *path, char **text, size_t *len, ae_err *err)
{
    *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ae_err_set(err, errno == ENOENT ? AE_ENOENT : AE_EIO, "cannot open %s: %s", path,
                          strerror(errno));
    size_t cap = 8192, have = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            return ae_err_set(err, AE_ENOMEM, "out of memory reading %s", path);
        }
        ssize_t n = read(fd, buf + have, cap - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ae_err_set(err, AE_EIO, "cannot read %s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    buf[have] = 0;
    *text = buf;
    if (len)
        *len = have;
    return 0;
}

int ae_file_write_atomic(const char *path, const char *text, int flags, ae_err *err)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
        return ae_err_set(err, AE_ENOMEM, "out of memory writing %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = ae_err_set(err, AE_EIO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *what = "write";
    size_t n = strlen(text), off = 0;
    bool ok = true;
    while (ok && off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        off += ok ? (size_t)w : 0;
    }
    if (ok && (flags & AE_FILE_DURABLE) && fsync(fd) != 0) {
        what = "fsync";
        ok = false;
    }
    int e = errno;
    if (close(fd) != 0 && ok) {
        what = "close";
        e = errno;
        ok = false;
    }
    if (ok && rename(tmp, path) != 0) {
        what = "rename";
        e = errno;
        ok = false;
    }
    int rc = 0;
    if (!ok) {
        unlink(tmp);
        rc = ae_err_set(err, AE_EIO, "cannot write %s (%s): %s", path, what,
                        e ? strerror(e) : "short write");
    }
    free(tmp);
    return rc;
}
