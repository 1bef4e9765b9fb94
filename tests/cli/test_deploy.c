/* Deployments made from the output of `aerie topology` alone (deploy_fixture.h), in both
 * global modes: two regions on loopback, each the other's fallback, a simulated drone per
 * region (aerie sim -> aerie-gw -> aerie-leaf from the generated configs), every message the
 * drones published recorded on their own leaves and compared with what the readers return.
 *
 *   generated_configs_load      every generated file loads in its program; the vehicle set is
 *                               complete (store-and-forward, distinct ports, hub URLs of the
 *                               home region then the fallback region, keys known in both)
 *   regions_outage_and_loss     domain_per_region: a hub outage and then the loss of a whole
 *                               region; the vehicles fail over and come back, nothing is lost
 *                               or read twice, the aggregate and the disaster-recovery copy
 *                               hold what the regions stored once, and no read changes with
 *                               or without the copies (also after replacing an old mirror)
 *   gateways_outage_and_loss    one domain with gateways: the same outages, the data waits in
 *                               the leaves while the region holding the streams is away
 *
 * The failover times are printed (stderr) for information, never asserted as performance. */
#include "deploy_fixture.h"
#include "gw/gw.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- configs ------------------------------------------------------------------------- */

static int check_with(const char *prog, const char *conf, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(127);
        execl(prog, prog, "-t", "-c", conf, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *read_out(dfx *d, const char *rel)
{
    char path[900];
    snprintf(path, sizeof path, "%s/%s", d->out, rel);
    char *t = ah_read_file(path);
    AH_ASSERT_MSG(t, "%s was not generated", rel);
    return t;
}

/* The key creds.json records for vid (caller frees). */
static char *public_key(dfx *d, const char *vid)
{
    char path[900];
    snprintf(path, sizeof path, "%s/creds/creds.json", d->out);
    json_t *reg = json_load_file(path, 0, NULL);
    const char *pub = json_string_value(
        json_object_get(json_object_get(json_object_get(reg, "vehicles"), vid), "public"));
    char *r = strdup(pub ? pub : "?");
    json_decref(reg);
    return r;
}

static void configs_of_mode(bool per_region)
{
    dfx d;
    dfx_generate(&d, per_region, true);
    char conf[900], log[900];
    snprintf(log, sizeof log, "%s/check.log", d.dir);
    for (int r = 0; r < 2; r++) {
        snprintf(conf, sizeof conf, "%s/hub-%s1.conf", d.out, d.reg[r].name);
        AH_ASSERT_MSG(check_with(ah_nats_server(), conf, log) == 0, "nats-server -t rejects %s",
                      conf);
    }
    for (int i = 0; i < 2; i++) {
        dfx_vehicle *v = &d.veh[i];
        const char *home = d.reg[i].name, *fb = d.reg[1 - i].name;
        snprintf(conf, sizeof conf, "%s/leaf-%s.conf", d.out, v->vid);
        AH_ASSERT_MSG(check_with(ah_bin("aerie-leaf"), conf, log) == 0, "aerie-leaf -t rejects %s",
                      conf);
        /* Store-and-forward on for the vehicle's subjects, its identity and domain. */
        char rel[64], want[600];
        snprintf(rel, sizeof rel, "leaf-%s.conf", v->vid);
        char *leaf = read_out(&d, rel);
        snprintf(want, sizeof want, "store { dir: \"%s/veh/%s\"", d.dir, v->vid);
        AH_ASSERT_CONTAINS(leaf, want);
        snprintf(want, sizeof want,
                 "  subjects: [\"fleet.prod.veh.%s.state.>\", \"fleet.prod.veh.%s.event.>\"]\n"
                 "  vid: \"%s\"\n  env: \"prod\"\n  domain: \"%s\"\n",
                 v->vid, v->vid, v->vid, per_region ? (i ? "hub-us" : "hub-eu") : "hub");
        AH_ASSERT_CONTAINS(leaf, want);
        /* Its own ports, and the home region's hub first, the fallback region's after. */
        snprintf(want, sizeof want, "listen: \"127.0.0.1:%d\"\nhttp: \"127.0.0.1:%d\"",
                 v->leaf_port, v->http_port);
        AH_ASSERT_CONTAINS(leaf, want);
        snprintf(want, sizeof want,
                 "        \"nats-leaf://127.0.0.1:%d\"\n        \"nats-leaf://127.0.0.1:%d\"\n",
                 d.reg[i].leaf, d.reg[1 - i].leaf);
        AH_ASSERT_CONTAINS(leaf, want);
        free(leaf);
        /* The gateway loads in aerie-gw and listens where this drone sends. */
        snprintf(conf, sizeof conf, "%s/gw-%s.conf", d.out, v->vid);
        ae_gw_config cfg;
        ae_gw_config_init(&cfg);
        ae_err err = {0};
        AH_ASSERT_MSG(ae_gw_config_load(&cfg, conf, &err) == 0 &&
                          ae_gw_config_check(&cfg, &err) == 0,
                      "aerie-gw rejects %s: %s", conf, err.msg);
        snprintf(want, sizeof want, "udp://0.0.0.0:%d", v->mav_port);
        AH_ASSERT_EQ_INT(cfg.nmavlink, 1);
        AH_ASSERT_EQ_STR(cfg.mavlink[0], want);
        snprintf(want, sizeof want, "nats://127.0.0.1:%d", v->leaf_port);
        AH_ASSERT_EQ_STR(cfg.nats_url, want);
        ae_gw_config_free(&cfg);
        /* Its key is accepted by the hubs of both regions, the fallback's included, and its
         * permissions let its leaf make its own JetStream calls in either region's domain,
         * scoped to its own subjects, and no others (issue 18: no purge, no delete of others'). */
        char *pub = public_key(&d, v->vid);
        for (int r = 0; r < 2; r++) {
            snprintf(rel, sizeof rel, "hub-%s1.conf", r ? fb : home);
            char *hub = read_out(&d, rel);
            char *line = strstr(hub, pub), *end = line ? strchr(line, '\n') : NULL;
            AH_ASSERT_MSG(line && end, "%s does not accept %s", rel, v->vid);
            *end = 0;
            char call[300];
            for (int k = 0; k < (per_region ? 2 : 1); k++) {
                snprintf(call, sizeof call,
                         "\"$JS.%s.API.CONSUMER.CREATE.*.*.fleet.prod.veh.%s.>\"",
                         per_region ? (k ? "hub-us" : "hub-eu") : "hub", v->vid);
                AH_ASSERT_CONTAINS(line, call);
            }
            AH_ASSERT(!strstr(line, ".API.>\"") && !strstr(line, "PURGE"));
            free(hub);
        }
        free(pub);
    }
    /* The region views name where the readers look: the fallback's domain with a domain per
     * region (one domain needs nothing more), and the aggregate. */
    char *view = read_out(&d, "eu/fleet.json");
    if (per_region) {
        AH_ASSERT_CONTAINS(view, "\"fallback_domains\": [\n      \"hub-us\"\n    ]");
        AH_ASSERT_CONTAINS(view, "\"global_domain\": \"hub-us\"");
    } else {
        AH_ASSERT(!strstr(view, "fallback_domains") && !strstr(view, "global_domain"));
    }
    free(view);
    dfx_stop(&d);
}

static void generated_configs_load(void)
{
    configs_of_mode(true);
    configs_of_mode(false);
}

/* ---- outages ------------------------------------------------------------------------- */

/* Region r goes away (sig: SIGTERM a hub outage, SIGKILL the loss of the region); the
 * vehicles attached there carry on in region `to`. Prints how long that took. */
static void lose_region(dfx *d, int r, int sig, int to, const char *what)
{
    long attach[2], stored[2];
    dfx_lose_region(d, r, sig, to, 30000, attach, stored);
    for (int i = 0; i < 2; i++)
        AH_ASSERT_MSG(attach[i] < 0 || stored[i] >= 0, "%s: nothing of %s stored in region %s",
                      what, d->veh[i].vid, d->reg[to].name);
    for (int i = 0; i < 2; i++)
        if (attach[i] >= 0)
            fprintf(stderr, "%s: %s attached to %s1 after %ld ms, stored there after %ld ms\n",
                    what, d->veh[i].vid, d->reg[to].name, attach[i], stored[i]);
}

/* Every vehicle: what it published is what the readers return, each message once. */
static void check_complete(dfx *d, bool global)
{
    for (int i = 0; i < 2; i++) {
        dfx_counts k = dfx_check(d, i, global);
        fprintf(stderr,
                "%s%s: recorded %ld, read %ld, missing %ld, extra %ld, stored by the regions "
                "%ld\n",
                d->veh[i].vid, global ? " (aggregate)" : "", k.recorded, k.read, k.missing, k.extra,
                k.stored);
        AH_ASSERT_MSG(k.recorded > 50, "%s published only %ld messages", d->veh[i].vid, k.recorded);
        AH_ASSERT_EQ_INT(k.missing, 0);
        AH_ASSERT_EQ_INT(k.extra, 0);
        AH_ASSERT_EQ_INT(k.read, k.recorded);
        AH_ASSERT(k.stored >= k.recorded);
    }
}

/* Waits until stream of region r holds `want` messages matching filter; the last count. */
static long wait_count(dfx *d, int r, const char *stream, const char *filter, long want)
{
    long n = -1;
    int64_t deadline = ah_now_ms() + (int64_t)(15000 * ah_timeout_scale());
    while (n != want && ah_now_ms() < deadline) {
        n = dfx_stream_count(d, r, stream, filter);
        if (n != want)
            ah_sleep_ms(100);
    }
    return n;
}

/* What the readers print, without what changes by itself from one run to the next (ages,
 * link counters): twin and replay as JSON, status reduced to the fields from the data. */
static char *reads(dfx *d)
{
    char *all = strdup("");
    for (int view = 0; view < 3; view++) {
        char dir[900];
        snprintf(dir, sizeof dir, "%s/%s", d->out, view == 1 ? "us" : "eu");
        /* Last, so that NULL ends the arguments of the regional views. */
        const char *g = view == 2 ? "--global" : NULL;
        for (int i = 0; i < 2; i++) {
            ah_output o[3];
            o[0] = dfx_aerie(d, "twin", d->veh[i].vid, "--dir", dir, "--json", g, NULL);
            /* The link reports go on arriving: only what the drones published. */
            o[1] = dfx_aerie(d, "replay", d->veh[i].vid, "--dir", dir, "--since", "1h", "--subject",
                             "state.>", g, NULL);
            o[2] = dfx_aerie(d, "replay", d->veh[i].vid, "--dir", dir, "--since", "1h", "--subject",
                             "event.>", g, NULL);
            for (int k = 0; k < 3; k++) {
                AH_ASSERT_MSG(o[k].code == 0, "read failed: %s", o[k].err);
                AH_ASSERT_MSG(!strstr(o[k].err, "note:"), "%s", o[k].err);
                char *n = NULL;
                AH_ASSERT(asprintf(&n, "%s%s", all, o[k].out) > 0);
                free(all);
                all = n;
                ah_output_free(&o[k]);
            }
        }
        ah_output s = dfx_aerie(d, "status", "--dir", dir, "--json", g, NULL);
        AH_ASSERT_MSG(s.code == 0, "status: %s", s.err);
        json_t *st = json_loads(s.out, 0, NULL);
        size_t k;
        json_t *o;
        json_array_foreach(st, k, o)
        {
            json_t *keep =
                json_pack("{s:O, s:O, s:O, s:O}", "vid", json_object_get(o, "vid"), "battery",
                          json_object_get(o, "battery_pct"), "position",
                          json_object_get(o, "position"), "mode", json_object_get(o, "mode"));
            char *dd = json_dumps(keep, JSON_COMPACT | JSON_SORT_KEYS), *n = NULL;
            AH_ASSERT(asprintf(&n, "%s%s\n", all, dd) > 0);
            free(all);
            all = n;
            free(dd);
            json_decref(keep);
        }
        json_decref(st);
        ah_output_free(&s);
    }
    return all;
}

/* The fleet-wide status from either region lists both regions' vehicles, online. */
static void global_status_lists_all(dfx *d)
{
    for (int view = 0; view < 2; view++) {
        char dir[900];
        snprintf(dir, sizeof dir, "%s/%s", d->out, d->reg[view].name);
        /* A hub that just came back links to the global region within a moment. */
        int found = 0;
        ah_output s = {0};
        for (int t = 0; t < 50 && found < 2; t++) {
            if (t) {
                ah_output_free(&s);
                ah_sleep_ms(200);
            }
            s = dfx_aerie(d, "status", "--dir", dir, "--global", NULL);
            found = 0;
            for (int i = 0; i < 2 && s.code == 0; i++) {
                char line[64];
                snprintf(line, sizeof line, "%-16s online", d->veh[i].vid);
                found += strstr(s.out, line) != NULL;
            }
        }
        AH_ASSERT_MSG(found == 2, "status --global from %s: %s%s", d->reg[view].name, s.out, s.err);
        ah_output_free(&s);
    }
}

static void delete_stream(dfx *d, const char *name)
{
    char api[100];
    snprintf(api, sizeof api, "STREAM.DELETE.%s", name);
    char url[100];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", d->reg[DFX_US].client);
    natsConnection *nc = NULL;
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&nc, url), NATS_OK);
    natsMsg *m = NULL;
    char subj[150];
    snprintf(subj, sizeof subj, "$JS.API.%s", api);
    AH_ASSERT_EQ_INT(natsConnection_RequestString(&m, nc, subj, "", 3000), NATS_OK);
    AH_ASSERT_CONTAINS(natsMsg_GetData(m), "\"success\":true");
    natsMsg_Destroy(m);
    natsConnection_Destroy(nc);
}

