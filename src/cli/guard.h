/* `aerie guard`: the hub-side service that lets vehicles make the two JetStream calls a
 * permission cannot scope (guard_check.h says what passes):
 *
 *   - a consumer create: the walk of aerie-leaf's forwarder reads its own subjects back
 *     through a pull consumer, but the request body could also ask for a push consumer,
 *     which would deliver the vehicle's records onto any subject of its tenant;
 *   - a message delete: the order repair deletes its own copies that a stream leader change
 *     left out of order; the call names only a stream sequence, any vehicle's.
 *
 * Each vehicle's account maps these calls onto aerie.guard.<vid>.<domain>.<call> in its
 * tenant's account (accounts.h). The guard, logged in to every tenant account of a fleet
 * directory as aerie-guard-<tenant> (queue group "aerie-guard", so several instances share
 * the work), checks each request, forwards the ones that pass to JetStream (for a delete
 * after reading the message at that sequence and finding the vehicle's subject and id on
 * it), and relays JetStream's answer; it answers a refused request like JetStream would,
 * with an error object (code 403). It holds no state but the requests in flight (at most
 * 10 s each).
 *
 * `aerie up` runs one for a local fleet; `aerie topology` writes a systemd unit to run one
 * on every hub node of a region. While no guard runs, vehicles keep forwarding but cannot
 * resync after a reconnect (their walks go unanswered and are retried). */
#ifndef AERIE_CLI_GUARD_H
#define AERIE_CLI_GUARD_H

#include "cli/cli.h"

/* The queue group the guard instances share. */
#define AE_GUARD_QUEUE "aerie-guard"

/* Runs `aerie guard [--dir DIR] [--tenant NAME]` until SIGINT or SIGTERM. Returns the exit
 * code: 0 after a signal, 1 when the fleet directory has no tenant with a guard login or a
 * connection cannot be set up, 2 on a usage error. */
int ae_cmd_guard(ae_cli *c, int argc, char **argv);

#endif
