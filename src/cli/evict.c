/* The evictor: a leafnode impostor that makes a hub drop a vehicle's connection; see
 * evict.h and docs/security.md for the experiments behind it. The handshake is the leafnode
 * protocol's: INFO from the hub, CONNECT (the evictor's login, the leaf's name) and PING from
 * us, until the hub's PONG says it accepted the connection. */
#include "cli/evict.h"
#include "cli/creds_registry.h"
#include "common/http.h"
#include "common/tcp.h"
#include "common/timeutil.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The "ip:port" of every leaf connection a hub node's /leafz lists (a JSON object used as a
 * set, the values the accounts), or NULL when the node has no monitoring port or does not
 * answer. */
static json_t *leafz_set(const ae_fleet_hub *h)
{
    char *body = NULL;
    if (!h->http_port || ae_http_get(h->http_host, h->http_port, "/leafz", &body, 2000) != 200) {
        free(body);
        return NULL;
    }
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    json_t *set = json_object();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(j, "leafs"), i, l)
    {
        char key[300];
        snprintf(key, sizeof key, "%s:%lld", json_string_value(json_object_get(l, "ip")) ?: "?",
                 (long long)json_integer_value(json_object_get(l, "port")));
        json_object_set(set, key, json_object_get(l, "account") ?: json_null());
    }
    json_decref(j);
    return set;
}

/* A line reader over a socket: lines of the leafnode protocol, CRLF removed. */
typedef struct lines {
    int fd;
    char buf[65536];
    size_t have;
    int64_t deadline;
} lines;

static bool has_newline(const char *s, size_t n)
{
    return memchr(s, '\n', n) != NULL;
}

/* The next line into line (cap bytes). Returns its length, or -1 when the peer closed, the
 * deadline passed or the line is longer than the buffer. */
static int next_line(lines *r, char *line, size_t cap)
{
    if (!has_newline(r->buf, r->have)) {
        ssize_t n =
            ae_tcp_read_until(r->fd, r->buf, sizeof r->buf, r->have, has_newline, r->deadline);
        if (n < 0 || !has_newline(r->buf, (size_t)n))
            return -1;
        r->have = (size_t)n;
    }
    char *nl = memchr(r->buf, '\n', r->have);
    size_t n = (size_t)(nl - r->buf);
    size_t c = n > 0 && r->buf[n - 1] == '\r' ? n - 1 : n;
    snprintf(line, cap, "%.*s", (int)c, r->buf);
    memmove(r->buf, nl + 1, r->have - n - 1);
    r->have -= n + 1;
    return (int)c;
}

/* Sends CONNECT (the login, the leaf's name and cluster) and PING. */
static int send_connect(int fd, const ae_fleet_hub *h, const char *user, const char *password,
                        const char *name, const char *cluster, int64_t deadline, ae_err *err)
{
    int rc;
    json_t *cj = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "version", AERIE_VERSION, "user", user,
                           "pass", password, "name", name, "headers", 1, "tls_required", 0);
    if (cluster)
        json_object_set_new(cj, "cluster", json_string(cluster));
    char *cs = json_dumps(cj, JSON_COMPACT);
    json_decref(cj);
    char *msg = NULL;
    int n = cs ? asprintf(&msg, "CONNECT %s\r\nPING\r\n", cs) : -1;
    free(cs);
    rc = n < 0 || ae_tcp_send_all(fd, msg, (size_t)n, deadline) != 0
             ? ae_err_set(err, AE_EIO, "hub %s: cannot send CONNECT", h->name)
             : 0;
    free(msg);
    return rc;
}

/* Reads the hub's INFO and checks that a login over plain TCP is possible. */
static int read_info(lines *r, const ae_fleet_hub *h, ae_err *err)
{
    char line[65536];
    if (next_line(r, line, sizeof line) < 0 || strncmp(line, "INFO ", 5) != 0)
        return ae_err_set(err, AE_EPROTO, "hub %s: no INFO on the leafnode port", h->name);
    json_t *info = json_loads(line + 5, 0, NULL);
    bool tls = json_is_true(json_object_get(info, "tls_required"));
    json_decref(info);
    if (tls)
        return ae_err_set(err, AE_EPROTO,
                          "hub %s requires TLS on its leafnode port; `aerie revoke` cannot evict "
                          "over TLS yet: restart that hub node to cut the vehicle (see "
                          "docs/security.md)",
                          h->name);
    return 0;
}

