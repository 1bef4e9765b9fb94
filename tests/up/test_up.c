/* `aerie up` / `down` / `link` / `dashboard` end to end, on real processes: a 3-node
 * nats-server hub, and per vehicle aerie-relay + aerie-leaf + aerie-gw + `aerie sim`, all
 * started by the aerie binary under test.
 *
 * The main case walks the quickstart and asserts on what it observes: the fleet comes up
 * with every recorded process alive; `status` shows every vehicle online; `twin` shows what
 * the simulator flies (home position, autopilot kind, battery) and agrees with `status`; a
 * `cmd rtl` reaches the drone (its log shows the MAV_CMD) and the accepted ACK comes back;
 * a WAN outage staged with `aerie link cut` makes the vehicle offline and, after `heal`,
 * `replay` returns exactly the position documents the gateway published on the vehicle
 * (seen by a subscriber on the vehicle's own leaf) across the outage, with no gap in the
 * autopilot's clock; the dashboard serves the page and its JSON; `up` again starts nothing,
 * and after killing one drone `up` restarts only that one; `down` leaves no process behind
 * (every recorded PID is gone, and no process carries the fleet directory in its command
 * line or environment).
 *
 * Security (docs/security.md) on the same fleet: every vehicle signs in with its own nkey
 * (the hub configs hold only their public keys, no shared vehicle password, and refuse a
 * leaf without credentials); a program on VID-001's bus that publishes as VID-002 gets
 * nothing stored in any hub stream or shown in VID-002's replay, while VID-001's own
 * positions are stored once each; `aerie revoke VID-002` on the running fleet cuts that vehicle
 * while the others stay online; after `down` + `up` VID-002 is still revoked and `up` does
 * not start it; up, down, cmd and revoke are in DIR/audit.log.
 *
 * The fleet's daemons leave the harness's process group on purpose (they must outlive
 * `aerie up`), so main() runs `aerie down` on the fleet directory after the cases, whatever
 * happened, as the safety net. */
#include "harness/harness.h"
#include "sec_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The fleet directory of the main case; made in main() so that the clean-up can find it. */
static char g_dir[512];
static char g_dir2[512];

/* ---- running the CLI ---------------------------------------------------------------- */

typedef ah_output run_result;

static void run_free(run_result *r)
{
    ah_output_free(r);
}

static run_result run_argv(char **argv, int timeout_s)
{
    return ah_run_capture(g_dir, argv, timeout_s * 1000);
}

/* Runs `aerie ARGS...` (NULL-terminated). */
static run_result aerie(const char *first, ...)
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
    return run_argv(argv, 120);
}

/* Exit 0, and no sanitizer report from the CLI itself (the fleet's logs are checked in
 * fleet_end_to_end). */
#define RUN_OK(r)                                                                                  \
    do {                                                                                           \
        AH_ASSERT_MSG((r).code == 0, "exit %d\nstdout: %s\nstderr: %s", (r).code, (r).out,         \
                      (r).err);                                                                    \
        AH_ASSERT_MSG(!strstr((r).err, "Sanitizer") && !strstr((r).err, "runtime error"),          \
                      "sanitizer report: %s", (r).err);                                            \
    } while (0)

static json_t *fleet_json(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/fleet.json", dir);
    return json_load_file(path, 0, NULL);
}

static pid_t proc_pid(json_t *fleet, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(fleet, "processes"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return (pid_t)json_integer_value(json_object_get(p, "pid"));
    }
    return -1;
}

static bool pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    char path[64], st[512] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, st, sizeof st - 1);
    close(fd);
    if (n <= 0)
        return false;
    st[n] = 0;
    const char *p = strrchr(st, ')');
    return p && p[2] != 'Z';
}

/* Does any process have `needle` in its command line or environment? Writes the first
 * one's PID to *who. */
static bool any_process_mentions(const char *needle, pid_t *who)
{
    DIR *d = opendir("/proc");
    if (!d)
        return false;
    struct dirent *e;
    bool found = false;
    static char buf[256 * 1024];
    while (!found && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid())
            continue;
        for (int k = 0; k < 2 && !found; k++) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%ld/%s", pid, k ? "environ" : "cmdline");
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n <= 0)
                continue;
            for (ssize_t i = 0; i < n; i++)
                if (!buf[i])
                    buf[i] = '\n';
            buf[n] = 0;
            if (strstr(buf, needle) && pid_alive((pid_t)pid)) {
                found = true;
                *who = (pid_t)pid;
            }
        }
    }
    closedir(d);
    return found;
}

/* The status entry of one vehicle (borrowed from arr), or NULL. */
static json_t *status_of(json_t *arr, const char *vid)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "vid")), vid) == 0)
            return o;
    }
    return NULL;
}

static json_t *status_now(void)
{
    run_result r = aerie("status", "--dir", g_dir, "--json", NULL);
    json_t *j = r.code == 0 ? json_loads(r.out, 0, NULL) : NULL;
    run_free(&r);
    return j;
}

static json_t *twin_now(const char *vid)
{
    run_result r = aerie("twin", vid, "--dir", g_dir, "--json", NULL);
    json_t *j = r.code == 0 ? json_loads(r.out, 0, NULL) : NULL;
    run_free(&r);
    return j;
}

