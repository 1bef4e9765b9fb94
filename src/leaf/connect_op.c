/* The CONNECT op (connect_op.h): the client's options, decoded as nats-server decodes them
 * (typed fields: a wrong type closes the connection without an -ERR), then who it is
 * (auth.c) and what it may do (perms.c). */
#include "leaf/connect_op.h"
#include "common/log.h"
#include "leaf/auth.h"
#include "leaf/perms.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static bool json_flag(json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    return v && json_is_boolean(v) ? json_is_true(v) : dflt;
}

static char *json_dup_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* nats-server decodes CONNECT into typed fields: a value of the wrong type for a known field
 * fails the decoding, and the connection is closed without an -ERR. null is fine. */
static bool connect_types_ok(json_t *o)
{
    static const char *bools[] = {"verbose", "pedantic",      "tls_required", "echo",
                                  "headers", "no_responders", "new_account"};
    static const char *strs[] = {"user",    "pass", "auth_token", "name", "lang",
                                 "version", "nkey", "sig",        "jwt",  "account"};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        json_t *v = json_object_get(o, bools[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v))
            return false;
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        json_t *v = json_object_get(o, strs[i]);
        if (v && !json_is_null(v) && !json_is_string(v))
            return false;
    }
    json_t *v = json_object_get(o, "protocol");
    return !v || json_is_null(v) || json_is_integer(v);
}

void ae_client_connect_op(ae_client *c, const ae_op *op)
{
    ae_server *s = c->srv;
    json_error_t jerr;
    json_t *o = json_loadb(op->arg.ptr, op->arg.len, 0, &jerr);
    if (!o || !json_is_object(o) || !connect_types_ok(o)) {
        ae_log_debug("%s:%d - cid:%llu - bad CONNECT JSON: %s", c->ip, c->port,
                     (unsigned long long)c->cid, !o ? jerr.text : "wrong types");
        json_decref(o);
        ae_client_close(c, NULL, "Protocol Violation");
        return;
    }
    c->verbose = json_flag(o, "verbose", true);
    c->pedantic = json_flag(o, "pedantic", true);
    c->echo = json_flag(o, "echo", true);
    c->headers = json_flag(o, "headers", false);
    c->no_responders = json_flag(o, "no_responders", false);
    json_t *proto = json_object_get(o, "protocol");
    /* Compared as 64-bit, as nats-server's int: 4294967297 is out of range, not 1. */
    json_int_t protocol = json_is_integer(proto) ? json_integer_value(proto) : 0;
    free(c->name);
    free(c->lang);
    free(c->version);
    c->name = json_dup_str(o, "name");
    c->lang = json_dup_str(o, "lang");
    c->version = json_dup_str(o, "version");

    const ae_user *user = NULL;
    if (!ae_auth_check(&s->opts, o, c->tls, &user)) {
        json_decref(o);
        ae_log_warn("%s:%d - cid:%llu - authentication error", c->ip, c->port,
                    (unsigned long long)c->cid);
        ae_client_close(c, "Authorization Violation", "Authentication Failure");
        return;
    }
    json_decref(o);
    free(c->user);
    c->user = user ? strdup(user->user) : (s->opts.user ? strdup(s->opts.user) : NULL);
    ae_perms_free(c->perms);
    c->perms = NULL;
    if (user && user->perms && !(c->perms = ae_perms_new(user->perms))) {
        ae_client_drop(c, "Out of Memory");
        return;
    }
    if (protocol < 0 || protocol > 1) {
        ae_client_close(c, "invalid client protocol", "Bad Client Protocol Version");
        return;
    }
    c->protocol = (int)protocol;
    if (c->no_responders && !c->headers) {
        ae_client_close(c, "no responders requires headers support",
                        "No Responders Requires Headers");
        return;
    }
    c->connected = true;
    ae_client_send_ok(c);
}
