/* Shared pieces of the store-and-forward tests (tests/sf) and of bench_sf: an aerie-leaf
 * that keeps its directory (config, store, log) across kill -9 and restarts, relays in
 * front of every hub node, the hub stream, a raw-socket publisher that knows which of its
 * messages a PONG made durable, and the checker that reads the hub stream back and counts
 * lost, duplicated and reordered messages.
 *
 * Message numbering: the publisher numbers its messages g = 0, 1, 2, ... in the order it
 * sends them. Message g goes to subject fleet.<env>.veh.<vid>.state.s<g % nsubj> and carries
 * "g=<g>" at the start of its payload, so the checker can tell every message apart and
 * check per-subject order without any other bookkeeping.
 *
 * Failures go through SF_ASSERT, which prints the tails of the leaf's and the hub's logs
 * first: a lost message is rarely understandable from the counts alone. The "watched"
 * leaf/hub pointers behind that are the only mutable globals; each case runs in its own
 * process. */
#ifndef AERIE_TESTS_SF_UTIL_H
#define AERIE_TESTS_SF_UTIL_H

#include "harness/harness.h"
#include "harness/relay_ctl.h"

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- diagnostics -------------------------------------------------------------------- */

void sf_dump_logs(void);
void sf_watch_hub(ah_hub *h);

#define SF_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sf_dump_logs();                                                                        \
            ah_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
        }                                                                                          \
    } while (0)

/* ---- aerie-leaf with a persistent directory ------------------------------------------ */

typedef struct sf_leaf {
    ah_proc proc;
    char dir[512];
    char conf_path[600];
    char log_path[600];
    char store_dir[600];
    char vid[64];
    int port;         /* client port */
    int http_port;    /* monitoring port */
    long fsize_limit; /* >0: start under `ulimit -f` (bytes), SIGXFSZ ignored */
    int starts;
} sf_leaf;

/* Writes the leaf's config: vid `vid`, env "test", uplink subjects
 * fleet.test.veh.<vid>.state.>, leafnodes remotes urls `urls` (a comma-separated list of
 * quoted URLs), reconnect 200ms..1s, dead_link_timeout 3s, client ping_interval 30s,
 * status_interval 1s, and `store { dir: <store_dir> <store_extra> }` plus `uplink_extra`
 * inside uplink { } and `top_extra` at the top level (each may be NULL). store_dir NULL
 * means <dir>/store. Does not start it. */
void sf_leaf_init(sf_leaf *l, const char *vid, const char *urls, const char *store_dir,
                  const char *store_extra, const char *uplink_extra, const char *top_extra);
/* Starts (or restarts) the leaf with the same directory and ports; waits until its /varz
 * answers and its client port accepts. Fails the case otherwise. */
void sf_leaf_start(sf_leaf *l);
/* SIGKILL, no checks (the crash under test). */
void sf_leaf_kill(sf_leaf *l);
/* SIGTERM; fails the case unless it exits 0 with no sanitizer report in its log. Removes
 * the directory unless AH_KEEP_TMP is set or keep_dir. */
void sf_leaf_stop(sf_leaf *l, bool keep_dir);
/* leafs[0] of the leaf's /leafz (new reference; NULL when unreadable). */
json_t *sf_leafz(sf_leaf *l);
long long sf_leafz_int(sf_leaf *l, const char *field); /* -1 when absent */
const char *sf_leafz_str(sf_leaf *l, const char *field, char *buf, size_t cap);
/* Polls until /leafz leafs[0].state equals `state` ("connected", "disconnected", ...)
 * within the scaled timeout. */
bool sf_wait_state(sf_leaf *l, const char *state, int timeout_ms);
/* Polls until backlog_msgs is 0 (true) or the scaled timeout passes. */
bool sf_wait_drained(sf_leaf *l, int timeout_ms);
int sf_log_count(sf_leaf *l, const char *needle);

/* ---- hub with a relay in front of each node ------------------------------------------ */

typedef struct sf_net {
    ah_hub hub;
    ah_relay relay[AH_HUB_MAX];
    int nodes;
    bool relayed;
    char urls[1024]; /* the leaf's remote urls: relays, or the nodes' leaf ports */
} sf_net;

/* Starts an n-node hub. With `relayed`, one aerie-relay per node is started first and each
 * node advertises its relay's address, so every URL the leaf can learn goes through a
 * relay; net->urls then lists the relays. Fails the case on error. */
void sf_net_start(sf_net *n, int nodes, bool relayed);
/* sf_net_start with `extra_conf` appended to every hub node's config (NULL: nothing), e.g.
 * "debug: true\ntrace: true" to see in the nodes' logs which one answered what. */
void sf_net_start_conf(sf_net *n, int nodes, bool relayed, const char *extra_conf);
/* Sends a command ("cut", "blackhole", "heal", ...) to every relay; fails on error. */
void sf_net_cmd(sf_net *n, const char *cmd);
void sf_net_stop(sf_net *n);

/* Creates stream `name` on subjects fleet.*.veh.*.state.>, file storage, `replicas`,
 * allow_direct, duplicate window dup_ms (0: server default), retrying while the cluster
 * settles. Fails the case on error. */