/* Drained: nothing the leaf holds is older than a second. Not "no record at all": a link
 * report taken a few ms after the gateway published holds those records until their PubAcks
 * come back, and the report timer can stay in step with the telemetry for the whole wait
 * (seen: 1 to 4 records, 12-40 ms old, in every report for 30 s after an outage). */
static bool backlog_drained(json_t *link)
{
    json_t *oldest = json_object_get(link, "backlog_oldest_s");
    return json_integer_value(json_object_get(link, "backlog_msgs")) == 0 ||
           (json_is_number(oldest) && json_number_value(oldest) < 1.0);
}

/* Polls status until vid's "online" equals want and, when want is true, its backlog is
 * drained (above). Returns the ms it took, or -1. */
static int64_t wait_status(const char *vid, bool want, int timeout_ms)
{
    int64_t t0 = ah_now_ms(), deadline = t0 + (int64_t)(timeout_ms * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        json_t *st = status_now();
        json_t *o = status_of(st, vid);
        bool ok = o && json_is_true(json_object_get(o, "online")) == want &&
                  (!want || backlog_drained(json_object_get(o, "link")));
        json_decref(st);
        if (ok)
            return ah_now_ms() - t0;
        ah_sleep_ms(300);
    }
    return -1;
}

static void fmt_time(int64_t unix_ms, char *out, size_t cap)
{
    time_t s = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", base, (int)(unix_ms % 1000));
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what a subscriber on the vehicle's leaf saw ------------------------------------ */

typedef struct seen {
    pthread_mutex_t mu;
    long long tb[20000]; /* time_boot_ms of each position document, in arrival order */
    int n;
} seen;

static void on_position(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    seen *s = closure;
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    pthread_mutex_lock(&s->mu);
    if (j && s->n < 20000)
        s->tb[s->n++] = json_integer_value(json_object_get(j, "time_boot_ms"));
    pthread_mutex_unlock(&s->mu);
    json_decref(j);
    natsMsg_Destroy(m);
}

/* ---- security checks ------------------------------------------------------------------ */

/* The public key creds.json records for vid (caller frees), "" when none. */
static char *public_key(const char *vid)
{
    char path[700];
    snprintf(path, sizeof path, "%s/creds/creds.json", g_dir);
    json_t *reg = json_load_file(path, 0, NULL);
    const char *pub = json_string_value(
        json_object_get(json_object_get(json_object_get(reg, "vehicles"), vid), "public"));
    char *r = strdup(pub ? pub : "");
    json_decref(reg);
    return r;
}

/* Each hub config: anonymous connections refused, the operator on client connections only,
 * no shared vehicle user, and each vehicle's own public key in its own account (or, when
 * revoked, not: the account keeps only the evictor's login and imports nothing). */
static void check_hub_configs(bool vid2_revoked)
{
    for (int h = 1; h <= 3; h++) {
        char path[700];
        snprintf(path, sizeof path, "%s/conf/hub%d.conf", g_dir, h);
        char *conf = ah_read_file(path);
        AH_ASSERT_MSG(conf, "no %s", path);
        AH_ASSERT_CONTAINS(conf, "\nno_auth_user: \"aerie-nobody\"\n");
        AH_ASSERT_CONTAINS(conf, "{ user: \"operator\", password: \"");
        AH_ASSERT_CONTAINS(conf, "allowed_connection_types: [\"STANDARD\"] }");
        AH_ASSERT_MSG(!strstr(conf, "user: vehicle") && !strstr(conf, "vehicle:"),
                      "%s still has a shared vehicle user", path);
        for (int v = 1; v <= 3; v++) {
            char vid[16], want[200];
            snprintf(vid, sizeof vid, "VID-%03d", v);
            char *pub = public_key(vid);
            snprintf(
                want, sizeof want,
                "{ nkey: \"%s\", allowed_connection_types: [\"LEAFNODE\", \"LEAFNODE_WS\"] }  # %s",
                pub, vid);
            if (v == 2 && vid2_revoked) {
                AH_ASSERT_MSG(!strstr(conf, pub) &&
                                  !strstr(conf, "account: \"T-default\", "
                                                "subject: \"fleet.prod.veh.VID-002"),
                              "%s still admits the revoked %s", path, vid);
                AH_ASSERT_CONTAINS(conf, "{ user: \"aerie-evict-VID-002\"");
            } else
                AH_ASSERT_MSG(pub[0] == 'U' && strstr(conf, want), "%s lacks %s's key %s", path,
                              vid, pub);
            free(pub);
        }
        free(conf);
    }
}

/* Each vehicle leaf signs in with its own seed: an nkey line, no password in the URL. */
static void check_vehicle_keys(void)
{
    for (int v = 1; v <= 3; v++) {
        char path[700], seed[700], want[800];
        snprintf(path, sizeof path, "%s/conf/leaf-VID-%03d.conf", g_dir, v);
        snprintf(seed, sizeof seed, "%s/creds/VID-%03d.nk", g_dir, v);
        char *conf = ah_read_file(path);
        snprintf(want, sizeof want, "nkey: \"%s\"", seed);
        AH_ASSERT_CONTAINS(conf, want);
        AH_ASSERT_MSG(!strstr(conf, "@127.0.0.1"), "%s has credentials in its URL", path);
        free(conf);
        struct stat sb;
        AH_ASSERT_MSG(stat(seed, &sb) == 0 && (sb.st_mode & 0777) == 0600,
                      "%s: missing or not 0600", seed);
        char *text = ah_read_file(seed);
        AH_ASSERT(text && strncmp(text, "SU", 2) == 0);
        free(text);
    }
}

/* A leaf that sends no credentials is refused by the hub (no_auth_user -> aerie-nobody). */
static void check_anonymous_leaf_refused(json_t *fleet)
{
    json_t *n1 = json_array_get(json_object_get(json_object_get(fleet, "hub"), "nodes"), 0);
    int fd = ah_connect((int)json_integer_value(json_object_get(n1, "leaf_port")));
    AH_ASSERT(fd >= 0);
    char buf[4096] = "";
    ah_read_until(fd, buf, sizeof buf, "\r\n", 3000);
    AH_ASSERT_CONTAINS(buf, "INFO ");
    ah_send(fd, "CONNECT {\"name\":\"VID-666\"}\r\nPING\r\n");
    ah_read_until(fd, buf, sizeof buf, "Authorization Violation", 3000);
    AH_ASSERT_CONTAINS(buf, "Authorization Violation");
    close(fd);
}

/* ---- isolation: a vehicle speaks only for itself (docs/security.md) ------------------- */

/* Replays VID-001's last 30 s of positions and checks each was stored once and in order
 * (time_boot_ms strictly rising); returns how many there are. */
static int vid001_positions_in_order(void)
{
    run_result r = aerie("replay", "VID-001", "--since", "30s", "--subject", "state.position",
                         "--dir", g_dir, NULL);
    RUN_OK(r);
    long long prev = -1;
    int count = 0;
    for (char *line = r.out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        json_t *j = json_loads(line, 0, NULL);
        long long tb =
            json_integer_value(json_object_get(json_object_get(j, "payload"), "time_boot_ms"));
        json_decref(j);
        AH_ASSERT_MSG(tb > prev, "VID-001's position %lld stored after %lld", tb, prev);
        prev = tb;
        count++;
    }
    run_free(&r);
    return count;
}

/* The attack: a program on VID-001's bus publishes as VID-002. Nothing of it may be
 * stored anywhere on the hub or shown as VID-002's, and VID-001's own telemetry still
 * arrives, once and in order. */
static void forgery_is_stored_nowhere(json_t *fleet)
{
    json_t *veh = json_object_get(fleet, "vehicles");
    json_t *v1 = json_array_get(veh, 0);
    char url[64], marker[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d",
             (int)json_integer_value(json_object_get(v1, "leaf_port")));
    snprintf(marker, sizeof marker, "forged-by-VID-001-%lld", (long long)wall_ms());
    natsConnection *bus = NULL;
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&bus, url), NATS_OK);
    static const char *const subjects[] = {
        "fleet.prod.veh.VID-002.state.position", "fleet.prod.veh.VID-002.event.armed",
        "fleet.prod.veh.VID-002.link", "fleet.prod.veh.VID-002.live.position",
        "fleet.prod.veh.VID-002.cmd.rtl"};
    char doc[200];
    snprintf(doc, sizeof doc,
             "{\"vid\":\"VID-002\",\"lat\":0,\"lon\":0,\"alt_rel_m\":9999,\"note\":\"%s\"}",
             marker);
    for (int k = 0; k < 20; k++)
        for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
            natsConnection_PublishString(bus, subjects[i], doc);
    AH_ASSERT_EQ_INT(natsConnection_Flush(bus), NATS_OK);
    natsConnection_Destroy(bus);
    ah_sleep_ms(2000);
    /* not in VID-002's replay or twin */
    run_result r = aerie("replay", "VID-002", "--since", "1m", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_MSG(!strstr(r.out, marker), "aerie replay VID-002 shows the forgery");
    AH_ASSERT_CONTAINS(r.out, "fleet.prod.veh.VID-002.state.position"); /* its own data */
    run_free(&r);
    /* in no stream of the hub */
    const char *op_url = json_string_value(
        json_array_get(json_object_get(json_object_get(fleet, "hub"), "urls"), 0));
    natsConnection *hub = NULL;
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&hub, op_url), NATS_OK);
    natsMsg *rep = NULL;
    AH_ASSERT_EQ_INT(natsConnection_RequestString(&rep, hub, "$JS.API.STREAM.NAMES", "", 5000),
                     NATS_OK);
    json_t *names = json_loadb(natsMsg_GetData(rep), (size_t)natsMsg_GetDataLength(rep), 0, NULL);
    natsMsg_Destroy(rep);
    size_t i;
    json_t *n;
    int streams = 0;
    json_array_foreach(json_object_get(names, "streams"), i, n)
    {
        int hits = sec_stream_count(hub, json_string_value(n), marker);
        AH_ASSERT_MSG(hits == 0, "stream %s holds %d forged messages", json_string_value(n), hits);
        streams++;
    }
    AH_ASSERT_MSG(streams >= 5, "only %d streams listed", streams);
    json_decref(names);
    natsConnection_Destroy(hub);
    /* VID-001's own positions: stored once each, in order. How many the last 30 s hold
     * depends on how long the fleet has been up (a loaded machine gets here sooner after
     * the start than an idle one), so the replay is read again until 20 have arrived. */
    int count = 0;
    int64_t deadline = ah_now_ms() + (int64_t)(30000 * ah_timeout_scale());
    for (;;) {
        count = vid001_positions_in_order();
        if (count >= 20 || ah_now_ms() > deadline)
            break;
        ah_sleep_ms(1000);
    }
    AH_ASSERT_MSG(count >= 20, "only %d positions of VID-001 in 30 s", count);
    fprintf(stderr,
            "isolation: 100 forged messages on VID-001's bus stored in none of %d "
            "streams; VID-001's %d own positions once each\n",
            streams, count);
}

