/* Unit tests of the CLI's pure pieces: the event-time window search (against brute force on
 * random interleavings, with a read budget), command bodies and reply verdicts, the fleet
 * state file, subject matching, and topology checks. No server involved. */
#include "cli/cmd_cmd.h"
#include "cli/cmd_replay.h"
#include "cli/cmd_topology.h"
#include "cli/fleet_state.h"
#include "cli/replay_search.h"
#include "harness/harness.h"

#include <math.h>
#include <stdlib.h>

/* ---- window search ------------------------------------------------------------------ */

/* A synthetic stream: seq -> (subject id, event time); subject 0 is the one searched. */
typedef struct fake_stream {
    int n;
    int *subj;
    int64_t *ev;
    long reads;
} fake_stream;

static int fake_next_at(void *ctx, uint64_t seq, ae_replay_hit *out, ae_err *err)
{
    fake_stream *s = ctx;
    s->reads++;
    for (uint64_t q = seq ? seq : 1; q <= (uint64_t)s->n; q++)
        if (s->subj[q - 1] == 0) {
            out->seq = q;
            out->event_ns = s->ev[q - 1];
            out->msg = malloc(1); /* so that leaks of unreleased hits show under ASan */
            return 0;
        }
    return AE_ENOENT;
}

static void fake_release(void *ctx, void *msg)
{
    free(msg);
}

static void search_matches_brute_force(void)
{
    srand(7);
    for (int round = 0; round < 300; round++) {
        fake_stream s = {0};
        s.n = 1 + rand() % 3000;
        s.subj = calloc((size_t)s.n, sizeof *s.subj);
        s.ev = calloc((size_t)s.n, sizeof *s.ev);
        int64_t t = 1000;
        int density = 1 + rand() % 20; /* 1 in density messages is ours */
        for (int i = 0; i < s.n; i++) {
            s.subj[i] = rand() % density;
            /* Our subject's event times only grow (ties allowed); late blocks are modelled by
             * the other subjects having unrelated times. */
            if (s.subj[i] == 0)
                t += rand() % 3;
            s.ev[i] = s.subj[i] == 0 ? t : rand() % 5000;
        }
        int64_t start = rand() % (t + 50);
        uint64_t lo = 1 + (uint64_t)(rand() % s.n), hi = lo + (uint64_t)(rand() % s.n);
        if (hi > (uint64_t)s.n)
            hi = (uint64_t)s.n;
        uint64_t want = 0;
        for (uint64_t q = lo; q <= hi; q++)
            if (s.subj[q - 1] == 0 && s.ev[q - 1] >= start) {
                want = q;
                break;
            }
        ae_replay_source src = {fake_next_at, fake_release, &s};
        ae_replay_hit h = {0};
        ae_err err = {0};
        int rc = ae_replay_find_start(&src, lo, hi, start, &h, &err);
        if (want) {
            AH_ASSERT_EQ_INT(rc, 0);
            AH_ASSERT_EQ_INT(h.seq, want);
            free(h.msg);
        } else {
            AH_ASSERT_EQ_INT(rc, AE_ENOENT);
        }
        double budget = log2((double)(hi - lo + 2)) + 3;
        AH_ASSERT_MSG(s.reads <= (long)budget, "round %d: %ld reads for a range of %llu", round,
                      s.reads, (unsigned long long)(hi - lo + 1));
        free(s.subj);
        free(s.ev);
    }
}

/* ---- commands ----------------------------------------------------------------------- */

static char *body_of(const char *name, int argc, char **argv, int *rc)
{
    json_t *b = NULL;
    ae_err err = {0};
    *rc = ae_cmd_build_body(name, argc, argv, &b, &err);
    if (*rc)
        return strdup(err.msg);
    char *d = json_dumps(b, AE_CLI_JSON_FLAGS | JSON_SORT_KEYS);
    json_decref(b);
    return d;
}

static void command_bodies(void)
{
    int rc;
    char *d;
    char *a1[] = {"20"};
    d = body_of("takeoff", 1, a1, &rc);
    AH_ASSERT_EQ_INT(rc, 0);
    AH_ASSERT_EQ_STR(d, "{\"alt_m\":20}");
    free(d);
    char *a2[] = {"-33.86", "151.2", "40"};
    d = body_of("goto", 3, a2, &rc);
    AH_ASSERT_EQ_INT(rc, 0);
    AH_ASSERT_EQ_STR(d, "{\"alt_m\":40,\"lat\":-33.86,\"lon\":151.2}");
    free(d);
    char *a3[] = {"LOITER"};
    d = body_of("mode", 1, a3, &rc);
    AH_ASSERT_EQ_STR(d, "{\"mode\":\"LOITER\"}");
    free(d);
    d = body_of("rtl", 0, NULL, &rc);
    AH_ASSERT_EQ_STR(d, "{}");
    free(d);
    char *a4[] = {"speed=5", "force=true", "note=hi"};
    d = body_of("custom", 3, a4, &rc);
    AH_ASSERT_EQ_STR(d, "{\"force\":true,\"note\":\"hi\",\"speed\":5}");
    free(d);
    char *a5[] = {"high"};
    d = body_of("takeoff", 1, a5, &rc);
    AH_ASSERT_EQ_INT(rc, AE_EINVAL);
    AH_ASSERT_CONTAINS(d, "alt_m must be a number");
    free(d);
    d = body_of("goto", 1, a2, &rc);
    AH_ASSERT_EQ_INT(rc, AE_EINVAL);
    AH_ASSERT_CONTAINS(d, "goto needs lon");
    free(d);
    char *a6[] = {"x"};
    d = body_of("rtl", 1, a6, &rc);
    AH_ASSERT_EQ_INT(rc, AE_EINVAL);
    AH_ASSERT_CONTAINS(d, "key=value");
    free(d);
}

