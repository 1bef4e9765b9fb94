/* Helpers of the store-and-forward tests and benchmark; see sf_util.h. */
#include "sf_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Whose logs a failing assertion prints. One case per process, so plain globals do. */
static sf_leaf *watched_leaf;
static ah_hub *watched_hub;

void sf_dump_logs(void)
{
    if (watched_leaf && watched_leaf->log_path[0])
        ah_print_tail(watched_leaf->log_path, 5000);
    if (watched_hub)
        ah_hub_print_logs(watched_hub, 1500);
}

void sf_watch_hub(ah_hub *h)
{
    watched_hub = h;
}

/* ---- the leaf ------------------------------------------------------------------------ */

void sf_leaf_init(sf_leaf *l, const char *vid, const char *urls, const char *store_dir,
                  const char *store_extra, const char *uplink_extra, const char *top_extra)
{
    memset(l, 0, sizeof *l);
    snprintf(l->vid, sizeof l->vid, "%s", vid);
    char *dir = ah_mkdtemp("sfleaf");
    AH_ASSERT(dir != NULL);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    free(dir);
    l->port = ah_free_port();
    l->http_port = ah_free_port();
    snprintf(l->conf_path, sizeof l->conf_path, "%s/leaf.conf", l->dir);
    snprintf(l->log_path, sizeof l->log_path, "%s/leaf.log", l->dir);
    snprintf(l->store_dir, sizeof l->store_dir, "%s", store_dir ? store_dir : "");
    if (!store_dir)
        snprintf(l->store_dir, sizeof l->store_dir, "%s/store", l->dir);
    /* Fast failure detection for tests: dead after 3 s of silence (the uplink PINGs every
     * second), redial after 200 ms backing off to 1 s, a status message every second. The
     * client ping_interval is long so an idle raw publisher waiting for a drain is not
     * closed as stale. */
    int rc = ah_write_file(l->conf_path,
                           "server_name: %s\n"
                           "listen: 127.0.0.1:%d\n"
                           "http: 127.0.0.1:%d\n"
                           "ping_interval: \"30s\"\n"
                           "leafnodes {\n"
                           "  remotes = [ { urls: [ %s ]\n %s } ]\n"
                           "  reconnect: \"200ms\"\n"
                           "  reconnect_max: \"1s\"\n"
                           "  dead_link_timeout: \"3s\"\n"
                           "}\n"
                           "store {\n  dir: \"%s\"\n  %s\n}\n"
                           "uplink {\n  subjects: [\"fleet.test.veh.%s.state.>\"]\n"
                           "  vid: %s\n  env: test\n  status_interval: \"1s\"\n  %s\n}\n"
                           "%s\n",
                           vid, l->port, l->http_port, urls, ah_leaf_remote_opts(), l->store_dir,
                           store_extra ? store_extra : "", vid, vid,
                           uplink_extra ? uplink_extra : "", top_extra ? top_extra : "");
    AH_ASSERT(rc == 0);
    watched_leaf = l;
}

void sf_leaf_start(sf_leaf *l)
{
    char cmd[2048];
    int rc;
    if (l->fsize_limit > 0) {
        /* sh applies the file-size limit and ignores SIGXFSZ (inherited across exec), so
         * a write past the limit fails with EFBIG instead of killing the leaf. */
        snprintf(cmd, sizeof cmd, "ulimit -f %ld && trap '' XFSZ && exec '%s' -c '%s'",
                 (l->fsize_limit + 511) / 512, ah_bin("aerie-leaf"), l->conf_path);
        char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        rc = ah_spawn(&l->proc, l->log_path, argv);
    } else {
        char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", l->conf_path, NULL};
        rc = ah_spawn(&l->proc, l->log_path, argv);
    }
    AH_ASSERT_MSG(rc == 0, "cannot start aerie-leaf");
    l->starts++;
    /* Not ah_wait_tcp alone: both ports are in the ephemeral range, and connecting over
     * and over to a port nobody listens on yet (a restart recovering its store) can
     * connect the socket to itself. An HTTP 200 from /varz is only ever the leaf. */
    int64_t deadline = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
    bool up = false;
    while (!up && ah_now_ms() < deadline && ah_alive(&l->proc)) {
        int status = 0;
        char *body = ah_http_get(l->http_port, "/varz", &status);
        up = body && status == 200 && strstr(body, "\"server_name\"");
        free(body);
        if (!up)
            ah_sleep_ms(50);
    }
    SF_ASSERT(up && ah_wait_tcp(l->port, 5000) == 0, "aerie-leaf %s did not come up (start %d)",
              l->vid, l->starts);
}

