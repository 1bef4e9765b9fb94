/* The global tier: `aerie topology` with "domain_per_region": true, started as two real
 * nats-server regions (one node each, eu and us, us being the global region and mirroring
 * eu), provisioned with the `aerie hub init` lines of the generated provision.sh. Checks that
 * each region is its own JetStream domain (a state message stays in its region's TWIN_STATE),
 * that the aggregate TWIN_STATE_ALL in the global region holds exactly the messages of both
 * regions (subjects, payloads, event-time headers), that the mirror of eu in us holds exactly
 * eu's in order, that provisioning again changes nothing, and that `aerie twin --stream` reads
 * a vehicle of eu from the aggregate in us. A separate binary so that cli_hub stays as fast. */
#include "harness/harness.h"

#include <jansson.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef ah_output run_result;

static void run_free(run_result *r)
{
    ah_output_free(r);
}

/* Runs `aerie` with the NULL-terminated arguments, capturing stdout and stderr. */
static run_result run_aerie(const char *dir, const char *first, ...)
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
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/aerie", dir);
    return ah_run_capture(prefix, argv, 30000);
}

#define RUN_OK(r)                                                                                  \
    AH_ASSERT_MSG((r).code == 0, "exit %d\nstdout: %s\nstderr: %s", (r).code, (r).out, (r).err)

/* A JetStream API request through `prefix` ("$JS.hub-us.API"); the parsed reply. */
static json_t *js_api(natsConnection *nc, const char *prefix, const char *api, const char *body)
{
    char subj[300];
    snprintf(subj, sizeof subj, "%s.%s", prefix, api);
    natsMsg *m = NULL;
    if (natsConnection_RequestString(&m, nc, subj, body ? body : "", 3000) != NATS_OK)
        return NULL;
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    natsMsg_Destroy(m);
    return j;
}

static long stream_msgs(natsConnection *nc, const char *prefix, const char *stream)
{
    char api[200];
    snprintf(api, sizeof api, "STREAM.INFO.%s", stream);
    json_t *j = js_api(nc, prefix, api, NULL);
    json_t *n = json_object_get(json_object_get(j, "state"), "messages");
    long r = json_is_integer(n) ? (long)json_integer_value(n) : -1;
    json_decref(j);
    return r;
}

/* Waits until stream holds `want` messages (sources and mirrors copy asynchronously); returns
 * the last count seen. */
static long wait_msgs(natsConnection *nc, const char *prefix, const char *stream, long want)
{
    long n = -1;
    for (int t = 0; t < 200 && n != want; t++) {
        n = stream_msgs(nc, prefix, stream);
        if (n != want)
            ah_sleep_ms(50);
    }
    return n;
}

/* Standard base64 into out (NUL-terminated); the decoded length, or -1. */
static int b64_decode(const char *in, char *out, size_t cap)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(al, *in);
        if (!p)
            return -1;
        acc = (acc << 6) | (unsigned)(p - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = 0;
    return (int)n;
}

/* "subject|payload|event-time" of message seq of stream, via STREAM.MSG.GET (caller frees), or
 * NULL. The stored headers come back as a base64 NATS/1.0 block; the event time is looked for
 * in its decoded form. */
static char *stored(natsConnection *nc, const char *prefix, const char *stream, int seq)
{
    char api[200], body[64];
    snprintf(api, sizeof api, "STREAM.MSG.GET.%s", stream);
    snprintf(body, sizeof body, "{\"seq\":%d}", seq);
    json_t *j = js_api(nc, prefix, api, body);
    json_t *msg = json_object_get(j, "message");
    const char *subj = json_string_value(json_object_get(msg, "subject"));
    const char *data = json_string_value(json_object_get(msg, "data"));
    const char *hdrs = json_string_value(json_object_get(msg, "hdrs"));
    char *out = NULL;
    if (subj && data && hdrs) {
        char d[512], h[1024];
        int dn = b64_decode(data, d, sizeof d), hn = b64_decode(hdrs, h, sizeof h);
        const char *et = hn >= 0 ? strstr(h, "Aerie-Event-Time: ") : NULL;
        int etn = et ? (int)strcspn(et + 18, "\r\n") : 0;
        if (dn >= 0 && asprintf(&out, "%s|%.*s|%.*s", subj, dn, d, etn, et ? et + 18 : "") < 0)
            out = NULL;
    }
    json_decref(j);
    return out;
}

