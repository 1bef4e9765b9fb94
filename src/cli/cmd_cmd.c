/* `aerie cmd`: a request to fleet.<env>.veh.<vid>.cmd.<name> with a JSON body.
 *
 * The hub's FLEET_CMD stream also captures command subjects (so a vehicle that is offline can
 * fetch its commands later), which means JetStream answers every command request with a
 * PubAck. The CLI therefore does not use a plain request (the first reply would be that
 * PubAck): it listens on its own inbox, notes the PubAck ("stored in FLEET_CMD"), and waits
 * for the vehicle's own reply until the timeout. */
#include "cli/cmd_cmd.h"
#include "cli/audit.h"
#include "cli/cmd_hub.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_t *number_arg(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end)
        return NULL;
    if (strchr(v, '.') == NULL && strchr(v, 'e') == NULL && strchr(v, 'E') == NULL)
        return json_integer((json_int_t)strtoll(v, NULL, 10));
    return json_real(d);
}

static json_t *any_arg(const char *v)
{
    json_t *n = number_arg(v);
    if (n)
        return n;
    if (strcmp(v, "true") == 0)
        return json_true();
    if (strcmp(v, "false") == 0)
        return json_false();
    return json_string(v);
}

int ae_cmd_build_body(const char *name, int argc, char **argv, json_t **out, ae_err *err)
{
    json_t *b = json_object();
    static const struct {
        const char *cmd;
        const char *keys[3];
        int n;
        bool numeric;
    } shapes[] = {
        {"takeoff", {"alt_m"}, 1, true},
        {"goto", {"lat", "lon", "alt_m"}, 3, true},
        {"mode", {"mode"}, 1, false},
    };
    int pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        if (eq && eq != a) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
            json_object_set_new(b, key, any_arg(eq + 1));
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            if (strcmp(shapes[k].cmd, name) == 0)
                break;
        if (k == sizeof shapes / sizeof shapes[0] || pos >= shapes[k].n) {
            json_decref(b);
            return ae_err_set(err, AE_EINVAL,
                              "%s: unexpected argument '%s' (give extra fields as key=value)", name,
                              a);
        }
        json_t *v = shapes[k].numeric ? number_arg(a) : json_string(a);
        if (!v) {
            json_decref(b);
            return ae_err_set(err, AE_EINVAL, "%s: %s must be a number, got '%s'", name,
                              shapes[k].keys[pos], a);
        }
        json_object_set_new(b, shapes[k].keys[pos++], v);
    }
    /* A command with a fixed shape needs all its positional values. */
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (strcmp(shapes[k].cmd, name) == 0)
            for (int j = 0; j < shapes[k].n; j++)
                if (!json_object_get(b, shapes[k].keys[j])) {
                    json_decref(b);
                    return ae_err_set(err, AE_EINVAL, "%s needs %s (%s%s%s)", name,
                                      shapes[k].keys[j],
                                      strcmp(name, "goto") == 0 ? "goto LAT LON ALT" : name,
                                      strcmp(name, "goto") == 0 ? "" : " ",
                                      strcmp(name, "goto") == 0   ? ""
                                      : strcmp(name, "mode") == 0 ? "NAME"
                                                                  : "ALT");
                }
    *out = b;
    return 0;
}

bool ae_cmd_reply_accepted(const char *data, int len)
{
    json_t *j = data && len > 0 ? json_loadb(data, (size_t)len, 0, NULL) : NULL;
    bool ok = false;
    if (json_is_object(j)) {
        if (json_is_true(json_object_get(j, "ok")) || json_is_true(json_object_get(j, "accepted")))
            ok = true;
        static const char *const keys[] = {"result", "status"};
        static const char *const good[] = {"accepted", "ok", "success", "done",
                                           "MAV_RESULT_ACCEPTED"};
        for (size_t k = 0; k < 2 && !ok; k++) {
            const char *v = json_string_value(json_object_get(j, keys[k]));
            for (size_t g = 0; v && g < sizeof good / sizeof good[0]; g++)
                if (strcasecmp(v, good[g]) == 0)
                    ok = true;
        }
        if (json_is_false(json_object_get(j, "ok")) || json_object_get(j, "error"))
            ok = false;
    }
    json_decref(j);
    return ok;
}

