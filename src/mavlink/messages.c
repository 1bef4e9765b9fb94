/* Field tables for the gateway's fifteen MAVLink messages and the table-driven pack/unpack.
 *
 * Offsets are in wire order (base fields sorted by element size, stable; extensions appended
 * in XML order). CRC_EXTRA values and lengths are those of the MAVLink XML at the snapshot
 * named in docs/gateway.md; the golden-vector tests prove every entry against an independent
 * encoder. All data here is constant. */
#include "mavlink/messages.h"

#include <string.h>

#define F(S, NAME, T, N, OFF, EXT)                                                                 \
    {                                                                                              \
#NAME, AE_MAV_T_##T, N, OFF, (uint16_t)offsetof(S, NAME), EXT                              \
    }

static const ae_mav_field heartbeat_f[] = {
    F(ae_mav_heartbeat, custom_mode, U32, 1, 0, false),
    F(ae_mav_heartbeat, type, U8, 1, 4, false),
    F(ae_mav_heartbeat, autopilot, U8, 1, 5, false),
    F(ae_mav_heartbeat, base_mode, U8, 1, 6, false),
    F(ae_mav_heartbeat, system_status, U8, 1, 7, false),
    F(ae_mav_heartbeat, mavlink_version, U8, 1, 8, false),
};

static const ae_mav_field sys_status_f[] = {
    F(ae_mav_sys_status, onboard_control_sensors_present, U32, 1, 0, false),
    F(ae_mav_sys_status, onboard_control_sensors_enabled, U32, 1, 4, false),
    F(ae_mav_sys_status, onboard_control_sensors_health, U32, 1, 8, false),
    F(ae_mav_sys_status, load, U16, 1, 12, false),
    F(ae_mav_sys_status, voltage_battery, U16, 1, 14, false),
    F(ae_mav_sys_status, current_battery, I16, 1, 16, false),
    F(ae_mav_sys_status, drop_rate_comm, U16, 1, 18, false),
    F(ae_mav_sys_status, errors_comm, U16, 1, 20, false),
    F(ae_mav_sys_status, errors_count1, U16, 1, 22, false),
    F(ae_mav_sys_status, errors_count2, U16, 1, 24, false),
    F(ae_mav_sys_status, errors_count3, U16, 1, 26, false),
    F(ae_mav_sys_status, errors_count4, U16, 1, 28, false),
    F(ae_mav_sys_status, battery_remaining, I8, 1, 30, false),
    F(ae_mav_sys_status, onboard_control_sensors_present_extended, U32, 1, 31, true),
    F(ae_mav_sys_status, onboard_control_sensors_enabled_extended, U32, 1, 35, true),
    F(ae_mav_sys_status, onboard_control_sensors_health_extended, U32, 1, 39, true),
};

static const ae_mav_field system_time_f[] = {
    F(ae_mav_system_time, time_unix_usec, U64, 1, 0, false),
    F(ae_mav_system_time, time_boot_ms, U32, 1, 8, false),
};

static const ae_mav_field gps_raw_int_f[] = {
    F(ae_mav_gps_raw_int, time_usec, U64, 1, 0, false),
    F(ae_mav_gps_raw_int, lat, I32, 1, 8, false),
    F(ae_mav_gps_raw_int, lon, I32, 1, 12, false),
    F(ae_mav_gps_raw_int, alt, I32, 1, 16, false),
    F(ae_mav_gps_raw_int, eph, U16, 1, 20, false),
    F(ae_mav_gps_raw_int, epv, U16, 1, 22, false),
    F(ae_mav_gps_raw_int, vel, U16, 1, 24, false),
    F(ae_mav_gps_raw_int, cog, U16, 1, 26, false),
    F(ae_mav_gps_raw_int, fix_type, U8, 1, 28, false),
    F(ae_mav_gps_raw_int, satellites_visible, U8, 1, 29, false),
    F(ae_mav_gps_raw_int, alt_ellipsoid, I32, 1, 30, true),
    F(ae_mav_gps_raw_int, h_acc, U32, 1, 34, true),
    F(ae_mav_gps_raw_int, v_acc, U32, 1, 38, true),
    F(ae_mav_gps_raw_int, vel_acc, U32, 1, 42, true),
    F(ae_mav_gps_raw_int, hdg_acc, U32, 1, 46, true),
    F(ae_mav_gps_raw_int, yaw, U16, 1, 50, true),
};

