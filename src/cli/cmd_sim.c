/* `aerie sim`: simulated drones that speak real MAVLink v2 over UDP, for demos and tests. The
 * drone itself is sim_drone.c; the loop that flies one or many of them is sim_pool.c; this
 * file is the command line.
 *
 * One process, one drone (the options alone, as always), or many drones (a local fleet runs a
 * few dozen per process, local_fleet.c says why): options before the first --drone are every
 * drone's defaults, and each --drone starts the next drone, whose own options follow it:
 *
 *   aerie sim --loop --telemetry-hz 1 \
 *       --drone --name VID-001 --mavlink udpout://127.0.0.1:20001 --home 47.39,8.54 \
 *       --drone --name VID-002 --mavlink udpout://127.0.0.1:20002 --autopilot ardupilot
 *
 * Bad options of any drone stop the process before anything flies, naming the drone. The
 * one piece of process-wide state is the flag the signal handler sets. */
#include "cli/cmd_sim.h"
#include "cli/sim_drone.h"
#include "cli/sim_pool.h"

#include "common/timeutil.h"

#include <math.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Each drone holds a socket: a process's default limit of 1,024 descriptors bounds this. */
#define MAX_DRONES 1000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: aerie sim [options]                      one drone\n"
            "       aerie sim [options] --drone [options] --drone [options] ...\n"
            "                                                several drones in one process:\n"
            "                  options before the first --drone apply to every drone, those\n"
            "                  after each --drone to that drone (each needs its own --mavlink)\n"
            "  --mavlink URL          udpout://HOST:PORT (default udpout://127.0.0.1:14550) or\n"
            "                         udp://[HOST]:PORT to listen for a gateway\n"
            "  --name NAME            the drone's name in progress lines (default its sysid)\n"
            "  --sysid N              MAVLink system id (default 1); --compid N (default 1)\n"
            "  --autopilot px4|ardupilot   flight-mode numbering and altitude frames (px4)\n"
            "  --home LAT,LON[,ALT]   home position (default 47.397742,8.545594,488)\n"
            "  --mission              arm, take off, fly a 120 m square and land on its own\n"
            "  --mission-size M       side of the square in metres (default 120)\n"
            "  --mission-delay S      seconds before the mission starts (default 2)\n"
            "  --telemetry-hz H       position and attitude per second (default 10; 0.01..50);\n"
            "                         GPS, HUD scale along, the 1 Hz set (HEARTBEAT, battery)\n"
            "                         stays\n"
            "  --loop                 fly the mission again 8 s after each landing (a fresh\n"
            "                         battery when below 30 %%); implies --mission\n"
            "  --outage-at S --outage-for S   go silent (both directions) for a while\n"
            "  --duration S           stop after S seconds (default: run until Ctrl-C); with\n"
            "                         several drones, the process ends when all have stopped\n"
            "  --ignore-commands      never answer COMMAND_LONG (to exercise timeouts)\n"
            "  --signing-key KEY      sign every frame (64 hex digits or a passphrase)\n"
            "  --quiet                no progress lines on stderr\n");
}

static volatile sig_atomic_t *sim_stop_flag(void)
{
    static volatile sig_atomic_t flag;
    return &flag;
}

static void on_signal(int sig)
{
    (void)sig;
    *sim_stop_flag() = 1;
}

/* A switch without a value into s. Returns true when `a` was one. */
static bool parse_flag(ae_sim_drone *s, const char *a)
{
    if (!strcmp(a, "--mission"))
        s->auto_mission = true;
    else if (!strcmp(a, "--loop"))
        s->auto_mission = s->loop = true;
    else if (!strcmp(a, "--ignore-commands"))
        s->ignore_commands = true;
    else if (!strcmp(a, "--quiet") || !strcmp(a, "-q"))
        s->quiet = true;
    else
        return false;
    return true;
}

/* A duration option: seconds ("2.5") or a duration ("1m30s"). */
static int parse_seconds(const char *who, const char *a, const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (*end || d < 0) {
        int64_t ns;
        if (ae_parse_duration(v, &ns) != 0 || ns < 0) {
            fprintf(stderr, "aerie sim: %s%s %s: expected seconds\n", who, a, v);
            return -1;
        }
        d = (double)ns / 1e9;
    }
    *out = d;
    return 0;
}

static void signing_key(ae_sim_drone *s, const char *v)
{
    if (strlen(v) == 64 && strspn(v, "0123456789abcdefABCDEF") == 64) {
        for (int k = 0; k < 32; k++) {
            unsigned b;
            sscanf(v + 2 * k, "%2x", &b);
            s->signing.key[k] = (uint8_t)b;
        }
    } else {
        SHA256((const unsigned char *)v, strlen(v), s->signing.key);
    }
    s->sign = true;
}

/* An option with the value v into s; `who` ("" or "drone 3: ") prefixes messages. Returns 0,
 * or -1 with a message. */
