/* Unit tests of the CLI's pure pieces: the event-time window search (against brute force on
 * random interleavings, with a read budget), command bodies and reply verdicts, the fleet
 * state file, subject matching, and topology checks. No server involved. */
#include "cli/cmd_cmd.h"
#include "cli/cmd_replay.h"
#include "cli/cmd_topology.h"
#include "cli/creds_registry.h"
#include "cli/fleet.h"
#include "cli/local_fleet.h"
#include "cli/proc.h"
#include "cli/identities.h"
#include "cli/render.h"
#include "cli/retention.h"
#include "common/conf.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/ident.h"
#include "common/random.h"
#include "common/timeutil.h"
#include "mavlink/mavlink.h"
#include "cli/replay_search.h"
#include "harness/harness.h"

#include <arpa/inet.h>
#include <math.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    ae_fleet *fs = NULL;
    ae_err err = {0};
    const char *good = "{\"env\":\"dev\",\"hub\":{\"urls\":[\"nats://a:b@127.0.0.1:1\"]},"
                       "\"vehicles\":[{\"vid\":\"V1\",\"x\":1},{\"vid\":\"V2\"}]}";
    AH_ASSERT_EQ_INT(ae_fleet_parse(good, "f.json", NULL, &fs, &err), 0);
    AH_ASSERT_EQ_STR(fs->env, "dev");
    AH_ASSERT_EQ_INT(fs->n_hub_urls, 1);
    AH_ASSERT_EQ_INT(fs->n_vehicles, 2);
    AH_ASSERT_EQ_STR(fs->vehicles[1].vid, "V2");
    AH_ASSERT(fs->js_domain == NULL);
    ae_fleet_free(fs);
    fs = NULL;
    AH_ASSERT_EQ_INT(ae_fleet_parse("{\"hub\":{\"urls\":[]}}", "f.json", NULL, &fs, &err),
                     AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "hub.urls");
    AH_ASSERT_EQ_INT(
        ae_fleet_parse("{\"hub\":{\"urls\":[\"u\"]},\"vehicles\":[{}]}", "f.json", NULL, &fs, &err),
        AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "vehicles[0].vid");
    AH_ASSERT_EQ_INT(ae_fleet_parse("{\"hub\":", "f.json", NULL, &fs, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "f.json:1");
    char *dir = ah_mkdtemp("cli-fs");
    AH_ASSERT_EQ_INT(ae_fleet_load(dir, &fs, &err), AE_ENOENT);
    AH_ASSERT_CONTAINS(err.msg, "aerie up");
    ah_rmrf(dir);
    free(dir);
}

/* ---- shared pieces (common/) -------------------------------------------------------- */

static void identifier_rule(void)
{
    char longest[AE_IDENT_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[AE_IDENT_MAX] = 0;
    AH_ASSERT(ae_ident_valid("VID-001") && ae_ident_valid("hub_eu-1") && ae_ident_valid(longest));
    longest[AE_IDENT_MAX] = 'a';
    longest[AE_IDENT_MAX + 1] = 0;
    AH_ASSERT(!ae_ident_valid(longest));
    static const char *bad[] = {"", "a.b", "a b", "a*", ">", "a/b", "a\"b", "ü", NULL};
    for (size_t i = 0; bad[i]; i++)
        AH_ASSERT_MSG(!ae_ident_valid(bad[i]), "\"%s\" accepted", bad[i]);
    AH_ASSERT(!ae_ident_valid(NULL));
    AH_ASSERT(ae_ident_list_valid("hub-eu") && ae_ident_list_valid("hub-eu,hub-us"));
    static const char *bad_lists[] = {"", ",a", "a,", "a,,b", "a, b", "a.b,c", NULL};
    for (size_t i = 0; bad_lists[i]; i++)
        AH_ASSERT_MSG(!ae_ident_list_valid(bad_lists[i]), "\"%s\" accepted", bad_lists[i]);
}

static void secret_generator(void)
{
    char a[AE_SECRET_LEN + 1], b[AE_SECRET_LEN + 1];
    ae_err err = {0};
    AH_ASSERT_EQ_INT(ae_random_secret(a, sizeof a, &err), 0);
    AH_ASSERT_EQ_INT(ae_random_secret(b, sizeof b, &err), 0);
    AH_ASSERT_EQ_INT(strlen(a), AE_SECRET_LEN);
    AH_ASSERT(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              AE_SECRET_LEN);
    AH_ASSERT(strcmp(a, b) != 0);
    AH_ASSERT_EQ_INT(ae_random_secret(a, 1, &err), AE_EINVAL);
    /* Every value below the bound turns up, none above it. */
    int seen[7] = {0};
    for (int i = 0; i < 700; i++) {
        uint32_t r = 99;
        AH_ASSERT_EQ_INT(ae_random_below(7, &r, &err), 0);
        AH_ASSERT(r < 7);
        seen[r]++;
    }
    for (int k = 0; k < 7; k++)
        AH_ASSERT_MSG(seen[k] > 0, "%d never drawn in 700 draws", k);
}

/* A one-shot HTTP server on 127.0.0.1:port in a child: answers the first request with
 * `answer` (NULL: closes without a word; "": accepts and stays silent). */
static pid_t serve_once(int port, const char *answer)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = accept(ls, NULL, NULL);
        char req[2048];
        ssize_t n = recv(fd, req, sizeof req - 1, 0);
        if (answer && *answer && n > 0 && strstr(req, "GET /varz HTTP/1.0\r\n"))
            ah_send(fd, answer);
        if (answer && !*answer)
            ah_sleep_ms(5000);
        close(fd);
        _exit(0);
    }
    close(ls);
    return pid;
}

