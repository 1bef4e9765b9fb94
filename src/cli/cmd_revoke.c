/* `aerie revoke VID`: config change, reload, eviction by leaf name, verification. See
 * cmd_revoke.h for the steps and docs/security.md for the experiments behind them. */
#include "cli/cmd_revoke.h"
#include "cli/audit.h"
#include "cli/cmd_creds.h"
#include "common/nkeys.h"
#include "common/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *jstr_or(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The "ip:port" of every leaf connection a hub node's /leafz lists (a JSON object used as a
 * set), or NULL when the node has no monitoring port or does not answer. */
static json_t *leafz_set(const ae_sec_hub *h)
{
    char *body = NULL;
    if (!h->http_port ||
        ae_sec_http_get(h->http_host, h->http_port, "/leafz", &body, 2000) != 200) {
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

/* Reads one protocol line (without CRLF) from fd into line. Returns its length or -1. */
static int read_line(int fd, char *buf, size_t cap, size_t *have, char *line, size_t lcap,
                     int64_t deadline)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            size_t n = (size_t)(nl - buf);
            size_t c = n > 0 && buf[n - 1] == '\r' ? n - 1 : n;
            snprintf(line, lcap, "%.*s", (int)c, buf);
            memmove(buf, nl + 1, *have - n - 1);
            *have -= n + 1;
            return (int)c;
        }
        if (*have + 1 >= cap)
            return -1; /* a line longer than we care about */
        int left = (int)((deadline - ae_mono_ns()) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) != 1)
            return -1;
        ssize_t r = recv(fd, buf + *have, cap - *have - 1, 0);
        if (r <= 0)
            return -1;
        *have += (size_t)r;
    }
}

/* Opens a leafnode connection to hub h as `key`, announcing `name` (and `cluster`, may be
 * NULL) as the leaf's server name, and waits until the hub accepted it (PONG). Returns the
 * connected fd (the caller closes it), or a negative AE_E* with a message. */
static int impostor_connect(const ae_sec_hub *h, const ae_nkey *key, const char *name,
                            const char *cluster, int timeout_ms, ae_err *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", h->leaf_port);
    if (getaddrinfo(h->leaf_host, ps, &hints, &ai) != 0 || !ai)
        return ae_err_set(err, AE_EIO, "hub %s: cannot resolve %s", h->name, h->leaf_host);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return ae_err_set(err, AE_EIO, "hub %s: cannot connect to its leafnode port %s:%d: %s",
                          h->name, h->leaf_host, h->leaf_port, strerror(e));
    }
    freeaddrinfo(ai);
    int64_t deadline = ae_mono_ns() + (int64_t)timeout_ms * 1000000;
    char buf[65536], line[65536];
    size_t have = 0;
    int rc = 0;
    if (read_line(fd, buf, sizeof buf, &have, line, sizeof line, deadline) < 0 ||
        strncmp(line, "INFO ", 5) != 0) {
        rc = ae_err_set(err, AE_EPROTO, "hub %s: no INFO on the leafnode port", h->name);
        goto fail;
    }
    json_t *info = json_loads(line + 5, 0, NULL);
    bool tls = json_is_true(json_object_get(info, "tls_required"));
    char nonce[128];
    snprintf(nonce, sizeof nonce, "%s", json_string_value(json_object_get(info, "nonce")) ?: "");
    json_decref(info);
    if (tls) {
        rc = ae_err_set(err, AE_EPROTO,
                        "hub %s requires TLS on its leafnode port; `aerie revoke` cannot evict "
                        "over TLS yet: restart that hub node to cut the vehicle (see "
                        "docs/security.md)",
                        h->name);
        goto fail;
    }
    if (!nonce[0]) {
        rc = ae_err_set(err, AE_EPROTO, "hub %s sent no nonce: nkey users are not configured there",
                        h->name);
        goto fail;
    }
    char sig[128], pub[64];
    if ((rc = ae_nkey_sign(key, nonce, strlen(nonce), sig, sizeof sig, err)) != 0)
        goto fail;
    ae_nkey_public(key, pub, sizeof pub);
    json_t *cj = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "version", AERIE_VERSION, "nkey", pub,
                           "sig", sig, "name", name, "headers", 1, "tls_required", 0);
    if (cluster)
        json_object_set_new(cj, "cluster", json_string(cluster));
    char *cs = json_dumps(cj, JSON_COMPACT);
    json_decref(cj);
    char *msg = NULL;
    int n = cs ? asprintf(&msg, "CONNECT %s\r\nPING\r\n", cs) : -1;
    free(cs);
    if (n < 0 || send(fd, msg, (size_t)n, MSG_NOSIGNAL) != n) {
        free(msg);
        rc = ae_err_set(err, AE_EIO, "hub %s: cannot send CONNECT", h->name);
        goto fail;
    }
    free(msg);
    /* The hub may send INFO, LS+ and PING before our PONG; answer PINGs and skip the rest. */
    while (read_line(fd, buf, sizeof buf, &have, line, sizeof line, deadline) >= 0) {
        if (strncmp(line, "PONG", 4) == 0)
            return fd;
        if (strncmp(line, "PING", 4) == 0)
            send(fd, "PONG\r\n", 6, MSG_NOSIGNAL);
        else if (strncmp(line, "-ERR", 4) == 0) {
            rc = ae_err_set(err, AE_EAUTH, "hub %s refused the evictor: %s%s", h->name, line,
                            strstr(line, "Authorization")
                                ? " (its config lacks the " AE_SEC_EVICT_USER
                                  " user, or it has not reloaded)"
                                : "");
            goto fail;
        }
    }
    rc = ae_err_set(err, AE_ETIMEOUT, "hub %s: no answer to the evictor's CONNECT", h->name);
