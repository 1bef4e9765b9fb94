/* MAVLink links: endpoint URL parsing, UDP sockets and termios serial ports.
 *
 * UDP links read whole datagrams; the parser copes with several frames per datagram and
 * with garbage. Serial reads can split frames anywhere; the parser reassembles them. */
#include "gw/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char url_help[] =
    "use udp://[host]:port (listen), udpout://host:port (send) or serial:///dev/ttyX[:baud]";

static int resolve(const char *host, const char *port, bool passive, struct sockaddr_storage *ss,
                   socklen_t *len, ae_err *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    int rc = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return ae_err_set(err, AE_EINVAL, "cannot resolve \"%s\" port %s: %s", host ? host : "",
                          port, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port" / "port". */
static int split_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    host[0] = '\0';
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return AE_EINVAL;
        snprintf(host, hcap, "%.*s", (int)(end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon)
            snprintf(host, hcap, "%.*s", (int)(colon - s), s);
    }
    const char *p = colon ? colon + 1 : s;
    if (!*p || strspn(p, "0123456789") != strlen(p) || atoi(p) <= 0 || atoi(p) > 65535)
        return AE_EINVAL;
    snprintf(port, pcap, "%s", p);
    return 0;
}

static speed_t baud_const(long baud)
{
    switch (baud) {
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    case 230400:
        return B230400;
    case 460800:
        return B460800;
    case 500000:
        return B500000;
    case 921600:
        return B921600;
    case 1000000:
        return B1000000;
    case 1500000:
        return B1500000;
    case 2000000:
        return B2000000;
    case 3000000:
        return B3000000;
    default:
        return 0;
    }
}

static int open_serial(ae_gw_link *l, const char *spec, ae_err *err)
{
    char path[200];
    long baud = 57600;
    snprintf(path, sizeof path, "%s", spec);
    char *colon = strrchr(path, ':');
    if (colon) {
        char *end;
        baud = strtol(colon + 1, &end, 10);
        if (*end || colon[1] == '\0')
            return ae_err_set(err, AE_EINVAL, "%s: bad baud rate \"%s\"", l->url, colon + 1);
        *colon = '\0';
    }
    speed_t sp = baud_const(baud);
    if (!sp)
        return ae_err_set(err, AE_EINVAL,
                          "%s: unsupported baud rate %ld (use 9600 ... 3000000, e.g. 57600, "
                          "115200, 921600)",
                          l->url, baud);
    if (path[0] != '/')
        return ae_err_set(err, AE_EINVAL, "%s: serial device must be an absolute path; %s", l->url,
                          url_help);
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return ae_err_set(err, AE_EIO, "open %s: %s", path, strerror(errno));
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        int e = errno;
        close(fd);
        return ae_err_set(err, AE_EIO, "tcgetattr %s: %s (is it a serial device?)", path,
                          strerror(e));
    }
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(tcflag_t)CRTSCTS;
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, sp);
    cfsetospeed(&t, sp);
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        int e = errno;
        close(fd);
        return ae_err_set(err, AE_EIO, "tcsetattr %s: %s", path, strerror(e));
    }
    l->fd = fd;
    return 0;
}

int ae_gw_link_open(ae_gw_link *l, const char *url, ae_mav_frame_cb cb, void *ctx, ae_err *err)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    snprintf(l->url, sizeof l->url, "%s", url);
    ae_mav_parser_init(&l->parser, cb, ctx);
    const char *rest;
    if (strncmp(url, "udp://", 6) == 0 || strncmp(url, "udpin://", 8) == 0) {
        l->kind = AE_GW_LINK_UDP_LISTEN;
        rest = strstr(url, "://") + 3;
    } else if (strncmp(url, "udpout://", 9) == 0) {
        l->kind = AE_GW_LINK_UDP_OUT;
        rest = url + 9;
    } else if (strncmp(url, "serial://", 9) == 0) {
        l->kind = AE_GW_LINK_SERIAL;
        return open_serial(l, url + 9, err);
    } else if (strncmp(url, "serial:", 7) == 0) {
        l->kind = AE_GW_LINK_SERIAL;
        return open_serial(l, url + 7, err);
    } else {
        return ae_err_set(err, AE_EINVAL, "unknown MAVLink endpoint \"%s\": %s", url, url_help);
    }
    char host[128], port[16];
    if (split_hostport(rest, host, sizeof host, port, sizeof port) != 0)
        return ae_err_set(err, AE_EINVAL, "bad MAVLink endpoint \"%s\": %s", url, url_help);
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int rc = resolve(host, port, l->kind == AE_GW_LINK_UDP_LISTEN, &ss, &len, err);
    if (rc)
        return rc;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ae_err_set(err, AE_EIO, "socket for %s: %s", url, strerror(errno));
    if (l->kind == AE_GW_LINK_UDP_LISTEN) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
            int e = errno;
            close(fd);
            return ae_err_set(err, AE_EIO, "bind %s: %s", url, strerror(e));
        }
    } else {
        l->peer = ss;
        l->peer_len = len;
    }
    /* Bursts of telemetry at high rates: give the kernel room so nothing drops while the
     * loop is busy publishing. */
    int rcvbuf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    l->fd = fd;
    return 0;
}

int ae_gw_link_read(ae_gw_link *l)
{
    uint8_t buf[65536];
    for (int i = 0; i < 64; i++) { /* bounded, so one busy link cannot starve the others */
        ssize_t n;
        if (l->kind == AE_GW_LINK_SERIAL) {
            n = read(l->fd, buf, sizeof buf);
            if (n == 0)
                return AE_EIO; /* hang-up */
        } else {
            l->last_from_len = sizeof l->last_from;
            n = recvfrom(l->fd, buf, sizeof buf, 0, (struct sockaddr *)&l->last_from,
                         &l->last_from_len);
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            /* UDP: an ICMP "port unreachable" from an earlier send surfaces here; harmless. */
            if (l->kind != AE_GW_LINK_SERIAL && errno == ECONNREFUSED)
                continue;
            return AE_EIO;
        }
        if (l->kind == AE_GW_LINK_UDP_LISTEN) {
            /* Replies go to whoever spoke last, as autopilots and SITL expect. */
            l->peer = l->last_from;
            l->peer_len = l->last_from_len;
        }
        ae_mav_parse(&l->parser, buf, (size_t)n);
    }
    return 0;
}

int ae_gw_link_send(ae_gw_link *l, const uint8_t *frame, size_t n,
                    const struct sockaddr_storage *to, socklen_t to_len)
{
    ssize_t w;
    if (l->kind == AE_GW_LINK_SERIAL) {
        w = write(l->fd, frame, n);
    } else {
        if (!to) {
            to = &l->peer;
            to_len = l->peer_len;
        }
        if (to_len == 0)
            return AE_EAGAIN;
        w = sendto(l->fd, frame, n, 0, (const struct sockaddr *)to, to_len);
    }
    if (w != (ssize_t)n) {
        l->tx_errors++;
        return AE_EIO;
    }
    l->tx_frames++;
    return 0;
}

void ae_gw_link_close(ae_gw_link *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
