/* One simulated drone (sim_drone.h): a simple kinematic multicopter (no aerodynamics:
 * constant climb, cruise and descent rates) that drains a 4S battery, reports GPS, and
 * behaves like PX4 or ArduPilot as far as the gateway can tell: HEARTBEAT with the
 * autopilot's custom_mode, the usual telemetry set, and COMMAND_LONG answered with
 * COMMAND_ACK for arm/disarm/takeoff/land/rtl/set-mode/reposition. Scripted link outages
 * (--outage-at/--outage-for) stop all traffic in both directions for a while, which is what a
 * radio dropout looks like to the gateway.
 *
 * Rates: --telemetry-hz H (default 10) is the rate of position and attitude; the tick runs at
 * 5 H (50 Hz by default; at least 1 Hz) and every other message keeps its share of it (GPS
 * H/2, VFR_HUD ~0.4 H, home every 2 s), except the 1 Hz set (HEARTBEAT, SYS_STATUS, battery,
 * time), which a gateway needs to see the vehicle alive. A slower drone costs a large local fleet
 * proportionally less CPU (`aerie up --telemetry-hz`). */
#include "cli/sim_drone.h"

#include "common/timeutil.h"
#include "mavlink/modes.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_HZ    10 /* position and attitude */
#define TICKS_PER_POS 5  /* ticks per position report, from 0.2 Hz up */
#define EARTH_R       6378137.0
#define CLIMB_MPS     2.5
#define DESCENT_MPS   1.5
#define CRUISE_MPS    8.0
#define DEFAULT_TO_M  10.0
#define FORCE_DISARM  21196
#define SIM_PATTERN_N 4

typedef ae_sim_drone sim;
typedef ae_sim_phase phase;

/* ---- small helpers ------------------------------------------------------------------------ */