static void http_client(void)
{
    int port = ah_free_port();
    pid_t pid = serve_once(port, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                                 "{\"config_load_time\":\"x\"}");
    char *body = NULL;
    AH_ASSERT_EQ_INT(ae_http_get("127.0.0.1", port, "/varz", &body, 3000), 200);
    AH_ASSERT_EQ_STR(body, "{\"config_load_time\":\"x\"}");
    free(body);
    waitpid(pid, NULL, 0);
    /* A peer that closes without an answer, one that never answers (bounded by the
     * deadline), and nobody listening. */
    pid = serve_once(port, NULL);
    AH_ASSERT_EQ_INT(ae_http_get("127.0.0.1", port, "/varz", &body, 3000), AE_EPROTO);
    AH_ASSERT(body == NULL);
    waitpid(pid, NULL, 0);
    pid = serve_once(port, "");
    int64_t t0 = ah_now_ms();
    AH_ASSERT_EQ_INT(ae_http_get("127.0.0.1", port, "/varz", NULL, 300), AE_EPROTO);
    AH_ASSERT(ah_now_ms() - t0 < 3000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    AH_ASSERT_EQ_INT(ae_http_get("127.0.0.1", port, "/varz", NULL, 1000), AE_EIO);
}

static void atomic_files(void)
{
    char *dir = ah_mkdtemp("cli-file");
    char path[600];
    snprintf(path, sizeof path, "%s/f.conf", dir);
    ae_err err = {0};
    char *text = NULL;
    AH_ASSERT_EQ_INT(ae_file_read(path, &text, NULL, &err), AE_ENOENT);
    AH_ASSERT_CONTAINS(err.msg, path);
    AH_ASSERT_EQ_INT(ae_file_write_atomic(path, "one\n", AE_FILE_DURABLE, &err), 0);
    AH_ASSERT_EQ_INT(ae_file_write_atomic(path, "two\n", 0, &err), 0);
    size_t len = 0;
    AH_ASSERT_EQ_INT(ae_file_read(path, &text, &len, &err), 0);
    AH_ASSERT_EQ_STR(text, "two\n");
    AH_ASSERT_EQ_INT(len, 4);
    free(text);
    struct stat st;
    AH_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(path, sizeof path, "%s/missing/f.conf", dir);
    AH_ASSERT_EQ_INT(ae_file_write_atomic(path, "x", 0, &err), AE_EIO);
    AH_ASSERT_CONTAINS(err.msg, "missing");
    ah_rmrf(dir);
    free(dir);
}

/* A port whose last connection is in TIME_WAIT is free for a server (they all set
 * SO_REUSEADDR), so `aerie up` after `aerie down` keeps it, as docs/cli.md promises. */
static void free_port_keeps_time_wait_port(void)
{
    int port = ah_free_port();
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0);
    /* While it listens, it is taken. */
    AH_ASSERT(ae_proc_free_port(SOCK_STREAM, port, NULL, 0) != port);
    int cl = ah_connect(port);
    int srv = accept(ls, NULL, NULL);
    AH_ASSERT(cl >= 0 && srv >= 0);
    /* The server side closes first, as nats-server does on shutdown: its end of the
     * connection, on `port`, goes to TIME_WAIT. */
    close(srv);
    close(ls);
    char buf[16];
    AH_ASSERT(ah_wait_closed(cl, buf, sizeof buf, 2000));
    close(cl);
    AH_ASSERT_EQ_INT(ae_proc_free_port(SOCK_STREAM, port, NULL, 0), port);
}

/* ---- the fleet model and the one renderer --------------------------------------------- */

/* A local fleet's record as `aerie up` writes it, with everything the model holds. */
static const char *LOCAL_FLEET =
    "{\"env\":\"prod\",\"created\":\"2026-01-01T00:00:00Z\",\"hub\":{\"urls\":["
    "\"nats://operator:pw@127.0.0.1:21001\",\"nats://operator:pw@127.0.0.1:21011\"],"
    "\"js_domain\":\"hub\",\"cluster\":\"aerie\",\"nodes\":["
    "{\"name\":\"hub1\",\"client_port\":21001,\"cluster_port\":21002,\"leaf_port\":21003,"
    "\"http_port\":21004,\"conf\":\"/f/conf/hub1.conf\"},"
    "{\"name\":\"hub2\",\"client_port\":21011,\"cluster_port\":21012,\"leaf_port\":21013,"
    "\"http_port\":21014,\"conf\":\"/f/conf/hub2.conf\"}]},"
    "\"operator\":{\"user\":\"operator\",\"password\":\"pw\"},"
    "\"dashboard\":{\"port\":21099,\"url\":\"http://127.0.0.1:21099/\"},"
    "\"vehicles\":[{\"vid\":\"VID-001\",\"leaf_port\":22001,\"leaf_http_port\":22002,"
    "\"mavlink_port\":22003,\"relay_port\":22004,\"relay_control_port\":22005,\"hub\":\"hub2\","
    "\"seed\":\"/f/creds/VID-001.nk\",\"home\":[47.3977,8.5456,488.0],\"autopilot\":\"px4\","
    "\"mission_size\":80,\"mission_delay_s\":2}],\"stale\":\"6s\","
    "\"retention\":{\"link-history\":\"50\",\"store-budget\":\"2GB\"},"
    "\"processes\":[{\"name\":\"hub1\",\"kind\":\"hub\",\"prog\":\"nats-server\",\"pid\":0,"
    "\"argv\":[\"/usr/sbin/nats-server\",\"-c\",\"/f/conf/hub1.conf\"],"
    "\"log\":\"/f/logs/hub1.log\",\"ready_port\":21004},"
    "{\"name\":\"leaf-VID-001\",\"kind\":\"leaf\",\"prog\":\"aerie-leaf\",\"pid\":42,"
    "\"argv\":[\"/b/aerie-leaf\",\"-c\",\"/f/conf/leaf-VID-001.conf\"],"
    "\"log\":\"/f/logs/leaf-VID-001.log\",\"ready_port\":22001,\"vid\":\"VID-001\","
    "\"started\":\"2026-01-01T00:00:01Z\"},"
    "{\"name\":\"sim-pool-1\",\"kind\":\"sim\",\"prog\":\"aerie-sim\",\"pid\":43,"
    "\"argv\":[\"/b/aerie-sim\",\"--drone\",\"--name\",\"VID-001\"],"
    "\"log\":\"/f/logs/sim-pool-1.log\",\"ready_port\":0,\"vids\":[\"VID-000\",\"VID-001\"]}]}";

