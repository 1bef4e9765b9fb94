/* Commands across an outage, end to end on real processes: a nats-server hub (JetStream
 * domain hub, streams made by `aerie hub init`), aerie-relay in front of its leafnode port
 * (the WAN link the test cuts), aerie-leaf with store-and-forward for the vehicle's state
 * and event subjects, aerie-gw with a command journal, the simulated drone (gw_sim, the
 * same code as `aerie sim`), and the `aerie` CLI sending and following commands.
 *
 * What is observed, not assumed: the drone's own log line for every COMMAND_LONG it got
 * ("MAV_CMD 20 (confirmation 0) -> accepted"), its flight mode as the gateway publishes it
 * on the vehicle's leaf (event.mode), the leaf's link reports (...link), the vehicle's
 * command reports as the hub keeps them (`aerie cmd status --json`), and the audit stream.
 *
 * Cases:
 *   queued_runs_once_after_heal   rtl sent during a cut is "queued"; after the heal the
 *                                 drone is in AUTO.RTL within a second of the link's
 *                                 return, got exactly one COMMAND_LONG, and the command's
 *                                 steps (queued, delivered, accepted) and audit entry exist
 *   expired_and_wait              land with a 2 s TTL sent during a 5 s cut never reaches the
 *                                 drone and is reported expired; `aerie cmd --wait` started
 *                                 during the cut returns the verdict of its command after it
 *   order_and_supersede           mode HOLD, rtl, rtl during a cut: HOLD runs, then the
 *                                 second rtl; the first rtl is reported superseded
 *   restarts_never_repeat         a gateway killed and restarted during the outage runs the
 *                                 queued command once; later gateway, leaf and hub restarts
 *                                 and another outage fetch it again and never run it again */
#include "harness/harness.h"
#include "harness/relay_ctl.h"

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VID "V1"
#define PFX "fleet.test.veh." VID "."

/* What the observer on the vehicle's leaf saw, with monotonic times (ms). */
#define MAX_SEEN 256
typedef struct seen {
    pthread_mutex_t mu;
    char mode[MAX_SEEN][40];
    int64_t mode_at[MAX_SEEN];
    int nmode;
    bool online[MAX_SEEN];
    int64_t link_at[MAX_SEEN];
    int nlink;
} seen;

static seen g_seen = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct fx {
    ah_hub hub;
    ah_relay relay;
    char dir[512];
    ah_proc leaf, gw, sim;
    int leaf_port, leaf_http, mav_port;
    char leaf_conf[600], leaf_log[600], gw_log[600], sim_log[600], state_dir[600];
    char hub_url[160];
    natsConnection *veh;
    natsSubscription *s_mode, *s_text, *s_link;
} fx;

static fx *g_fx; /* for the log dump on failure */

static void dump_logs(void)
{
    if (!g_fx)
        return;
    fprintf(stderr, "--- gw log\n");
    ah_print_tail(g_fx->gw_log, 4000);
    fprintf(stderr, "--- leaf log\n");
    ah_print_tail(g_fx->leaf_log, 2500);
    fprintf(stderr, "--- sim log\n");
    ah_print_tail(g_fx->sim_log, 1500);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            dump_logs();                                                                           \
            ah_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
        }                                                                                          \
    } while (0)

/* ---- the observer on the vehicle's leaf ---------------------------------------------- */

/* event.mode (the heartbeat's mode, once a second) and event.statustext (the drone says
 * what it does at the moment it does it) both go into the mode list; a text is recorded as
 * "text:<text>". */
static void on_mode(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    const char *mode = json_string_value(json_object_get(j, "mode"));
    char text[40];
    if (closure) {
        snprintf(text, sizeof text, "text:%s", json_string_value(json_object_get(j, "text")) ?: "");
        mode = text;
    }
    pthread_mutex_lock(&g_seen.mu);
    if (mode && g_seen.nmode < MAX_SEEN) {
        snprintf(g_seen.mode[g_seen.nmode], sizeof g_seen.mode[0], "%s", mode);
        g_seen.mode_at[g_seen.nmode++] = ah_now_ms();
    }
    pthread_mutex_unlock(&g_seen.mu);
    json_decref(j);
    natsMsg_Destroy(m);
}

static void on_link(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    pthread_mutex_lock(&g_seen.mu);
    if (json_is_object(j) && g_seen.nlink < MAX_SEEN) {
        g_seen.online[g_seen.nlink] = json_is_true(json_object_get(j, "online"));
        g_seen.link_at[g_seen.nlink++] = ah_now_ms();
    }
    pthread_mutex_unlock(&g_seen.mu);
    json_decref(j);
    natsMsg_Destroy(m);
}

