/* Short-lived TCP client connections for the tools: connecting with a deadline, sending a
 * whole buffer and reading until a condition holds, each bounded in time. The daemons' own
 * sockets live in their event loops; this is for request/response exchanges (HTTP
 * monitoring endpoints, control ports, a one-off protocol handshake). */
#ifndef AERIE_COMMON_TCP_H
#define AERIE_COMMON_TCP_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Connects to host:port (a name or a numeric address, IPv4 or IPv6), giving up after
 * timeout_ms. Returns a blocking, close-on-exec socket (the caller closes it), or AE_EIO /
 * AE_ETIMEOUT with a message naming host, port and the reason. */
int ae_tcp_connect(const char *host, int port, int timeout_ms, ae_err *err);

/* Sends all len bytes of buf before deadline_ns (ae_mono_ns() clock); never raises
 * SIGPIPE. Returns 0, or AE_EIO / AE_ETIMEOUT. */
int ae_tcp_send_all(int fd, const void *buf, size_t len, int64_t deadline_ns);

/* Reads into buf (cap bytes, kept NUL-terminated) after the `have` bytes already there,
 * until `done(buf, len)` says so (NULL: until the peer closes), the buffer is full, or
 * deadline_ns passes. Returns the total length held, or -1 when nothing could be read. */
ssize_t ae_tcp_read_until(int fd, char *buf, size_t cap, size_t have,
                          bool (*done)(const char *buf, size_t len), int64_t deadline_ns);

#endif
