/* Flight-mode tables for PX4 and ArduPilot and the enum names used in telemetry JSON.
 * Values from PX4's custom-mode layout and ArduPilot's COPTER_MODE / PLANE_MODE enums, as
 * summarised in docs/gateway.md. */
#include "mavlink/modes.h"

#include "common/err.h"
#include "mavlink/messages.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct px4_mode {
    const char *name;
    uint8_t main, sub;
} px4_mode;

static const px4_mode px4_modes[] = {
    {"MANUAL", 1, 0},        {"ALTCTL", 2, 0},
    {"POSCTL", 3, 0},        {"AUTO.READY", 4, 1},
    {"AUTO.TAKEOFF", 4, 2},  {"AUTO.LOITER", 4, 3},
    {"AUTO.MISSION", 4, 4},  {"AUTO.RTL", 4, 5},
    {"AUTO.LAND", 4, 6},     {"AUTO.FOLLOW_TARGET", 4, 8},
    {"AUTO.PRECLAND", 4, 9}, {"AUTO.VTOL_TAKEOFF", 4, 10},
    {"ACRO", 5, 0},          {"OFFBOARD", 6, 0},
    {"STABILIZED", 7, 0},    {"RATTITUDE", 8, 0},
    {"TERMINATION", 10, 0},
};

/* Short aliases people type, mapped onto the PX4 names above. */
static const struct {
    const char *alias, *name;
} px4_aliases[] = {
    {"MISSION", "AUTO.MISSION"}, {"RTL", "AUTO.RTL"},     {"LAND", "AUTO.LAND"},
    {"TAKEOFF", "AUTO.TAKEOFF"}, {"HOLD", "AUTO.LOITER"}, {"LOITER", "AUTO.LOITER"},
    {"POSITION", "POSCTL"},      {"ALTITUDE", "ALTCTL"},  {"STABILIZE", "STABILIZED"},
};

typedef struct num_mode {
    const char *name;
    uint32_t num;
} num_mode;

static const num_mode copter_modes[] = {
    {"STABILIZE", 0}, {"ACRO", 1},        {"ALT_HOLD", 2},      {"AUTO", 3},       {"GUIDED", 4},
    {"LOITER", 5},    {"RTL", 6},         {"CIRCLE", 7},        {"LAND", 9},       {"DRIFT", 11},
    {"SPORT", 13},    {"FLIP", 14},       {"AUTOTUNE", 15},     {"POSHOLD", 16},   {"BRAKE", 17},
    {"THROW", 18},    {"AVOID_ADSB", 19}, {"GUIDED_NOGPS", 20}, {"SMART_RTL", 21},
};

