/* aerie-leaf options: defaults, the config file, cross-field checks; see opts.h. The client
 * port's authorization and TLS blocks are read by opts_auth.c, the command line by
 * opts_args.c. */
#include "leaf/opts.h"
#include "common/conf.h"
#include "leaf/opts_auth.h"
#include "leaf/opts_read.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "leaf/subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_PORT 4222

void ae_opts_defaults(ae_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = strdup("0.0.0.0");
    o->port = DEFAULT_PORT;
    o->auth_timeout_ns = 2 * AE_NS_PER_SEC;
    o->tls_timeout_ns = 2 * AE_NS_PER_SEC; /* nats-server TLS_TIMEOUT */
    o->max_payload = 1024 * 1024;
    o->max_pending = 64 * 1024 * 1024;
    o->max_control_line = 4096;
    o->max_connections = 64 * 1024;
    o->ping_interval_ns = 120 * AE_NS_PER_SEC;
    o->ping_max = 2;
    o->write_deadline_ns = 10 * AE_NS_PER_SEC;
    o->lame_duck_ns = 2 * AE_NS_PER_SEC;
    o->sched_slice_ns = 100 * 1000; /* 100 us: see ae_loop_set_slice */
    o->log_level = AE_LOG_INFO;
    o->reconnect_min_ns = 1 * AE_NS_PER_SEC;
    o->reconnect_max_ns = 30 * AE_NS_PER_SEC;
    o->reconnect_jitter = 0.2;
    o->dead_link_ns = 15 * AE_NS_PER_SEC;
    o->store_max_bytes = 1024LL * 1024 * 1024;
    o->store_max_age_ns = 7 * 24 * 3600 * AE_NS_PER_SEC;
    o->sync_mode = AE_OPT_SYNC_INTERVAL;
    o->sync_interval_ns = 10 * AE_NS_PER_MS;
    o->ack_interval_ns = AE_NS_PER_SEC;
    o->hub_domain = strdup("hub");
    o->uplink_max_inflight = 4096;
    o->uplink_window = 0;
    o->uplink_max_subjects = 1024;
    o->uplink_subject_idle_ns = 600 * AE_NS_PER_SEC;
    o->uplink_ack_timeout_ns = 2 * AE_NS_PER_SEC;
    o->env = strdup("prod");
    o->link_status_interval_ns = 10 * AE_NS_PER_SEC;
    o->uplink_live = true;
}

static void free_remote(ae_remote *r)
{
    ae_opt_free_strv(r->urls, r->nurls);
    free(r->account);
    free(r->credentials);
    free(r->nkey_seed_file);
    free(r->user);
    free(r->password);
    free(r->token);
    free(r->tls_ca_file);
    free(r->tls_cert_file);
    free(r->tls_key_file);
    free(r->tls_server_name);
}

void ae_opts_free(ae_opts *o)
{
    free(o->config_file);
    free(o->server_name);
    free(o->host);
    free(o->user);
    free(o->password);
    free(o->token);
    ae_opts_free_users(o);
    free(o->tls_cert_file);
    free(o->tls_key_file);
    free(o->tls_ca_file);
    ae_opt_free_strv(o->tls_cipher_suites, o->ntls_cipher_suites);
    ae_opt_free_strv(o->tls_curves, o->ntls_curves);
    free(o->http_host);
    free(o->log_file);
    free(o->pid_file);
    for (int i = 0; i < o->nremotes; i++)
        free_remote(&o->remotes[i]);
    free(o->remotes);
    free(o->store_dir);
    ae_opt_free_strv(o->uplink_subjects, o->nuplink_subjects);
    free(o->hub_domain);
    free(o->vid);
    free(o->env);
    memset(o, 0, sizeof *o);
}

static int load_remote_tls(ae_remote *r, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "expected a block { ca_file, cert_file, key_file }");
    r->tls = true;
    int rc = 0;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "ca_file"))
            rc = ae_opt_string(n, &r->tls_ca_file, err);
        else if (ae_opt_key_is(n, "cert_file"))
            rc = ae_opt_string(n, &r->tls_cert_file, err);
        else if (ae_opt_key_is(n, "key_file"))
            rc = ae_opt_string(n, &r->tls_key_file, err);
        else if (ae_opt_key_is(n, "insecure"))
            rc = ae_opt_bool(n, &r->tls_insecure, err);
        else if (ae_opt_key_is(n, "server_name"))
            rc = ae_opt_string(n, &r->tls_server_name, err);
        else if (ae_opt_key_is(n, "timeout") || ae_opt_key_is(n, "verify"))
            continue; /* accepted for nats-server compatibility; TLS 1.3 verification is always on
                       */
        else
            rc = ae_opt_unknown(err, n, "tls",
                                "ca_file, cert_file, key_file, insecure, server_name");
    }
    return rc;
}

