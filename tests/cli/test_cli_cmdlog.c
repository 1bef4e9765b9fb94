/* Units of the command log (cmdlog.h) without a server: command ids, and the rules that
 * turn the hub's stored commands and the vehicle's reports into each command's state and
 * history. Also: `aerie up` gives every gateway a command journal, in a config the gateway
 * itself loads. */
#include "cli/cmdlog.h"
#include "cli/fleet.h"
#include "cli/local_fleet.h"
#include "cli/render.h"
#include "cli/topology.h"
#include "common/ident.h"
#include "common/timeutil.h"
#include "gw/gw.h"
#include "harness/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ids(void)
{
    ae_err err = {0};
    char id[AE_IDENT_MAX + 1], vid[AE_IDENT_MAX + 1];
    json_t *seen = json_object();
    for (int i = 0; i < 2000; i++) {
        AH_ASSERT_EQ_INT(ae_cmd_id_new("VID-002", id, sizeof id, &err), 0);
        AH_ASSERT_MSG(ae_ident_valid(id) && strlen(id) == 16 && strncmp(id, "VID-002-", 8) == 0,
                      "bad id %s", id);
        AH_ASSERT_MSG(strcspn(id + 8, "lo01-") == 8, "look-alike in %s", id);
        AH_ASSERT_MSG(!json_object_get(seen, id), "id %s made twice", id);
        json_object_set_new(seen, id, json_true());
        AH_ASSERT_EQ_INT(ae_cmd_id_vid(id, vid, sizeof vid), 0);
        AH_ASSERT_EQ_STR(vid, "VID-002");
    }
    json_decref(seen);
    char longvid[AE_IDENT_MAX + 1];
    memset(longvid, 'v', AE_IDENT_MAX - 5);
    longvid[AE_IDENT_MAX - 5] = 0;
    AH_ASSERT_EQ_INT(ae_cmd_id_new(longvid, id, sizeof id, &err), AE_EINVAL);
    AH_ASSERT_CONTAINS(err.msg, "too long");
    AH_ASSERT_EQ_INT(ae_cmd_id_vid("nodash", vid, sizeof vid), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_cmd_id_vid("-x", vid, sizeof vid), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_cmd_id_vid("V1-", vid, sizeof vid), AE_EINVAL);
    AH_ASSERT_EQ_INT(ae_cmd_id_vid("V.1-x", vid, sizeof vid), AE_EINVAL);
    AH_ASSERT(ae_cmd_state_final("expired") && ae_cmd_state_final("superseded") &&
              !ae_cmd_state_final("queued") && !ae_cmd_state_final("delivered") &&
              !ae_cmd_state_final(NULL));
}

#define T0 1800000000LL /* a time in seconds; stored times below are T0 + n */

static json_t *cmd(const char *id, const char *kind, int stored_s, int ttl_s, const char *sup)
{
    char ts[48];
    ae_format_rfc3339((T0 + stored_s) * AE_NS_PER_SEC, ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:s, s:{}, s:i, s:s, s:[]}", "id", id, "vid", "V1", "command",
                          kind, "args", "ttl_s", ttl_s, "stored", ts, "supersedes");
    if (sup)
        json_array_append_new(json_object_get(o, "supersedes"), json_string(sup));
    return o;
}

static json_t *rep(const char *id, const char *kind, const char *state, int at_s, const char *by)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "vid", "V1", "id", id, "command", kind,
                          "state", state, "_time_ns", (json_int_t)((T0 + at_s) * AE_NS_PER_SEC));
    if (by)
        json_object_set_new(o, "superseded_by", json_string(by));
    return o;
}

static json_t *find(json_t *all, const char *id)
{
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o) if (strcmp(json_string_value(json_object_get(o, "id")), id) ==
                                      0) return o;
    ah_fail(__FILE__, __LINE__, "no command %s in the merge", id);
}

static const char *s(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(none)";
}

static void steps_are(json_t *o, const char *want)
{
    char got[300] = "";
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(o, "steps"), i, st)
    {
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s/%s", i ? " " : "",
                 s(st, "state"), s(st, "by"));
    }
    AH_ASSERT_EQ_STR(got, want);
}

