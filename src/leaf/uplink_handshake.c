/* The uplink's handshake, in the order the hub expects it: the TCP connect, TLS (before the
 * upgrade over websocket, else when the hub's INFO or our configuration asks), the
 * websocket upgrade, the hub's INFO, our CONNECT (user/password, token, or a signed nonce),
 * and the INFO with connect_info that makes the link ready. Also the hub's -ERR. Calls
 * uplink_keepalive.c (the status message when ready), uplink_traffic.c, uplink_write.c,
 * uplink.c. */
#include "leaf/uplink_internal.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Adds a hub URL the cluster advertised ("host:port"), unless known. */
static void learn_url(ae_uplink *u, const char *hostport)
{
    if (ae_hub_urls_learn(&u->urls, hostport))
        ae_log_debug("uplink: learned hub url %s", hostport);
}

static void send_connect(ae_uplink *u)
{
    json_t *c = json_object();
    json_object_set_new(c, "version", json_string(AERIE_VERSION));
    const char *user = u->cur->user ? u->cur->user : u->user;
    const char *pass = u->cur->user ? u->cur->pass : u->pass;
    if (u->have_nkey) {
        char sig[96], pub[64];
        ae_err err = {0};
        if (ae_nkey_sign(&u->nkey, u->nonce, strlen(u->nonce), sig, sizeof sig, &err) != 0) {
            json_decref(c);
            uplink_disconnect(u, err.msg);
            return;
        }
        if (u->jwt) {
            json_object_set_new(c, "jwt", json_string(u->jwt));
        } else {
            ae_nkey_public(&u->nkey, pub, sizeof pub);
            json_object_set_new(c, "nkey", json_string(pub));
        }
        json_object_set_new(c, "sig", json_string(sig));
    } else if (user) {
        json_object_set_new(c, "user", json_string(user));
        json_object_set_new(c, "pass", json_string(pass ? pass : ""));
    } else if (u->token) {
        json_object_set_new(c, "auth_token", json_string(u->token));
    }
    json_object_set_new(c, "tls_required", json_boolean(u->tls != NULL));
    json_object_set_new(c, "server_id", json_string(u->srv->server_id));
    json_object_set_new(c, "name", json_string(u->name));
    json_object_set_new(c, "headers", json_true());
    char *s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!s) {
        uplink_disconnect(u, "out of memory");
        return;
    }
    char *line = NULL;
    int n = asprintf(&line, "CONNECT %s\r\n", s);
    free(s);
    if (n < 0) {
        uplink_disconnect(u, "out of memory");
        return;
    }
    uplink_set_state(u, AE_UPLINK_WAIT_ACCEPT);
    uplink_send_ctrl(u, line, (size_t)n);
    free(line);
}

static void start_tls_handshake(ae_uplink *u)
{
    ae_err err = {0};
    if (!u->tls_ctx) {
        ae_tls_config cfg = {0};
        if (ae_tls_ctx_new(&cfg, &u->tls_ctx, &err) != 0) {
            uplink_set_error(u, "%s", err.msg);
            uplink_disconnect(u, err.msg);
            return;
        }
    }
    if (ae_tls_new(u->tls_ctx, u->io.fd, u->cur->host, &u->tls, &err) != 0) {
        uplink_set_error(u, "%s", err.msg);
        uplink_disconnect(u, err.msg);
        return;
    }
    uplink_set_state(u, AE_UPLINK_TLS);
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ | AE_IO_WRITE);
}

/* Websocket: sends the HTTP upgrade (after TLS for wss:// or a tls block, as nats-server
 * does); the hub's INFO comes inside the first frames. */
static void start_ws_upgrade(ae_uplink *u)
{
    ae_err err = {0};
    if (ae_ws_link_start(&u->ws, u->cur->host, u->cur->port, u->cur->path, u->ws_compress,
                         u->ws_no_masking, &err) != 0) {
        uplink_set_error(u, "%s", err.msg);
        uplink_disconnect(u, err.msg);
        return;
    }
    uplink_set_state(u, AE_UPLINK_WS_UPGRADE);
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ);
    uplink_flush(u);
}

static void start_tls_or_connect(ae_uplink *u, bool hub_wants_tls)
{
    if (u->use_ws) {
        /* TLS, if any, was done before the upgrade; the INFO's tls_required is the hub's
         * plain leafnode port's business */
        send_connect(u);
        return;
    }
    if (hub_wants_tls || u->want_tls || u->cur->tls) {
        start_tls_handshake(u);
        return;
    }
    send_connect(u);
}

void uplink_connected(ae_uplink *u)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
        uplink_set_error(u, "cannot connect to hub %s:%d: %s", u->cur->host, u->cur->port,
                         strerror(soerr));
        uplink_disconnect(u, NULL);
        return;
    }
    if (u->use_ws && (u->want_tls || u->cur->tls)) {
        start_tls_handshake(u);
        return;
    }
    if (u->use_ws) {
        start_ws_upgrade(u);
        return;
    }
    uplink_set_state(u, AE_UPLINK_WAIT_INFO);
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ);
}