/* An old disaster-recovery copy made as a mirror (what `aerie hub init --mirror` created
 * before): nats-server gives it mirror_direct, so it answers us's DIRECT.GET.TWIN_STATE. */
static void create_old_mirror(dfx *d)
{
    char url[100];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", d->reg[DFX_US].client);
    natsConnection *nc = NULL;
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&nc, url), NATS_OK);
    natsMsg *m = NULL;
    AH_ASSERT_EQ_INT(natsConnection_RequestString(
                         &m, nc, "$JS.API.STREAM.CREATE.TWIN_STATE_MIRROR_EU",
                         "{\"name\":\"TWIN_STATE_MIRROR_EU\",\"storage\":\"file\",\"num_replicas\":"
                         "1,\"mirror\":{\"name\":\"TWIN_STATE\",\"external\":{\"api\":\"$JS.hub-"
                         "eu.API\"}}}",
                         3000),
                     NATS_OK);
    AH_ASSERT_CONTAINS(natsMsg_GetData(m), "\"mirror_direct\":true");
    natsMsg_Destroy(m);
    natsConnection_Destroy(nc);
}

static void regions_outage_and_loss(void)
{
    dfx d;
    dfx_generate(&d, true, false);
    dfx_start(&d);
    for (int i = 0; i < 2; i++)
        AH_ASSERT_MSG(dfx_wait_attached(&d, i, i, 15000) >= 0, "%s did not attach at home",
                      d.veh[i].vid);
    ah_sleep_ms(3000);
    /* A hub outage in eu: VID-001 carries on in us; eu comes back 6 s later. */
    lose_region(&d, DFX_EU, SIGTERM, DFX_US, "eu hub outage");
    ah_sleep_ms(3000);
    dfx_hub_start(&d, DFX_EU);
    /* Back home: VID-001 stays on us until that link drops (the uplink dials its URLs in
     * turn); a restart of us's hub sends it to the next URL, its home. Meanwhile VID-002
     * carries on in its fallback region eu. */
    ah_sleep_ms(2000);
    lose_region(&d, DFX_US, SIGTERM, DFX_EU, "us hub restart");
    dfx_hub_start(&d, DFX_US);
    AH_ASSERT_MSG(dfx_wait_attached(&d, 0, DFX_EU, 30000) >= 0, "VID-001 did not come home");
    ah_sleep_ms(3000);
    /* The loss of region eu (killed): both vehicles are attached there now. */
    char hub[64];
    dfx_vehicle_hub(&d, 1, hub, sizeof hub);
    AH_ASSERT_EQ_STR(hub, "eu1");
    lose_region(&d, DFX_EU, SIGKILL, DFX_US, "eu lost");
    ah_sleep_ms(3000);
    dfx_hub_start(&d, DFX_EU);
    global_status_lists_all(&d);
    dfx_drones_stop(&d);

    /* Nothing published is missing or read twice, from the home regions and the aggregate. */
    check_complete(&d, false);
    /* The aggregate holds what the regions stored, each stored message once. */
    long stored = 0;
    for (int i = 0; i < 2; i++) {
        char f[64];
        snprintf(f, sizeof f, "fleet.prod.veh.%s.>", d.veh[i].vid);
        for (int r = 0; r < 2; r++)
            stored += dfx_stream_count(&d, r, "TWIN_STATE", f) +
                      dfx_stream_count(&d, r, "TWIN_EVENTS", f);
    }
    long agg = -1;
    for (int t = 0; t < 150 && agg != stored; t++) {
        agg = dfx_stream_count(&d, DFX_US, "TWIN_STATE_ALL", "fleet.prod.veh.*.>") +
              dfx_stream_count(&d, DFX_US, "TWIN_EVENTS_ALL", "fleet.prod.veh.*.>");
        if (agg != stored)
            ah_sleep_ms(100);
    }
    AH_ASSERT_EQ_INT(agg, stored);
    check_complete(&d, true);
    /* The disaster-recovery copy of eu holds what eu stored, each once. */
    long eu = dfx_stream_count(&d, DFX_EU, "TWIN_STATE", ">");
    AH_ASSERT(eu > 0);
    AH_ASSERT_EQ_INT(wait_count(&d, DFX_US, "TWIN_STATE_MIRROR_EU", ">", eu), eu);

    /* No read changes with the copies, without them, or after an old mirror is replaced. */
    char *with = reads(&d);
    delete_stream(&d, "TWIN_STATE_MIRROR_EU");
    delete_stream(&d, "TWIN_EVENTS_MIRROR_EU");
    char *without = reads(&d);
    AH_ASSERT_EQ_STR(without, with);
    create_old_mirror(&d);
    char usdir[900];
    snprintf(usdir, sizeof usdir, "%s/us", d.out);
    ah_output r =
        dfx_aerie(&d, "hub", "init", "--dir", usdir, "--replicas", "1", "--mirror", "hub-eu", NULL);
    AH_ASSERT_MSG(r.code == 0, "%s", r.err);
    AH_ASSERT_CONTAINS(r.out, "TWIN_STATE_MIRROR_EU replaced");
    ah_output_free(&r);
    AH_ASSERT_EQ_INT(wait_count(&d, DFX_US, "TWIN_STATE_MIRROR_EU", ">", eu), eu);
    char *replaced = reads(&d);
    AH_ASSERT_EQ_STR(replaced, with);
    free(with);
    free(without);
    free(replaced);
    dfx_stop(&d);
}

