/* The calls between aerie-leaf's modules that go through function pointers, in one place.
 *
 * The broker core (server.c, client.c) must work without an uplink or a durable log, and the
 * uplink without a forwarder, so those calls go through tables that the optional module
 * fills in when it starts. Everything else calls the module's header directly (monitor.c
 * asks uplink.h and forward.h for their figures through the pointers the server holds).
 * Each table names who calls it and who implements it. Everything runs on the loop thread. */
#ifndef AERIE_LEAF_HOOKS_H
#define AERIE_LEAF_HOOKS_H

#include "leaf/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ae_msg;
struct ae_ssub;
struct json_t;

/* Caller: server.c (routing, interest, the tick, drain). Implementer: the uplink
 * (uplink_*.c), installed by ae_uplink_start. All members may be NULL (no uplink configured). */
typedef struct ae_uplink_hooks {
    void *ctx;
    /* A local message matched hub interest (plain, and/or the listed hub queue groups). */
    void (*forward)(void *ctx, const struct ae_msg *m, const ae_slice *queues, size_t nqueues);
    /* A local subscription came or went. */
    void (*interest)(void *ctx, const struct ae_ssub *sub, bool added);
    void (*tick)(void *ctx, int64_t now);
    void (*drain)(void *ctx);
    /* The hub link's queue is above its high-water mark: a publisher feeding it should wait.
     * The uplink calls ae_server_resume_readers once its queue drained. */
    bool (*congested)(void *ctx);
} ae_uplink_hooks;

typedef enum ae_durability {
    AE_DURABILITY_PENDING, /* logged, not yet on disk */
    AE_DURABILITY_ON_DISK,
    AE_DURABILITY_LOST, /* the log failed (fsync error) before it was on disk */
} ae_durability;

/* Caller: server.c (route: capture), client.c (PONG waits for the disk). Implementer:
 * forward.c, installed by ae_forward_start. Members NULL without uplink subjects. */
typedef struct ae_durable_hooks {
    void *ctx;
    /* Logs a local message on an uplink subject and returns its log seq (0: not an uplink
     * subject, or *failed when it could not be logged: disk full, I/O error). */
    uint64_t (*capture)(void *ctx, const struct ae_msg *m, bool *failed);
    /* Where that seq stands: a client's PONG waits while it is pending (the flush contract)
     * and is preceded by an -ERR when the log failed before the seq reached the disk. */
    ae_durability (*durability)(void *ctx, uint64_t seq);
} ae_durable_hooks;

/* Caller: the uplink (uplink_*.c). Implementer: forward.c, installed with ae_uplink_set_client. */
typedef struct ae_uplink_client {
    void *ctx;
    /* true after interest is exchanged on a new connection, false when it is lost */
    void (*on_ready)(void *ctx, bool ready);
    /* a message arrived on the uplink's inbox prefix (a PubAck, an API reply); op is valid
     * for the call */
    void (*on_inbox)(void *ctx, const ae_op *op);
    /* the data queue drained below its low-water mark */
    void (*on_writable)(void *ctx);
    /* adds fields to the link status message the uplink publishes */
    void (*status)(void *ctx, struct json_t *obj);
} ae_uplink_client;

#endif