static const ae_mav_field attitude_f[] = {
    F(ae_mav_attitude, time_boot_ms, U32, 1, 0, false),
    F(ae_mav_attitude, roll, FLOAT, 1, 4, false),
    F(ae_mav_attitude, pitch, FLOAT, 1, 8, false),
    F(ae_mav_attitude, yaw, FLOAT, 1, 12, false),
    F(ae_mav_attitude, rollspeed, FLOAT, 1, 16, false),
    F(ae_mav_attitude, pitchspeed, FLOAT, 1, 20, false),
    F(ae_mav_attitude, yawspeed, FLOAT, 1, 24, false),
};

static const ae_mav_field local_position_ned_f[] = {
    F(ae_mav_local_position_ned, time_boot_ms, U32, 1, 0, false),
    F(ae_mav_local_position_ned, x, FLOAT, 1, 4, false),
    F(ae_mav_local_position_ned, y, FLOAT, 1, 8, false),
    F(ae_mav_local_position_ned, z, FLOAT, 1, 12, false),
    F(ae_mav_local_position_ned, vx, FLOAT, 1, 16, false),
    F(ae_mav_local_position_ned, vy, FLOAT, 1, 20, false),
    F(ae_mav_local_position_ned, vz, FLOAT, 1, 24, false),
};

static const ae_mav_field global_position_int_f[] = {
    F(ae_mav_global_position_int, time_boot_ms, U32, 1, 0, false),
    F(ae_mav_global_position_int, lat, I32, 1, 4, false),
    F(ae_mav_global_position_int, lon, I32, 1, 8, false),
    F(ae_mav_global_position_int, alt, I32, 1, 12, false),
    F(ae_mav_global_position_int, relative_alt, I32, 1, 16, false),
    F(ae_mav_global_position_int, vx, I16, 1, 20, false),
    F(ae_mav_global_position_int, vy, I16, 1, 22, false),
    F(ae_mav_global_position_int, vz, I16, 1, 24, false),
    F(ae_mav_global_position_int, hdg, U16, 1, 26, false),
};

static const ae_mav_field mission_current_f[] = {
    F(ae_mav_mission_current, seq, U16, 1, 0, false),
    F(ae_mav_mission_current, total, U16, 1, 2, true),
    F(ae_mav_mission_current, mission_state, U8, 1, 4, true),
    F(ae_mav_mission_current, mission_mode, U8, 1, 5, true),
    F(ae_mav_mission_current, mission_id, U32, 1, 6, true),
    F(ae_mav_mission_current, fence_id, U32, 1, 10, true),
    F(ae_mav_mission_current, rally_points_id, U32, 1, 14, true),
};

static const ae_mav_field vfr_hud_f[] = {
    F(ae_mav_vfr_hud, airspeed, FLOAT, 1, 0, false),
    F(ae_mav_vfr_hud, groundspeed, FLOAT, 1, 4, false),
    F(ae_mav_vfr_hud, alt, FLOAT, 1, 8, false),
    F(ae_mav_vfr_hud, climb, FLOAT, 1, 12, false),
    F(ae_mav_vfr_hud, heading, I16, 1, 16, false),
    F(ae_mav_vfr_hud, throttle, U16, 1, 18, false),
};

static const ae_mav_field command_long_f[] = {
    F(ae_mav_command_long, param1, FLOAT, 1, 0, false),
    F(ae_mav_command_long, param2, FLOAT, 1, 4, false),
    F(ae_mav_command_long, param3, FLOAT, 1, 8, false),
    F(ae_mav_command_long, param4, FLOAT, 1, 12, false),
    F(ae_mav_command_long, param5, FLOAT, 1, 16, false),
    F(ae_mav_command_long, param6, FLOAT, 1, 20, false),
    F(ae_mav_command_long, param7, FLOAT, 1, 24, false),
    F(ae_mav_command_long, command, U16, 1, 28, false),
    F(ae_mav_command_long, target_system, U8, 1, 30, false),
    F(ae_mav_command_long, target_component, U8, 1, 31, false),
    F(ae_mav_command_long, confirmation, U8, 1, 32, false),
};

