/* One simulated drone of `aerie sim` (sim_drone.c): its options, its MAVLink link (one UDP
 * socket of its own) and its state. cmd_sim.c fills the options from the command line,
 * sim_pool.c runs one or many drones in one poll loop.
 *
 * A drone owns everything it touches: its socket, parser, sequence numbers, home, mission,
 * autopilot and clock (boot time, tick schedule). Nothing is shared between drones, so
 * whatever arrives on one drone's socket can only change that drone. */
#ifndef AERIE_CLI_SIM_DRONE_H
#define AERIE_CLI_SIM_DRONE_H

#include "mavlink/mavlink.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define AE_SIM_DEFAULT_MAVLINK "udpout://127.0.0.1:14550"
#define AE_SIM_NAME_MAX        48
/* Position reports per second a drone may be given (`--telemetry-hz`): from one every 100 s,
 * which sizes a fleet of 1,000 to a small machine, to 50. */
#define AE_SIM_HZ_MIN 0.01
#define AE_SIM_HZ_MAX 50.0

typedef enum ae_sim_phase {
    AE_SIM_GROUND,  /* on the ground, armed or not */
    AE_SIM_TAKEOFF, /* climbing to target_alt */
    AE_SIM_HOLD,    /* hovering */
    AE_SIM_GOTO,    /* flying to a target, then hold */
    AE_SIM_MISSION, /* flying the square pattern, then land */
    AE_SIM_RTL,     /* back to home at current altitude, then land */
    AE_SIM_LAND,    /* descending, then disarm */
} ae_sim_phase;

typedef struct ae_sim_drone {
    /* options (ae_sim_drone_defaults, then the command line) */
    char name[AE_SIM_NAME_MAX]; /* --name: in progress lines; "" shows the sysid */
    const char *url;            /* --mavlink, borrowed from argv */
    bool px4;
    uint8_t sysid, compid;
    double home_lat, home_lon, home_alt; /* deg, deg, m AMSL */
    double duration_s, outage_at, outage_for;
    bool auto_mission, ignore_commands, quiet;
    bool loop;            /* --loop: fly the mission again after each landing */
    double mission_size;  /* side of the square, m */
    double mission_delay; /* s after start before the first arming */
    double telemetry_hz;  /* --telemetry-hz: position and attitude rate */
    bool sign;
    ae_mav_signing signing;

    /* schedule (ae_sim_drone_start) */
    int tick_hz;        /* TICKS_PER_POS * telemetry_hz, at least 1 */
    uint64_t pos_ticks; /* ticks per position report: TICKS_PER_POS, more below 0.2 Hz */
    int64_t tick_ns;    /* 1 s / tick_hz */
    int64_t next_tick;  /* monotonic ns of the next tick */
    uint64_t tick;      /* ticks done */

    /* link */
    int fd;
    bool listen;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    ae_mav_parser parser;
    uint8_t seq;

    /* vehicle */
    int64_t boot_mono;
    double landed_at;         /* elapsed_s of the last touchdown, < 0 while never landed */
    double lat, lon, alt_rel; /* deg, deg, m above home */
    double vn, ve, vd;        /* m/s */
    double yaw;               /* rad */
    bool armed;
    uint32_t custom_mode;
    ae_sim_phase ph;
    double tgt_lat, tgt_lon, tgt_alt, tgt_speed;
    int wp;         /* mission waypoint index */
    double battery; /* 0..1 */
    double consumed_mah;
    bool in_outage;
    uint64_t frames_tx, cmds_rx;
} ae_sim_drone;

/* The options of a drone nobody configured: PX4, sysid 1, home in Zurich, 10 Hz, and no
 * socket yet (fd -1). */
void ae_sim_drone_defaults(ae_sim_drone *d);

/* Opens d->url: udpout://HOST:PORT sends to a gateway there, udp://[HOST]:PORT (udpin://)
 * listens and answers whoever spoke last. Returns 0, or -1 with a message on stderr that
 * names the drone. */
int ae_sim_drone_open(ae_sim_drone *d);

/* Readies the drone to fly: its state on the ground at home, its parser, its tick rate
 * (tick_ns) and its first tick at now_ns (a pool may move next_tick later). */
void ae_sim_drone_start(ae_sim_drone *d, int64_t now_ns);

/* Reads up to max_datagrams waiting on the drone's socket without blocking and parses them
 * (answering commands), unless a staged outage drops them. Returns how many were read; a
 * drone with more waiting is read again on the next round, so a flooded drone cannot
 * starve the others of a pool. */
int ae_sim_drone_receive(ae_sim_drone *d, int max_datagrams);

/* Runs every tick that is due at now_ns (flight, mission script, telemetry). A drone that
 * fell far behind (a stopped process) skips the missed ticks instead of bursting. */
void ae_sim_drone_tick(ae_sim_drone *d, int64_t now_ns);

/* True once the drone's --duration has passed. */
bool ae_sim_drone_done(const ae_sim_drone *d);

/* Says goodbye (frames sent, commands received) and closes the socket. */
void ae_sim_drone_close(ae_sim_drone *d);

/* A progress line on stderr, "sim[NAME]: ..." (or sim[SYSID]), unless --quiet. */
void ae_sim_drone_say(const ae_sim_drone *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
