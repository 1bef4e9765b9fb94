/* Is home reachable again? See homeprobe.h. */
#include "leaf/homeprobe.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void finish(ae_homeprobe *p, bool ok)
{
    ae_homeprobe_stop(p);
    if (p->done)
        p->done(p->ctx, ok);
}

static void on_io(ae_loop *loop, ae_io *io, unsigned events)
{
    (void)loop;
    ae_homeprobe *p = io->ctx;
    if (events & AE_IO_WRITE) {
        /* connected (or failed: the read below tells) */
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0 || p->kind == AE_PROBE_CONNECT) {
            finish(p, soerr == 0);
            return;
        }
        static const char req[] = "GET / HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n";
        if (write(io->fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
            finish(p, false);
            return;
        }
        ae_loop_mod(p->loop, io, AE_IO_READ);
        return;
    }
    ssize_t n = read(io->fd, p->buf + p->got, sizeof p->buf - p->got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        finish(p, false);
        return;
    }
    p->got += (size_t)n;
    if (p->got >= 5)
        finish(p, memcmp(p->buf, p->kind == AE_PROBE_LEAFNODE ? "INFO " : "HTTP/", 5) == 0);
}

static void on_timeout(ae_loop *loop, ae_timer *t)
{
    (void)loop;
    finish(t->ctx, false);
}

bool ae_homeprobe_start(ae_homeprobe *p, ae_loop *loop, const char *host, int port,
                        ae_probe_kind kind, int64_t timeout_ns,
                        void (*done)(void *ctx, bool reachable), void *ctx)
{
    if (p->busy)
        return false;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, ports, &hints, &res) != 0)
        return false;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return false;
    }
    freeaddrinfo(res);
    p->loop = loop;
    p->io = (ae_io){.fd = fd, .cb = on_io, .ctx = p};
    p->timeout = (ae_timer){.cb = on_timeout, .ctx = p};
    p->got = 0;
    p->done = done;
    p->ctx = ctx;
    p->busy = true;
    p->kind = kind;
    ae_loop_add(loop, &p->io, kind == AE_PROBE_LEAFNODE ? AE_IO_READ : AE_IO_WRITE);
    ae_loop_timer_start(loop, &p->timeout, timeout_ns);
    return true;
}

void ae_homeprobe_stop(ae_homeprobe *p)
{
    if (!p->busy)
        return;
    p->busy = false;
    ae_loop_timer_stop(p->loop, &p->timeout);
    if (p->io.registered)
        ae_loop_del(p->loop, &p->io);
    close(p->io.fd);
    p->io.fd = -1;
}
