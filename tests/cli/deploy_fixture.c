/* A two-region deployment from the output of `aerie topology`; see deploy_fixture.h. */
#include "deploy_fixture.h"
#include "cli/cli.h"
#include "cli/cmd_replay.h"

#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SEP '\x1f' /* between subject and payload in a recorded item */

/* ---- running aerie ------------------------------------------------------------------- */

ah_output dfx_aerie(dfx *d, const char *first, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)ah_bin("aerie");
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char prefix[800];
    snprintf(prefix, sizeof prefix, "%s/aerie", d->dir);
    return ah_run_capture(prefix, argv, 60000);
}

/* ---- the description ----------------------------------------------------------------- */

static void region_ports(dfx_region *r, const char *name)
{
    r->name = name;
    r->client = ah_free_port();
    r->cluster = ah_free_port();
    r->leaf = ah_free_port();
    r->gw = ah_free_port();
    r->http = ah_free_port();
}

static void hub_json(const dfx_region *r, char *out, size_t cap)
{
    snprintf(out, cap,
             "{\"name\":\"%s1\",\"host\":\"127.0.0.1\",\"client_port\":%d,\"cluster_port\":%d,"
             "\"leaf_port\":%d,\"gateway_port\":%d,\"http_port\":%d}",
             r->name, r->client, r->cluster, r->leaf, r->gw, r->http);
}

void dfx_generate(dfx *d, bool per_region, bool permissions)
{
    memset(d, 0, sizeof *d);
    d->per_region = per_region;
    d->dir = ah_mkdtemp(per_region ? "deploy-pr" : "deploy-gw");
    snprintf(d->out, sizeof d->out, "%s/out", d->dir);
    region_ports(&d->reg[DFX_EU], "eu");
    region_ports(&d->reg[DFX_US], "us");
    char hubs[2][400], veh[2][400]; /* room for the longest region name and ports */
    for (int r = 0; r < 2; r++)
        hub_json(&d->reg[r], hubs[r], sizeof hubs[r]);
    for (int i = 0; i < 2; i++) {
        dfx_vehicle *v = &d->veh[i];
        snprintf(v->vid, sizeof v->vid, "VID-%03d", i + 1);
        v->region = i;
        v->leaf_port = ah_free_port();
        v->http_port = ah_free_port();
        v->mav_port = ah_free_port();
        /* Both drones run on this machine: "host" makes the generator keep their ports
         * apart; the ports are the test's own free ones. */
        snprintf(veh[i], sizeof veh[i],
                 "{\"vid\":\"%s\",\"region\":\"%s\",\"host\":\"sim\",\"leaf_port\":%d,"
                 "\"leaf_http_port\":%d,\"mavlink_port\":%d}",
                 v->vid, d->reg[i].name, v->leaf_port, v->http_port, v->mav_port);
    }
    char file[800];
    snprintf(file, sizeof file, "%s/fleet.json", d->dir);
    AH_ASSERT_EQ_INT(
        ah_write_file(file,
                      "{\"env\":\"prod\",%s"
                      "\"operator\":{\"user\":\"operator\",\"password\":\"secret\"},"
                      "\"vehicle_permissions\":%s,"
                      "\"vehicle_store_dir\":\"%s/veh/{vid}\","
                      "\"vehicle_gw_state_dir\":\"%s/gw/{vid}\","
                      "\"jetstream\":{\"store_dir\":\"%s/data/{name}\","
                      "\"max_file_store\":\"256MB\",\"max_memory_store\":\"64MB\"},"
                      "\"regions\":[{\"name\":\"eu\",\"fallback\":\"us\",\"hubs\":[%s]},"
                      "{\"name\":\"us\",\"fallback\":\"eu\",%s\"hubs\":[%s]}],"
                      "\"vehicles\":[%s,%s]}\n",
                      per_region ? "\"domain_per_region\":true,\"global_region\":\"us\"," : "",
                      permissions ? "true" : "false", d->dir, d->dir, d->dir, hubs[0],
                      per_region ? "\"mirror_of\":\"eu\"," : "", hubs[1], veh[0], veh[1]),
        0);
    char vdir[800];
    snprintf(vdir, sizeof vdir, "%s/veh", d->dir);
    AH_ASSERT_EQ_INT(mkdir(vdir, 0700), 0); /* what StateDirectory= makes on a vehicle */
    ah_output r = dfx_aerie(d, "topology", file, "--out", d->out, NULL);
    AH_ASSERT_MSG(r.code == 0, "aerie topology: %s", r.err);
    ah_output_free(&r);
}

