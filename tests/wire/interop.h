/* Shared pieces of the compatibility suites (tests/wire and tests/libnats): which broker is
 * under test, starting and stopping it with the command-line flags both brokers accept, and
 * small raw-socket helpers for speaking the NATS client protocol byte by byte.
 *
 * The broker under test comes from the environment variable AERIE_BROKER: unset or
 * "nats-server" runs the reference nats-server (ah_nats_server()), "aerie-leaf" runs our
 * broker (ah_bin("aerie-leaf")). Both are started with exactly the same flags
 * (`-a 127.0.0.1 -p PORT [-c CONFIG] [--user U --pass P] [--auth TOKEN] [-m HTTP_PORT]`, or
 * their one-dash long forms), so
 * every test encodes one expectation that both must meet; the few places where nats-server
 * and a compatible server may legitimately differ are branched on ai_is_nats() with a comment
 * saying why. */
#ifndef AERIE_TESTS_WIRE_INTEROP_H
#define AERIE_TESTS_WIRE_INTEROP_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/harness.h"

/* What to start a broker with. Zero-initialise and set what a test needs. */
typedef struct ai_broker_opts {
    const char *config; /* body of a nats-server-syntax config file (-c), or NULL */
    const char *user;   /* --user (needs pass) */
    const char *pass;   /* --pass */
    const char *token;  /* --auth */
    bool monitor;       /* -m <free port>: HTTP monitoring */
    /* Spell every flag above as the one-dash long option both brokers accept (-addr,
     * -port, -config, -user, -pass, -auth, -http_port) instead of -a/-p/-c/--user/... */
    bool one_dash;
    const char *const *args; /* more arguments, NULL-terminated (may be NULL) */
} ai_broker_opts;

/* A running broker. All fields are read-only for tests. */
typedef struct ai_broker {
    ah_proc proc;
    int port;      /* client port on 127.0.0.1 */
    int http_port; /* monitoring port, 0 when not enabled */
    char dir[512]; /* scratch directory holding the config and the log */
    char conf_path[600];
    char log_path[600];
    ai_broker_opts opts; /* borrowed strings: must outlive the broker */
} ai_broker;

/* True when the broker under test is the reference nats-server (AERIE_BROKER unset or
 * "nats-server"). Callable any time. */
bool ai_is_nats(void);
/* Printable name of the broker under test ("nats-server" or "aerie-leaf"). */
const char *ai_broker_name(void);

/* Starts the broker under test on free ports and waits until its client port (and the
 * monitoring port, if asked for) accepts connections. Fails the current case (ah_fail) if
 * it cannot, quoting the broker's log. `o` may be NULL; its strings are borrowed and must
 * stay valid until ai_broker_free. */
void ai_broker_start(ai_broker *b, const ai_broker_opts *o);
/* Starts the broker again with the same flags and ports after ai_broker_stop (used to test
 * client reconnection). Fails the case if it does not come up. */
void ai_broker_restart(ai_broker *b);
/* Sends `sig` (SIGTERM for a normal stop) and waits up to timeout_ms, then SIGKILLs.
 * Returns the wait status (see waitpid), or -1 if it was not running. */
int ai_broker_stop(ai_broker *b, int sig, int timeout_ms);
/* Rewrites the config file with `config` and sends SIGHUP (configuration reload). */
void ai_broker_reload(ai_broker *b, const char *config);
/* Stops the broker if it still runs (SIGTERM, then SIGKILL) and removes its directory. */
void ai_broker_free(ai_broker *b);

/* ---- raw client helpers (each fails the case on error) ------------------------------ */

/* Connects to the broker and reads the INFO line. If info is non-NULL it receives the
 * JSON part of the INFO line (NUL-terminated, at most cap bytes). Returns the fd. */
int ai_open(int port, char *info, size_t cap);
/* ai_open, then sends `CONNECT <connect_json>` followed by PING and requires exactly
 * "PONG\r\n" back (so connect_json must have verbose false). Returns the fd. */
int ai_client(int port, const char *connect_json);
/* Sends PING and reads until PONG; returns everything read (in buf) before and including
 * the PONG. Fails if no PONG arrives within timeout_ms. */
void ai_sync(int fd, char *buf, size_t cap, int timeout_ms);
/* Sends PING and requires that exactly `expect` followed by "PONG\r\n" arrives: the
 * barrier for "nothing else was delivered". */
void ai_expect_sync(int fd, const char *expect);
/* Requires that the peer sends exactly `expect` (if non-NULL) and then closes the
 * connection within timeout_ms. `what` names the situation in the failure message. */
void ai_expect_close(int fd, const char *expect, int timeout_ms, const char *what);
/* Requires that the peer closes within timeout_ms and that what it sent before closing is
 * either nothing or `-ERR '...'` lines (a compatible server may explain before closing;
 * nats-server closes silently on parser errors). */
void ai_expect_silent_close(int fd, int timeout_ms, const char *what);
/* Splits a stream of server protocol into units (a MSG/HMSG control line with its payload,
 * or any other line) and returns them sorted and re-joined (caller frees). Comparing the
 * sorted forms checks exact bytes of every message while leaving the order of deliveries to
 * different subscriptions of one connection open, which NATS does not define. Fails the case
 * on a truncated message. */
char *ai_sorted_units(const char *stream);
/* Counts non-overlapping occurrences of needle in hay. */
int ai_count(const char *hay, const char *needle);

/* GET http://127.0.0.1:<http_port><path> and return the body (caller frees); fails the case
 * unless the status is 200. */
char *ai_http(const ai_broker *b, const char *path);

#endif
