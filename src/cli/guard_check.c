/* The guard's checks; see guard_check.h. */
#include "cli/guard_check.h"
#include "cli/accounts.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the subject ------------------------------------------------------------------------ */

#define MAX_TOKENS 32

/* Splits s (copied into buf) at dots; every token must be non-empty. Returns the count or
 * -1. */
static int tokens(const char *s, char *buf, size_t cap, char **tok)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(buf, s, n + 1);
    int k = 0;
    for (char *p = buf;;) {
        if (k == MAX_TOKENS)
            return -1;
        tok[k++] = p;
        char *dot = strchr(p, '.');
        if (!dot)
            break;
        *dot = 0;
        p = dot + 1;
    }
    for (int i = 0; i < k; i++)
        if (!*tok[i])
            return -1;
    return k;
}

/* A literal subject token: no wildcard, no white space or control character. */
static bool literal_token(const char *t)
{
    if (strcmp(t, "*") == 0 || strcmp(t, ">") == 0)
        return false;
    for (; *t; t++)
        if ((unsigned char)*t <= ' ' || *t == 0x7f)
            return false;
    return true;
}

static int refuse(ae_err *err, const char *fmt, const char *a)
{
    return ae_err_set(err, AE_EAUTH, fmt, a);
}

/* The filter tokens tok[from..n-1] joined: one literal subject of this vehicle's. */
static int check_filter(const char *env, const char *vid, char **tok, int from, int n, char *out,
                        size_t cap, ae_err *err)
{
    size_t used = 0;
    out[0] = 0;
    for (int i = from; i < n; i++) {
        if (!literal_token(tok[i]))
            return refuse(err, "aerie guard: the filter must be one literal subject (%s)", tok[i]);
        int w = snprintf(out + used, cap - used, "%s%s", i > from ? "." : "", tok[i]);
        if (w < 0 || (size_t)w >= cap - used)
            return ae_err_set(err, AE_EINVAL, "aerie guard: subject too long");
        used += (size_t)w;
    }
    char prefix[2 * AE_IDENT_MAX + 24];
    snprintf(prefix, sizeof prefix, "fleet.%s.veh.%s.", env, vid);
    if (strncmp(out, prefix, strlen(prefix)) != 0 || strlen(out) == strlen(prefix))
        return refuse(err, "aerie guard: %s is not one of the vehicle's own subjects", out);
    return 0;
}

/* ---- the bodies ------------------------------------------------------------------------- */

static bool one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

/* The consumer config a walk sends, and nothing that delivers anywhere but to the puller. */
static int check_consumer_config(json_t *cfg, const char *name, const char *filter, ae_err *err)
{
    static const char *const deliver[] = {
        "all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject", NULL};
    static const char *const ints[] = {"opt_start_seq",      "max_deliver", "max_batch",
                                       "max_expires",        "max_waiting", "num_replicas",
                                       "inactive_threshold", NULL};
    static const char *const bools[] = {"headers_only", "mem_storage", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(cfg, key, v)
    {
        if (strcmp(key, "name") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), name) != 0)
                return refuse(err, "aerie guard: config.name must be the consumer name %s", name);
        } else if (strcmp(key, "filter_subject") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), filter) != 0)
                return refuse(err, "aerie guard: config.filter_subject must be %s", filter);
        } else if (strcmp(key, "deliver_policy") == 0) {
            if (!one_of(json_string_value(v), deliver))
                return refuse(err, "aerie guard: config.deliver_policy %s is not allowed",
                              json_string_value(v) ? json_string_value(v) : "?");
        } else if (strcmp(key, "ack_policy") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), "none") != 0)
                return refuse(err, "aerie guard: config.ack_policy must be %s", "none");
        } else if (strcmp(key, "replay_policy") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), "instant") != 0)
                return refuse(err, "aerie guard: config.replay_policy must be %s", "instant");
        } else if (strcmp(key, "opt_start_time") == 0) {
            if (!json_is_string(v))
                return refuse(err, "aerie guard: config.%s must be a time", key);
        } else if (one_of(key, ints)) {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return refuse(err, "aerie guard: config.%s must be a whole number", key);
            /* An abandoned consumer goes away within a minute; the walk's live 2 s. */
            if (strcmp(key, "inactive_threshold") == 0 &&
                (json_integer_value(v) == 0 || json_integer_value(v) > 60000000000LL))
                return refuse(err, "aerie guard: config.%s must be 1 ns .. 60 s", key);
            if (strcmp(key, "num_replicas") == 0 && json_integer_value(v) > 1)
                return refuse(err, "aerie guard: config.%s must be 0 or 1", key);
        } else if (one_of(key, bools)) {
            if (!json_is_boolean(v))
                return refuse(err, "aerie guard: config.%s must be true or false", key);
        } else {
            /* deliver_subject, deliver_group, durable_name, flow_control, idle_heartbeat,
             * direct, ... and anything a later server adds. */
            return refuse(err, "aerie guard: config.%s is not allowed for a vehicle", key);
        }
    }
    if (!json_is_string(json_object_get(cfg, "filter_subject")))
        return refuse(err, "aerie guard: config.filter_subject must be %s", filter);
    return 0;
}