static const num_mode plane_modes[] = {
    {"MANUAL", 0},  {"CIRCLE", 1},   {"STABILIZE", 2}, {"TRAINING", 3}, {"ACRO", 4},
    {"FBWA", 5},    {"FBWB", 6},     {"CRUISE", 7},    {"AUTOTUNE", 8}, {"AUTO", 10},
    {"RTL", 11},    {"LOITER", 12},  {"TAKEOFF", 13},  {"GUIDED", 15},  {"QSTABILIZE", 17},
    {"QHOVER", 18}, {"QLOITER", 19}, {"QLAND", 20},    {"QRTL", 21},    {"QAUTOTUNE", 22},
    {"QACRO", 23},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

bool ae_mav_type_is_plane(uint8_t t)
{
    /* FIXED_WING and the VTOL family run ArduPlane. */
    return t == 1 || (t >= 19 && t <= 25);
}

static const num_mode *ardu_table(uint8_t mav_type, size_t *n)
{
    if (ae_mav_type_is_plane(mav_type)) {
        *n = N(plane_modes);
        return plane_modes;
    }
    *n = N(copter_modes);
    return copter_modes;
}

const char *ae_mav_mode_name(uint8_t autopilot, uint8_t mav_type, uint32_t custom_mode, char *out,
                             size_t cap)
{
    if (autopilot == AE_MAV_AUTOPILOT_PX4) {
        uint8_t main = (uint8_t)(custom_mode >> 16), sub = (uint8_t)(custom_mode >> 24);
        for (size_t i = 0; i < N(px4_modes); i++) {
            /* Non-AUTO modes ignore the sub mode byte. */
            if (px4_modes[i].main == main && (main != 4 || px4_modes[i].sub == sub)) {
                snprintf(out, cap, "%s", px4_modes[i].name);
                return out;
            }
        }
        snprintf(out, cap, "PX4(%u.%u)", main, sub);
        return out;
    }
    if (autopilot == AE_MAV_AUTOPILOT_ARDUPILOTMEGA) {
        size_t n;
        const num_mode *t = ardu_table(mav_type, &n);
        for (size_t i = 0; i < n; i++) {
            if (t[i].num == custom_mode) {
                snprintf(out, cap, "%s", t[i].name);
                return out;
            }
        }
    }
    snprintf(out, cap, "CUSTOM(%u)", (unsigned)custom_mode);
    return out;
}

int ae_mav_mode_lookup(uint8_t autopilot, uint8_t mav_type, const char *name, float *p2, float *p3,
                       uint32_t *custom_mode)
{
    if (autopilot == AE_MAV_AUTOPILOT_PX4) {
        for (size_t i = 0; i < N(px4_aliases); i++)
            if (strcasecmp(name, px4_aliases[i].alias) == 0)
                name = px4_aliases[i].name;
        for (size_t i = 0; i < N(px4_modes); i++) {
            if (strcasecmp(name, px4_modes[i].name) == 0) {
                *p2 = px4_modes[i].main;
                *p3 = px4_modes[i].sub;
                *custom_mode = (uint32_t)px4_modes[i].main << 16 | (uint32_t)px4_modes[i].sub << 24;
                return 0;
            }
        }
        return AE_ENOENT;
    }
    if (autopilot == AE_MAV_AUTOPILOT_ARDUPILOTMEGA) {
        size_t n;
        const num_mode *t = ardu_table(mav_type, &n);
        for (size_t i = 0; i < n; i++) {
            if (strcasecmp(name, t[i].name) == 0) {
                *p2 = (float)t[i].num;
                *p3 = 0;
                *custom_mode = t[i].num;
                return 0;
            }
        }
        return AE_ENOENT;
    }
    return AE_EINVAL;
}

/* Appends ", s" (or "s" first); false once out is full. */
static bool add_name(char *out, size_t cap, size_t *used, const char *s)
{
    int w = snprintf(out + *used, cap - *used, "%s%s", *used ? ", " : "", s);
    if (w < 0 || (size_t)w >= cap - *used)
        return false;
    *used += (size_t)w;
    return true;
}

const char *ae_mav_mode_list(uint8_t autopilot, uint8_t mav_type, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    if (autopilot == AE_MAV_AUTOPILOT_PX4) {
        for (size_t i = 0; i < N(px4_modes) && add_name(out, cap, &used, px4_modes[i].name); i++)
            ;
        for (size_t i = 0; i < N(px4_aliases) && add_name(out, cap, &used, px4_aliases[i].alias);
             i++)
            ;
    } else if (autopilot == AE_MAV_AUTOPILOT_ARDUPILOTMEGA) {
        size_t n;
        const num_mode *t = ardu_table(mav_type, &n);
        for (size_t i = 0; i < n && add_name(out, cap, &used, t[i].name); i++)
            ;
    }
    return out;
}

#define NAME_OR_UNKNOWN(arr, v) ((size_t)(v) < N(arr) && (arr)[v] ? (arr)[v] : "UNKNOWN")

const char *ae_mav_state_name(uint8_t s)
{
    static const char *const names[] = {"UNINIT",    "BOOT",     "CALIBRATING",
                                        "STANDBY",   "ACTIVE",   "CRITICAL",
                                        "EMERGENCY", "POWEROFF", "FLIGHT_TERMINATION"};
    return NAME_OR_UNKNOWN(names, s);
}

const char *ae_mav_autopilot_name(uint8_t a)
{
    switch (a) {
    case 0:
        return "GENERIC";
    case AE_MAV_AUTOPILOT_ARDUPILOTMEGA:
        return "ARDUPILOT";
    case AE_MAV_AUTOPILOT_INVALID:
        return "NONE";
    case AE_MAV_AUTOPILOT_PX4:
        return "PX4";
    default:
        return "OTHER";
    }
}

const char *ae_mav_type_name(uint8_t t)
{
    static const char *const names[] = {"GENERIC",
                                        "FIXED_WING",
                                        "QUADROTOR",
                                        "COAXIAL",
                                        "HELICOPTER",
                                        "ANTENNA_TRACKER",
                                        "GCS",
                                        "AIRSHIP",
                                        "FREE_BALLOON",
                                        "ROCKET",
                                        "GROUND_ROVER",
                                        "SURFACE_BOAT",
                                        "SUBMARINE",
                                        "HEXAROTOR",
                                        "OCTOROTOR",
                                        "TRICOPTER",
                                        "FLAPPING_WING",
                                        "KITE",
                                        "ONBOARD_CONTROLLER",
                                        "VTOL_TAILSITTER_DUOROTOR",
                                        "VTOL_TAILSITTER_QUADROTOR",
                                        "VTOL_TILTROTOR",
                                        "VTOL_FIXEDROTOR",
                                        "VTOL_TAILSITTER",
                                        "VTOL_TILTWING",
                                        "VTOL_RESERVED5",
                                        "GIMBAL",
                                        "ADSB",
                                        "PARAFOIL",
                                        "DODECAROTOR",
                                        "CAMERA",
                                        "CHARGING_STATION",
                                        "FLARM",
                                        "SERVO",
                                        "ODID",
                                        "DECAROTOR",
                                        "BATTERY",
                                        "PARACHUTE",
                                        "LOG",
                                        "OSD",
                                        "IMU",
                                        "GPS",
                                        "WINCH",
                                        "GENERIC_MULTIROTOR"};
    return NAME_OR_UNKNOWN(names, t);
}

const char *ae_mav_fix_type_name(uint8_t f)
{
    static const char *const names[] = {"NO_GPS",    "NO_FIX",    "2D_FIX", "3D_FIX", "DGPS",
                                        "RTK_FLOAT", "RTK_FIXED", "STATIC", "PPP"};
    return NAME_OR_UNKNOWN(names, f);
}

const char *ae_mav_landed_state_name(uint8_t s)
{
    static const char *const names[] = {"UNDEFINED", "ON_GROUND", "IN_AIR", "TAKEOFF", "LANDING"};
    return NAME_OR_UNKNOWN(names, s);
}

const char *ae_mav_severity_name(uint8_t s)
{
    static const char *const names[] = {"EMERGENCY", "ALERT",  "CRITICAL", "ERROR",
                                        "WARNING",   "NOTICE", "INFO",     "DEBUG"};
    return NAME_OR_UNKNOWN(names, s);
}

const char *ae_mav_result_name(uint8_t r)
{
    static const char *const names[] = {
        "accepted",         "temporarily_rejected",  "denied",        "unsupported",
        "failed",           "in_progress",           "cancelled",     "command_long_only",
        "command_int_only", "unsupported_mav_frame", "not_in_control"};
    return (size_t)r < N(names) ? names[r] : "unknown";
}