void ae_sim_drone_say(const sim *s, const char *fmt, ...)
{
    if (s->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (s->name[0])
        fprintf(stderr, "sim[%s]: ", s->name);
    else
        fprintf(stderr, "sim[%u]: ", s->sysid);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double elapsed_s(const sim *s)
{
    return (double)(ae_mono_ns() - s->boot_mono) / 1e9;
}

static uint32_t boot_ms(const sim *s)
{
    return (uint32_t)((ae_mono_ns() - s->boot_mono) / AE_NS_PER_MS);
}

static bool in_air(const sim *s)
{
    return s->ph != AE_SIM_GROUND;
}

/* ---- modes -------------------------------------------------------------------------------- */

/* The custom_mode each phase reports, as the real autopilots do. */
static uint32_t phase_mode(const sim *s, phase p)
{
    const char *name;
    switch (p) {
    case AE_SIM_GROUND:
        name = s->px4 ? "POSCTL" : "LOITER";
        break;
    case AE_SIM_TAKEOFF:
        name = s->px4 ? "AUTO.TAKEOFF" : "GUIDED";
        break;
    case AE_SIM_HOLD:
    case AE_SIM_GOTO:
        name = s->px4 ? "AUTO.LOITER" : "GUIDED";
        break;
    case AE_SIM_MISSION:
        name = s->px4 ? "AUTO.MISSION" : "AUTO";
        break;
    case AE_SIM_RTL:
        name = s->px4 ? "AUTO.RTL" : "RTL";
        break;
    default:
        name = s->px4 ? "AUTO.LAND" : "LAND";
        break;
    }
    float p2, p3;
    uint32_t cm = 0;
    ae_mav_mode_lookup(s->px4 ? AE_MAV_AUTOPILOT_PX4 : AE_MAV_AUTOPILOT_ARDUPILOTMEGA, 2, name, &p2,
                       &p3, &cm);
    return cm;
}

static void set_phase(sim *s, phase p)
{
    s->ph = p;
    s->custom_mode = phase_mode(s, p);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void send_msg(sim *s, uint32_t msgid, const void *msg)
{
    if (s->in_outage || s->peer_len == 0)
        return;
    uint8_t frame[AE_MAV_MAX_FRAME];
    ae_mav_header h = {.version = 2, .seq = s->seq++, .sysid = s->sysid, .compid = s->compid};
    int n = ae_mav_encode_msg(frame, sizeof frame, &h, msgid, msg, s->sign ? &s->signing : NULL);
    if (n <= 0)
        return;
    if (sendto(s->fd, frame, (size_t)n, 0, (struct sockaddr *)&s->peer, s->peer_len) == n)
        s->frames_tx++;
}

static void statustext(sim *s, uint8_t severity, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void statustext(sim *s, uint8_t severity, const char *fmt, ...)
{
    ae_mav_statustext t = {.severity = severity};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t.text, sizeof t.text, fmt, ap);
    va_end(ap);
    ae_sim_drone_say(s, "%s", t.text);
    send_msg(s, AE_MAV_MSG_STATUSTEXT, &t);
}

static void send_heartbeat(sim *s)
{
    ae_mav_heartbeat hb = {
        .custom_mode = s->custom_mode,
        .type = 2, /* quadrotor */
        .autopilot = s->px4 ? AE_MAV_AUTOPILOT_PX4 : AE_MAV_AUTOPILOT_ARDUPILOTMEGA,
        .base_mode = (uint8_t)(AE_MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | 0x10 /* stabilize */ |
                               (s->armed ? AE_MAV_MODE_FLAG_SAFETY_ARMED : 0) |
                               (s->ph != AE_SIM_GROUND ? 0x0C : 0) /* guided|auto */),
        .system_status = (uint8_t)(s->armed ? 4 : 3), /* ACTIVE : STANDBY */
        .mavlink_version = 3,
    };
    send_msg(s, AE_MAV_MSG_HEARTBEAT, &hb);
}

static void send_position(sim *s)
{
    double hdg = fmod(s->yaw * 180.0 / M_PI + 360.0, 360.0);
    ae_mav_global_position_int p = {
        .time_boot_ms = boot_ms(s),
        .lat = (int32_t)lround(s->lat * 1e7),
        .lon = (int32_t)lround(s->lon * 1e7),
        .alt = (int32_t)lround((s->home_alt + s->alt_rel) * 1000),
        .relative_alt = (int32_t)lround(s->alt_rel * 1000),
        .vx = (int16_t)lround(s->vn * 100),
        .vy = (int16_t)lround(s->ve * 100),
        .vz = (int16_t)lround(s->vd * 100),
        .hdg = (uint16_t)lround(hdg * 100) % 36000,
    };
    send_msg(s, AE_MAV_MSG_GLOBAL_POSITION_INT, &p);
}

static void send_attitude(sim *s)
{
    double t = elapsed_s(s);
    double speed = hypot(s->vn, s->ve);
    ae_mav_attitude a = {
        .time_boot_ms = boot_ms(s),
        /* lean into the direction of travel, plus a little wobble in the air */
        .roll = (float)(in_air(s) ? 0.01 * sin(t * 1.3) : 0),
        .pitch = (float)(-atan(speed / 40.0) + (in_air(s) ? 0.01 * sin(t * 0.7) : 0)),
        .yaw = (float)(s->yaw > M_PI ? s->yaw - 2 * M_PI : s->yaw),
        .rollspeed = 0,
        .pitchspeed = 0,
        .yawspeed = 0,
    };
    send_msg(s, AE_MAV_MSG_ATTITUDE, &a);
}

static void send_gps(sim *s)
{
    double speed = hypot(s->vn, s->ve);
    double cog = fmod(atan2(s->ve, s->vn) * 180.0 / M_PI + 360.0, 360.0);
    ae_mav_gps_raw_int g = {
        .time_usec = (uint64_t)(ae_now_ns() / 1000),
        .lat = (int32_t)lround(s->lat * 1e7),
        .lon = (int32_t)lround(s->lon * 1e7),
        .alt = (int32_t)lround((s->home_alt + s->alt_rel) * 1000),
        .eph = 80,
        .epv = 120,
        .vel = (uint16_t)lround(speed * 100),
        .cog = speed > 0.2 ? (uint16_t)(lround(cog * 100) % 36000) : UINT16_MAX,
        .fix_type = 3,
        .satellites_visible = (uint8_t)(14 + (int)(elapsed_s(s) / 7) % 3),
        .alt_ellipsoid = (int32_t)lround((s->home_alt + s->alt_rel + 47.0) * 1000),
        .h_acc = 850,
        .v_acc = 1200,
        .vel_acc = 150,
    };
    send_msg(s, AE_MAV_MSG_GPS_RAW_INT, &g);
}

static uint16_t cell_mv(const sim *s)
{
    /* 4.2 V full, 3.5 V empty, slightly lower under load */
    double v = 3.5 + 0.7 * s->battery - (in_air(s) ? 0.08 : 0);
    return (uint16_t)lround(v * 1000);
}

static double current_a(const sim *s)
{
    return in_air(s) ? 18.0 : s->armed ? 1.5 : 0.4;
}

static void send_battery(sim *s)
{
    ae_mav_battery_status b = {
        .current_consumed = (int32_t)lround(s->consumed_mah),
        .energy_consumed = -1,
        .temperature = 2850,
        .current_battery = (int16_t)lround(current_a(s) * 100),
        .id = 0,
        .battery_function = 1,
        .type = 1,
        .battery_remaining = (int8_t)lround(s->battery * 100),
        .time_remaining = 0,
        .charge_state = s->battery > 0.2   ? 1
                        : s->battery > 0.1 ? 2
                                           : 3,
    };
    for (int i = 0; i < 10; i++)
        b.voltages[i] = i < 4 ? cell_mv(s) : UINT16_MAX;
    send_msg(s, AE_MAV_MSG_BATTERY_STATUS, &b);
}

static void send_sys_status(sim *s)
{
    uint32_t sensors = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x200000 | 0x2000000 | 0x10000000;
    ae_mav_sys_status st = {
        .onboard_control_sensors_present = sensors,
        .onboard_control_sensors_enabled = sensors,
        .onboard_control_sensors_health = sensors,
        .load = 250,
        .voltage_battery = (uint16_t)(4 * cell_mv(s)),
        .current_battery = (int16_t)lround(current_a(s) * 100),
        .battery_remaining = (int8_t)lround(s->battery * 100),
    };
    send_msg(s, AE_MAV_MSG_SYS_STATUS, &st);
}

static void send_slow_set(sim *s)
{
    ae_mav_system_time t = {.time_unix_usec = (uint64_t)(ae_now_ns() / 1000),
                            .time_boot_ms = boot_ms(s)};
    send_msg(s, AE_MAV_MSG_SYSTEM_TIME, &t);
    ae_mav_extended_sys_state e = {
        .vtol_state = 0,
        .landed_state = (uint8_t)(s->ph == AE_SIM_GROUND    ? 1
                                  : s->ph == AE_SIM_TAKEOFF ? 3
                                  : s->ph == AE_SIM_LAND    ? 4
                                                            : 2),
    };
    send_msg(s, AE_MAV_MSG_EXTENDED_SYS_STATE, &e);
    if (s->ph == AE_SIM_MISSION) {
        ae_mav_mission_current mc = {
            .seq = (uint16_t)s->wp, .total = SIM_PATTERN_N, .mission_state = 3};
        send_msg(s, AE_MAV_MSG_MISSION_CURRENT, &mc);
    }
}

static void send_home(sim *s)
{
    ae_mav_home_position h = {
        .latitude = (int32_t)lround(s->home_lat * 1e7),
        .longitude = (int32_t)lround(s->home_lon * 1e7),
        .altitude = (int32_t)lround(s->home_alt * 1000),
        .q = {1, 0, 0, 0},
        .time_usec = (uint64_t)(ae_now_ns() / 1000),
    };
    send_msg(s, AE_MAV_MSG_HOME_POSITION, &h);
}

static void send_vfr_hud(sim *s)
{
    double hdg = fmod(s->yaw * 180.0 / M_PI + 360.0, 360.0);
    ae_mav_vfr_hud v = {
        .airspeed = (float)hypot(s->vn, s->ve),
        .groundspeed = (float)hypot(s->vn, s->ve),
        .alt = (float)(s->home_alt + s->alt_rel),
        .climb = (float)-s->vd,
        .heading = (int16_t)lround(hdg) % 360,
        .throttle = (uint16_t)(in_air(s) ? 55 : 0),
    };
    send_msg(s, AE_MAV_MSG_VFR_HUD, &v);
}

/* ---- flight ------------------------------------------------------------------------------- */

/* Local metres north/east from home -> lat/lon (flat earth is plenty for a few km). */
static void offset_to_ll(const sim *s, double n, double e, double *lat, double *lon)
{
    *lat = s->home_lat + n / EARTH_R * 180.0 / M_PI;
    *lon = s->home_lon + e / (EARTH_R * cos(s->home_lat * M_PI / 180.0)) * 180.0 / M_PI;
}

static void ll_to_offset(const sim *s, double lat, double lon, double *n, double *e)
{
    *n = (lat - s->home_lat) * M_PI / 180.0 * EARTH_R;
    *e = (lon - s->home_lon) * M_PI / 180.0 * EARTH_R * cos(s->home_lat * M_PI / 180.0);
}

static void mission_wp(sim *s, int i)
{
    /* a square (120 m by default) north-east of home at 30 m */
    static const double pat[SIM_PATTERN_N][2] = {{1, 0}, {1, 1}, {0, 1}, {0, 0}};
    offset_to_ll(s, pat[i][0] * s->mission_size, pat[i][1] * s->mission_size, &s->tgt_lat,
                 &s->tgt_lon);
    s->tgt_alt = 30;
    s->tgt_speed = CRUISE_MPS;
}

static void start_takeoff(sim *s, double alt)
{
    s->tgt_alt = alt;
    set_phase(s, AE_SIM_TAKEOFF);
    statustext(s, 6, "Takeoff to %.1f m", alt);
}

static void touchdown(sim *s)
{
    s->alt_rel = 0;
    s->vn = s->ve = s->vd = 0;
    set_phase(s, AE_SIM_GROUND);
    s->armed = false;
    s->landed_at = elapsed_s(s);
    statustext(s, 6, "Landed; disarmed");
}

/* Moves toward (tgt_lat, tgt_lon, tgt_alt); true on arrival. */
static bool fly_to(sim *s, double dt)
{
    double n0, e0, n1, e1;
    ll_to_offset(s, s->lat, s->lon, &n0, &e0);
    ll_to_offset(s, s->tgt_lat, s->tgt_lon, &n1, &e1);
    double dn = n1 - n0, de = e1 - e0, d = hypot(dn, de);
    double v = s->tgt_speed > 0 ? s->tgt_speed : CRUISE_MPS;
    if (d > 0.5) {
        double step = fmin(v * dt, d);
        s->vn = dn / d * v;
        s->ve = de / d * v;
        s->yaw = atan2(de, dn);
        if (s->yaw < 0)
            s->yaw += 2 * M_PI;
        offset_to_ll(s, n0 + dn / d * step, e0 + de / d * step, &s->lat, &s->lon);
    } else {
        s->vn = s->ve = 0;
    }
    double dz = s->tgt_alt - s->alt_rel;
    double climb = fmin(fabs(dz), (dz > 0 ? CLIMB_MPS : DESCENT_MPS) * dt);
    s->alt_rel += dz > 0 ? climb : -climb;
    s->vd = fabs(dz) > 0.1 ? (dz > 0 ? -CLIMB_MPS : DESCENT_MPS) : 0;
    return d <= 0.5 && fabs(dz) <= 0.1;
}

static void step(sim *s, double dt)
{
    switch (s->ph) {
    case AE_SIM_GROUND:
        s->vn = s->ve = s->vd = 0;
        break;
    case AE_SIM_TAKEOFF:
        s->vn = s->ve = 0;
        s->alt_rel = fmin(s->tgt_alt, s->alt_rel + CLIMB_MPS * dt);
        s->vd = -CLIMB_MPS;
        if (s->alt_rel >= s->tgt_alt - 0.01) {
            s->vd = 0;
            if (s->auto_mission) {
                s->wp = 0;
                mission_wp(s, 0);
                set_phase(s, AE_SIM_MISSION);
                statustext(s, 6, "Mission started");
            } else {
                set_phase(s, AE_SIM_HOLD);
            }
        }
        break;
    case AE_SIM_HOLD:
        s->vn = s->ve = s->vd = 0;
        break;
    case AE_SIM_GOTO:
        if (fly_to(s, dt))
            set_phase(s, AE_SIM_HOLD);
        break;
    case AE_SIM_MISSION:
        if (fly_to(s, dt)) {
            if (++s->wp >= SIM_PATTERN_N) {
                set_phase(s, AE_SIM_LAND);
                statustext(s, 6, "Mission complete, landing");
            } else {
                mission_wp(s, s->wp);
            }
        }
        break;
    case AE_SIM_RTL:
        s->tgt_lat = s->home_lat;
        s->tgt_lon = s->home_lon;
        s->tgt_speed = CRUISE_MPS;
        if (fly_to(s, dt)) {
            set_phase(s, AE_SIM_LAND);
            statustext(s, 6, "Home reached, landing");
        }
        break;
    case AE_SIM_LAND:
        s->vn = s->ve = 0;
        s->vd = DESCENT_MPS;
        s->alt_rel -= DESCENT_MPS * dt;
        if (s->alt_rel <= 0)
            touchdown(s);
        break;
    }
    /* 5000 mAh pack */
    double mah = current_a(s) * 1000.0 * dt / 3600.0;
    s->consumed_mah += mah;
    s->battery = fmax(0.0, 1.0 - s->consumed_mah / 5000.0);
    if (s->battery < 0.1 && in_air(s) && s->ph != AE_SIM_LAND && s->ph != AE_SIM_RTL) {
        statustext(s, 2, "Battery critical, returning");
        set_phase(s, AE_SIM_RTL);
    }
}

/* ---- commands ----------------------------------------------------------------------------- */

static uint8_t do_set_mode(sim *s, const ae_mav_command_long *c)
{
    char name[40];
    uint32_t cm;
    if (!((int)c->param1 & AE_MAV_MODE_FLAG_CUSTOM_MODE_ENABLED))
        return AE_MAV_RESULT_DENIED;
    if (s->px4)
        cm = (uint32_t)c->param2 << 16 | (uint32_t)c->param3 << 24;
    else
        cm = (uint32_t)c->param2;
    ae_mav_mode_name(s->px4 ? AE_MAV_AUTOPILOT_PX4 : AE_MAV_AUTOPILOT_ARDUPILOTMEGA, 2, cm, name,
                     sizeof name);
    if (strncmp(name, "PX4(", 4) == 0 || strncmp(name, "CUSTOM(", 7) == 0)
        return AE_MAV_RESULT_DENIED;
    if (strstr(name, "RTL")) {
        if (!in_air(s))
            return AE_MAV_RESULT_DENIED;
        set_phase(s, AE_SIM_RTL);
    } else if (strstr(name, "LAND")) {
        if (!in_air(s))
            return AE_MAV_RESULT_DENIED;
        set_phase(s, AE_SIM_LAND);
    } else if (strstr(name, "MISSION") || !strcmp(name, "AUTO")) {
        if (in_air(s)) {
            s->wp = 0;
            mission_wp(s, 0);
            set_phase(s, AE_SIM_MISSION);
        }
    } else if (in_air(s)) {
        set_phase(s, AE_SIM_HOLD);
    }
    s->custom_mode = cm; /* report exactly what was asked */
    statustext(s, 6, "Mode %s", name);
    return AE_MAV_RESULT_ACCEPTED;
}

static uint8_t execute(sim *s, const ae_mav_command_long *c)
{
    /* PX4 takes NAV_TAKEOFF / DO_REPOSITION altitudes as AMSL, ArduPilot above home. */
    double rel = s->px4 ? c->param7 - s->home_alt : c->param7;
    switch (c->command) {
    case AE_MAV_CMD_COMPONENT_ARM_DISARM:
        if (c->param1 == 1.0f) {
            if (s->battery < 0.15)
                return AE_MAV_RESULT_DENIED;
            if (!s->armed)
                statustext(s, 6, "Armed by command");
            s->armed = true;
            return AE_MAV_RESULT_ACCEPTED;
        }
        if (c->param1 == 0.0f) {
            if (in_air(s) && c->param2 != FORCE_DISARM)
                return AE_MAV_RESULT_DENIED;
            if (in_air(s))
                touchdown(s); /* forced disarm in the air: it falls; keep the sim simple */
            if (s->armed)
                statustext(s, 6, "Disarmed by command");
            s->armed = false;
            set_phase(s, AE_SIM_GROUND);
            return AE_MAV_RESULT_ACCEPTED;
        }
        return AE_MAV_RESULT_DENIED;
    case AE_MAV_CMD_NAV_TAKEOFF:
        if (!s->armed)
            return AE_MAV_RESULT_TEMPORARILY_REJECTED;
        if (in_air(s))
            return AE_MAV_RESULT_DENIED;
        if (isnan(c->param7))
            rel = DEFAULT_TO_M;
        if (!(rel > 0.5 && rel < 1000))
            return AE_MAV_RESULT_DENIED;
        start_takeoff(s, rel);
        return AE_MAV_RESULT_ACCEPTED;
    case AE_MAV_CMD_NAV_LAND:
        if (!in_air(s))
            return AE_MAV_RESULT_DENIED;
        set_phase(s, AE_SIM_LAND);
        statustext(s, 6, "Landing");
        return AE_MAV_RESULT_ACCEPTED;
    case AE_MAV_CMD_NAV_RETURN_TO_LAUNCH:
        if (!in_air(s))
            return AE_MAV_RESULT_DENIED;
        set_phase(s, AE_SIM_RTL);
        statustext(s, 6, "Returning to launch");
        return AE_MAV_RESULT_ACCEPTED;
    case AE_MAV_CMD_DO_SET_MODE:
        return do_set_mode(s, c);
    case AE_MAV_CMD_DO_REPOSITION:
        if (!in_air(s))
            return AE_MAV_RESULT_DENIED;
        if (isnan(c->param5) || isnan(c->param6) || fabs(c->param5) > 90 || fabs(c->param6) > 180)
            return AE_MAV_RESULT_DENIED;
        s->tgt_lat = c->param5;
        s->tgt_lon = c->param6;
        s->tgt_alt = isnan(c->param7) ? s->alt_rel : fmax(2.0, rel);
        s->tgt_speed = c->param1 > 0 ? c->param1 : CRUISE_MPS;
        set_phase(s, AE_SIM_GOTO);
        statustext(s, 6, "Going to %.6f, %.6f", s->tgt_lat, s->tgt_lon);
        return AE_MAV_RESULT_ACCEPTED;
    default:
        return AE_MAV_RESULT_UNSUPPORTED;
    }
}

static void on_frame(void *ctx, const ae_mav_frame *f)
{
    sim *s = ctx;
    if (f->msgid != AE_MAV_MSG_COMMAND_LONG)
        return;
    ae_mav_command_long c;
    ae_mav_frame_unpack(f, &c);
    if ((c.target_system != 0 && c.target_system != s->sysid) ||
        (c.target_component != 0 && c.target_component != s->compid))
        return;
    s->cmds_rx++;
    if (s->ignore_commands)
        return;
    ae_mav_command_ack ack = {.command = c.command,
                              .result = execute(s, &c),
                              .target_system = f->sysid,
                              .target_component = f->compid};
    ae_sim_drone_say(s, "MAV_CMD %u (confirmation %u) -> %s", c.command, c.confirmation,
                     ae_mav_result_name(ack.result));
    send_msg(s, AE_MAV_MSG_COMMAND_ACK, &ack);
}

/* ---- setup -------------------------------------------------------------------------------- */

void ae_sim_drone_defaults(sim *s)
{
    memset(s, 0, sizeof *s);
    s->url = AE_SIM_DEFAULT_MAVLINK;
    s->px4 = true;
    s->sysid = 1;
    s->compid = 1;
    s->home_lat = 47.397742;
    s->home_lon = 8.545594;
    s->home_alt = 488.0;
    s->mission_size = 120;
    s->mission_delay = 2;
    s->landed_at = -1;
    s->telemetry_hz = DEFAULT_HZ;
    s->fd = -1;
}

/* The socket of a resolved address: bound when listening, else the peer remembered. */
static int open_socket(sim *s, const struct addrinfo *res)
{
    s->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        fprintf(stderr, "aerie sim: socket: %s\n", strerror(errno));
        return -1;
    }
    if (s->listen) {
        if (bind(s->fd, res->ai_addr, res->ai_addrlen) != 0) {
            fprintf(stderr, "aerie sim: bind %s: %s\n", s->url, strerror(errno));
            close(s->fd);
            s->fd = -1;
            return -1;
        }
    } else {
        memcpy(&s->peer, res->ai_addr, res->ai_addrlen);
        s->peer_len = res->ai_addrlen;
    }
    return 0;
}

int ae_sim_drone_open(sim *s)
{
    const char *url = s->url, *rest;
    if (strncmp(url, "udpout://", 9) == 0) {
        rest = url + 9;
    } else if (strncmp(url, "udp://", 6) == 0 || strncmp(url, "udpin://", 8) == 0) {
        s->listen = true;
        rest = strstr(url, "://") + 3;
    } else {
        fprintf(stderr,
                "aerie sim: --mavlink %s: use udpout://host:port (send to a gateway) or "
                "udp://[host]:port (listen)\n",
                url);
        return -1;
    }
    char host[128] = "", port[16];
    const char *colon = strrchr(rest, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof port) {
        fprintf(stderr, "aerie sim: --mavlink %s: missing :port\n", url);
        return -1;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - rest), rest);
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = s->listen ? AI_PASSIVE : 0;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "aerie sim: --mavlink %s: %s\n", url, gai_strerror(rc));
        return -1;
    }
    rc = open_socket(s, res);
    freeaddrinfo(res);
    return rc;
}

