/* Isolation enforced by the hub (issue 16; docs/security.md): a vehicle speaks only for
 * itself, and tenants share hubs without seeing each other.
 *
 * guard_checks: what the guard (src/cli/guard_check.c) lets through: the walk's consumer
 *   create and a vehicle's delete of its own record; it refuses anything that would deliver
 *   elsewhere (a push consumer, a durable, another vehicle's filter, a wildcard) and a delete
 *   of someone else's message.
 * accounts_load: the account layout written from a registry with two tenants, a password
 *   vehicle, a revoked one and a vehicle with two JetStream domains loads in nats-server
 *   2.9.10 (`-t`), and holds what it must: the revoked vehicle's account only the evictor and
 *   no import, each tenant only its own vehicles' commands, the free tier's limits.
 * tenant_limits: a hub started from `aerie topology` with tenants "small" (limits) and
 *   "free" (the free tier, 10 vehicles): an 11th free vehicle is refused by the description,
 *   by `aerie up` and by `aerie creds add`, and the hub refuses its key; a third leaf on one
 *   vehicle's key, a fourth client of a tenant limited to three, a seventh stream and
 *   storage beyond 2 MB are refused with the hub's own errors; a leaf that sends only a token
 *   is let into the global account by 2.9.10 and reaches nothing there.
 * hostile_vehicles_and_tenants: `aerie up --tenant acme:2 --tenant globex:1:free`. Each
 *   tenant's operator sees only its own vehicles in status, twin, replay and its dashboard,
 *   and cannot command the other's; a raw leaf signed in with VID-001's key publishes as
 *   VID-002 and VID-003 (state, event, link, live), calls the JetStream API on their
 *   subjects, purges and deletes, creates a push consumer and listens to their commands: it
 *   stores nothing, gets no answer but the guard's refusals, and hears nothing. */
#include "cli/accounts.h"
#include "cli/creds_registry.h"
#include "cli/guard_check.h"
#include "common/nkeys.h"
#include "sec_util.h"

#include <jansson.h>
#include <nats/nats.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[262144];

/* ---- guard_checks ----------------------------------------------------------------------- */

#define WALK_CFG                                                                                   \
    "\"name\":\"awabc\",\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":7,"             \
    "\"ack_policy\":\"none\",\"replay_policy\":\"instant\",\"headers_only\":true,"                 \
    "\"mem_storage\":true,\"num_replicas\":1,\"inactive_threshold\":2000000000,"                   \
    "\"max_deliver\":1,\"filter_subject\":\"fleet.prod.veh.VID-001.state.position\""
#define CREATE_SUBJ                                                                                \
    "aerie.guard.VID-001.$.CONSUMER.CREATE.TWIN_STATE.awabc.fleet.prod.veh.VID-001.state.position"

static int parse(const char *subject, const char *body, ae_guard_req *r, ae_err *e)
{
    memset(e, 0, sizeof *e);
    return ae_guard_parse("prod", subject, body, strlen(body), r, e);
}