static bool online_now(json_t *st, const char *vid)
{
    return json_is_true(json_object_get(status_of(st, vid), "online"));
}

/* ---- the main case ------------------------------------------------------------------ */

static void fleet_end_to_end(void)
{
    /* 1. up */
    run_result r = aerie("up", "--vehicles", "3", "--link-history", "50", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "3 vehicles, 3 online");
    AH_ASSERT_CONTAINS(r.out, "Try next:");
    AH_ASSERT_CONTAINS(r.out, "5 created");
    run_free(&r);
    json_t *fleet = fleet_json(g_dir);
    AH_ASSERT(fleet != NULL);
    /* Everyone online, and the only leaf identities the hubs know are the vehicles' own
     * keys: so each vehicle got in with its key. */
    check_hub_configs(false);
    check_vehicle_keys();
    check_anonymous_leaf_refused(fleet);
    json_t *procs = json_object_get(fleet, "processes");
    /* hubs, guard, relay + leaf + gateway per vehicle, one pool of drones, dashboard */
    AH_ASSERT_EQ_INT(json_array_size(procs), 3 + 1 + 3 * 3 + 1 + 1);
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
        AH_ASSERT_MSG(pid_alive(pid), "%s (pid %d) is not running",
                      json_string_value(json_object_get(p, "name")), (int)pid);
    }

    /* 2. status: three vehicles online with positions and batteries */
    json_t *st = status_now();
    AH_ASSERT_MSG(json_array_size(st) == 3, "status: %s", st ? json_dumps(st, 0) : "(none)");
    json_array_foreach(st, i, p)
    {
        AH_ASSERT(json_is_true(json_object_get(p, "online")));
        AH_ASSERT(json_is_object(json_object_get(p, "position")));
        AH_ASSERT(json_is_number(json_object_get(p, "battery_pct")));
    }
    json_decref(st);

    /* 2b. a vehicle speaks only for itself */
    forgery_is_stored_nowhere(fleet);

    /* 3. twin: what the simulators fly. Homes come from fleet.json; VID-003 is ArduPilot. */
    json_t *veh = json_object_get(fleet, "vehicles");
    for (int v = 0; v < 3; v++) {
        json_t *vj = json_array_get(veh, (size_t)v);
        const char *vid = json_string_value(json_object_get(vj, "vid"));
        json_t *home = json_object_get(vj, "home");
        json_t *tw = twin_now(vid);
        AH_ASSERT_MSG(tw, "no twin for %s", vid);
        json_t *pos = json_object_get(tw, "position"), *hb = json_object_get(tw, "heartbeat"),
               *bat = json_object_get(tw, "battery");
        AH_ASSERT(json_is_object(pos) && json_is_object(hb) && json_is_object(bat));
        /* within the mission square (at most 200 m) of home */
        AH_ASSERT(fabs(json_number_value(json_object_get(pos, "lat")) -
                       json_real_value(json_array_get(home, 0))) < 0.003);
        AH_ASSERT(fabs(json_number_value(json_object_get(pos, "lon")) -
                       json_real_value(json_array_get(home, 1))) < 0.004);
        AH_ASSERT_EQ_STR(json_string_value(json_object_get(hb, "autopilot")),
                         v == 2 ? "ARDUPILOT" : "PX4");
        AH_ASSERT_EQ_STR(json_string_value(json_object_get(hb, "type")), "QUADROTOR");
        double pct = json_number_value(json_object_get(bat, "remaining_pct"));
        AH_ASSERT(pct > 50 && pct <= 100);
        AH_ASSERT(json_is_object(json_object_get(json_object_get(tw, "_meta"), "position")));
        /* status agrees with the twin (read a moment apart: a percent of drain at most) */
        json_t *st2 = status_now();
        json_t *o = status_of(st2, vid);
        AH_ASSERT(o);
        AH_ASSERT(fabs(json_number_value(json_object_get(o, "battery_pct")) - pct) <= 1.0);
        json_t *sp = json_object_get(o, "position");
        AH_ASSERT(fabs(json_number_value(json_object_get(sp, "lat")) -
                       json_number_value(json_object_get(pos, "lat"))) < 0.001);
        json_decref(st2);
        json_decref(tw);
    }

    /* 4. cmd rtl: wait until VID-001 is in the air (its mission starts 2 s after launch),
     * then the command must reach the drone and its ACK come back. */
    int64_t deadline = ah_now_ms() + (int64_t)(40000 * ah_timeout_scale());
    bool flying = false;
    while (!flying && ah_now_ms() < deadline) {
        json_t *tw = twin_now("VID-001");
        flying =
            json_number_value(json_object_get(json_object_get(tw, "position"), "alt_rel_m")) > 3.0;
        json_decref(tw);
        if (!flying)
            ah_sleep_ms(500);
    }
    AH_ASSERT_MSG(flying, "VID-001 never took off");
    r = aerie("cmd", "VID-001", "rtl", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "\"result\":\"accepted\"");
    AH_ASSERT_CONTAINS(r.out, "\"command\":\"rtl\"");
    run_free(&r);
    char path[700];
    snprintf(path, sizeof path, "%s/logs/sim-pool-1.log", g_dir);
    char *simlog = ah_read_file(path);
    AH_ASSERT_CONTAINS(simlog, "sim[VID-001]: Returning to launch");
    AH_ASSERT_CONTAINS(simlog, "sim[VID-001]: MAV_CMD 20 (confirmation 0) -> accepted");
    AH_ASSERT(!strstr(simlog, "sim[VID-002]: MAV_CMD") && !strstr(simlog, "sim[VID-003]: MAV_CMD"));
    free(simlog);
    snprintf(path, sizeof path, "%s/audit.log", g_dir);
    char *audit = ah_read_file(path);
    AH_ASSERT_CONTAINS(audit, "\"action\":\"up\"");
    AH_ASSERT_CONTAINS(audit, "\"action\":\"cmd\",\"vid\":\"VID-001\"");
    AH_ASSERT_CONTAINS(audit, "\"outcome\":\"accepted\"");
    free(audit);
    /* and the twin shows the mode the drone switched to */
    deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    bool rtl = false;
    while (!rtl && ah_now_ms() < deadline) {
        json_t *tw = twin_now("VID-001");
        const char *mode =
            json_string_value(json_object_get(json_object_get(tw, "heartbeat"), "mode"));
        rtl = mode && (strcmp(mode, "AUTO.RTL") == 0 || strcmp(mode, "AUTO.LAND") == 0);
        json_decref(tw);
        if (!rtl)
            ah_sleep_ms(300);
    }
    AH_ASSERT_MSG(rtl, "VID-001's twin never showed AUTO.RTL");

    /* 5. an outage of VID-002's uplink, watched from the vehicle's own leaf */
    json_t *v2 = json_array_get(veh, 1);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d",
             (int)json_integer_value(json_object_get(v2, "leaf_port")));
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    seen *sn = calloc(1, sizeof *sn);
    pthread_mutex_init(&sn->mu, NULL);
    AH_ASSERT_EQ_INT(natsConnection_ConnectTo(&nc, url), NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_Subscribe(&sub, nc, "fleet.prod.veh.VID-002.state.position",
                                              on_position, sn),
                     NATS_OK);
    AH_ASSERT_EQ_INT(natsConnection_Flush(nc), NATS_OK);
    ah_sleep_ms(1500);
    int64_t t_cut = wall_ms();
    r = aerie("link", "cut", "VID-002", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "link of VID-002 cut");
    run_free(&r);
    int64_t went = wait_status("VID-002", false, 15000);
    AH_ASSERT_MSG(went >= 0, "VID-002 never showed offline during the outage");
    json_t *st3 = status_now();
    AH_ASSERT(json_is_true(json_object_get(status_of(st3, "VID-001"), "online")));
    json_decref(st3);
    r = aerie("link", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "cut");
    run_free(&r);
    /* a command for the vehicle out of reach is queued on the hub (exit 3) ... */
    r = aerie("cmd", "VID-002", "mode", "HOLD", "--ttl", "60s", "--timeout", "3s", "--dir", g_dir,
              NULL);
    AH_ASSERT_MSG(r.code == 3, "cmd during the outage: exit %d, %s%s", r.code, r.out, r.err);
    json_t *qc = json_loads(r.out, JSON_DISABLE_EOF_CHECK, NULL);
    AH_ASSERT_MSG(qc && json_is_string(json_object_get(qc, "id")), "no command id in %s", r.out);
    char qid[64];
    snprintf(qid, sizeof qid, "%s", json_string_value(json_object_get(qc, "id")));
    json_decref(qc);
    run_free(&r);
    ah_sleep_ms(2000);
    r = aerie("link", "heal", "VID-002", "--dir", g_dir, NULL);
    RUN_OK(r);
    run_free(&r);
    int64_t t_heal = wall_ms();
    int64_t back = wait_status("VID-002", true, 30000);
    AH_ASSERT_MSG(back >= 0, "VID-002 did not come back and drain its backlog");
    /* ... and the gateway's catch-up (direct gets on FLEET_CMD and FLEET_LINK through the
     * vehicle's own account) runs it once the link is back */
    bool ran = false;
    for (int i = 0; i < 60 && !ran; i++) {
        r = aerie("cmd", "status", qid, "--json", "--dir", g_dir, NULL);
        json_t *cs = r.code == 0 ? json_loads(r.out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        const char *state = json_string_value(json_object_get(cs, "state"));
        ran = state && strcmp(state, "accepted") == 0;
        json_decref(cs);
        if (!ran && i == 59)
            AH_ASSERT_MSG(false, "queued command %s never ran: %s%s", qid, r.out, r.err);
        run_free(&r);
        if (!ran)
            ah_sleep_ms(500);
    }
    fprintf(stderr, "queued command %s ran after the outage\n", qid);
    ah_sleep_ms(2000);
    natsSubscription_Unsubscribe(sub);
    natsConnection_Flush(nc);
    int64_t t_end = wall_ms();
    fprintf(stderr,
            "outage: offline after %lld ms, %.1f s cut, back and drained %lld ms after heal\n",
            (long long)went, (double)(t_heal - t_cut) / 1000, (long long)back);

    /* 6. replay covers the outage with exactly what the gateway published */
    char start[48], end[48];
    fmt_time(t_cut - 20000, start, sizeof start);
    fmt_time(t_end + 60000, end, sizeof end);
    r = aerie("replay", "VID-002", "--dir", g_dir, "--start", start, "--end", end, "--subject",
              "state.position", NULL);
    RUN_OK(r);
    pthread_mutex_lock(&sn->mu);
    int nseen = sn->n;
    pthread_mutex_unlock(&sn->mu);
    AH_ASSERT_MSG(nseen > 30, "the leaf subscriber saw only %d positions", nseen);
    long long first = sn->tb[0], last = sn->tb[nseen - 1];
    /* Every replayed document inside [first, last] of what the subscriber saw, in order. */
    long long *rep = calloc(20000, sizeof *rep);
    int nrep = 0;
    for (char *line = r.out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        json_t *j = json_loads(line, 0, NULL);
        AH_ASSERT_MSG(j, "replay printed a line that is not JSON: %s", line);
        long long tb =
            json_integer_value(json_object_get(json_object_get(j, "payload"), "time_boot_ms"));
        if (tb >= first && tb <= last && nrep < 20000)
            rep[nrep++] = tb;
        json_decref(j);
    }
    run_free(&r);
    long long max_gap = 0;
    for (int k = 1; k < nrep; k++) {
        AH_ASSERT_MSG(rep[k] > rep[k - 1], "replay out of order at %d: %lld after %lld", k, rep[k],
                      rep[k - 1]);
        if (rep[k] - rep[k - 1] > max_gap)
            max_gap = rep[k] - rep[k - 1];
    }
    AH_ASSERT_MSG(nrep == nseen, "replay has %d positions in the window, the leaf saw %d", nrep,
                  nseen);
    for (int k = 0; k < nrep; k++)
        AH_ASSERT_MSG(rep[k] == sn->tb[k], "position %d differs: replay %lld, leaf %lld", k, rep[k],
                      sn->tb[k]);
    AH_ASSERT_MSG(max_gap <= 1000, "a %lld ms hole in the autopilot clock", max_gap);
    AH_ASSERT_MSG((last - first) >= (t_heal - t_cut), "the window does not span the outage");
    fprintf(stderr, "replay: %d positions over %.1f s, largest step %lld ms\n", nrep,
            (double)(last - first) / 1000, max_gap);
    free(rep);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    pthread_mutex_destroy(&sn->mu);
    free(sn);

    /* 7. the dashboard, over real HTTP */
    int dport =
        (int)json_integer_value(json_object_get(json_object_get(fleet, "dashboard"), "port"));
    int code = 0;
    char *body = ah_http_get(dport, "/", &code);
    AH_ASSERT_EQ_INT(code, 200);
    AH_ASSERT_CONTAINS(body, "<title>Aerie fleet</title>");
    free(body);
    body = ah_http_get(dport, "/api/status", &code);
    AH_ASSERT_EQ_INT(code, 200);
    json_t *ds = json_loads(body, 0, NULL);
    AH_ASSERT_EQ_INT(json_array_size(ds), 3);
    AH_ASSERT(json_is_true(json_object_get(status_of(ds, "VID-003"), "online")));
    json_decref(ds);
    free(body);
    body = ah_http_get(dport, "/api/twin/VID-003", &code);
    AH_ASSERT_EQ_INT(code, 200);
    json_t *dt = json_loads(body, 0, NULL);
    AH_ASSERT_EQ_STR(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(dt, "states"), "heartbeat"), "value"),
            "autopilot")),
        "ARDUPILOT");
    json_decref(dt);
    free(body);
    body = ah_http_get(dport, "/api/replay/VID-002?since=2m&subject=state.battery", &code);
    AH_ASSERT_EQ_INT(code, 200);
    json_t *dr = json_loads(body, 0, NULL);
    AH_ASSERT(json_array_size(json_object_get(dr, "messages")) >= 10);
    json_decref(dr);
    free(body);
    body = ah_http_get(dport, "/api/twin/no.such", &code);
    AH_ASSERT_EQ_INT(code, 400);
    free(body);

    /* 8. up again: nothing new; then a dead pool of drones is restarted, and only it */
    r = aerie("up", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "already running");
    run_free(&r);
    json_t *again = fleet_json(g_dir);
    json_array_foreach(procs, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        AH_ASSERT_EQ_INT(proc_pid(again, name), json_integer_value(json_object_get(p, "pid")));
    }
    json_decref(again);
    pid_t sim3 = proc_pid(fleet, "sim-pool-1");
    AH_ASSERT(kill(sim3, SIGTERM) == 0);
    for (int k = 0; k < 100 && pid_alive(sim3); k++)
        ah_sleep_ms(50);
    r = aerie("up", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "14 of 15 processes");
    AH_ASSERT_CONTAINS(r.out, "started 1 processes");
    run_free(&r);
    again = fleet_json(g_dir);
    pid_t sim3b = proc_pid(again, "sim-pool-1");
    AH_ASSERT(sim3b != sim3 && pid_alive(sim3b));
    AH_ASSERT_EQ_INT(proc_pid(again, "hub1"), proc_pid(fleet, "hub1"));
    json_decref(fleet);
    fleet = again;

    /* 9. revoke VID-002 on the running fleet: it is cut, the others stay online */
    r = aerie("revoke", "VID-002", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "VID-002: revoked; 3 hub nodes reloaded");
    AH_ASSERT_CONTAINS(r.out, "cut leaf connection");
    AH_ASSERT_CONTAINS(r.out, "the vehicle's leaf reports its uplink down");
    run_free(&r);
    check_hub_configs(true);
    int64_t cut = wait_status("VID-002", false, 15000);
    AH_ASSERT_MSG(cut >= 0, "VID-002 still online after its revocation");
    json_t *st4 = status_now();
    AH_ASSERT_MSG(online_now(st4, "VID-001") && online_now(st4, "VID-003"),
                  "a vehicle other than VID-002 went offline: %s", json_dumps(st4, 0));
    json_decref(st4);
    fprintf(stderr, "revoke: VID-002 offline in status after %lld ms, the others online\n",
            (long long)cut);

    /* 10. down: every recorded process is gone, and nothing mentions the directory */
    r = aerie("down", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "stopped 15 processes");
    run_free(&r);
    json_array_foreach(json_object_get(fleet, "processes"), i, p)
    {
        pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
        AH_ASSERT_MSG(!pid_alive(pid), "%s (pid %d) survived aerie down",
                      json_string_value(json_object_get(p, "name")), (int)pid);
    }
    pid_t who = 0;
    AH_ASSERT_MSG(!any_process_mentions(g_dir, &who), "pid %d still mentions %s", (int)who, g_dir);
    /* Every process stopped cleanly: no sanitizer report in any log (ASan builds). */
    json_array_foreach(json_object_get(fleet, "processes"), i, p)
    {
        char *log = ah_read_file(json_string_value(json_object_get(p, "log")));
        AH_ASSERT_MSG(log && !strstr(log, "Sanitizer") && !strstr(log, "runtime error:"),
                      "sanitizer report in %s", json_string_value(json_object_get(p, "log")));
        free(log);
    }
    json_decref(fleet);
    r = aerie("down", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "stopped 0 processes");
    run_free(&r);

    /* 11. up after down: VID-002 stays revoked and is not started; the others come back,
     * here started one process of a kind at a time (the waves of a large fleet) */
    setenv("AERIE_UP_WAVE", "1", 1);
    r = aerie("up", "--dir", g_dir, NULL);
    unsetenv("AERIE_UP_WAVE");
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "3 vehicles, 2 online");
    AH_ASSERT_CONTAINS(r.out, "VID-002: identity revoked");
    AH_ASSERT_CONTAINS(r.out, "skipped, not started");
    AH_ASSERT_CONTAINS(r.out, "started 12 processes");
    run_free(&r);
    check_hub_configs(true);
    fleet = fleet_json(g_dir);
    json_array_foreach(json_object_get(fleet, "processes"), i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
        if (strstr(name, "VID-002"))
            AH_ASSERT_MSG(pid == 0 || !pid_alive(pid), "%s of the revoked VID-002 was started",
                          name);
        else
            AH_ASSERT_MSG(pid_alive(pid), "%s (pid %d) is not running", name, (int)pid);
        /* the pool flies the other two drones, not the revoked vehicle's */
        if (strcmp(name, "sim-pool-1") == 0) {
            char *vids = json_dumps(json_object_get(p, "vids"), JSON_COMPACT);
            AH_ASSERT_EQ_STR(vids, "[\"VID-001\",\"VID-003\"]");
            free(vids);
            char *argv = json_dumps(json_object_get(p, "argv"), JSON_COMPACT);
            AH_ASSERT(argv && !strstr(argv, "VID-002") && strstr(argv, "VID-003"));
            free(argv);
        }
    }
    json_t *st5 = status_now();
    AH_ASSERT(online_now(st5, "VID-001") && online_now(st5, "VID-003") &&
              !online_now(st5, "VID-002"));
    json_decref(st5);
    /* the first up's --link-history 50 was kept (fleet.json) and applied again */
    AH_ASSERT_EQ_STR(
        json_string_value(json_object_get(json_object_get(fleet, "retention"), "link-history")),
        "50");
    r = aerie("status", "--dir", g_dir, "--json", "--history", NULL);
    RUN_OK(r);
    json_t *hist = json_loads(r.out, 0, NULL), *row;
    bool link_seen = false;
    json_array_foreach(json_object_get(hist, "history"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "stream")), "FLEET_LINK") != 0)
            continue;
        link_seen = true;
        AH_ASSERT_EQ_INT(json_integer_value(json_object_get(row, "max_msgs_per_subject")), 50);
    }
    AH_ASSERT_MSG(link_seen, "no FLEET_LINK in %s", r.out);
    json_decref(hist);
    run_free(&r);
    snprintf(path, sizeof path, "%s/audit.log", g_dir);
    audit = ah_read_file(path);
    AH_ASSERT_CONTAINS(audit, "\"action\":\"revoke\",\"vid\":\"VID-002\"");
    AH_ASSERT_CONTAINS(audit, "\"action\":\"down\"");
    AH_ASSERT_CONTAINS(audit, "\"skipped_revoked\":[\"VID-002\"]");
    free(audit);
    r = aerie("down", "--dir", g_dir, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "stopped 12 processes");
    run_free(&r);
    json_array_foreach(json_object_get(fleet, "processes"), i, p)
    {
        pid_t pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
        AH_ASSERT_MSG(!pid_alive(pid), "%s (pid %d) survived aerie down",
                      json_string_value(json_object_get(p, "name")), (int)pid);
    }
    AH_ASSERT_MSG(!any_process_mentions(g_dir, &who), "pid %d still mentions %s", (int)who, g_dir);
    json_decref(fleet);
}