static void update_outage(sim *s);

int ae_sim_drone_receive(sim *s, int max_datagrams)
{
    update_outage(s);
    uint8_t buf[2048];
    struct sockaddr_storage from;
    int got = 0;
    while (got < max_datagrams) {
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break; /* drained (EAGAIN), or an ICMP error reported on the socket */
        got++;
        if (s->in_outage)
            continue; /* the radio is down: nothing gets through */
        if (s->listen) {
            s->peer = from;
            s->peer_len = fl;
        }
        ae_mav_parse(&s->parser, buf, (size_t)n);
        /* MAVLink over UDP carries whole frames in each datagram: a partial one at the end
         * is junk, and kept it would swallow the frames of the next datagram. */
        s->parser.have = 0;
    }
    return got;
}

/* The mission script: the first flight after --mission-delay, and with --loop another one
 * 8 s after each landing, on a fresh battery when it ran low. */
static void mission_script(sim *s, uint64_t tick)
{
    bool first_start = s->landed_at < 0 && tick == (uint64_t)(s->mission_delay * s->tick_hz);
    bool again = s->loop && s->landed_at >= 0 && s->ph == AE_SIM_GROUND &&
                 elapsed_s(s) - s->landed_at >= 8.0;
    if (!s->auto_mission || s->armed || !(first_start || again))
        return;
    if (again && s->battery < 0.3) {
        s->consumed_mah = 0;
        s->battery = 1.0;
        statustext(s, 6, "Battery swapped");
    }
    s->landed_at = -1;
    s->armed = true;
    statustext(s, 6, "Armed by mission script");
    start_takeoff(s, 30);
}

