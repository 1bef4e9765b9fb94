/* A fault for a real aerie-leaf process: preloaded (LD_PRELOAD), it makes fsync and
 * fdatasync fail with EIO from the moment the file named by $AE_FAILSYNC_TRIGGER exists, as
 * a disk that stops accepting writes would. The store's own fault tests use the ae_os seam
 * in-process; this one exercises the whole broker, down to what a publisher is told. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int triggered(void)
{
    const char *path = getenv("AE_FAILSYNC_TRIGGER");
    return path && access(path, F_OK) == 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (triggered()) {
        errno = EIO;
        return -1;
    }
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (triggered()) {
        errno = EIO;
        return -1;
    }
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
