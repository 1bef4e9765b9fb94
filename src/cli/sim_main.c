/* aerie-sim: the simulated drone alone (`aerie sim`, cmd_sim.c), as a program of its own.
 *
 * Why: a local fleet runs a drone per vehicle (up to 50 to a process, local_fleet.c), and
 * `aerie` loads the dashboard's HTTP and TLS libraries (libmicrohttpd, GnuTLS and theirs)
 * that a drone never uses. Each process pays for every library it loads in private memory
 * (relocated data) and start-up time, so `aerie up` runs this lean program when it is there
 * (docs/benchmarks.md, fleet scale). */
#include "cli/cmd_sim.h"

int main(int argc, char **argv)
{
    return aerie_cmd_sim(argc, argv);
}
