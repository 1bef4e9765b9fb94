/* Shared pieces of the security tests; see sec_util.h. */
#include "sec_util.h"
#include "common/nkeys.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int sec_aerie(char *out, size_t cap, const char *fmt, ...)
{
    char args[4096], cmd[4700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", ah_bin("aerie"), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    /* Read to the end: a command that prints more must not block on a full pipe. */
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0)
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the fleet ------------------------------------------------------------------------- */

void sec_fleet_generate(sec_fleet *f, const char *base, int nodes, const char *extra)
{
    memset(f, 0, sizeof *f);
    f->nodes = nodes;
    snprintf(f->env, sizeof f->env, "prod");
    char hubs[SEC_MAX_HUBS * 220] = "";
    for (int i = 0; i < nodes; i++) {
        f->client[i] = ah_free_port();
        f->cluster[i] = ah_free_port();
        f->leaf[i] = ah_free_port();
        f->http[i] = ah_free_port();
        f->ws[i] = ah_uplink_ws() ? ah_free_port() : 0;
        char ws[32] = "";
        if (f->ws[i])
            snprintf(ws, sizeof ws, ",\"ws_port\":%d", f->ws[i]);
        snprintf(hubs + strlen(hubs), sizeof hubs - strlen(hubs),
                 "%s{\"name\":\"eu%d\",\"host\":\"127.0.0.1\",\"client_port\":%d,"
                 "\"cluster_port\":%d,\"leaf_port\":%d,\"http_port\":%d%s}",
                 i ? "," : "", i + 1, f->client[i], f->cluster[i], f->leaf[i], f->http[i], ws);
    }
    char path[700];
    snprintf(path, sizeof path, "%s/topo.json", base);
    AH_ASSERT_EQ_INT(ah_write_file(path,
                                   "{%s\"jetstream\":{\"store_dir\":\"%s/data/{name}\","
                                   "\"max_file_store\":\"4GB\",\"max_memory_store\":\"512MB\"},"
                                   "\"vehicle_store_dir\":\"%s/veh/{vid}\","
                                   "\"regions\":[{\"name\":\"eu\",\"hubs\":[%s]}]}\n",
                                   extra ? extra : "", base, base, hubs),
                     0);
    snprintf(f->dir, sizeof f->dir, "%s/out", base);
    static char out[65536];
    int rc = sec_aerie(out, sizeof out, "topology %s --out %s", path, f->dir);
    AH_ASSERT_MSG(rc == 0, "aerie topology (rc %d): %s", rc, out);
}

void sec_fleet_start(sec_fleet *f)
{
    for (int i = 0; i < f->nodes; i++) {
        char conf[700], log[700];
        snprintf(conf, sizeof conf, "%s/hub-eu%d.conf", f->dir, i + 1);
        snprintf(log, sizeof log, "%s/eu%d.log", f->dir, i + 1);
        char *argv[] = {(char *)ah_nats_server(), "-c", conf, NULL};
        AH_ASSERT_EQ_INT(ah_spawn(&f->hub[i], log, argv), 0);
    }
    int64_t deadline = ah_now_ms() + (int64_t)(30000 * ah_timeout_scale());
    for (int i = 0; i < f->nodes; i++) {
        bool ok = false;
        while (!ok && ah_now_ms() < deadline) {
            int st = 0;
            char *b = ah_http_get(f->http[i], "/healthz?js-enabled-only=true", &st);
            ok = b && st == 200;
            if (ok && f->nodes > 1) {
                free(b);
                b = ah_http_get(f->http[i], "/jsz", &st);
                json_t *j = b ? json_loads(b, 0, NULL) : NULL;
                ok = json_is_string(json_object_get(json_object_get(j, "meta_cluster"), "leader"));
                json_decref(j);
            }
            free(b);
            if (!ok)
                ah_sleep_ms(100);
        }
        char log[700];
        snprintf(log, sizeof log, "%s/eu%d.log", f->dir, i + 1);
        if (!ok)
            ah_print_tail(log, 3000);
        AH_ASSERT_MSG(ok, "hub eu%d did not come up from its generated config", i + 1);
    }
}

void sec_fleet_stop(sec_fleet *f)
{
    for (int i = 0; i < f->nodes; i++)
        if (f->hub[i].pid > 0)
            ah_stop(&f->hub[i], SIGTERM, 5000);
}

void sec_fleet_make_local(sec_fleet *f, const char *vehicles_json)
{
    char path[700];
    snprintf(path, sizeof path, "%s/eu/fleet.json", f->dir);
    json_t *fj = json_load_file(path, 0, NULL);
    AH_ASSERT_MSG(fj, "no region view %s", path);
    json_t *hub = json_object_get(fj, "hub"), *nodes = json_array(), *procs = json_array();
    for (int i = 0; i < f->nodes; i++) {
        char name[16], conf[700], log[700];
        snprintf(name, sizeof name, "eu%d", i + 1);
        snprintf(conf, sizeof conf, "%s/hub-eu%d.conf", f->dir, i + 1);
        snprintf(log, sizeof log, "%s/eu%d.log", f->dir, i + 1);
        json_array_append_new(nodes, json_pack("{s:s, s:s, s:i, s:i, s:i}", "name", name, "conf",
                                               conf, "client_port", f->client[i], "leaf_port",
                                               f->leaf[i], "http_port", f->http[i]));
        json_array_append_new(procs, json_pack("{s:s, s:s, s:s, s:i, s:[s,s,s], s:s}", "name", name,
                                               "kind", "hub", "prog", "nats-server", "pid",
                                               (int)f->hub[i].pid, "argv", ah_nats_server(), "-c",
                                               conf, "log", log));
    }
    json_object_set_new(hub, "nodes", nodes);
    json_object_set_new(fj, "processes", procs);
    if (vehicles_json)
        json_object_set_new(fj, "vehicles", json_loads(vehicles_json, 0, NULL));
    snprintf(path, sizeof path, "%s/fleet.json", f->dir);
    AH_ASSERT(json_dump_file(fj, path, JSON_INDENT(2)) == 0);
    json_decref(fj);
}

natsConnection *sec_connect(int port, const char *user, const char *password)
{
    char url[300];
    snprintf(url, sizeof url, "nats://%s:%s@127.0.0.1:%d", user, password, port);
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    AH_ASSERT_MSG(s == NATS_OK, "connect as %s: %s", user, natsStatus_GetText(s));
    return nc;
}

/* ---- raw leaves ------------------------------------------------------------------------- */

void sec_leaf_send(sec_leaf *l, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ah_send(l->fd, line);
}

void sec_leaf_read(sec_leaf *l, int ms)
{
    int64_t until = ah_now_ms() + ms;
    while (ah_now_ms() < until && l->have + 1 < sizeof l->buf) {
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(l->fd, l->buf + l->have, sizeof l->buf - 1 - l->have);
        if (n <= 0)
            break;
        size_t from = l->have;
        l->have += (size_t)n;
        l->buf[l->have] = 0;
        /* Keepalive: answer the hub's PINGs (only a whole line counts). */
        for (char *p2 = l->buf + (from > 6 ? from - 6 : 0); (p2 = strstr(p2, "PING\r\n")); p2 += 6)
            if (p2 == l->buf || p2[-1] == '\n')
                ah_send(l->fd, "PONG\r\n");
    }
}

int sec_leaf_open(sec_leaf *l, int port, const char *name, const char *seed_file, const char *user,
                  const char *password, const char *token)
{
    memset(l, 0, sizeof *l);
    l->fd = ah_connect(port);
    if (l->fd < 0)
        return -1;
    int n = ah_read_until(l->fd, l->buf, sizeof l->buf, "\r\n", 3000);
    if (n <= 0 || strncmp(l->buf, "INFO ", 5) != 0)
        return -1;
    char *eol = strstr(l->buf, "\r\n");
    *eol = 0;
    json_t *info = json_loads(l->buf + 5, 0, NULL);
    json_t *cj = json_pack("{s:s, s:b}", "name", name, "headers", 1);
    if (seed_file) {
        ae_nkey key;
        ae_err err = {0};
        const char *nonce = json_string_value(json_object_get(info, "nonce"));
        char sig[128], pub[64];
        AH_ASSERT_MSG(nonce && ae_nkey_load_file(seed_file, &key, NULL, &err) == 0 &&
                          ae_nkey_sign(&key, nonce, strlen(nonce), sig, sizeof sig, &err) == 0,
                      "signing with %s: %s", seed_file, err.msg);
        ae_nkey_public(&key, pub, sizeof pub);
        json_object_set_new(cj, "nkey", json_string(pub));
        json_object_set_new(cj, "sig", json_string(sig));
    }
    if (user) {
        json_object_set_new(cj, "user", json_string(user));
        json_object_set_new(cj, "pass", json_string(password ? password : ""));
    }
    if (token)
        json_object_set_new(cj, "auth_token", json_string(token));
    char *cs = json_dumps(cj, JSON_COMPACT);
    json_decref(cj);
    json_decref(info);
    l->have = 0;
    l->buf[0] = 0;
    sec_leaf_send(l, "CONNECT %s\r\nPING\r\n", cs);
    free(cs);
    int64_t until = ah_now_ms() + (int64_t)(3000 * ah_timeout_scale());
    while (ah_now_ms() < until) {
        sec_leaf_read(l, 100);
        if (strstr(l->buf, "PONG\r\n"))
            return 0;
        if (strstr(l->buf, "-ERR"))
            return -1;
    }
    return -1;
}

void sec_leaf_close(sec_leaf *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* ---- streams ---------------------------------------------------------------------------- */

json_t *sec_stream_names(natsConnection *nc)
{
    natsMsg *rep = NULL;
    if (natsConnection_RequestString(&rep, nc, "$JS.API.STREAM.NAMES", "", 5000) != NATS_OK)
        return NULL;
    json_t *j = json_loadb(natsMsg_GetData(rep), (size_t)natsMsg_GetDataLength(rep), 0, NULL);
    natsMsg_Destroy(rep);
    json_t *names = json_incref(json_object_get(j, "streams"));
    json_decref(j);
    return names;
}

int sec_stream_count(natsConnection *nc, const char *stream, const char *needle)
{
    char api[200], body[300];
    snprintf(api, sizeof api, "$JS.API.CONSUMER.CREATE.%s", stream);
    snprintf(body, sizeof body,
             "{\"stream_name\":\"%s\",\"config\":{\"deliver_policy\":\"all\",\"ack_policy\":"
             "\"none\",\"inactive_threshold\":5000000000,\"mem_storage\":true}}",
             stream);
    natsMsg *rep = NULL;
    if (natsConnection_RequestString(&rep, nc, api, body, 5000) != NATS_OK)
        return -1;
    json_t *j = json_loadb(natsMsg_GetData(rep), (size_t)natsMsg_GetDataLength(rep), 0, NULL);
    natsMsg_Destroy(rep);
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name) {
        json_decref(j);
        return -1;
    }
    natsInbox *inbox = NULL;
    natsInbox_Create(&inbox);
    natsSubscription *sub = NULL;
    natsConnection_SubscribeSync(&sub, nc, (const char *)inbox);
    snprintf(api, sizeof api, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, name);
    json_decref(j);
    natsConnection_PublishRequestString(nc, api, (const char *)inbox,
                                        "{\"batch\":1000000,\"no_wait\":true}");
    int hits = 0;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 3000) == NATS_OK) {
        const char *status = NULL;
        bool end = natsMsgHeader_Get(m, "Status", &status) == NATS_OK && status;
        if (!end && natsMsg_GetDataLength(m) > 0 &&
            memmem(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), needle, strlen(needle)))
            hits++;
        natsMsg_Destroy(m);
        if (end)
            break;
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return hits;
}