static int check_create(json_t *body, const char *stream, const char *name, const char *filter,
                        ae_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "stream_name") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), stream) != 0)
                return refuse(err, "aerie guard: stream_name must be %s", stream);
        } else if (strcmp(key, "config") != 0) {
            return refuse(err, "aerie guard: %s is not allowed in a consumer create", key);
        }
    }
    json_t *cfg = json_object_get(body, "config");
    if (!json_is_object(cfg))
        return refuse(err, "aerie guard: a consumer create needs a %s object", "config");
    return check_consumer_config(cfg, name, filter, err);
}

static int check_delete(json_t *body, uint64_t *seq, ae_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "seq") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return refuse(err, "aerie guard: %s must be a stream sequence", "seq");
            *seq = (uint64_t)json_integer_value(v);
        } else if (strcmp(key, "no_erase") == 0) {
            if (!json_is_boolean(v))
                return refuse(err, "aerie guard: %s must be true or false", "no_erase");
        } else {
            return refuse(err, "aerie guard: %s is not allowed in a delete", key);
        }
    }
    if (*seq == 0)
        return refuse(err, "aerie guard: a delete needs its %s", "seq");
    return 0;
}

/* ---- parsing a request ------------------------------------------------------------------ */

int ae_guard_parse(const char *env, const char *subject, const char *body, size_t body_len,
                   ae_guard_req *out, ae_err *err)
{
    memset(out, 0, sizeof *out);
    char buf[AE_GUARD_SUBJECT_MAX], filter[AE_GUARD_SUBJECT_MAX];
    char *tok[MAX_TOKENS];
    int n = subject ? tokens(subject, buf, sizeof buf, tok) : -1;
    if (n < 8 || strcmp(tok[0], "aerie") != 0 || strcmp(tok[1], "guard") != 0 ||
        !ae_ident_valid(tok[2]) || (strcmp(tok[3], AE_GUARD_LOCAL) != 0 && !ae_ident_valid(tok[3])))
        return ae_err_set(err, AE_EINVAL, "aerie guard: not a guard subject");
    snprintf(out->vid, sizeof out->vid, "%s", tok[2]);
    if (strcmp(tok[3], AE_GUARD_LOCAL) != 0)
        snprintf(out->domain, sizeof out->domain, "%s", tok[3]);
    char prefix[AE_IDENT_MAX + 16];
    if (out->domain[0])
        snprintf(prefix, sizeof prefix, "$JS.%s.API", out->domain);
    else
        snprintf(prefix, sizeof prefix, "$JS.API");
    bool create = n >= 9 && strcmp(tok[4], "CONSUMER") == 0 && strcmp(tok[5], "CREATE") == 0;
    bool del = n == 8 && strcmp(tok[4], "STREAM") == 0 && strcmp(tok[5], "MSG") == 0 &&
               strcmp(tok[6], "DELETE") == 0;
    if (!create && !del)
        return ae_err_set(err, AE_EINVAL, "aerie guard: not a consumer create or a delete");
    const char *stream = create ? tok[6] : tok[7];
    if (!ae_ident_valid(stream))
        return ae_err_set(err, AE_EINVAL, "aerie guard: bad stream name");
    snprintf(out->stream, sizeof out->stream, "%s", stream);
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (!json_is_object(j)) {
        rc = ae_err_set(err, AE_EINVAL, "aerie guard: the request is not a JSON object");
    } else if (create) {
        out->kind = AE_GUARD_CREATE;
        const char *name = tok[7];
        if (!ae_ident_valid(name))
            rc = ae_err_set(err, AE_EINVAL, "aerie guard: bad consumer name");
        if (!rc)
            rc = check_filter(env, out->vid, tok, 8, n, filter, sizeof filter, err);
        if (!rc)
            rc = check_create(j, stream, name, filter, err);
        if (!rc) {
            int w = snprintf(out->api, sizeof out->api, "%s.CONSUMER.CREATE.%s.%s.%s", prefix,
                             stream, name, filter);
            if (w < 0 || (size_t)w >= sizeof out->api)
                rc = ae_err_set(err, AE_EINVAL, "aerie guard: the request subject is too long");
        }
    } else {
        out->kind = AE_GUARD_DELETE;
        rc = check_delete(j, &out->seq, err);
        if (!rc)
            snprintf(out->api, sizeof out->api, "%s.STREAM.MSG.DELETE.%s", prefix, stream);
    }
    json_decref(j);
    return rc;
}

