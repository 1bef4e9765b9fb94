/* `aerie sim`: the vehicle simulator (cmd_sim.c: the command line; sim_drone.c: a drone;
 * sim_pool.c: the loop flying one or many).
 * This header is the one contract main.c relies on. */
#ifndef AERIE_CLI_CMD_SIM_H
#define AERIE_CLI_CMD_SIM_H

/* Runs `aerie sim ...` with argv[0] == "sim". Returns the process exit code. */
int aerie_cmd_sim(int argc, char **argv);

#endif