/* A JetStream PubAck: {"stream":..., "seq":N[, "domain":..., "duplicate":true]} and nothing
 * else. A vehicle reply never has exactly this shape. */
static bool is_puback(natsMsg *m, uint64_t *seq)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    bool yes = false;
    if (json_is_object(j) && json_is_string(json_object_get(j, "stream")) &&
        (json_is_integer(json_object_get(j, "seq")) || json_object_get(j, "error"))) {
        yes = true;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            (void)v;
            if (strcmp(k, "stream") && strcmp(k, "seq") && strcmp(k, "domain") &&
                strcmp(k, "duplicate") && strcmp(k, "error"))
                yes = false;
        }
        if (yes)
            *seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
    }
    json_decref(j);
    return yes;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: aerie cmd VID COMMAND [ARGS] [--timeout 10s] [--body JSON]\n"
            "  examples: aerie cmd VID-001 arm | takeoff 20 | goto 47.39 8.54 30 | mode LOITER\n"
            "            aerie cmd VID-001 rtl;  other fields as key=value\n");
    return 2;
}

/* The command line of `aerie cmd`: vid, command, and its body from ARGS or --body. */
typedef struct cmd_req {
    const char *vid, *name;
    json_t *body;
} cmd_req;

/* Returns -1 with req filled when the arguments are good, else the exit code. */
static int parse_cmd(ae_cli *c, int argc, char **argv, cmd_req *req)
{
    ae_err err = {0};
    const char *raw_body = NULL;
    char *rest[64];
    int nrest = 0;
    *req = (cmd_req){0};
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie cmd: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--body") == 0 && i + 1 < argc) {
            raw_body = argv[i + 1];
            i += 2;
            continue;
        }
        /* Negative numbers (goto -33.9 151.2 ...) are arguments, not options. */
        if (argv[i][0] == '-' && argv[i][1] && !isdigit((unsigned char)argv[i][1]) &&
            argv[i][1] != '.') {
            fprintf(stderr, "aerie cmd: unknown option %s\n", argv[i]);
            return usage();
        }
        if (!req->vid)
            req->vid = argv[i];
        else if (!req->name)
            req->name = argv[i];
        else if (nrest < 64)
            rest[nrest++] = argv[i];
        i++;
    }
    if (!req->vid || !req->name)
        return usage();
    if (!ae_ident_valid(req->vid) || !ae_ident_valid(req->name)) {
        fprintf(stderr, "aerie cmd: vehicle id and command must each be one token of letters, "
                        "digits, '_' or '-'\n");
        return 2;
    }
    if (raw_body) {
        json_error_t je;
        req->body = json_loads(raw_body, 0, &je);
        if (!json_is_object(req->body) || nrest) {
            fprintf(stderr, "aerie cmd: --body must be a JSON object and replaces ARGS (%s)\n",
                    req->body ? "extra arguments given" : je.text);
            json_decref(req->body);
            return 2;
        }
    } else if (ae_cmd_build_body(req->name, nrest, rest, &req->body, &err) != 0) {
        fprintf(stderr, "aerie cmd: %s\n", err.msg);
        return 2;
    }
    return -1;
}

/* The vehicle is not reachable: nothing listens and no stream keeps the command. */
static int unreachable(const char *vid, const char *subj, const char **outcome)
{
    fprintf(stderr,
            "vehicle %s is not reachable: nothing listens on %s (the vehicle is offline "
            "and the hub has no %s stream; see `aerie status`)\n",
            vid, subj, AE_STREAM_CMD);
    *outcome = "unreachable";
    return 3;
}

static int no_answer(const ae_cli *c, const char *vid, uint64_t queued_seq, const char **outcome)
{
    char d[32];
    ae_cli_fmt_duration(c->timeout_ns, d, sizeof d);
    fprintf(stderr,
            "vehicle %s did not answer within %s: it may be offline (see `aerie "
            "status`)\n",
            vid, d);
    if (queued_seq)
        fprintf(stderr,
                "the command is stored in the hub stream %s (seq %llu); a vehicle that "
                "reconnects before it expires can still fetch it\n",
                AE_STREAM_CMD, (unsigned long long)queued_seq);
    *outcome = queued_seq ? "no answer, queued" : "no answer";
    return 3;
}