void sf_leaf_kill(sf_leaf *l)
{
    if (l->proc.pid > 0)
        ah_stop(&l->proc, SIGKILL, 5000);
}

void sf_leaf_stop(sf_leaf *l, bool keep_dir)
{
    if (l->proc.pid > 0) {
        int status = ah_stop(&l->proc, SIGTERM, (int)(15000 * ah_timeout_scale()));
        char *log = ah_read_file(l->log_path);
        bool clean = log && !strstr(log, "Sanitizer") && !strstr(log, "runtime error:");
        free(log);
        SF_ASSERT(clean, "aerie-leaf %s: sanitizer report in its log", l->vid);
        SF_ASSERT(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "aerie-leaf %s did not exit cleanly after SIGTERM (wait status 0x%x)", l->vid,
                  status);
    }
    if (!keep_dir && !getenv("AH_KEEP_TMP"))
        ah_rmrf(l->dir);
    if (watched_leaf == l)
        watched_leaf = NULL;
}

json_t *sf_leafz(sf_leaf *l)
{
    int status = 0;
    char *body = ah_http_get(l->http_port, "/leafz", &status);
    json_t *j = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    json_t *leaf = json_incref(json_array_get(json_object_get(j, "leafs"), 0));
    json_decref(j);
    return leaf;
}

long long sf_leafz_int(sf_leaf *l, const char *field)
{
    json_t *j = sf_leafz(l);
    json_t *v = json_object_get(j, field);
    long long r = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(j);
    return r;
}

const char *sf_leafz_str(sf_leaf *l, const char *field, char *buf, size_t cap)
{
    json_t *j = sf_leafz(l);
    const char *s = json_string_value(json_object_get(j, field));
    snprintf(buf, cap, "%s", s ? s : "");
    json_decref(j);
    return buf;
}

bool sf_wait_state(sf_leaf *l, const char *state, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    char buf[64];
    do {
        if (!strcmp(sf_leafz_str(l, "state", buf, sizeof buf), state))
            return true;
        ah_sleep_ms(50);
    } while (ah_now_ms() < deadline);
    return false;
}

bool sf_wait_drained(sf_leaf *l, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    do {
        if (sf_leafz_int(l, "backlog_msgs") == 0)
            return true;
        ah_sleep_ms(100);
    } while (ah_now_ms() < deadline);
    return false;
}

int sf_log_count(sf_leaf *l, const char *needle)
{
    return ah_count_in_file(l->log_path, needle);
}

/* ---- hub and relays ------------------------------------------------------------------ */

void sf_net_start(sf_net *n, int nodes, bool relayed)
{
    sf_net_start_conf(n, nodes, relayed, NULL);
}

void sf_net_start_conf(sf_net *n, int nodes, bool relayed, const char *extra_conf)
{
    memset(n, 0, sizeof *n);
    n->nodes = nodes;
    n->relayed = relayed;
    ah_hub_opts o = {.nodes = nodes, .extra_conf = extra_conf};
    char adv[AH_HUB_MAX][64];
    size_t ul = 0;
    bool ws = ah_uplink_ws();
    for (int i = 0; i < nodes; i++) {
        if (relayed) {
            /* the relay sits in front of the port the leaves use, which the hub advertises
             * as the relay's */
            int *port = ws ? &o.ws_port[i] : &o.leaf_port[i];
            *port = ah_free_port();
            AH_ASSERT_MSG(ah_relay_start(&n->relay[i], *port) == 0,
                          "cannot start a relay for hub node %d", i);
            snprintf(adv[i], sizeof adv[i], "advertise: \"127.0.0.1:%d\"", n->relay[i].port);
            if (ws)
                o.ws_conf[i] = adv[i];
            else
                o.leaf_conf[i] = adv[i];
        }
    }
    AH_ASSERT_MSG(ah_hub_start_opts(&n->hub, &o) == 0, "cannot start a %d-node hub", nodes);
    sf_watch_hub(&n->hub);
    for (int i = 0; i < nodes; i++) {
        int port = relayed ? n->relay[i].port : n->hub.leaf_port[i];
        char url[128];
        if (relayed && ws)
            snprintf(url, sizeof url, "ws://vehicle:secret@127.0.0.1:%d", port);
        else
            ah_leaf_url(url, sizeof url, port, "vehicle:secret");
        ul += (size_t)snprintf(n->urls + ul, sizeof n->urls - ul, "%s\"%s\"", i ? ", " : "", url);
    }
}

