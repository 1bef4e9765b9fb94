/* Security tests: per-vehicle nkey credentials, one-vehicle revocation and the audit trail.
 *
 * rewrite_conf, fleet_dir_parsing: the text edits `aerie creds` makes to hub configs
 *   written by `aerie topology`, `aerie up` and the test harness, and how the fleet
 *   directory is read.
 * fleet_creds_revoke_audit: a 3-node nats-server 2.9.10 hub from `aerie topology` (the
 *   hardened shape of docs/security.md: no_auth_user pointing at a user no connection type
 *   may use, tenant and vehicle accounts), a fleet directory in the layout `aerie up`
 *   writes, and two aerie-leaf vehicles. Checks, in order:
 *   an anonymous leaf (raw and aerie-leaf) is refused; `aerie creds add` issues a key, the
 *   hubs reload, the vehicles connect with their keys; a leaf with an unknown key is refused;
 *   traffic flows both ways; `aerie revoke V1` cuts V1 within seconds while V2 keeps
 *   exchanging messages; V1 stays out across its reconnect attempts (aerie-leaf waits 30 s
 *   after the hub's duplicate-connection error, then is refused with Authorization
 *   Violation); the audit entries are in DIR/audit.log and in the hub's AUDIT stream (R3). */
#include "cli/accounts.h"
#include "cli/creds_conf.h"
#include "cli/fleet.h"
#include "cli/hub_reload.h"
#include "common/nkeys.h"
#include "harness/harness.h"
#include "sec_util.h"

#include <jansson.h>
#include <nats/nats.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <signal.h>

/* ---- helpers ------------------------------------------------------------------------ */

#define run_aerie sec_aerie

typedef struct vehicle {
    const char *vid;
    int port, http_port;
    char conf[600], log[600];
    ah_proc proc;
} vehicle;

static void leaf_write_conf(vehicle *v, const char *dir, const sec_fleet *h, const char *extra)
{
    snprintf(v->conf, sizeof v->conf, "%s/conf/leaf-%s.conf", dir, v->vid);
    snprintf(v->log, sizeof v->log, "%s/leaf-%s.log", dir, v->vid);
    /* over the hubs' websocket listeners with AH_UPLINK_TRANSPORT=ws (sec_fleet_ws) */
    bool ws = h->ws[0] > 0;
    const char *s = ws ? "ws" : "nats-leaf";
    const int *port = ws ? h->ws : h->leaf;
    AH_ASSERT(
        ah_write_file(v->conf,
                      "server_name: \"%s\"\nlisten: \"127.0.0.1:%d\"\nhttp: \"127.0.0.1:%d\"\n"
                      "leafnodes {\n  remotes = [\n"
                      "    { urls: [\"%s://127.0.0.1:%d\", \"%s://127.0.0.1:%d\","
                      " \"%s://127.0.0.1:%d\"]%s%s }\n  ]\n"
                      "  reconnect: \"200ms\"\n  reconnect_max: \"1s\"\n}\n",
                      v->vid, v->port, v->http_port, s, port[0], s, port[1], s, port[2],
                      ws ? ", ws_compression: true" : "", extra ? extra : "") == 0);
}

static void leaf_start(vehicle *v)
{
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", v->conf, NULL};
    AH_ASSERT(ah_spawn(&v->proc, v->log, argv) == 0);
    AH_ASSERT_MSG(ah_wait_tcp(v->port, 5000) == 0, "leaf %s did not start; see %s", v->vid, v->log);
}

/* The leaf's uplink as its /leafz reports it: state into st, last_error into le. */
static void leaf_state(const vehicle *v, char *st, size_t scap, char *le, size_t lcap)
{
    st[0] = 0;
    if (le)
        le[0] = 0;
    char *body = ah_http_get(v->http_port, "/leafz", NULL);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    json_t *l = json_array_get(json_object_get(j, "leafs"), 0);
    snprintf(st, scap, "%s", json_string_value(json_object_get(l, "state")) ?: "");
    if (le)
        snprintf(le, lcap, "%s", json_string_value(json_object_get(l, "last_error")) ?: "");
    json_decref(j);
    free(body);
}

