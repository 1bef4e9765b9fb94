/* Shared CLI plumbing: global options, the hub connection and counted JetStream requests.
 * See cli.h. */
#include "cli/cli.h"
#include "common/ident.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ae_cli_init(ae_cli *c)
{
    memset(c, 0, sizeof *c);
    c->dir = getenv("AERIE_DIR");
    if (c->dir && !*c->dir)
        c->dir = NULL;
    c->user = getenv("AERIE_USER");
    c->password = getenv("AERIE_PASSWORD");
    c->tenant = getenv("AERIE_TENANT");
    if (c->tenant && !*c->tenant)
        c->tenant = NULL;
    c->timeout_ns = 5 * AE_NS_PER_SEC;
    snprintf(c->api_prefix, sizeof c->api_prefix, "$JS.API");
}

void ae_cli_init_like(ae_cli *c, const ae_cli *like)
{
    ae_cli_init(c);
    c->dir = like->dir;
    c->server = like->server;
    c->env = like->env;
    c->user = like->user;
    c->password = like->password;
    c->js_domain = like->js_domain;
    c->tenant = like->tenant;
    c->json = like->json;
    c->global = like->global;
    c->timeout_ns = like->timeout_ns;
    c->timeout_set = like->timeout_set;
}

void ae_cli_close(ae_cli *c)
{
    if (c->nc) {
        natsConnection_Destroy(c->nc);
        c->nc = NULL;
    }
    ae_fleet_free(c->fleet);
    c->fleet = NULL;
}

/* Matches "--name value" and "--name=value". */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val, ae_err *err)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        *i += 1;
        return 1;
    }
    if (a[n] != 0)
        return 0;
    if (*i + 1 >= argc)
        return ae_err_set(err, AE_EINVAL, "%s needs a value", name);
    *val = argv[*i + 1];
    *i += 2;
    return 1;
}

int ae_cli_global_opt(ae_cli *c, int argc, char **argv, int *i, ae_err *err)
{
    const char *a = argv[*i], *v = NULL;
    int r;
    if (strcmp(a, "--json") == 0) {
        c->json = true;
        *i += 1;
        return 1;
    }
    if (strcmp(a, "--stats") == 0) {
        c->stats = true;
        *i += 1;
        return 1;
    }
    if ((r = opt_value(argc, argv, i, "--dir", &v, err)) != 0) {
        c->dir = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--server", &v, err)) != 0) {
        c->server = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--env", &v, err)) != 0) {
        if (r > 0 && !ae_ident_valid(v))
            return ae_err_set(err, AE_EINVAL,
                              "--env %s: an env is one token of letters, digits, '_' or '-'", v);
        c->env = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--tenant", &v, err)) != 0) {
        if (r > 0 && !ae_ident_valid(v))
            return ae_err_set(err, AE_EINVAL, "--tenant %s: a tenant name is one token", v);
        c->tenant = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--user", &v, err)) != 0) {
        c->user = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--password", &v, err)) != 0) {
        c->password = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--js-domain", &v, err)) != 0) {
        if (r > 0 && !ae_ident_valid(v))
            return ae_err_set(err, AE_EINVAL, "--js-domain %s: must be one token", v);
        c->js_domain = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--timeout", &v, err)) != 0) {
        if (r < 0)
            return r;
        if (ae_parse_duration(v, &c->timeout_ns) != 0 || c->timeout_ns <= 0)
            return ae_err_set(err, AE_EINVAL, "--timeout %s: expected a duration such as 10s", v);
        c->timeout_set = true;
        return r;
    }
    return 0;
}

const char *ae_cli_fleet_dir(ae_cli *c, char abs[PATH_MAX])
{
    if (!c->dir && access(".fleet/fleet.json", F_OK) == 0)
        c->dir = ".fleet";
    if (c->dir && realpath(c->dir, abs))
        c->dir = abs;
    return c->dir;
}

/* Copies a URL for messages with any password replaced by "***". */
static void redact_url(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@');
    const char *colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
    if (!colon) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

char *ae_cli_url_without_userinfo(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@');
    char *out = NULL;
    if (asprintf(&out, "%.*s%s", (int)(host - url), url, at ? at + 1 : host) < 0)
        return NULL;
    return out;
}

/* Keeps only tenant `name`'s vehicles in the fleet record. */
static void keep_tenant_vehicles(ae_fleet *f, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const char *t = ae_fleet_vehicle_tenant(f, &f->vehicles[i]);
        if (t && strcmp(t, name) == 0) {
            ae_fleet_vehicle tmp = f->vehicles[k];
            f->vehicles[k++] = f->vehicles[i];
            f->vehicles[i] = tmp;
        }
    }
    /* The others stay allocated past n_vehicles until the record is freed. */
    for (size_t i = k; i < f->n_vehicles; i++) {
        free(f->vehicles[i].vid);
        free(f->vehicles[i].tenant);
        free(f->vehicles[i].hub);
        free(f->vehicles[i].seed);
        free(f->vehicles[i].drone.autopilot);
    }
    f->n_vehicles = k;
}

