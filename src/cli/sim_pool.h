/* The loop of an `aerie sim` process (sim_pool.c): one or many drones (sim_drone.h), one
 * poll() over all their sockets, each drone ticking on its own schedule. */
#ifndef AERIE_CLI_SIM_POOL_H
#define AERIE_CLI_SIM_POOL_H

#include "cli/sim_drone.h"

#include <signal.h>
#include <stddef.h>

/* Flies drones[0..n-1] (opened, not started) until *stop is set or every drone's --duration
 * passed; each drone is closed as it finishes. Their first ticks are spread over one tick
 * period, so that a pool of drones does not send in bursts. Returns 0, or -1 when poll()
 * failed for a reason other than a signal. */
int ae_sim_pool_run(ae_sim_drone *drones, size_t n, volatile sig_atomic_t *stop);

#endif
