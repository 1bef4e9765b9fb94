/* The test harness: a tiny runner (each case in its own child process with a timeout),
 * assertions that print both sides, and helpers to run real processes on loopback:
 * free ports, spawning and stopping by PID, raw sockets, temporary directories, and a
 * nats-server hub cluster with JetStream.
 *
 * Tests never kill by name and never contact an address outside 127.0.0.0/8. */
#ifndef AERIE_TESTS_HARNESS_H
#define AERIE_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* ---- runner ------------------------------------------------------------------------- */

typedef struct ah_case {
    const char *name;
    void (*fn)(void);
    int timeout_s; /* 0: 60 s */
} ah_case;

/* Runs the cases (all, or those named on the command line), each in a forked child;
 * prints one line per case and a closing "N passed, M failed" line. Returns the exit
 * code for main. AH_TIMEOUT_SCALE (env, float) scales every timeout, for sanitizer runs. */
int ah_run(int argc, char **argv, const ah_case *cases, size_t n);

void ah_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define AH_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ah_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);                            \
    } while (0)
#define AH_ASSERT_MSG(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ah_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
    } while (0)
#define AH_ASSERT_EQ_INT(a, b)                                                                     \
    do {                                                                                           \
        long long ah_a_ = (long long)(a), ah_b_ = (long long)(b);                                  \
        if (ah_a_ != ah_b_)                                                                        \
            ah_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, ah_a_, ah_b_);           \
    } while (0)
#define AH_ASSERT_EQ_STR(a, b)                                                                     \
    do {                                                                                           \
        const char *ah_a_ = (a), *ah_b_ = (b);                                                     \
        if (!ah_a_ || !ah_b_ || strcmp(ah_a_, ah_b_) != 0)                                         \
            ah_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                      \
                    ah_a_ ? ah_a_ : "(null)", ah_b_ ? ah_b_ : "(null)");                           \
    } while (0)
#define AH_ASSERT_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *ah_h_ = (hay), *ah_n_ = (needle);                                              \
        if (!ah_h_ || !strstr(ah_h_, ah_n_))                                                       \
            ah_fail(__FILE__, __LINE__, "\"%s\" not found in: %s", ah_n_,                          \
                    ah_h_ ? ah_h_ : "(null)");                                                     \
    } while (0)

/* ---- processes and files ------------------------------------------------------------ */

typedef struct ah_proc {
    pid_t pid; /* 0 when not running */
    char log_path[512];
} ah_proc;

/* A free TCP port on 127.0.0.1 (bound to port 0 and released; distinct across calls in
 * one process). */
int ah_free_port(void);
/* Starts argv[0] (NULL-terminated argv) with stdout and stderr appended to log_path
 * (NULL: /dev/null). Returns 0 or -1. */
int ah_spawn(ah_proc *p, const char *log_path, char *const argv[]);
/* Sends `sig`, waits up to timeout_ms, then SIGKILLs. Returns the wait status, or -1 if the
 * process was not ours/running. */
int ah_stop(ah_proc *p, int sig, int timeout_ms);
bool ah_alive(ah_proc *p);
/* Waits until 127.0.0.1:port accepts a TCP connection. Returns 0 or -1 on timeout. */
int ah_wait_tcp(int port, int timeout_ms);
/* True when the TCP listener on port (any local address) is a socket of process pid: a
 * port that answers may belong to a test running beside this one, whose server took the
 * port between ah_free_port and our server's bind. */
bool ah_pid_listens(pid_t pid, int port);
/* Prints the last `max` bytes of a file to stderr under a header naming it (diagnostics
 * for a failing case); nothing if it cannot be read. */
void ah_print_tail(const char *path, size_t max);
/* How many times `needle` occurs in the file (0 if it cannot be read). */
int ah_count_in_file(const char *path, const char *needle);
/* A new directory under $TMPDIR (or /tmp), named after tag. Caller frees the string. */
char *ah_mkdtemp(const char *tag);
int ah_rmrf(const char *path);
/* Writes a formatted file. Returns 0 or -1. */
int ah_write_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a whole file into a malloc'd NUL-terminated string (NULL on error). */
char *ah_read_file(const char *path);
/* Path of a program built by this project ("aerie-leaf"): $AERIE_BUILD_DIR/<name>, else the
 * build directory compiled in. */
const char *ah_bin(const char *name);
/* nats-server to use: $NATS_SERVER, else /usr/sbin/nats-server, else "nats-server" on PATH. */
const char *ah_nats_server(void);
/* Sleeps for ms milliseconds. */
void ah_sleep_ms(int ms);
int64_t ah_now_ms(void); /* monotonic */
/* The factor from AH_TIMEOUT_SCALE (default 1.0; invalid values count as 1.0). Tests that
 * wait for something with their own deadlines may multiply by it too. */
double ah_timeout_scale(void);

/* What ah_run_capture saw: the exit code (-1 when the program was killed by a signal or on
 * timeout) and its whole stdout and stderr (malloc'd, never NULL). */
typedef struct ah_output {
    int code;
    char *out, *err;
} ah_output;

/* Runs argv (NULL-terminated; argv[0] a path) to completion with stdout and stderr captured
 * through temporary files named after `tmp_prefix`, killing it after timeout_ms (scaled by
 * AH_TIMEOUT_SCALE). */
ah_output ah_run_capture(const char *tmp_prefix, char *const argv[], int timeout_ms);
void ah_output_free(ah_output *o);

/* ---- raw sockets -------------------------------------------------------------------- */