void ae_guard_get_request(const ae_guard_req *r, char *api, size_t api_cap, char *buf, size_t cap)
{
    if (r->domain[0])
        snprintf(api, api_cap, "$JS.%s.API.STREAM.MSG.GET.%s", r->domain, r->stream);
    else
        snprintf(api, api_cap, "$JS.API.STREAM.MSG.GET.%s", r->stream);
    snprintf(buf, cap, "{\"seq\":%llu}", (unsigned long long)r->seq);
}

/* ---- the owner of a stored message ------------------------------------------------------ */

/* The Nats-Msg-Id of a header block (decoded), into out; false when there is none. */
static bool msg_id(const unsigned char *h, size_t n, char *out, size_t cap)
{
    static const char key[] = "Nats-Msg-Id:";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl <= n; i++) {
        if ((i == 0 || h[i - 1] == '\n') && strncasecmp((const char *)h + i, key, kl) == 0) {
            size_t s = i + kl;
            while (s < n && (h[s] == ' ' || h[s] == '\t'))
                s++;
            size_t e = s;
            while (e < n && h[e] != '\r' && h[e] != '\n')
                e++;
            if (e - s >= cap)
                return false;
            memcpy(out, h + s, e - s);
            out[e - s] = 0;
            return true;
        }
    }
    return false;
}

int ae_guard_check_owner(const char *env, const char *vid, const char *reply, size_t len,
                         ae_err *err)
{
    json_t *j = json_loadb(reply, len, 0, NULL);
    json_t *e = json_object_get(j, "error"), *m = json_object_get(j, "message");
    int rc = 0;
    if (e) {
        json_t *ec = json_object_get(e, "err_code");
        const char *desc = json_string_value(json_object_get(e, "description"));
        rc = json_integer_value(ec) == 10037
                 ? ae_err_set(err, AE_ENOENT, "no message found")
                 : ae_err_set(err, AE_EPROTO, "the stream answered: %s",
                              desc && desc[0] ? desc : "an error without a description");
        json_decref(j);
        return rc;
    }
    const char *subj = json_string_value(json_object_get(m, "subject"));
    const char *hdrs = json_string_value(json_object_get(m, "hdrs"));
    if (!subj) {
        json_decref(j);
        return ae_err_set(err, AE_EPROTO, "aerie guard: unreadable answer of the stream");
    }
    char prefix[2 * AE_IDENT_MAX + 24];
    snprintf(prefix, sizeof prefix, "fleet.%s.veh.%s.", env, vid);
    if (strncmp(subj, prefix, strlen(prefix)) != 0) {
        rc = refuse(err, "aerie guard: that message is on %s, not one of the vehicle's subjects",
                    subj);
        json_decref(j);
        return rc;
    }
    /* The headers are base64; the id of a forwarded record is <vid>.<epoch>.<seq>... */
    size_t hl = hdrs ? strlen(hdrs) : 0;
    unsigned char *dec = hl ? malloc(hl + 4) : NULL;
    int dn = dec && hl % 4 == 0 ? EVP_DecodeBlock(dec, (const unsigned char *)hdrs, (int)hl) : -1;
    char id[256];
    size_t vl = strlen(vid);
    if (dn < 0 || !msg_id(dec, (size_t)dn, id, sizeof id) || strncmp(id, vid, vl) != 0 ||
        id[vl] != '.')
        rc = refuse(err, "aerie guard: that message carries no id of the vehicle's (%s)",
                    dn < 0 ? "no headers" : "Nats-Msg-Id");
    free(dec);
    json_decref(j);
    return rc;
}

char *ae_guard_error_reply(ae_guard_kind kind, int code, int err_code, const char *desc)
{
    json_t *o = json_pack(
        "{s:s, s:{s:i, s:i, s:s}}", "type",
        kind == AE_GUARD_CREATE ? "io.nats.jetstream.api.v1.consumer_create_response"
                                : "io.nats.jetstream.api.v1.stream_msg_delete_response",
        "error", "code", code, "err_code", err_code, "description", desc ? desc : "refused");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