static int load_remote(ae_remote *r, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "each remote must be a block { urls: [...] }");
    int rc = 0;
    r->ws_frame_wait_ns = -1;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "url") || ae_opt_key_is(n, "urls"))
            rc = ae_opt_strv(n, &r->urls, &r->nurls, err);
        else if (ae_opt_key_is(n, "account"))
            rc = ae_opt_string(n, &r->account, err);
        else if (ae_opt_key_is(n, "credentials"))
            rc = ae_opt_string(n, &r->credentials, err);
        else if (ae_opt_key_is(n, "nkey") || ae_opt_key_is(n, "seed_file") ||
                 ae_opt_key_is(n, "nkey_seed_file"))
            rc = ae_opt_string(n, &r->nkey_seed_file, err);
        else if (ae_opt_key_is(n, "user") || ae_opt_key_is(n, "username"))
            rc = ae_opt_string(n, &r->user, err);
        else if (ae_opt_key_is(n, "password") || ae_opt_key_is(n, "pass"))
            rc = ae_opt_string(n, &r->password, err);
        else if (ae_opt_key_is(n, "token"))
            rc = ae_opt_string(n, &r->token, err);
        else if (ae_opt_key_is(n, "tls"))
            rc = load_remote_tls(r, n, err);
        else if (ae_opt_key_is(n, "ignore_discovered_urls"))
            rc = ae_opt_bool(n, &r->ignore_discovered_urls, err);
        else if (ae_opt_key_is(n, "home_urls")) {
            int64_t v = 0;
            rc = ae_opt_int(n, 0, 32, &v, err);
            r->home_urls = (int)v;
        } else if (ae_opt_key_is(n, "home_check"))
            rc = ae_opt_duration(n, &r->home_check_ns, err);
        else if (ae_opt_key_is(n, "ws_compression") || ae_opt_key_is(n, "websocket_compression"))
            rc = ae_opt_bool(n, &r->ws_compression, err);
        else if (ae_opt_key_is(n, "ws_no_masking") || ae_opt_key_is(n, "websocket_no_masking"))
            rc = ae_opt_bool(n, &r->ws_no_masking, err);
        else if (ae_opt_key_is(n, "ws_frame_wait")) {
            rc = ae_opt_duration(n, &r->ws_frame_wait_ns, err);
            if (rc == 0 &&
                (r->ws_frame_wait_ns < 0 || r->ws_frame_wait_ns > AE_WS_FRAME_WAIT_MAX_NS))
                rc = ae_opt_bad(err, n, "ws_frame_wait must be between 0 and 50ms");
        } else
            rc = ae_opt_unknown(err, n, "a leafnodes remote",
                                "url(s), account, credentials, nkey, user, password, token, tls, "
                                "ignore_discovered_urls, home_urls, home_check, ws_compression, "
                                "ws_no_masking, ws_frame_wait");
    }
    if (rc == 0 && r->nurls == 0)
        rc = ae_opt_bad(err, m,
                        "a remote needs at least one url (\"nats-leaf://user:pass@hub:7422\")");
    return rc;
}