fail:
    close(fd);
    return rc;
}

/* Whether a vehicle leaf's own /leafz says its uplink is up: 1 connected, 0 not, -1 unknown. */
static int leaf_connected(int http_port, char *last_error, size_t cap)
{
    char *body = NULL;
    if (ae_sec_http_get("127.0.0.1", http_port, "/leafz", &body, 1500) != 200) {
        free(body);
        return -1;
    }
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    int up = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(j, "leafs"), i, l)
    {
        const char *st = json_string_value(json_object_get(l, "state"));
        if (!st || strcmp(st, "connected") == 0) /* nats-server lists only live ones */
            up = 1;
        const char *le = json_string_value(json_object_get(l, "last_error"));
        if (le && last_error)
            snprintf(last_error, cap, "%s", le);
    }
    json_decref(j);
    return up;
}

static int usage_revoke(void)
{
    fprintf(stderr, "usage: aerie revoke VID [--dir DIR | --out DIR] [--leaf-name NAME] "
                    "[--evict-only] [--wait 5s] [--json]\nSee docs/security.md.\n");
    return 2;
}

int ae_cmd_revoke(ae_cli *c, int argc, char **argv)
{
    const char *vid = NULL, *leaf_name = NULL;
    bool evict_only = false;
    int64_t wait_ns = 5 * AE_NS_PER_SEC;
    for (int i = 1; i < argc;) {
        ae_err e = {0};
        int r = ae_cli_global_opt(c, argc, argv, &i, &e);
        if (r < 0) {
            fprintf(stderr, "aerie revoke: %s\n", e.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            c->dir = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--leaf-name") == 0 && i + 1 < argc) {
            leaf_name = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            if (ae_parse_duration(argv[i + 1], &wait_ns) != 0 || wait_ns < 0) {
                fprintf(stderr, "aerie revoke: --wait %s: expected a duration\n", argv[i + 1]);
                return 2;
            }
            i += 2;
        } else if (strcmp(argv[i], "--evict-only") == 0) {
            evict_only = true;
            i++;
        } else if (argv[i][0] != '-' && !vid) {
            vid = argv[i++];
        } else {
            fprintf(stderr, "aerie revoke: unexpected argument %s\n", argv[i]);
            return usage_revoke();
        }
    }
    if (!vid)
        return usage_revoke();
    if (!ae_cli_valid_token(vid) || (leaf_name && !ae_cli_valid_token(leaf_name))) {
        fprintf(stderr,
                "aerie revoke: %s is not a vehicle id (one token of letters, digits, "
                "'_' or '-')\n",
                leaf_name && ae_cli_valid_token(vid) ? leaf_name : vid);
        return 2;
    }
    if (!c->dir && access(".fleet/fleet.json", F_OK) == 0)
        c->dir = ".fleet";
    /* Absolute, because the seed paths written into leaf configs and printed for the
     * operator must not depend on where the command ran. */
    char absdir[PATH_MAX];
    if (c->dir && realpath(c->dir, absdir))
        c->dir = absdir;
    if (!c->dir) {
        fprintf(stderr, "aerie revoke: give the fleet directory with --dir DIR or --out DIR\n");
        return 2;
    }
    if (!leaf_name)
        leaf_name = vid;

    ae_err err = {0};
    ae_sec_fleet f;
    json_t *reg = NULL, *evicted = json_array(), *details = json_object();
    int rc, reloaded = 0, link = -1;
    char last_error[512] = "";
    const char *result = "error";
    bool pending_reload = false;
    if ((rc = ae_sec_fleet_load(c->dir, &f, &err)) != 0)
        goto out;
    if (!(reg = ae_creds_registry_load(c->dir, &err))) {
        rc = AE_EINVAL;
        goto out;
    }
    if ((rc = ae_creds_ensure_service(c->dir, reg, &err)) != 0)
        goto out;
    if (!evict_only) {
        /* 1. The identity goes first everywhere, so that the evicted leaf has nowhere to
         * come back to. */
        json_t *v = json_object_get(json_object_get(reg, "vehicles"), vid);
        if (v) {
            char ts[48];
            const char *seed = json_string_value(json_object_get(v, "seed_file"));
            if (seed)
                unlink(seed);
            json_object_set_new(v, "status", json_string("revoked"));
            json_object_set_new(v, "revoked",
                                json_string(ae_format_rfc3339(ae_now_ns(), ts, sizeof ts)));
        }
        if ((rc = ae_creds_registry_save(c->dir, reg, &err)) != 0 ||
            (rc = ae_creds_apply(&f, reg, vid, &err)) != 0)
            goto out;
        if ((rc = ae_sec_reload_hubs(&f, 5000, &err)) < 0)
            goto out;
        reloaded = rc;
        rc = 0;
        if (!f.local) {
            pending_reload = true;
            result = "pending";
            goto out;
        }
    }
    /* 2. Evict on every node: the one holding the vehicle closes it, the others just see a
     * short-lived leaf come and go. Both cluster variants are tried because a stock
     * nats-server leaf announces its server name as cluster, aerie-leaf announces none. */
    ae_nkey key;
    if ((rc = ae_nkey_load_file(jstr_or(json_object_get(reg, "evict"), "seed_file"), &key, NULL,
                                &err)) != 0)
        goto out;
    /* The evictor's own connections, as the hubs see them: one that the hub has not yet
     * dropped is in a "before" snapshot and gone from the next "after", and must not be
     * reported as the vehicle's. */
    json_t *own = json_object();
    for (int i = 0; i < f.n_hubs; i++) {
        const char *clusters[2] = {NULL, leaf_name};
        for (int k = 0; k < 2; k++) {
            json_t *before = leafz_set(&f.hubs[i]);
            int fd = impostor_connect(&f.hubs[i], &key, leaf_name, clusters[k], 3000, &err);
            if (fd < 0) {
                json_decref(before);
                rc = fd;
                goto out_key;
            }
            struct sockaddr_storage la;
            socklen_t ll = sizeof la;
            char host[NI_MAXHOST], port[NI_MAXSERV], self[NI_MAXHOST + NI_MAXSERV + 2];
            if (getsockname(fd, (struct sockaddr *)&la, &ll) == 0 &&
                getnameinfo((struct sockaddr *)&la, ll, host, sizeof host, port, sizeof port,
                            NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
                snprintf(self, sizeof self, "%s:%s", host, port);
                json_object_set_new(own, self, json_true());
            }
            /* The hub closes the old connection while accepting ours, so by our PONG the
             * vehicle's entry is gone from /leafz. */
            json_t *after = leafz_set(&f.hubs[i]);
            close(fd);
            const char *k2;
            json_t *acc;
            json_object_foreach(before, k2, acc) if (after && !json_object_get(after, k2) &&
                                                     !json_object_get(own, k2))
                json_array_append_new(evicted, json_pack("{s:s, s:s, s:O}", "hub", f.hubs[i].name,
                                                         "conn", k2, "account", acc));
            json_decref(before);
            json_decref(after);
        }
    }
    /* 3. Verify from the vehicle's side when it is a local process: its leaf must say it is
     * down, and stay down for a moment (a reconnect would be refused now). */
    json_t *veh = ae_sec_fleet_vehicle(&f, vid);
    int http_port = (int)json_integer_value(json_object_get(veh, "leaf_http_port"));
    if (http_port > 0) {
        int64_t deadline = ae_mono_ns() + wait_ns;
        do {
            link = leaf_connected(http_port, last_error, sizeof last_error);
            if (link == 0)
                break;
            sleep_ms(100);
        } while (ae_mono_ns() < deadline);
        if (link == 1) {
            rc = ae_err_set(&err, AE_ETIMEOUT,
                            "%s is still connected %.1f s after the eviction; restart the hub "
                            "node that holds it (see docs/security.md)",
                            vid, (double)wait_ns / 1e9);
            goto out_key;
        }
    }
    result = "ok";
out_key:
    memset(&key, 0, sizeof key);
    json_decref(own);
out:
    json_object_set_new(details, "hubs", json_integer(f.n_hubs));
    json_object_set_new(details, "reloaded", json_integer(reloaded));
    json_object_set(details, "evicted", evicted);
    json_object_set_new(details, "leaf_name", json_string(leaf_name));
    json_object_set_new(details, "vehicle_link",
                        json_string(link == 1   ? "connected"
                                    : link == 0 ? "disconnected"
                                                : "unknown"));
    if (evict_only)
        json_object_set_new(details, "evict_only", json_true());
    if (rc)
        json_object_set_new(details, "error", json_string(err.msg));
    ae_audit(c, "revoke", vid, details, result);
    if (rc) {
        fprintf(stderr, "aerie revoke: %s\n", err.msg);
    } else if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:O}", "vid", vid, "result", result, "details", details);
        char *d = json_dumps(o, AE_CLI_JSON_FLAGS);
        printf("%s\n", d);
        free(d);
        json_decref(o);
    } else if (pending_reload) {
        printf("%s: identity removed from %d hub configs in %s.\n"
               "Copy them to the hub nodes, send each nats-server SIGHUP, then cut the live "
               "connection:\n  aerie revoke %s --evict-only --out %s\n",
               vid, f.n_hubs, c->dir, vid, c->dir);
    } else {
        printf("%s: revoked; %s%d hub nodes reloaded\n", vid, evict_only ? "(evict only) " : "",
               reloaded);
        size_t i;
        json_t *e;
        json_array_foreach(evicted, i, e) printf("  cut leaf connection %s on hub %s\n",
                                                 json_string_value(json_object_get(e, "conn")),
                                                 json_string_value(json_object_get(e, "hub")));
        if (json_array_size(evicted) == 0)
            printf("  no live leaf connection of %s was found on the hubs\n", leaf_name);
        if (link == 0)
            printf("  the vehicle's leaf reports its uplink down%s%s\n", last_error[0] ? ": " : "",
                   last_error);
    }
    json_decref(evicted);
    json_decref(details);
    json_decref(reg);
    ae_sec_fleet_free(&f);
    return rc ? 1 : 0;
}