int ae_cli_load_fleet(ae_cli *c, ae_err *err)
{
    int rc;
    /* Nothing named: a fleet started with a plain `aerie up` in this directory. */
    if (!c->dir && !c->server && access(".fleet/fleet.json", F_OK) == 0)
        c->dir = ".fleet";
    if (c->dir && !c->fleet) {
        if ((rc = ae_fleet_load(c->dir, &c->fleet, err)) != 0 && !c->server)
            return rc;
        ae_fleet *f = c->fleet;
        if (f && f->n_tenants && !c->server) {
            const ae_fleet_tenant *tn = c->tenant ? ae_fleet_tenant_find(f, c->tenant) : f->tenants;
            if (!tn) {
                char names[512] = "";
                for (size_t i = 0; i < f->n_tenants; i++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                             i ? ", " : "", f->tenants[i].name);
                return ae_err_set(err, AE_EINVAL, "no tenant %s in %s/fleet.json (it has: %s)",
                                  c->tenant, c->dir, names);
            }
            /* The tenant's operator, unless a login was given. */
            if (!c->user && tn->op_user) {
                c->user = tn->op_user;
                c->password = tn->op_password;
            }
            c->tenant = tn->name;
            keep_tenant_vehicles(f, tn->name);
        }
    }
    if (c->tenant && (!c->fleet || !c->fleet->n_tenants || c->server))
        return ae_err_set(err, AE_EINVAL,
                          "--tenant picks a tenant's login from a fleet directory's fleet.json "
                          "(--dir); with --server give that tenant's --user and --password");
    return 0;
}

int ae_cli_connect(ae_cli *c, ae_err *err)
{
    int rc;
    if (c->nc)
        return 0;
    if ((rc = ae_cli_load_fleet(c, err)) != 0)
        return rc;
    if (!c->env)
        c->env = c->fleet ? c->fleet->env : "prod";
    if (!c->js_domain && c->fleet && c->fleet->js_domain && !c->server)
        c->js_domain = c->fleet->js_domain;
    if (c->js_domain)
        snprintf(c->api_prefix, sizeof c->api_prefix, "$JS.%s.API", c->js_domain);

    /* The list of URLs: --server (comma-separated) wins over the fleet state. */
    const char *urls[16];
    int nurls = 0;
    char *split = NULL;
    if (c->server) {
        split = strdup(c->server);
        for (char *save = NULL, *t = strtok_r(split, ",", &save); t && nurls < 16;
             t = strtok_r(NULL, ",", &save))
            if (*t)
                urls[nurls++] = t;
    } else if (c->fleet) {
        for (size_t i = 0; i < c->fleet->n_hub_urls && nurls < 16; i++)
            urls[nurls++] = c->fleet->hub_urls[i];
    }
    /* A login given (or a tenant's) must not lose to one written into the URLs: libnats
     * prefers the URL's. */
    char *plain[16];
    int nplain = 0;
    for (int i = 0; c->user && i < nurls; i++)
        if ((plain[nplain] = ae_cli_url_without_userinfo(urls[i])))
            urls[i] = plain[nplain++];
    if (nurls == 0) {
        free(split);
        return ae_err_set(err, AE_EINVAL,
                          "no hub to talk to: give --dir DIR (a fleet started with `aerie up`), "
                          "set AERIE_DIR, or give --server nats://user:pass@host:port");
    }
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, urls, nurls);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "aerie-cli");
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, 5);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 200);
    if (s == NATS_OK && c->user)
        s = natsOptions_SetUserInfo(o, c->user, c->password ? c->password : "");
    if (s == NATS_OK)
        s = natsConnection_Connect(&c->nc, o);
    natsOptions_Destroy(o);
    char shown[256];
    redact_url(urls[0], shown, sizeof shown);
    for (int i = 0; i < nplain; i++)
        free(plain[i]);
    if (s != NATS_OK) {
        rc = ae_err_set(
            err, s == NATS_NOT_PERMITTED || s == NATS_CONNECTION_AUTH_FAILED ? AE_EAUTH : AE_EIO,
            "cannot connect to the hub at %s%s: %s (%s); is the fleet running and "
            "are the URL and credentials right?",
            shown, nurls > 1 ? " (and the other URLs)" : "", natsStatus_GetText(s),
            nats_GetLastError(NULL));
        free(split);
        c->nc = NULL;
        return rc;
    }
    free(split);
    return 0;
}

