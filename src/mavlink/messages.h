/* The MAVLink messages the gateway understands, as C structs, plus a field table per message
 * that says where each field sits on the wire.
 *
 * One table drives everything: packing a struct into a payload, unpacking a (possibly
 * truncated) payload into a struct with zero-extension, and looking fields up by name (the
 * golden-vector tests compare every field by its XML name). Wire offsets, CRC_EXTRA and the
 * base/full lengths come from the MAVLink XML (see docs/gateway.md); they are facts of the
 * protocol, written out here by hand rather than generated at build time.
 *
 * Structs hold host-order values in the field's own C type; `char[N]` fields get one extra
 * byte so the text is always NUL-terminated after unpacking. */
#ifndef AERIE_MAVLINK_MESSAGES_H
#define AERIE_MAVLINK_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    AE_MAV_MSG_HEARTBEAT = 0,
    AE_MAV_MSG_SYS_STATUS = 1,
    AE_MAV_MSG_SYSTEM_TIME = 2,
    AE_MAV_MSG_GPS_RAW_INT = 24,
    AE_MAV_MSG_ATTITUDE = 30,
    AE_MAV_MSG_LOCAL_POSITION_NED = 32,
    AE_MAV_MSG_GLOBAL_POSITION_INT = 33,
    AE_MAV_MSG_MISSION_CURRENT = 42,
    AE_MAV_MSG_VFR_HUD = 74,
    AE_MAV_MSG_COMMAND_LONG = 76,
    AE_MAV_MSG_COMMAND_ACK = 77,
    AE_MAV_MSG_BATTERY_STATUS = 147,
    AE_MAV_MSG_HOME_POSITION = 242,
    AE_MAV_MSG_EXTENDED_SYS_STATE = 245,
    AE_MAV_MSG_STATUSTEXT = 253,
};

/* MAV_CMD ids the gateway sends. */
enum {
    AE_MAV_CMD_NAV_RETURN_TO_LAUNCH = 20,
    AE_MAV_CMD_NAV_LAND = 21,
    AE_MAV_CMD_NAV_TAKEOFF = 22,
    AE_MAV_CMD_DO_SET_MODE = 176,
    AE_MAV_CMD_DO_REPOSITION = 192,
    AE_MAV_CMD_COMPONENT_ARM_DISARM = 400,
};

/* MAV_RESULT values carried by COMMAND_ACK. */
enum {
    AE_MAV_RESULT_ACCEPTED = 0,
    AE_MAV_RESULT_TEMPORARILY_REJECTED = 1,
    AE_MAV_RESULT_DENIED = 2,
    AE_MAV_RESULT_UNSUPPORTED = 3,
    AE_MAV_RESULT_FAILED = 4,
    AE_MAV_RESULT_IN_PROGRESS = 5,
    AE_MAV_RESULT_CANCELLED = 6,
};

#define AE_MAV_MODE_FLAG_SAFETY_ARMED        0x80
#define AE_MAV_MODE_FLAG_CUSTOM_MODE_ENABLED 0x01
#define AE_MAV_AUTOPILOT_ARDUPILOTMEGA       3
#define AE_MAV_AUTOPILOT_INVALID             8
#define AE_MAV_AUTOPILOT_PX4                 12
#define AE_MAV_TYPE_GCS                      6

typedef struct ae_mav_heartbeat {
    uint32_t custom_mode;
    uint8_t type, autopilot, base_mode, system_status, mavlink_version;
} ae_mav_heartbeat;

typedef struct ae_mav_sys_status {
    uint32_t onboard_control_sensors_present, onboard_control_sensors_enabled,
        onboard_control_sensors_health;
    uint16_t load, voltage_battery;
    int16_t current_battery;
    uint16_t drop_rate_comm, errors_comm, errors_count1, errors_count2, errors_count3,
        errors_count4;
    int8_t battery_remaining;
    uint32_t onboard_control_sensors_present_extended, onboard_control_sensors_enabled_extended,
        onboard_control_sensors_health_extended;
} ae_mav_sys_status;

typedef struct ae_mav_system_time {
    uint64_t time_unix_usec;
    uint32_t time_boot_ms;
} ae_mav_system_time;

typedef struct ae_mav_gps_raw_int {
    uint64_t time_usec;
    int32_t lat, lon, alt;
    uint16_t eph, epv, vel, cog;
    uint8_t fix_type, satellites_visible;
    int32_t alt_ellipsoid;
    uint32_t h_acc, v_acc, vel_acc, hdg_acc;
    uint16_t yaw;
} ae_mav_gps_raw_int;

typedef struct ae_mav_attitude {
    uint32_t time_boot_ms;
    float roll, pitch, yaw, rollspeed, pitchspeed, yawspeed;
} ae_mav_attitude;