static void fleet_round_trip(void)
{
    ae_fleet *f = NULL, *g = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_fleet_parse(LOCAL_FLEET, "f.json", "/f", &f, &err) == 0, "%s", err.msg);
    AH_ASSERT_EQ_INT(f->n_hubs, 2);
    AH_ASSERT_EQ_INT(ae_fleet_hub_find(f, "hub2")->leaf_port, 21013);
    AH_ASSERT_EQ_STR(ae_fleet_hub_find(f, "hub1")->conf, "/f/conf/hub1.conf");
    const ae_fleet_vehicle *v = ae_fleet_vehicle_find(f, "VID-001");
    AH_ASSERT(v && v->relay_control_port == 22005 && v->drone.mission_size == 80);
    AH_ASSERT_EQ_STR(v->seed, "/f/creds/VID-001.nk");
    AH_ASSERT(fabs(v->drone.home[1] - 8.5456) < 1e-9);
    const ae_fleet_proc *p = ae_fleet_proc_find(f, "leaf-VID-001");
    AH_ASSERT(p && p->pid == 42 && p->ready_port == 22001);
    AH_ASSERT_EQ_STR(p->argv[2], "/f/conf/leaf-VID-001.conf");
    AH_ASSERT(p->argv[3] == NULL);
    AH_ASSERT(ae_fleet_is_local(f));
    AH_ASSERT_EQ_INT(f->stale_ns, 6000000000LL);
    AH_ASSERT(f->n_retention == 4 && strcmp(f->retention[2], "store-budget") == 0);
    AH_ASSERT_EQ_INT(ae_fleet_retention_set(f, "link-history", "70"), 0);
    AH_ASSERT(f->n_retention == 4 && strcmp(f->retention[1], "70") == 0);
    AH_ASSERT_EQ_INT(ae_fleet_retention_set(f, "link-history", "50"), 0);
    /* A pool of drones serves several vehicles: found as the sim process of each. */
    const ae_fleet_proc *pool = ae_fleet_proc_find(f, "sim-pool-1");
    AH_ASSERT(pool && pool->n_vids == 2 && pool->vid == NULL);
    AH_ASSERT(ae_fleet_proc_of(f, "VID-001", AE_KIND_SIM) == pool);
    AH_ASSERT(ae_fleet_proc_of(f, "VID-000", AE_KIND_SIM) == pool);
    AH_ASSERT(ae_fleet_proc_of(f, "VID-002", AE_KIND_SIM) == NULL);
    AH_ASSERT(ae_fleet_proc_of(f, "VID-001", AE_KIND_LEAF) == p);
    /* Written out and read back, nothing is lost or changed. */
    char *one = ae_fleet_dump(f);
    AH_ASSERT_MSG(ae_fleet_parse(one, "dump", "/f", &g, &err) == 0, "%s", err.msg);
    char *two = ae_fleet_dump(g);
    AH_ASSERT_EQ_STR(two, one);
    json_t *a = json_loads(LOCAL_FLEET, 0, NULL), *b = json_loads(one, 0, NULL);
    AH_ASSERT_MSG(json_equal(a, b), "the dump differs from the input: %s", one);
    json_decref(a);
    json_decref(b);
    free(one);
    free(two);
    ae_fleet_free(g);
    /* A process added later starts unstarted and logs under the fleet's logs/. */
    const char *argv[] = {"/b/aerie", "dashboard", NULL};
    ae_fleet_proc *d = ae_fleet_proc_add(f, "dash", AE_KIND_DASHBOARD, "aerie", NULL, 1, argv);
    AH_ASSERT(d && d->pid == 0);
    AH_ASSERT_EQ_STR(d->log, "/f/logs/dash.log");
    ae_fleet_free(f);
    /* Wrong types are named. */
    AH_ASSERT_EQ_INT(ae_fleet_parse("{\"hub\":{\"urls\":[\"u\"],\"nodes\":[{\"name\":\"h\","
                                    "\"leaf_port\":\"x\"}]}}",
                                    "f.json", NULL, &f, &err),
                     AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "hub.nodes[0].leaf_port");
    AH_ASSERT_EQ_INT(ae_fleet_parse("{\"hub\":{\"urls\":[\"u\"]},\"processes\":[{\"name\":\"s\","
                                    "\"kind\":\"sim\",\"prog\":\"aerie-sim\",\"vids\":[\"a b\"]}]}",
                                    "f.json", NULL, &f, &err),
                     AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "processes[0].vids must be an array of vehicle ids");
    /* A region view of `aerie topology`: where its vehicles fail over to, and the aggregate. */
    const char *view = "{\"env\":\"prod\",\"region\":\"eu\",\"hub\":{\"urls\":[\"nats://o:p@h:1\"],"
                       "\"js_domain\":\"hub-eu\",\"fallback_domains\":[\"hub-us\"],"
                       "\"global_domain\":\"hub-us\"},\"vehicles\":[{\"vid\":\"VID-001\"}]}";
    AH_ASSERT_MSG(ae_fleet_parse(view, "v.json", "/v", &f, &err) == 0, "%s", err.msg);
    AH_ASSERT_EQ_INT(f->n_fallback_domains, 1);
    AH_ASSERT_EQ_STR(f->fallback_domains[0], "hub-us");
    AH_ASSERT_EQ_STR(f->global_domain, "hub-us");
    one = ae_fleet_dump(f);
    a = json_loads(view, 0, NULL);
    b = json_loads(one, 0, NULL);
    AH_ASSERT_MSG(json_equal(a, b), "the view changed: %s", one);
    json_decref(a);
    json_decref(b);
    free(one);
    ae_fleet_free(f);
    /* Domains become subject tokens: a dot is refused. */
    AH_ASSERT_EQ_INT(ae_fleet_parse("{\"hub\":{\"urls\":[\"u\"],\"fallback_domains\":[\"a.b\"]}}",
                                    "f.json", NULL, &f, &err),
                     AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "hub.fallback_domains[0]");
}

static ae_conf_node *parse_conf(const char *text, const char *name)
{
    ae_conf_node *root = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_conf_parse_string(text, strlen(text), name, &root, &err) == 0, "%s: %s", name,
                  err.msg);
    return root;
}

static const char *conf_str(const ae_conf_node *map, const char *path)
{
    char key[128];
    const ae_conf_node *n = map;
    for (const char *p = path; n && *p;) {
        size_t len = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        n = ae_conf_get(n, key);
        p += len + (p[len] == '.');
    }
    return n && n->type == AE_CONF_STRING ? n->str : NULL;
}

/* `aerie up`'s configs come from the local fleet's record through the topology model: the
 * hub's cluster without route credentials, the leaf behind its relay with the store, the
 * gateway on the drone's port. */
/* The registry `aerie up` and `aerie topology` would write for t: its tenants and an
 * identity per vehicle (seeds in a temporary directory, removed here). */
static json_t *issued_registry(ae_topology *t)
{
    char *dir = ah_mkdtemp("cli-reg");
    json_t *reg = json_pack("{s:{}, s:{}}", "tenants", "vehicles");
    ae_err err = {0};
    AH_ASSERT_MSG(ae_identities_issue(t, reg, dir, NULL, &err) == 0, "%s", err.msg);
    ah_rmrf(dir);
    free(dir);
    return reg;
}

