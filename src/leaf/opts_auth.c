/* The client port's security options from the config file: `authorization { }` (token,
 * user/password, users with permissions, default permissions, timeout) and `tls { }`, with
 * nats-server's keys, forms and error texts; see opts_auth.h. */
#include "leaf/opts_auth.h"
#include "leaf/opts_read.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- permissions ------------------------------------------------------------------------ */

/* A subject or a list of subjects ("subject" or "subject queue"), each checked. */
static int load_subjects(const ae_conf_node *n, char ***out, int *count, ae_err *err)
{
    if (n->type != AE_CONF_STRING && n->type != AE_CONF_ARRAY)
        return ae_opt_bad(err, n,
                          "expected subject permissions to be a subject, or array of subjects");
    int rc = ae_opt_strv(n, out, count, err);
    for (int i = 0; rc == 0 && i < *count; i++) {
        ae_err e = {0};
        if (ae_perm_check_entry((*out)[i], &e) != 0)
            rc = ae_opt_bad(err, n, e.msg);
    }
    return rc;
}

/* `publish` or `subscribe`: a subject, a list (the allow list), or { allow, deny }. */
static int load_rules(const ae_conf_node *n, ae_perm_rules *r, ae_err *err)
{
    if (n->type != AE_CONF_MAP) {
        r->allow_set = true;
        return load_subjects(n, &r->allow, &r->nallow, err);
    }
    int rc = 0;
    for (const ae_conf_node *f = n->child; f && rc == 0; f = f->next) {
        if (ae_opt_key_is(f, "allow")) {
            r->allow_set = true;
            rc = load_subjects(f, &r->allow, &r->nallow, err);
        } else if (ae_opt_key_is(f, "deny")) {
            rc = load_subjects(f, &r->deny, &r->ndeny, err);
        } else {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "Unknown field name \"%s\" parsing subject permissions, only 'allow' or "
                     "'deny' are permitted",
                     f->key);
            rc = ae_opt_bad(err, f, msg);
        }
    }
    return rc;
}

/* allow_responses: true, or { max, expires }. */
static int load_responses(const ae_conf_node *n, ae_perms_conf *p, ae_err *err)
{
    if (n->type == AE_CONF_BOOL) {
        p->responses = n->b;
        return 0;
    }
    if (n->type != AE_CONF_MAP)
        return ae_opt_bad(err, n,
                          "error parsing response permissions, expected a boolean or a map");
    p->responses = true;
    int rc = 0;
    for (const ae_conf_node *f = n->child; f && rc == 0; f = f->next) {
        int64_t v = 0;
        if (ae_opt_key_is(f, "max") || ae_opt_key_is(f, "max_msgs") ||
            ae_opt_key_is(f, "max_messages") || ae_opt_key_is(f, "max_responses")) {
            rc = ae_opt_int(f, INT32_MIN, INT32_MAX, &v, err);
            if (rc == 0 && v != 0) /* 0 keeps the default, a negative value is unlimited */
                p->resp_max = v;
        } else if (ae_opt_key_is(f, "expires") || ae_opt_key_is(f, "expiration") ||
                   ae_opt_key_is(f, "ttl")) {
            if (f->type != AE_CONF_STRING)
                return ae_opt_bad(err, f, "error parsing expires, not a duration string");
            bool neg = f->str[0] == '-';
            char *d = f->str + (neg ? 1 : 0);
            if (ae_parse_duration(d, &v) != 0)
                return ae_opt_bad(err, f, "error parsing expires: expected a duration like \"1m\"");
            if (v != 0)
                p->resp_ttl_ns = neg ? -v : v;
        } else {
            char msg[96];
            snprintf(msg, sizeof msg, "Unknown field \"%s\" parsing permissions", f->key);
            rc = ae_opt_bad(err, f, msg);
        }
    }
    return rc;
}