/* ---- hubs ---------------------------------------------------------------------------- */

static bool http_ok(int port, const char *path, const char *needle)
{
    int st = 0;
    char *b = ah_http_get(port, path, &st);
    bool ok = b && st == 200 && (!needle || strstr(b, needle));
    free(b);
    return ok;
}

void dfx_hub_start(dfx *d, int r)
{
    dfx_region *g = &d->reg[r];
    char conf[800], log[800];
    snprintf(conf, sizeof conf, "%s/hub-%s1.conf", d->out, g->name);
    snprintf(log, sizeof log, "%s/%s1.log", d->dir, g->name);
    char *argv[] = {(char *)ah_nats_server(), "-c", conf, NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&g->hub, log, argv), 0);
    bool ok = false;
    int64_t deadline = ah_now_ms() + (int64_t)(15000 * ah_timeout_scale());
    while (!ok && ah_now_ms() < deadline) {
        ok = http_ok(g->http, "/healthz?js-enabled-only=true", NULL);
        if (!ok)
            ah_sleep_ms(50);
    }
    if (!ok)
        ah_print_tail(log, 2000);
    AH_ASSERT_MSG(ok, "hub %s1 did not come up", g->name);
}

void dfx_hub_stop(dfx *d, int r, int sig)
{
    ah_stop(&d->reg[r].hub, sig, 5000);
}

/* Runs the provisioning the output prescribes, retrying while JetStream elects its leaders. */
static void provision(dfx *d)
{
    char path[800], usdir[800];
    snprintf(path, sizeof path, "%s/provision.sh", d->out);
    snprintf(usdir, sizeof usdir, "%s/us", d->out);
    ah_output r = {0};
    for (int t = 0; t < 40; t++) {
        if (d->per_region) {
            /* provision.sh calls `aerie`: ours, from the build directory. */
            char *argv[] = {"/bin/sh", path, NULL};
            char prefix[800];
            snprintf(prefix, sizeof prefix, "%s/provision", d->dir);
            r = ah_run_capture(prefix, argv, 60000);
        } else {
            /* One domain: the streams live in the region where hub init runs (us). */
            r = dfx_aerie(d, "hub", "init", "--dir", usdir, "--replicas", "1", NULL);
        }
        if (r.code == 0)
            break;
        ah_output_free(&r);
        ah_sleep_ms(250);
    }
    AH_ASSERT_MSG(r.code == 0, "provisioning failed: %s%s", r.out, r.err);
    ah_output_free(&r);
}

/* ---- vehicles ------------------------------------------------------------------------ */

static void on_recorded(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    dfx_recorder *rec = closure;
    char *item = NULL;
    if (asprintf(&item, "%s%c%.*s", natsMsg_GetSubject(m), SEP, natsMsg_GetDataLength(m),
                 natsMsg_GetData(m)) < 0)
        item = NULL;
    natsMsg_Destroy(m);
    if (!item)
        return;
    pthread_mutex_lock(&rec->mu);
    if (rec->n == rec->cap) {
        size_t cap = rec->cap ? rec->cap * 2 : 1024;
        char **ni = realloc(rec->items, cap * sizeof *ni);
        if (ni) {
            rec->items = ni;
            rec->cap = cap;
        }
    }
    if (rec->n < rec->cap)
        rec->items[rec->n++] = item;
    else
        free(item);
    pthread_mutex_unlock(&rec->mu);
}