static void local_fleet_configs(void)
{
    ae_fleet *f = NULL;
    ae_err err = {0};
    AH_ASSERT(ae_fleet_parse(LOCAL_FLEET, "f.json", "/f", &f, &err) == 0);
    ae_topology *t = ae_local_topology(f, NULL);
    AH_ASSERT(t && t->n_hubs == 2 && t->n_vehicles == 1);
    json_t *reg = issued_registry(t);
    char *hub = ae_render_hub_conf(t, &t->hubs[1]);
    ae_conf_node *h = parse_conf(hub, "hub2.conf");
    AH_ASSERT_EQ_STR(conf_str(h, "server_name"), "hub2");
    AH_ASSERT_EQ_STR(conf_str(h, "listen"), "127.0.0.1:21011");
    AH_ASSERT_EQ_STR(conf_str(h, "jetstream.domain"), "hub");
    AH_ASSERT_EQ_STR(conf_str(h, "jetstream.store_dir"), "/f/data/hub2");
    AH_ASSERT_EQ_STR(conf_str(h, "cluster.name"), "aerie");
    AH_ASSERT_EQ_STR(conf_str(h, "no_auth_user"), "aerie-nobody");
    AH_ASSERT_EQ_STR(conf_str(h, "leafnodes.listen"), "127.0.0.1:21013");
    const ae_conf_node *routes = ae_conf_get(ae_conf_get(h, "cluster"), "routes");
    AH_ASSERT(routes && routes->child && routes->child->next && !routes->child->next->next);
    AH_ASSERT_EQ_STR(routes->child->str, "nats-route://127.0.0.1:21002");
    AH_ASSERT(!ae_conf_get(ae_conf_get(h, "cluster"), "authorization"));
    AH_ASSERT(!ae_conf_get(h, "gateway"));
    AH_ASSERT(!strstr(hub, "aerie-region")); /* one region: identities are not scoped */
    /* The operator is in the tenant's account, the vehicle in its own; the global account
     * holds only aerie-nobody. */
    const ae_conf_node *acc = ae_conf_get(h, "accounts");
    AH_ASSERT(acc && ae_conf_get(acc, "T-default") && ae_conf_get(acc, "V-VID-001"));
    const ae_conf_node *top = ae_conf_get(ae_conf_get(h, "authorization"), "users")->child;
    AH_ASSERT_EQ_STR(conf_str(top, "user"), "aerie-nobody");
    AH_ASSERT(!top->next);
    AH_ASSERT_CONTAINS(hub, "{ user: \"operator\", password: \"pw\", allowed_connection_types: "
                            "[\"STANDARD\"] }");
    AH_ASSERT_CONTAINS(hub, "# BEGIN aerie-accounts");
    AH_ASSERT_CONTAINS(hub, "subject: \"fleet.prod.veh.VID-001.state.>\"");
    ae_conf_free(h);
    free(hub);
    char *leaf = ae_render_leaf_conf(t, &t->vehicles[0]);
    ae_conf_node *l = parse_conf(leaf, "leaf.conf");
    AH_ASSERT_EQ_STR(conf_str(l, "listen"), "127.0.0.1:22001");
    AH_ASSERT_EQ_STR(conf_str(l, "http"), "127.0.0.1:22002");
    AH_ASSERT_EQ_STR(conf_str(l, "store.dir"), "/f/data/VID-001");
    AH_ASSERT_EQ_STR(conf_str(l, "uplink.vid"), "VID-001");
    AH_ASSERT_EQ_STR(conf_str(l, "leafnodes.dead_link_timeout"), "6s");
    const ae_conf_node *remote = ae_conf_get(ae_conf_get(l, "leafnodes"), "remotes")->child;
    AH_ASSERT_EQ_STR(conf_str(remote, "nkey"), "/f/creds/VID-001.nk");
    AH_ASSERT_EQ_STR(ae_conf_get(remote, "urls")->child->str, "nats-leaf://127.0.0.1:22004");
    AH_ASSERT(ae_conf_get(remote, "ignore_discovered_urls")->b);
    AH_ASSERT_EQ_STR(ae_conf_get(ae_conf_get(l, "uplink"), "subjects")->child->str,
                     "fleet.prod.veh.VID-001.state.>");
    ae_conf_free(l);
    free(leaf);
    char *gw = ae_render_gw_conf(t, &t->vehicles[0]);
    ae_conf_node *g = parse_conf(gw, "gw.conf");
    AH_ASSERT_EQ_STR(conf_str(g, "nats"), "nats://127.0.0.1:22001");
    AH_ASSERT_EQ_STR(ae_conf_get(g, "mavlink")->child->str, "udp://127.0.0.1:22003");
    AH_ASSERT_EQ_INT(ae_conf_get(ae_conf_get(g, "rate_limits"), "position")->i, 5);
    ae_conf_free(g);
    free(gw);
    ae_topology_free(t);
    json_decref(reg);
    ae_fleet_free(f);
}

/* What a local fleet's size changes, planned for real (keys, ports, configs; nothing
 * started): how often the leaves report and how long silence may last (2 s / 6 s, 5 s / 15 s
 * from 500 vehicles, 10 s / 30 s from 1,000), and whether they dial compressed websocket
 * (below 500) or the plain leafnode port. */