void sf_stream_create(ah_hub *h, const char *name, int replicas, int64_t dup_ms);
/* A libnats connection to hub node i as operator. Fails the case on error. */
natsConnection *sf_hub_conn(ah_hub *h, int node);
/* Deletes stream `name` (through node 0); a stream that does not exist is not an error.
 * Fails the case on any other error. */
void sf_stream_delete(ah_hub *h, const char *name);
/* Node index (0-based) of the stream's leader, asking the nodes in turn until one names
 * it; -1 when none does within 15 s (scaled). */
int sf_stream_leader(ah_hub *h, const char *stream);
/* Asks the leader of `stream` to step down ($JS.API.STREAM.LEADER.STEPDOWN.<stream>),
 * through node `via`. Returns 0, or -1 with the hub's answer (or the request's error) in
 * err. A new leader is elected among the other replicas. */
int sf_stream_stepdown(ah_hub *h, int via, const char *stream, char *err, size_t cap);

/* ---- the publisher ------------------------------------------------------------------ */

typedef struct sf_pub {
    int fd;
    int port;
    char vid[64];
    int nsubj;
    size_t payload_len;
    uint64_t next_g;     /* the next message number */
    uint64_t flush_mark; /* every g below it on this connection is flushed or was lost */
    uint64_t *ping_g;    /* FIFO of next_g at each PING sent and not yet answered */
    size_t ping_head, ping_tail, ping_cap;
    int64_t *ping_sent_ms;
    int64_t max_pong_ms; /* longest PING->PONG seen */
    uint8_t *flushed;    /* flushed[g]: a PONG answered a PING sent after g */
    size_t cap;          /* size of flushed[] */
    uint64_t nflushed;
    int reconnects;
    long refused; /* -ERR '... not stored for the hub ...' notices received */
    bool stamp;   /* payloads start "g=<g>;t=<wall-clock ns>;" (set after sf_pub_open) */
    char rbuf[4096];
    size_t rlen;
} sf_pub;

/* Connects to the leaf's client port (retrying up to the scaled timeout). */
void sf_pub_open(sf_pub *p, int port, const char *vid, int nsubj, size_t payload_len,
                 size_t max_msgs);
/* Sends message next_g (and a PING when `ping`). Returns 0, or -1 when the connection is
 * gone (the caller reconnects with sf_pub_reconnect). */
int sf_pub_send(sf_pub *p, bool ping);
/* Reads what arrived without blocking more than wait_ms; counts PONGs. Returns -1 when the
 * connection closed. */
int sf_pub_poll(sf_pub *p, int wait_ms);
/* Waits until every PING sent is answered (true) or timeout_ms passes. */
bool sf_pub_flush(sf_pub *p, int timeout_ms);
/* Drops the connection (unanswered PINGs: their messages count as unflushed) and
 * connects again within timeout_ms. Returns 0 or -1. */
int sf_pub_reconnect(sf_pub *p, int timeout_ms);
void sf_pub_close(sf_pub *p);
/* Publishes at `hz` for ms milliseconds with a PING after every message, polling PONGs
 * in between; reconnects if the leaf goes away. */
void sf_pub_run(sf_pub *p, int hz, int ms);

/* The wall-clock ns a stamped payload carries ("g=<g>;t=<ns>;"), or -1. */
int64_t sf_payload_time(const char *data, int len);
int64_t sf_wall_ns(void); /* CLOCK_REALTIME, the clock nats-server stamps stored messages with */

/* ---- the checker -------------------------------------------------------------------- */

typedef struct sf_check {
    long stream_msgs;     /* messages in the stream */
    long read;            /* messages read back */
    long distinct;        /* distinct g seen */
    long lost;            /* flushed g never seen */
    long unflushed_lost;  /* unflushed g never seen (allowed) */
    long duplicated;      /* extra copies of a g */
    long reordered;       /* a first copy of g not above the previous one of its subject */
    long unknown;         /* not one of ours */
    long missing_headers; /* no Nats-Msg-Id or Aerie-Event-Time */
    uint64_t first_lost, last_lost;
    uint8_t *count; /* per g: copies seen (caller frees with sf_check_free) */
    size_t ncount;  /* entries in count[] */
} sf_check;

/* Reads every message of `stream` (through hub node `node`) with an ordered consumer and
 * checks it against what the publisher sent. */
void sf_check_stream(ah_hub *h, int node, const char *stream, const sf_pub *p, sf_check *c);
void sf_check_free(sf_check *c);
/* One line: "msgs=... lost=... dup=... reordered=...". */
void sf_check_print(const char *label, const sf_check *c);
/* For up to `max` duplicated messages: one line per copy in the stream, with its stream
 * sequence, the time the stream stored it, Nats-Msg-Id and Aerie-Event-Time -- the first
 * thing to look at when a copy appears. Reads `stream` through hub node `node` again. */
void sf_check_print_duplicates(ah_hub *h, int node, const char *stream, const sf_check *c, int max);
/* Asserts lost, duplicated, reordered, unknown and missing_headers are all 0, and that
 * every message read is a flushed or unflushed one of ours. */
void sf_check_assert_clean(const sf_check *c);
/* sf_check_assert_clean, and every message the publisher sent is in the stream (flushed
 * or not): for faults that may not lose even an unconfirmed message. */
void sf_check_assert_all(const sf_check *c, const sf_pub *p);

#endif