static int load_leafnodes(ae_opts *o, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "expected a block { remotes = [...] }");
    int rc = 0;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "remotes")) {
            if (n->type != AE_CONF_ARRAY)
                return ae_opt_bad(err, n, "expected a list of remote blocks");
            int k = 0;
            for (const ae_conf_node *c = n->child; c; c = c->next)
                k++;
            ae_remote *rs = calloc((size_t)k + 1, sizeof *rs);
            if (!rs)
                return AE_ENOMEM;
            int i = 0;
            for (const ae_conf_node *c = n->child; c && rc == 0; c = c->next)
                rc = load_remote(&rs[i++], c, err);
            if (rc) {
                for (int j = 0; j < k; j++)
                    free_remote(&rs[j]);
                free(rs);
                return rc;
            }
            for (int j = 0; j < o->nremotes; j++)
                free_remote(&o->remotes[j]);
            free(o->remotes);
            o->remotes = rs;
            o->nremotes = k;
        } else if (ae_opt_key_is(n, "reconnect") || ae_opt_key_is(n, "reconnect_min")) {
            rc = ae_opt_duration(n, &o->reconnect_min_ns, err);
        } else if (ae_opt_key_is(n, "reconnect_max")) {
            rc = ae_opt_duration(n, &o->reconnect_max_ns, err);
        } else if (ae_opt_key_is(n, "reconnect_jitter")) {
            if (n->type == AE_CONF_FLOAT && n->f >= 0 && n->f <= 1)
                o->reconnect_jitter = n->f;
            else if (n->type == AE_CONF_INT && (n->i == 0 || n->i == 1))
                o->reconnect_jitter = (double)n->i;
            else
                rc = ae_opt_bad(err, n, "expected a fraction from 0 to 1, e.g. 0.2");
        } else if (ae_opt_key_is(n, "dead_link_timeout")) {
            rc = ae_opt_duration(n, &o->dead_link_ns, err);
        } else if (ae_opt_key_is(n, "listen") || ae_opt_key_is(n, "port")) {
            rc = ae_opt_bad(err, n,
                            "aerie-leaf only dials out to hubs; accepting leaf connections is the "
                            "hub's job (nats-server)");
        } else {
            rc = ae_opt_unknown(
                err, n, "leafnodes",
                "remotes, reconnect, reconnect_max, reconnect_jitter, dead_link_timeout");
        }
    }
    return rc;
}

static int load_store(ae_opts *o, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "expected a block { dir: ..., max_bytes: ..., sync: ... }");
    int rc = 0;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "dir") || ae_opt_key_is(n, "store_dir"))
            rc = ae_opt_string(n, &o->store_dir, err);
        else if (ae_opt_key_is(n, "max_bytes"))
            rc = ae_opt_size(n, &o->store_max_bytes, err);
        else if (ae_opt_key_is(n, "max_age"))
            rc = ae_opt_duration(n, &o->store_max_age_ns, err);
        else if (ae_opt_key_is(n, "ack_interval")) {
            rc = ae_opt_duration(n, &o->ack_interval_ns, err);
            if (rc == 0 &&
                (o->ack_interval_ns < 10 * AE_NS_PER_MS || o->ack_interval_ns > 60 * AE_NS_PER_SEC))
                rc = ae_opt_bad(err, n, "expected an interval from 10ms to 60s, such as \"1s\"");
        } else if (ae_opt_key_is(n, "sync")) {
            if (n->type == AE_CONF_STRING && strcasecmp(n->str, "always") == 0)
                o->sync_mode = AE_OPT_SYNC_ALWAYS;
            else if (n->type == AE_CONF_STRING && strcasecmp(n->str, "never") == 0)
                o->sync_mode = AE_OPT_SYNC_NEVER;
            else if (n->type == AE_CONF_STRING &&
                     ae_parse_duration(n->str, &o->sync_interval_ns) == 0 &&
                     o->sync_interval_ns > 0)
                o->sync_mode = AE_OPT_SYNC_INTERVAL;
            else
                rc = ae_opt_bad(err, n, "expected always, never or an interval such as \"10ms\"");
        } else
            rc = ae_opt_unknown(err, n, "store", "dir, max_bytes, max_age, sync, ack_interval");
    }
    return rc;
}