static void publish_state(jsCtx *js, const char *vid, int i, char *record, size_t cap)
{
    char subj[200], data[100], et[64];
    snprintf(subj, sizeof subj, "fleet.prod.veh.%s.state.pos", vid);
    snprintf(data, sizeof data, "{\"i\":%d,\"vid\":\"%s\"}", i, vid);
    snprintf(et, sizeof et, "2030-01-02T03:04:%02d.000000000Z", i);
    natsMsg *m = NULL;
    AH_ASSERT_EQ_INT(natsMsg_Create(&m, subj, NULL, data, (int)strlen(data)), NATS_OK);
    natsMsgHeader_Set(m, "Aerie-Event-Time", et);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    AH_ASSERT_EQ_INT(js_PublishMsg(&pa, js, m, NULL, &jerr), NATS_OK);
    AH_ASSERT_EQ_STR(pa->Stream, "TWIN_STATE");
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    snprintf(record, cap, "%s|%s|%s", subj, data, et);
}

static int spawn_server(ah_proc *pr, const char *out, const char *name)
{
    char conf[800], log[800];
    snprintf(conf, sizeof conf, "%s/hub-%s.conf", out, name);
    snprintf(log, sizeof log, "%s/%s.log", out, name);
    char *argv[] = {(char *)ah_nats_server(), "-c", conf, NULL};
    return ah_spawn(pr, log, argv);
}