static const ae_mav_field command_ack_f[] = {
    F(ae_mav_command_ack, command, U16, 1, 0, false),
    F(ae_mav_command_ack, result, U8, 1, 2, false),
    F(ae_mav_command_ack, progress, U8, 1, 3, true),
    F(ae_mav_command_ack, result_param2, I32, 1, 4, true),
    F(ae_mav_command_ack, target_system, U8, 1, 8, true),
    F(ae_mav_command_ack, target_component, U8, 1, 9, true),
};

static const ae_mav_field battery_status_f[] = {
    F(ae_mav_battery_status, current_consumed, I32, 1, 0, false),
    F(ae_mav_battery_status, energy_consumed, I32, 1, 4, false),
    F(ae_mav_battery_status, temperature, I16, 1, 8, false),
    F(ae_mav_battery_status, voltages, U16, 10, 10, false),
    F(ae_mav_battery_status, current_battery, I16, 1, 30, false),
    F(ae_mav_battery_status, id, U8, 1, 32, false),
    F(ae_mav_battery_status, battery_function, U8, 1, 33, false),
    F(ae_mav_battery_status, type, U8, 1, 34, false),
    F(ae_mav_battery_status, battery_remaining, I8, 1, 35, false),
    F(ae_mav_battery_status, time_remaining, I32, 1, 36, true),
    F(ae_mav_battery_status, charge_state, U8, 1, 40, true),
    F(ae_mav_battery_status, voltages_ext, U16, 4, 41, true),
    F(ae_mav_battery_status, mode, U8, 1, 49, true),
    F(ae_mav_battery_status, fault_bitmask, U32, 1, 50, true),
};

static const ae_mav_field home_position_f[] = {
    F(ae_mav_home_position, latitude, I32, 1, 0, false),
    F(ae_mav_home_position, longitude, I32, 1, 4, false),
    F(ae_mav_home_position, altitude, I32, 1, 8, false),
    F(ae_mav_home_position, x, FLOAT, 1, 12, false),
    F(ae_mav_home_position, y, FLOAT, 1, 16, false),
    F(ae_mav_home_position, z, FLOAT, 1, 20, false),
    F(ae_mav_home_position, q, FLOAT, 4, 24, false),
    F(ae_mav_home_position, approach_x, FLOAT, 1, 40, false),
    F(ae_mav_home_position, approach_y, FLOAT, 1, 44, false),
    F(ae_mav_home_position, approach_z, FLOAT, 1, 48, false),
    F(ae_mav_home_position, time_usec, U64, 1, 52, true),
};

static const ae_mav_field extended_sys_state_f[] = {
    F(ae_mav_extended_sys_state, vtol_state, U8, 1, 0, false),
    F(ae_mav_extended_sys_state, landed_state, U8, 1, 1, false),
};

static const ae_mav_field statustext_f[] = {
    F(ae_mav_statustext, severity, U8, 1, 0, false),
    F(ae_mav_statustext, text, CHAR, 50, 1, false),
    F(ae_mav_statustext, id, U16, 1, 51, true),
    F(ae_mav_statustext, chunk_seq, U8, 1, 53, true),
};

#define M(ID, NAME, EXTRA, BASE, FULL, S, FIELDS)                                                  \
    {                                                                                              \
        ID, NAME, EXTRA, BASE, FULL, sizeof(S), FIELDS,                                            \
            (uint8_t)(sizeof(FIELDS) / sizeof(FIELDS[0]))                                          \
    }

