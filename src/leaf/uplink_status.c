/* The link status message (fleet.<env>.veh.<vid>.link) on connect and every
 * link_status_interval, and the uplink's part of /leafz and /varz; uplink.c builds the JSON
 * (it also announces a disconnect). Calls uplink_write.c, uplink.c. */
#include "leaf/uplink_internal.h"

#include <stdlib.h>
#include <string.h>

/* Local subscribers get it through the broker (marked as not for the hub); the hub gets it
 * directly, whether or not it has shown interest yet: right after a reconnect, across a
 * gateway, or with per-vehicle permissions the interest arrives late or never, and the
 * FLEET_LINK stream must still hear that the vehicle is back. */
void ae_uplink_publish_status(ae_uplink *u)
{
    char subj[300];
    size_t sn;
    char *body = uplink_status_to_local(u, subj, sizeof subj, &sn);
    if (!body)
        return;
    if (u->state == AE_UPLINK_READY)
        ae_uplink_publish(u, subj, sn, NULL, 0, NULL, 0, body, strlen(body));
    free(body);
}

int ae_uplink_leaf_count(const ae_uplink *u)
{
    return u && u->state == AE_UPLINK_READY ? 1 : 0;
}

json_t *ae_uplink_leafz(ae_uplink *u)
{
    json_t *j = json_object();
    json_t *leafs = json_array();
    json_t *l = uplink_status_json(u, false);
    if (u->cur) {
        json_object_set_new(l, "ip", json_string(u->cur->host));
        json_object_set_new(l, "port", json_integer(u->cur->port));
    }
    json_object_set_new(l, "name", json_string(u->hub_name));
    json_object_set_new(l, "account", json_string("$G"));
    char rtt[48];
    json_object_set_new(l, "rtt", json_string(ae_format_go_duration(u->rtt_ns, rtt, sizeof rtt)));
    json_object_set_new(l, "subscriptions", json_integer((json_int_t)u->hub.count));
    json_t *subs = json_array();
    size_t pos = 0;
    ae_hmap_ent *e;
    while ((e = ae_hmap_next(&u->hub, &pos)))
        json_array_append_new(subs, json_string(((hub_interest *)e->val)->key));
    json_object_set_new(l, "subscriptions_list", subs);
    json_array_append_new(leafs, l);
    json_object_set_new(j, "leafnodes", json_integer(u->state == AE_UPLINK_READY ? 1 : 0));
    json_object_set_new(j, "leafs", leafs);
    return j;
}

void ae_uplink_varz(ae_uplink *u, json_t *varz)
{
    json_t *leaf = json_object();
    if (u->cur) {
        json_object_set_new(leaf, "host", json_string(u->cur->host));
        json_object_set_new(leaf, "port", json_integer(u->cur->port));
    }
    json_object_set_new(varz, "leaf", leaf);
    json_object_set_new(varz, "uplink", uplink_status_json(u, false));
}