static void local_fleet_size_tiers(void)
{
    static const struct {
        int vehicles;
        const char *every, *stale, *scheme;
    } tiers[] = {{10, "2s", "6s", "ws://"},
                 {500, "5s", "15s", "nats-leaf://"},
                 {1000, "10s", "30s", "nats-leaf://"}};
    ae_local_programs progs = {0};
    snprintf(progs.nats_server, sizeof progs.nats_server, "/usr/bin/true");
    snprintf(progs.leaf, sizeof progs.leaf, "/usr/bin/true");
    snprintf(progs.gw, sizeof progs.gw, "/usr/bin/true");
    snprintf(progs.relay, sizeof progs.relay, "/usr/bin/true");
    snprintf(progs.self, sizeof progs.self, "/usr/bin/true");
    for (size_t t = 0; t < sizeof tiers / sizeof tiers[0]; t++) {
        char *dir = ah_mkdtemp("cli-tiers");
        ae_err err = {0};
        json_t *reg = ae_creds_registry_load(dir, &err);
        AH_ASSERT_MSG(reg, "%s", err.msg);
        ae_local_tenant tenant = {.name = "default", .vehicles = tiers[t].vehicles};
        ae_fleet *f = NULL;
        AH_ASSERT_MSG(ae_local_fleet_plan(dir, &tenant, 1, "prod", false, 0.02, NULL, reg, &progs,
                                          &f, &err) == 0,
                      "%d vehicles: %s", tiers[t].vehicles, err.msg);
        AH_ASSERT_EQ_INT((int)f->n_vehicles, tiers[t].vehicles);
        AH_ASSERT_EQ_STR(f->stale, tiers[t].stale);
        for (size_t h = 0; h < f->n_hubs; h++)
            AH_ASSERT_MSG((f->hubs[h].ws_port != 0) == (tiers[t].vehicles < 500),
                          "%d vehicles: hub %zu ws_port %d", tiers[t].vehicles, h,
                          f->hubs[h].ws_port);
        char path[700];
        snprintf(path, sizeof path, "%s/conf/leaf-%s.conf", dir, f->vehicles[0].vid);
        char *text = ah_read_file(path);
        AH_ASSERT_MSG(text, "no %s", path);
        ae_conf_node *l = parse_conf(text, "leaf.conf");
        AH_ASSERT_EQ_STR(conf_str(l, "uplink.status_interval"), tiers[t].every);
        AH_ASSERT_EQ_STR(conf_str(l, "leafnodes.dead_link_timeout"), tiers[t].stale);
        const ae_conf_node *remote = ae_conf_get(ae_conf_get(l, "leafnodes"), "remotes")->child;
        const char *url = ae_conf_get(remote, "urls")->child->str;
        AH_ASSERT_MSG(strncmp(url, tiers[t].scheme, strlen(tiers[t].scheme)) == 0,
                      "%d vehicles dial %s", tiers[t].vehicles, url);
        ae_conf_free(l);
        free(text);
        ae_fleet_free(f);
        json_decref(reg);
        ah_rmrf(dir);
        free(dir);
    }
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
        /* found by fuzz_topology: an empty operator password made hub configs that the
         * renderer refused only at write time */
        {"{\"operator\":{\"password\":\"\"},\"regions\":[{\"name\":\"eu\",\"hubs\":[{"
         "\"name\":\"h\",\"host\":\"x\"}]}]}",
         "operator.password: empty"},
        {"{\"vehicle_auth\":\"none\",\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":"
         "\"h\",\"host\":\"x\"}]}]}",
         "vehicle_auth must be"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"V\",\"password\":\"p\"}]}",
         "vehicles sign in with nkeys"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"aerie-evict\"}]}",
         "reserved"},
        /* Sizes go into the hub config unquoted: one that would not read back is refused
         * (found by fuzz_topology: "12{vid}8MB" made a hub config nothing could load). */
        {"{\"jetstream\":{\"max_memory_store\":\"12{vid}8MB\"},\"regions\":[{\"name\":"
         "\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}]}",
         "jetstream.max_memory_store"},
        {"{\"jetstream\":{\"max_file_store\":\"10 GB\"},\"regions\":[{\"name\":"
         "\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}]}",
         "is not a size"},
        /* Disaster recovery and the vehicles' ports (issue 19). */
        {"{\"regions\":[{\"name\":\"eu\",\"fallback\":\"eu\",\"hubs\":[{\"name\":\"h\","
         "\"host\":\"x\"}]}]}",
         "regions[0].fallback: must name another region"},
        {"{\"regions\":[{\"name\":\"eu\",\"fallback\":\"us\",\"hubs\":[{\"name\":\"h\","
         "\"host\":\"x\"}]}]}",
         "regions[0].fallback"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"A\",\"host\":\"lab\",\"leaf_port\":5000},{\"vid\":\"B\","
         "\"host\":\"lab\",\"leaf_port\":5000}]}",
         "vehicle B: port 5000 is used twice on host lab"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"A\",\"mavlink\":\"tcp://x:1\"}]}",
         "vehicles[0].mavlink: expected an aerie-gw endpoint"},
        {"{\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"h\",\"host\":\"x\"}]}],"
         "\"vehicles\":[{\"vid\":\"A\",\"mavlink\":\"udp://:1\",\"mavlink_port\":2}]}",
         "not both"},
        {"{\"vehicle_store_dir\":\"/a\\\"b\",\"regions\":[{\"name\":\"eu\",\"hubs\":[{"
         "\"name\":\"h\",\"host\":\"x\"}]}]}",
         "vehicle_store_dir must be a path"},
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

/* Names that look like numbers, sizes or booleans to the config parser stay strings in
 * every generated config (found by fuzz_topology: a hub named 666...7 made a config that
 * nothing could load, and a region "on" would have been a boolean cluster name). */
static void topology_names_stay_strings(void)
{
    const char *desc = "{\"env\":\"2024\",\"js_domain\":\"10m\",\"operator\":{\"user\":\"007\"},"
                       "\"regions\":[{\"name\":\"on\",\"hubs\":[{\"name\":"
                       "\"66666666666666666666666\",\"host\":\"a.example\"}]},{\"name\":\"1k\","
                       "\"hubs\":[{\"name\":\"true\",\"host\":\"b.example\"}]}],"
                       "\"vehicles\":[{\"vid\":\"42\",\"region\":\"on\"}]}";
    json_t *secrets = json_object();
    ae_topology *t = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_topology_parse(desc, "t.json", secrets, &t, &err) == 0, "%s", err.msg);
    AH_ASSERT(ae_topo_set(&t->vehicles[0].seed_path, "/s/42.nk") == 0);
    json_t *reg = issued_registry(t);
    char *hub = ae_render_hub_conf(t, &t->hubs[0]);
    ae_conf_node *h = parse_conf(hub, "hub.conf");
    AH_ASSERT_EQ_STR(conf_str(h, "server_name"), "66666666666666666666666");
    AH_ASSERT_EQ_STR(conf_str(h, "cluster.name"), "on");
    AH_ASSERT_EQ_STR(conf_str(h, "jetstream.domain"), "10m");
    AH_ASSERT_EQ_STR(conf_str(h, "gateway.name"), "on");
    const ae_conf_node *gws = ae_conf_get(ae_conf_get(h, "gateway"), "gateways");
    AH_ASSERT_EQ_STR(conf_str(gws->child, "name"), "1k");
    const ae_conf_node *op =
        ae_conf_get(ae_conf_get(ae_conf_get(h, "accounts"), "T-default"), "users")->child;
    AH_ASSERT_EQ_STR(conf_str(op, "user"), "007");
    ae_conf_free(h);
    free(hub);
    hub = ae_render_hub_conf(t, &t->hubs[1]);
    h = parse_conf(hub, "hub2.conf");
    AH_ASSERT_EQ_STR(conf_str(h, "server_name"), "true");
    ae_conf_free(h);
    free(hub);
    char *leaf = ae_render_leaf_conf(t, &t->vehicles[0]);
    ae_conf_node *l = parse_conf(leaf, "leaf.conf");
    AH_ASSERT_EQ_STR(conf_str(l, "server_name"), "42");
    AH_ASSERT_EQ_STR(conf_str(l, "uplink.domain"), "10m");
    ae_conf_free(l);
    free(leaf);
    t->creds = NULL;
    ae_topology_free(t);
    json_decref(reg);
    json_decref(secrets);
}

/* Vehicles on one host get distinct ports from the defaults; a vehicle on a machine of its
 * own keeps the standard ones. Its leaf lists the home region's hubs, then the fallback's,
 * and stores its own subjects; the fallback region's hubs list its password user. */
