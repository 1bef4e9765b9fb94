/* A deadline-bound HTTP/1.0 GET over common/tcp.h; see http.h. */
#include "common/http.h"
#include "common/err.h"
#include "common/tcp.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the whole answer (until the server closes, the deadline or the size limit) into a
 * growing buffer. Returns the buffer (caller frees) or NULL when out of memory. */
static char *read_answer(int fd, int64_t deadline)
{
    size_t cap = 16384, have = 0;
    char *buf = malloc(cap);
    while (buf) {
        ssize_t n = ae_tcp_read_until(fd, buf, cap, have, NULL, deadline);
        if (n < 0 || (size_t)n + 1 < cap || cap >= AE_HTTP_MAX_BODY)
            break; /* closed, timed out or at the limit: what is there is the answer */
        have = (size_t)n;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    return buf;
}

int ae_http_get(const char *host, int port, const char *path, char **body, int timeout_ms)
{
    if (body)
        *body = NULL;
    int64_t deadline = ae_mono_ns() + (int64_t)timeout_ms * AE_NS_PER_MS;
    int fd = ae_tcp_connect(host, port, timeout_ms, NULL);
    if (fd < 0)
        return AE_EIO;
    char req[1024];
    int rl =
        snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                 path, host, port);
    if (rl < 0 || (size_t)rl >= sizeof req || ae_tcp_send_all(fd, req, (size_t)rl, deadline)) {
        close(fd);
        return AE_EIO;
    }
    char *buf = read_answer(fd, deadline);
    close(fd);
    if (!buf)
        return AE_ENOMEM;
    int status = 0;
    const char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || status <= 0 || !sep) {
        free(buf);
        return AE_EPROTO;
    }
    if (body) {
        *body = strdup(sep + 4);
        if (!*body) {
            free(buf);
            return AE_ENOMEM;
        }
    }
    free(buf);
    return status;
}
