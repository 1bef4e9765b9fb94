/* The audit trail: a fsync'd local JSON-lines file and the hub's AUDIT stream (see audit.h).
 *
 * The stream is made append-only on the hub side too (deny_delete, deny_purge), so an entry
 * cannot be removed through the JetStream API once acknowledged; only someone with the
 * hub's disks can. Reading back uses an ordered consumer that starts at --since, so the
 * hub sends only the window asked for. */
#include "cli/audit.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ae_audit_actor(char *out, size_t cap)
{
    const char *user = getenv("USER");
    if (!user || !*user)
        user = getenv("LOGNAME");
    /* Services and CI often run without $USER; the account name is the next best thing. */
    struct passwd pw, *res = NULL;
    char pwbuf[1024];
    if ((!user || !*user) && getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) == 0 && res)
        user = res->pw_name;
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    snprintf(out, cap, "%s@%s", user && *user ? user : "unknown", host);
}

/* Appends one line with a single write (O_APPEND keeps concurrent writers' lines whole) and
 * makes it durable before returning. */
static int append_line(const char *dir, const char *line, ae_err *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ae_err_set(err, AE_EIO, "cannot open %s: %s", path, strerror(errno));
    size_t n = strlen(line);
    ssize_t w;
    do
        w = write(fd, line, n);
    while (w < 0 && errno == EINTR);
    int rc = 0;
    if (w != (ssize_t)n)
        rc = ae_err_set(err, AE_EIO, "cannot append to %s: %s", path,
                        w < 0 ? strerror(errno) : "short write");
    else if (fsync(fd) != 0)
        rc = ae_err_set(err, AE_EIO, "cannot sync %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static int hub_url_count(const ae_cli *c)
{
    if (c->server) {
        int n = 1;
        for (const char *p = c->server; *p; p++)
            n += *p == ',';
        return n;
    }
    return c->fleet ? (int)c->fleet->n_hub_urls : 1;
}

int ae_audit_ensure_stream(ae_cli *c, ae_err *err)
{
    json_t *info = NULL;
    int rc = ae_cli_api(c, "STREAM.INFO." AE_STREAM_AUDIT, NULL, &info, err);
    json_decref(info);
    if (rc != AE_ENOENT)
        return rc;
    int replicas = hub_url_count(c) >= 3 ? 3 : 1;
    json_t *cfg = json_pack("{s:s, s:[s], s:s, s:s, s:s, s:i, s:b, s:b, s:b}", "name",
                            AE_STREAM_AUDIT, "subjects", "fleet.*.audit", "retention", "limits",
                            "storage", "file", "discard", "old", "num_replicas", replicas,
                            "deny_delete", 1, "deny_purge", 1, "allow_direct", 1);
    char *body = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    if (!body)
        return ae_err_set(err, AE_ENOMEM, "out of memory");
    /* A cluster that has just started may answer "insufficient resources" or not at all until
     * its meta leader knows every peer; a concurrent creator makes ours "already in use". */
    int64_t deadline = ae_mono_ns() + 8 * AE_NS_PER_SEC;
    for (;;) {
        json_t *out = NULL;
        rc = ae_cli_api(c, "STREAM.CREATE." AE_STREAM_AUDIT, body, &out, err);
        json_decref(out);
        if (rc == 0 || (err && strstr(err->msg, "already in use")) || ae_mono_ns() > deadline)
            break;
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(body);
    if (rc && err && strstr(err->msg, "already in use"))
        rc = 0;
    return rc;
}

int ae_audit(ae_cli *c, const char *action, const char *vid, json_t *details, const char *result)
{
    char actor[300], ts[48];
    ae_audit_actor(actor, sizeof actor);
    ae_err err = {0};
    /* Connecting first fills in the env from the fleet; an unreachable hub is not a reason
     * to lose the local record. */
    int pub_rc = c->nc ? 0 : ae_cli_connect(c, &err);
    const char *env = c->env ? c->env : "prod";
    json_t *e = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:O?, s:s}", "time",
                          ae_format_rfc3339(ae_now_ns(), ts, sizeof ts), "actor", actor, "action",
                          action, "vid", vid, "env", env, "details", details, "result",
                          result ? result : "unknown");
    if (!e)
        return AE_ENOMEM;
    int rc = 0;
    if (pub_rc == 0)
        pub_rc = ae_audit_ensure_stream(c, &err);
    if (pub_rc == 0) {
        char *line = json_dumps(e, JSON_COMPACT);
        char subj[160];
        snprintf(subj, sizeof subj, "fleet.%s.audit", env);
        natsMsg *reply = NULL;
        natsStatus s = line ? natsConnection_Request(&reply, c->nc, subj, line, (int)strlen(line),
                                                     (int64_t)(c->timeout_ns / AE_NS_PER_MS))
                            : NATS_NO_MEMORY;
        if (s != NATS_OK)
            pub_rc = ae_err_set(&err, AE_EIO, "publishing to %s: %s", subj, natsStatus_GetText(s));
        else if (!strstr(natsMsg_GetData(reply) ? natsMsg_GetData(reply) : "", "\"seq\""))
            pub_rc = ae_err_set(&err, AE_EPROTO, "the AUDIT stream did not store the entry: %.*s",
                                natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
        natsMsg_Destroy(reply);
        free(line);
    }
    if (pub_rc != 0) {
        json_object_set_new(e, "published", json_false());
        fprintf(stderr, "aerie: warning: audit entry not published to the hub: %s\n", err.msg);
        rc = pub_rc;
    }
    if (c->dir && access(c->dir, W_OK) == 0) {
        char *line = json_dumps(e, JSON_COMPACT);
        char *nl = NULL;
        if (line && asprintf(&nl, "%s\n", line) > 0) {
            ae_err ferr = {0};
            if (append_line(c->dir, nl, &ferr) != 0) {
                fprintf(stderr, "aerie: warning: audit entry not written: %s\n", ferr.msg);
                rc = AE_EIO;
            }
        }
        free(nl);
        free(line);
    }
    json_decref(e);
    return rc;
}

/* ---- aerie audit ------------------------------------------------------------------- */

static void print_entry(const ae_cli *c, json_t *e, const char *raw, int len)
{
    if (c->json) {
        printf("%.*s\n", len, raw);
        return;
    }
    const char *vid = json_string_value(json_object_get(e, "vid"));
    char *d = json_object_get(e, "details")
                  ? json_dumps(json_object_get(e, "details"), AE_CLI_JSON_FLAGS | JSON_SORT_KEYS)
                  : NULL;
    printf("%-30s  %-20s  %-10s  %-12s  %-6s  %s\n",
           json_string_value(json_object_get(e, "time")) ?: "?",
           json_string_value(json_object_get(e, "actor")) ?: "?",
           json_string_value(json_object_get(e, "action")) ?: "?", vid ? vid : "-",
           json_string_value(json_object_get(e, "result")) ?: "?", d ? d : "");
    free(d);
}

static bool wanted(json_t *e, int64_t since_ns, const char *vid)
{
    int64_t t = 0;
    const char *ts = json_string_value(json_object_get(e, "time"));
    if (!ts || ae_parse_rfc3339(ts, &t) != 0 || t < since_ns)
        return false;
    return !vid || (json_is_string(json_object_get(e, "vid")) &&
                    strcmp(json_string_value(json_object_get(e, "vid")), vid) == 0);
}

static int audit_from_file(ae_cli *c, int64_t since_ns, const char *vid)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/audit.log", c->dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "aerie audit: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        json_t *e = json_loads(line, 0, NULL);
        if (e && wanted(e, since_ns, vid)) {
            print_entry(c, e, line, (int)n);
            count++;
        }
        json_decref(e);
    }
    free(line);
    fclose(f);
    if (!c->json && count == 0)
        printf("(no audit entries in %s in that window)\n", path);
    return 0;
}