/* vid and env become one token of every fleet subject: fleet.<env>.veh.<vid>.... */
static bool valid_token(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int check_uplink_value(ae_opts *o, const ae_conf_node *n, ae_err *err)
{
    if (ae_opt_key_is(n, "subjects")) {
        for (int i = 0; i < o->nuplink_subjects; i++) {
            const char *p = o->uplink_subjects[i];
            if (!ae_subject_valid(p, strlen(p)))
                return ae_opt_bad(err, n,
                                  "not a valid subject pattern (tokens separated by dots, `*` "
                                  "and `>` only as whole tokens, `>` last)");
        }
    } else if ((ae_opt_key_is(n, "vid") || ae_opt_key_is(n, "vehicle")) && !valid_token(o->vid)) {
        return ae_opt_bad(err, n,
                          "a vehicle id is one subject token of letters, digits, `_` and `-`");
    } else if (ae_opt_key_is(n, "env") && !valid_token(o->env)) {
        return ae_opt_bad(err, n, "env is one subject token of letters, digits, `_` and `-`");
    }
    return 0;
}

static int load_uplink(ae_opts *o, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "expected a block { subjects: [...] }");
    int rc = 0;
    int64_t v = 0;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "subjects"))
            rc = ae_opt_strv(n, &o->uplink_subjects, &o->nuplink_subjects, err);
        else if (ae_opt_key_is(n, "rate"))
            rc = ae_opt_size(n, &o->uplink_rate, err);
        else if (ae_opt_key_is(n, "domain") || ae_opt_key_is(n, "hub_domain"))
            rc = ae_opt_string(n, &o->hub_domain, err);
        else if (ae_opt_key_is(n, "max_inflight")) {
            rc = ae_opt_int(n, 16, 65536, &v, err);
            o->uplink_max_inflight = (int)v;
        } else if (ae_opt_key_is(n, "max_inflight_per_subject")) {
            rc = ae_opt_int(n, 0, 65536, &v, err);
            o->uplink_window = (int)v;
        } else if (ae_opt_key_is(n, "max_subjects")) {
            rc = ae_opt_int(n, 1, 1000000, &v, err);
            o->uplink_max_subjects = (int)v;
        } else if (ae_opt_key_is(n, "subject_idle"))
            rc = ae_opt_duration(n, &o->uplink_subject_idle_ns, err);
        else if (ae_opt_key_is(n, "ack_timeout"))
            rc = ae_opt_duration(n, &o->uplink_ack_timeout_ns, err);
        else if (ae_opt_key_is(n, "vid") || ae_opt_key_is(n, "vehicle"))
            rc = ae_opt_string(n, &o->vid, err);
        else if (ae_opt_key_is(n, "env"))
            rc = ae_opt_string(n, &o->env, err);
        else if (ae_opt_key_is(n, "status_interval"))
            rc = ae_opt_duration(n, &o->link_status_interval_ns, err);
        else if (ae_opt_key_is(n, "live"))
            rc = ae_opt_bool(n, &o->uplink_live, err);
        else
            rc = ae_opt_unknown(err, n, "uplink",
                                "subjects, rate, domain, max_inflight, max_inflight_per_subject, "
                                "max_subjects, subject_idle, ack_timeout, vid, env, "
                                "status_interval, live");
        if (rc == 0)
            rc = check_uplink_value(o, n, err);
    }
    return rc;
}

static const char *top_keys =
    "listen, host, port, server_name, authorization, tls, max_payload, max_pending, "
    "max_control_line, max_connections, max_subscriptions, ping_interval, ping_max, "
    "write_deadline, lame_duck_duration, sched_slice, http, http_port, debug, trace, logfile, "
    "pid_file, "
    "leafnodes, store, uplink";

