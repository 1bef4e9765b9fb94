/* A look at whether a hub is reachable again, without leaving the link in use: a TCP
 * connect to it and the first bytes of its INFO, on the event loop, within a timeout. The
 * uplink uses it while it is failed over to a fallback region's hubs, to go home once home
 * answers (leafnodes remote `home_urls`). TLS is not needed for this: a hub sends its INFO
 * in the clear first. A hub's websocket port (ws://) says nothing first: it is asked with an
 * HTTP request and counts as answering when an HTTP response starts; for wss:// a TCP connect
 * is all the probe looks at. */
#ifndef AERIE_LEAF_HOMEPROBE_H
#define AERIE_LEAF_HOMEPROBE_H

#include "leaf/loop.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum ae_probe_kind {
    AE_PROBE_LEAFNODE,  /* expect the hub's INFO */
    AE_PROBE_WEBSOCKET, /* send an HTTP request, expect "HTTP/" */
    AE_PROBE_CONNECT,   /* a TCP connect is enough (wss://) */
} ae_probe_kind;

typedef struct ae_homeprobe {
    ae_loop *loop;
    ae_io io;
    ae_timer timeout;
    bool busy;
    ae_probe_kind kind;
    char buf[8];
    size_t got;
    void (*done)(void *ctx, bool reachable);
    void *ctx;
} ae_homeprobe;

/* Starts a probe of host:port (a numeric address or a name resolved blocking, as the uplink
 * does); done(ctx, reachable) is called once, within timeout_ns. Returns false when a probe
 * is already running or it could not start (done is then not called). */
bool ae_homeprobe_start(ae_homeprobe *p, ae_loop *loop, const char *host, int port,
                        ae_probe_kind kind, int64_t timeout_ns,
                        void (*done)(void *ctx, bool reachable), void *ctx);
/* Stops a running probe without calling done. */
void ae_homeprobe_stop(ae_homeprobe *p);

#endif
