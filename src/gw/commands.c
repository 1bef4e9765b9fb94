/* Command requests -> COMMAND_LONG, with argument checking that tells the operator exactly
 * which argument is wrong and what is accepted. */
#include "gw/commands.h"

#include "mavlink/modes.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const cmd_names[] = {"arm", "disarm", "takeoff", "land", "rtl", "mode", "goto"};
#define N_CMD_NAMES (int)(sizeof cmd_names / sizeof cmd_names[0])

const char *ae_gw_cmd_names(void)
{
    return "arm, disarm, takeoff, land, rtl, mode, goto";
}

int ae_gw_cmd_count(void)
{
    return N_CMD_NAMES;
}

const char *ae_gw_cmd_name(int i)
{
    return i >= 0 && i < N_CMD_NAMES ? cmd_names[i] : NULL;
}

/* Reads an optional number; false (with err set) when present but not a number or outside
 * [lo, hi]. */
static bool opt_num(json_t *o, const char *key, double lo, double hi, bool required, double *v,
                    bool *present, ae_err *err)
{
    json_t *j = json_object_get(o, key);
    *present = j != NULL && !json_is_null(j);
    if (!*present) {
        if (required)
            ae_err_set(err, AE_EINVAL, "missing argument \"%s\" (a number in %g..%g)", key, lo, hi);
        return !required;
    }
    if (!json_is_number(j)) {
        ae_err_set(err, AE_EINVAL, "argument \"%s\" must be a number", key);
        return false;
    }
    *v = json_number_value(j);
    if (!(*v >= lo && *v <= hi)) {
        ae_err_set(err, AE_EINVAL, "argument \"%s\" = %g is outside %g..%g", key, *v, lo, hi);
        return false;
    }
    return true;
}

static bool opt_bool(json_t *o, const char *key, bool *v, ae_err *err)
{
    json_t *j = json_object_get(o, key);
    *v = false;
    if (!j || json_is_null(j))
        return true;
    if (!json_is_boolean(j)) {
        ae_err_set(err, AE_EINVAL, "argument \"%s\" must be true or false", key);
        return false;
    }
    *v = json_is_true(j);
    return true;
}

/* Rejects keys the command does not take: a typo ("alt" for "alt_m") must not be ignored. */
static bool only_keys(json_t *o, const char *const *allowed, const char *name, ae_err *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(k, *a) == 0)
                ok = true;
        if (!ok) {
            char list[128] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         a == allowed ? "" : ", ", *a);
            ae_err_set(err, AE_EINVAL, "%s does not take argument \"%s\" (takes: %s)", name, k,
                       *list ? list : "none");
            return false;
        }
    }
    return true;
}

static double amsl(const ae_gw_vehinfo *v, double rel)
{
    return v->autopilot == AE_MAV_AUTOPILOT_PX4 ? v->home_alt_msl_m + rel : rel;
}

/* One builder per command: checks the arguments in o and fills out's command and params.
 * Returns 0, or an error (AE_EINVAL, AE_EAGAIN) with err set. */
typedef int (*cmd_builder)(const char *name, json_t *o, const ae_gw_vehinfo *v,
                           ae_mav_command_long *out, ae_err *err);

static int build_arm(const char *name, json_t *o, const ae_gw_vehinfo *v, ae_mav_command_long *out,
                     ae_err *err)
{
    (void)v;
    static const char *const keys[] = {"force", NULL};
    bool force;
    if (!only_keys(o, keys, name, err) || !opt_bool(o, "force", &force, err))
        return AE_EINVAL;
    out->command = AE_MAV_CMD_COMPONENT_ARM_DISARM;
    out->param1 = name[0] == 'a' ? 1.0f : 0.0f;
    out->param2 = force ? 21196.0f : 0.0f; /* the protocol's "force" magic number */
    return 0;
}

static int build_takeoff(const char *name, json_t *o, const ae_gw_vehinfo *v,
                         ae_mav_command_long *out, ae_err *err)
{
    static const char *const keys[] = {"alt_m", NULL};
    double a;
    bool present;
    if (!only_keys(o, keys, name, err) || !opt_num(o, "alt_m", 0.5, 10000, true, &a, &present, err))
        return AE_EINVAL;
    if (v->autopilot == AE_MAV_AUTOPILOT_PX4 && !v->home_known)
        return ae_err_set(err, AE_EAGAIN,
                          "takeoff: home position not known yet (PX4 needs an AMSL altitude); "
                          "wait for state.home");
    out->command = AE_MAV_CMD_NAV_TAKEOFF;
    out->param4 = NAN; /* keep current yaw */
    out->param5 = NAN; /* here */
    out->param6 = NAN;
    out->param7 = (float)amsl(v, a);
    return 0;
}

static int build_land(const char *name, json_t *o, const ae_gw_vehinfo *v, ae_mav_command_long *out,
                      ae_err *err)
{
    (void)v;
    static const char *const keys[] = {"lat", "lon", NULL};
    double lat = NAN, lon = NAN;
    bool present, p2;
    if (!only_keys(o, keys, name, err) || !opt_num(o, "lat", -90, 90, false, &lat, &present, err) ||
        !opt_num(o, "lon", -180, 180, false, &lon, &p2, err))
        return AE_EINVAL;
    if (present != p2)
        return ae_err_set(err, AE_EINVAL, "land: give both lat and lon, or neither");
    out->command = AE_MAV_CMD_NAV_LAND;
    out->param4 = NAN;
    out->param5 = (float)lat;
    out->param6 = (float)lon;
    return 0;
}

