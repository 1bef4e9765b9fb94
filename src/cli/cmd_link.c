/* `aerie link`: the WAN link of a local fleet's vehicles, through each vehicle's aerie-relay
 * (local_fleet.h). `cut` closes the relayed connection and refuses new ones, `heal` lets
 * the leaf back in; `status` shows each relay's state and byte counts. A cut with --for is
 * healed by a detached child, unless the fleet stops first. */
#include "cli/cmd_link.h"
#include "cli/cmd_hub.h"
#include "cli/local_fleet.h"
#include "cli/proc.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage_link(void)
{
    fprintf(stderr, "usage: aerie link [status]            the uplink of every vehicle\n"
                    "       aerie link cut VID [--for 30s]  cut a vehicle off the hub (heals "
                    "after --for)\n"
                    "       aerie link heal VID             reconnect it\n"
                    "  [--dir DIR] as for every command (default $AERIE_DIR, else ./.fleet)\n");
    return 2;
}

/* Runs in a detached child: heals the relay after `ns`, unless the fleet stops first. */
static void heal_later(const char *dir, pid_t relay_pid, int control_port, int64_t ns)
{
    pid_t pid = fork();
    if (pid != 0)
        return;
    setsid();
    for (int fd = 0; fd < 1024; fd++)
        close(fd);
    int64_t due = ae_mono_ns() + ns;
    while (ae_mono_ns() < due) {
        if (!ae_proc_owned(relay_pid, "aerie-relay", dir))
            _exit(0); /* the fleet went down: nothing to heal */
        ae_sleep_ms(200);
    }
    ae_proc_line_cmd(control_port, "heal", NULL, 0, 2000);
    _exit(0);
}

typedef struct link_opts {
    const char *dir, *verb, *vid;
    bool status, cut, heal;
    int64_t for_ns;
} link_opts;

/* Returns -1 when the options are good, else the exit code. */
static int parse_link(int argc, char **argv, link_opts *o)
{
    const char *dur = NULL;
    *o = (link_opts){.dir = ae_fleet_default_dir()};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--dir=", 6) == 0)
            o->dir = a + 6;
        else if (strcmp(a, "--dir") == 0 && i + 1 < argc)
            o->dir = argv[++i];
        else if (strcmp(a, "--for") == 0 && i + 1 < argc)
            dur = argv[++i];
        else if (a[0] == '-')
            return usage_link();
        else if (!o->verb)
            o->verb = a;
        else if (!o->vid)
            o->vid = a;
        else
            return usage_link();
    }
    if (!o->verb)
        o->verb = "status";
    o->status = strcmp(o->verb, "status") == 0;
    o->cut = strcmp(o->verb, "cut") == 0;
    o->heal = strcmp(o->verb, "heal") == 0;
    if (!(o->status || o->cut || o->heal) || ((o->cut || o->heal) && !o->vid) || (dur && !o->cut))
        return usage_link();
    if (dur && (ae_parse_duration(dur, &o->for_ns) != 0 || o->for_ns <= 0)) {
        fprintf(stderr, "aerie link: --for %s: expected a duration such as 30s\n", dur);
        return 2;
    }
    return -1;
}

/* One line of `aerie link status` from the relay's stats answer ("OK {json}"). */
static void print_stats(const ae_fleet_vehicle *v, const char *reply)
{
    json_t *j = json_loads(reply + 2, 0, NULL);
    char bytes[64];
    snprintf(bytes, sizeof bytes, "%lld/%lld",
             (long long)json_integer_value(json_object_get(j, "bytes_up")),
             (long long)json_integer_value(json_object_get(j, "bytes_down")));
    const char *state = json_string_value(json_object_get(j, "state"));
    printf("%-10s :%-7d %-12s %-10d %s\n", v->vid, v->relay_port,
           !state                         ? ""
           : strcmp(state, "normal") == 0 ? "up"
                                          : state,
           (int)json_integer_value(json_object_get(j, "connections")), bytes);
    json_decref(j);
}

/* Applies the verb to one vehicle's relay. Returns 0 or 1 (a failure, reported). */
static int link_one(const link_opts *o, const ae_fleet *f, const ae_fleet_vehicle *v,
                    const char *shown)
{
    char reply[1024] = "";
    const ae_fleet_proc *rp = ae_fleet_proc_of(f, v->vid, AE_KIND_RELAY);
    if (!ae_fleet_proc_running(f, rp)) {
        if (o->status)
            printf("%-10s %-8s %s\n", v->vid, "-", "relay not running");
        else
            fprintf(stderr,
                    "aerie link: the relay of %s is not running (`aerie up --dir %s` "
                    "restarts it)\n",
                    v->vid, shown);
        return 1;
    }
    const char *cmd = o->status ? "stats" : o->cut ? "cut" : "heal";
    int cport = v->relay_control_port;
    if (ae_proc_line_cmd(cport, cmd, reply, sizeof reply, 3000) != 0 ||
        strncmp(reply, "OK", 2) != 0) {
        fprintf(stderr, "aerie link: the relay of %s (control port %d) did not accept %s: %s\n",
                v->vid, cport, cmd, reply);
        return 1;
    }
    if (o->status) {
        print_stats(v, reply);
    } else if (o->cut && o->for_ns > 0) {
        char d[32];
        heal_later(f->dir, rp->pid, cport, o->for_ns);
        printf("link of %s cut (its leaf keeps storing state); it heals by itself in %s, "
               "or run `aerie link heal %s --dir %s`\n",
               v->vid, ae_cli_fmt_duration(o->for_ns, d, sizeof d), v->vid, shown);
    } else if (o->cut) {
        printf("link of %s cut (its leaf keeps storing state); heal it with `aerie link "
               "heal %s --dir %s`\n",
               v->vid, v->vid, shown);
    } else {
        printf("link of %s healed; its leaf reconnects and sends its backlog (watch `aerie "
               "status --dir %s`)\n",
               v->vid, shown);
    }
    return 0;
}

int ae_cmd_link(int argc, char **argv)
{
    link_opts o;
    int rc = parse_link(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char abs[PATH_MAX];
    ae_fleet *f = NULL;
    ae_err err = {0};
    rc = ae_local_fleet_open(o.dir, false, abs, &f, &err);
    if (rc == AE_ENOENT && abs[0])
        ae_err_set(&err, AE_ENOENT, "no fleet in %s; start one with `aerie up --dir %s`", o.dir,
                   o.dir);
    if (rc) {
        fprintf(stderr, "aerie link: %s\n", err.msg);
        return 1;
    }
    int found = 0, failures = 0;
    if (o.status)
        printf("%-10s %-8s %-12s %-10s %s\n", "VID", "RELAY", "STATE", "CONNS", "BYTES UP/DOWN");
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const ae_fleet_vehicle *v = &f->vehicles[i];
        if (o.vid && strcmp(o.vid, v->vid) != 0)
            continue;
        found++;
        failures += link_one(&o, f, v, o.dir);
    }
    if (o.vid && !found) {
        fprintf(stderr, "aerie link: no vehicle %s in %s/fleet.json\n", o.vid, o.dir);
        failures++;
    }
    ae_fleet_free(f);
    return failures ? 1 : 0;
}