/* Connects to 127.0.0.1:port. Returns the fd or -1. */
int ah_connect(int port);
/* Sends all of s (or n bytes). Returns 0 or -1. */
int ah_send(int fd, const char *s);
int ah_send_n(int fd, const void *buf, size_t n);
/* Reads until `needle` appears in what was read so far, the peer closes, or the timeout.
 * buf receives everything read (NUL-terminated). Returns bytes read, or -1 on error. */
int ah_read_until(int fd, char *buf, size_t cap, const char *needle, int timeout_ms);
/* Reads whatever arrives within timeout_ms into buf. Returns bytes read (0 if none). */
int ah_read_for(int fd, char *buf, size_t cap, int timeout_ms);
/* True if the peer closes the connection within timeout_ms (draining any data; the
 * drained bytes go to buf if non-NULL). */
bool ah_wait_closed(int fd, char *buf, size_t cap, int timeout_ms);

/* ---- a hub: nats-server cluster with JetStream --------------------------------------- */

#define AH_HUB_MAX 3

typedef struct ah_hub {
    int nodes;
    char dir[512];
    ah_proc proc[AH_HUB_MAX];
    int client_port[AH_HUB_MAX];
    int cluster_port[AH_HUB_MAX];
    int leaf_port[AH_HUB_MAX];
    int ws_port[AH_HUB_MAX]; /* websocket listener (compression on): leaves over ws:// */
    int http_port[AH_HUB_MAX];
    char conf_path[AH_HUB_MAX][600];
} ah_hub;

/* Users on every hub node (a users list means every client must log in):
 *   vehicle / secret   LEAFNODE connections only (leaf remotes: nats-leaf://vehicle:secret@...)
 *   operator / secret  ordinary client connections: nats://operator:secret@127.0.0.1:<port>
 * Readiness also includes, for a cluster, a JetStream meta leader seen by every node (/jsz);
 * a first js_AddStream may still need a short retry while peers report in. Node indexes
 * into the arrays below and for ah_hub_restart_node are 0-based (0 is hub1). Each node's
 * config and log are <dir>/hubN.conf and <dir>/hubN.log (AH_KEEP_TMP keeps the dir). */

/* Starts `nodes` (1..3) nats-server processes named hub1..hubN in cluster "hubc" (a
 * cluster only when nodes > 1), JetStream domain "hub", a leafnodes port, and the seed's
 * leaf authorization in its working form: a top-level user vehicle/secret restricted to
 * LEAFNODE connections. `extra_conf` (may be NULL) is appended to every node's config.
 * Waits until every node answers /healthz?js-enabled-only=true. Returns 0 or -1. */
int ah_hub_start(ah_hub *h, int nodes, const char *extra_conf);
/* Restarts node i with its previous config and ports. */
int ah_hub_restart_node(ah_hub *h, int i);
void ah_hub_stop(ah_hub *h); /* stops every node (SIGTERM, then SIGKILL) and removes dir */

/* Per-node choices for ah_hub_start_opts. Zero-initialise and set what a test needs. */
typedef struct ah_hub_opts {
    int nodes;              /* 1..AH_HUB_MAX */
    const char *extra_conf; /* appended to every node's config (may be NULL) */
    /* Lines placed inside node i's `leafnodes { }` block after its listen line, e.g.
     * "advertise: \"127.0.0.1:5000\"" (a relay in front of the node) or a tls { } block.
     * NULL: nothing. */
    const char *leaf_conf[AH_HUB_MAX];
    /* Node i's leafnode port; 0 picks a free one. Set it when something (a relay) must
     * know the port before the hub starts. */
    int leaf_port[AH_HUB_MAX];
    /* The same for node i's websocket port, and lines inside its websocket { } block (with a
     * tls { } block there, the listener is wss; else no_tls). */
    int ws_port[AH_HUB_MAX];
    const char *ws_conf[AH_HUB_MAX];
    /* Replaces the whole default `authorization { users = [...] }` block when non-NULL
     * (then the test decides which users exist, e.g. an nkey leaf user). */
    const char *authorization;
} ah_hub_opts;

/* ah_hub_start with per-node leafnode settings, preset leafnode ports and an optional
 * authorization block of the test's own. Same readiness and cleanup rules as
 * ah_hub_start; ah_hub_restart_node and ah_hub_stop work on the result. Returns 0 or -1. */
int ah_hub_start_opts(ah_hub *h, const ah_hub_opts *o);

/* ---- the uplink transport under test ---------------------------------------------------
 * Every hub node listens for leafnodes on a plain port and on a websocket port with
 * compression. AH_UPLINK_TRANSPORT=ws makes the tests' leaves use the websocket one
 * (ctest's *_ws entries set it); otherwise nats-leaf:// as before. */
bool ah_uplink_ws(void);
/* The port a leaf dials for a hub node: with ws, a hub leafnode port started by this
 * process maps to that node's websocket port; other ports are returned unchanged. */
int ah_uplink_port(int leaf_port);
/* "nats-leaf://[userinfo@]127.0.0.1:<port>" or, with ws, "ws://...:<websocket port>". */
void ah_leaf_url(char *buf, size_t cap, int port, const char *userinfo);
/* Lines a leafnodes remote block needs for the transport ("" or "ws_compression: true"). */
const char *ah_leaf_remote_opts(void);

/* Prints the tail (max bytes) of every node's log to stderr. */
void ah_hub_print_logs(const ah_hub *h, size_t max);

/* GET http://127.0.0.1:port/path; returns the malloc'd body (NULL on error) and the HTTP
 * status in *status if non-NULL. */
char *ah_http_get(int port, const char *path, int *status);

#endif
