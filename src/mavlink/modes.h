/* Flight modes: turning HEARTBEAT.custom_mode into a name and a name into DO_SET_MODE
 * parameters, for PX4 and ArduPilot (Copter and Plane), plus names for the MAVLink enums the
 * telemetry JSON shows as text.
 *
 * PX4 packs main mode in bits 16-23 and sub mode in bits 24-31 of custom_mode; ArduPilot uses
 * a plain number whose meaning depends on the vehicle type. Names are upper-case as the
 * autopilots' own tools print them ("POSCTL", "AUTO.MISSION"; "GUIDED", "RTL"). */
#ifndef AERIE_MAVLINK_MODES_H
#define AERIE_MAVLINK_MODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the mode name for (autopilot, vehicle type, custom_mode) into out (NUL-terminated,
 * at most cap bytes). Unknown combinations come out as "CUSTOM(<n>)" or "PX4(<main>.<sub>)".
 * Returns out. */
const char *ae_mav_mode_name(uint8_t autopilot, uint8_t mav_type, uint32_t custom_mode, char *out,
                             size_t cap);

/* Finds DO_SET_MODE parameters for a mode name (case-insensitive) on the given autopilot and
 * vehicle type: *p2 = custom mode / main mode, *p3 = sub mode (0 for ArduPilot), and
 * *custom_mode = the HEARTBEAT custom_mode the vehicle will report.
 * Returns 0, or AE_ENOENT when the name is not a mode of that autopilot, AE_EINVAL when the
 * autopilot is neither PX4 nor ArduPilot. */
int ae_mav_mode_lookup(uint8_t autopilot, uint8_t mav_type, const char *name, float *p2, float *p3,
                       uint32_t *custom_mode);

/* Writes a comma-separated list of the mode names valid for the autopilot (for error
 * messages). Returns out. */
const char *ae_mav_mode_list(uint8_t autopilot, uint8_t mav_type, char *out, size_t cap);

/* True for the fixed-wing MAV_TYPEs whose ArduPilot modes are Plane's. */
bool ae_mav_type_is_plane(uint8_t mav_type);

/* Enum names (static strings; "UNKNOWN" for values out of range). */
const char *ae_mav_state_name(uint8_t system_status); /* MAV_STATE: "STANDBY" */
const char *ae_mav_autopilot_name(uint8_t autopilot); /* "PX4", "ARDUPILOT", ... */
const char *ae_mav_type_name(uint8_t type);           /* "QUADROTOR", ... */
const char *ae_mav_fix_type_name(uint8_t fix);        /* "3D_FIX" */
const char *ae_mav_landed_state_name(uint8_t s);      /* "IN_AIR" */
const char *ae_mav_severity_name(uint8_t sev);        /* "WARNING" */
const char *ae_mav_result_name(uint8_t result);       /* "accepted", "denied", ... */

#endif