static void vehicle_start(dfx *d, int i)
{
    dfx_vehicle *v = &d->veh[i];
    char conf[800], log[800];
    snprintf(conf, sizeof conf, "%s/leaf-%s.conf", d->out, v->vid);
    snprintf(log, sizeof log, "%s/leaf-%s.log", d->dir, v->vid);
    char *largv[] = {(char *)ah_bin("aerie-leaf"), "-c", conf, NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&v->leaf, log, largv), 0);
    AH_ASSERT_MSG(ah_wait_tcp(v->leaf_port, 5000) == 0, "leaf of %s did not start", v->vid);
    /* The recorder: every state and event message the drone publishes on its own bus. */
    char url[64], subj[128];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", v->leaf_port);
    pthread_mutex_init(&v->rec.mu, NULL);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&v->rec.nc, url), NATS_OK);
    static const char *const kinds[] = {"state", "event"};
    for (int k = 0; k < 2; k++) {
        snprintf(subj, sizeof subj, "fleet.prod.veh.%s.%s.>", v->vid, kinds[k]);
        AH_ASSERT_EQ_INT(
            natsConnection_Subscribe(&v->rec.subs[k], v->rec.nc, subj, on_recorded, &v->rec),
            NATS_OK);
        natsSubscription_SetPendingLimits(v->rec.subs[k], -1, -1);
    }
    AH_ASSERT_EQ_INT(natsConnection_Flush(v->rec.nc), NATS_OK);
    snprintf(conf, sizeof conf, "%s/gw-%s.conf", d->out, v->vid);
    snprintf(log, sizeof log, "%s/gw-%s.log", d->dir, v->vid);
    char *gargv[] = {(char *)ah_bin("aerie-gw"), "-c", conf, NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&v->gw, log, gargv), 0);
    char mav[64], home[64];
    snprintf(mav, sizeof mav, "udpout://127.0.0.1:%d", v->mav_port);
    snprintf(home, sizeof home, "%.6f,8.545594,488", 47.397742 + 0.004 * i);
    snprintf(log, sizeof log, "%s/sim-%s.log", d->dir, v->vid);
    char *sargv[] = {(char *)ah_bin("aerie"), "sim", "--mavlink", mav, "--home", home, "--loop",
                     "--mission-delay",       "1",   "--quiet",   NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&v->sim, log, sargv), 0);
}