static int64_t timeout_ms(const ae_cli *c)
{
    int64_t ms = c->timeout_ns / AE_NS_PER_MS;
    return ms > 0 ? ms : 1;
}

int ae_cli_api(ae_cli *c, const char *api, const char *body, json_t **out, ae_err *err)
{
    return ae_cli_api_at(c, c->api_prefix, api, body, out, err);
}

/* JetStream's answer while its meta leader is being elected (a node or region just went
 * away): the same request succeeds a moment later. */
#define JS_TEMPORARILY_UNAVAILABLE 10008

/* One JetStream API request and its reply; returns the JetStream err_code it answered
 * with (0 for none) in *js_code. */
static int api_once(ae_cli *c, const char *subj, const char *api, const char *body, json_t **out,
                    int *js_code, ae_err *err)
{
    *js_code = 0;
    natsMsg *reply = NULL;
    c->req_api++;
    natsStatus s = natsConnection_Request(&reply, c->nc, subj, body ? body : "",
                                          body ? (int)strlen(body) : 0, timeout_ms(c));
    if (s == NATS_TIMEOUT)
        return ae_err_set(err, AE_ETIMEOUT,
                          "JetStream did not answer %s in time: is JetStream enabled on the hub "
                          "(and is --js-domain right when going through a leaf)?",
                          subj);
    if (s == NATS_NO_RESPONDERS)
        return ae_err_set(err, AE_EIO,
                          "nobody answers %s: the hub has no JetStream (or a different domain)",
                          subj);
    if (s != NATS_OK)
        return ae_err_set(err, AE_EIO, "request %s failed: %s", subj, natsStatus_GetText(s));
    json_error_t je;
    json_t *j = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, &je);
    natsMsg_Destroy(reply);
    if (!json_is_object(j)) {
        json_decref(j);
        return ae_err_set(err, AE_EPROTO, "%s: the reply is not a JSON object", subj);
    }
    json_t *e = json_object_get(j, "error");
    if (e) {
        int code = (int)json_integer_value(json_object_get(e, "err_code"));
        const char *d = json_string_value(json_object_get(e, "description"));
        int rc = (code == 10059 || code == 10037 || code == 10014) ? AE_ENOENT : AE_EPROTO;
        ae_err_set(err, rc, "%s: %s (err_code %d)", api, d ? d : "error", code);
        *js_code = code;
        json_decref(j);
        return rc;
    }
    *out = j;
    return 0;
}

int ae_cli_api_at(ae_cli *c, const char *prefix, const char *api, const char *body, json_t **out,
                  ae_err *err)
{
    char subj[512];
    snprintf(subj, sizeof subj, "%s.%s", prefix, api);
    /* "Temporarily unavailable" is retried, backing off from 100 ms to 1 s, within the
     * command's own timeout: a reader should not fail because a hub node restarted. Still
     * unavailable at the end is a timeout, like a request nobody answered (callers treat
     * both alike: replay falls back to direct gets). */
    int64_t deadline = ae_mono_ns() + c->timeout_ns;
    int wait_ms = 100, tries = 0;
    for (;;) {
        int code = 0;
        int rc = api_once(c, subj, api, body, out, &code, err);
        tries++;
        if (code != JS_TEMPORARILY_UNAVAILABLE)
            return rc;
        if (ae_mono_ns() + (int64_t)wait_ms * AE_NS_PER_MS >= deadline)
            return ae_err_set(err, AE_ETIMEOUT,
                              "%s: JetStream stayed temporarily unavailable (err_code %d) through "
                              "%d tries in %lld ms: its meta leader is being elected, or the hub "
                              "has lost its quorum; try again, or give a longer --timeout",
                              api, JS_TEMPORARILY_UNAVAILABLE, tries,
                              (long long)(c->timeout_ns / AE_NS_PER_MS));
        ae_sleep_ms(wait_ms);
        wait_ms = wait_ms * 2 > 1000 ? 1000 : wait_ms * 2;
    }
}

int ae_cli_direct_get(ae_cli *c, const char *stream, uint64_t seq, const char *next_by_subj,
                      const char *last_by_subj, natsMsg **out, ae_err *err)
{
    ae_read_src src = {.home = true};
    snprintf(src.api, sizeof src.api, "%s", c->api_prefix);
    snprintf(src.stream, sizeof src.stream, "%s", stream);
    return ae_cli_direct_get_at(c, &src, seq, next_by_subj, last_by_subj, out, err);
}

