/* Telemetry JSON: unit conversions (degE7 -> degrees, mm -> m, cm/s -> m/s, cdeg -> degrees,
 * mV -> V, cA -> A, mAh -> Ah, hJ -> J, cdegC -> degC) and the common envelope of every
 * document: vid, sysid, compid, time_boot_ms, time_utc, rx_time. */
#include "gw/telemetry.h"

#include "common/timeutil.h"
#include "mavlink/modes.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ae_gw_buf_init(ae_gw_buf *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->overflow = false;
    if (cap)
        p[0] = '\0';
}

void ae_gw_buf_printf(ae_gw_buf *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= b->cap - b->len) {
        b->overflow = true;
        return;
    }
    b->len += (size_t)w;
}

void ae_gw_buf_str(ae_gw_buf *b, const char *s)
{
    ae_gw_buf_printf(b, "\"");
    for (; *s && !b->overflow; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            ae_gw_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f) /* STATUSTEXT is ASCII; anything else is escaped */
            ae_gw_buf_printf(b, "\\u%04x", ch);
        else
            ae_gw_buf_printf(b, "%c", ch);
    }
    ae_gw_buf_printf(b, "\"");
}

void ae_gw_buf_num(ae_gw_buf *b, const char *key, double v, int prec)
{
    if (isfinite(v))
        ae_gw_buf_printf(b, ",\"%s\":%.*f", key, prec, v);
    else
        ae_gw_buf_printf(b, ",\"%s\":null", key);
}

static void envelope(ae_gw_buf *b, const ae_gw_stamp *ts)
{
    char rx[48];
    ae_format_rfc3339(ts->rx_ns, rx, sizeof rx);
    ae_gw_buf_printf(b, "{\"vid\":");
    ae_gw_buf_str(b, ts->vid);
    ae_gw_buf_printf(b, ",\"sysid\":%u,\"compid\":%u", ts->sysid, ts->compid);
    if (ts->has_boot_ms)
        ae_gw_buf_printf(b, ",\"time_boot_ms\":%u", ts->boot_ms);
    else
        ae_gw_buf_printf(b, ",\"time_boot_ms\":null");
    if (ts->has_utc) {
        char utc[48];
        ae_format_rfc3339(ts->utc_ns, utc, sizeof utc);
        ae_gw_buf_printf(b, ",\"time_utc\":\"%s\"", utc);
    } else {
        ae_gw_buf_printf(b, ",\"time_utc\":null");
    }
    ae_gw_buf_printf(b, ",\"rx_time\":\"%s\"", rx);
}

static int finish(ae_gw_buf *b)
{
    ae_gw_buf_printf(b, "}");
    return b->overflow ? -1 : (int)b->len;
}

int ae_gw_json_position(char *out, size_t cap, const ae_gw_stamp *ts,
                        const ae_mav_global_position_int *m)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_num(&b, "lat", m->lat / 1e7, 7);
    ae_gw_buf_num(&b, "lon", m->lon / 1e7, 7);
    ae_gw_buf_num(&b, "alt_msl_m", m->alt / 1e3, 3);
    ae_gw_buf_num(&b, "alt_rel_m", m->relative_alt / 1e3, 3);
    ae_gw_buf_num(&b, "vn_mps", m->vx / 100.0, 2);
    ae_gw_buf_num(&b, "ve_mps", m->vy / 100.0, 2);
    ae_gw_buf_num(&b, "vd_mps", m->vz / 100.0, 2);
    ae_gw_buf_num(&b, "heading_deg", m->hdg == UINT16_MAX ? NAN : m->hdg / 100.0, 2);
    return finish(&b);
}

int ae_gw_json_attitude(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_attitude *m)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_num(&b, "roll_rad", m->roll, 5);
    ae_gw_buf_num(&b, "pitch_rad", m->pitch, 5);
    ae_gw_buf_num(&b, "yaw_rad", m->yaw, 5);
    ae_gw_buf_num(&b, "rollspeed_radps", m->rollspeed, 5);
    ae_gw_buf_num(&b, "pitchspeed_radps", m->pitchspeed, 5);
    ae_gw_buf_num(&b, "yawspeed_radps", m->yawspeed, 5);
    return finish(&b);
}