static void topology_vehicle_set(void)
{
    const char *desc =
        "{\"vehicle_auth\":\"password\",\"regions\":["
        "{\"name\":\"eu\",\"fallback\":\"us\",\"hubs\":[{\"name\":\"e1\",\"host\":\"e\"},"
        "{\"name\":\"e2\",\"host\":\"e2\"}]},"
        "{\"name\":\"us\",\"hubs\":[{\"name\":\"u1\",\"host\":\"u\",\"leaf_port\":7000}]}],"
        "\"vehicles\":[{\"vid\":\"A\",\"region\":\"eu\",\"host\":\"lab\"},"
        "{\"vid\":\"B\",\"region\":\"eu\",\"host\":\"lab\",\"leaf_port\":4223},"
        "{\"vid\":\"C\",\"region\":\"us\"},"
        "{\"vid\":\"D\",\"region\":\"us\",\"mavlink\":\"serial:///dev/ttyACM0:921600\"}]}";
    json_t *secrets = json_object();
    ae_topology *t = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_topology_parse(desc, "t.json", secrets, &t, &err) == 0, "%s", err.msg);
    const ae_topo_vehicle *a = &t->vehicles[0], *b = &t->vehicles[1], *c = &t->vehicles[2];
    AH_ASSERT_EQ_INT(a->leaf.port, 4222);
    AH_ASSERT_EQ_INT(b->leaf.port, 4223);
    AH_ASSERT_EQ_INT(a->gw.mavlink_port, 14550);
    AH_ASSERT_EQ_INT(b->gw.mavlink_port, 14551);
    AH_ASSERT_EQ_INT(a->leaf.http_port, 8222);
    AH_ASSERT_EQ_INT(b->leaf.http_port, 8223);
    AH_ASSERT_EQ_INT(c->leaf.port, 4222);
    AH_ASSERT_EQ_INT(c->leaf.http_port, 0);
    AH_ASSERT_EQ_STR(b->gw.mavlink[0], "udp://0.0.0.0:14551");
    AH_ASSERT_EQ_STR(t->vehicles[3].gw.mavlink[0], "serial:///dev/ttyACM0:921600");
    json_t *reg = issued_registry(t);
    char *leaf = ae_render_leaf_conf(t, a);
    ae_conf_node *l = parse_conf(leaf, "leaf.conf");
    const ae_conf_node *urls =
        ae_conf_get(ae_conf_get(ae_conf_get(l, "leafnodes"), "remotes")->child, "urls");
    const char *want[] = {"e:7422", "e2:7422", "u:7000"};
    const ae_conf_node *u = urls->child;
    for (int k = 0; k < 3; k++, u = u->next) {
        AH_ASSERT_MSG(u && u->type == AE_CONF_STRING, "url %d missing in %s", k, leaf);
        AH_ASSERT_MSG(strstr(u->str, want[k]), "url %d is %s, not %s", k, u->str, want[k]);
    }
    AH_ASSERT(!u);
    /* Password mode: a stock nats-server leaf, no aerie-only blocks. */
    AH_ASSERT(!strstr(leaf, "store {") && !strstr(leaf, "reconnect_max"));
    ae_conf_free(l);
    free(leaf);
    char *us = ae_render_hub_conf(t, &t->hubs[2]), *e1 = ae_render_hub_conf(t, &t->hubs[0]);
    /* Each password user in its vehicle's account, where its identity is accepted. */
    AH_ASSERT_CONTAINS(us, "{ user: \"A\"");
    AH_ASSERT_CONTAINS(us, "{ user: \"C\"");
    AH_ASSERT(!strstr(e1, "user: \"C\"")); /* us has no fallback: its vehicles stay there */
    AH_ASSERT_CONTAINS(e1, "\"V-C\": {");  /* but its account is everywhere (commands) */
    free(us);
    free(e1);
    t->creds = NULL;
    ae_topology_free(t);
    json_decref(reg);
    json_decref(secrets);
}

/* ---- fleet scale: vehicle ids, retention, the drone's rate ------------------------------ */

/* Ids keep one width per fleet, at least three digits: they sort in start order. */
static void local_vehicle_ids(void)
{
    char a[32], b[32];
    ae_local_vid(0, 10, a, sizeof a);
    AH_ASSERT_EQ_STR(a, "VID-001");
    ae_local_vid(998, 999, a, sizeof a);
    AH_ASSERT_EQ_STR(a, "VID-999");
    ae_local_vid(0, 1000, a, sizeof a);
    AH_ASSERT_EQ_STR(a, "VID-0001");
    ae_local_vid(999, 1000, a, sizeof a);
    AH_ASSERT_EQ_STR(a, "VID-1000");
    for (int n = 1; n <= 1200; n += 7)
        for (int i = 1; i < n; i++) {
            ae_local_vid(i - 1, n, a, sizeof a);
            ae_local_vid(i, n, b, sizeof b);
            AH_ASSERT_MSG(strcmp(a, b) < 0 && strlen(a) == strlen(b), "%s, %s of %d", a, b, n);
        }
}

/* A drone's --telemetry-hz survives fleet.json (a later `up` keeps it); a negative one is
 * refused with the field named. */
static void fleet_telemetry_hz(void)
{
    ae_fleet *f = NULL, *g = NULL;
    ae_err err = {0};
    AH_ASSERT(ae_fleet_parse(LOCAL_FLEET, "f.json", "/f", &f, &err) == 0);
    AH_ASSERT(f->vehicles[0].drone.telemetry_hz == 0); /* not set: the simulator's default */
    char *text = ae_fleet_dump(f);
    AH_ASSERT(text && !strstr(text, "telemetry_hz"));
    free(text);
    f->vehicles[0].drone.telemetry_hz = 0.5;
    text = ae_fleet_dump(f);
    AH_ASSERT(ae_fleet_parse(text, "f.json", "/f", &g, &err) == 0);
    AH_ASSERT(g->vehicles[0].drone.telemetry_hz == 0.5);
    ae_fleet_free(g);
    g = NULL;
    char *neg = strstr(text, "\"telemetry_hz\": 0.5");
    AH_ASSERT_MSG(neg, "%s", text);
    memcpy(neg + 16, "-1 ", 3); /* "telemetry_hz": -1 */
    AH_ASSERT(ae_fleet_parse(text, "f.json", "/f", &g, &err) != 0);
    AH_ASSERT_CONTAINS(err.msg, "telemetry_hz");
    free(text);
    ae_fleet_free(f);
}

/* The retention options: defaults, every stream's three limits, shares of a budget, and bad
 * values refused with a message. */
