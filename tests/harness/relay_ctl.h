/* Control of aerie-relay from tests: start a relay in front of a target port, change how
 * the link behaves ("cut", "blackhole", "heal", "delay MS", "rate BPS", "stats"), stop it.
 *
 * Clients of the relayed service connect to r->port instead of the target. The relay is
 * a child process in the case's process group, so it dies with the case even if the case
 * never calls ah_relay_stop. Commands and their answers are described in
 * tests/tools/relay.c and docs/testing.md. */
#ifndef AERIE_TESTS_RELAY_CTL_H
#define AERIE_TESTS_RELAY_CTL_H

#include <stddef.h>

#include "harness/harness.h"

typedef struct ah_relay {
    ah_proc proc;
    int port;         /* clients connect to 127.0.0.1:port */
    int control_port; /* the line protocol */
    int target_port;  /* where bytes go: 127.0.0.1:target_port */
    char dir[512];    /* temporary directory holding relay.log; removed by ah_relay_stop */
} ah_relay;

/* Starts aerie-relay (ah_bin("aerie-relay")) on ports the kernel chooses, forwarding to
 * 127.0.0.1:target_port, and waits until it answers "stats".
 * The target need not be up yet (connections made before it is are reset). Returns 0, or
 * -1 with a message on stderr (then nothing is left running). */
int ah_relay_start(ah_relay *r, int target_port);
/* Sends one command line (no newline needed) and reads the one-line answer into reply
 * (without the newline; may be NULL). Returns 0 if the answer starts with "OK", -1 for
 * "ERR ..." or when the relay cannot be reached. */
int ah_relay_cmd(ah_relay *r, const char *cmd, char *reply, size_t cap);
/* Stops the relay by PID (SIGTERM, then SIGKILL) and removes its directory (kept if
 * AH_KEEP_TMP is set). Safe to call twice. */
void ah_relay_stop(ah_relay *r);

#endif