/* The time (ms) of the first link report at or after `after` saying `online`, or -1. */
static int64_t wait_link(bool online, int64_t after, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        pthread_mutex_lock(&g_seen.mu);
        for (int i = 0; i < g_seen.nlink; i++)
            if (g_seen.link_at[i] >= after && g_seen.online[i] == online) {
                int64_t t = g_seen.link_at[i];
                pthread_mutex_unlock(&g_seen.mu);
                return t;
            }
        pthread_mutex_unlock(&g_seen.mu);
        ah_sleep_ms(10);
    }
    return -1;
}

/* The time of the first mode report at or after `after` equal to `mode`, or -1. */
static int64_t wait_mode(const char *mode, int64_t after, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        pthread_mutex_lock(&g_seen.mu);
        for (int i = 0; i < g_seen.nmode; i++)
            if (g_seen.mode_at[i] >= after && strcmp(g_seen.mode[i], mode) == 0) {
                int64_t t = g_seen.mode_at[i];
                pthread_mutex_unlock(&g_seen.mu);
                return t;
            }
        pthread_mutex_unlock(&g_seen.mu);
        ah_sleep_ms(10);
    }
    return -1;
}

/* The modes seen at or after `after`, space-separated. */
static void modes_since(int64_t after, char *out, size_t cap)
{
    out[0] = 0;
    pthread_mutex_lock(&g_seen.mu);
    for (int i = 0; i < g_seen.nmode; i++)
        if (g_seen.mode_at[i] >= after)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", *out ? " " : "", g_seen.mode[i]);
    pthread_mutex_unlock(&g_seen.mu);
}

/* ---- processes ----------------------------------------------------------------------- */

static void start_leaf(fx *f)
{
    char *argv[] = {(char *)ah_bin("aerie-leaf"), "-c", f->leaf_conf, NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&f->leaf, f->leaf_log, argv), 0);
    /* /varz answering is only ever the leaf (see tests/sf: a bare TCP wait can connect a
     * port in the ephemeral range to itself). */
    int64_t deadline = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
    bool up = false;
    while (!up && ah_now_ms() < deadline && ah_alive(&f->leaf)) {
        int status = 0;
        char *body = ah_http_get(f->leaf_http, "/varz", &status);
        up = body && status == 200;
        free(body);
        if (!up)
            ah_sleep_ms(50);
    }
    CHECK(up, "aerie-leaf did not come up");
}

static void start_gw(fx *f)
{
    char nats[64], mav[64];
    snprintf(nats, sizeof nats, "nats://127.0.0.1:%d", f->leaf_port);
    snprintf(mav, sizeof mav, "udp://127.0.0.1:%d", f->mav_port);
    char *argv[] = {(char *)ah_bin("aerie-gw"),
                    "--vid",
                    VID,
                    "--env",
                    "test",
                    "--nats",
                    nats,
                    "--mavlink",
                    mav,
                    "--state-dir",
                    f->state_dir,
                    NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&f->gw, f->gw_log, argv), 0);
}

/* Stops a process with SIGTERM and fails on anything but a clean exit (sanitizer reports
 * included). */
static void stop_clean(ah_proc *p, const char *what, const char *log)
{
    int st = ah_stop(p, SIGTERM, (int)(10000 * ah_timeout_scale()));
    char *text = ah_read_file(log);
    bool clean = text && !strstr(text, "Sanitizer") && !strstr(text, "runtime error:");
    free(text);
    CHECK(clean, "%s: sanitizer report in %s", what, log);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "%s did not exit cleanly after SIGTERM (status 0x%x)", what, st);
}

static ah_output cli(fx *f, const char *first, ...)
{
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)ah_bin("aerie");
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 34; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n++] = "--server";
    argv[n++] = f->hub_url;
    argv[n++] = "--env";
    argv[n++] = "test";
    argv[n] = NULL;
    ah_output r = ah_run_capture(f->dir, argv, 60000);
    CHECK(!strstr(r.err, "Sanitizer") && !strstr(r.err, "runtime error:"),
          "sanitizer report from aerie %s: %s", first, r.err);
    return r;
}

