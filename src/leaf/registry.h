/* The connection registry: which client connections exist and which of them the loop must
 * visit before it sleeps.
 *
 * Pure bookkeeping on intrusive links inside ae_client (no I/O, no calls into client.c):
 *   - the live list (every connection from accept until it is freed), newest first;
 *   - the pending-write list (queued output to flush this pass);
 *   - the closing list (closed, freed once their last bytes are out);
 *   - the ready list (paused readers that were resumed with complete operations still
 *     buffered: epoll will not report those bytes again, so the loop must parse them);
 *   - the stalled list (fast producers whose reading is paused while a consumer catches up);
 *   - the ring of recently closed connections for /connz?state=closed.
 * Each push is idempotent; a connection is on each list at most once. Everything runs on the
 * loop thread. The work done with these lists lives in server.c (the loop's passes). */
#ifndef AERIE_LEAF_REGISTRY_H
#define AERIE_LEAF_REGISTRY_H

#include "common/hmap.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ae_client ae_client;

/* A closed connection kept for /connz?state=closed. */
typedef struct ae_closed_info {
    uint64_t cid;
    char ip[64];
    int port;
    int64_t start_ns, stop_ns;
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    int subs;
    char name[64], lang[32], version[32];
    char user[64];
    char reason[64];
} ae_closed_info;

#define AE_CLOSED_RING 128

typedef struct ae_registry {
    ae_client *head;    /* live connections, newest first (ae_client.prev/next) */
    ae_hmap by_cid;     /* cid -> live connection (keys borrow ae_client.cid) */
    uint64_t count;     /* live connections */
    uint64_t total;     /* connections ever accepted */
    uint64_t next_cid;  /* last connection id handed out */
    ae_client *writes;  /* pending output (ae_client.pw_next) */
    ae_client *closing; /* closed, not yet freed (ae_client.close_next) */
    ae_client *ready;   /* resumed with buffered input (ae_client.ready_next) */
    ae_client *stalled; /* paused fast producers (ae_client.stall_next) */
    ae_closed_info closed[AE_CLOSED_RING];
    uint64_t nclosed; /* connections ever closed; the ring holds the newest */
} ae_registry;

/* Gives c the next connection id and links it into the live list. */
void ae_registry_add(ae_registry *r, ae_client *c);
/* Unlinks c from every list (the live list included); for ae_client_free. */
void ae_registry_remove(ae_registry *r, ae_client *c);
/* The live connection with this id, or NULL (closed and freed, or never existed). Lets a
 * long job (a monitoring answer produced over many loop passes) resume without holding
 * pointers that may dangle. */
ae_client *ae_registry_find(const ae_registry *r, uint64_t cid);
/* Frees the registry's own memory (after every connection is gone). */
void ae_registry_free(ae_registry *r);

/* Puts c on the pending-write list. */
void ae_registry_want_write(ae_registry *r, ae_client *c);
/* Takes the next connection off the pending-write list, or NULL. */
ae_client *ae_registry_next_write(ae_registry *r);

/* Puts c on the closing list (once). */
void ae_registry_closing(ae_registry *r, ae_client *c);

/* Puts c on the ready list; ae_registry_next_ready takes them off in turn (or NULL). */
void ae_registry_want_ready(ae_registry *r, ae_client *c);
ae_client *ae_registry_next_ready(ae_registry *r);

/* The stalled list: add c (once) or take it off (no-op if absent). */
void ae_registry_stall_add(ae_registry *r, ae_client *c);
void ae_registry_stall_remove(ae_registry *r, ae_client *c);

/* A slot in the closed ring for the connection closing now (overwrites the oldest). */
ae_closed_info *ae_registry_record_closed(ae_registry *r);
/* Closed connections are numbered from 0 in the order they closed; the ring keeps numbers
 * [ae_registry_closed_first, nclosed). Returns number n, or NULL once it was overwritten. */
uint64_t ae_registry_closed_first(const ae_registry *r);
const ae_closed_info *ae_registry_closed_get(const ae_registry *r, uint64_t n);

#endif
