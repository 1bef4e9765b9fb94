/* Applying changed hub configs to a local fleet's running nats-server nodes: SIGHUP, then
 * confirmation through each node's /varz config_load_time. Adding or removing a leafnode
 * user is applied by a reload on nats-server 2.9.10 (docs/security.md); a fleet whose hubs
 * run elsewhere (`aerie topology` output) is reloaded by its operator. */
#ifndef AERIE_CLI_HUB_RELOAD_H
#define AERIE_CLI_HUB_RELOAD_H

#include "cli/fleet.h"
#include "common/err.h"

#include <stdbool.h>
#include <sys/types.h>

/* How many times a config that adds an identity is reloaded: nats-server 2.9.10 wires the
 * service imports of an account that a reload adds only at the next reload (measured: a
 * vehicle added by one reload reaches nothing of its tenant until a second one), so an
 * addition is applied with two reloads in a row. A removal needs one: with 1,000 vehicles a
 * reload of the accounts took a hub node from 2 s to over 40 s when a second followed. */
#define AE_HUB_RELOADS 2

/* Sends SIGHUP to every hub node of a local fleet whose recorded PID is still a nats-server
 * started with that node's config, then waits up to timeout_ms for each node's /varz
 * config_load_time to change (one more SIGHUP halfway covers a signal that arrived while
 * the node was busy); `reloads` times (AE_HUB_RELOADS after an addition, 1 after a
 * removal). Returns the number of nodes reloaded (all of them), or AE_EIO / AE_ETIMEOUT with
 * a message naming the node that did not reload and why (the reload line of its log). A
 * fleet without local hub processes returns 0 without doing anything. */
int ae_hub_reload_all(const ae_fleet *f, int reloads, int timeout_ms, ae_err *err);

/* True when /proc/PID/cmdline names nats-server and has `conf` as its -c/--config value. */
bool ae_hub_pid_runs_conf(pid_t pid, const char *conf);

#endif