void dfx_start(dfx *d)
{
    /* provision.sh names `aerie`: the one built here comes first on PATH. */
    char bin[600], path[4096];
    snprintf(bin, sizeof bin, "%s", ah_bin("aerie"));
    const char *old = getenv("PATH");
    snprintf(path, sizeof path, "%s:%s", dirname(bin), old ? old : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    dfx_hub_start(d, DFX_EU);
    dfx_hub_start(d, DFX_US);
    if (d->per_region) {
        /* The copies need the region link: eu's hub solicits the global region us. */
        bool linked = false;
        for (int t = 0; t < 200 && !linked; t++) {
            linked = http_ok(d->reg[DFX_US].http, "/leafz", "\"leafnodes\": 1");
            if (!linked)
                ah_sleep_ms(50);
        }
        AH_ASSERT_MSG(linked, "region eu did not link to the global region us");
    }
    provision(d);
    /* The guard of each region, as its generated unit runs it: vehicles resync through it. */
    for (int r = 0; r < 2; r++) {
        char view[800], log[800];
        snprintf(view, sizeof view, "%s/%s", d->out, d->reg[r].name);
        snprintf(log, sizeof log, "%s/guard-%s.log", d->dir, d->reg[r].name);
        char *gargv[] = {(char *)ah_bin("aerie"), "guard", "--dir", view, NULL};
        AH_ASSERT_EQ_INT(ah_spawn(&d->reg[r].guard, log, gargv), 0);
    }
    for (int i = 0; i < 2; i++)
        vehicle_start(d, i);
}

static json_t *leaf_uplink(dfx *d, int i)
{
    int st = 0;
    char *b = ah_http_get(d->veh[i].http_port, "/varz", &st);
    json_t *j = b && st == 200 ? json_loads(b, 0, NULL) : NULL;
    free(b);
    json_t *u = json_incref(json_object_get(j, "uplink"));
    json_decref(j);
    return u;
}

void dfx_vehicle_hub(dfx *d, int i, char *out, size_t cap)
{
    json_t *u = leaf_uplink(d, i);
    const char *hub = json_is_true(json_object_get(u, "online"))
                          ? json_string_value(json_object_get(u, "hub"))
                          : NULL;
    snprintf(out, cap, "%s", hub ? hub : "");
    json_decref(u);
}

long dfx_wait_attached(dfx *d, int i, int r, int timeout_ms)
{
    char want[16], hub[64];
    snprintf(want, sizeof want, "%s1", d->reg[r].name);
    int64_t t0 = ah_now_ms(), deadline = t0 + (int64_t)(timeout_ms * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        dfx_vehicle_hub(d, i, hub, sizeof hub);
        if (strcmp(hub, want) == 0)
            return (long)(ah_now_ms() - t0);
        ah_sleep_ms(50);
    }
    return -1;
}

/* A JetStream API request on region r (its own hub); the parsed reply or NULL. */
static json_t *region_api(dfx *d, int r, const char *api, const char *body, natsMsg **raw)
{
    char url[128], subj[300];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", d->reg[r].client);
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetTimeout(o, 1000);
    natsOptions_SetAllowReconnect(o, false);
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        return NULL;
    snprintf(subj, sizeof subj, "$JS.API.%s", api);
    natsMsg *m = NULL;
    json_t *j = NULL;
    if (natsConnection_RequestString(&m, nc, subj, body ? body : "", 2000) == NATS_OK) {
        j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        if (raw)
            *raw = m;
        else
            natsMsg_Destroy(m);
    }
    natsConnection_Destroy(nc);
    return j;
}

long dfx_stream_count(dfx *d, int r, const char *stream, const char *filter)
{
    char api[200], body[300];
    snprintf(api, sizeof api, "STREAM.INFO.%s", stream);
    snprintf(body, sizeof body, "{\"subjects_filter\":\"%s\"}", filter);
    json_t *j = region_api(d, r, api, body, NULL);
    json_t *state = json_object_get(j, "state");
    long n = state ? 0 : -1;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(state, "subjects"), k, v) n += (long)json_integer_value(v);
    json_decref(j);
    return n;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The Nats-Time-Stamp of the newest position of vehicle i stored in region r, or 0. */
static int64_t newest_stored(dfx *d, int i, int r)
{
    char body[200];
    snprintf(body, sizeof body, "{\"last_by_subj\":\"fleet.prod.veh.%s.state.position\"}",
             d->veh[i].vid);
    natsMsg *m = NULL;
    json_decref(region_api(d, r, "DIRECT.GET.TWIN_STATE", body, &m));
    const char *ts = NULL;
    int64_t stored = 0;
    if (m && natsMsgHeader_Get(m, "Nats-Time-Stamp", &ts) == NATS_OK && ts) {
        struct tm tm = {0};
        const char *p = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
        if (p) {
            stored = (int64_t)timegm(&tm) * 1000000000LL;
            if (*p == '.')
                stored += (int64_t)(strtod(p, NULL) * 1e9);
        }
    }
    natsMsg_Destroy(m);
    return stored;
}

long dfx_wait_stored_in(dfx *d, int i, int r, int64_t after_ns, int64_t since_mono_ms,
                        int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        if (newest_stored(d, i, r) > after_ns)
            return (long)(ah_now_ms() - since_mono_ms);
        ah_sleep_ms(50);
    }
    return -1;
}