static int build_rtl(const char *name, json_t *o, const ae_gw_vehinfo *v, ae_mav_command_long *out,
                     ae_err *err)
{
    (void)v;
    static const char *const keys[] = {NULL};
    if (!only_keys(o, keys, name, err))
        return AE_EINVAL;
    out->command = AE_MAV_CMD_NAV_RETURN_TO_LAUNCH;
    return 0;
}

static int build_mode(const char *name, json_t *o, const ae_gw_vehinfo *v, ae_mav_command_long *out,
                      ae_err *err)
{
    static const char *const keys[] = {"mode", NULL};
    if (!only_keys(o, keys, name, err))
        return AE_EINVAL;
    const char *m = json_string_value(json_object_get(o, "mode"));
    if (!m)
        return ae_err_set(err, AE_EINVAL, "mode: missing argument \"mode\" (a mode name)");
    float f2, f3;
    uint32_t cm;
    int r = ae_mav_mode_lookup(v->autopilot, v->type, m, &f2, &f3, &cm);
    if (r == AE_EINVAL)
        return ae_err_set(err, AE_EINVAL,
                          "mode: autopilot %s has no known flight modes (PX4 and ArduPilot "
                          "are supported)",
                          ae_mav_autopilot_name(v->autopilot));
    if (r) {
        char list[512];
        return ae_err_set(err, AE_EINVAL, "mode: \"%s\" is not a %s mode; use one of: %s", m,
                          ae_mav_autopilot_name(v->autopilot),
                          ae_mav_mode_list(v->autopilot, v->type, list, sizeof list));
    }
    out->command = AE_MAV_CMD_DO_SET_MODE;
    out->param1 = AE_MAV_MODE_FLAG_CUSTOM_MODE_ENABLED;
    out->param2 = f2;
    out->param3 = f3;
    return 0;
}

static int build_goto(const char *name, json_t *o, const ae_gw_vehinfo *v, ae_mav_command_long *out,
                      ae_err *err)
{
    static const char *const keys[] = {"lat", "lon", "alt_m", "speed_mps", NULL};
    double lat = NAN, lon = NAN, alt = 0, speed = -1;
    bool present;
    if (!only_keys(o, keys, name, err) || !opt_num(o, "lat", -90, 90, true, &lat, &present, err) ||
        !opt_num(o, "lon", -180, 180, true, &lon, &present, err) ||
        !opt_num(o, "alt_m", -500, 10000, true, &alt, &present, err) ||
        !opt_num(o, "speed_mps", 0.1, 200, false, &speed, &present, err))
        return AE_EINVAL;
    if (v->autopilot == AE_MAV_AUTOPILOT_PX4 && !v->home_known)
        return ae_err_set(err, AE_EAGAIN,
                          "goto: home position not known yet (PX4 needs an AMSL altitude)");
    out->command = AE_MAV_CMD_DO_REPOSITION;
    out->param1 = present ? (float)speed : -1.0f;
    out->param2 = 1; /* MAV_DO_REPOSITION_FLAGS_CHANGE_MODE: switch to guided */
    out->param4 = NAN;
    out->param5 = (float)lat;
    out->param6 = (float)lon;
    out->param7 = (float)amsl(v, alt);
    return 0;
}

/* By index in cmd_names. */
static const cmd_builder builders[] = {build_arm, build_arm,  build_takeoff, build_land,
                                       build_rtl, build_mode, build_goto};
_Static_assert(sizeof builders / sizeof builders[0] == sizeof cmd_names / sizeof cmd_names[0],
               "one builder per command name");

/* The request body as a JSON object (an empty or blank body is {}); NULL with err set
 * otherwise. */
static json_t *load_body(const char *name, const char *body, size_t len, ae_err *err)
{
    size_t skip = 0;
    while (skip < len &&
           (body[skip] == ' ' || body[skip] == '\n' || body[skip] == '\r' || body[skip] == '\t'))
        skip++;
    if (skip == len) {
        json_t *o = json_object();
        if (!o)
            ae_err_set(err, AE_ENOMEM, "%s: out of memory", name);
        return o;
    }
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    if (!o) {
        ae_err_set(err, AE_EINVAL, "%s: body is not JSON (%s at column %d)", name, je.text,
                   je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        ae_err_set(err, AE_EINVAL, "%s: body must be a JSON object", name);
        return NULL;
    }
    return o;
}

int ae_gw_cmd_build(const char *name, const char *body, size_t len, const ae_gw_vehinfo *v,
                    ae_mav_command_long *out, ae_err *err)
{
    int which = -1;
    for (int i = 0; i < N_CMD_NAMES; i++)
        if (strcmp(name, cmd_names[i]) == 0)
            which = i;
    if (which < 0)
        return ae_err_set(err, AE_ENOENT, "unknown command \"%s\"; known commands: %s", name,
                          ae_gw_cmd_names());
    json_t *o = load_body(name, body, len, err);
    if (!o)
        return AE_EINVAL;
    int rc;
    if (!v->known) {
        rc = ae_err_set(err, AE_EAGAIN,
                        "no autopilot heartbeat seen yet; is the autopilot connected to the "
                        "gateway's MAVLink endpoint?");
    } else {
        memset(out, 0, sizeof *out);
        out->target_system = v->sysid;
        out->target_component = v->compid;
        rc = builders[which](name, o, v, out, err);
    }
    json_decref(o);
    return rc;
}