static void global_tier(void)
{
    char *dir = ah_mkdtemp("cli-global");
    int client[2], cluster[2], leaf[2], gw[2], http[2];
    char hubs[2][400];
    static const char *names[] = {"eu1", "us1"};
    for (int i = 0; i < 2; i++) {
        client[i] = ah_free_port();
        cluster[i] = ah_free_port();
        leaf[i] = ah_free_port();
        gw[i] = ah_free_port();
        http[i] = ah_free_port();
        snprintf(hubs[i], sizeof hubs[i],
                 "{\"name\":\"%s\",\"host\":\"127.0.0.1\",\"client_port\":%d,\"cluster_port\":%d,"
                 "\"leaf_port\":%d,\"gateway_port\":%d,\"http_port\":%d}",
                 names[i], client[i], cluster[i], leaf[i], gw[i], http[i]);
    }
    char file[700], out[700], path[900];
    snprintf(file, sizeof file, "%s/fleet.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    AH_ASSERT_EQ_INT(ah_write_file(file,
                                   "{\"env\":\"prod\",\"domain_per_region\":true,"
                                   "\"global_region\":\"us\","
                                   "\"operator\":{\"user\":\"operator\",\"password\":\"secret\"},"
                                   "\"jetstream\":{\"store_dir\":\"%s/data/{name}\","
                                   "\"max_file_store\":\"256MB\",\"max_memory_store\":\"64MB\"},"
                                   "\"regions\":[{\"name\":\"eu\",\"hubs\":[%s]},"
                                   "{\"name\":\"us\",\"mirror_of\":\"eu\",\"hubs\":[%s]}],"
                                   "\"vehicles\":[{\"vid\":\"VID-001\",\"region\":\"eu\"},"
                                   "{\"vid\":\"VID-002\",\"region\":\"us\"}]}\n",
                                   dir, hubs[0], hubs[1]),
                     0);
    run_result r = run_aerie(dir, "topology", file, "--out", out, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "provision.sh");
    run_free(&r);

    /* What was generated: a domain per region, a leafnode link instead of gateways, the
     * vehicle's uplink naming its region's domain, and the provisioning steps. */
    snprintf(path, sizeof path, "%s/hub-eu1.conf", out);
    char *eu = ah_read_file(path);
    AH_ASSERT_CONTAINS(eu, "domain: \"hub-eu\"\n");
    AH_ASSERT_CONTAINS(eu, "remotes = [");
    AH_ASSERT_CONTAINS(eu, "account: \"T-default\"");
    AH_ASSERT(!strstr(eu, "gateway {"));
    free(eu);
    snprintf(path, sizeof path, "%s/hub-us1.conf", out);
    char *us = ah_read_file(path);
    AH_ASSERT_CONTAINS(us, "domain: \"hub-us\"\n");
    AH_ASSERT_CONTAINS(us, "user: \"aerie-hublink-default\"");
    AH_ASSERT(!strstr(us, "remotes") && !strstr(us, "gateway {"));
    free(us);
    snprintf(path, sizeof path, "%s/leaf-VID-001.conf", out);
    char *lc = ah_read_file(path);
    AH_ASSERT_CONTAINS(lc, "  env: \"prod\"\n  domain: \"hub-eu\"\n}");
    free(lc);
    snprintf(path, sizeof path, "%s/eu/fleet.json", out);
    char *fj = ah_read_file(path);
    AH_ASSERT_CONTAINS(fj, "\"js_domain\": \"hub-eu\"");
    free(fj);
    snprintf(path, sizeof path, "%s/provision.sh", out);
    char *prov = ah_read_file(path);
    AH_ASSERT_CONTAINS(prov, "/us\" --replicas 1 --mirror hub-eu\n");
    AH_ASSERT_CONTAINS(prov, "/us\" --replicas 1 --global hub-eu,hub-us\n");
    free(prov);

    ah_proc hub[2];
    memset(hub, 0, sizeof hub);
    for (int i = 0; i < 2; i++)
        AH_ASSERT_EQ_INT(spawn_server(&hub[i], out, names[i]), 0);
    for (int i = 0; i < 2; i++) {
        int ok = 0;
        for (int t = 0; t < 200 && !ok; t++) {
            int st = 0;
            char *b = ah_http_get(http[i], "/healthz?js-enabled-only=true", &st);
            ok = b && st == 200;
            free(b);
            if (!ok)
                ah_sleep_ms(50);
        }
        AH_ASSERT_MSG(ok, "hub %s did not become healthy", names[i]);
    }
    /* The region link is up once the global hub sees a leafnode. */
    int linked = 0;
    for (int t = 0; t < 200 && !linked; t++) {
        int st = 0;
        char *b = ah_http_get(http[1], "/leafz", &st);
        linked = b && strstr(b, "\"leafnodes\": 1");
        free(b);
        if (!linked)
            ah_sleep_ms(50);
    }
    AH_ASSERT_MSG(linked, "region eu did not link to the global region us");

    /* Provisioning, as provision.sh runs it: each region, the mirror, the aggregate. */
    char eudir[800], usdir[800];
    snprintf(eudir, sizeof eudir, "%s/eu", out);
    snprintf(usdir, sizeof usdir, "%s/us", out);
    r = run_aerie(dir, "hub", "init", "--dir", eudir, "--replicas", "1", NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "5 created");
    run_free(&r);
    r = run_aerie(dir, "hub", "init", "--dir", usdir, "--replicas", "1", NULL);
    RUN_OK(r);
    run_free(&r);
    r = run_aerie(dir, "hub", "init", "--dir", usdir, "--replicas", "1", "--mirror", "hub-eu",
                  NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "TWIN_STATE_MIRROR_EU created");
    AH_ASSERT_CONTAINS(r.out, "copy of TWIN_STATE@$JS.hub-eu.API");
    run_free(&r);
    r = run_aerie(dir, "hub", "init", "--dir", usdir, "--replicas", "1", "--global",
                  "hub-eu,hub-us", NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "TWIN_STATE_ALL created");
    AH_ASSERT_CONTAINS(r.out, "TWIN_EVENTS_ALL created");
    AH_ASSERT_CONTAINS(r.out, "sources TWIN_STATE@$JS.hub-eu.API,TWIN_STATE@local");
    run_free(&r);

    /* State published in each region, into its own TWIN_STATE. */
    natsConnection *nce = NULL, *ncu = NULL;
    jsCtx *jse = NULL, *jsu = NULL;
    char url[128];
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", client[0]);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&nce, url), NATS_OK);
    snprintf(url, sizeof url, "nats://operator:secret@127.0.0.1:%d", client[1]);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&ncu, url), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_JetStream(&jse, nce, NULL), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_JetStream(&jsu, ncu, NULL), NATS_OK);
    char rec[7][300];
    for (int i = 0; i < 5; i++)
        publish_state(jse, "VID-001", i, rec[i], sizeof rec[i]);
    for (int i = 5; i < 7; i++)
        publish_state(jsu, "VID-002", i, rec[i], sizeof rec[i]);

    /* Each region kept its own vehicles only (the link does not carry twin subjects). */
    AH_ASSERT_EQ_INT(stream_msgs(nce, "$JS.hub-eu.API", "TWIN_STATE"), 5);
    AH_ASSERT_EQ_INT(stream_msgs(ncu, "$JS.hub-us.API", "TWIN_STATE"), 2);
    /* The aggregate: exactly the seven, whatever the interleaving of the two sources. */
    AH_ASSERT_EQ_INT(wait_msgs(ncu, "$JS.hub-us.API", "TWIN_STATE_ALL", 7), 7);
    bool seen[7] = {false};
    for (int s = 1; s <= 7; s++) {
        char *got = stored(ncu, "$JS.hub-us.API", "TWIN_STATE_ALL", s);
        AH_ASSERT_MSG(got, "TWIN_STATE_ALL seq %d unreadable", s);
        int k = 0;
        while (k < 7 && (seen[k] || strcmp(got, rec[k]) != 0))
            k++;
        AH_ASSERT_MSG(k < 7, "TWIN_STATE_ALL seq %d is not one published: %s", s, got);
        seen[k] = true;
        free(got);
    }
    /* The mirror of eu in us: eu's five, in eu's order. */
    AH_ASSERT_EQ_INT(wait_msgs(ncu, "$JS.hub-us.API", "TWIN_STATE_MIRROR_EU", 5), 5);
    for (int s = 1; s <= 5; s++) {
        char *got = stored(ncu, "$JS.hub-us.API", "TWIN_STATE_MIRROR_EU", s);
        AH_ASSERT_MSG(got && strcmp(got, rec[s - 1]) == 0, "mirror seq %d: %s", s,
                      got ? got : "(none)");
        free(got);
    }
    /* Still there a moment later: nothing was copied twice. */
    ah_sleep_ms(300);
    AH_ASSERT_EQ_INT(stream_msgs(ncu, "$JS.hub-us.API", "TWIN_STATE_ALL"), 7);

    /* Provisioning again changes nothing. */
    r = run_aerie(dir, "hub", "init", "--dir", usdir, "--replicas", "1", "--global",
                  "hub-eu,hub-us", "--mirror", "hub-eu", NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "0 created, 0 updated, 5 unchanged");
    run_free(&r);
    /* Bad input is refused before anything is sent. */
    r = run_aerie(dir, "hub", "init", "--dir", usdir, "--global", "hub-eu,,x", NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    run_free(&r);

    /* The twin of an eu vehicle, read from the aggregate in the global region. */
    r = run_aerie(dir, "twin", "VID-001", "--dir", usdir, "--stream", "TWIN_STATE_ALL", "--json",
                  NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "\"pos\":{\"i\":4,\"vid\":\"VID-001\"}");
    run_free(&r);

    jsCtx_Destroy(jse);
    jsCtx_Destroy(jsu);
    natsConnection_Destroy(nce);
    natsConnection_Destroy(ncu);
    for (int i = 0; i < 2; i++)
        ah_stop(&hub[i], SIGTERM, 5000);
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"global_tier", global_tier, 80},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
