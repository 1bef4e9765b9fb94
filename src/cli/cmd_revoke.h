/* `aerie revoke VID`: take a vehicle's identity away and cut its live uplink.
 *
 * nats-server 2.9.10 does not re-check leaf connections when its config is reloaded, so
 * removing the vehicle's user and sending SIGHUP leaves an already-connected vehicle
 * working. The revoke therefore has three steps:
 *
 *  1. remove the identity from every hub config (the managed nkey and any password user of
 *     that name) and reload every node, confirmed by each node's /varz config_load_time;
 *  2. on every hub node, open a leafnode connection as the service identity `aerie-evict`
 *     (LEAFNODE only, publish and subscribe denied) that announces the vehicle leaf's own
 *     name. The hub treats it as the same leaf reconnecting and closes the old connection
 *     ("Duplicate Remote LeafNode Connection"); the evictor then disconnects. Other leaves,
 *     clients and JetStream are not touched;
 *  3. verify: the hub /leafz connections that vanished are reported, and for a local fleet
 *     the vehicle leaf's own /leafz must show it disconnected within --wait.
 *
 * Its reconnect attempts then fail with "Authorization Violation" on every node. */
#ifndef AERIE_CLI_CMD_REVOKE_H
#define AERIE_CLI_CMD_REVOKE_H

#include "cli/cli.h"

/* `aerie revoke VID [--dir DIR | --out DIR] [--leaf-name NAME] [--evict-only] [--wait 5s]
 * [--json]` (argv[0] == "revoke"). Returns the exit code: 0 (revoked and not connected), 1
 * (an error, or the vehicle still connected after --wait), 2 (usage). */
int ae_cmd_revoke(ae_cli *c, int argc, char **argv);

#endif