/* The telemetry of one tick, each message at its own rate. */
static void send_telemetry(sim *s, uint64_t tick)
{
    uint64_t hz = (uint64_t)s->tick_hz, pos = s->pos_ticks;
    if (tick % pos == 0) {
        send_position(s);
        send_attitude(s);
    }
    if (tick % (2 * pos) == 0)
        send_gps(s);
    if (tick % (pos * 12 / 5) == 0) /* 12 ticks (50 / 4 rounded down) at 10 Hz, as always */
        send_vfr_hud(s);
    if (tick % hz == 0) {
        send_heartbeat(s);
        send_sys_status(s);
        send_battery(s);
        send_slow_set(s);
    }
    if (tick % (hz * 2) == 0)
        send_home(s);
}

/* Starts or ends a staged outage when its time comes. */
static void update_outage(sim *s)
{
    double t = elapsed_s(s);
    bool out = s->outage_for > 0 && t >= s->outage_at && t < s->outage_at + s->outage_for;
    if (out == s->in_outage)
        return;
    s->in_outage = out;
    if (out)
        ae_sim_drone_say(s, "link outage for %.1f s", s->outage_for);
    else
        ae_sim_drone_say(s, "link back");
}

void ae_sim_drone_start(sim *s, int64_t now_ns)
{
    s->tick_hz = (int)lround(s->telemetry_hz * TICKS_PER_POS);
    if (s->tick_hz < 1)
        s->tick_hz = 1;
    s->pos_ticks = (uint64_t)lround(s->tick_hz / s->telemetry_hz);
    if (s->pos_ticks < 1)
        s->pos_ticks = 1;
    s->tick_ns = AE_NS_PER_SEC / s->tick_hz;
    s->tick = 0;
    ae_mav_parser_init(&s->parser, on_frame, s);
    s->signing.link_id = 0;
    s->signing.timestamp = ae_mav_signing_now();
    s->boot_mono = now_ns;
    s->next_tick = now_ns;
    s->lat = s->home_lat;
    s->lon = s->home_lon;
    s->battery = 1.0;
    set_phase(s, AE_SIM_GROUND);
    ae_sim_drone_say(s, "%s quadrotor at %.6f,%.6f, MAVLink %s", s->px4 ? "PX4" : "ArduPilot",
                     s->home_lat, s->home_lon, s->url);
}

void ae_sim_drone_tick(sim *s, int64_t now_ns)
{
    update_outage(s);
    if (now_ns < s->next_tick)
        return;
    s->next_tick += s->tick_ns;
    if (s->next_tick < now_ns)
        s->next_tick = now_ns + s->tick_ns; /* we fell behind (stopped in a debugger): no burst */
    step(s, 1.0 / s->tick_hz);
    mission_script(s, s->tick);
    send_telemetry(s, s->tick);
    s->tick++;
}

bool ae_sim_drone_done(const sim *s)
{
    return s->duration_s > 0 && elapsed_s(s) >= s->duration_s;
}

void ae_sim_drone_close(sim *s)
{
    if (s->fd < 0)
        return;
    if (s->boot_mono) /* it flew */
        ae_sim_drone_say(s, "stopping after %.1f s: %llu frames sent, %llu commands received",
                         elapsed_s(s), (unsigned long long)s->frames_tx,
                         (unsigned long long)s->cmds_rx);
    close(s->fd);
    s->fd = -1;
}