int ae_opts_load_conf(ae_opts *o, const ae_conf_node *root, ae_err *err)
{
    int rc = 0;
    int64_t v = 0;
    bool b = false;
    for (const ae_conf_node *n = root->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "listen") || ae_opt_key_is(n, "net"))
            rc = ae_opt_hostport(n, &o->host, &o->port, err);
        else if (ae_opt_key_is(n, "host") || ae_opt_key_is(n, "addr"))
            rc = ae_opt_string(n, &o->host, err);
        else if (ae_opt_key_is(n, "port")) {
            rc = ae_opt_int(n, 0, 65535, &v, err);
            o->port = (int)v;
        } else if (ae_opt_key_is(n, "server_name"))
            rc = ae_opt_string(n, &o->server_name, err);
        else if (ae_opt_key_is(n, "authorization"))
            rc = ae_opts_load_authorization(o, n, err);
        else if (ae_opt_key_is(n, "tls"))
            rc = ae_opts_load_tls(o, n, err);
        else if (ae_opt_key_is(n, "max_payload"))
            rc = ae_opt_size(n, &o->max_payload, err);
        else if (ae_opt_key_is(n, "max_pending"))
            rc = ae_opt_size(n, &o->max_pending, err);
        else if (ae_opt_key_is(n, "max_control_line"))
            rc = ae_opt_size(n, &o->max_control_line, err);
        else if (ae_opt_key_is(n, "max_connections") || ae_opt_key_is(n, "max_conn"))
            rc = ae_opt_int(n, 1, 1 << 24, &o->max_connections, err);
        else if (ae_opt_key_is(n, "max_subscriptions") || ae_opt_key_is(n, "max_subs"))
            rc = ae_opt_int(n, 0, 1 << 30, &o->max_subscriptions, err);
        else if (ae_opt_key_is(n, "ping_interval"))
            rc = ae_opt_duration(n, &o->ping_interval_ns, err);
        else if (ae_opt_key_is(n, "ping_max")) {
            rc = ae_opt_int(n, 1, 1000, &v, err);
            o->ping_max = (int)v;
        } else if (ae_opt_key_is(n, "write_deadline"))
            rc = ae_opt_duration(n, &o->write_deadline_ns, err);
        else if (ae_opt_key_is(n, "lame_duck_duration"))
            rc = ae_opt_duration(n, &o->lame_duck_ns, err);
        else if (ae_opt_key_is(n, "sched_slice"))
            rc = ae_opt_duration(n, &o->sched_slice_ns, err);
        else if (ae_opt_key_is(n, "http") || ae_opt_key_is(n, "monitor"))
            rc = ae_opt_hostport(n, &o->http_host, &o->http_port, err);
        else if (ae_opt_key_is(n, "http_port") || ae_opt_key_is(n, "monitor_port")) {
            rc = ae_opt_int(n, 0, 65535, &v, err);
            o->http_port = (int)v;
        } else if (ae_opt_key_is(n, "debug")) {
            rc = ae_opt_bool(n, &b, err);
            if (b && o->log_level < AE_LOG_DEBUG)
                o->log_level = AE_LOG_DEBUG;
        } else if (ae_opt_key_is(n, "trace")) {
            rc = ae_opt_bool(n, &b, err);
            if (b)
                o->log_level = AE_LOG_TRACE;
        } else if (ae_opt_key_is(n, "logfile") || ae_opt_key_is(n, "log_file"))
            rc = ae_opt_string(n, &o->log_file, err);
        else if (ae_opt_key_is(n, "pid_file") || ae_opt_key_is(n, "pidfile"))
            rc = ae_opt_string(n, &o->pid_file, err);
        else if (ae_opt_key_is(n, "leafnodes") || ae_opt_key_is(n, "leaf"))
            rc = load_leafnodes(o, n, err);
        else if (ae_opt_key_is(n, "store"))
            rc = load_store(o, n, err);
        else if (ae_opt_key_is(n, "uplink"))
            rc = load_uplink(o, n, err);
        else if (ae_opt_key_is(n, "jetstream"))
            rc = ae_opt_bad(err, n,
                            "aerie-leaf has no JetStream of its own; use store {} and uplink {} "
                            "for store-and-forward to the hub's JetStream");
        else if (ae_opt_key_is(n, "cluster") || ae_opt_key_is(n, "gateway"))
            rc = ae_opt_bad(err, n,
                            "clustering and gateways belong to the hub (nats-server), not to "
                            "aerie-leaf");
        else
            rc = ae_opt_unknown(err, n, "the top level", top_keys);
    }
    return rc;
}

int ae_opts_load_file(ae_opts *o, const char *path, ae_err *err)
{
    ae_conf_node *root = NULL;
    int rc = ae_conf_parse_file(path, &root, err);
    if (rc)
        return rc;
    rc = ae_opts_load_conf(o, root, err);
    ae_conf_free(root);
    return rc;
}

int ae_opts_validate(const ae_opts *o, ae_err *err)
{
    if (o->max_payload <= 0)
        return ae_err_set(err, AE_EINVAL, "max_payload must be positive");
    if (o->max_payload > o->max_pending)
        return ae_err_set(err, AE_EINVAL,
                          "max_payload (%lld) cannot be higher than max_pending (%lld): raise "
                          "max_pending or lower max_payload",
                          (long long)o->max_payload, (long long)o->max_pending);
    if (o->max_control_line < 64)
        return ae_err_set(err, AE_EINVAL, "max_control_line (%lld) is too small (at least 64)",
                          (long long)o->max_control_line);
    if (o->ping_interval_ns <= 0)
        return ae_err_set(err, AE_EINVAL, "ping_interval must be positive");
    if ((o->user && !o->password) || (!o->user && o->password))
        return ae_err_set(err, AE_EINVAL, "authorization needs both user and password");
    if ((o->user || o->nusers) && o->token)
        return ae_err_set(err, AE_EINVAL,
                          "authorization: use either a token or user/password, not both");
    if (o->tls && (!o->tls_cert_file || !o->tls_key_file))
        return ae_err_set(
            err, AE_EINVAL,
            "TLS on the client port needs a certificate and its key: tls { cert_file, "
            "key_file } or --tlscert FILE --tlskey FILE");
    if (o->tls_verify && !o->tls_ca_file)
        return ae_err_set(
            err, AE_EINVAL,
            "TLS client verification needs the CA that signs client certificates: tls "
            "{ ca_file } or --tlscacert FILE");
    if (o->reconnect_min_ns <= 0 || o->reconnect_max_ns < o->reconnect_min_ns)
        return ae_err_set(err, AE_EINVAL,
                          "leafnodes: reconnect must be positive and not above reconnect_max");
    if (o->nremotes > 1)
        return ae_err_set(err, AE_EINVAL,
                          "leafnodes: aerie-leaf joins one hub cluster; list its nodes as urls "
                          "of a single remote");
    if (o->nuplink_subjects > 0 && !o->store_dir)
        return ae_err_set(err, AE_EINVAL,
                          "uplink subjects need a durable store: add store { dir: \"...\" }");
    if (o->nuplink_subjects > 0 && o->nremotes == 0)
        return ae_err_set(err, AE_EINVAL,
                          "uplink subjects need a hub: add leafnodes { remotes = [ ... ] }");
    return 0;
}