static void retention_limits(void)
{
    ae_retention r = ae_retention_defaults();
    AH_ASSERT_EQ_INT(r.max_age[AE_RET_STATE], 7LL * 86400 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(r.history[AE_RET_LINK], 100);
    AH_ASSERT_EQ_INT(r.history[AE_RET_LIVE], 1);
    AH_ASSERT_EQ_INT(r.max_bytes[AE_RET_EVENTS], AE_RET_UNSET);
    char *argv[] = {"up",        "--state-max-age", "2h",  "--events-max-bytes",
                    "1GB",       "--state-history", "500", "--link-history",
                    "unlimited", "--vehicles",      "3",   NULL};
    int argc = 11, i = 1, got;
    ae_err err = {0};
    while ((got = ae_retention_opt(&r, argc, argv, &i, &err)) == 1)
        ;
    AH_ASSERT_EQ_INT(got, 0);
    AH_ASSERT_EQ_STR(argv[i], "--vehicles"); /* not a retention option: left to the caller */
    AH_ASSERT_EQ_INT(r.max_age[AE_RET_STATE], 2LL * 3600 * AE_NS_PER_SEC);
    AH_ASSERT_EQ_INT(r.max_bytes[AE_RET_EVENTS], 1LL << 30);
    AH_ASSERT_EQ_INT(r.history[AE_RET_STATE], 500);
    AH_ASSERT_EQ_INT(r.history[AE_RET_LINK], -1);
    ae_retention_fit(&r, 1000);
    AH_ASSERT_EQ_INT(r.max_bytes[AE_RET_STATE], 600);
    AH_ASSERT_EQ_INT(r.max_bytes[AE_RET_EVENTS], 1LL << 30); /* chosen: kept */
    AH_ASSERT_EQ_INT(r.max_bytes[AE_RET_CMD], 50);
    ae_retention u = ae_retention_defaults();
    ae_retention_fit(&u, 0);
    AH_ASSERT_EQ_INT(u.max_bytes[AE_RET_STATE], -1); /* no budget: unlimited */
    static const char *const bad[][2] = {{"--state-max-age", "soon"},
                                         {"--state-max-bytes", "0"},
                                         {"--cmd-history", "-3"},
                                         {"--store-budget", "lots"},
                                         {"--state-history", NULL}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *one[] = {"x", (char *)bad[k][0], (char *)bad[k][1], NULL};
        int j = 1;
        err.msg[0] = 0;
        AH_ASSERT_EQ_INT(ae_retention_opt(&u, bad[k][1] ? 3 : 2, one, &j, &err), -1);
        AH_ASSERT_CONTAINS(err.msg, bad[k][0]);
    }
    char *live[] = {"x", "--live-history", "5", NULL};
    int j = 1;
    AH_ASSERT_EQ_INT(ae_retention_opt(&u, 3, live, &j, &err), 0); /* live keeps 1, always */
}

static void count_frame(void *ctx, const ae_mav_frame *f)
{
    int *counts = ctx;
    if (f->msgid == AE_MAV_MSG_GLOBAL_POSITION_INT)
        counts[0]++;
    else if (f->msgid == AE_MAV_MSG_HEARTBEAT)
        counts[1]++;
}

/* Runs aerie-sim for `secs` at `hz` (NULL: its default) and counts what arrived on UDP:
 * counts[0] positions, counts[1] heartbeats. */
static void sim_counts(const char *hz, const char *secs, int counts[2])
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    AH_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t sl = sizeof sa;
    AH_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    char url[64];
    snprintf(url, sizeof url, "udpout://127.0.0.1:%d", ntohs(sa.sin_port));
    char *argv[] = {
        (char *)ah_bin("aerie-sim"),  "--mavlink", url, "--quiet", "--duration", (char *)secs,
        hz ? "--telemetry-hz" : NULL, (char *)hz,  NULL};
    char *dir = ah_mkdtemp("sim");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/sim", dir);
    ah_output o = ah_run_capture(prefix, argv, 20000); /* the datagrams wait in the socket */
    AH_ASSERT_MSG(o.code == 0, "aerie-sim exit %d: %s", o.code, o.err);
    ah_output_free(&o);
    ae_mav_parser p;
    counts[0] = counts[1] = 0;
    ae_mav_parser_init(&p, count_frame, counts);
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        ae_mav_parse(&p, buf, (size_t)n);
    close(fd);
    ah_rmrf(dir);
    free(dir);
}

/* --telemetry-hz sets the position rate; the heartbeat stays at 1 Hz; the default stays
 * 10 Hz. Bounds are loose: a loaded machine starts the program late. */
static void sim_telemetry_rate(void)
{
    int slow[2], dflt[2];
    sim_counts("2", "3", slow);
    AH_ASSERT_MSG(slow[0] >= 4 && slow[0] <= 8, "%d positions in 3 s at 2 Hz", slow[0]);
    AH_ASSERT_MSG(slow[1] >= 2 && slow[1] <= 4, "%d heartbeats in 3 s", slow[1]);
    sim_counts(NULL, "2", dflt);
    AH_ASSERT_MSG(dflt[0] >= 15 && dflt[0] <= 21, "%d positions in 2 s by default", dflt[0]);
    char *bad[] = {(char *)ah_bin("aerie-sim"), "--telemetry-hz", "0.005", NULL};
    ah_output o = ah_run_capture("/tmp/aerie-sim-bad", bad, 5000);
    AH_ASSERT_EQ_INT(o.code, 2);
    AH_ASSERT_CONTAINS(o.err, "--telemetry-hz 0.005: expected 0.01..50");
    ah_output_free(&o);
}

/* ae_proc_busy and ae_proc_cpu_ticks, by which `aerie up` tells that a started program
 * without a readiness port finished its start-up: a process spinning on the CPU is busy and
 * its CPU time grows, one waiting is not and its time stands still, one that is gone is
 * neither. */
static void proc_busy_until_it_sleeps(void)
{
    ah_proc spin = {0}, nap = {0};
    char *spin_argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    char *nap_argv[] = {"/bin/sleep", "30", NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&spin, NULL, spin_argv), 0);
    AH_ASSERT_EQ_INT(ah_spawn(&nap, NULL, nap_argv), 0);
    /* Both may be seen either way for a moment while they start; then each settles. */
    bool spin_busy = false, nap_idle = false;
    for (int k = 0; k < 100 && !(spin_busy && nap_idle); k++) {
        spin_busy = spin_busy || ae_proc_busy(spin.pid);
        nap_idle = nap_idle || !ae_proc_busy(nap.pid);
        ah_sleep_ms(20);
    }
    AH_ASSERT_MSG(spin_busy, "a spinning shell never looked busy");
    AH_ASSERT_MSG(nap_idle, "a sleeping process never looked idle");
    int idle_looks = 0;
    for (int k = 0; k < 10; k++)
        idle_looks += !ae_proc_busy(nap.pid);
    AH_ASSERT(idle_looks >= 9); /* it stays asleep */
    /* and its CPU time stands still while the spinning one's grows */
    int64_t nap0 = ae_proc_cpu_ticks(nap.pid), spin0 = ae_proc_cpu_ticks(spin.pid);
    ah_sleep_ms(300);
    AH_ASSERT(nap0 >= 0 && ae_proc_cpu_ticks(nap.pid) == nap0);
    AH_ASSERT_MSG(ae_proc_cpu_ticks(spin.pid) > spin0, "spinning: %lld ticks, then %lld",
                  (long long)spin0, (long long)ae_proc_cpu_ticks(spin.pid));
    pid_t gone = spin.pid;
    ah_stop(&spin, SIGKILL, 2000);
    ah_stop(&nap, SIGKILL, 2000);
    AH_ASSERT(!ae_proc_busy(gone) && ae_proc_cpu_ticks(gone) == -1);
}

/* ---- several drones in one aerie-sim ------------------------------------------------- */

/* A UDP socket bound to a free loopback port (written to *port). */
static int udp_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    AH_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t sl = sizeof sa;
    AH_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* What one gateway-side socket saw of its drone. */
typedef struct link_seen {
    int sysid;                       /* the drone it should hear */
    int positions, heartbeats, acks; /* frames of that drone */
    int strangers;                   /* frames of any other drone */
    int autopilot;                   /* from its heartbeats */
} link_seen;

static void see_frame(void *ctx, const ae_mav_frame *f)
{
    link_seen *s = ctx;
    if (f->sysid != s->sysid) {
        s->strangers++;
        return;
    }
    if (f->msgid == AE_MAV_MSG_GLOBAL_POSITION_INT)
        s->positions++;
    if (f->msgid == AE_MAV_MSG_COMMAND_ACK) {
        ae_mav_command_ack a;
        ae_mav_frame_unpack(f, &a);
        s->acks += a.command == AE_MAV_CMD_COMPONENT_ARM_DISARM && a.result == 0;
    }
    if (f->msgid == AE_MAV_MSG_HEARTBEAT) {
        ae_mav_heartbeat hb;
        ae_mav_frame_unpack(f, &hb);
        s->heartbeats++;
        s->autopilot = hb.autopilot;
    }
}

