/* `aerie up` and `aerie down`: a whole fleet on this machine (a 3-node nats-server hub with
 * JetStream, and per vehicle aerie-leaf + aerie-gw + a simulated drone, with its uplink
 * through an aerie-relay so that outages can be staged), kept under one directory
 * (local_fleet.h). See docs/cli.md "aerie up". */
#ifndef AERIE_CLI_CMD_UP_H
#define AERIE_CLI_CMD_UP_H

/* `aerie up [--vehicles N] [--dir DIR] [--env ENV] [--no-dashboard]` (argv[0] == "up").
 * Starts what is not running (all of it the first time, only the dead processes when the
 * fleet is partly up, nothing when it is healthy), prints what runs where and what to try.
 * Returns the exit code: 0, 1 (could not start), 2 (usage). */
int ae_cmd_up(int argc, char **argv);

/* `aerie down [--dir DIR] [--purge]`: stops every process the fleet's fleet.json records
 * (only those still verifiably ours), and with --purge removes the directory's configs,
 * data and logs. Returns 0, 1, or 2 (usage). */
int ae_cmd_down(int argc, char **argv);

#endif
