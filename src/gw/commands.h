/* Fleet commands -> COMMAND_LONG: validating a request's name and JSON arguments and filling
 * the MAVLink command. Pure functions; the gateway loop does the sending, retrying and
 * matching of COMMAND_ACK (gateway.c).
 *
 * Requests (body may be empty for commands without arguments):
 *   arm      {"force": false}
 *   disarm   {"force": false}
 *   takeoff  {"alt_m": 10}                       metres above home
 *   land     {} or {"lat": .., "lon": ..}
 *   rtl      {}
 *   mode     {"mode": "POSCTL"}                  names per autopilot, see modes.h
 *   goto     {"lat": .., "lon": .., "alt_m": .., "speed_mps": ..}   alt above home
 * Altitudes are above home for the operator; PX4 takes NAV_TAKEOFF/DO_REPOSITION altitudes
 * as AMSL, so for PX4 the home altitude is added (and home must be known). */
#ifndef AERIE_GW_COMMANDS_H
#define AERIE_GW_COMMANDS_H

#include "common/err.h"
#include "mavlink/messages.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the command builder needs to know about the vehicle. */
typedef struct ae_gw_vehinfo {
    bool known; /* an autopilot heartbeat has been seen */
    uint8_t sysid, compid, autopilot, type;
    bool home_known;
    double home_alt_msl_m;
} ae_gw_vehinfo;

/* Builds the COMMAND_LONG for request `name` with JSON body `body` (len bytes, may be 0).
 * Returns 0 and fills *out (target and confirmation 0 set), or AE_ENOENT for an unknown
 * command name, AE_EINVAL for bad arguments, AE_EAGAIN when the vehicle state needed is
 * missing (no heartbeat yet, home unknown); err says what to send instead. */
int ae_gw_cmd_build(const char *name, const char *body, size_t len, const ae_gw_vehinfo *v,
                    ae_mav_command_long *out, ae_err *err);

/* The comma-separated list of command names, for messages. */
const char *ae_gw_cmd_names(void);
/* The command names one by one: ae_gw_cmd_name(0 .. ae_gw_cmd_count() - 1); NULL outside. */
int ae_gw_cmd_count(void);
const char *ae_gw_cmd_name(int i);

#endif