/* A permissions map: publish, subscribe, allow_responses. */
static int load_permissions(const ae_conf_node *n, ae_perms_conf **out, ae_err *err)
{
    if (n->type != AE_CONF_MAP)
        return ae_opt_bad(err, n, "expected permissions to be a map { publish, subscribe }");
    ae_perms_conf *p = calloc(1, sizeof *p);
    if (!p)
        return AE_ENOMEM;
    p->resp_max = 1;                        /* nats-server DEFAULT_ALLOW_RESPONSE_MAX_MSGS */
    p->resp_ttl_ns = 2 * 60 * 1000000000LL; /* DEFAULT_ALLOW_RESPONSE_EXPIRATION */
    int rc = 0;
    for (const ae_conf_node *f = n->child; f && rc == 0; f = f->next) {
        if (ae_opt_key_is(f, "pub") || ae_opt_key_is(f, "publish") || ae_opt_key_is(f, "import"))
            rc = load_rules(f, &p->pub, err);
        else if (ae_opt_key_is(f, "sub") || ae_opt_key_is(f, "subscribe") ||
                 ae_opt_key_is(f, "export"))
            rc = load_rules(f, &p->sub, err);
        else if (ae_opt_key_is(f, "allow_responses") || ae_opt_key_is(f, "publish_allow_responses"))
            rc = load_responses(f, p, err);
        else {
            char msg[96];
            snprintf(msg, sizeof msg, "Unknown field \"%s\" parsing permissions", f->key);
            rc = ae_opt_bad(err, f, msg);
        }
    }
    /* Responses without publish rules turn off the blanket allow, as in nats-server. */
    if (rc == 0 && p->responses)
        p->pub.allow_set = true;
    if (rc) {
        ae_perms_conf_free(p);
        return rc;
    }
    ae_perms_conf_free(*out);
    *out = p;
    return 0;
}

/* ---- users --------------------------------------------------------------------------------- */

static void free_users(ae_user *u, int n)
{
    for (int j = 0; j < n; j++) {
        free(u[j].user);
        free(u[j].password);
        ae_perms_conf_free(u[j].perms);
    }
    free(u);
}

/* allowed_connection_types: a user the client port must refuse unless STANDARD is listed. */
static int load_conn_types(const ae_conf_node *n, ae_user *u, ae_err *err)
{
    char **types = NULL;
    int nt = 0;
    int rc = ae_opt_strv(n, &types, &nt, err);
    bool standard = false;
    for (int i = 0; rc == 0 && i < nt; i++) {
        if (!strcasecmp(types[i], "STANDARD"))
            standard = true;
        else if (strcasecmp(types[i], "WEBSOCKET") && strcasecmp(types[i], "LEAFNODE") &&
                 strcasecmp(types[i], "MQTT"))
            rc =
                ae_opt_bad(err, n, "unknown connection type (STANDARD, WEBSOCKET, LEAFNODE, MQTT)");
    }
    ae_opt_free_strv(types, nt);
    u->not_on_client_port = rc == 0 && nt > 0 && !standard;
    return rc;
}

static int load_user(const ae_conf_node *c, ae_user *u, ae_err *err)
{
    if (c->type != AE_CONF_MAP)
        return ae_opt_bad(err, c, "each user must be a map {user: ..., password: ...}");
    int rc = 0;
    for (const ae_conf_node *f = c->child; f && rc == 0; f = f->next) {
        if (ae_opt_key_is(f, "user") || ae_opt_key_is(f, "username"))
            rc = ae_opt_string(f, &u->user, err);
        else if (ae_opt_key_is(f, "password") || ae_opt_key_is(f, "pass"))
            rc = ae_opt_string(f, &u->password, err);
        else if (ae_opt_key_is(f, "permissions") || ae_opt_key_is(f, "permission") ||
                 ae_opt_key_is(f, "authorization"))
            rc = load_permissions(f, &u->perms, err);
        else if (ae_opt_key_is(f, "allowed_connection_types") ||
                 ae_opt_key_is(f, "connection_types") || ae_opt_key_is(f, "clients"))
            rc = load_conn_types(f, u, err);
        else if (ae_opt_key_is(f, "nkey"))
            rc =
                ae_opt_bad(err, f, "nkey users are not supported by aerie-leaf; use user/password");
        else
            rc = ae_opt_unknown(err, f, "a user",
                                "user, password, permissions, allowed_connection_types");
    }
    if (rc == 0 && !u->user)
        rc = ae_opt_bad(err, c, "User entry requires a user");
    return rc;
}

