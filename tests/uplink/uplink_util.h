/* Shared pieces of the uplink tests (tests/uplink): starting and stopping an aerie-leaf
 * whose leafnodes remote points at a real nats-server hub, reading its monitoring JSON and
 * the hub's, libnats clients on either side, and the "probe until it flows" wait that turns
 * interest propagation (LS+ over the leaf connection, RS+ over routes) into a condition the
 * tests can wait for instead of sleeping.
 *
 * Failures go through UT_ASSERT, which prints the tails of the leaf's and the hub's logs
 * before failing the case, because an uplink failure is rarely understandable from the
 * assertion alone. The "current leaf/hub" pointers used for that are the only mutable
 * globals; each case runs in its own process, so they never leak between cases. */
#ifndef AERIE_TESTS_UPLINK_UTIL_H
#define AERIE_TESTS_UPLINK_UTIL_H

#include "harness/harness.h"

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>

typedef struct ut_leaf {
    ah_proc proc;
    char dir[512];
    char conf_path[600];
    char log_path[600];
    char name[64];
    int port;      /* client port */
    int http_port; /* monitoring port */
} ut_leaf;

/* Prints the log tails of the registered leaf and hub (if any) to stderr. */
void ut_dump_logs(void);
/* The hub whose logs UT_ASSERT prints (NULL: none). */
void ut_watch_hub(ah_hub *h);

#define UT_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ut_dump_logs();                                                                        \
            ah_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
        }                                                                                          \
    } while (0)

/* Starts aerie-leaf named `name` on free ports with
 *   leafnodes { remotes = [ { <remote> } ], reconnect 200ms, reconnect_max 2s,
 *               dead_link_timeout 3s }
 *   ping_interval 1s, uplink { vid: <name>, env: test, <uplink_extra> }
 * plus `top_extra` at the top level (both may be NULL). Waits for the client and
 * monitoring ports; fails the case if the leaf does not come up. The leaf becomes the one
 * whose log UT_ASSERT prints. */
void ut_leaf_start(ut_leaf *l, const char *name, const char *remote, const char *uplink_extra,
                   const char *top_extra);
/* Stops the leaf with SIGTERM and fails the case unless it exited 0 with no sanitizer
 * report in its log (so the suite proves aerie-leaf runs clean under ASan/UBSan). */
void ut_leaf_stop(ut_leaf *l);
/* Number of times `needle` occurs in the leaf's log. */
int ut_leaf_log_count(ut_leaf *l, const char *needle);

/* GET http://127.0.0.1:port/path parsed as JSON (NULL on any error). Caller decrefs. */
json_t *ut_http_json(int port, const char *path);
/* The "uplink" object of the leaf's /varz (a new reference, NULL on error). */
json_t *ut_leaf_uplink(ut_leaf *l);
/* uplink.state of the leaf's /varz, copied into buf ("?" when unreadable). */
const char *ut_leaf_state(ut_leaf *l, char *buf, size_t cap);
/* Polls /varz until uplink.state equals `state` (true) or timeout_ms passes (false). The
 * timeout is scaled by AH_TIMEOUT_SCALE. */
bool ut_wait_state(ut_leaf *l, const char *state, int timeout_ms);
/* Polls until uplink.state differs from `state`. */
bool ut_wait_not_state(ut_leaf *l, const char *state, int timeout_ms);
/* An integer field of the leaf's /varz "uplink" object (-1 when absent). */
long long ut_uplink_int(ut_leaf *l, const char *field);
/* A copy of a string field of the leaf's /varz "uplink" object ("" when absent). */
const char *ut_uplink_str(ut_leaf *l, const char *field, char *buf, size_t cap);

/* Sum of in_msgs (or out_msgs) over the leaf connections of one hub node's /leafz. */
long long ut_hub_leaf_counter(int http_port, const char *field);
/* Number of leaf connections one hub node's /leafz reports (-1 on error). */
int ut_hub_leaf_count(int http_port);

/* Polls the leaf's /leafz until the hub interest `key` ("subject" or "subject queue") is
 * listed (true) or timeout_ms (scaled) passes. */
bool ut_wait_leafz_has(ut_leaf *l, const char *key, int timeout_ms);
/* Polls a hub node's /leafz?subs=1 until some leaf connection lists interest in `subject`
 * (an entry equal to it or starting with "subject "). */
bool ut_wait_hub_leafz_has(int http_port, const char *subject, int timeout_ms);

/* libnats connections: to a hub node as operator/secret, or to the leaf (no auth). Fail
 * the case on error. Reconnect is off: a hub client that silently reconnects elsewhere
 * would hide what a test is looking at. */
natsConnection *ut_nc_hub(ah_hub *h, int node);
natsConnection *ut_nc_leaf(ut_leaf *l);
natsConnection *ut_nc_port(int port, const char *user);

/* Publishes "probe" on `subject` through `pub` every 100 ms until every one of the `n`
 * subscriptions has received a probe, then waits a little and discards any further probes
 * on them. Fails the case after timeout_ms (scaled). Messages whose payload is not "probe"
 * that arrive meanwhile fail the case too: the caller had not published yet. */
void ut_await_flow(natsConnection *pub, const char *subject, natsSubscription **subs, int n,
                   int timeout_ms);
/* Receives the next non-probe message within timeout_ms (NULL on timeout). */
natsMsg *ut_next(natsSubscription *sub, int timeout_ms);
/* Answers every request on `subject` with "re:" + the request payload; the subscription is
 * returned so the caller can destroy it. */
natsSubscription *ut_responder(natsConnection *nc, const char *subject, const char *queue);
/* Asks `subject` with retries (interest may still be propagating) until an answer comes
 * or timeout_ms passes. Returns the reply (caller destroys) or NULL. */
natsMsg *ut_request(natsConnection *nc, const char *subject, const char *payload, int timeout_ms);

/* 127.0.0.1:<leaf port> URL of hub node i with the vehicle user. */
void ut_leaf_url(char *buf, size_t cap, int port, const char *userinfo);

#endif