static int audit_from_hub(ae_cli *c, int64_t since_ns, const char *vid)
{
    ae_err err = {0};
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie audit: %s\n", err.msg);
        return 1;
    }
    json_t *info = NULL;
    int rc = ae_cli_api(c, "STREAM.INFO." AE_STREAM_AUDIT, NULL, &info, &err);
    if (rc) {
        fprintf(stderr, "aerie audit: %s%s\n", err.msg,
                rc == AE_ENOENT ? " (nothing has been audited on this hub yet)" : "");
        return 1;
    }
    /* Read up to the last entry as of now; a newer one would only make the output racy. */
    json_t *state = json_object_get(info, "state");
    uint64_t last_seq = (uint64_t)json_integer_value(json_object_get(state, "last_seq"));
    int64_t last_ns = 0;
    const char *last_ts = json_string_value(json_object_get(state, "last_ts"));
    if (!last_ts || ae_parse_rfc3339(last_ts, &last_ns) != 0)
        last_ns = 0;
    json_decref(info);
    int count = 0;
    natsStatus s = NATS_OK;
    jsErrCode jerr = 0;
    if (last_seq > 0 && last_ns >= since_ns) {
        jsCtx *js = NULL;
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Prefix = c->api_prefix;
        jo.Wait = (int64_t)(c->timeout_ns / AE_NS_PER_MS);
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = AE_STREAM_AUDIT;
        so.Ordered = true;
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = since_ns;
        natsSubscription *sub = NULL;
        s = natsConnection_JetStream(&js, c->nc, &jo);
        if (s == NATS_OK)
            s = js_SubscribeSync(&sub, js, "fleet.*.audit", &jo, &so, &jerr);
        for (uint64_t seq = 0; s == NATS_OK && seq < last_seq;) {
            natsMsg *m = NULL;
            s = natsSubscription_NextMsg(&m, sub, (int64_t)(c->timeout_ns / AE_NS_PER_MS));
            if (s != NATS_OK)
                break;
            jsMsgMetaData *meta = NULL;
            if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
                seq = meta->Sequence.Stream;
                jsMsgMetaData_Destroy(meta);
            } else {
                seq = last_seq; /* not a stream message: stop rather than loop */
            }
            json_t *e = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
            if (e && wanted(e, since_ns, vid)) {
                print_entry(c, e, natsMsg_GetData(m), natsMsg_GetDataLength(m));
                count++;
            }
            json_decref(e);
            natsMsg_Destroy(m);
        }
        natsSubscription_Destroy(sub);
        jsCtx_Destroy(js);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "aerie audit: cannot read the %s stream: %s (%d)\n", AE_STREAM_AUDIT,
                natsStatus_GetText(s), (int)jerr);
        return 1;
    }
    if (!c->json && count == 0)
        printf("(no audit entries in that window)\n");
    return 0;
}