void sf_net_cmd(sf_net *n, const char *cmd)
{
    for (int i = 0; i < n->nodes && n->relayed; i++) {
        char reply[256];
        SF_ASSERT(ah_relay_cmd(&n->relay[i], cmd, reply, sizeof reply) == 0,
                  "relay %d: '%s' failed: %s", i, cmd, reply);
    }
}

void sf_net_stop(sf_net *n)
{
    ah_hub_stop(&n->hub);
    for (int i = 0; i < n->nodes && n->relayed; i++)
        ah_relay_stop(&n->relay[i]);
    sf_watch_hub(NULL);
}

natsConnection *sf_hub_conn(ah_hub *h, int node)
{
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", h->client_port[node]);
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetTimeout(o, 5000);
    natsOptions_SetMaxReconnect(o, 0);
    natsOptions_SetAllowReconnect(o, false);
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    SF_ASSERT(s == NATS_OK, "cannot connect to hub node %d: %s", node, natsStatus_GetText(s));
    return nc;
}

void sf_stream_create(ah_hub *h, const char *name, int replicas, int64_t dup_ms)
{
    natsConnection *nc = sf_hub_conn(h, 0);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    SF_ASSERT(natsConnection_JetStream(&js, nc, &jo) == NATS_OK, "no JetStream context");
    const char *subjects[] = {"fleet.*.veh.*.state.>"};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    cfg.AllowDirect = true;
    if (dup_ms > 0)
        cfg.Duplicates = dup_ms * 1000000LL;
    natsStatus s = NATS_ERR;
    jsErrCode jerr = 0;
    int64_t deadline = ah_now_ms() + (int64_t)(30000 * ah_timeout_scale());
    do {
        jsStreamInfo *si = NULL;
        s = js_AddStream(&si, js, &cfg, NULL, &jerr);
        if (si)
            jsStreamInfo_Destroy(si);
        if (s == NATS_OK)
            break;
        ah_sleep_ms(250);
    } while (ah_now_ms() < deadline);
    SF_ASSERT(s == NATS_OK, "js_AddStream %s: %s (err_code %d): %s", name, natsStatus_GetText(s),
              (int)jerr, nats_GetLastError(NULL));
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

void sf_stream_delete(ah_hub *h, const char *name)
{
    natsConnection *nc = sf_hub_conn(h, 0);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    SF_ASSERT(natsConnection_JetStream(&js, nc, &jo) == NATS_OK, "no JetStream context");
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteStream(js, name, NULL, &jerr);
    SF_ASSERT(s == NATS_OK || jerr == JSStreamNotFoundErr, "deleting stream %s: %s (err_code %d)",
              name, natsStatus_GetText(s), (int)jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* "hub2" -> 1 */
static int hub_node_index(const char *name)
{
    return name && !strncmp(name, "hub", 3) ? atoi(name + 3) - 1 : -1;
}

int sf_stream_leader(ah_hub *h, const char *stream)
{
    int64_t deadline = ah_now_ms() + (int64_t)(15000 * ah_timeout_scale());
    for (int i = 0;; i++) {
        natsConnection *nc = sf_hub_conn(h, i % h->nodes);
        jsCtx *js = NULL;
        jsStreamInfo *si = NULL;
        int leader = -1;
        if (natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
            js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK && si->Cluster)
            leader = hub_node_index(si->Cluster->Leader);
        if (si)
            jsStreamInfo_Destroy(si);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        if (leader >= 0 || ah_now_ms() > deadline)
            return leader;
        ah_sleep_ms(200);
    }
}

int sf_stream_stepdown(ah_hub *h, int via, const char *stream, char *err, size_t cap)
{
    natsConnection *nc = sf_hub_conn(h, via);
    char subj[256];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.LEADER.STEPDOWN.%s", stream);
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, nc, subj, "", 5000);
    int rc = -1;
    if (s != NATS_OK) {
        snprintf(err, cap, "request %s: %s", subj, natsStatus_GetText(s));
    } else {
        json_t *j =
            json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
        if (json_is_true(json_object_get(j, "success")))
            rc = 0;
        else
            snprintf(err, cap, "%.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
        json_decref(j);
    }
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    return rc;
}

/* ---- the publisher ------------------------------------------------------------------- */

static int pub_connect(sf_pub *p, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    do {
        int fd = ah_connect(p->port);
        if (fd >= 0) {
            char buf[4096];
            if (ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0 && !strncmp(buf, "INFO", 4) &&
                ah_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n") == 0) {
                p->fd = fd;
                p->rlen = 0;
                p->ping_head = p->ping_tail = 0;
                p->flush_mark = p->next_g;
                return 0;
            }
            close(fd);
        }
        ah_sleep_ms(50);
    } while (ah_now_ms() < deadline);
    return -1;
}

void sf_pub_open(sf_pub *p, int port, const char *vid, int nsubj, size_t payload_len,
                 size_t max_msgs)
{
    memset(p, 0, sizeof *p);
    signal(SIGPIPE, SIG_IGN);
    p->fd = -1;
    p->port = port;
    snprintf(p->vid, sizeof p->vid, "%s", vid);
    p->nsubj = nsubj;
    p->payload_len = payload_len < 24 ? 24 : payload_len;
    p->cap = max_msgs;
    p->flushed = calloc(max_msgs, 1);
    p->ping_cap = max_msgs + 16;
    p->ping_g = calloc(p->ping_cap, sizeof *p->ping_g);
    p->ping_sent_ms = calloc(p->ping_cap, sizeof *p->ping_sent_ms);
    AH_ASSERT(p->flushed && p->ping_g && p->ping_sent_ms);
    SF_ASSERT(pub_connect(p, 15000) == 0, "publisher cannot connect to the leaf on %d", port);
}

static void on_pong(sf_pub *p)
{
    if (p->ping_head == p->ping_tail)
        return;
    size_t k = p->ping_head++ % p->ping_cap;
    uint64_t upto = p->ping_g[k];
    int64_t waited = ah_now_ms() - p->ping_sent_ms[k];
    if (waited > p->max_pong_ms)
        p->max_pong_ms = waited;
    for (uint64_t g = p->flush_mark; g < upto && g < p->cap; g++) {
        if (!p->flushed[g]) {
            p->flushed[g] = 1;
            p->nflushed++;
        }
    }
    if (upto > p->flush_mark)
        p->flush_mark = upto;
}

int sf_pub_poll(sf_pub *p, int wait_ms)
{
    if (p->fd < 0)
        return -1;
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    while (poll(&pfd, 1, wait_ms) > 0) {
        ssize_t n = recv(p->fd, p->rbuf + p->rlen, sizeof p->rbuf - 1 - p->rlen, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            close(p->fd);
            p->fd = -1;
            return -1;
        }
        if (n < 0)
            break;
        p->rlen += (size_t)n;
        p->rbuf[p->rlen] = '\0';
        char *line = p->rbuf, *eol;
        while ((eol = strstr(line, "\r\n"))) {
            if (!strncmp(line, "PONG", 4))
                on_pong(p);
            else if (!strncmp(line, "PING", 4))
                ah_send(p->fd, "PONG\r\n");
            else if (!strncmp(line, "-ERR", 4) && strstr(line, "not stored for the hub"))
                p->refused++;
            line = eol + 2;
        }
        p->rlen = (size_t)(p->rbuf + p->rlen - line);
        memmove(p->rbuf, line, p->rlen);
        wait_ms = 0;
    }
    return 0;
}

int sf_pub_send(sf_pub *p, bool ping)
{
    if (p->fd < 0 || p->next_g >= p->cap)
        return -1;
    uint64_t g = p->next_g;
    char payload[8192], out[9000];
    size_t pl = p->payload_len < sizeof payload ? p->payload_len : sizeof payload - 1;
    int k = p->stamp ? snprintf(payload, sizeof payload, "g=%llu;t=%lld;", (unsigned long long)g,
                                (long long)sf_wall_ns())
                     : snprintf(payload, sizeof payload, "g=%llu;", (unsigned long long)g);
    if ((size_t)k > pl)
        pl = (size_t)k; /* a stamp longer than the payload asked for: send it whole */
    memset(payload + k, 'x', pl - (size_t)k);
    int n = snprintf(out, sizeof out, "PUB fleet.test.veh.%s.state.s%d %zu\r\n", p->vid,
                     (int)(g % (uint64_t)p->nsubj), pl);
    memcpy(out + n, payload, pl);
    n += (int)pl;
    memcpy(out + n, "\r\n", 2);
    n += 2;
    p->next_g++;
    if (ping) {
        memcpy(out + n, "PING\r\n", 6);
        n += 6;
        size_t slot = p->ping_tail++ % p->ping_cap;
        p->ping_g[slot] = p->next_g;
        p->ping_sent_ms[slot] = ah_now_ms();
    }
    if (ah_send_n(p->fd, out, (size_t)n) != 0) {
        close(p->fd);
        p->fd = -1;
        return -1;
    }
    return 0;
}

bool sf_pub_flush(sf_pub *p, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    while (p->ping_head != p->ping_tail) {
        if (p->fd < 0 || ah_now_ms() >= deadline)
            return false;
        sf_pub_poll(p, 20);
    }
    return true;
}

int sf_pub_reconnect(sf_pub *p, int timeout_ms)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->reconnects++;
    return pub_connect(p, timeout_ms);
}

void sf_pub_close(sf_pub *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    free(p->flushed);
    free(p->ping_g);
    free(p->ping_sent_ms);
    p->flushed = NULL;
    p->ping_g = NULL;
    p->ping_sent_ms = NULL;
}

void sf_pub_run(sf_pub *p, int hz, int ms)
{
    int64_t start = ah_now_ms();
    uint64_t sent = 0;
    for (;;) {
        int64_t now = ah_now_ms();
        if (now - start >= ms)
            break;
        uint64_t due = (uint64_t)((now - start) * hz / 1000) + 1;
        while (sent < due) {
            if (sf_pub_send(p, true) != 0)
                SF_ASSERT(sf_pub_reconnect(p, 15000) == 0, "publisher lost the leaf");
            sent++;
        }
        if (sf_pub_poll(p, 2) != 0)
            SF_ASSERT(sf_pub_reconnect(p, 15000) == 0, "publisher lost the leaf");
    }
}

int64_t sf_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sf_payload_time(const char *data, int len)
{
    const char *t = len > 4 ? memchr(data, ';', (size_t)len) : NULL;
    if (!t || data + len - t < 4 || memcmp(t, ";t=", 3) != 0)
        return -1;
    int64_t v = 0;
    const char *q = t + 3;
    for (; q < data + len && *q >= '0' && *q <= '9'; q++)
        v = v * 10 + (*q - '0');
    return q > t + 3 && q < data + len && *q == ';' ? v : -1;
}

/* ---- the checker --------------------------------------------------------------------- */

static long parse_g(const char *data, int len)
{
    if (len < 3 || data[0] != 'g' || data[1] != '=')
        return -1;
    long g = 0;
    int i = 2;
    for (; i < len && data[i] >= '0' && data[i] <= '9'; i++)
        g = g * 10 + (data[i] - '0');
    return i > 2 && i < len && data[i] == ';' ? g : -1;
}

void sf_check_stream(ah_hub *h, int node, const char *stream, const sf_pub *p, sf_check *c)
{
    memset(c, 0, sizeof *c);
    c->ncount = p->cap ? p->cap : 1;
    c->count = calloc(c->ncount, 1);
    AH_ASSERT(c->count);
    natsConnection *nc = sf_hub_conn(h, node);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    SF_ASSERT(natsConnection_JetStream(&js, nc, &jo) == NATS_OK, "no JetStream context");
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
    SF_ASSERT(s == NATS_OK, "stream info %s: %s", stream, natsStatus_GetText(s));
    c->stream_msgs = (long)si->State.Msgs;
    jsStreamInfo_Destroy(si);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    natsSubscription *sub = NULL;
    s = js_SubscribeSync(&sub, js, "fleet.*.veh.*.state.>", NULL, &so, &jerr);
    SF_ASSERT(s == NATS_OK, "ordered consumer on %s: %s (%d) %s", stream, natsStatus_GetText(s),
              (int)jerr, nats_GetLastError(NULL));
    long *last = calloc((size_t)p->nsubj, sizeof *last);
    for (int i = 0; i < p->nsubj; i++)
        last[i] = -1;
    while (c->read < c->stream_msgs) {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, (int)(10000 * ah_timeout_scale()));
        if (s != NATS_OK)
            break;
        c->read++;
        const char *v = NULL;
        if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) != NATS_OK || !v ||
            natsMsgHeader_Get(m, "Aerie-Event-Time", &v) != NATS_OK || !v)
            c->missing_headers++;
        long g = parse_g(natsMsg_GetData(m), natsMsg_GetDataLength(m));
        const char *subj = natsMsg_GetSubject(m);
        const char *sp = strrchr(subj, '.');
        int si_ = sp && sp[1] == 's' ? atoi(sp + 2) : -1;
        if (g < 0 || (uint64_t)g >= p->next_g || si_ < 0 || si_ >= p->nsubj ||
            g % p->nsubj != si_) {
            c->unknown++;
        } else {
            if (c->count[g] < 255)
                c->count[g]++;
            if (c->count[g] > 1)
                c->duplicated++; /* only a duplicate, even when it lands after newer ones */
            else if (g <= last[si_])
                c->reordered++;
            else
                last[si_] = g;
        }
        natsMsg_Destroy(m);
    }
    free(last);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    bool any = false;
    for (uint64_t g = 0; g < p->next_g; g++) {
        if (c->count[g]) {
            c->distinct++;
        } else if (p->flushed[g]) {
            c->lost++;
            if (!any)
                c->first_lost = g;
            c->last_lost = g;
            any = true;
        } else {
            c->unflushed_lost++;
        }
    }
}