/* Waits until the leaf's state equals `want` (and, if non-NULL, last_error contains
 * `err_part`). Returns the milliseconds it took, or -1. */
static int wait_leaf(const vehicle *v, const char *want, const char *err_part, int timeout_ms)
{
    int64_t t0 = ah_now_ms();
    char st[64], le[512];
    do {
        leaf_state(v, st, sizeof st, le, sizeof le);
        if (strcmp(st, want) == 0 && (!err_part || strstr(le, err_part)))
            return (int)(ah_now_ms() - t0);
        ah_sleep_ms(50);
    } while (ah_now_ms() - t0 < timeout_ms);
    return -1;
}

/* Leaf connections in the vehicles' accounts (V-<vid>) over all nodes. */
static int hub_vehicle_leafs(const sec_fleet *h)
{
    int n = 0;
    for (int i = 0; i < h->nodes; i++) {
        char *body = ah_http_get(h->http[i], "/leafz", NULL);
        json_t *j = body ? json_loads(body, 0, NULL) : NULL;
        size_t k;
        json_t *l;
        json_array_foreach(json_object_get(j, "leafs"), k, l)
        {
            const char *acc = json_string_value(json_object_get(l, "account"));
            n += acc && strncmp(acc, "V-", 2) == 0;
        }
        json_decref(j);
        free(body);
    }
    return n;
}

static natsConnection *nats_to(int port, const char *user)
{
    char url[128];
    if (user)
        snprintf(url, sizeof url, "nats://%s@127.0.0.1:%d", user, port);
    else
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    AH_ASSERT_MSG(s == NATS_OK, "connect %s: %s", url, natsStatus_GetText(s));
    return nc;
}

/* Publishes on `subj` through `pub` until `sub` (subscribed to it elsewhere) receives one,
 * for up to timeout_ms (interest needs a moment to cross a new leaf connection). */
static bool exchange(natsConnection *pub, natsSubscription *sub, const char *subj, int timeout_ms)
{
    int64_t t0 = ah_now_ms();
    do {
        natsConnection_PublishString(pub, subj, "hello");
        natsConnection_Flush(pub);
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 250) == NATS_OK) {
            natsMsg_Destroy(m);
            /* Drop anything else queued so the next exchange sees a fresh message. */
            while (natsSubscription_NextMsg(&m, sub, 1) == NATS_OK)
                natsMsg_Destroy(m);
            return true;
        }
    } while (ah_now_ms() - t0 < timeout_ms);
    return false;
}

/* ---- unit cases --------------------------------------------------------------------- */

static const char *TOPO_CONF =
    "server_name: eu1\n"
    "listen: \"127.0.0.1:24222\"\n"
    "http: \"127.0.0.1:24822\"\n"
    "leafnodes {\n  listen: \"127.0.0.1:24422\"\n}\n\n"
    "authorization {\n"
    "  users = [\n"
    "    { user: \"aerie-nobody\", password: \"x\", allowed_connection_types: [\"MQTT\"] }\n"
    "  ]\n"
    "}\n\n"
    "accounts {\n  SYS { users = [ { user: system, password: \"s\" } ] }\n}\n"
    "system_account: SYS\n";