int ae_gw_json_battery(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_battery_status *m)
{
    static const char *const charge[] = {"UNDEFINED", "OK",     "LOW",       "CRITICAL",
                                         "EMERGENCY", "FAILED", "UNHEALTHY", "CHARGING"};
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_printf(&b, ",\"id\":%u", m->id);
    /* Pack voltage = sum of the reported cells; UINT16_MAX marks unused cells in the base
     * array, 0 in the extension array. */
    double sum = 0;
    int ncells = 0;
    char cells[256];
    ae_gw_buf cb;
    ae_gw_buf_init(&cb, cells, sizeof cells);
    for (int i = 0; i < 14; i++) {
        uint16_t mv = i < 10 ? m->voltages[i] : m->voltages_ext[i - 10];
        if (mv == UINT16_MAX || (i >= 10 && mv == 0))
            continue;
        if (i == 0 && mv == UINT16_MAX - 1)
            continue; /* "cell count unknown, total in voltages_ext" is not used by us */
        sum += mv / 1000.0;
        ae_gw_buf_printf(&cb, "%s%.3f", ncells ? "," : "", mv / 1000.0);
        ncells++;
    }
    ae_gw_buf_num(&b, "voltage_v", ncells ? sum : NAN, 3);
    ae_gw_buf_printf(&b, ",\"cell_voltages_v\":[%s]", cells);
    ae_gw_buf_num(&b, "current_a", m->current_battery == -1 ? NAN : m->current_battery / 100.0, 2);
    ae_gw_buf_num(&b, "consumed_ah", m->current_consumed == -1 ? NAN : m->current_consumed / 1000.0,
                  3);
    ae_gw_buf_num(&b, "energy_j", m->energy_consumed == -1 ? NAN : m->energy_consumed * 100.0, 0);
    ae_gw_buf_num(&b, "temperature_c", m->temperature == INT16_MAX ? NAN : m->temperature / 100.0,
                  2);
    ae_gw_buf_num(&b, "remaining_pct", m->battery_remaining < 0 ? NAN : m->battery_remaining, 0);
    ae_gw_buf_num(&b, "time_remaining_s", m->time_remaining == 0 ? NAN : m->time_remaining, 0);
    ae_gw_buf_printf(&b, ",\"charge_state\":\"%s\"",
                     m->charge_state < 8 ? charge[m->charge_state] : "UNKNOWN");
    return finish(&b);
}

int ae_gw_json_gps(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_gps_raw_int *m)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_printf(&b, ",\"fix_type\":\"%s\"", ae_mav_fix_type_name(m->fix_type));
    if (m->satellites_visible == UINT8_MAX)
        ae_gw_buf_printf(&b, ",\"satellites\":null");
    else
        ae_gw_buf_printf(&b, ",\"satellites\":%u", m->satellites_visible);
    ae_gw_buf_num(&b, "lat", m->lat / 1e7, 7);
    ae_gw_buf_num(&b, "lon", m->lon / 1e7, 7);
    ae_gw_buf_num(&b, "alt_msl_m", m->alt / 1e3, 3);
    ae_gw_buf_num(&b, "hdop", m->eph == UINT16_MAX ? NAN : m->eph / 100.0, 2);
    ae_gw_buf_num(&b, "vdop", m->epv == UINT16_MAX ? NAN : m->epv / 100.0, 2);
    ae_gw_buf_num(&b, "ground_speed_mps", m->vel == UINT16_MAX ? NAN : m->vel / 100.0, 2);
    ae_gw_buf_num(&b, "course_deg", m->cog == UINT16_MAX ? NAN : m->cog / 100.0, 2);
    ae_gw_buf_num(&b, "h_acc_m", m->h_acc ? m->h_acc / 1e3 : NAN, 3);
    ae_gw_buf_num(&b, "v_acc_m", m->v_acc ? m->v_acc / 1e3 : NAN, 3);
    return finish(&b);
}

int ae_gw_json_home(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_home_position *m)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_num(&b, "lat", m->latitude / 1e7, 7);
    ae_gw_buf_num(&b, "lon", m->longitude / 1e7, 7);
    ae_gw_buf_num(&b, "alt_msl_m", m->altitude / 1e3, 3);
    ae_gw_buf_num(&b, "x_m", m->x, 3);
    ae_gw_buf_num(&b, "y_m", m->y, 3);
    ae_gw_buf_num(&b, "z_m", m->z, 3);
    return finish(&b);
}