/* Waits on the inbox for the vehicle's reply, noting the FLEET_CMD PubAck on the way.
 * Returns the exit code and the outcome for the audit entry. */
static int await_reply(ae_cli *c, natsSubscription *sub, const cmd_req *req, const char *subj,
                       const char **outcome)
{
    int64_t deadline = ae_mono_ns() + c->timeout_ns;
    uint64_t queued_seq = 0;
    for (;;) {
        int64_t left = deadline - ae_mono_ns();
        natsMsg *m = NULL;
        natsStatus s =
            left > 0 ? natsSubscription_NextMsg(&m, sub, left / AE_NS_PER_MS + 1) : NATS_TIMEOUT;
        if (s == NATS_TIMEOUT)
            return no_answer(c, req->vid, queued_seq, outcome);
        /* libnats turns the server's 503 status into this status on a sync subscription. */
        if (s == NATS_NO_RESPONDERS)
            return unreachable(req->vid, subj, outcome);
        if (s != NATS_OK) {
            fprintf(stderr, "aerie cmd: waiting for the reply failed: %s\n", natsStatus_GetText(s));
            return 1;
        }
        const char *status = NULL;
        uint64_t seq = 0;
        if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK && status &&
            strcmp(status, "503") == 0) {
            natsMsg_Destroy(m);
            return unreachable(req->vid, subj, outcome);
        }
        if (is_puback(m, &seq)) {
            queued_seq = seq ? seq : queued_seq;
            natsMsg_Destroy(m);
            continue;
        }
        const char *data = natsMsg_GetData(m);
        int len = natsMsg_GetDataLength(m);
        printf("%.*s\n", len, data ? data : "");
        fflush(stdout);
        bool ok = ae_cmd_reply_accepted(data, len);
        if (!ok)
            fprintf(stderr, "aerie cmd: vehicle %s did not accept %s\n", req->vid, req->name);
        *outcome = ok ? "accepted" : "not accepted";
        natsMsg_Destroy(m);
        return ok ? 0 : 1;
    }
}

/* Publishes the command with a reply inbox and waits for the answer. */
static int send_cmd(ae_cli *c, const cmd_req *req, const char *payload, const char **outcome)
{
    ae_err err = {0};
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie cmd: %s\n", err.msg);
        *outcome = "hub unreachable";
        return 1;
    }
    char subj[300];
    snprintf(subj, sizeof subj, "fleet.%s.veh.%s.cmd.%s", c->env, req->vid, req->name);
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, c->nc, inbox);
    if (s == NATS_OK)
        s = natsConnection_PublishRequestString(c->nc, subj, inbox, payload);
    if (s == NATS_OK)
        s = natsConnection_Flush(c->nc);
    int rc = 1;
    if (s != NATS_OK)
        fprintf(stderr, "aerie cmd: sending %s failed: %s\n", subj, natsStatus_GetText(s));
    else
        rc = await_reply(c, sub, req, subj, outcome);
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return rc;
}

int ae_cmd_cmd(ae_cli *c, int argc, char **argv)
{
    cmd_req req;
    int rc = parse_cmd(c, argc, argv, &req);
    if (rc >= 0)
        return rc;
    if (!c->timeout_set)
        c->timeout_ns = 10 * AE_NS_PER_SEC;
    char *payload = json_dumps(req.body, AE_CLI_JSON_FLAGS);
    json_decref(req.body);
    const char *outcome = "error";
    rc = payload ? send_cmd(c, &req, payload, &outcome) : 1;
    /* Who sent which command to which vehicle, and what came of it (audit.h). */
    json_t *details = json_pack("{s:s, s:s, s:s}", "command", req.name, "outcome", outcome, "body",
                                payload ? payload : "");
    ae_audit(c, "cmd", req.vid, details, rc == 0 ? "ok" : "error");
    json_decref(details);
    free(payload);
    return rc;
}
