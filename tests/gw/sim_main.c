/* A stand-alone driver for the simulator (`aerie sim`), so the gateway tests and benchmarks
 * can run it without the whole `aerie` CLI: gw_sim ARGS... == aerie sim ARGS... */
#include "cli/cmd_sim.h"

int main(int argc, char **argv)
{
    argv[0] = "sim";
    return aerie_cmd_sim(argc, argv);
}