typedef struct ae_mav_local_position_ned {
    uint32_t time_boot_ms;
    float x, y, z, vx, vy, vz;
} ae_mav_local_position_ned;

typedef struct ae_mav_global_position_int {
    uint32_t time_boot_ms;
    int32_t lat, lon, alt, relative_alt;
    int16_t vx, vy, vz;
    uint16_t hdg;
} ae_mav_global_position_int;

typedef struct ae_mav_mission_current {
    uint16_t seq, total;
    uint8_t mission_state, mission_mode;
    uint32_t mission_id, fence_id, rally_points_id;
} ae_mav_mission_current;

typedef struct ae_mav_vfr_hud {
    float airspeed, groundspeed, alt, climb;
    int16_t heading;
    uint16_t throttle;
} ae_mav_vfr_hud;

typedef struct ae_mav_command_long {
    float param1, param2, param3, param4, param5, param6, param7;
    uint16_t command;
    uint8_t target_system, target_component, confirmation;
} ae_mav_command_long;

typedef struct ae_mav_command_ack {
    uint16_t command;
    uint8_t result, progress;
    int32_t result_param2;
    uint8_t target_system, target_component;
} ae_mav_command_ack;

typedef struct ae_mav_battery_status {
    int32_t current_consumed, energy_consumed;
    int16_t temperature;
    uint16_t voltages[10];
    int16_t current_battery;
    uint8_t id, battery_function, type;
    int8_t battery_remaining;
    int32_t time_remaining;
    uint8_t charge_state;
    uint16_t voltages_ext[4];
    uint8_t mode;
    uint32_t fault_bitmask;
} ae_mav_battery_status;

typedef struct ae_mav_home_position {
    int32_t latitude, longitude, altitude;
    float x, y, z;
    float q[4];
    float approach_x, approach_y, approach_z;
    uint64_t time_usec;
} ae_mav_home_position;

typedef struct ae_mav_extended_sys_state {
    uint8_t vtol_state, landed_state;
} ae_mav_extended_sys_state;

typedef struct ae_mav_statustext {
    uint8_t severity;
    char text[51]; /* 50 on the wire + our NUL */
    uint16_t id;
    uint8_t chunk_seq;
} ae_mav_statustext;

/* ---- the field tables ------------------------------------------------------------------- */

typedef enum ae_mav_type {
    AE_MAV_T_U8,
    AE_MAV_T_I8,
    AE_MAV_T_CHAR,
    AE_MAV_T_U16,
    AE_MAV_T_I16,
    AE_MAV_T_U32,
    AE_MAV_T_I32,
    AE_MAV_T_FLOAT,
    AE_MAV_T_U64,
    AE_MAV_T_I64,
    AE_MAV_T_DOUBLE,
} ae_mav_type;

typedef struct ae_mav_field {
    const char *name; /* the XML field name */
    ae_mav_type type; /* element type */
    uint8_t count;    /* 1, or the array length */
    uint8_t wire_off; /* byte offset in the full payload (wire order) */
    uint16_t c_off;   /* offsetof() in the struct */
    bool ext;         /* an extension field (not in MAVLink 1, not in CRC_EXTRA) */
} ae_mav_field;

typedef struct ae_mav_msginfo {
    uint32_t msgid;
    const char *name; /* the XML message name, "HEARTBEAT" */
    uint8_t crc_extra;
    uint8_t base_len;           /* payload length of the base fields (the MAVLink 1 length) */
    uint8_t full_len;           /* with extensions: the zero-extension target */
    size_t struct_size;         /* sizeof the ae_mav_* struct */
    const ae_mav_field *fields; /* in wire order */
    uint8_t nfields;
} ae_mav_msginfo;

/* The table entry for `msgid`, or NULL when the message is not one we know. Static data. */
const ae_mav_msginfo *ae_mav_msginfo_get(uint32_t msgid);
/* All entries, for iteration; *n receives the count. */
const ae_mav_msginfo *ae_mav_msginfo_all(size_t *n);
/* The field named `name` of `mi`, or NULL. */
const ae_mav_field *ae_mav_field_get(const ae_mav_msginfo *mi, const char *name);
/* Size in bytes of one element of type t. */
size_t ae_mav_type_size(ae_mav_type t);

/* Unpacks `len` payload bytes (as received; any length) into the struct `msg` of
 * mi->struct_size bytes: bytes beyond `len` read as zero, bytes beyond full_len are ignored.
 * Text fields are NUL-terminated. Never fails. */
void ae_mav_unpack(const ae_mav_msginfo *mi, const uint8_t *payload, size_t len, void *msg);
/* Packs the struct `msg` into `payload` (at least mi->full_len bytes) in wire order, base and
 * extension fields. Returns mi->full_len (truncation is the frame encoder's job). */
size_t ae_mav_pack(const ae_mav_msginfo *mi, const void *msg, uint8_t *payload);

#endif