int ae_cmd_audit(ae_cli *c, int argc, char **argv)
{
    int64_t since = 24 * 3600 * AE_NS_PER_SEC;
    const char *vid = NULL;
    bool from_file = false;
    for (int i = 1; i < argc;) {
        ae_err err = {0};
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie audit: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            if (ae_parse_duration(argv[i + 1], &since) != 0 || since <= 0) {
                fprintf(stderr, "aerie audit: --since %s: expected a duration such as 1h\n",
                        argv[i + 1]);
                return 2;
            }
            i += 2;
        } else if (strcmp(argv[i], "--vid") == 0 && i + 1 < argc) {
            vid = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--file") == 0) {
            from_file = true;
            i++;
        } else {
            fprintf(stderr,
                    "aerie audit: unexpected argument %s\n"
                    "usage: aerie audit [--since 1h] [--vid VID] [--json] [--file] [--dir DIR]\n",
                    argv[i]);
            return 2;
        }
    }
    int64_t since_ns = ae_now_ns() - since;
    if (from_file) {
        if (!c->dir) {
            fprintf(stderr, "aerie audit: --file needs --dir DIR\n");
            return 2;
        }
        return audit_from_file(c, since_ns, vid);
    }
    return audit_from_hub(c, since_ns, vid);
}