void sf_check_print_duplicates(ah_hub *h, int node, const char *stream, const sf_check *c, int max)
{
    if (c->duplicated == 0 || !c->count)
        return;
    natsConnection *nc = sf_hub_conn(h, node);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    SF_ASSERT(natsConnection_JetStream(&js, nc, &jo) == NATS_OK, "no JetStream context");
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_SubscribeSync(&sub, js, "fleet.*.veh.*.state.>", NULL, &so, &jerr);
    SF_ASSERT(s == NATS_OK, "ordered consumer on %s: %s", stream, natsStatus_GetText(s));
    int shown = 0;
    for (long i = 0; i < c->read && shown < max * 2; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, (int)(10000 * ah_timeout_scale())) != NATS_OK)
            break;
        long g = parse_g(natsMsg_GetData(m), natsMsg_GetDataLength(m));
        if (g >= 0 && (size_t)g < c->ncount && c->count[g] > 1) {
            jsMsgMetaData *md = NULL;
            const char *id = NULL, *ev = NULL;
            natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
            natsMsgHeader_Get(m, "Aerie-Event-Time", &ev);
            char ts[48] = "?";
            if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
                time_t secs = (time_t)(md->Timestamp / 1000000000);
                struct tm tm;
                gmtime_r(&secs, &tm);
                size_t k = strftime(ts, sizeof ts, "%H:%M:%S", &tm);
                snprintf(ts + k, sizeof ts - k, ".%06lld",
                         (long long)(md->Timestamp % 1000000000) / 1000);
            }
            printf("  duplicate g=%ld: stream seq %llu stored %s  %s  Nats-Msg-Id %s  "
                   "Aerie-Event-Time %s\n",
                   g, md ? (unsigned long long)md->Sequence.Stream : 0ULL, ts,
                   natsMsg_GetSubject(m), id ? id : "-", ev ? ev : "-");
            jsMsgMetaData_Destroy(md);
            shown++;
        }
        natsMsg_Destroy(m);
    }
    fflush(stdout);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