int ae_cli_direct_get_at(ae_cli *c, const ae_read_src *src, uint64_t seq, const char *next_by_subj,
                         const char *last_by_subj, natsMsg **out, ae_err *err)
{
    const char *stream = src->stream;
    char subj[sizeof src->api + sizeof src->stream + 16];
    snprintf(subj, sizeof subj, "%s.DIRECT.GET.%s", src->api, stream);
    json_t *req = json_object();
    if (last_by_subj) {
        json_object_set_new(req, "last_by_subj", json_string(last_by_subj));
    } else {
        json_object_set_new(req, "seq", json_integer((json_int_t)seq));
        if (next_by_subj)
            json_object_set_new(req, "next_by_subj", json_string(next_by_subj));
    }
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return ae_err_set(err, AE_ENOMEM, "out of memory building a direct get");
    natsMsg *reply = NULL;
    c->req_direct++;
    natsStatus s =
        natsConnection_Request(&reply, c->nc, subj, body, (int)strlen(body), timeout_ms(c));
    free(body);
    if (s == NATS_TIMEOUT)
        return ae_err_set(err, AE_ETIMEOUT, "direct get on %s timed out", stream);
    if (s == NATS_NO_RESPONDERS)
        return ae_err_set(err, AE_ENOENT,
                          "stream %s does not answer direct gets: it does not exist or lacks "
                          "allow_direct; run `aerie hub init`",
                          stream);
    if (s != NATS_OK)
        return ae_err_set(err, AE_EIO, "direct get on %s failed: %s", stream,
                          natsStatus_GetText(s));
    const char *status = NULL;
    if (natsMsgHeader_Get(reply, "Status", &status) == NATS_OK && status && *status) {
        const char *desc = NULL;
        natsMsgHeader_Get(reply, "Description", &desc);
        int rc = strcmp(status, "404") == 0 ? AE_ENOENT : AE_EPROTO;
        ae_err_set(err, rc, "direct get on %s: %s %s", stream, status, desc ? desc : "");
        natsMsg_Destroy(reply);
        return rc;
    }
    *out = reply;
    return 0;
}

const char *ae_cli_msg_id(natsMsg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, AE_HDR_MSG_ID, &v) != NATS_OK || !v || !*v)
        return NULL;
    return v;
}

uint64_t ae_cli_msg_seq(natsMsg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, "Nats-Sequence", &v) != NATS_OK || !v)
        return 0;
    return strtoull(v, NULL, 10);
}

int64_t ae_cli_msg_stored_ns(natsMsg *m)
{
    const char *v = NULL;
    int64_t ns = 0;
    if (natsMsgHeader_Get(m, "Nats-Time-Stamp", &v) != NATS_OK || !v ||
        ae_parse_rfc3339(v, &ns) != 0)
        return 0;
    return ns;
}

int64_t ae_cli_msg_event_ns(natsMsg *m)
{
    const char *v = NULL;
    int64_t ns = 0;
    if (natsMsgHeader_Get(m, AE_HDR_EVENT_TIME, &v) == NATS_OK && v &&
        ae_parse_rfc3339(v, &ns) == 0)
        return ns;
    return ae_cli_msg_stored_ns(m);
}

int ae_cli_stream_subjects(ae_cli *c, const char *stream, const char *filter, char ***subjects,
                           int *n, uint64_t *first_seq, uint64_t *last_seq, ae_err *err)
{
    ae_read_src src = {.home = true};
    snprintf(src.api, sizeof src.api, "%s", c->api_prefix);
    snprintf(src.stream, sizeof src.stream, "%s", stream);
    return ae_cli_stream_subjects_at(c, &src, filter, subjects, n, first_seq, last_seq, err);
}