static void reply_verdicts(void)
{
#define ACC(s) ae_cmd_reply_accepted(s, (int)strlen(s))
    AH_ASSERT(ACC("{\"ok\":true}"));
    AH_ASSERT(ACC("{\"result\":\"MAV_RESULT_ACCEPTED\"}"));
    AH_ASSERT(ACC("{\"status\":\"Accepted\",\"cmd\":\"rtl\"}"));
    AH_ASSERT(!ACC("{\"ok\":false,\"error\":\"not armed\"}"));
    AH_ASSERT(!ACC("{\"result\":\"denied\"}"));
    AH_ASSERT(!ACC("{\"ok\":true,\"error\":\"half\"}"));
    AH_ASSERT(!ACC("accepted"));
    AH_ASSERT(!ACC(""));
#undef ACC
}

static void subject_matching(void)
{
    AH_ASSERT(ae_subject_matches("fleet.*.veh.*.state.>", "fleet.prod.veh.V1.state.position"));
    AH_ASSERT(!ae_subject_matches("fleet.*.veh.*.state.>", "fleet.prod.veh.V1.state"));
    AH_ASSERT(ae_subject_matches("fleet.*.veh.*.link", "fleet.prod.veh.V1.link"));
    AH_ASSERT(!ae_subject_matches("fleet.*.veh.*.link", "fleet.prod.veh.V1.link.x"));
    AH_ASSERT(!ae_subject_matches("fleet.*.veh.*.state.>", "replay.fleet.prod.veh.V1.state.x"));
    AH_ASSERT(ae_subject_matches(">", "a"));
}

/* ---- fleet state -------------------------------------------------------------------- */

static void fleet_state_files(void)
{
    ae_fleet_state *fs = NULL;
    ae_err err = {0};
    const char *good = "{\"env\":\"dev\",\"hub\":{\"urls\":[\"nats://a:b@127.0.0.1:1\"]},"
                       "\"vehicles\":[{\"vid\":\"V1\",\"x\":1},{\"vid\":\"V2\"}]}";
    AH_ASSERT_EQ_INT(ae_fleet_state_parse(good, "f.json", &fs, &err), 0);
    AH_ASSERT_EQ_STR(fs->env, "dev");
    AH_ASSERT_EQ_INT(fs->n_hub_urls, 1);
    AH_ASSERT_EQ_INT(fs->n_vids, 2);
    AH_ASSERT_EQ_STR(fs->vids[1], "V2");
    AH_ASSERT(fs->js_domain == NULL);
    ae_fleet_state_free(fs);
    fs = NULL;
    AH_ASSERT_EQ_INT(ae_fleet_state_parse("{\"hub\":{\"urls\":[]}}", "f.json", &fs, &err),
                     AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "hub.urls");
    AH_ASSERT_EQ_INT(
        ae_fleet_state_parse("{\"hub\":{\"urls\":[\"u\"]},\"vehicles\":[{}]}", "f.json", &fs, &err),
        AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "vehicles[0].vid");
    AH_ASSERT_EQ_INT(ae_fleet_state_parse("{\"hub\":", "f.json", &fs, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "f.json:1");
    char *dir = ah_mkdtemp("cli-fs");
    AH_ASSERT_EQ_INT(ae_fleet_state_load(dir, &fs, &err), AE_ENOENT);
    AH_ASSERT_CONTAINS(err.msg, "aerie up");
    ah_rmrf(dir);
    free(dir);
}

/* ---- topology checks ---------------------------------------------------------------- */

static void topology_rejects_bad_descriptions(void)
{
    char *dir = ah_mkdtemp("cli-topo");
    ae_err err = {0};
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"[]", "top level"},
        {"{\"regions\":[]}", "regions"},
        {"{\"regions\":[{\"name\":\"a b\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}]}",
         "regions[0].name"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\"}]}]}", "hubs[0].host"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\","
         "\"leaf_port\":70000}]}]}",
         "leaf_port"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h1\",\"host\":\"x\"},{\"name\":"
         "\"h2\",\"host\":\"x\"}]}]}",
         "both use x:4222"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]},{\"name\":"
         "\"us\",\"hubs\":[{\"name\":\"u\",\"host\":\"y\"}]}],\"vehicles\":[{\"vid\":\"V\"}]}",
         "required when there are several regions"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"V\",\"region\":\"mars\"}]}",
         "no such region"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"V\"},{\"vid\":\"V\"}]}",
         "listed twice"},
        {"{\"operator\":{\"password\":\"a\\\"b\"},\"regions\":[{\"name\":\"eu\",\"hubs\":[{"
         "\"name\":\"h\",\"host\":\"x\"}]}]}",
         "quote"},
        {"{\"vehicle_auth\":\"none\",\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":"
         "\"h\",\"host\":\"x\"}]}]}",
         "vehicle_auth must be"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"V\",\"password\":\"p\"}]}",
         "vehicles sign in with nkeys"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"aerie-evict\"}]}",
         "reserved"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        int rc = ae_topology_generate(bad[i].json, "t.json", dir, NULL, &err);
        AH_ASSERT_MSG(rc == AE_EINVAL, "case %zu: rc %d (%s)", i, rc, err.msg);
        AH_ASSERT_CONTAINS(err.msg, bad[i].want);
    }
    ah_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"search_matches_brute_force", search_matches_brute_force, 60},
        {"command_bodies", command_bodies, 10},
        {"reply_verdicts", reply_verdicts, 10},
        {"subject_matching", subject_matching, 10},
        {"fleet_state_files", fleet_state_files, 10},
        {"topology_rejects_bad_descriptions", topology_rejects_bad_descriptions, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