static void t_rewrite_conf(void)
{
    ae_err err = {0};
    const char *r1 =
        "  " AE_ACCOUNTS_BEGIN_MARK " one\n  \"V-A\": { }\n  " AE_ACCOUNTS_END_MARK "\n";
    const char *r2 = "  " AE_ACCOUNTS_BEGIN_MARK " two\n  " AE_ACCOUNTS_END_MARK "\n";
    char *a = ae_creds_rewrite_conf(TOPO_CONF, r1, &err);
    AH_ASSERT_MSG(a, "rewrite: %s", err.msg);
    /* Inserted right after the line that opens the accounts block, everything else unchanged. */
    AH_ASSERT_CONTAINS(a, "accounts {\n  " AE_ACCOUNTS_BEGIN_MARK " one\n");
    AH_ASSERT_EQ_INT(strlen(a), strlen(TOPO_CONF) + strlen(r1));
    /* A second rewrite replaces the region instead of adding another. */
    char *b = ae_creds_rewrite_conf(a, r2, &err);
    AH_ASSERT(b);
    AH_ASSERT(strstr(b, " one") == NULL && strstr(b, "\"V-A\"") == NULL);
    AH_ASSERT_EQ_INT(strlen(b), strlen(TOPO_CONF) + strlen(r2));
    AH_ASSERT_CONTAINS(b, "SYS { users"); /* the rest of the block is kept */
    /* A config without an accounts block, and one of the earlier layout (vehicle identities
     * in the global account), are refused with a hint. */
    char *e = ae_creds_rewrite_conf("listen: 4222\nauthorization { token: abc }\n", r2, &err);
    AH_ASSERT(e == NULL);
    AH_ASSERT_EQ_INT(err.code, AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "accounts");
    char *old = ae_creds_rewrite_conf("authorization {\n  users = [\n    " AE_SEC_BEGIN_MARK
                                      "\n    " AE_SEC_END_MARK "\n  ]\n}\naccounts {\n}\n",
                                      r2, &err);
    AH_ASSERT(old == NULL);
    AH_ASSERT_CONTAINS(err.msg, "regenerate");
    free(a);
    free(b);
}

static void t_fleet_dir_parsing(void)
{
    char *dir = ah_mkdtemp("secdir");
    char path[700];
    /* `aerie topology --out` layout: hub-<node>.conf files, no processes. */
    snprintf(path, sizeof path, "%s/hub-eu1.conf", dir);
    AH_ASSERT(ah_write_file(path, "%s", TOPO_CONF) == 0);
    snprintf(path, sizeof path, "%s/hub-eu2.conf", dir);
    AH_ASSERT(ah_write_file(path, "server_name: eu2\nhttp: 127.0.0.1:24823\n"
                                  "leafnodes { listen: 0.0.0.0:24423 }\n") == 0);
    ae_fleet *f = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_fleet_open_hubs(dir, &f, &err) == 0, "%s", err.msg);
    AH_ASSERT_EQ_INT(f->n_hubs, 2);
    AH_ASSERT(!ae_fleet_is_local(f));
    AH_ASSERT_EQ_STR(f->hubs[0].name, "eu1");
    AH_ASSERT_EQ_INT(f->hubs[0].leaf_port, 24422);
    AH_ASSERT_EQ_INT(f->hubs[0].http_port, 24822);
    AH_ASSERT_EQ_STR(f->hubs[1].leaf_host, "127.0.0.1"); /* wildcard listener: dial loopback */
    AH_ASSERT_EQ_INT(f->hubs[1].leaf_port, 24423);
    ae_fleet_free(f);
    /* An empty directory says what it looked for. */
    char *empty = ah_mkdtemp("secempty");
    AH_ASSERT(ae_fleet_open_hubs(empty, &f, &err) == AE_ENOENT);
    AH_ASSERT_CONTAINS(err.msg, "hub-<node>.conf");
    /* Our own PID is not a hub. */
    AH_ASSERT(!ae_hub_pid_runs_conf(getpid(), path));
    ah_rmrf(dir);
    ah_rmrf(empty);
    free(dir);
    free(empty);
}

/* ---- the fleet case ----------------------------------------------------------------- */