/* `down` never signals a PID that is not the fleet's own, even when fleet.json names it. */
static void down_spares_foreign_pids(void)
{
    ah_proc sleeper = {0};
    char *argv[] = {"/bin/sleep", "30", NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&sleeper, NULL, argv), 0);
    AH_ASSERT_EQ_INT(mkdir(g_dir2, 0700) == 0 || errno == EEXIST, 1);
    char path[700];
    snprintf(path, sizeof path, "%s/fleet.json", g_dir2);
    AH_ASSERT_EQ_INT(
        ah_write_file(path,
                      "{\"env\":\"prod\",\"hub\":{\"urls\":[\"nats://127.0.0.1:1\"]},"
                      "\"processes\":[{\"name\":\"hub1\",\"kind\":\"hub\",\"prog\":\"sleep\","
                      "\"pid\":%d,\"argv\":[\"/bin/sleep\"],\"log\":\"/dev/null\"},"
                      "{\"name\":\"x\",\"kind\":\"sim\",\"prog\":\"aerie\",\"pid\":1,"
                      "\"argv\":[],\"log\":\"/dev/null\"}]}\n",
                      (int)sleeper.pid),
        0);
    run_result r = aerie("down", "--dir", g_dir2, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "stopped 0 processes");
    run_free(&r);
    AH_ASSERT(ah_alive(&sleeper));
    ah_stop(&sleeper, SIGTERM, 2000);
}