static void fx_start(fx *f, bool airborne)
{
    memset(f, 0, sizeof *f);
    g_fx = f;
    char *d = ah_mkdtemp("gwoutage");
    AH_ASSERT(d != NULL);
    snprintf(f->dir, sizeof f->dir, "%s", d);
    free(d);
    /* The hub behind the relay, advertising the relay so the leaf never goes around it. */
    ah_hub_opts o = {.nodes = 1};
    o.leaf_port[0] = ah_free_port();
    AH_ASSERT_EQ_INT(ah_relay_start(&f->relay, o.leaf_port[0]), 0);
    char adv[64];
    snprintf(adv, sizeof adv, "advertise: \"127.0.0.1:%d\"", f->relay.port);
    o.leaf_conf[0] = adv;
    AH_ASSERT_MSG(ah_hub_start_opts(&f->hub, &o) == 0, "hub did not start");
    snprintf(f->hub_url, sizeof f->hub_url, "nats://operator:secret@127.0.0.1:%d",
             f->hub.client_port[0]);
    ah_output r = cli(f, "hub", "init", "--replicas", "1", NULL);
    AH_ASSERT_MSG(r.code == 0, "hub init: %s %s", r.out, r.err);
    ah_output_free(&r);

    f->leaf_port = ah_free_port();
    f->leaf_http = ah_free_port();
    f->mav_port = ah_free_port();
    snprintf(f->leaf_conf, sizeof f->leaf_conf, "%s/leaf.conf", f->dir);
    snprintf(f->leaf_log, sizeof f->leaf_log, "%s/leaf.log", f->dir);
    snprintf(f->gw_log, sizeof f->gw_log, "%s/gw.log", f->dir);
    snprintf(f->sim_log, sizeof f->sim_log, "%s/sim.log", f->dir);
    snprintf(f->state_dir, sizeof f->state_dir, "%s/gw-state", f->dir);
    /* The vehicle's state and events (command reports among them) go through the store. */
    AH_ASSERT_EQ_INT(
        ah_write_file(f->leaf_conf,
                      "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"
                      "leafnodes {\n"
                      "  remotes = [ { urls: [\"nats-leaf://vehicle:secret@127.0.0.1:%d\"] } ]\n"
                      "  reconnect: \"200ms\"\n  reconnect_max: \"1s\"\n"
                      "  dead_link_timeout: \"3s\"\n}\n"
                      "store { dir: \"%s/store\", sync: \"10ms\" }\n"
                      "uplink {\n  subjects: [\"" PFX "state.>\", \"" PFX "event.>\"]\n"
                      "  vid: %s\n  env: test\n  status_interval: \"1s\"\n}\n",
                      VID, f->leaf_port, f->leaf_http, f->relay.port, f->dir, VID),
        0);
    start_leaf(f);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", f->leaf_port);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&f->veh, url), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_Subscribe(&f->s_mode, f->veh, PFX "event.mode", on_mode, NULL),
                     NATS_OK);
    AH_ASSERT_EQ_INT(
        natsConnection_Subscribe(&f->s_text, f->veh, PFX "event.statustext", on_mode, "text"),
        NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_Subscribe(&f->s_link, f->veh, PFX "link", on_link, NULL),
                     NATS_OK);
    natsConnection_Flush(f->veh);
    start_gw(f);
    char mav[64];
    snprintf(mav, sizeof mav, "udpout://127.0.0.1:%d", f->mav_port);
    char *sargv[] = {(char *)ah_bin("gw_sim"), "--mavlink", mav, NULL, NULL};
    if (airborne)
        sargv[3] = "--mission";
    AH_ASSERT_EQ_INT(ah_spawn(&f->sim, f->sim_log, sargv), 0);
    CHECK(wait_link(true, 0, 15000) >= 0, "the leaf never reported its link up");
    /* The mission takes off 2 s after the drone starts: then rtl is accepted. */
    if (airborne) {
        CHECK(wait_mode("AUTO.TAKEOFF", 0, 20000) >= 0, "the drone did not take off");
        return;
    }
    int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    while (ah_now_ms() < deadline && ah_count_in_file(f->gw_log, ": autopilot ") == 0)
        ah_sleep_ms(50);
    CHECK(ah_count_in_file(f->gw_log, ": autopilot ") > 0, "the gateway never heard the drone");
}

static void fx_stop(fx *f)
{
    natsSubscription_Destroy(f->s_mode);
    natsSubscription_Destroy(f->s_text);
    natsSubscription_Destroy(f->s_link);
    natsConnection_Destroy(f->veh);
    ah_stop(&f->sim, SIGTERM, 5000);
    stop_clean(&f->gw, "aerie-gw", f->gw_log);
    stop_clean(&f->leaf, "aerie-leaf", f->leaf_log);
    ah_hub_stop(&f->hub);
    ah_relay_stop(&f->relay);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(f->dir);
    g_fx = NULL;
    nats_Close();
}