/* A MSG.GET answer for a message on `subject` with the header block `hdrs`. */
static char *get_reply(const char *subject, const char *hdrs)
{
    unsigned char b64[512] = "";
    if (hdrs)
        EVP_EncodeBlock(b64, (const unsigned char *)hdrs, (int)strlen(hdrs));
    json_t *m = json_pack("{s:s, s:i, s:s}", "subject", subject, "seq", 9, "data", "e30=");
    if (hdrs)
        json_object_set_new(m, "hdrs", json_string((const char *)b64));
    json_t *j = json_pack("{s:s, s:o}", "type", "io.nats.jetstream.api.v1.stream_msg_get_response",
                          "message", m);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void guard_checks(void)
{
    ae_guard_req r;
    ae_err e;
    /* The walk's consumer create passes and goes to the hub's own JetStream domain... */
    AH_ASSERT_MSG(parse(CREATE_SUBJ, "{\"stream_name\":\"TWIN_STATE\",\"config\":{" WALK_CFG "}}",
                        &r, &e) == 0,
                  "%s", e.msg);
    AH_ASSERT_EQ_INT(r.kind, AE_GUARD_CREATE);
    AH_ASSERT_EQ_STR(r.vid, "VID-001");
    AH_ASSERT_EQ_STR(r.api, "$JS.API.CONSUMER.CREATE.TWIN_STATE.awabc.fleet.prod.veh.VID-001."
                            "state.position");
    /* ... or to the domain the vehicle addressed (a fallback region's). */
    AH_ASSERT(parse("aerie.guard.VID-001.hub-us.CONSUMER.CREATE.TWIN_STATE.awabc.fleet.prod.veh."
                    "VID-001.state.position",
                    "{\"stream_name\":\"TWIN_STATE\",\"config\":{" WALK_CFG "}}", &r, &e) == 0);
    AH_ASSERT_EQ_STR(r.api, "$JS.hub-us.API.CONSUMER.CREATE.TWIN_STATE.awabc.fleet.prod.veh.VID-"
                            "001.state.position");
    /* Refused: whatever would deliver somewhere else, or read another vehicle. */
    static const struct {
        const char *subject, *body, *why;
    } refused[] = {
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{" WALK_CFG
         ",\"deliver_subject\":\"fleet.prod.veh.VID-002.cmd.rtl\"}}",
         "deliver_subject"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{" WALK_CFG ",\"durable_name\":\"x\"}}",
         "durable_name"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{" WALK_CFG ",\"deliver_group\":\"g\"}}",
         "deliver_group"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{" WALK_CFG ",\"flow_control\":true}}",
         "flow_control"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"awabc\",\"ack_policy\":"
         "\"explicit\","
         "\"filter_subject\":\"fleet.prod.veh.VID-001.state.position\"}}",
         "ack_policy"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"awabc\",\"filter_subject\":"
         "\"fleet.prod.veh.VID-002.state.position\"}}",
         "filter_subject"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"awabc\",\"inactive_threshold\":"
         "3600000000000,\"filter_subject\":\"fleet.prod.veh.VID-001.state.position\"}}",
         "inactive_threshold"},
        {CREATE_SUBJ,
         "{\"stream_name\":\"TWIN_STATE\",\"action\":\"create\",\"config\":{" WALK_CFG "}}",
         "action"},
        {CREATE_SUBJ, "{\"stream_name\":\"TWIN_EVENTS\",\"config\":{" WALK_CFG "}}", "stream_name"},
        {"aerie.guard.VID-001.$.CONSUMER.CREATE.TWIN_STATE.awabc.fleet.prod.veh.VID-002.state.x",
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"awabc\",\"filter_subject\":"
         "\"fleet.prod.veh.VID-002.state.x\"}}",
         "not one of the vehicle's own subjects"},
        {"aerie.guard.VID-001.$.CONSUMER.CREATE.TWIN_STATE.awabc.fleet.prod.veh.VID-001.>",
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"awabc\",\"filter_subject\":"
         "\"fleet.prod.veh.VID-001.>\"}}",
         "literal"},
        {"aerie.guard.VID-001.$.STREAM.MSG.DELETE.TWIN_STATE", "{\"seq\":0}", "seq"},
        {"aerie.guard.VID-001.$.STREAM.MSG.DELETE.TWIN_STATE", "{\"seq\":5,\"purge\":true}",
         "purge"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int rc = parse(refused[i].subject, refused[i].body, &r, &e);
        AH_ASSERT_MSG(rc == AE_EAUTH, "case %zu passed (rc %d): %s", i, rc, refused[i].body);
        AH_ASSERT_MSG(strstr(e.msg, refused[i].why), "case %zu: \"%s\" does not name %s", i, e.msg,
                      refused[i].why);
    }
    /* Not a guard request at all. */
    AH_ASSERT_EQ_INT(parse(CREATE_SUBJ, "not json", &r, &e), AE_EINVAL);
    AH_ASSERT_EQ_INT(parse("aerie.guard.VID-001.$.STREAM.PURGE.TWIN_STATE", "{}", &r, &e),
                     AE_EINVAL);
    AH_ASSERT_EQ_INT(parse("fleet.prod.veh.VID-001.state.x", "{}", &r, &e), AE_EINVAL);
    /* A delete passes the parse; whose message it is decides. */
    AH_ASSERT(parse("aerie.guard.VID-001.$.STREAM.MSG.DELETE.TWIN_STATE",
                    "{\"seq\":42,\"no_erase\":true}", &r, &e) == 0);
    AH_ASSERT_EQ_INT((int)r.seq, 42);
    AH_ASSERT_EQ_STR(r.api, "$JS.API.STREAM.MSG.DELETE.TWIN_STATE");
    char api[AE_GUARD_SUBJECT_MAX], body[64];
    ae_guard_get_request(&r, api, sizeof api, body, sizeof body);
    AH_ASSERT_EQ_STR(api, "$JS.API.STREAM.MSG.GET.TWIN_STATE");
    AH_ASSERT_EQ_STR(body, "{\"seq\":42}");
}

/* Whose message a delete would remove: only the vehicle's own record passes. */
static void guard_owner_checks(void)
{
    ae_err e;
    static const struct {
        const char *subject, *hdrs;
        int rc;
    } owners[] = {
        {"fleet.prod.veh.VID-001.state.position", "NATS/1.0\r\nNats-Msg-Id: VID-001.e1.7\r\n\r\n",
         0},
        {"fleet.prod.veh.VID-001.state.position", "NATS/1.0\r\nnats-msg-id:VID-001.e1.7\r\n\r\n",
         0},
        {"fleet.prod.veh.VID-002.state.position", "NATS/1.0\r\nNats-Msg-Id: VID-001.e1.7\r\n\r\n",
         AE_EAUTH},
        {"fleet.prod.veh.VID-001.state.position", "NATS/1.0\r\nNats-Msg-Id: VID-0010.e1.7\r\n\r\n",
         AE_EAUTH},
        {"fleet.prod.veh.VID-001.state.position", "NATS/1.0\r\nX: 1\r\n\r\n", AE_EAUTH},
        {"fleet.prod.veh.VID-001.state.position", NULL, AE_EAUTH},
        {"fleet.dev.veh.VID-001.state.position", "NATS/1.0\r\nNats-Msg-Id: VID-001.e1.7\r\n\r\n",
         AE_EAUTH},
    };
    for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
        char *rep = get_reply(owners[i].subject, owners[i].hdrs);
        memset(&e, 0, sizeof e);
        int rc = ae_guard_check_owner("prod", "VID-001", rep, strlen(rep), &e);
        AH_ASSERT_MSG(rc == owners[i].rc, "owner case %zu: rc %d (%s)", i, rc, e.msg);
        free(rep);
    }
    const char *gone = "{\"error\":{\"code\":404,\"err_code\":10037,\"description\":\"no message "
                       "found\"}}";
    AH_ASSERT_EQ_INT(ae_guard_check_owner("prod", "VID-001", gone, strlen(gone), &e), AE_ENOENT);
    AH_ASSERT_EQ_INT(ae_guard_check_owner("prod", "VID-001", "{", 1, &e), AE_EPROTO);
    char *er = ae_guard_error_reply(AE_GUARD_DELETE, 403, 0, "no");
    json_t *ej = json_loads(er, 0, NULL);
    AH_ASSERT_EQ_STR(json_string_value(json_object_get(ej, "type")),
                     "io.nats.jetstream.api.v1.stream_msg_delete_response");
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(ej, "error"), "code")),
                     403);
    json_decref(ej);
    free(er);
}

/* ---- accounts_load ---------------------------------------------------------------------- */

/* nats-server -t on a config: 0 when it loads. */
static int nats_check(const char *conf, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(127);
        execl(ah_nats_server(), "nats-server", "-t", "-c", conf, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void accounts_load(void)
{
    ae_nkey k;
    ae_err err = {0};
    char pub[64];
    AH_ASSERT(ae_nkey_generate('U', &k, &err) == 0);
    ae_nkey_public(&k, pub, sizeof pub);
    json_t *reg = json_pack(
        "{s:{s:{s:s, s:{s:s, s:s}, s:s, s:s}, s:{s:s, s:{s:s, s:s}, s:s, s:b, s:{s:i, s:i, s:s, "
        "s:s}}}, s:{s:{s:s, s:s, s:s, s:s, s:[s,s]}, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, "
        "s:s}}, s:s, s:{s:s}}",
        "tenants", "acme", "env", "prod", "operator", "user", "operator", "password", "pa",
        "guard_password", "ga", "hublink_password", "ha", "globex", "env", "prod", "operator",
        "user", "operator-globex", "password", "pg", "guard_password", "gg", "free", 1, "limits",
        "max_vehicles", 10, "max_connections", 10, "max_file_store", "1GB", "max_memory_store",
        "64MB", "vehicles", "A", "type", "nkey", "public", pub, "status", "active", "tenant",
        "acme", "domains", "hub-eu", "hub-us", "B", "type", "password", "password", "pb", "status",
        "active", "tenant", "globex", "C", "type", "nkey", "public", pub, "status", "revoked",
        "tenant", "acme", "nobody_password", "np", "evict", "password", "ep");
    char *text = NULL;
    AH_ASSERT_MSG(ae_accounts_text(reg, NULL, &text, &err) == 0, "%s", err.msg);
    char *dir = ah_mkdtemp("acc"), conf[700], log[700];
    snprintf(conf, sizeof conf, "%s/hub.conf", dir);
    snprintf(log, sizeof log, "%s/check.log", dir);
    AH_ASSERT(ah_write_file(conf,
                            "listen: \"127.0.0.1:%d\"\njetstream { store_dir: \"%s/js\", domain: "
                            "hub }\nleafnodes { listen: \"127.0.0.1:%d\" }\naccounts {\n%s}\n",
                            ah_free_port(), dir, ah_free_port(), text) == 0);
    int rc = nats_check(conf, log);
    if (rc != 0)
        ah_print_tail(log, 2000);
    AH_ASSERT_MSG(rc == 0, "nats-server -t rejects the accounts:\n%s", text);
    /* The revoked vehicle: the evictor's login and nothing else. */
    const char *c = strstr(text, "\"V-C\": {");
    AH_ASSERT(c);
    const char *c_end = strstr(c, "\n  }\n");
    AH_ASSERT_CONTAINS(c, "{ user: \"aerie-evict-C\"");
    AH_ASSERT(!memmem(c, (size_t)(c_end - c), "imports", 7) &&
              !memmem(c, (size_t)(c_end - c), "nkey", 4));
    /* Each tenant imports its own active vehicles' commands only. */
    const char *ta = strstr(text, "\"T-acme\": {"), *tg = strstr(text, "\"T-globex\": {");
    AH_ASSERT(ta && tg);
    static const char imp_a[] = "\"V-A\", subject: \"fleet.prod.veh.A.cmd.>\"";
    AH_ASSERT(memmem(ta, (size_t)(tg - ta), imp_a, sizeof imp_a - 1));
    AH_ASSERT(!memmem(ta, (size_t)(tg - ta), "\"V-B\"", 5) &&
              !memmem(ta, (size_t)(tg - ta), "\"V-C\"", 5));
    AH_ASSERT_CONTAINS(tg, "jetstream: { max_file: 1GB, max_mem: 64MB }");
    AH_ASSERT_CONTAINS(tg, "limits: { max_connections: 10 }");
    /* A vehicle with a fallback in another domain reaches both, through its tenant. */
    AH_ASSERT_CONTAINS(text, "subject: \"$JS.hub-us.API.STREAM.NAMES\"");
    AH_ASSERT_CONTAINS(text, "subject: \"aerie.guard.A.hub-eu.STREAM.MSG.DELETE.*\" }, to: "
                             "\"$JS.hub-eu.API.STREAM.MSG.DELETE.*\"");
    AH_ASSERT_CONTAINS(ta, "{ service: \"$JS.hub-us.API.DIRECT.GET.>\" }");
    AH_ASSERT_CONTAINS(text, "{ user: \"B\", password: \"pb\"");
    free(text);
    /* A registry that cannot be written as accounts is refused, not half-written. */
    json_object_set_new(json_object_get(json_object_get(reg, "vehicles"), "B"), "password",
                        json_string("p\"b"));
    AH_ASSERT_EQ_INT(ae_accounts_text(reg, NULL, &text, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "creds.json");
    json_object_del(reg, "tenants");
    AH_ASSERT_EQ_INT(ae_accounts_text(reg, NULL, &text, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "no tenant");
    json_decref(reg);
    ah_rmrf(dir);
    free(dir);
}

/* ---- tenant_limits ---------------------------------------------------------------------- */

/* The vehicles list of a description: small's A and B, and n free vehicles F01.. */
static void free_vehicles(char *buf, size_t cap, int n)
{
    snprintf(buf, cap,
             "\"vehicles\":[{\"vid\":\"A\",\"tenant\":\"small\"},"
             "{\"vid\":\"B\",\"tenant\":\"small\"}");
    for (int i = 1; i <= n; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), ",{\"vid\":\"F%02d\",\"tenant\":\"free\"}",
                 i);
    snprintf(buf + strlen(buf), cap - strlen(buf), "],");
}

#define TENANTS                                                                                    \
    "\"tenants\":[{\"name\":\"small\",\"operator\":{\"password\":\"small-pw\"},\"limits\":{"       \
    "\"max_connections\":3,\"max_file_store\":\"2MB\",\"max_streams\":6,\"max_vehicles\":2}},"     \
    "{\"name\":\"free\",\"profile\":\"free\",\"operator\":{\"password\":\"free-pw\"}}],"

/* A raw client login; returns what the hub answered to CONNECT + PING. */
static void client_login(int port, const char *user, const char *pw, char *buf, size_t cap)
{
    int fd = ah_connect(port);
    AH_ASSERT(fd >= 0);
    ah_read_until(fd, buf, cap, "\r\n", 3000);
    char line[300];
    snprintf(
        line, sizeof line,
        "CONNECT {\"verbose\":false,\"user\":\"%s\",\"pass\":\"%s\",\"lang\":\"c\"}\r\nPING\r\n",
        user, pw);
    ah_send(fd, line);
    ah_read_until(fd, buf, cap, "\n", 3000);
    if (!strstr(buf, "-ERR"))
        ah_read_for(fd, buf + strlen(buf), cap - strlen(buf), 300);
    /* the connection stays open (it counts) until the process ends */
}

/* The free tier's 11th vehicle, refused by the description and by `aerie up`. */
static void eleventh_refused_before_any_hub(void)
{
    char extra[4096], path[800];
    char *base11 = ah_mkdtemp("limits11");
    free_vehicles(extra, sizeof extra, 11);
    snprintf(path, sizeof path, "%s/topo.json", base11);
    AH_ASSERT(ah_write_file(path,
                            "{" TENANTS "%s\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":"
                            "\"e1\",\"host\":\"127.0.0.1\"}]}]}\n",
                            extra) == 0);
    int rc = sec_aerie(out, sizeof out, "topology %s --out %s/out", path, base11);
    AH_ASSERT_MSG(rc == 1, "11 free vehicles accepted (rc %d): %s", rc, out);
    AH_ASSERT_CONTAINS(out, "tenant free is on the free tier, which allows at most 10 vehicles; "
                            "F11 would be its 11th");
    rc = sec_aerie(out, sizeof out, "up --tenant g:11:free --dir %s/up", base11);
    AH_ASSERT_EQ_INT(rc, 2);
    AH_ASSERT_CONTAINS(out, "tenant g is on the free tier, which allows at most 10 vehicles "
                            "(asked for 11)");
    ah_rmrf(base11);
    free(base11);
}

/* Client connections, streams and storage of a tenant limited to 3, 6 and 2 MB: the hub's
 * own errors beyond them (ops: three connections of that tenant, the third closed here). */
static void account_limits(sec_fleet *f, natsConnection **ops)
{
    char buf[4096];
    client_login(f->client[0], "operator-small", "small-pw", buf, sizeof buf);
    AH_ASSERT_CONTAINS(buf, "-ERR 'maximum account active connections exceeded'");
    /* The other tenant is not affected. */
    natsConnection *fop = sec_connect(f->client[0], "operator-free", "free-pw");
    natsConnection_Destroy(fop);
    natsConnection_Destroy(ops[2]);
    ah_sleep_ms(200);
    int rc = sec_aerie(out, sizeof out, "hub init --dir %s/eu --tenant small --replicas 1", f->dir);
    AH_ASSERT_MSG(rc == 0, "hub init as tenant small: %s", out);
    AH_ASSERT_CONTAINS(out, "5 created");
    natsMsg *rep = NULL;
    const char *cfg = "{\"name\":\"X%d\",\"subjects\":[\"x%d.>\"],\"storage\":\"file\"}";
    char body[200];
    snprintf(body, sizeof body, cfg, 6, 6);
    AH_ASSERT(natsConnection_RequestString(&rep, ops[0], "$JS.API.STREAM.CREATE.X6", body, 5000) ==
              NATS_OK);
    AH_ASSERT_MSG(!strstr(natsMsg_GetData(rep), "error"), "sixth stream: %s", natsMsg_GetData(rep));
    natsMsg_Destroy(rep);
    snprintf(body, sizeof body, cfg, 7, 7);
    AH_ASSERT(natsConnection_RequestString(&rep, ops[0], "$JS.API.STREAM.CREATE.X7", body, 5000) ==
              NATS_OK);
    AH_ASSERT_CONTAINS(natsMsg_GetData(rep), "maximum number of streams reached");
    natsMsg_Destroy(rep);
    static char big[128 * 1024];
    memset(big, 'x', sizeof big);
    int stored = 0;
    const char *why = NULL;
    char last[600] = "";
    for (int i = 0; i < 40 && !why; i++) {
        if (natsConnection_Request(&rep, ops[0], "fleet.prod.veh.A.state.big", big, sizeof big,
                                   5000) != NATS_OK)
            break;
        snprintf(last, sizeof last, "%.*s", natsMsg_GetDataLength(rep), natsMsg_GetData(rep));
        natsMsg_Destroy(rep);
        if (strstr(last, "error"))
            why = last;
        else
            stored++;
    }
    AH_ASSERT_MSG(why && strstr(why, "resource limits exceeded for account"),
                  "no storage limit after %d messages of 128 KB: %s", stored, last);
    AH_ASSERT_MSG(stored * 128 <= 2 * 1024 && stored >= 8, "%d messages of 128 KB stored", stored);
    printf("  limits: a 3rd leaf and a 4th client refused, a 7th stream refused, storage stopped "
           "after %d x 128 KB: %s\n",
           stored, why);
}

/* A leaf that sends only a token: 2.9.10 lets it into the global account (no_auth_user
 * covers only a CONNECT without user, password and token), where nothing is. */
static void token_leaf_reaches_nothing(sec_fleet *f, natsConnection *op)
{
    sec_leaf t;
    int rc = sec_leaf_open(&t, f->leaf[0], "tokenleaf", NULL, NULL, NULL, "anything");
    if (rc == 0) {
        char *lz = ah_http_get(f->http[0], "/leafz", NULL);
        AH_ASSERT_CONTAINS(lz, "\"$G\"");
        free(lz);
        sec_leaf_send(&t, "LS+ _INBOX.tok.>\r\n");
        sec_leaf_send(&t,
                      "LMSG fleet.prod.veh.A.state.position _INBOX.tok.1 14\r\n{\"tok\":\"TOKN\"}"
                      "\r\n");
        sec_leaf_send(&t, "LMSG $JS.hub.API.INFO _INBOX.tok.2 0\r\n\r\n");
        sec_leaf_send(&t, "LMSG $JS.API.INFO _INBOX.tok.3 0\r\n\r\n");
        sec_leaf_read(&t, 1500);
        AH_ASSERT_MSG(!strstr(t.buf, "_INBOX.tok."), "the token-only leaf got an answer: %s",
                      t.buf);
        AH_ASSERT_EQ_INT(sec_stream_count(op, "TWIN_STATE", "TOKN"), 0);
        printf("  a token-only leaf is accepted into $G and reaches nothing there\n");
    } else {
        AH_ASSERT_CONTAINS(t.buf, "Authorization Violation");
        printf("  a token-only leaf is refused\n");
    }
    sec_leaf_close(&t);
}

static void tenant_limits(void)
{
    char *base = ah_mkdtemp("limits"), extra[4096], path[800];
    int rc;
    /* 1. The free tier's 11th vehicle: refused by the description, by `aerie up` and by
     * `aerie creds add`, and no hub accepts it. */
    eleventh_refused_before_any_hub();
    sec_fleet f;
    free_vehicles(extra, sizeof extra, 10);
    char desc[8192];
    snprintf(desc, sizeof desc, "%s%s", TENANTS, extra);
    sec_fleet_generate(&f, base, 1, desc);
    rc = sec_aerie(out, sizeof out, "creds add F11 --tenant free --out %s", f.dir);
    AH_ASSERT_MSG(rc == 1, "creds add of an 11th free vehicle: rc %d %s", rc, out);
    AH_ASSERT_CONTAINS(out, "tenant free is on the free tier, which allows at most 10 vehicles "
                            "and has 10; F11 would be its 11th");
    snprintf(path, sizeof path, "%s/creds/F11.nk", f.dir);
    AH_ASSERT(access(path, F_OK) != 0);
    rc = sec_aerie(out, sizeof out, "creds add C --tenant small --out %s", f.dir);
    AH_ASSERT_EQ_INT(rc, 1);
    AH_ASSERT_CONTAINS(out, "tenant small may have at most 2 vehicles");
    sec_fleet_start(&f);

    /* A key for F11 made outside the tools: the hub has no account for it. */
    ae_nkey k;
    ae_err err = {0};
    char seed[128];
    AH_ASSERT(ae_nkey_generate('U', &k, &err) == 0);
    ae_nkey_seed(&k, seed, sizeof seed);
    snprintf(path, sizeof path, "%s/F11.nk", base);
    AH_ASSERT(ah_write_file(path, "%s\n", seed) == 0);
    sec_leaf l;
    AH_ASSERT_MSG(sec_leaf_open(&l, f.leaf[0], "F11", path, NULL, NULL, NULL) != 0,
                  "the hub let the 11th free vehicle in");
    AH_ASSERT_CONTAINS(l.buf, "Authorization Violation");
    sec_leaf_close(&l);

    /* 2. Leaf count: two leaves on A's key, the third refused. */
    char akey[700];
    snprintf(akey, sizeof akey, "%s/creds/A.nk", f.dir);
    sec_leaf a1, a2, a3;
    AH_ASSERT(sec_leaf_open(&a1, f.leaf[0], "A", akey, NULL, NULL, NULL) == 0);
    AH_ASSERT(sec_leaf_open(&a2, f.leaf[0], "A-second", akey, NULL, NULL, NULL) == 0);
    AH_ASSERT_MSG(sec_leaf_open(&a3, f.leaf[0], "A-third", akey, NULL, NULL, NULL) != 0,
                  "a third leaf on one vehicle's key was let in");
    AH_ASSERT_CONTAINS(a3.buf, "-ERR 'maximum account active connections exceeded'");
    sec_leaf_close(&a3);

    /* 3. Client connections, streams, storage; 4. a token-only leaf. */
    natsConnection *ops[3];
    for (int i = 0; i < 3; i++)
        ops[i] = sec_connect(f.client[0], "operator-small", "small-pw");
    account_limits(&f, ops);
    token_leaf_reaches_nothing(&f, ops[0]);
    sec_leaf_close(&a1);
    sec_leaf_close(&a2);
    natsConnection_Destroy(ops[0]);
    natsConnection_Destroy(ops[1]);
    sec_fleet_stop(&f);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(base);
    free(base);
    nats_Close();
}

/* ---- hostile_vehicles_and_tenants ------------------------------------------------------- */

static char g_dir[600];

static json_t *fleet_json(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/fleet.json", g_dir);
    return json_load_file(path, 0, NULL);
}

/* The vids `aerie status --tenant T` lists, comma-separated in order, once all are online
 * (or after the wait). */
static void status_vids(const char *tenant, int want, char *vids, size_t cap)
{
    int64_t until = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
    do {
        vids[0] = 0;
        int online = 0;
        if (sec_aerie(out, sizeof out, "status --dir %s --tenant %s --json", g_dir, tenant) == 0) {
            json_t *st = json_loads(out, 0, NULL);
            size_t i;
            json_t *o;
            json_array_foreach(st, i, o)
            {
                snprintf(vids + strlen(vids), cap - strlen(vids), "%s%s", i ? "," : "",
                         json_string_value(json_object_get(o, "vid")));
                online += json_is_true(json_object_get(o, "online"));
            }
            json_decref(st);
        }
        if (online >= want)
            return;
        ah_sleep_ms(500);
    } while (ah_now_ms() < until);
}

/* A tenant's login from fleet.json. */
static natsConnection *tenant_conn(json_t *fleet, const char *tenant)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(fleet, "tenants"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")), tenant) != 0)
            continue;
        json_t *op = json_object_get(t, "operator");
        json_t *n = json_array_get(json_object_get(json_object_get(fleet, "hub"), "nodes"), 0);
        return sec_connect((int)json_integer_value(json_object_get(n, "client_port")),
                           json_string_value(json_object_get(op, "user")),
                           json_string_value(json_object_get(op, "password")));
    }
    AH_ASSERT_MSG(false, "no tenant %s in fleet.json", tenant);
    return NULL;
}

static int tenant_dashboard(json_t *fleet, const char *tenant)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(fleet, "tenants"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")), tenant) == 0)
            return (int)json_integer_value(
                json_object_get(json_object_get(t, "dashboard"), "port"));
    }
    return 0;
}

/* The stream sequence of the newest message on `subject` in the connection's TWIN_STATE. */
static long long last_seq(natsConnection *nc, const char *subject)
{
    char api[300];
    snprintf(api, sizeof api, "$JS.API.DIRECT.GET.TWIN_STATE.%s", subject);
    natsMsg *m = NULL;
    AH_ASSERT(natsConnection_RequestString(&m, nc, api, "", 5000) == NATS_OK);
    const char *seq = NULL;
    natsMsgHeader_Get(m, "Nats-Sequence", &seq);
    long long s = seq ? atoll(seq) : 0;
    natsMsg_Destroy(m);
    AH_ASSERT_MSG(s > 0, "nothing stored on %s", subject);
    return s;
}

/* Everything the hub sent the intruder in reply to `inbox` (the protocol lines), or "". */
static const char *answer(const sec_leaf *l, const char *inbox, char *buf, size_t cap)
{
    buf[0] = 0;
    char needle[100];
    snprintf(needle, sizeof needle, " %s ", inbox);
    const char *p = strstr(l->buf, needle);
    if (!p)
        return buf;
    while (p > l->buf && p[-1] != '\n')
        p--;
    /* the protocol line and what follows it (the headers and payload of the answer) */
    snprintf(buf, cap, "%.*s", (int)(cap - 1), p);
    return buf;
}

/* The intruder: a raw leaf signed in with VID-001's key tries to act for VID-002 and
 * VID-003. */
static void intruder(json_t *fleet, natsConnection *acme, natsConnection *globex)
{
    json_t *n = json_array_get(json_object_get(json_object_get(fleet, "hub"), "nodes"), 1);
    char seed[700];
    snprintf(seed, sizeof seed, "%s/creds/VID-001.nk", g_dir);
    sec_leaf l;
    AH_ASSERT_MSG(sec_leaf_open(&l, (int)json_integer_value(json_object_get(n, "leaf_port")),
                                "intruder", seed, NULL, NULL, NULL) == 0,
                  "VID-001's key did not sign in: %s", l.buf);
    long long seq2 = last_seq(acme, "fleet.prod.veh.VID-002.state.position");
    sec_leaf_send(&l, "LS+ _INBOX.intr.>\r\nLS+ fleet.prod.veh.VID-002.cmd.>\r\n"
                      "LS+ fleet.prod.veh.VID-003.cmd.>\r\nLS+ fleet.>\r\n");
    sec_leaf_read(&l, 300);
    l.have = 0;
    l.buf[0] = 0;
    /* Publishing as others, with and without a reply. */
    static const char *const forged[] = {
        "fleet.prod.veh.VID-002.state.position", "fleet.prod.veh.VID-002.event.armed",
        "fleet.prod.veh.VID-002.link",           "fleet.prod.veh.VID-002.live.position",
        "fleet.prod.veh.VID-003.state.position", "fleet.prod.veh.VID-002.cmd.rtl"};
    const char *doc = "{\"forged\":\"INTRUDER\"}";
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        sec_leaf_send(&l, "LMSG %s _INBOX.intr.pub%zu %zu\r\n%s\r\n", forged[i], i, strlen(doc),
                      doc);
        sec_leaf_send(&l, "LMSG %s %zu\r\n%s\r\n", forged[i], strlen(doc), doc);
    }
    /* The JetStream API on their subjects, and what no vehicle may do at all. */
    static const struct {
        const char *subject, *body, *inbox;
    } calls[] = {
        {"$JS.hub.API.DIRECT.GET.FLEET_CMD.fleet.prod.veh.VID-002.cmd.rtl", "", "_INBOX.intr.dg"},
        {"$JS.hub.API.DIRECT.GET.TWIN_STATE.fleet.prod.veh.VID-002.state.position", "",
         "_INBOX.intr.dgs"},
        {"$JS.hub.API.DIRECT.GET.TWIN_STATE", "{\"seq\":1}", "_INBOX.intr.dgseq"},
        {"$JS.hub.API.CONSUMER.CREATE.TWIN_STATE.x1.fleet.prod.veh.VID-002.state.position",
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"x1\",\"filter_subject\":"
         "\"fleet.prod.veh.VID-002.state.position\"}}",
         "_INBOX.intr.cc"},
        {"$JS.hub.API.STREAM.INFO.TWIN_STATE", "", "_INBOX.intr.info"},
        {"$JS.hub.API.STREAM.PURGE.TWIN_STATE", "", "_INBOX.intr.purge"},
        {"$JS.hub.API.STREAM.DELETE.TWIN_STATE", "", "_INBOX.intr.sdel"},
        {"$JS.API.STREAM.PURGE.TWIN_STATE", "", "_INBOX.intr.purge2"},
        {"$JS.hub.API.STREAM.MSG.GET.TWIN_STATE", "{\"seq\":1}", "_INBOX.intr.mget"},
        {"$JS.hub.API.CONSUMER.CREATE.TWIN_STATE.x2.fleet.prod.veh.VID-001.state.position",
         "{\"stream_name\":\"TWIN_STATE\",\"config\":{\"name\":\"x2\",\"deliver_subject\":"
         "\"fleet.prod.veh.VID-002.state.position\",\"filter_subject\":\"fleet.prod.veh.VID-001."
         "state.position\"}}",
         "_INBOX.intr.push"},
        {"$JS.hub.API.DIRECT.GET.FLEET_LINK.fleet.prod.veh.VID-001.link", "", "_INBOX.intr.own"},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        sec_leaf_send(&l, "LMSG %s %s %zu\r\n%s\r\n", calls[i].subject, calls[i].inbox,
                      strlen(calls[i].body), calls[i].body);
    char del[100];
    snprintf(del, sizeof del, "{\"seq\":%lld,\"no_erase\":true}", seq2);
    sec_leaf_send(&l, "LMSG $JS.hub.API.STREAM.MSG.DELETE.TWIN_STATE _INBOX.intr.del %zu\r\n%s\r\n",
                  strlen(del), del);
    /* Commands to the others, from their own operators. */
    natsConnection_PublishString(acme, "fleet.prod.veh.VID-002.cmd.probe", "{\"probe\":1}");
    natsConnection_PublishString(globex, "fleet.prod.veh.VID-003.cmd.probe", "{\"probe\":1}");
    natsConnection_Flush(acme);
    natsConnection_Flush(globex);
    sec_leaf_read(&l, 2500);
    char a[1200];
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        char inbox[40];
        snprintf(inbox, sizeof inbox, "_INBOX.intr.pub%zu", i);
        AH_ASSERT_MSG(!answer(&l, inbox, a, sizeof a)[0], "publishing on %s was answered: %s",
                      forged[i], a);
    }
    for (size_t i = 0; i + 1 < sizeof calls / sizeof calls[0]; i++) {
        if (strcmp(calls[i].inbox, "_INBOX.intr.push") == 0)
            continue;
        AH_ASSERT_MSG(!answer(&l, calls[i].inbox, a, sizeof a)[0], "%s was answered: %s",
                      calls[i].subject, a);
    }
    AH_ASSERT_CONTAINS(answer(&l, "_INBOX.intr.own", a, sizeof a), "fleet.prod.veh.VID-001.link");
    AH_ASSERT_CONTAINS(answer(&l, "_INBOX.intr.push", a, sizeof a),
                       "aerie guard: config.deliver_subject is not allowed for a vehicle");
    AH_ASSERT_CONTAINS(answer(&l, "_INBOX.intr.del", a, sizeof a),
                       "not one of the vehicle's subjects");
    static const char *const heard[] = {"MSG fleet.prod.veh.VID-002.",
                                        "MSG fleet.prod.veh.VID-003.", "cmd.probe"};
    for (size_t i = 0; i < sizeof heard / sizeof heard[0]; i++)
        AH_ASSERT_MSG(!strstr(l.buf, heard[i]), "the intruder heard %s: %s", heard[i],
                      strstr(l.buf, heard[i]));
    sec_leaf_close(&l);
    /* Stored nowhere, in either tenant; VID-002's record is still there. */
    for (int k = 0; k < 2; k++) {
        natsConnection *nc = k ? globex : acme;
        json_t *names = sec_stream_names(nc);
        AH_ASSERT(json_array_size(names) >= 5);
        size_t i;
        json_t *s;
        json_array_foreach(names, i, s)
        {
            int hits = sec_stream_count(nc, json_string_value(s), "INTRUDER");
            AH_ASSERT_MSG(hits == 0, "%s's %s holds %d forged messages", k ? "globex" : "acme",
                          json_string_value(s), hits);
        }
        json_decref(names);
    }
    char api[200];
    snprintf(api, sizeof api, "{\"seq\":%lld}", seq2);
    natsMsg *m = NULL;
    AH_ASSERT(natsConnection_RequestString(&m, acme, "$JS.API.DIRECT.GET.TWIN_STATE", api, 5000) ==
              NATS_OK);
    const char *subj = NULL;
    natsMsgHeader_Get(m, "Nats-Subject", &subj);
    AH_ASSERT_MSG(subj && strcmp(subj, "fleet.prod.veh.VID-002.state.position") == 0,
                  "VID-002's record %lld is gone", seq2);
    natsMsg_Destroy(m);
}

static char g_heard[300];

static void on_any(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    /* What globex's vehicle sends (a command acme's operator itself gave VID-003 above is
     * acme's own traffic, in acme's account). */
    const char *subj = natsMsg_GetSubject(m);
    if (strstr(subj, "VID-003") && !strstr(subj, ".cmd.") &&
        __atomic_add_fetch((int *)closure, 1, __ATOMIC_RELAXED) == 1)
        snprintf(g_heard, sizeof g_heard, "%s: %.*s", natsMsg_GetSubject(m),
                 natsMsg_GetDataLength(m) > 100 ? 100 : natsMsg_GetDataLength(m),
                 natsMsg_GetData(m));
    natsMsg_Destroy(m);
}

static void hostile_vehicles_and_tenants(void)
{
    int rc =
        sec_aerie(out, sizeof out, "up --tenant acme:2 --tenant globex:1:free --dir %s", g_dir);
    AH_ASSERT_MSG(rc == 0, "aerie up (rc %d): %s", rc, out);
    AH_ASSERT_CONTAINS(out, "3 vehicles, 3 online");
    AH_ASSERT_CONTAINS(out, "free tier");
    json_t *fleet = fleet_json();
    AH_ASSERT(fleet);
    /* 1. Each operator sees only its own vehicles. */
    char vids[200];
    status_vids("acme", 2, vids, sizeof vids);
    AH_ASSERT_EQ_STR(vids, "VID-001,VID-002");
    status_vids("globex", 1, vids, sizeof vids);
    AH_ASSERT_EQ_STR(vids, "VID-003");
    rc = sec_aerie(out, sizeof out, "twin VID-003 --dir %s --tenant acme", g_dir);
    AH_ASSERT_MSG(rc == 1 && strstr(out, "no state stored for vehicle VID-003"), "%s", out);
    rc = sec_aerie(out, sizeof out, "twin VID-003 --dir %s --tenant globex", g_dir);
    AH_ASSERT_MSG(rc == 0 && strstr(out, "position"), "%s", out);
    rc = sec_aerie(out, sizeof out, "replay VID-003 --since 5m --dir %s --tenant acme", g_dir);
    AH_ASSERT_MSG(rc == 0 && !strstr(out, "VID-003"), "acme replays VID-003: %s", out);
    rc = sec_aerie(out, sizeof out, "replay VID-003 --since 5m --dir %s --tenant globex", g_dir);
    AH_ASSERT_CONTAINS(out, "fleet.prod.veh.VID-003.state.");
    /* 2. The dashboards, each logged in as its tenant. */
    int code = 0;
    char *body = ah_http_get(tenant_dashboard(fleet, "acme"), "/api/status", &code);
    AH_ASSERT_MSG(code == 200 && body && strstr(body, "VID-001") && strstr(body, "VID-002") &&
                      !strstr(body, "VID-003"),
                  "acme's dashboard /api/status (HTTP %d): %s", code, body ? body : "(none)");
    free(body);
    body = ah_http_get(tenant_dashboard(fleet, "acme"), "/api/twin/VID-003", &code);
    AH_ASSERT_EQ_INT(code, 404);
    free(body);
    body = ah_http_get(tenant_dashboard(fleet, "globex"), "/api/status", &code);
    AH_ASSERT_MSG(code == 200 && body && strstr(body, "VID-003") && !strstr(body, "VID-001"),
                  "globex's dashboard /api/status (HTTP %d): %s", code, body ? body : "(none)");
    free(body);
    /* 3. A command of acme's operator to globex's vehicle reaches nothing. */
    rc = sec_aerie(out, sizeof out, "cmd VID-003 rtl --ttl 3s --timeout 3s --dir %s --tenant acme",
                   g_dir);
    AH_ASSERT_MSG(rc != 0 && !strstr(out, "\"result\":\"accepted\""), "acme commanded VID-003: %s",
                  out);
    /* 4. acme's operator listening to everything hears nothing of globex. */
    natsConnection *acme = tenant_conn(fleet, "acme"), *globex = tenant_conn(fleet, "globex");
    int heard = 0;
    natsSubscription *all = NULL;
    AH_ASSERT(natsConnection_Subscribe(&all, acme, ">", on_any, &heard) == NATS_OK);
    natsConnection_Flush(acme);
    /* 5. The intruder, meanwhile. */
    intruder(fleet, acme, globex);
    natsSubscription_Unsubscribe(all);
    natsConnection_Flush(acme);
    AH_ASSERT_MSG(__atomic_load_n(&heard, __ATOMIC_RELAXED) == 0,
                  "acme's operator heard %d messages of VID-003, the first %s", heard, g_heard);
    natsSubscription_Destroy(all);
    char path[700];
    snprintf(path, sizeof path, "%s/logs/sim-pool-1.log", g_dir);
    char *simlog = ah_read_file(path);
    AH_ASSERT_MSG(simlog && strstr(simlog, "sim[VID-003]: "), "no log of VID-003's drone");
    AH_ASSERT_MSG(!strstr(simlog, "sim[VID-003]: MAV_CMD 20"), "VID-003's drone got a command");
    free(simlog);
    snprintf(path, sizeof path, "%s/logs/guard.log", g_dir);
    char *glog = ah_read_file(path);
    AH_ASSERT_CONTAINS(glog, "refused");
    free(glog);
    natsConnection_Destroy(acme);
    natsConnection_Destroy(globex);
    json_decref(fleet);
    rc = sec_aerie(out, sizeof out, "down --dir %s --purge", g_dir);
    AH_ASSERT_MSG(rc == 0, "down: %s", out);
    nats_Close();
}

int main(int argc, char **argv)
{
    char *d = ah_mkdtemp("iso");
    snprintf(g_dir, sizeof g_dir, "%s/fleet", d);
    static const ah_case cases[] = {
        {"guard_checks", guard_checks, 10},
        {"guard_owner_checks", guard_owner_checks, 10},
        {"accounts_load", accounts_load, 20},
        {"tenant_limits", tenant_limits, 90},
        {"hostile_vehicles_and_tenants", hostile_vehicles_and_tenants, 200},
    };
    int rc = ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
    /* The fleet's daemons leave the harness's process group (they outlive `aerie up`): stop
     * them whatever happened. */
    char down[700];
    snprintf(down, sizeof down, "down --dir %s", g_dir);
    sec_aerie(out, sizeof out, "%s", down);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(d);
    free(d);
    return rc;
}