static void merge_rules(void)
{
    json_t *cmds = json_array(), *reps = json_array();
    /* A: delivered then accepted, and a republished copy of "accepted" after a restart. */
    json_array_append_new(cmds, cmd("V1-a", "mode", 0, 60, NULL));
    json_array_append_new(reps, rep("V1-a", "mode", "delivered", 20, NULL));
    json_array_append_new(reps, rep("V1-a", "mode", "accepted", 21, NULL));
    json_array_append_new(reps, rep("V1-a", "mode", "accepted", 25, NULL));
    /* B1 never reported, B2 (same kind) reported: B1 cannot run any more. */
    json_array_append_new(cmds, cmd("V1-b1", "rtl", 1, 60, NULL));
    json_array_append_new(cmds, cmd("V1-b2", "rtl", 2, 60, "V1-b1"));
    json_array_append_new(reps, rep("V1-b2", "rtl", "delivered", 22, NULL));
    /* C: the vehicle says expired. D: nothing yet, TTL over. E: nothing yet, TTL running. */
    json_array_append_new(cmds, cmd("V1-c", "land", 3, 3, NULL));
    json_array_append_new(reps, rep("V1-c", "land", "expired", 22, NULL));
    json_array_append_new(cmds, cmd("V1-d", "goto", 4, 5, NULL));
    json_array_append_new(cmds, cmd("V1-e", "arm", 90, 30, NULL));
    /* G: known only from a report (superseded before the hub's view of it began). */
    json_array_append_new(reps, rep("V1-g", "takeoff", "superseded", 23, "V1-h"));
    /* A verdict followed by a stray "delivered" keeps the verdict. */
    json_array_append_new(cmds, cmd("V1-f", "disarm", 5, 60, NULL));
    json_array_append_new(reps, rep("V1-f", "disarm", "denied", 24, NULL));
    json_array_append_new(reps, rep("V1-f", "disarm", "delivered", 26, NULL));
    json_t *all = ae_cmdlog_merge(cmds, reps, (T0 + 100) * AE_NS_PER_SEC);
    AH_ASSERT(all && json_array_size(all) == 8);

    json_t *a = find(all, "V1-a");
    AH_ASSERT_EQ_STR(s(a, "state"), "accepted");
    AH_ASSERT_EQ_STR(s(a, "by"), "vehicle");
    steps_are(a, "queued/hub delivered/vehicle accepted/vehicle");
    AH_ASSERT_EQ_STR(s(json_object_get(a, "report"), "state"), "accepted");
    AH_ASSERT_EQ_STR(s(a, "expires"), "2027-01-15T08:01:00.000000000Z");

    json_t *b1 = find(all, "V1-b1"), *b2 = find(all, "V1-b2");
    AH_ASSERT_EQ_STR(s(b1, "state"), "superseded");
    AH_ASSERT_EQ_STR(s(b1, "by"), "hub");
    AH_ASSERT_EQ_STR(s(b1, "superseded_by"), "V1-b2");
    AH_ASSERT_EQ_STR(s(b2, "state"), "delivered");

    AH_ASSERT_EQ_STR(s(find(all, "V1-c"), "state"), "expired");
    AH_ASSERT_EQ_STR(s(find(all, "V1-c"), "by"), "vehicle");
    AH_ASSERT_EQ_STR(s(find(all, "V1-d"), "state"), "expired");
    AH_ASSERT_EQ_STR(s(find(all, "V1-d"), "by"), "hub");
    AH_ASSERT_EQ_STR(s(find(all, "V1-e"), "state"), "queued");
    json_t *g = find(all, "V1-g");
    AH_ASSERT_EQ_STR(s(g, "state"), "superseded");
    AH_ASSERT_EQ_STR(s(g, "superseded_by"), "V1-h");
    AH_ASSERT_EQ_STR(s(g, "command"), "takeoff");
    steps_are(g, "superseded/vehicle");
    AH_ASSERT_EQ_STR(s(find(all, "V1-f"), "state"), "denied");
    /* Oldest first: by store time, report-only ones by their first report. */
    AH_ASSERT_EQ_STR(s(json_array_get(all, 0), "id"), "V1-a");
    AH_ASSERT_EQ_STR(s(json_array_get(all, 6), "id"), "V1-g");
    AH_ASSERT_EQ_STR(s(json_array_get(all, 7), "id"), "V1-e");
    json_decref(all);

    /* A newer command of another kind, or to another vehicle, supersedes nothing. */
    cmds = json_array();
    reps = json_array();
    json_array_append_new(cmds, cmd("V1-x", "rtl", 0, 60, NULL));
    json_array_append_new(cmds, cmd("V1-y", "land", 1, 60, NULL));
    json_t *other = cmd("V2-z", "rtl", 2, 60, NULL);
    json_object_set_new(other, "vid", json_string("V2"));
    json_array_append_new(cmds, other);
    json_array_append_new(reps, rep("V1-y", "land", "accepted", 5, NULL));
    json_t *r2 = rep("V2-z", "rtl", "accepted", 5, NULL);
    json_object_set_new(r2, "vid", json_string("V2"));
    json_array_append_new(reps, r2);
    all = ae_cmdlog_merge(cmds, reps, (T0 + 10) * AE_NS_PER_SEC);
    AH_ASSERT_EQ_STR(s(find(all, "V1-x"), "state"), "queued");
    json_decref(all);

    /* Reports without an id are ignored; nothing in, nothing out. */
    reps = json_array();
    json_array_append_new(reps, json_pack("{s:s}", "state", "accepted"));
    all = ae_cmdlog_merge(json_array(), reps, 0);
    AH_ASSERT(all && json_array_size(all) == 0);
    json_decref(all);
}

