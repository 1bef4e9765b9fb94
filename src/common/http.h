/* The tools' one HTTP client: a GET with a deadline, for monitoring endpoints on the hub and
 * on vehicles (nats-server /healthz, /varz, /leafz; aerie-leaf /leafz; the dashboard).
 * HTTP/1.0 with `Connection: close`, so the body ends where the server closes; no TLS, no
 * redirects, no chunked encoding (the servers above send none of them to a 1.0 client). */
#ifndef AERIE_COMMON_HTTP_H
#define AERIE_COMMON_HTTP_H

/* The largest body ae_http_get keeps; a longer answer is cut there. */
#define AE_HTTP_MAX_BODY (64 << 20)

/* GET http://host:port/path within timeout_ms in total. Returns the HTTP status (> 0) and,
 * when body is non-NULL, the body as a malloc'd NUL-terminated string (caller frees; "" when
 * empty); or AE_EIO (no connection, or nothing sent), AE_EPROTO (no HTTP status line before
 * the deadline) or AE_ENOMEM, with *body NULL. */
int ae_http_get(const char *host, int port, const char *path, char **body, int timeout_ms);

#endif