/* Opens a leafnode connection to hub h as `user`, announcing `name` (and `cluster`, may be
 * NULL) as the leaf's server name, and waits until the hub accepted it (PONG). Returns the
 * connected fd (the caller closes it), or a negative AE_E* with a message. */
static int impostor_connect(const ae_fleet_hub *h, const char *user, const char *password,
                            const char *name, const char *cluster, int timeout_ms, ae_err *err)
{
    ae_err cerr = {0};
    int fd = ae_tcp_connect(h->leaf_host, h->leaf_port, timeout_ms, &cerr);
    if (fd < 0)
        return ae_err_set(err, AE_EIO, "hub %s: its leafnode port: %s", h->name, cerr.msg);
    lines *r = calloc(1, sizeof *r);
    char line[4096];
    int rc = r ? 0 : ae_err_set(err, AE_ENOMEM, "out of memory");
    if (r) {
        r->fd = fd;
        r->deadline = ae_mono_ns() + (int64_t)timeout_ms * AE_NS_PER_MS;
    }
    if (!rc)
        rc = read_info(r, h, err);
    if (!rc)
        rc = send_connect(fd, h, user, password, name, cluster, r->deadline, err);
    /* The hub may send INFO, LS+ and PING before our PONG; answer PINGs and skip the rest. */
    while (!rc) {
        if (next_line(r, line, sizeof line) < 0) {
            rc =
                ae_err_set(err, AE_ETIMEOUT, "hub %s: no answer to the evictor's CONNECT", h->name);
        } else if (strncmp(line, "PONG", 4) == 0) {
            free(r);
            return fd;
        } else if (strncmp(line, "PING", 4) == 0) {
            ae_tcp_send_all(fd, "PONG\r\n", 6, r->deadline);
        } else if (strncmp(line, "-ERR", 4) == 0) {
            rc = ae_err_set(err, AE_EAUTH, "hub %s refused the evictor: %s%s", h->name, line,
                            strstr(line, "Authorization")
                                ? " (the vehicle's account there lacks the " AE_SEC_EVICT_USER
                                  " user: is the vehicle revoked in its config, and has the "
                                  "node reloaded?)"
                                : "");
        }
    }
    free(r);
    close(fd);
    return rc;
}

/* Our own end of fd as "ip:port", as the hub's /leafz shows it, into the set `own`. */
static void note_own(int fd, json_t *own)
{
    struct sockaddr_storage la;
    socklen_t ll = sizeof la;
    char host[NI_MAXHOST], port[NI_MAXSERV], self[NI_MAXHOST + NI_MAXSERV + 2];
    if (getsockname(fd, (struct sockaddr *)&la, &ll) == 0 &&
        getnameinfo((struct sockaddr *)&la, ll, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        snprintf(self, sizeof self, "%s:%s", host, port);
        json_object_set_new(own, self, json_true());
    }
}

int ae_evict_leaf(const ae_fleet_hub *h, const char *user, const char *password,
                  const char *leaf_name, json_t *own, json_t *evicted, ae_err *err)
{
    const char *clusters[2] = {NULL, leaf_name};
    for (int k = 0; k < 2; k++) {
        json_t *before = leafz_set(h);
        int fd = impostor_connect(h, user, password, leaf_name, clusters[k], 3000, err);
        if (fd < 0) {
            json_decref(before);
            return fd;
        }
        /* The evictor's own connections, as the hubs see them: one that the hub has not
         * yet dropped is in a "before" snapshot and gone from the next "after", and must
         * not be reported as the vehicle's. */
        note_own(fd, own);
        /* The hub closes the old connection while accepting ours, so by our PONG the
         * vehicle's entry is gone from /leafz. */
        json_t *after = leafz_set(h);
        close(fd);
        const char *conn;
        json_t *acc;
        json_object_foreach(before, conn, acc)
        {
            if (after && !json_object_get(after, conn) && !json_object_get(own, conn))
                json_array_append_new(evicted, json_pack("{s:s, s:s, s:O}", "hub", h->name, "conn",
                                                         conn, "account", acc));
        }
        json_decref(before);
        json_decref(after);
    }
    return 0;
}