static const char *FLEET =
    "{\"env\":\"prod\",\"hub\":{\"urls\":[\"nats://operator:pw@127.0.0.1:21001\"],"
    "\"js_domain\":\"hub\",\"cluster\":\"aerie\",\"nodes\":[{\"name\":\"hub1\","
    "\"client_port\":21001,\"cluster_port\":21002,\"leaf_port\":21003,\"http_port\":21004}]},"
    "\"operator\":{\"user\":\"operator\",\"password\":\"pw\"},"
    "\"vehicles\":[{\"vid\":\"VID-001\",\"leaf_port\":22001,\"leaf_http_port\":22002,"
    "\"mavlink_port\":22003,\"relay_port\":22004,\"relay_control_port\":22005,\"hub\":\"hub1\","
    "\"seed\":\"/f/creds/VID-001.nk\"}],\"processes\":[]}";

/* `aerie up` gives each gateway a journal in the fleet's data directory. */
static void local_gateway_journal(void)
{
    ae_fleet *f = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_fleet_parse(FLEET, "f.json", "/f", &f, &err) == 0, "%s", err.msg);
    json_t *reg = json_pack("{s:{}, s:s, s:{s:s}}", "vehicles", "nobody_password", "np", "evict",
                            "public", "UEVICT");
    ae_topology *t = ae_local_topology(f, reg);
    AH_ASSERT(t && t->n_vehicles == 1);
    char *text = ae_render_gw_conf(t, &t->vehicles[0]);
    AH_ASSERT(text != NULL);
    char *dir = ah_mkdtemp("gwconf"), path[600];
    snprintf(path, sizeof path, "%s/gw.conf", dir);
    AH_ASSERT(ah_write_file(path, "%s", text) == 0);
    ae_gw_config c;
    ae_gw_config_init(&c);
    AH_ASSERT_MSG(ae_gw_config_load(&c, path, &err) == 0, "%s\n%s", err.msg, text);
    AH_ASSERT_EQ_STR(c.state_dir, "/f/data/VID-001-gw");
    AH_ASSERT_EQ_STR(c.cmd_domain, "hub");
    AH_ASSERT_EQ_INT(ae_gw_config_check(&c, &err), 0);
    ae_gw_config_free(&c);
    ah_rmrf(dir);
    free(dir);
    free(text);
    ae_topology_free(t);
    json_decref(reg);
    ae_fleet_free(f);
}

/* A deployment from `aerie topology` with a JetStream domain per region: each gateway asks
 * its own region's domain and keeps its journal where the systemd unit gives it one. */
static void topology_gateway_commands(void)
{
    static const char *desc =
        "{\"env\":\"prod\",\"domain_per_region\":true,\"global_region\":\"eu\","
        "\"regions\":[{\"name\":\"eu\",\"hubs\":[{\"name\":\"eu1\",\"host\":\"10.0.0.1\"}]},"
        "{\"name\":\"us\",\"hubs\":[{\"name\":\"us1\",\"host\":\"10.0.1.1\"}]}],"
        "\"vehicles\":[{\"vid\":\"VID-007\",\"region\":\"us\"}]}";
    json_t *secrets = json_object();
    ae_topology *t = NULL;
    ae_err err = {0};
    AH_ASSERT_MSG(ae_topology_parse(desc, "desc.json", secrets, &t, &err) == 0, "%s", err.msg);
    char *text = ae_render_gw_conf(t, &t->vehicles[0]);
    AH_ASSERT(text != NULL);
    char *dir = ah_mkdtemp("gwconf"), path[600];
    snprintf(path, sizeof path, "%s/gw.conf", dir);
    AH_ASSERT(ah_write_file(path, "%s", text) == 0);
    ae_gw_config c;
    ae_gw_config_init(&c);
    AH_ASSERT_MSG(ae_gw_config_load(&c, path, &err) == 0, "%s\n%s", err.msg, text);
    AH_ASSERT_EQ_STR(c.cmd_domain, t->regions[t->vehicles[0].region].domain);
    AH_ASSERT(strcmp(c.cmd_domain, "hub") != 0);
    char want[160];
    snprintf(want, sizeof want, "/var/lib/aerie/gw/%s", t->vehicles[0].vid);
    AH_ASSERT_EQ_STR(c.state_dir, want);
    ae_gw_config_free(&c);
    ah_rmrf(dir);
    free(dir);
    free(text);
    ae_topology_free(t);
    json_decref(secrets);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"ids", ids, 10},
        {"merge_rules", merge_rules, 10},
        {"local_gateway_journal", local_gateway_journal, 10},
        {"topology_gateway_commands", topology_gateway_commands, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
