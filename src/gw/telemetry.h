/* Telemetry documents: MAVLink messages rendered as the JSON payloads of docs/subjects.md, in
 * SI units, with the vehicle's own timestamp and the gateway's receive time.
 *
 * These are pure functions over decoded messages, written with snprintf into a caller's
 * buffer (no allocation: this is the hot path between the autopilot and the subscriber).
 * Unknown values ("not reported" sentinels, NaN) become JSON null. */
#ifndef AERIE_GW_TELEMETRY_H
#define AERIE_GW_TELEMETRY_H

#include "mavlink/messages.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where and when a message came from. */
typedef struct ae_gw_stamp {
    const char *vid;
    uint8_t sysid, compid;
    bool has_boot_ms; /* the message carries time_boot_ms (or time since boot) */
    uint32_t boot_ms;
    bool has_utc;   /* vehicle UTC known: from the message itself or SYSTEM_TIME */
    int64_t utc_ns; /* vehicle time as Unix ns */
    int64_t rx_ns;  /* gateway receive time, Unix ns */
} ae_gw_stamp;

/* A small append-only text buffer over caller memory. Once full, further appends are
 * dropped and `overflow` is set; the document is then not published. */
typedef struct ae_gw_buf {
    char *p;
    size_t cap, len;
    bool overflow;
} ae_gw_buf;

/* What state.status and the events summarise from HEARTBEAT and friends. */
typedef struct ae_gw_vstate {
    bool have_hb;
    ae_mav_heartbeat hb;
    char mode[40];
    bool link_ok;
    bool have_sys;
    ae_mav_sys_status sys;
    bool have_ext;
    ae_mav_extended_sys_state ext;
    bool have_mission;
    uint16_t mission_seq;
    uint64_t frames, lost; /* from the autopilot, as counted by the parser */
} ae_gw_vstate;

/* Each renders the document for one message; returns the length or -1 when cap is too
 * small. */
int ae_gw_json_position(char *out, size_t cap, const ae_gw_stamp *ts,
                        const ae_mav_global_position_int *m);
int ae_gw_json_attitude(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_attitude *m);
int ae_gw_json_battery(char *out, size_t cap, const ae_gw_stamp *ts,
                       const ae_mav_battery_status *m);
int ae_gw_json_gps(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_gps_raw_int *m);
int ae_gw_json_home(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_home_position *m);
int ae_gw_json_heartbeat(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_heartbeat *m,
                         const char *mode);
int ae_gw_json_status(char *out, size_t cap, const ae_gw_stamp *ts, const ae_gw_vstate *v);
int ae_gw_json_statustext(char *out, size_t cap, const ae_gw_stamp *ts, const ae_mav_statustext *m);
/* event.armed / event.disarmed / event.mode / event.link. `prev_mode` may be NULL. */
int ae_gw_json_event(char *out, size_t cap, const ae_gw_stamp *ts, const char *what,
                     const ae_gw_vstate *v, const char *prev_mode, double silent_s);

/* Helpers shared with the command replies. */
void ae_gw_buf_init(ae_gw_buf *b, char *p, size_t cap);
void ae_gw_buf_printf(ae_gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes and escapes included). */
void ae_gw_buf_str(ae_gw_buf *b, const char *s);
/* Appends ,"key":value with %.*f precision, or null for NaN/inf. */
void ae_gw_buf_num(ae_gw_buf *b, const char *key, double v, int prec);

#endif
