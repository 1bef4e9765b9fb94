/* Hostile clients over real sockets (issue 18's campaign, the part that fits CI): aerie-leaf
 * under tests/hostile/wirefuzz for a while, with a well-behaved client that must be answered
 * throughout; then SIGTERM must end it cleanly (and, under ASan, without a report). The same
 * run against nats-server is the control: the fuzzer itself must not be what fails. The long
 * campaign is bench/hostile_campaign.sh. */
#include "harness/harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int seconds(void)
{
    const char *e = getenv("WIREFUZZ_SECONDS");
    return e ? atoi(e) : 15;
}

static void run_against(const char *prog, bool leaf)
{
    char *dir = ah_mkdtemp("wirefuzz");
    char log[600], flog[600], portarg[16];
    snprintf(log, sizeof log, "%s/broker.log", dir);
    snprintf(flog, sizeof flog, "%s/wirefuzz.log", dir);
    int port = ah_free_port();
    snprintf(portarg, sizeof portarg, "%d", port);
    char *argv_leaf[] = {(char *)prog, "-a", "127.0.0.1", "-p", portarg, NULL};
    ah_proc b;
    AH_ASSERT(ah_spawn(&b, log, argv_leaf) == 0);
    AH_ASSERT_MSG(ah_wait_tcp(port, 5000) == 0, "%s did not open port %d", prog, port);
    char secs[16], seed[32];
    snprintf(secs, sizeof secs, "%d", seconds());
    const char *se = getenv("WIREFUZZ_SEED");
    snprintf(seed, sizeof seed, "%s", se ? se : "");
    if (!se)
        snprintf(seed, sizeof seed, "%ld", (long)time(NULL) ^ (long)getpid());
    char *argv_fz[] = {(char *)ah_bin("aerie-wirefuzz"), portarg, secs, seed, NULL};
    ah_output o = ah_run_capture(flog, argv_fz, (seconds() + 30) * 1000);
    printf("  %s: %s%s", leaf ? "aerie-leaf" : "nats-server", o.out, o.err);
    if (o.code != 0) {
        ah_print_tail(log, 3000);
        AH_ASSERT_MSG(0, "wirefuzz against %s failed (exit %d, seed %s)", prog, o.code, seed);
    }
    AH_ASSERT_MSG(ah_alive(&b), "%s died under the fuzzer", prog);
    int st = ah_stop(&b, SIGTERM, 10000);
    if (leaf) {
        AH_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "aerie-leaf did not exit 0 (%d)", st);
        AH_ASSERT_MSG(ah_count_in_file(log, "ERROR: AddressSanitizer") == 0 &&
                          ah_count_in_file(log, "runtime error") == 0,
                      "a sanitizer report in aerie-leaf's log");
    }
    ah_output_free(&o);
    ah_rmrf(dir);
    free(dir);
}

static void wirefuzz_leaf(void)
{
    run_against(ah_bin("aerie-leaf"), true);
}

static void wirefuzz_nats_server(void)
{
    run_against(ah_nats_server(), false);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"wirefuzz_leaf", wirefuzz_leaf, 120},
        {"wirefuzz_nats_server", wirefuzz_nats_server, 120},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