/* Sorted by msgid. */
static const ae_mav_msginfo table[] = {
    M(0, "HEARTBEAT", 50, 9, 9, ae_mav_heartbeat, heartbeat_f),
    M(1, "SYS_STATUS", 124, 31, 43, ae_mav_sys_status, sys_status_f),
    M(2, "SYSTEM_TIME", 137, 12, 12, ae_mav_system_time, system_time_f),
    M(24, "GPS_RAW_INT", 24, 30, 52, ae_mav_gps_raw_int, gps_raw_int_f),
    M(30, "ATTITUDE", 39, 28, 28, ae_mav_attitude, attitude_f),
    M(32, "LOCAL_POSITION_NED", 185, 28, 28, ae_mav_local_position_ned, local_position_ned_f),
    M(33, "GLOBAL_POSITION_INT", 104, 28, 28, ae_mav_global_position_int, global_position_int_f),
    M(42, "MISSION_CURRENT", 28, 2, 18, ae_mav_mission_current, mission_current_f),
    M(74, "VFR_HUD", 20, 20, 20, ae_mav_vfr_hud, vfr_hud_f),
    M(76, "COMMAND_LONG", 152, 33, 33, ae_mav_command_long, command_long_f),
    M(77, "COMMAND_ACK", 143, 3, 10, ae_mav_command_ack, command_ack_f),
    M(147, "BATTERY_STATUS", 154, 36, 54, ae_mav_battery_status, battery_status_f),
    M(242, "HOME_POSITION", 104, 52, 60, ae_mav_home_position, home_position_f),
    M(245, "EXTENDED_SYS_STATE", 130, 2, 2, ae_mav_extended_sys_state, extended_sys_state_f),
    M(253, "STATUSTEXT", 83, 51, 54, ae_mav_statustext, statustext_f),
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

const ae_mav_msginfo *ae_mav_msginfo_get(uint32_t msgid)
{
    /* Fifteen entries: a linear scan over a cache-resident array beats anything cleverer,
     * and the common ids are at the front. */
    for (size_t i = 0; i < NTABLE; i++)
        if (table[i].msgid == msgid)
            return &table[i];
    return NULL;
}

const ae_mav_msginfo *ae_mav_msginfo_all(size_t *n)
{
    *n = NTABLE;
    return table;
}

const ae_mav_field *ae_mav_field_get(const ae_mav_msginfo *mi, const char *name)
{
    for (uint8_t i = 0; i < mi->nfields; i++)
        if (strcmp(mi->fields[i].name, name) == 0)
            return &mi->fields[i];
    return NULL;
}

size_t ae_mav_type_size(ae_mav_type t)
{
    switch (t) {
    case AE_MAV_T_U8:
    case AE_MAV_T_I8:
    case AE_MAV_T_CHAR:
        return 1;
    case AE_MAV_T_U16:
    case AE_MAV_T_I16:
        return 2;
    case AE_MAV_T_U32:
    case AE_MAV_T_I32:
    case AE_MAV_T_FLOAT:
        return 4;
    case AE_MAV_T_U64:
    case AE_MAV_T_I64:
    case AE_MAV_T_DOUBLE:
        return 8;
    }
    return 0;
}

/* The wire is little-endian; so is every host we build for (x86-64, aarch64), but spell the
 * byte order out so a big-endian port fails loudly in the golden tests rather than silently. */
static void copy_le(uint8_t *dst, const uint8_t *src, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++)
        dst[i] = src[n - 1 - i];
#else
    memcpy(dst, src, n);
#endif
}

void ae_mav_unpack(const ae_mav_msginfo *mi, const uint8_t *payload, size_t len, void *msg)
{
    uint8_t full[256];
    size_t n = len < mi->full_len ? len : mi->full_len;
    memcpy(full, payload, n);
    memset(full + n, 0, mi->full_len - n);
    memset(msg, 0, mi->struct_size);
    uint8_t *out = msg;
    for (uint8_t i = 0; i < mi->nfields; i++) {
        const ae_mav_field *f = &mi->fields[i];
        size_t es = ae_mav_type_size(f->type);
        for (uint8_t k = 0; k < f->count; k++)
            copy_le(out + f->c_off + k * es, full + f->wire_off + k * es, es);
    }
}

size_t ae_mav_pack(const ae_mav_msginfo *mi, const void *msg, uint8_t *payload)
{
    const uint8_t *in = msg;
    for (uint8_t i = 0; i < mi->nfields; i++) {
        const ae_mav_field *f = &mi->fields[i];
        size_t es = ae_mav_type_size(f->type);
        for (uint8_t k = 0; k < f->count; k++)
            copy_le(payload + f->wire_off + k * es, in + f->c_off + k * es, es);
    }
    return mi->full_len;
}