static void drain(int fd, link_seen *s)
{
    ae_mav_parser p;
    ae_mav_parser_init(&p, see_frame, s);
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        ae_mav_parse(&p, buf, (size_t)n);
}

/* An ARM command for `target` from a ground station (sysid 255) to 127.0.0.1:port. */
static void send_arm(int fd, int port, uint8_t target)
{
    ae_mav_command_long c = {.command = AE_MAV_CMD_COMPONENT_ARM_DISARM,
                             .param1 = 1,
                             .target_system = target,
                             .target_component = 1};
    ae_mav_header h = {.version = 2, .sysid = 255, .compid = 190};
    uint8_t frame[AE_MAV_MAX_FRAME];
    int n = ae_mav_encode_msg(frame, sizeof frame, &h, AE_MAV_MSG_COMMAND_LONG, &c, NULL);
    AH_ASSERT(n > 0);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    AH_ASSERT(sendto(fd, frame, (size_t)n, 0, (struct sockaddr *)&to, sizeof to) == n);
}

/* Three drones in one process, each on its own socket with its own sysid and autopilot;
 * one of them is flooded with garbage and sent a command addressed to another drone: it
 * answers only its own command, and the other two keep their rate and never show up on
 * anyone else's link. */
static void sim_pool_drones_apart(void)
{
    int p1, p2, p3, pc;
    int gw1 = udp_socket(&p1), gw2 = udp_socket(&p2), gs = udp_socket(&pc);
    close(udp_socket(&p3)); /* a free port for the listening drone */
    char u1[64], u2[64], u3[64];
    snprintf(u1, sizeof u1, "udpout://127.0.0.1:%d", p1);
    snprintf(u2, sizeof u2, "udpout://127.0.0.1:%d", p2);
    snprintf(u3, sizeof u3, "udp://127.0.0.1:%d", p3);
    char *dir = ah_mkdtemp("simpool"), log[600];
    snprintf(log, sizeof log, "%s/sim.log", dir);
    char *argv[] = {(char *)ah_bin("aerie-sim"),
                    "--telemetry-hz",
                    "2",
                    "--duration",
                    "4",
                    "--drone",
                    "--name",
                    "D1",
                    "--sysid",
                    "11",
                    "--mavlink",
                    u1,
                    "--drone",
                    "--name",
                    "D2",
                    "--sysid",
                    "12",
                    "--mavlink",
                    u2,
                    "--autopilot",
                    "ardupilot",
                    "--drone",
                    "--name",
                    "D3",
                    "--sysid",
                    "13",
                    "--mavlink",
                    u3,
                    NULL};
    ah_proc sim = {0};
    AH_ASSERT_EQ_INT(ah_spawn(&sim, log, argv), 0);
    ah_sleep_ms(700);
    /* garbage and half frames for D3, then a command for D1 (not D3's), then D3's own */
    uint64_t rnd = 0x9e3779b97f4a7c15ull;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)p3)};
    for (int k = 0; k < 500; k++) {
        uint8_t junk[300];
        for (size_t j = 0; j < sizeof junk; j++) {
            rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
            junk[j] = j % 37 == 0 ? 0xFD : (uint8_t)(rnd >> 56);
        }
        sendto(gs, junk, 1 + (size_t)(rnd >> 40) % sizeof junk, 0, (struct sockaddr *)&to,
               sizeof to);
    }
    send_arm(gs, p3, 11);
    ah_sleep_ms(200);
    send_arm(gs, p3, 13);
    for (int k = 0; k < 200 && ah_alive(&sim); k++)
        ah_sleep_ms(50);
    AH_ASSERT_MSG(!ah_alive(&sim), "aerie-sim did not stop after --duration");
    int status = ah_stop(&sim, SIGKILL, 1000);
    link_seen s1 = {.sysid = 11}, s2 = {.sysid = 12}, s3 = {.sysid = 13};
    drain(gw1, &s1);
    drain(gw2, &s2);
    drain(gs, &s3);
    char *text = ah_read_file(log);
    AH_ASSERT_MSG(status == 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "aerie-sim status %d: %s", status, text);
    /* 2 Hz for 4 s: 8 positions, loose bounds for a loaded machine */
    AH_ASSERT_MSG(s1.positions >= 5 && s1.positions <= 10, "D1: %d positions", s1.positions);
    AH_ASSERT_MSG(s2.positions >= 5 && s2.positions <= 10, "D2: %d positions", s2.positions);
    AH_ASSERT_EQ_INT(s1.strangers + s2.strangers + s3.strangers, 0);
    AH_ASSERT_EQ_INT(s1.autopilot, AE_MAV_AUTOPILOT_PX4);
    AH_ASSERT_EQ_INT(s2.autopilot, AE_MAV_AUTOPILOT_ARDUPILOTMEGA);
    AH_ASSERT_EQ_INT(s1.acks + s2.acks, 0);
    AH_ASSERT_EQ_INT(s3.acks, 1);
    AH_ASSERT_CONTAINS(text, "sim[D3]: MAV_CMD 400 (confirmation 0) -> accepted");
    AH_ASSERT_CONTAINS(text, "sim[D1]: stopping after");
    AH_ASSERT_CONTAINS(text, "sim[D3]: stopping after");
    AH_ASSERT_EQ_INT(ah_count_in_file(log, "commands received"), 3);
    AH_ASSERT_EQ_INT(ah_count_in_file(log, ", 0 commands received"), 2); /* D1, D2 */
    free(text);
    /* A bad option of one drone stops the process before anything flies, naming it. */
    char *bad[] = {
        (char *)ah_bin("aerie-sim"), "--drone", "--mavlink", u1, "--drone", "--sysid", "300", NULL};
    ah_output o = ah_run_capture("/tmp/aerie-sim-bad", bad, 5000);
    AH_ASSERT_EQ_INT(o.code, 2);
    AH_ASSERT_CONTAINS(o.err, "drone 2: --sysid 300: expected 1..255");
    ah_output_free(&o);
    close(gw1);
    close(gw2);
    close(gs);
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
        {"identifier_rule", identifier_rule, 10},
        {"secret_generator", secret_generator, 10},
        {"http_client", http_client, 20},
        {"atomic_files", atomic_files, 10},
        {"free_port_keeps_time_wait_port", free_port_keeps_time_wait_port, 10},
        {"fleet_round_trip", fleet_round_trip, 10},
        {"local_fleet_configs", local_fleet_configs, 10},
        {"local_fleet_size_tiers", local_fleet_size_tiers, 60},
        {"topology_names_stay_strings", topology_names_stay_strings, 10},
        {"topology_vehicle_set", topology_vehicle_set, 10},
        {"local_vehicle_ids", local_vehicle_ids, 10},
        {"retention_limits", retention_limits, 10},
        {"fleet_telemetry_hz", fleet_telemetry_hz, 10},
        {"sim_telemetry_rate", sim_telemetry_rate, 30},
        {"sim_pool_drones_apart", sim_pool_drones_apart, 30},
        {"proc_busy_until_it_sleeps", proc_busy_until_it_sleeps, 20},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