void dfx_lose_region(dfx *d, int r, int sig, int to, int store_wait_ms, long attach_ms[2],
                     long stored_ms[2])
{
    char want[16], to_hub[16], hub[64];
    bool there[2];
    snprintf(want, sizeof want, "%s1", d->reg[r].name);
    snprintf(to_hub, sizeof to_hub, "%s1", d->reg[to].name);
    for (int i = 0; i < 2; i++) {
        dfx_vehicle_hub(d, i, hub, sizeof hub);
        there[i] = strcmp(hub, want) == 0;
        attach_ms[i] = stored_ms[i] = -1;
    }
    int64_t t0 = ah_now_ms(), w0 = wall_ns();
    int64_t deadline = t0 + (int64_t)(30000 * ah_timeout_scale());
    int64_t store_deadline = t0 + (int64_t)(store_wait_ms * ah_timeout_scale());
    dfx_hub_stop(d, r, sig);
    /* One loop watches every vehicle, so that each time is its own. */
    for (bool done = false; !done && ah_now_ms() < deadline;) {
        done = true;
        for (int i = 0; i < 2; i++) {
            if (!there[i])
                continue;
            if (attach_ms[i] < 0) {
                dfx_vehicle_hub(d, i, hub, sizeof hub);
                if (strcmp(hub, to_hub) == 0)
                    attach_ms[i] = (long)(ah_now_ms() - t0);
            }
            bool watch = ah_now_ms() < store_deadline;
            if (stored_ms[i] < 0 && watch && newest_stored(d, i, to) > w0)
                stored_ms[i] = (long)(ah_now_ms() - t0);
            done = done && attach_ms[i] >= 0 && (stored_ms[i] >= 0 || !watch);
        }
        if (!done)
            ah_sleep_ms(50);
    }
    for (int i = 0; i < 2; i++)
        AH_ASSERT_MSG(!there[i] || attach_ms[i] >= 0, "%s did not fail over to region %s",
                      d->veh[i].vid, d->reg[to].name);
}

void dfx_drones_stop(dfx *d)
{
    for (int i = 0; i < 2; i++)
        ah_stop(&d->veh[i].sim, SIGTERM, 3000);
    /* The gateway has published what it received once it is gone. */
    for (int i = 0; i < 2; i++)
        ah_stop(&d->veh[i].gw, SIGTERM, 3000);
    for (int i = 0; i < 2; i++) {
        natsConnection_Flush(d->veh[i].rec.nc);
        bool drained = false;
        int64_t deadline = ah_now_ms() + (int64_t)(30000 * ah_timeout_scale());
        while (!drained && ah_now_ms() < deadline) {
            json_t *u = leaf_uplink(d, i);
            drained = json_is_true(json_object_get(u, "online")) &&
                      json_integer_value(json_object_get(u, "backlog_msgs")) == 0 &&
                      json_object_get(u, "backlog_msgs");
            json_decref(u);
            if (!drained)
                ah_sleep_ms(100);
        }
        AH_ASSERT_MSG(drained, "the leaf of %s did not forward its backlog", d->veh[i].vid);
    }
}

/* ---- checks -------------------------------------------------------------------------- */

typedef struct collected {
    char **items;
    size_t n, cap;
} collected;

static int collect(void *ctx, const ae_replay_item *it, ae_err *err)
{
    (void)err;
    collected *c = ctx;
    char *item = NULL;
    if (asprintf(&item, "%s%c%.*s", it->subject, SEP, natsMsg_GetDataLength(it->msg),
                 natsMsg_GetData(it->msg)) < 0)
        return AE_ENOMEM;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->items = realloc(c->items, c->cap * sizeof *c->items);
        if (!c->items)
            return AE_ENOMEM;
    }
    c->items[c->n++] = item;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

