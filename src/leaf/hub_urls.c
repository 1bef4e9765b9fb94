/* Hub URLs of the uplink; see hub_urls.h. */
#include "leaf/hub_urls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(ae_hub_url *out, ae_err *err, const char *url, const char *what)
{
    free(out->user);
    free(out->pass);
    out->user = out->pass = NULL;
    return ae_err_set(err, AE_EINVAL, "leafnodes remote url %s: %s", url, what);
}

int ae_hub_url_parse(const char *url, ae_hub_url *out, ae_err *err)
{
    memset(out, 0, sizeof *out);
    const char *p = url;
    const char *sep = strstr(url, "://");
    if (sep) {
        size_t sl = (size_t)(sep - url);
        if (sl == 3 && !strncasecmp(url, "tls", 3))
            out->tls = true;
        else if (sl == 2 && !strncasecmp(url, "ws", 2))
            out->ws = true;
        else if (sl == 3 && !strncasecmp(url, "wss", 3))
            out->ws = out->tls = true;
        else if (!((sl == 9 && !strncasecmp(url, "nats-leaf", 9)) ||
                   (sl == 4 && !strncasecmp(url, "nats", 4))))
            return bad(out, err, url,
                       "unsupported scheme (use nats-leaf://, nats://, tls://, ws:// or wss://)");
        p = sep + 3;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        out->user = strndup(p, (size_t)((colon ? colon : at) - p));
        if (colon)
            out->pass = strndup(colon + 1, (size_t)(at - colon - 1));
        if (!out->user || (colon && !out->pass))
            return bad(out, err, url, "out of memory");
        p = at + 1;
    }
    const char *end = p + strcspn(p, "/?");
    const char *pc = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return bad(out, err, url, "bad IPv6 address");
        snprintf(out->host, sizeof out->host, "%.*s", (int)(rb - p - 1), p + 1);
        pc = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        pc = memchr(p, ':', (size_t)(end - p));
        snprintf(out->host, sizeof out->host, "%.*s", (int)((pc ? pc : end) - p), p);
    }
    out->port = out->ws ? (out->tls ? 443 : 80) : 7422;
    if (out->ws && *end == '/') {
        size_t pl = strcspn(end, "?#");
        if (pl >= sizeof out->path)
            return bad(out, err, url, "path too long");
        memcpy(out->path, end, pl);
        out->path[pl] = 0;
    }
    if (pc) {
        char *e;
        long port = strtol(pc + 1, &e, 10);
        if (e != end || port <= 0 || port > 65535)
            return bad(out, err, url, "bad port");
        out->port = (int)port;
    }
    if (!out->host[0])
        return bad(out, err, url, "no host");
    return 0;
}

int ae_hub_urls_add(ae_hub_urls *l, const char *url, ae_err *err)
{
    if (l->n >= AE_HUB_URLS_MAX)
        return ae_err_set(err, AE_ELIMIT, "leafnodes remote: more than %d urls", AE_HUB_URLS_MAX);
    int rc = ae_hub_url_parse(url, &l->url[l->n], err);
    if (rc != 0)
        return rc;
    if (l->n > 0 && l->url[0].ws != l->url[l->n].ws) {
        free(l->url[l->n].user);
        free(l->url[l->n].pass);
        return ae_err_set(err, AE_EINVAL,
                          "leafnodes remote url %s: a remote's urls must be all websocket "
                          "(ws://, wss://) or all not",
                          url);
    }
    l->n++;
    l->nconfigured = l->n;
    return 0;
}

bool ae_hub_urls_learn(ae_hub_urls *l, const char *hostport)
{
    if (l->ignore_discovered || l->n >= AE_HUB_URLS_MAX)
        return false;
    ae_hub_url h;
    if (ae_hub_url_parse(hostport, &h, NULL) != 0)
        return false;
    for (int i = 0; i < l->n; i++) {
        if (l->url[i].port == h.port && !strcmp(l->url[i].host, h.host)) {
            free(h.user);
            free(h.pass);
            return false;
        }
    }
    h.learned = true;
    h.tls = l->nconfigured ? l->url[0].tls : false;
    h.ws = l->nconfigured ? l->url[0].ws : false;
    if (h.ws)
        snprintf(h.path, sizeof h.path, "%s", l->url[0].path);
    l->url[l->n++] = h;
    return true;
}

const ae_hub_url *ae_hub_urls_next(ae_hub_urls *l)
{
    if (l->n == 0)
        return NULL;
    return &l->url[l->next++ % l->n];
}

void ae_hub_urls_free(ae_hub_urls *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->url[i].user);
        free(l->url[i].pass);
    }
    memset(l, 0, sizeof *l);
}
