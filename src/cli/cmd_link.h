/* `aerie link`: stage an uplink outage of a local fleet's vehicle (cmd_link.c). */
#ifndef AERIE_CLI_CMD_LINK_H
#define AERIE_CLI_CMD_LINK_H

/* `aerie link [status] | link cut VID [--for 30s] | link heal VID [--dir DIR]`: the WAN
 * link of a vehicle, through its relay. Returns 0, 1, or 2 (usage). */
int ae_cmd_link(int argc, char **argv);

#endif