static void gateways_outage_and_loss(void)
{
    dfx d;
    dfx_generate(&d, false, false);
    dfx_start(&d);
    for (int i = 0; i < 2; i++)
        AH_ASSERT_MSG(dfx_wait_attached(&d, i, i, 15000) >= 0, "%s did not attach at home",
                      d.veh[i].vid);
    ah_sleep_ms(3000);
    /* eu (no streams of its own: they live in us) goes away: VID-001 stores through us. */
    lose_region(&d, DFX_EU, SIGKILL, DFX_US, "eu lost (one domain)");
    ah_sleep_ms(3000);
    dfx_hub_start(&d, DFX_EU);
    ah_sleep_ms(2000);
    /* us, which holds the streams, restarts: JetStream is away in both regions meanwhile,
     * the leaves keep what the drones publish and forward it when it is back. */
    dfx_hub_stop(&d, DFX_US, SIGTERM);
    for (int i = 0; i < 2; i++)
        AH_ASSERT_MSG(dfx_wait_attached(&d, i, DFX_EU, 30000) >= 0, "%s did not fail over to eu",
                      d.veh[i].vid);
    ah_sleep_ms(3000);
    dfx_hub_start(&d, DFX_US);
    ah_sleep_ms(2000);
    global_status_lists_all(&d);
    dfx_drones_stop(&d);
    check_complete(&d, false);
    check_complete(&d, true);
    /* Not checked in either mode: the leaves' link reports. aerie-leaf sends them on the
     * hub's interest, which is not there yet at a (re)connect, nor across a gateway (eu does
     * not announce us's FLEET_LINK), nor with vehicle_permissions (docs/deploy.md, what the
     * vehicle side lacks); `status` then counts a vehicle online by its fresh state. */
    dfx_stop(&d);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"generated_configs_load", generated_configs_load, 60},
        {"regions_outage_and_loss", regions_outage_and_loss, 180},
        {"gateways_outage_and_loss", gateways_outage_and_loss, 150},
    };
    int rc = ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
    nats_Close();
    return rc;
}