/* ---- reload ------------------------------------------------------------------------------ */

static bool str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static bool strv_differs(char **a, int na, char **b, int nb)
{
    if (na != nb)
        return true;
    for (int i = 0; i < na; i++) {
        if (str_differs(a[i], b[i]))
            return true;
    }
    return false;
}

static bool remote_differs(const ae_remote *a, const ae_remote *b)
{
    return strv_differs(a->urls, a->nurls, b->urls, b->nurls) ||
           str_differs(a->account, b->account) || str_differs(a->credentials, b->credentials) ||
           str_differs(a->nkey_seed_file, b->nkey_seed_file) || str_differs(a->user, b->user) ||
           str_differs(a->password, b->password) || str_differs(a->token, b->token) ||
           a->tls != b->tls || str_differs(a->tls_ca_file, b->tls_ca_file) ||
           str_differs(a->tls_cert_file, b->tls_cert_file) ||
           str_differs(a->tls_key_file, b->tls_key_file) || a->tls_insecure != b->tls_insecure ||
           str_differs(a->tls_server_name, b->tls_server_name) ||
           a->ignore_discovered_urls != b->ignore_discovered_urls || a->home_urls != b->home_urls ||
           a->home_check_ns != b->home_check_ns || a->ws_compression != b->ws_compression ||
           a->ws_no_masking != b->ws_no_masking || a->ws_frame_wait_ns != b->ws_frame_wait_ns;
}

static void add_key(char *buf, size_t cap, int *n, const char *key)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", *n ? ", " : "", key);
    (*n)++;
}

int ae_opts_restart_changes(const ae_opts *a, const ae_opts *b, char *buf, size_t cap)
{
    int n = 0;
    if (cap)
        buf[0] = 0;
    bool remotes = a->nremotes != b->nremotes;
    for (int i = 0; i < a->nremotes && !remotes; i++)
        remotes = remote_differs(&a->remotes[i], &b->remotes[i]);
    struct {
        bool changed;
        const char *key;
    } keys[] = {
        {a->port != b->port || str_differs(a->host, b->host), "listen"},
        {a->http_port != b->http_port || str_differs(a->http_host, b->http_host), "http"},
        {str_differs(a->server_name, b->server_name), "server_name"},
        {str_differs(a->log_file, b->log_file), "logfile"},
        {str_differs(a->pid_file, b->pid_file), "pid_file"},
        {remotes, "leafnodes.remotes"},
        {strv_differs(a->uplink_subjects, a->nuplink_subjects, b->uplink_subjects,
                      b->nuplink_subjects),
         "uplink.subjects"},
        {str_differs(a->vid, b->vid), "uplink.vid"},
        {str_differs(a->env, b->env), "uplink.env"},
        {str_differs(a->hub_domain, b->hub_domain), "uplink.domain"},
        {a->uplink_max_subjects != b->uplink_max_subjects, "uplink.max_subjects"},
        {str_differs(a->store_dir, b->store_dir), "store.dir"},
        {a->store_max_bytes != b->store_max_bytes, "store.max_bytes"},
        {a->store_max_age_ns != b->store_max_age_ns, "store.max_age"},
        {a->sync_mode != b->sync_mode || a->sync_interval_ns != b->sync_interval_ns, "store.sync"},
        {a->ack_interval_ns != b->ack_interval_ns, "store.ack_interval"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (keys[i].changed)
            add_key(buf, cap, &n, keys[i].key);
    }
    return n;
}
