/* The hub URLs an uplink dials: the configured leafnodes remote URLs, and the leafnode URLs
 * the hub cluster advertises in its INFO (unless ignore_discovered_urls), tried in turn.
 * Pure: parsing and the list; the uplink does the dialing. */
#ifndef AERIE_LEAF_HUB_URLS_H
#define AERIE_LEAF_HUB_URLS_H

#include "common/err.h"

#include <stdbool.h>

#define AE_HUB_URLS_MAX 32

typedef struct ae_hub_url {
    char host[256];
    int port;
    char *user, *pass; /* from the URL, or NULL */
    bool tls;          /* tls:// or wss:// scheme */
    bool ws;           /* ws:// or wss://: the hub's websocket port */
    char path[128];    /* a ws URL's path ("" when none) */
    bool learned;      /* from the hub's leafnode_urls */
} ae_hub_url;

typedef struct ae_hub_urls {
    ae_hub_url url[AE_HUB_URLS_MAX];
    int n, nconfigured;
    int next; /* index of the next to dial, modulo n */
    bool ignore_discovered;
} ae_hub_urls;

/* Parses nats-leaf://[user[:pass]@]host[:port], nats://..., tls://..., ws://...[/path],
 * wss://... or a bare host:port (default port 7422, 80 for ws, 443 for wss; IPv6 in
 * brackets). Returns 0, or AE_EINVAL with a message naming the
 * URL and what is wrong (nothing is allocated then). */
int ae_hub_url_parse(const char *url, ae_hub_url *out, ae_err *err);

/* Adds a configured URL. Returns 0, AE_EINVAL (bad URL, or websocket and plain URLs mixed:
 * as in nats-server, a remote's URLs are all ws[s]:// or none), AE_ELIMIT (too many). */
int ae_hub_urls_add(ae_hub_urls *l, const char *url, ae_err *err);
/* Adds a URL the hub advertised ("host:port"), unless known, ignored by configuration or the
 * list is full; it inherits the TLS choice of the first configured URL. Returns true when
 * added. A websocket remote learns from the hub's ws_connect_urls, a plain one from its
 * leafnode_urls (the uplink picks). */
bool ae_hub_urls_learn(ae_hub_urls *l, const char *hostport);
/* The next URL to dial (round robin); NULL when the list is empty. */
const ae_hub_url *ae_hub_urls_next(ae_hub_urls *l);
void ae_hub_urls_free(ae_hub_urls *l);

#endif
