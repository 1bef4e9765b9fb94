/* `aerie sim`: the vehicle simulator (implemented in cmd_sim.c and sim_*.c by its owner).
 * This header is the one contract main.c relies on. */
#ifndef AERIE_CLI_CMD_SIM_H
#define AERIE_CLI_CMD_SIM_H

/* Runs `aerie sim ...` with argv[0] == "sim". Returns the process exit code. */
int aerie_cmd_sim(int argc, char **argv);

#endif