int ae_cli_stream_subjects_at(ae_cli *c, const ae_read_src *src, const char *filter,
                              char ***subjects, int *n, uint64_t *first_seq, uint64_t *last_seq,
                              ae_err *err)
{
    char api[256];
    snprintf(api, sizeof api, "STREAM.INFO.%s", src->stream);
    char **list = NULL;
    int cnt = 0, cap = 0;
    long offset = 0;
    int rc = 0;
    /* The server pages long subject lists; keep asking until it has given all of them. */
    for (;;) {
        json_t *req =
            json_pack("{s:s, s:I}", "subjects_filter", filter, "offset", (json_int_t)offset);
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        json_t *info = NULL;
        rc = ae_cli_api_at(c, src->api, api, body, &info, err);
        free(body);
        if (rc)
            goto fail;
        json_t *state = json_object_get(info, "state");
        if (first_seq)
            *first_seq = (uint64_t)json_integer_value(json_object_get(state, "first_seq"));
        if (last_seq)
            *last_seq = (uint64_t)json_integer_value(json_object_get(state, "last_seq"));
        json_t *subs = json_object_get(state, "subjects");
        const char *key;
        json_t *val;
        size_t got = 0;
        json_object_foreach(subs, key, val)
        {
            (void)val;
            if (cnt == cap) {
                cap = cap ? cap * 2 : 16;
                char **nl = realloc(list, (size_t)cap * sizeof *nl);
                if (!nl) {
                    json_decref(info);
                    rc = ae_err_set(err, AE_ENOMEM, "out of memory listing subjects");
                    goto fail;
                }
                list = nl;
            }
            list[cnt++] = strdup(key);
            got++;
        }
        long total = (long)json_integer_value(json_object_get(info, "total"));
        json_decref(info);
        offset += (long)got;
        if (got == 0 || offset >= total)
            break;
    }
    *subjects = list;
    *n = cnt;
    return 0;
fail:
    for (int i = 0; i < cnt; i++)
        free(list[i]);
    free(list);
    return rc;
}

json_t *ae_cli_payload_json(const char *data, int len)
{
    if (len > 0 && data) {
        json_t *j = json_loadb(data, (size_t)len, JSON_DECODE_ANY, NULL);
        if (j)
            return j;
    }
    json_t *str = json_stringn(data ? data : "", data ? (size_t)len : 0);
    if (str)
        return str;
    /* Not UTF-8 (binary payload): keep the ASCII bytes and mark the rest, so that the output
     * stays valid JSON and still shows what it can. */
    char *copy = malloc((size_t)len + 1);
    if (!copy)
        return NULL;
    for (int i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)data[i];
        copy[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    copy[len] = 0;
    str = json_string(copy);
    free(copy);
    return str;
}

void ae_cli_print_stats(const ae_cli *c, const char *what)
{
    if (c->stats)
        fprintf(stderr, "%s stats: direct_get=%ld api=%ld\n", what, c->req_direct, c->req_api);
}

/* ---- read sources -------------------------------------------------------------------- */

static void set_src(ae_read_src *s, const char *domain_or_prefix, bool is_prefix, const char *base,
                    const char *suffix, bool home)
{
    if (is_prefix)
        snprintf(s->api, sizeof s->api, "%s", domain_or_prefix);
    else
        snprintf(s->api, sizeof s->api, "$JS.%s.API", domain_or_prefix);
    snprintf(s->stream, sizeof s->stream, "%s%s", base, suffix);
    s->home = home;
}

int ae_cli_read_sources(const ae_cli *c, const char *base, ae_read_src *out, int max)
{
    const ae_fleet *f = c->server ? NULL : c->fleet;
    int n = 0;
    if (max <= 0)
        return 0;
    if (c->global) {
        bool has_copy = strcmp(base, AE_STREAM_LIVE) != 0 && strcmp(base, AE_STREAM_CMD) != 0;
        if (f && f->global_domain) {
            if (has_copy)
                set_src(&out[n++], f->global_domain, false, base, AE_STREAM_ALL_SUFFIX, true);
        } else if (!f) {
            if (has_copy)
                set_src(&out[n++], c->api_prefix, true, base, AE_STREAM_ALL_SUFFIX, true);
        } else {
            /* One domain for every region (or a local fleet): the streams are fleet-wide. */
            set_src(&out[n++], c->api_prefix, true, base, "", true);
        }
        return n;
    }
    set_src(&out[n++], c->api_prefix, true, base, "", true);
    for (size_t i = 0; f && i < f->n_fallback_domains && n < max; i++) {
        /* A fallback in the same domain reads the same stream: nothing to add. */
        if (c->js_domain && strcmp(f->fallback_domains[i], c->js_domain) == 0)
            continue;
        set_src(&out[n++], f->fallback_domains[i], false, base, "", false);
    }
    return n;
}

void ae_cli_note_unreachable(ae_cli *c, const ae_read_src *src, const char *why)
{
    if (c->note[0])
        return;
    snprintf(c->note, sizeof c->note,
             "%.60s through %.60s did not answer (%.120s); what is stored there is not shown",
             src->stream, src->api, why);
}

void ae_cli_print_note(const ae_cli *c, const char *what)
{
    if (c->note[0])
        fprintf(stderr, "aerie %s: note: %s\n", what, c->note);
}