/* Cuts the link and waits until the leaf says it is down. */
static void cut(fx *f)
{
    int64_t t = ah_now_ms();
    CHECK(ah_relay_cmd(&f->relay, "cut", NULL, 0) == 0, "relay cut failed");
    CHECK(wait_link(false, t, 10000) >= 0, "the leaf did not report its link down");
}

/* Heals the link; returns when the leaf reported it up again (ms). */
static int64_t heal(fx *f)
{
    int64_t t = ah_now_ms();
    CHECK(ah_relay_cmd(&f->relay, "heal", NULL, 0) == 0, "relay heal failed");
    int64_t on = wait_link(true, t, 15000);
    CHECK(on >= 0, "the leaf did not report its link up after the heal");
    return on;
}

/* Sends a command that must come back queued; returns its id (caller frees). */
static char *send_queued(fx *f, const char *name, const char *arg, const char *ttl)
{
    ah_output r = arg ? cli(f, "cmd", VID, name, arg, "--ttl", ttl, "--timeout", "1s", NULL)
                      : cli(f, "cmd", VID, name, "--ttl", ttl, "--timeout", "1s", NULL);
    CHECK(r.code == 3, "cmd %s during the outage: exit %d, out %s err %s", name, r.code, r.out,
          r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *id = json_string_value(json_object_get(j, "id"));
    CHECK(state && strcmp(state, "queued") == 0 && id, "cmd %s: not queued: %s", name, r.out);
    CHECK(strstr(r.err, "queued on the hub as"), "cmd %s: stderr says %s", name, r.err);
    char *out = strdup(id);
    json_decref(j);
    ah_output_free(&r);
    return out;
}

/* `aerie cmd status ID --json` once the vehicle reported a final state (polls). */
static json_t *status_final(fx *f, const char *id)
{
    int64_t deadline = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        ah_output r = cli(f, "cmd", "status", id, "--json", NULL);
        json_t *j = r.code == 0 ? json_loads(r.out, 0, NULL) : NULL;
        ah_output_free(&r);
        const char *by = json_string_value(json_object_get(j, "by"));
        const char *st = json_string_value(json_object_get(j, "state"));
        if (by && st && strcmp(by, "vehicle") == 0 && strcmp(st, "delivered") != 0)
            return j;
        json_decref(j);
        ah_sleep_ms(200);
    }
    CHECK(false, "no final report for %s from the vehicle", id);
    return NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(none)";
}

/* The states of the command's steps, e.g. "queued delivered accepted". */
static void steps_of(json_t *st, char *out, size_t cap)
{
    out[0] = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(st, "steps"), i, s)
    {
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", jstr(s, "state"));
    }
}

static int sim_cmds(fx *f, int mav_cmd)
{
    char needle[48];
    snprintf(needle, sizeof needle, "MAV_CMD %d (", mav_cmd);
    return ah_count_in_file(f->sim_log, needle);
}

/* ---- cases --------------------------------------------------------------------------- */

static void queued_runs_once_after_heal(void)
{
    fx f;
    fx_start(&f, true);
    cut(&f);
    char *id = send_queued(&f, "rtl", NULL, "60s");
    ah_sleep_ms(2000);
    CHECK(sim_cmds(&f, 20) == 0, "rtl reached the drone during the outage");
    int64_t on = heal(&f);
    /* The drone announces the switch when it makes it; its heartbeat shows the new mode
     * within a second after that. */
    int64_t rtl = wait_mode("text:Returning to launch", on - 1000, 10000);
    CHECK(rtl >= 0, "the drone never started returning to launch after the heal");
    CHECK(wait_mode("AUTO.RTL", on - 1000, 10000) >= 0, "the drone's mode never became AUTO.RTL");
    fprintf(stderr, "link up -> drone returning to launch: %lld ms\n", (long long)(rtl - on));
    CHECK(rtl - on <= (int64_t)(1000 * ah_timeout_scale()),
          "the drone started returning %lld ms after the link returned (more than a second)",
          (long long)(rtl - on));
    json_t *st = status_final(&f, id);
    char steps[200];
    steps_of(st, steps, sizeof steps);
    CHECK(strcmp(jstr(st, "state"), "accepted") == 0, "state %s", jstr(st, "state"));
    AH_ASSERT_EQ_STR(steps, "queued delivered accepted");
    json_t *rep = json_object_get(st, "report");
    AH_ASSERT_EQ_STR(jstr(rep, "via"), "queued");
    AH_ASSERT_EQ_INT(json_integer_value(json_object_get(rep, "mav_result")), 0);
    ah_sleep_ms(1000);
    CHECK(sim_cmds(&f, 20) == 1, "the drone got %d rtl commands", sim_cmds(&f, 20));
    /* The audit trail: who sent it and that it was queued. */
    ah_output a = cli(&f, "audit", "--since", "10m", "--json", NULL);
    AH_ASSERT_EQ_INT(a.code, 0);
    AH_ASSERT_CONTAINS(a.out, id);
    AH_ASSERT_CONTAINS(a.out, "\"outcome\":\"queued\"");
    ah_output_free(&a);
    /* The human view names every step too. */
    ah_output s = cli(&f, "cmd", "status", id, NULL);
    AH_ASSERT_EQ_INT(s.code, 0);
    AH_ASSERT_CONTAINS(s.out, "rtl to " VID ": accepted (reported by the vehicle)");
    AH_ASSERT_CONTAINS(s.out, "  delivered ");
    ah_output_free(&s);
    json_decref(st);
    free(id);
    fx_stop(&f);
}