void uplink_drive_tls(ae_uplink *u)
{
    ae_err err = {0};
    int rc = ae_tls_handshake(u->tls, &err);
    if (rc == AE_EAGAIN) {
        ae_loop_mod(u->srv->loop, &u->io,
                    AE_IO_READ | (ae_tls_wants_write(u->tls) ? AE_IO_WRITE : 0));
        return;
    }
    if (rc != 0) {
        uplink_set_error(u, "TLS with hub %s:%d failed: %s", u->cur->host, u->cur->port, err.msg);
        uplink_disconnect(u, "TLS handshake failure");
        return;
    }
    char d[128];
    ae_log_info("uplink: TLS established with %s:%d (%s)", u->cur->host, u->cur->port,
                ae_tls_describe(u->tls, d, sizeof d));
    ae_loop_mod(u->srv->loop, &u->io, AE_IO_READ);
    if (u->use_ws)
        start_ws_upgrade(u);
    else
        send_connect(u);
}

static void json_strcpy(char *dst, size_t cap, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v)
        snprintf(dst, cap, "%s", v);
}

void uplink_hub_info(ae_uplink *u, const ae_op *op)
{
    json_t *o = json_loadb(op->arg.ptr, op->arg.len, 0, NULL);
    if (!o) {
        uplink_disconnect(u, "the hub sent an INFO that is not JSON");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, u->use_ws ? "ws_connect_urls" : "leafnode_urls"), i, v)
    {
        if (json_is_string(v))
            learn_url(u, json_string_value(v));
    }
    if (json_object_get(o, "import") || json_object_get(o, "export")) {
        json_decref(u->import_perm);
        json_decref(u->export_perm);
        u->import_perm = json_incref(json_object_get(o, "import"));
        u->export_perm = json_incref(json_object_get(o, "export"));
    }
    json_t *mp = json_object_get(o, "max_payload");
    if (json_is_integer(mp))
        u->hub_max_payload = json_integer_value(mp);
    if (u->state == AE_UPLINK_WAIT_INFO) {
        u->hub_id[0] = u->hub_name[0] = u->hub_cluster[0] = u->hub_domain[0] = 0;
        json_strcpy(u->hub_id, sizeof u->hub_id, o, "server_id");
        json_strcpy(u->hub_name, sizeof u->hub_name, o, "server_name");
        json_strcpy(u->hub_cluster, sizeof u->hub_cluster, o, "cluster");
        json_strcpy(u->hub_domain, sizeof u->hub_domain, o, "domain");
        u->nonce[0] = 0;
        json_strcpy(u->nonce, sizeof u->nonce, o, "nonce");
        if (!json_object_get(o, "client_id") && !json_object_get(o, "leafnode_urls")) {
            json_decref(o);
            uplink_set_error(u,
                             "%s:%d does not look like a hub leafnode port (its INFO has no "
                             "client_id); is the port right?",
                             u->cur->host, u->cur->port);
            uplink_disconnect(u, "not a leafnode port");
            return;
        }
        if (u->have_nkey && !u->nonce[0]) {
            ae_log_warn("uplink: the hub sent no nonce to sign; is nkey auth configured there?");
        }
        bool tls_req = json_is_true(json_object_get(o, "tls_required"));
        json_decref(o);
        start_tls_or_connect(u, tls_req);
        return;
    }
    if (u->state == AE_UPLINK_WAIT_ACCEPT && json_is_true(json_object_get(o, "connect_info"))) {
        json_decref(o);
        uplink_set_state(u, AE_UPLINK_READY);
        u->failures = 0;
        u->reconnects++;
        u->connected_since = ae_now_ns();
        u->next_home_check = ae_mono_ns() + u->home_check_ns;
        u->last_error[0] = 0;
        u->next_ping = ae_mono_ns() + AE_NS_PER_SEC;
        u->last_progress = ae_mono_ns();
        ae_log_info("uplink: connected to hub %s (%s:%d, cluster %s)", u->hub_name, u->cur->host,
                    u->cur->port, u->hub_cluster[0] ? u->hub_cluster : "-");
        uplink_send_all_interest(u);
        ae_uplink_publish_status(u);
        if (u->client.on_ready)
            u->client.on_ready(u->client.ctx, true);
        return;
    }
    json_decref(o);
}

void uplink_hub_err(ae_uplink *u, const ae_op *op)
{
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)op->arg.len, op->arg.ptr);
    if (strstr(text, "Authorization Violation"))
        uplink_set_error(u,
                         "the hub refused our credentials (%s): check the user/password, token or "
                         "credentials of leafnodes.remotes",
                         text);
    else
        uplink_set_error(u, "the hub said: %s", text);
    if (strstr(text, "Loop detected") || strstr(text, "same cluster name") ||
        strstr(text, "Permissions Violation") || strstr(text, "Duplicate Remote LeafNode"))
        u->forced_delay = LOOP_DELAY_NS;
    uplink_disconnect(u, text);
}
