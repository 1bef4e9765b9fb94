/* A local fleet, as `aerie up` lays it out under one directory DIR: which ports and
 * passwords it uses, which configs it writes and which processes it runs. `cmd_up.c` starts
 * and stops what this plans.
 *
 * Layout of DIR:
 *   fleet.json        the fleet record (fleet.h): hub nodes, vehicles, ports, processes
 *   conf/             hub1..3.conf (nats-server), leaf-<vid>.conf, gw-<vid>.conf
 *   creds/            per-vehicle nkey seeds and the registry creds.json (creds_registry.h)
 *   data/             JetStream stores of the hub nodes, each vehicle leaf's uplink store
 *   logs/             one log per process
 *
 * Topology: a 3-node nats-server cluster "aerie" with JetStream domain "hub" on 127.0.0.1,
 * and per vehicle: aerie sim --UDP MAVLink--> aerie-gw --NATS--> aerie-leaf --leafnode-->
 * aerie-relay --> one hub node. The drones fly in pools, up to AE_LOCAL_SIM_POOL per
 * aerie-sim process (sim-pool-1, ...); every other process serves one vehicle. The leaf dials only
 * its relay (`ignore_discovered_urls`), so `aerie link cut VID` really cuts that vehicle off, and
 * the leaf's store-and-forward shows its catch-up after `heal`.
 *
 * Security (docs/security.md): every vehicle logs in with its own nkey from the registry
 * that `aerie creds` and `aerie revoke` keep, into an account of its own that reaches only
 * its own subjects in its tenant's account (accounts.h); a vehicle revoked there gets no key
 * and keeps its revocation across `down` and `up`.
 *
 * Tenants (tenant.h): one, "default", unless `aerie up --tenant NAME:N[:free]` asks for
 * several. Each gets its own account, operator login (the first's is "operator", the others'
 * "operator-<name>"), streams, dashboard and vehicles (numbered on from the previous
 * tenant's); `aerie guard` runs for all of them. */
#ifndef AERIE_CLI_LOCAL_FLEET_H
#define AERIE_CLI_LOCAL_FLEET_H

#include "cli/fleet.h"
#include "cli/topology.h"
#include "common/err.h"
#include "common/ident.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#define AE_LOCAL_HUB_NODES 3
/* Drones per simulator process. A process costs ~570 KiB of private memory whatever it does
 * (400 KiB of it libcrypto's relocated data) and a drone only a socket and a few KiB, so 50
 * drones share that cost (1,000 vehicles: 20 processes instead of 1,000). 50 keeps a pool's
 * one loop far from a core's limit even at the default 10 Hz (2,500 ticks a second, a few
 * percent of a core), and a crash grounds 50 drones, not the fleet: `up` restarts that pool. */
#define AE_LOCAL_SIM_POOL 50

/* Each hub node's JetStream file store (jetstream.max_file_store). */
#define AE_LOCAL_HUB_STORE "4GB"

/* The programs a local fleet runs, as absolute paths. sim is aerie-sim (the drone without
 * the CLI's other libraries, sim_main.c) when it is found, else "" and `aerie sim` runs. */
typedef struct ae_local_programs {
    char nats_server[PATH_MAX], leaf[PATH_MAX], gw[PATH_MAX], relay[PATH_MAX], self[PATH_MAX];
    char sim[PATH_MAX];
} ae_local_programs;

/* Finds nats-server and our programs (next to the running `aerie`, then on PATH). Returns 0,
 * or AE_ENOENT / AE_EIO with a message saying how to install or build what is missing. */
int ae_local_find_programs(ae_local_programs *p, ae_err *err);

/* Opens the local fleet in `dir`: resolves it to an absolute path into abs (creating the
 * directory first when `create`) and loads DIR/fleet.json. Returns 0 and the record in *out;
 * AE_ENOENT with *out NULL when there is no fleet.json (abs is "" when the directory itself
 * is missing, and the message says how to start a fleet there); or AE_EINVAL / AE_EIO. */
int ae_local_fleet_open(const char *dir, bool create, char abs[PATH_MAX], ae_fleet **out,
                        ae_err *err);

/* The id of the i-th vehicle (0-based, in start order) of a local fleet of n vehicles: the
 * one home of the id format. At least three digits, more when the fleet needs them, all of
 * one width so that ids sort in start order: VID-001..VID-999 up to 999 vehicles, VID-0001..
 * VID-1000 for 1,000 (and up to 9,999). */
void ae_local_vid(int i, int n, char *out, size_t cap);

/* A tenant of a local fleet and how many vehicles it has. */
typedef struct ae_local_tenant {
    char name[AE_IDENT_MAX + 1];
    int vehicles;
    bool free_tier;
} ae_local_tenant;

/* Plans a fleet in `dir` (absolute) with the given tenants (at least one) and their
 * vehicles, whose simulated drones report at telemetry_hz (0: `aerie sim`'s default): creates
 * conf/, data/ and logs/, gives every vehicle that is not revoked in `reg` a key (saving the
 * registry; a free-tier tenant with more than 10 is refused), picks ports (those of `old`, the
 * previous record, when they are still free; old may be NULL), writes every config, and returns the
 * new record with its processes (none started) in *out, saved as DIR/fleet.json. Passwords are
 * old's, or new. Returns 0 or an AE_E* with a message. */
int ae_local_fleet_plan(const char *dir, const ae_local_tenant *tenants, int n_tenants,
                        const char *env, bool dashboard, double telemetry_hz, const ae_fleet *old,
                        json_t *reg, const ae_local_programs *progs, ae_fleet **out, ae_err *err);

/* The store budget of the streams of local fleet f on each hub node (retention.h): 90 % of
 * AE_LOCAL_HUB_STORE for a fleet of one tenant that is not on the free tier; 0 (none) for
 * several tenants or a free one, whose accounts' own JetStream limits nats-server reserves
 * on the nodes as well (measured: two tenants' shares of the rest were refused with
 * "insufficient storage resources"), and whose free-tier limit must refuse, not discard.
 * Used by `aerie up` and by `aerie hub init --dir`, so that both set the same limits. */
int64_t ae_local_store_budget(const ae_fleet *f);

/* The topology model of a planned local fleet (one region, its hubs and vehicles as the
 * record has them); `reg` is borrowed into it as the source of the hubs' managed users.
 * Returns NULL when out of memory. */
ae_topology *ae_local_topology(const ae_fleet *f, json_t *reg);

#endif
