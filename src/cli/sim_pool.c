/* One process, many drones: see sim_pool.h.
 *
 * Why: a local fleet of 1,000 vehicles ran 1,000 aerie-sim processes, each paying again for
 * what every process pays (libcrypto's relocated data alone is 400 of a drone's 571 KiB
 * PSS). A drone needs a socket and a few hundred bytes of state, so many fit one process.
 *
 * Isolation: each drone has its own socket and parser, and reads at most RECV_BATCH
 * datagrams per round, so a drone flooded with input, or fed garbage, leaves the others'
 * ticks on time and their state untouched. */
#include "cli/sim_pool.h"

#include "common/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#define RECV_BATCH 64 /* datagrams one drone may read per round */

/* The earliest next tick of the drones still flying, or INT64_MAX when none is. */
static int64_t earliest_tick(const ae_sim_drone *d, size_t n)
{
    int64_t t = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (d[i].fd >= 0 && d[i].next_tick < t)
            t = d[i].next_tick;
    return t;
}

int ae_sim_pool_run(ae_sim_drone *d, size_t n, volatile sig_atomic_t *stop)
{
    struct pollfd *pf = calloc(n ? n : 1, sizeof *pf);
    if (!pf)
        return -1;
    int64_t now = ae_mono_ns();
    for (size_t i = 0; i < n; i++) {
        ae_sim_drone_start(&d[i], now);
        /* The first ticks spread over one tick period (a single drone ticks at once). */
        d[i].next_tick += (int64_t)((double)d[i].tick_ns * (double)i / (double)n);
    }
    size_t flying = n;
    int rc = 0;
    while (!*stop && flying > 0) {
        now = ae_mono_ns();
        int64_t next = earliest_tick(d, n);
        int wait_ms = next > now ? (int)((next - now + AE_NS_PER_MS - 1) / AE_NS_PER_MS) : 0;
        for (size_t i = 0; i < n; i++)
            pf[i] = (struct pollfd){.fd = d[i].fd, .events = POLLIN}; /* fd -1: skipped */
        if (poll(pf, (nfds_t)n, wait_ms) < 0 && errno != EINTR) {
            perror("aerie sim: poll");
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (d[i].fd >= 0 && (pf[i].revents & (POLLIN | POLLERR)))
                ae_sim_drone_receive(&d[i], RECV_BATCH);
        now = ae_mono_ns();
        for (size_t i = 0; i < n; i++) {
            if (d[i].fd < 0)
                continue;
            if (ae_sim_drone_done(&d[i])) {
                ae_sim_drone_close(&d[i]);
                flying--;
                continue;
            }
            ae_sim_drone_tick(&d[i], now);
        }
    }
    free(pf);
    return rc;
}
