/* Deadline-bound TCP client helpers; see tcp.h. Connecting is non-blocking under poll so
 * that an unreachable host costs timeout_ms and no more; the socket is switched back to
 * blocking mode afterwards, and every later wait is a poll with the remaining time. */
#include "common/tcp.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int remaining_ms(int64_t deadline_ns)
{
    int64_t left = (deadline_ns - ae_mono_ns()) / AE_NS_PER_MS;
    return left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* One connect attempt to one resolved address. Returns the fd, or -errno-like AE_E*. */
static int connect_one(const struct addrinfo *ai, int64_t deadline_ns, int *why)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *why = errno;
        return AE_EIO;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        *why = errno;
        close(fd);
        return AE_EIO;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do
        n = poll(&p, 1, remaining_ms(deadline_ns));
    while (n < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        *why = n == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        close(fd);
        return n == 0 ? AE_ETIMEOUT : AE_EIO;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        *why = errno;
        close(fd);
        return AE_EIO;
    }
    return fd;
}

int ae_tcp_connect(const char *host, int port, int timeout_ms, ae_err *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0 || !res)
        return ae_err_set(err, AE_EIO, "cannot resolve %s: %s", host,
                          gai ? gai_strerror(gai) : "no address");
    int64_t deadline = ae_mono_ns() + (int64_t)timeout_ms * AE_NS_PER_MS;
    int rc = AE_EIO, why = 0;
    for (const struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next)
        rc = connect_one(ai, deadline, &why);
    freeaddrinfo(res);
    if (rc < 0)
        return ae_err_set(err, rc, "cannot connect to %s:%d: %s", host, port, strerror(why));
    return rc;
}

int ae_tcp_send_all(int fd, const void *buf, size_t len, int64_t deadline_ns)
{
    const char *p = buf;
    size_t off = 0;
    while (off < len) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int n = poll(&pf, 1, remaining_ms(deadline_ns));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return AE_ETIMEOUT;
        if (n < 0)
            return AE_EIO;
        ssize_t w = send(fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return AE_EIO;
        off += (size_t)w;
    }
    return 0;
}

ssize_t ae_tcp_read_until(int fd, char *buf, size_t cap, size_t have,
                          bool (*done)(const char *buf, size_t len), int64_t deadline_ns)
{
    if (cap == 0)
        return -1;
    buf[have < cap ? have : cap - 1] = 0;
    bool any = have > 0;
    while (have + 1 < cap && !(done && done(buf, have))) {
        int left = remaining_ms(deadline_ns);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int n = left > 0 ? poll(&pf, 1, left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ssize_t r = recv(fd, buf + have, cap - 1 - have, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = 0;
        any = true;
    }
    return any ? (ssize_t)have : -1;
}
