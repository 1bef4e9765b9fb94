/* dr_drill: the disaster-recovery drill of docs/deploy.md, on this machine. It deploys two
 * regions from the output of `aerie topology` alone (tests/cli/deploy_fixture.h: eu and us,
 * each the other's fallback, a simulated drone per region recorded on its own leaf) and then:
 *
 *   1. a hub outage: region REGION's hub stops for --outage seconds and comes back;
 *   2. the way home: the hub the vehicle went to restarts, so it dials its home region again;
 *   3. the loss of a region: REGION's hub is killed, the vehicles fly on for --outage seconds
 *      in the fallback region, then REGION comes back;
 *
 * and prints, per step, how long each vehicle took to attach to the other region and until a
 * message of it was stored there, and at the end, per vehicle, what it published against
 * what the readers return (its home region's `aerie replay`, and the aggregate) and what the
 * regions stored. Not a CI test: it takes a few minutes.
 *
 *   dr_drill [--mode regions|gateways] [--region eu|us] [--outage 30] [--fly 10]
 */
#include "deploy_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report(dfx *d, const char *step, int to, const long attach[2], const long stored[2])
{
    for (int i = 0; i < 2; i++) {
        if (attach[i] < 0)
            continue;
        printf("%-28s %-8s attached to %s1 after %6ld ms, ", step, d->veh[i].vid, d->reg[to].name,
               attach[i]);
        if (stored[i] >= 0)
            printf("stored there after %6ld ms\n", stored[i]);
        else
            printf("nothing stored while the streams' region is away\n");
    }
}

/* With one domain the streams live in us (where provisioning ran): while us is away nothing
 * is stored anywhere, so there is nothing to wait for. */
static int store_wait(const dfx *d, int lost)
{
    return d->per_region || lost != DFX_US ? 30000 : 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: dr_drill [--mode regions|gateways] [--region eu|us] [--outage S] [--fly S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bool per_region = true;
    int region = DFX_EU, outage = 30, fly = 10;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(argv[i], "--mode") == 0 && (!strcmp(v, "regions") || !strcmp(v, "gateways")))
            per_region = strcmp(v, "regions") == 0;
        else if (strcmp(argv[i], "--region") == 0 && (!strcmp(v, "eu") || !strcmp(v, "us")))
            region = strcmp(v, "eu") == 0 ? DFX_EU : DFX_US;
        else if (strcmp(argv[i], "--outage") == 0 && atoi(v) > 0)
            outage = atoi(v);
        else if (strcmp(argv[i], "--fly") == 0 && atoi(v) > 0)
            fly = atoi(v);
        else
            return usage();
    }
    int other = 1 - region;
    dfx d;
    dfx_generate(&d, per_region, false);
    printf("dr_drill: %s, region %s (fallback %s), outages of %d s, output in %s\n",
           per_region ? "a JetStream domain per region" : "one JetStream domain (gateways)",
           d.reg[region].name, d.reg[other].name, outage, d.out);
    dfx_start(&d);
    for (int i = 0; i < 2; i++)
        if (dfx_wait_attached(&d, i, i, 15000) < 0) {
            fprintf(stderr, "dr_drill: %s did not attach to its home region\n", d.veh[i].vid);
            return 1;
        }
    ah_sleep_ms(fly * 1000);
    long attach[2], stored[2];

    /* 1. hub outage */
    dfx_lose_region(&d, region, SIGTERM, other, store_wait(&d, region), attach, stored);
    report(&d, "1. hub outage", other, attach, stored);
    ah_sleep_ms(outage * 1000);
    dfx_hub_start(&d, region);
    ah_sleep_ms(fly * 1000);

    /* 2. home again: the fallback hub restarts, its guests dial their next URL */
    dfx_lose_region(&d, other, SIGTERM, region, store_wait(&d, other), attach, stored);
    report(&d, "2. fallback hub restarts", region, attach, stored);
    dfx_hub_start(&d, other);
    ah_sleep_ms(fly * 1000);

    /* 3. the region is lost */
    dfx_lose_region(&d, region, SIGKILL, other, store_wait(&d, region), attach, stored);
    report(&d, "3. region lost", other, attach, stored);
    ah_sleep_ms(outage * 1000);
    dfx_hub_start(&d, region);
    ah_sleep_ms(fly * 1000);

    dfx_drones_stop(&d);
    printf("\n%-8s %-10s %9s %9s %8s %6s %9s %11s\n", "VID", "read from", "published", "read",
           "missing", "extra", "stored", "stored 2x");
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 2; i++) {
            dfx_counts k = dfx_check(&d, i, g == 1);
            printf("%-8s %-10s %9ld %9ld %8ld %6ld %9ld %11ld\n", d.veh[i].vid,
                   g ? "aggregate" : d.reg[i].name, k.recorded, k.read, k.missing, k.extra,
                   k.stored, k.stored - k.read);
        }
    if (per_region) {
        long regions = 0, agg = 0;
        for (int r = 0; r < 2; r++)
            regions += dfx_stream_count(&d, r, "TWIN_STATE", ">") +
                       dfx_stream_count(&d, r, "TWIN_EVENTS", ">");
        for (int t = 0; t < 100 && agg != regions; t++) {
            agg = dfx_stream_count(&d, DFX_US, "TWIN_STATE_ALL", ">") +
                  dfx_stream_count(&d, DFX_US, "TWIN_EVENTS_ALL", ">");
            if (agg != regions)
                ah_sleep_ms(100);
        }
        printf("\naggregate: %ld messages, the regions' own streams: %ld\n", agg, regions);
    }
    dfx_stop(&d);
    nats_Close();
    return 0;
}