void sf_check_free(sf_check *c)
{
    free(c->count);
    c->count = NULL;
}

void sf_check_print(const char *label, const sf_check *c)
{
    printf("  %s: stream=%ld read=%ld distinct=%ld lost=%ld dup=%ld reordered=%ld unknown=%ld "
           "missing_headers=%ld unflushed_not_stored=%ld\n",
           label, c->stream_msgs, c->read, c->distinct, c->lost, c->duplicated, c->reordered,
           c->unknown, c->missing_headers, c->unflushed_lost);
    fflush(stdout);
}

void sf_check_assert_clean(const sf_check *c)
{
    SF_ASSERT(c->read == c->stream_msgs, "read %ld of the stream's %ld messages", c->read,
              c->stream_msgs);
    SF_ASSERT(c->lost == 0, "%ld flushed messages lost (g %llu..%llu)", c->lost,
              (unsigned long long)c->first_lost, (unsigned long long)c->last_lost);
    SF_ASSERT(c->duplicated == 0, "%ld duplicated messages in the stream", c->duplicated);
    SF_ASSERT(c->reordered == 0, "%ld messages out of per-subject order", c->reordered);
    SF_ASSERT(c->unknown == 0, "%ld messages in the stream that were never published", c->unknown);
    SF_ASSERT(c->missing_headers == 0, "%ld messages without Nats-Msg-Id/Aerie-Event-Time",
              c->missing_headers);
}

void sf_check_assert_all(const sf_check *c, const sf_pub *p)
{
    sf_check_assert_clean(c);
    SF_ASSERT(c->distinct == (long)p->next_g, "%ld of %llu messages in the stream", c->distinct,
              (unsigned long long)p->next_g);
}