static int load_users(ae_opts *o, const ae_conf_node *n, ae_err *err)
{
    if (n->type != AE_CONF_ARRAY)
        return ae_opt_bad(err, n, "expected a list of {user, password} maps");
    int k = 0;
    for (const ae_conf_node *c = n->child; c; c = c->next)
        k++;
    ae_user *u = calloc((size_t)k + 1, sizeof *u);
    if (!u)
        return AE_ENOMEM;
    int i = 0, rc = 0;
    for (const ae_conf_node *c = n->child; c && rc == 0; c = c->next, i++)
        rc = load_user(c, &u[i], err);
    if (rc) {
        free_users(u, k);
        return rc;
    }
    free_users(o->users, o->nusers);
    o->users = u;
    o->nusers = k;
    return 0;
}

int ae_opts_load_authorization(ae_opts *o, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "expected a block { ... }");
    ae_perms_conf *defaults = NULL;
    int rc = 0;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "user") || ae_opt_key_is(n, "username"))
            rc = ae_opt_string(n, &o->user, err);
        else if (ae_opt_key_is(n, "password") || ae_opt_key_is(n, "pass"))
            rc = ae_opt_string(n, &o->password, err);
        else if (ae_opt_key_is(n, "token"))
            rc = ae_opt_string(n, &o->token, err);
        else if (ae_opt_key_is(n, "users"))
            rc = load_users(o, n, err);
        else if (ae_opt_key_is(n, "timeout"))
            rc = ae_opt_duration(n, &o->auth_timeout_ns, err);
        else if (ae_opt_key_is(n, "default_permissions") ||
                 ae_opt_key_is(n, "default_permission") || ae_opt_key_is(n, "permissions"))
            rc = load_permissions(n, &defaults, err);
        else
            rc = ae_opt_unknown(err, n, "authorization",
                                "user, password, token, users, timeout, default_permissions");
    }
    /* Users without permissions of their own get the defaults. */
    for (int i = 0; rc == 0 && defaults && i < o->nusers; i++) {
        if (!o->users[i].perms && !(o->users[i].perms = ae_perms_conf_dup(defaults)))
            rc = AE_ENOMEM;
    }
    ae_perms_conf_free(defaults);
    return rc;
}

void ae_opts_free_users(ae_opts *o)
{
    free_users(o->users, o->nusers);
    o->users = NULL;
    o->nusers = 0;
}

/* ---- tls { } on the client port ----------------------------------------------------------- */

int ae_opts_load_tls(ae_opts *o, const ae_conf_node *m, ae_err *err)
{
    if (m->type != AE_CONF_MAP)
        return ae_opt_bad(err, m, "expected a block { cert_file, key_file, ... }");
    o->tls = true;
    int rc = 0;
    for (const ae_conf_node *n = m->child; n && rc == 0; n = n->next) {
        if (ae_opt_key_is(n, "cert_file"))
            rc = ae_opt_string(n, &o->tls_cert_file, err);
        else if (ae_opt_key_is(n, "key_file"))
            rc = ae_opt_string(n, &o->tls_key_file, err);
        else if (ae_opt_key_is(n, "ca_file"))
            rc = ae_opt_string(n, &o->tls_ca_file, err);
        else if (ae_opt_key_is(n, "verify"))
            rc = ae_opt_bool(n, &o->tls_verify, err);
        else if (ae_opt_key_is(n, "verify_and_map")) {
            rc = ae_opt_bool(n, &o->tls_map, err);
            if (o->tls_map)
                o->tls_verify = true;
        } else if (ae_opt_key_is(n, "timeout"))
            rc = ae_opt_duration(n, &o->tls_timeout_ns, err);
        else if (ae_opt_key_is(n, "cipher_suites"))
            rc = ae_opt_strv(n, &o->tls_cipher_suites, &o->ntls_cipher_suites, err);
        else if (ae_opt_key_is(n, "curve_preferences"))
            rc = ae_opt_strv(n, &o->tls_curves, &o->ntls_curves, err);
        else
            rc = ae_opt_unknown(err, n, "tls",
                                "cert_file, key_file, ca_file, verify, verify_and_map, timeout, "
                                "cipher_suites, curve_preferences");
    }
    return rc;
}
