/* The summary `aerie up` prints; see up_report.h. */
#include "cli/up_report.h"
#include "cli/cmd_twin.h"
#include "cli/creds_registry.h"
#include "cli/local_fleet.h"
#include "common/ident.h"

#include <stdio.h>
#include <string.h>

static void print_hubs(const ae_up_report *r, const char *streams_line)
{
    const ae_fleet *f = r->f;
    printf("\nHub: nats-server cluster \"%s\", JetStream domain \"%s\"\n",
           f->cluster ? f->cluster : "aerie", f->js_domain ? f->js_domain : "hub");
    for (size_t i = 0; i < f->n_hubs; i++) {
        const ae_fleet_hub *h = &f->hubs[i];
        const ae_fleet_proc *p = ae_fleet_proc_find(f, h->name);
        char ws[40] = "";
        if (h->ws_port)
            snprintf(ws, sizeof ws, "  websocket :%-5d", h->ws_port);
        printf("  %-5s client nats://127.0.0.1:%-5d  leafnodes :%-5d%s  monitor "
               "http://127.0.0.1:%d  pid %lld\n",
               h->name, h->client_port, h->leaf_port, ws, h->http_port,
               (long long)(p ? p->pid : 0));
    }
    if (streams_line)
        printf("  %s\n", streams_line);
    if (f->n_tenants <= 1) {
        printf("  operator login: user operator, password in %s/fleet.json\n\n", r->shown);
        return;
    }
    printf("  tenants (each its own account, streams and operator login; passwords in "
           "%s/fleet.json):\n",
           r->shown);
    for (size_t k = 0; k < f->n_tenants; k++) {
        const ae_fleet_tenant *t = &f->tenants[k];
        int n = 0;
        for (size_t i = 0; i < f->n_vehicles; i++)
            n += strcmp(ae_fleet_vehicle_tenant(f, &f->vehicles[i]), t->name) == 0;
        printf("    %-12s user %-20s %3d vehicle%s%s%s%s\n", t->name, t->op_user ? t->op_user : "?",
               n, n == 1 ? "" : "s", t->free_tier ? ", free tier" : "",
               t->dashboard_url ? ", dashboard " : "", t->dashboard_url ? t->dashboard_url : "");
    }
    printf("    `aerie status --tenant NAME` (and every other command) acts as that tenant\n\n");
}

static void print_vehicles(const ae_up_report *r)
{
    const ae_fleet *f = r->f;
    const char *d = r->shown;
    printf(
        "Vehicles: aerie sim --MAVLink/UDP--> aerie-gw --> aerie-leaf --> aerie-relay --> hub\n");
    printf("  %-8s %-22s %-10s %-22s %s\n", "VID", "LEAF (clients)", "MAVLINK", "UPLINK", "DRONE");
    /* A large fleet shows its first vehicles; fleet.json and `aerie status` have them all. */
    size_t shown = r->large ? 5 : f->n_vehicles;
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const ae_fleet_vehicle *v = &f->vehicles[i];
        if (i == shown)
            printf("  ... and %zu more, %s to %s (ports in %s/fleet.json)\n", f->n_vehicles - i,
                   v->vid, f->vehicles[f->n_vehicles - 1].vid, d);
        if (i >= shown)
            continue;
        char leaf[40], mav[24], up[AE_IDENT_MAX + 40], drone[64];
        snprintf(leaf, sizeof leaf, "nats://127.0.0.1:%d", v->leaf_port);
        snprintf(mav, sizeof mav, "udp :%d", v->mavlink_port);
        snprintf(up, sizeof up, "relay :%d -> %s", v->relay_port, v->hub ? v->hub : "?");
        snprintf(drone, sizeof drone, "%s, %d m square",
                 v->drone.autopilot ? v->drone.autopilot : "?", v->drone.mission_size);
        if (ae_creds_is_revoked(r->reg, v->vid))
            snprintf(drone, sizeof drone, "REVOKED: not started by up");
        printf("  %-8s %-22s %-10s %-22s %s\n", v->vid, leaf, mav, up, drone);
    }
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const char *vid = f->vehicles[i].vid;
        if (!ae_creds_is_revoked(r->reg, vid))
            continue;
        const ae_fleet_proc *lp = ae_fleet_proc_of(f, vid, AE_KIND_LEAF);
        printf("  %s: identity revoked (`aerie revoke`); %s. `aerie creds add %s --dir %s` "
               "issues a new key, then `aerie up --dir %s` starts it\n",
               vid,
               lp && ae_fleet_proc_running(r->f, lp)
                   ? "its processes still run from before the revocation"
                   : "skipped, not started",
               vid, d, d);
    }
    int pools = 0;
    for (size_t i = 0; i < f->n_procs; i++)
        pools += strcmp(f->procs[i].kind, AE_KIND_SIM) == 0;
    printf("  Drones: %d simulator process%s, up to %d drones each (logs/sim-pool-N.log)\n", pools,
           pools == 1 ? "" : "es", AE_LOCAL_SIM_POOL);
    printf("  Vehicle keys: %s/creds/ (one nkey each; the hubs refuse leaves without one)\n", d);
}

static void print_next(const ae_up_report *r)
{
    const ae_fleet *f = r->f;
    const char *d = r->shown;
    /* Examples name vehicles that run: not a revoked one. */
    const char *v1 = NULL, *v2 = NULL;
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const char *vid = f->vehicles[i].vid;
        if (ae_creds_is_revoked(r->reg, vid))
            continue;
        if (!v1)
            v1 = vid;
        else if (!v2)
            v2 = vid;
    }
    if (!v1)
        v1 = f->n_vehicles ? f->vehicles[0].vid : "";
    if (!v2)
        v2 = v1;
    printf("\nTry next:\n");
    printf("  aerie status --dir %s\n", d);
    printf("  aerie twin %s --dir %s\n", v1, d);
    printf("  aerie replay %s --since 30s --subject state.battery --dir %s\n", v1, d);
    printf("  aerie cmd %s rtl --dir %s\n", v1, d);
    printf("  aerie link cut %s --for 20s --dir %s    # an outage; watch status, then replay\n", v2,
           d);
    printf("  aerie down --dir %s\n", d);
}

void ae_up_print_summary(const ae_up_report *r, json_t *status, int online,
                         const char *streams_line)
{
    const char *d = r->shown;
    printf("\nAerie fleet in %s: env %s, %zu vehicles, %d online\n", r->dir, r->f->env,
           r->f->n_vehicles, online);
    print_hubs(r, streams_line);
    print_vehicles(r);
    if (r->f->dashboard_url)
        printf("\nDashboard: %s\n", r->f->dashboard_url);
    printf("Logs: %s/logs/   Configs: %s/conf/   Data: %s/data/\n", d, d, d);
    if (status && json_array_size(status) > 0 && !r->large) {
        printf("\n");
        ae_status_print_table(status, stdout);
    }
    print_next(r);
    fflush(stdout);
}
