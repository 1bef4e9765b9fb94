/* A two-region deployment made from the output of `aerie topology` alone, on loopback: the
 * description (regions eu and us, one hub node each, each the other's fallback; with
 * domain_per_region us is the global region and keeps a disaster-recovery copy of eu), the
 * generated hub configs started as nats-server, provisioned with the generated provision.sh
 * (or `aerie hub init` in us with one domain), the guard of each region (`aerie guard`, as
 * its generated unit runs it), and per region one simulated drone: `aerie
 * sim` -> aerie-gw -> aerie-leaf, all from their generated configs. A recorder on each leaf
 * keeps every state and event message the drone published, which the checks compare with
 * what the hubs stored and what the readers return.
 *
 * Used by tests/cli/test_deploy.c (CI) and bench/dr_drill.c (the longer drill that prints
 * the numbers of docs/deploy.md). Every failure is an AH_ASSERT (harness.h). */
#ifndef AERIE_TESTS_DEPLOY_FIXTURE_H
#define AERIE_TESTS_DEPLOY_FIXTURE_H

#include "harness/harness.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DFX_EU 0
#define DFX_US 1

/* Every state and event message a drone published, as "subject\x1fpayload". */
typedef struct dfx_recorder {
    natsConnection *nc;
    natsSubscription *subs[2];
    pthread_mutex_t mu;
    char **items;
    size_t n, cap;
} dfx_recorder;

typedef struct dfx_region {
    const char *name;
    int client, cluster, leaf, gw, http;
    ah_proc hub;
    ah_proc guard; /* `aerie guard --dir OUT/<region>` */
} dfx_region;

typedef struct dfx_vehicle {
    char vid[16];
    int region; /* its home region */
    int leaf_port, http_port, mav_port;
    ah_proc leaf, gw, sim;
    dfx_recorder rec;
} dfx_vehicle;

typedef struct dfx {
    bool per_region; /* domain_per_region, else one domain with gateways */
    char *dir;
    char out[700]; /* the output directory of `aerie topology` */
    dfx_region reg[2];
    dfx_vehicle veh[2];
} dfx;

/* What the readers and the hubs hold of one vehicle, against its recording. */
typedef struct dfx_counts {
    long recorded; /* messages the drone published */
    long read;     /* messages `aerie replay` of its home region returns (each record once) */
    long missing;  /* recorded but not read */
    long extra;    /* read but not recorded, or read more often than recorded */
    long stored;   /* messages stored in the regions' own streams (a record stored by two
                    * regions around a failover counts twice) */
} dfx_counts;

/* Writes the description (both modes; `permissions`: vehicle_permissions) and runs
 * `aerie topology`; nothing is started. */
void dfx_generate(dfx *d, bool per_region, bool permissions);
/* Starts both hubs, waits for them (and for the region link with per_region), provisions,
 * and starts both vehicles. */
void dfx_start(dfx *d);
/* Stops everything and removes the directory. */
void dfx_stop(dfx *d);

void dfx_hub_start(dfx *d, int r); /* and waits until it answers with JetStream */
void dfx_hub_stop(dfx *d, int r, int sig);

/* The hub (server name) vehicle i's leaf is connected to now, or "" (from its /varz). */
void dfx_vehicle_hub(dfx *d, int i, char *out, size_t cap);
/* Waits until vehicle i's leaf is connected to a hub of region r; returns the ms it took,
 * or -1 after timeout_ms. */
long dfx_wait_attached(dfx *d, int i, int r, int timeout_ms);
/* Waits until region r's own state stream holds a message of vehicle i newer than
 * `after_ns` (wall clock); returns the ms since `since_mono_ms` (ah_now_ms) or -1. */
long dfx_wait_stored_in(dfx *d, int i, int r, int64_t after_ns, int64_t since_mono_ms,
                        int timeout_ms);

/* Region r goes away: its hub gets `sig` (SIGTERM: a hub outage, SIGKILL: the region is
 * lost). Every vehicle attached there must carry on in region `to`: attach_ms[i] receives
 * how long vehicle i took to attach there, and stored_ms[i] until a message of it was
 * stored there (watched for up to store_wait_ms; 0: not watched), counted from the signal;
 * -1 for a vehicle that was elsewhere, or nothing stored in time (with one JetStream domain,
 * nothing is stored while the region holding the streams is away). */
void dfx_lose_region(dfx *d, int r, int sig, int to, int store_wait_ms, long attach_ms[2],
                     long stored_ms[2]);

/* Stops the drones (sim, then gateway: nothing more is published) and waits until every
 * leaf has forwarded its backlog. */
void dfx_drones_stop(dfx *d);
/* Counts vehicle i (see dfx_counts); `global` reads the fleet-wide aggregate instead. */
dfx_counts dfx_check(dfx *d, int i, bool global);

/* Messages in `stream` of region r whose subject matches filter (subjects index), or -1. */
long dfx_stream_count(dfx *d, int r, const char *stream, const char *filter);

/* Runs `aerie ARGS...` (NULL-terminated), returning its output (caller frees). */
ah_output dfx_aerie(dfx *d, const char *first, ...);

#endif