static int parse_valued(ae_sim_drone *s, const char *a, const char *v, const char *who)
{
    char *end;
    if (!strcmp(a, "--mavlink")) {
        s->url = v;
    } else if (!strcmp(a, "--name")) {
        if (!*v || strlen(v) >= sizeof s->name) {
            fprintf(stderr, "aerie sim: %s--name %s: 1 to %zu characters\n", who, v,
                    sizeof s->name - 1);
            return -1;
        }
        snprintf(s->name, sizeof s->name, "%s", v);
    } else if (!strcmp(a, "--sysid") || !strcmp(a, "--compid")) {
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 255) {
            fprintf(stderr, "aerie sim: %s%s %s: expected 1..255\n", who, a, v);
            return -1;
        }
        if (a[2] == 's')
            s->sysid = (uint8_t)n;
        else
            s->compid = (uint8_t)n;
    } else if (!strcmp(a, "--autopilot")) {
        if (!strcasecmp(v, "px4"))
            s->px4 = true;
        else if (!strcasecmp(v, "ardupilot") || !strcasecmp(v, "apm"))
            s->px4 = false;
        else {
            fprintf(stderr, "aerie sim: %s--autopilot %s: use px4 or ardupilot\n", who, v);
            return -1;
        }
    } else if (!strcmp(a, "--home")) {
        double la, lo, al = s->home_alt;
        int n = sscanf(v, "%lf,%lf,%lf", &la, &lo, &al);
        if (n < 2 || fabs(la) > 90 || fabs(lo) > 180) {
            fprintf(stderr, "aerie sim: %s--home %s: expected LAT,LON[,ALT_M]\n", who, v);
            return -1;
        }
        s->home_lat = la;
        s->home_lon = lo;
        s->home_alt = al;
    } else if (!strcmp(a, "--telemetry-hz")) {
        double hz = strtod(v, &end);
        if (*end || !(hz >= AE_SIM_HZ_MIN && hz <= AE_SIM_HZ_MAX)) {
            fprintf(stderr, "aerie sim: %s--telemetry-hz %s: expected %g..%g\n", who, v,
                    AE_SIM_HZ_MIN, AE_SIM_HZ_MAX);
            return -1;
        }
        s->telemetry_hz = hz;
    } else if (!strcmp(a, "--mission-size")) {
        double m = strtod(v, &end);
        if (*end || !(m >= 10 && m <= 5000)) {
            fprintf(stderr, "aerie sim: %s--mission-size %s: expected 10..5000 (metres)\n", who, v);
            return -1;
        }
        s->mission_size = m;
    } else if (!strcmp(a, "--duration")) {
        return parse_seconds(who, a, v, &s->duration_s);
    } else if (!strcmp(a, "--outage-at")) {
        return parse_seconds(who, a, v, &s->outage_at);
    } else if (!strcmp(a, "--outage-for")) {
        return parse_seconds(who, a, v, &s->outage_for);
    } else if (!strcmp(a, "--mission-delay")) {
        return parse_seconds(who, a, v, &s->mission_delay);
    } else if (!strcmp(a, "--signing-key")) {
        signing_key(s, v);
    } else {
        fprintf(stderr, "aerie sim: %sunknown option %s (see --help)\n", who, a);
        return -1;
    }
    return 0;
}

/* d with room for twice as many drones (at least 8); NULL (d freed) when out of memory. */
static ae_sim_drone *grow(ae_sim_drone *d, size_t *cap)
{
    size_t nc = *cap ? *cap * 2 : 8;
    ae_sim_drone *nd = realloc(d, nc * sizeof *nd);
    if (!nd) {
        free(d);
        return NULL;
    }
    *cap = nc;
    return nd;
}

/* The drones of the command line into *out (n in *n): the options alone are one drone; with
 * --drone, the options before the first are every drone's defaults. Returns 0, 1 after
 * --help, or -1 with a message. */
static int parse_args(int argc, char **argv, ae_sim_drone **out, size_t *n)
{
    ae_sim_drone defaults, *d = NULL;
    ae_sim_drone_defaults(&defaults);
    ae_sim_drone *s = &defaults;
    size_t count = 0, cap = 0;
    char who[32] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 1;
        } else if (!strcmp(a, "--drone")) {
            if (count == MAX_DRONES) {
                fprintf(stderr, "aerie sim: at most %d drones in one process\n", MAX_DRONES);
                rc = -1;
            } else if (count == cap && !(d = grow(d, &cap))) {
                fprintf(stderr, "aerie sim: out of memory\n");
                rc = -1;
            } else {
                s = &d[count++];
                *s = defaults;
                snprintf(who, sizeof who, "drone %zu: ", count);
            }
        } else if (parse_flag(s, a)) {
            continue;
        } else if (!v) {
            fprintf(stderr, "aerie sim: %s%s needs a value (see --help)\n", who, a);
            rc = -1;
        } else {
            rc = parse_valued(s, a, v, who);
            i++;
        }
        if (rc) {
            free(d);
            return rc;
        }
    }
    if (count == 0 && !(d = grow(d, &cap))) {
        fprintf(stderr, "aerie sim: out of memory\n");
        return -1;
    }
    if (count == 0)
        d[count++] = defaults;
    *out = d;
    *n = count;
    return 0;
}

int aerie_cmd_sim(int argc, char **argv)
{
    ae_sim_drone *d = NULL;
    size_t n = 0;
    int rc = parse_args(argc, argv, &d, &n);
    if (rc)
        return rc < 0 ? 2 : 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (ae_sim_drone_open(&d[i]) != 0) {
            if (n > 1)
                fprintf(stderr, "aerie sim: drone %zu (%s) could not open its link\n", i + 1,
                        d[i].name[0] ? d[i].name : d[i].url);
            rc = 1;
        }
    if (rc == 0) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = ae_sim_pool_run(d, n, sim_stop_flag()) == 0 ? 0 : 1;
    }
    for (size_t i = 0; i < n; i++)
        ae_sim_drone_close(&d[i]);
    free(d);
    return rc;
}