static void expired_and_wait(void)
{
    fx f;
    fx_start(&f, false);
    cut(&f);
    char *land = send_queued(&f, "land", NULL, "2s");
    /* A client that waits across the outage for a command of its own. */
    char log[600], *argv[] = {(char *)ah_bin("aerie"),
                              "cmd",
                              VID,
                              "mode",
                              "HOLD",
                              "--ttl",
                              "60s",
                              "--wait",
                              "40s",
                              "--server",
                              f.hub_url,
                              "--env",
                              "test",
                              NULL};
    snprintf(log, sizeof log, "%s/wait.out", f.dir);
    ah_proc waiter;
    AH_ASSERT_EQ_INT(ah_spawn(&waiter, log, argv), 0);
    ah_sleep_ms(4000); /* the land command's TTL runs out during the cut */
    CHECK(ah_alive(&waiter), "aerie cmd --wait returned during the outage");
    int64_t on = heal(&f);
    CHECK(wait_mode("AUTO.LOITER", on - 1000, 10000) >= 0, "mode HOLD never ran");
    int st = -1;
    int64_t deadline = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
    while (ah_now_ms() < deadline && waitpid(waiter.pid, &st, WNOHANG) == 0)
        ah_sleep_ms(50);
    waiter.pid = 0;
    char *out = ah_read_file(log);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "aerie cmd --wait: status 0x%x, output %s", st,
          out ? out : "");
    AH_ASSERT_CONTAINS(out, "\"state\":\"accepted\"");
    AH_ASSERT_CONTAINS(out, "\"via\":\"queued\"");
    free(out);

    json_t *js = status_final(&f, land);
    AH_ASSERT_EQ_STR(jstr(js, "state"), "expired");
    json_t *rep = json_object_get(js, "report");
    CHECK(json_number_value(json_object_get(rep, "age_s")) >= 2.0, "age %f",
          json_number_value(json_object_get(rep, "age_s")));
    AH_ASSERT_CONTAINS(jstr(rep, "error"), "past its TTL");
    json_decref(js);
    CHECK(sim_cmds(&f, 21) == 0, "the expired land reached the drone");
    /* The list shows both, oldest first. */
    ah_output l = cli(&f, "cmd", "list", VID, "--json", NULL);
    AH_ASSERT_EQ_INT(l.code, 0);
    json_t *all = json_loads(l.out, 0, NULL);
    CHECK(json_array_size(all) == 2, "list: %s", l.out);
    AH_ASSERT_EQ_STR(jstr(json_array_get(all, 0), "state"), "expired");
    AH_ASSERT_EQ_STR(jstr(json_array_get(all, 1), "state"), "accepted");
    json_decref(all);
    ah_output_free(&l);
    free(land);
    fx_stop(&f);
}

