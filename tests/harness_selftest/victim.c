/* A deliberately broken test program for the runner's own tests: one case passes, the
 * others fail in each way the runner must report (assertion, crash, timeout, and a
 * timeout while a spawned process runs, which the runner must also kill). Never run by
 * ctest directly -- selftest_runner.c runs it as a subprocess and checks its output. */
#include "harness/harness.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void t_pass(void)
{
    AH_ASSERT_EQ_INT(2 + 2, 4);
}

static void t_assert(void)
{
    AH_ASSERT_EQ_STR("left", "right");
}

/* abort(), not a SIGSEGV: AddressSanitizer turns SIGSEGV into an exit(1) report, which
 * would hide what this case checks (death by a signal). */
static void t_crash(void)
{
    abort();
}

static void t_hang(void)
{
    for (;;)
        pause();
}

/* Spawns a long sleep, records its PID in $VICTIM_PIDFILE, then hangs until the runner's
 * timeout: the sleep must not survive the case. */
static void t_hang_with_child(void)
{
    ah_proc p;
    char *argv[] = {"sleep", "300", NULL};
    AH_ASSERT(ah_spawn(&p, NULL, argv) == 0);
    const char *pidfile = getenv("VICTIM_PIDFILE");
    if (pidfile)
        AH_ASSERT(ah_write_file(pidfile, "%d\n", (int)p.pid) == 0);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"pass", t_pass, 0},
        {"assert", t_assert, 0},
        {"crash", t_crash, 0},
        {"hang", t_hang, 1},
        {"hang_with_child", t_hang_with_child, 1},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