static void usage_and_missing_fleet(void)
{
    run_result r = aerie("up", "--vehicles", "many", "--dir", g_dir2, NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    AH_ASSERT_CONTAINS(r.err, "--vehicles many: expected 0..");
    run_free(&r);
    char empty[600];
    snprintf(empty, sizeof empty, "%s-empty", g_dir2);
    mkdir(empty, 0700);
    r = aerie("down", "--dir", empty, NULL);
    RUN_OK(r);
    AH_ASSERT_CONTAINS(r.out, "nothing to stop");
    run_free(&r);
    r = aerie("link", "cut", "VID-001", "--dir", empty, NULL);
    AH_ASSERT_EQ_INT(r.code, 1);
    AH_ASSERT_CONTAINS(r.err, "no fleet in");
    run_free(&r);
    r = aerie("link", "cut", "--dir", empty, NULL);
    AH_ASSERT_EQ_INT(r.code, 2);
    run_free(&r);
    rmdir(empty);
}

int main(int argc, char **argv)
{
    char *d = ah_mkdtemp("up");
    char *d2 = ah_mkdtemp("up2");
    snprintf(g_dir, sizeof g_dir, "%s/fleet", d);
    snprintf(g_dir2, sizeof g_dir2, "%s/fleet", d2);
    static const ah_case cases[] = {
        {"usage_and_missing_fleet", usage_and_missing_fleet, 30},
        {"down_spares_foreign_pids", down_spares_foreign_pids, 30},
        {"fleet_end_to_end", fleet_end_to_end, 270},
    };
    int rc = ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
    /* Safety net: whatever a case did, stop the fleet it may have left running. */
    char *down[] = {(char *)ah_bin("aerie"), "down", "--dir", g_dir, NULL};
    run_result r = run_argv(down, 60);
    if (strstr(r.out, "stopped") && !strstr(r.out, "stopped 0 "))
        fprintf(stderr, "clean-up: %s", r.out);
    run_free(&r);
    pid_t who = 0;
    if (any_process_mentions(g_dir, &who)) {
        fprintf(stderr, "FAIL clean-up: pid %d still mentions %s\n", (int)who, g_dir);
        rc = 1;
    }
    if (!getenv("AH_KEEP_TMP")) {
        ah_rmrf(d);
        ah_rmrf(d2);
    } else {
        fprintf(stderr, "kept %s\n", d);
    }
    free(d);
    free(d2);
    nats_Close();
    return rc;
}