int ae_gw_json_heartbeat(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_heartbeat *m,
                         const char *mode)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_printf(&b,
                     ",\"type\":\"%s\",\"autopilot\":\"%s\",\"mode\":", ae_mav_type_name(m->type),
                     ae_mav_autopilot_name(m->autopilot));
    ae_gw_buf_str(&b, mode);
    ae_gw_buf_printf(&b,
                     ",\"armed\":%s,\"system_status\":\"%s\",\"base_mode\":%u,"
                     "\"custom_mode\":%u,\"mavlink_version\":%u",
                     (m->base_mode & AE_MAV_MODE_FLAG_SAFETY_ARMED) ? "true" : "false",
                     ae_mav_state_name(m->system_status), m->base_mode, m->custom_mode,
                     m->mavlink_version);
    return finish(&b);
}

int ae_gw_json_status(char *out, size_t cap, const ae_gw_stamp *ts, const ae_gw_vstate *v)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_printf(&b, ",\"autopilot_link\":\"%s\"", v->link_ok ? "ok" : "lost");
    if (v->have_hb) {
        ae_gw_buf_printf(&b, ",\"armed\":%s,\"mode\":",
                         (v->hb.base_mode & AE_MAV_MODE_FLAG_SAFETY_ARMED) ? "true" : "false");
        ae_gw_buf_str(&b, v->mode);
        ae_gw_buf_printf(&b, ",\"system_status\":\"%s\"", ae_mav_state_name(v->hb.system_status));
    } else {
        ae_gw_buf_printf(&b, ",\"armed\":null,\"mode\":null,\"system_status\":null");
    }
    if (v->have_ext)
        ae_gw_buf_printf(&b, ",\"landed_state\":\"%s\"",
                         ae_mav_landed_state_name(v->ext.landed_state));
    else
        ae_gw_buf_printf(&b, ",\"landed_state\":null");
    if (v->have_sys) {
        const ae_mav_sys_status *s = &v->sys;
        uint32_t bad = s->onboard_control_sensors_enabled & ~s->onboard_control_sensors_health;
        ae_gw_buf_num(&b, "load", s->load / 1000.0, 3);
        ae_gw_buf_num(&b, "battery_voltage_v",
                      s->voltage_battery == UINT16_MAX ? NAN : s->voltage_battery / 1000.0, 3);
        ae_gw_buf_num(&b, "battery_current_a",
                      s->current_battery == -1 ? NAN : s->current_battery / 100.0, 2);
        ae_gw_buf_num(&b, "battery_remaining_pct",
                      s->battery_remaining < 0 ? NAN : s->battery_remaining, 0);
        ae_gw_buf_num(&b, "drop_rate_comm", s->drop_rate_comm / 10000.0, 4);
        ae_gw_buf_printf(&b, ",\"sensors_healthy\":%s,\"sensors_unhealthy_mask\":%u",
                         bad ? "false" : "true", bad);
    }
    if (v->have_mission)
        ae_gw_buf_printf(&b, ",\"mission_seq\":%u", v->mission_seq);
    ae_gw_buf_printf(&b, ",\"frames\":%llu,\"frames_lost\":%llu", (unsigned long long)v->frames,
                     (unsigned long long)v->lost);
    return finish(&b);
}

int ae_gw_json_statustext(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_statustext *m)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_printf(&b, ",\"severity\":\"%s\",\"severity_num\":%u,\"text\":",
                     ae_mav_severity_name(m->severity), m->severity);
    ae_gw_buf_str(&b, m->text);
    if (m->id)
        ae_gw_buf_printf(&b, ",\"chunk_id\":%u,\"chunk_seq\":%u", m->id, m->chunk_seq);
    return finish(&b);
}

int ae_gw_json_event(char *out, size_t cap, const ae_gw_stamp *ts, const char *what,
                     const ae_gw_vstate *v, const char *prev_mode, double silent_s)
{
    ae_gw_buf b;
    ae_gw_buf_init(&b, out, cap);
    envelope(&b, ts);
    ae_gw_buf_printf(&b, ",\"event\":\"%s\"", what);
    if (strcmp(what, "link") == 0) {
        ae_gw_buf_printf(&b, ",\"state\":\"%s\"", v->link_ok ? "ok" : "lost");
        ae_gw_buf_num(&b, "silent_s", silent_s, 3);
    }
    if (v->have_hb) {
        ae_gw_buf_printf(&b, ",\"armed\":%s,\"mode\":",
                         (v->hb.base_mode & AE_MAV_MODE_FLAG_SAFETY_ARMED) ? "true" : "false");
        ae_gw_buf_str(&b, v->mode);
    }
    if (prev_mode) {
        ae_gw_buf_printf(&b, ",\"previous_mode\":");
        ae_gw_buf_str(&b, prev_mode);
    }
    return finish(&b);
}
