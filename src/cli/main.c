/* `aerie`: the fleet command-line tool. This file only dispatches: each subcommand lives in
 * its own cmd_*.c, and the shared options and hub connection in cli.c.
 *
 *   aerie topology FILE --out DIR      generate hub, leaf and gateway configs (cmd_topology.c)
 *   aerie hub init                     create/update the hub streams (cmd_hub.c)
 *   aerie twin VID | status            the digital twin (cmd_twin.c)
 *   aerie replay VID --since 10m       history by event time (cmd_replay.c)
 *   aerie cmd VID COMMAND [ARGS]       commands, queued across outages (cmd_cmd.c, cmdlog.c)
 *   aerie sim ...                      the simulator (cmd_sim.c)
 *   aerie up | down                    a local fleet (cmd_up.c, planned by local_fleet.c)
 *   aerie link                         stage an uplink outage (cmd_link.c)
 *   aerie dashboard                    the fleet web page (dashboard.c)
 *   aerie guard                        vehicles' consumer creates and deletes (guard.c) */
#include "cli/audit.h"
#include "cli/cli.h"
#include "cli/cmd_cmd.h"
#include "cli/cmd_creds.h"
#include "cli/cmd_hub.h"
#include "cli/cmd_link.h"
#include "cli/cmd_replay.h"
#include "cli/cmd_revoke.h"
#include "cli/cmd_sim.h"
#include "cli/cmd_topology.h"
#include "cli/cmd_twin.h"
#include "cli/cmd_up.h"
#include "cli/dashboard.h"
#include "cli/guard.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "aerie %s: the Aerie fleet tool\n"
            "\n"
            "Usage: aerie COMMAND [ARGS] [--dir DIR [--tenant T] | --server URL] [--env ENV]\n"
            "       [--json]\n"
            "\n"
            "  up [--vehicles N] [--tenant NAME[:N][:free]]... [--dir DIR]\n"
            "                                 start a local fleet: hub, vehicles, dashboards\n"
            "  down [--dir DIR] [--purge]     stop it (--purge: delete its data too)\n"
            "  link [cut|heal VID] [--for 30s]  stage a vehicle's uplink outage\n"
            "  dashboard [--port P]           serve the fleet web page\n"
            "  topology FILE --out DIR        generate every hub, leaf and gateway config\n"
            "  hub init [--replicas N] ...    create or update the hub streams\n"
            "  twin VID                       latest value of every state of a vehicle\n"
            "  status                         one line per vehicle\n"
            "  replay VID --since 10m         history by event time (JSON lines, --csv)\n"
            "  cmd VID COMMAND [ARGS]         send a command (--ttl, --wait), print the verdict\n"
            "  cmd status ID | list VID       what became of commands (queued, accepted, ...)\n"
            "  sim ...                        vehicle simulator\n"
            "  creds add VID | list           per-vehicle leaf identities on the hubs\n"
            "  revoke VID                     remove a vehicle's identity, cut its uplink\n"
            "  audit [--since 1h]             the audit trail from the hub\n"
            "  guard [--dir DIR]              the hub-side check of vehicles' JetStream calls\n"
            "\n"
            "The fleet is found through --dir DIR (or AERIE_DIR, else ./.fleet when it exists),\n"
            "a directory made by `aerie up`, or --server nats://user:pass@host:port for a real\n"
            "hub. --tenant T (or AERIE_TENANT) acts as that tenant of the fleet directory, with\n"
            "its operator's login: it sees only its own vehicles. See docs/cli.md.\n",
            AERIE_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("aerie %s\n", AERIE_VERSION);
        return 0;
    }
    /* A reader of our stdout that goes away (`aerie replay ... | head`) should end the run
     * quietly rather than kill it mid-write with SIGPIPE noise; writes then fail instead. */
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = argv[1];
    if (strcmp(cmd, "sim") == 0)
        return aerie_cmd_sim(argc - 1, argv + 1);
    if (strcmp(cmd, "topology") == 0)
        return ae_cmd_topology(argc - 1, argv + 1);
    if (strcmp(cmd, "up") == 0 || strcmp(cmd, "down") == 0 || strcmp(cmd, "link") == 0) {
        int r = cmd[0] == 'u'   ? ae_cmd_up(argc - 1, argv + 1)
                : cmd[0] == 'd' ? ae_cmd_down(argc - 1, argv + 1)
                                : ae_cmd_link(argc - 1, argv + 1);
        nats_Close();
        return r;
    }
    ae_cli c;
    ae_cli_init(&c);
    int rc;
    if (strcmp(cmd, "hub") == 0)
        rc = ae_cmd_hub(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "twin") == 0)
        rc = ae_cmd_twin(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "status") == 0)
        rc = ae_cmd_status(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "replay") == 0)
        rc = ae_cmd_replay(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "cmd") == 0)
        rc = ae_cmd_cmd(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "dashboard") == 0)
        rc = ae_cmd_dashboard(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "creds") == 0)
        rc = ae_cmd_creds(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "revoke") == 0)
        rc = ae_cmd_revoke(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "audit") == 0)
        rc = ae_cmd_audit(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "guard") == 0)
        rc = ae_cmd_guard(&c, argc - 1, argv + 1);
    else {
        fprintf(stderr, "aerie: unknown command '%s'\n\n", cmd);
        usage(stderr);
        rc = 2;
    }
    ae_cli_close(&c);
    /* libnats keeps background threads and caches; release them so leak checkers see a
     * clean exit. */
    nats_Close();
    return rc;
}