static void order_and_supersede(void)
{
    fx f;
    fx_start(&f, true);
    cut(&f);
    char *hold = send_queued(&f, "mode", "HOLD", "60s");
    char *rtl1 = send_queued(&f, "rtl", NULL, "60s");
    char *rtl2 = send_queued(&f, "rtl", NULL, "60s");
    int64_t on = heal(&f);
    CHECK(wait_mode("AUTO.RTL", on - 1000, 10000) >= 0, "rtl never ran");
    char modes[400];
    modes_since(on - 1000, modes, sizeof modes);
    CHECK(strstr(modes, "text:Mode AUTO.LOITER text:Returning to launch") != NULL,
          "the drone's announcements after the heal, in order: %s", modes);
    /* In the drone's own log: the set-mode (176) first, then one rtl (20). */
    char *sim = ah_read_file(f.sim_log);
    const char *p176 = strstr(sim, "MAV_CMD 176 ("), *p20 = strstr(sim, "MAV_CMD 20 (");
    CHECK(p176 && p20 && p176 < p20, "order in the drone's log is wrong");
    free(sim);
    json_t *a = status_final(&f, hold), *b1 = status_final(&f, rtl1), *b2 = status_final(&f, rtl2);
    AH_ASSERT_EQ_STR(jstr(a, "state"), "accepted");
    AH_ASSERT_EQ_STR(jstr(b1, "state"), "superseded");
    AH_ASSERT_EQ_STR(jstr(b1, "superseded_by"), rtl2);
    AH_ASSERT_EQ_STR(jstr(b2, "state"), "accepted");
    ah_sleep_ms(1000);
    CHECK(sim_cmds(&f, 20) == 1, "the drone got %d rtl commands", sim_cmds(&f, 20));
    json_decref(a);
    json_decref(b1);
    json_decref(b2);
    free(hold);
    free(rtl1);
    free(rtl2);
    fx_stop(&f);
}

/* Waits until the gateway's log shows one more finished catch-up than `before`. */
static void wait_catchup(fx *f, int before)
{
    int64_t deadline = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
    while (ah_now_ms() < deadline &&
           ah_count_in_file(f->gw_log, "queued command(s) fetched from the hub") <= before)
        ah_sleep_ms(50);
    CHECK(ah_count_in_file(f->gw_log, "queued command(s) fetched from the hub") > before,
          "no catch-up after the restart");
}

static int catchups(fx *f)
{
    return ah_count_in_file(f->gw_log, "queued command(s) fetched from the hub");
}

static void restarts_never_repeat(void)
{
    fx f;
    fx_start(&f, true);
    cut(&f);
    char *id = send_queued(&f, "rtl", NULL, "60s");
    /* The gateway dies during the outage and comes back. */
    ah_stop(&f.gw, SIGKILL, 5000);
    start_gw(&f);
    ah_sleep_ms(1000);
    int64_t on = heal(&f);
    CHECK(wait_mode("AUTO.RTL", on - 1000, 10000) >= 0, "the queued rtl was lost");
    json_t *st = status_final(&f, id);
    AH_ASSERT_EQ_STR(jstr(st, "state"), "accepted");
    json_decref(st);
    CHECK(sim_cmds(&f, 20) == 1, "rtl ran %d times", sim_cmds(&f, 20));

    /* Now everything restarts while the command is still the newest rtl and fresh: each
     * catch-up fetches it again, and the journal keeps it from running again. */
    int n = catchups(&f);
    ah_stop(&f.gw, SIGKILL, 5000); /* a crash: no clean shutdown */
    start_gw(&f);
    wait_catchup(&f, n);
    n = catchups(&f);
    stop_clean(&f.gw, "aerie-gw", f.gw_log);
    start_gw(&f);
    wait_catchup(&f, n);
    n = catchups(&f);
    stop_clean(&f.leaf, "aerie-leaf", f.leaf_log);
    start_leaf(&f);
    wait_catchup(&f, n);
    n = catchups(&f);
    CHECK(ah_hub_restart_node(&f.hub, 0) == 0, "hub restart failed");
    wait_catchup(&f, n);
    n = catchups(&f);
    cut(&f);
    ah_sleep_ms(500);
    heal(&f);
    wait_catchup(&f, n);
    ah_sleep_ms(1000);
    CHECK(sim_cmds(&f, 20) == 1, "rtl ran %d times across the restarts", sim_cmds(&f, 20));
    CHECK(ah_count_in_file(f.gw_log, "1 queued command(s) fetched") >= 5,
          "the restarts did not fetch the command again (the case would prove nothing)");
    st = status_final(&f, id);
    AH_ASSERT_EQ_STR(jstr(st, "state"), "accepted");
    json_decref(st);
    free(id);
    fx_stop(&f);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"queued_runs_once_after_heal", queued_runs_once_after_heal, 90},
        {"expired_and_wait", expired_and_wait, 90},
        {"order_and_supersede", order_and_supersede, 90},
        {"restarts_never_repeat", restarts_never_repeat, 120},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