dfx_counts dfx_check(dfx *d, int i, bool global)
{
    dfx_vehicle *v = &d->veh[i];
    dfx_counts k = {0};
    /* What the readers return: `aerie replay` of the home region (its own stream and its
     * fallback region's), or of the aggregate, in-process through the CLI library. */
    ae_cli c;
    ae_cli_init(&c);
    char dir[800];
    snprintf(dir, sizeof dir, "%s/%s", d->out, d->reg[global ? DFX_US : v->region].name);
    c.dir = dir;
    c.global = global;
    c.timeout_ns = 5000000000LL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_cli_connect(&c, &err) == 0, "connect: %s", err.msg);
    collected got = {0};
    static const char *const filters[] = {"state.>", "event.>"};
    for (int f = 0; f < 2; f++) {
        int subjects = 0;
        long searched = 0;
        int rc = ae_replay_each(&c, v->vid, filters[f], INT64_MIN, INT64_MAX, collect, &got,
                                &subjects, &searched, &err);
        AH_ASSERT_MSG(rc == 0 || rc == AE_ENOENT, "replay %s %s: %s", v->vid, filters[f], err.msg);
    }
    AH_ASSERT_MSG(!c.note[0], "a copy did not answer: %s", c.note);
    ae_cli_close(&c);
    /* Against the recording, as two sorted multisets. */
    pthread_mutex_lock(&v->rec.mu);
    size_t nr = v->rec.n;
    char **rec = malloc((nr + 1) * sizeof *rec);
    if (nr)
        memcpy(rec, v->rec.items, nr * sizeof *rec);
    pthread_mutex_unlock(&v->rec.mu);
    if (nr > 1)
        qsort(rec, nr, sizeof *rec, cmp_item);
    if (got.n > 1)
        qsort(got.items, got.n, sizeof *got.items, cmp_item);
    size_t a = 0, b = 0;
    while (a < nr || b < got.n) {
        int cmp = a == nr ? 1 : b == got.n ? -1 : strcmp(rec[a], got.items[b]);
        if (cmp == 0) {
            a++;
            b++;
        } else if (cmp < 0) {
            if (k.missing < 3)
                fprintf(stderr, "%s: missing %.200s\n", v->vid, rec[a]);
            k.missing++;
            a++;
        } else {
            if (k.extra < 3)
                fprintf(stderr, "%s: extra %.200s\n", v->vid, got.items[b]);
            k.extra++;
            b++;
        }
    }
    k.recorded = (long)nr;
    k.read = (long)got.n;
    for (size_t x = 0; x < got.n; x++)
        free(got.items[x]);
    free(got.items);
    free(rec);
    /* What the regions stored of it (one set of streams with one domain). */
    char filter[100];
    snprintf(filter, sizeof filter, "fleet.prod.veh.%s.>", v->vid);
    for (int r = 0; r < (d->per_region ? 2 : 1); r++) {
        int at = d->per_region ? r : DFX_US;
        long s1 = dfx_stream_count(d, at, "TWIN_STATE", filter);
        long s2 = dfx_stream_count(d, at, "TWIN_EVENTS", filter);
        AH_ASSERT_MSG(s1 >= 0 && s2 >= 0, "region %s does not answer", d->reg[at].name);
        k.stored += s1 + s2;
    }
    return k;
}

void dfx_stop(dfx *d)
{
    for (int i = 0; i < 2; i++) {
        dfx_vehicle *v = &d->veh[i];
        ah_stop(&v->sim, SIGTERM, 3000);
        ah_stop(&v->gw, SIGTERM, 3000);
        if (v->rec.nc) {
            for (int k = 0; k < 2; k++)
                natsSubscription_Destroy(v->rec.subs[k]);
            natsConnection_Destroy(v->rec.nc);
            v->rec.nc = NULL;
            for (size_t x = 0; x < v->rec.n; x++)
                free(v->rec.items[x]);
            free(v->rec.items);
            pthread_mutex_destroy(&v->rec.mu);
        }
        ah_stop(&v->leaf, SIGTERM, 3000);
    }
    for (int r = 0; r < 2; r++) {
        if (d->reg[r].guard.pid > 0)
            ah_stop(&d->reg[r].guard, SIGTERM, 3000);
        ah_stop(&d->reg[r].hub, SIGTERM, 5000);
    }
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(d->dir);
    else
        fprintf(stderr, "kept %s\n", d->dir);
    free(d->dir);
    d->dir = NULL;
}