static void t_fleet(void)
{
    char out[16384];
    char *base = ah_mkdtemp("secfleet");
    /* The hub as `aerie topology` writes it: no_auth_user pointing at a user no connection
     * type may use, the operator in the default tenant's account, no vehicle yet. */
    sec_fleet hub;
    sec_fleet_generate(&hub, base, 3, "\"env\":\"test\",\"operator\":{\"password\":\"secret\"},");
    sec_fleet_start(&hub);
    const char *dir = hub.dir;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/conf", dir);
    AH_ASSERT(mkdir(sub, 0700) == 0);

    /* The fleet directory in `aerie up`'s layout: hub nodes with their configs and ports,
     * hub processes with PID, argv and log, the vehicles' monitoring ports. */
    vehicle v1 = {.vid = "V1"}, v2 = {.vid = "V2"}, v3 = {.vid = "V3"};
    vehicle *vs[] = {&v1, &v2, &v3};
    for (int i = 0; i < 3; i++) {
        vs[i]->port = ah_free_port();
        vs[i]->http_port = ah_free_port();
    }
    char vj[300];
    snprintf(vj, sizeof vj,
             "[{\"vid\":\"V1\",\"leaf_http_port\":%d},{\"vid\":\"V2\",\"leaf_http_port\":%d}]",
             v1.http_port, v2.http_port);
    sec_fleet_make_local(&hub, vj);

    /* 1. No credentials: refused, on the wire and as a real vehicle leaf. */
    int fd = ah_connect(hub.leaf[1]);
    char buf[4096];
    AH_ASSERT(fd >= 0 && ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    ah_send(fd, "CONNECT {\"name\":\"anon\",\"headers\":true}\r\nPING\r\n");
    ah_read_until(fd, buf, sizeof buf, "Violation", 3000);
    AH_ASSERT_CONTAINS(buf, "-ERR 'Authorization Violation'");
    close(fd);
    leaf_write_conf(&v1, dir, &hub, NULL);
    leaf_write_conf(&v2, dir, &hub, NULL);
    leaf_start(&v1);
    AH_ASSERT_MSG(wait_leaf(&v1, "disconnected", "Authorization Violation", 8000) >= 0,
                  "a leaf without credentials was not refused (see %s)", v1.log);
    AH_ASSERT_EQ_INT(hub_vehicle_leafs(&hub), 0);
    ah_stop(&v1.proc, SIGTERM, 3000);

    /* 2. Issue both identities; the hubs reload; the leaf configs now name the seeds. */
    int rc = run_aerie(out, sizeof out, "creds add V1 --dir %s", dir);
    AH_ASSERT_MSG(rc == 0, "creds add V1 (rc %d): %s", rc, out);
    AH_ASSERT_CONTAINS(out, "reloaded: 3 of 3 nodes");
    AH_ASSERT_CONTAINS(out, "(tenant default)");
    char seed1[800];
    snprintf(seed1, sizeof seed1, "%s/creds/V1.nk", dir);
    AH_ASSERT_CONTAINS(out, seed1);
    struct stat stt;
    AH_ASSERT(stat(seed1, &stt) == 0 && (stt.st_mode & 0077) == 0);
    rc = run_aerie(out, sizeof out, "creds add V2 --dir %s --json", dir);
    AH_ASSERT_MSG(rc == 0, "creds add V2 (rc %d): %s", rc, out);
    AH_ASSERT_CONTAINS(out, "\"reloaded\":3");
    char conf_path[3][700];
    for (int i = 0; i < 3; i++) {
        snprintf(conf_path[i], sizeof conf_path[i], "%s/hub-eu%d.conf", dir, i + 1);
        char *conf = ah_read_file(conf_path[i]);
        AH_ASSERT(conf && strstr(conf, "# V1\n") && strstr(conf, "# V2\n"));
        AH_ASSERT_CONTAINS(conf, "\"V-V1\": {");
        free(conf);
    }
    char *lc = ah_read_file(v1.conf);
    AH_ASSERT_CONTAINS(lc, seed1);
    free(lc);
    rc = run_aerie(out, sizeof out, "creds list --dir %s", dir);
    AH_ASSERT(rc == 0);
    AH_ASSERT_CONTAINS(out, "V1");
    AH_ASSERT_CONTAINS(out, "active");

    leaf_start(&v1);
    leaf_start(&v2);
    int ms1 = wait_leaf(&v1, "connected", NULL, 8000),
        ms2 = wait_leaf(&v2, "connected", NULL, 8000);
    AH_ASSERT_MSG(ms1 >= 0 && ms2 >= 0, "vehicles with their own keys did not connect (%s, %s)",
                  v1.log, v2.log);
    AH_ASSERT_EQ_INT(hub_vehicle_leafs(&hub), 2);

    /* 3. A key the hub does not know is refused. */
    ae_nkey stranger;
    ae_err err = {0};
    AH_ASSERT(ae_nkey_generate('U', &stranger, &err) == 0);
    char sseed[64], spath[700], extra[800];
    ae_nkey_seed(&stranger, sseed, sizeof sseed);
    snprintf(spath, sizeof spath, "%s/stranger.nk", dir);
    AH_ASSERT(ah_write_file(spath, "%s\n", sseed) == 0);
    snprintf(extra, sizeof extra, ", nkey: \"%s\"", spath);
    leaf_write_conf(&v3, dir, &hub, extra);
    leaf_start(&v3);
    AH_ASSERT_MSG(wait_leaf(&v3, "disconnected", "Authorization Violation", 8000) >= 0,
                  "a leaf with an unknown key was not refused (see %s)", v3.log);
    ah_stop(&v3.proc, SIGTERM, 3000);

    /* 4. Traffic both ways for both vehicles, on their own subjects (nothing else crosses
     * between a vehicle's account and its tenant's). */
    natsConnection *hubc = nats_to(hub.client[0], "operator:secret");
    natsConnection *c1 = nats_to(v1.port, NULL), *c2 = nats_to(v2.port, NULL);
    natsSubscription *up = NULL, *down2 = NULL;
    AH_ASSERT(natsConnection_SubscribeSync(&up, hubc, "fleet.test.veh.*.live.sec") == NATS_OK);
    AH_ASSERT(natsConnection_SubscribeSync(&down2, c2, "fleet.test.veh.V2.cmd.sec") == NATS_OK);
    natsConnection_Flush(hubc);
    natsConnection_Flush(c2);
    AH_ASSERT_MSG(exchange(c1, up, "fleet.test.veh.V1.live.sec", 5000), "V1 -> hub failed");
    AH_ASSERT_MSG(exchange(c2, up, "fleet.test.veh.V2.live.sec", 5000), "V2 -> hub failed");
    AH_ASSERT_MSG(exchange(hubc, down2, "fleet.test.veh.V2.cmd.sec", 5000), "hub -> V2 failed");

    /* 5. Revoke V1. */
    int64_t t0 = ah_now_ms();
    rc = run_aerie(out, sizeof out, "revoke V1 --dir %s --json", dir);
    int64_t took = ah_now_ms() - t0;
    AH_ASSERT_MSG(rc == 0, "revoke (rc %d): %s", rc, out);
    AH_ASSERT_CONTAINS(out, "\"vehicle_link\":\"disconnected\"");
    AH_ASSERT_CONTAINS(out, "\"result\":\"ok\"");
    AH_ASSERT_CONTAINS(out, "\"account\":\"V-V1\"");
    char st[64], le[512];
    leaf_state(&v1, st, sizeof st, le, sizeof le);
    AH_ASSERT_MSG(strcmp(st, "connected") != 0, "V1 still connected after revoke: %s", out);
    AH_ASSERT(took < 10000);
    printf("  revoke took %lld ms; V1 leaf: %s (%s)\n", (long long)took, st, le);
    AH_ASSERT(access(seed1, F_OK) != 0); /* the seed is gone */
    for (int i = 0; i < 3; i++) {
        char *conf = ah_read_file(conf_path[i]);
        AH_ASSERT(conf && !strstr(conf, "# V1\n") && strstr(conf, "# V2\n"));
        AH_ASSERT_CONTAINS(conf, "{ user: \"aerie-evict-V1\""); /* all its account keeps */
        free(conf);
    }

    /* 6. V1 stays out across its reconnect attempts while V2 keeps talking. aerie-leaf waits
     * 30 s after a duplicate-connection error before its next attempt, which must then be
     * refused. */
    int64_t until = ah_now_ms() + 45000;
    bool refused = false;
    int rounds = 0;
    while (ah_now_ms() < until && !(refused && rounds >= 3)) {
        int n = hub_vehicle_leafs(&hub);
        AH_ASSERT_MSG(n == 1, "expected only V2 on the hubs, /leafz shows %d vehicle leafs", n);
        leaf_state(&v1, st, sizeof st, le, sizeof le);
        AH_ASSERT_MSG(strcmp(st, "connected") != 0, "V1 got back in");
        if (strstr(le, "Authorization Violation"))
            refused = true;
        AH_ASSERT_MSG(exchange(c2, up, "fleet.test.veh.V2.live.sec", 3000),
                      "V2 -> hub stopped after revoke");
        AH_ASSERT_MSG(exchange(hubc, down2, "fleet.test.veh.V2.cmd.sec", 3000),
                      "hub -> V2 stopped");
        rounds++;
        ah_sleep_ms(1000);
    }
    AH_ASSERT_MSG(refused, "V1 made no refused reconnect attempt in 45 s (last_error: %s)", le);
    char *l1 = ah_read_file(v1.log);
    AH_ASSERT_CONTAINS(l1, "Authorization Violation");
    free(l1);

    /* 7. The audit trail: on disk and in the hub's stream. */
    char apath[700];
    snprintf(apath, sizeof apath, "%s/audit.log", dir);
    char *alog = ah_read_file(apath);
    AH_ASSERT(alog);
    int n_add = 0, n_rev = 0;
    for (char *line = strtok(alog, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *e = json_loads(line, 0, NULL);
        AH_ASSERT_MSG(e, "audit.log line is not JSON: %s", line);
        const char *act = json_string_value(json_object_get(e, "action"));
        const char *res = json_string_value(json_object_get(e, "result"));
        AH_ASSERT(json_is_string(json_object_get(e, "time")) &&
                  json_is_string(json_object_get(e, "actor")) &&
                  strchr(json_string_value(json_object_get(e, "actor")), '@'));
        AH_ASSERT(json_object_get(e, "published") == NULL); /* the hub acknowledged it */
        if (act && strcmp(act, "creds.add") == 0 && res && strcmp(res, "ok") == 0)
            n_add++;
        if (act && strcmp(act, "revoke") == 0 && res && strcmp(res, "ok") == 0 &&
            strcmp(json_string_value(json_object_get(e, "vid")), "V1") == 0)
            n_rev++;
        json_decref(e);
    }
    free(alog);
    AH_ASSERT_EQ_INT(n_add, 2);
    AH_ASSERT_EQ_INT(n_rev, 1);
    rc = run_aerie(out, sizeof out, "audit --dir %s --json --since 1h", dir);
    AH_ASSERT_MSG(rc == 0, "aerie audit (rc %d): %s", rc, out);
    int lines = 0;
    for (char *p = out; (p = strstr(p, "\"action\":")); p++)
        lines++;
    AH_ASSERT_MSG(lines == 3, "aerie audit printed %d entries: %s", lines, out);
    AH_ASSERT_CONTAINS(out, "\"action\":\"revoke\"");
    natsMsg *reply = NULL;
    AH_ASSERT(natsConnection_RequestString(&reply, hubc, "$JS.hub.API.STREAM.INFO.AUDIT", "",
                                           3000) == NATS_OK);
    json_t *si = json_loads(natsMsg_GetData(reply), 0, NULL);
    json_t *cfg = json_object_get(si, "config");
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(cfg, "num_replicas")), 3);
    AH_ASSERT(json_is_true(json_object_get(cfg, "deny_delete")));
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(si, "state"), "messages")),
                     3);
    json_decref(si);
    natsMsg_Destroy(reply);

    natsSubscription_Destroy(up);
    natsSubscription_Destroy(down2);
    natsConnection_Destroy(c1);
    natsConnection_Destroy(c2);
    natsConnection_Destroy(hubc);
    ah_stop(&v1.proc, SIGTERM, 3000);
    ah_stop(&v2.proc, SIGTERM, 3000);
    sec_fleet_stop(&hub);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(base);
    free(base);
    nats_Close();
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"rewrite_conf", t_rewrite_conf, 10},
        {"fleet_dir_parsing", t_fleet_dir_parsing, 10},
        {"fleet_creds_revoke_audit", t_fleet, 150},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
