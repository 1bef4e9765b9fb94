/* Tests of the runner and the process/file helpers. The runner is checked from outside:
 * the victim program (victim.c) is run as a subprocess and its report is read back, so a
 * deliberately failing case never makes this suite fail. */
#include "harness/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VICTIM_PATH
#error "VICTIM_PATH must name the victim program"
#endif

/* Runs the victim with extra args; returns its output and stores the exit code. */
static char *run_victim(const char *dir, const char *args[], int nargs, int *exit_code)
{
    char log[600];
    snprintf(log, sizeof log, "%s/victim-%d.log", dir, (int)ah_now_ms());
    char *argv[8] = {VICTIM_PATH};
    for (int i = 0; i < nargs && i < 6; i++)
        argv[i + 1] = (char *)args[i];
    argv[nargs + 1] = NULL;
    ah_proc p;
    AH_ASSERT(ah_spawn(&p, log, argv) == 0);
    int64_t deadline = ah_now_ms() + 30000;
    while (ah_alive(&p) && ah_now_ms() < deadline)
        ah_sleep_ms(20);
    int st = ah_stop(&p, SIGKILL, 1000);
    AH_ASSERT_MSG(WIFEXITED(st), "victim did not exit normally (status %d)", st);
    *exit_code = WEXITSTATUS(st);
    char *out = ah_read_file(log);
    AH_ASSERT(out != NULL);
    return out;
}

static void t_reports_each_failure(void)
{
    char *dir = ah_mkdtemp("runner");
    AH_ASSERT(dir);
    char pidfile[600];
    snprintf(pidfile, sizeof pidfile, "%s/child.pid", dir);
    setenv("VICTIM_PIDFILE", pidfile, 1);
    setenv("AH_TIMEOUT_SCALE", "1", 1); /* the outer run may be scaled (sanitizers) */
    int code = -1;
    char *out = run_victim(dir, NULL, 0, &code);
    AH_ASSERT_EQ_INT(code, 1);
    AH_ASSERT_MSG(strncmp(out, "ok pass (", 9) == 0, "first line: %.40s", out);
    AH_ASSERT_CONTAINS(out, "FAIL assert: ");
    AH_ASSERT_CONTAINS(out, "victim.c:");
    AH_ASSERT_CONTAINS(out, "\"left\" != \"right\"");
    AH_ASSERT_CONTAINS(out, "FAIL crash: killed by signal 6");
    AH_ASSERT_CONTAINS(out, "FAIL hang: timed out after 1.0 s");
    AH_ASSERT_CONTAINS(out, "FAIL hang_with_child: timed out");
    AH_ASSERT_CONTAINS(out, "\n1 passed, 4 failed\n");

    /* The sleep spawned by the timed-out case must be gone (killed with the case's
     * process group, or by its parent-death signal). */
    char *pidtext = ah_read_file(pidfile);
    AH_ASSERT_MSG(pidtext, "victim did not record its child's pid");
    pid_t child = (pid_t)atoi(pidtext);
    AH_ASSERT(child > 0);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        /* It is not our child: after it dies it is reaped by init, so kill() fails. A
         * zombie counts as gone too. */
        char stat_path[64];
        snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", (int)child);
        char *stat = ah_read_file(stat_path);
        gone = !stat || strstr(stat, ") Z ") != NULL;
        free(stat);
        if (!gone)
            ah_sleep_ms(20);
    }
    AH_ASSERT_MSG(gone, "process %d spawned by a timed-out case still runs", (int)child);
    free(pidtext);
    free(out);
    ah_rmrf(dir);
    free(dir);
}

static void t_selects_cases_by_name(void)
{
    char *dir = ah_mkdtemp("runner");
    AH_ASSERT(dir);
    setenv("AH_TIMEOUT_SCALE", "1", 1);
    int code = -1;
    const char *only_pass[] = {"pass"};
    char *out = run_victim(dir, only_pass, 1, &code);
    AH_ASSERT_EQ_INT(code, 0);
    AH_ASSERT_CONTAINS(out, "ok pass (");
    AH_ASSERT(strstr(out, "assert") == NULL);
    AH_ASSERT_CONTAINS(out, "\n1 passed, 0 failed\n");
    free(out);

    const char *typo[] = {"pass", "no_such_case"};
    out = run_victim(dir, typo, 2, &code);
    AH_ASSERT_EQ_INT(code, 1);
    AH_ASSERT_CONTAINS(out, "FAIL no_such_case: no such case");
    AH_ASSERT_CONTAINS(out, "\n1 passed, 1 failed\n");
    free(out);
    ah_rmrf(dir);
    free(dir);
}

static void t_timeout_scale(void)
{
    char *dir = ah_mkdtemp("runner");
    AH_ASSERT(dir);
    setenv("AH_TIMEOUT_SCALE", "2.5", 1);
    int code = -1;
    const char *hang[] = {"hang"};
    int64_t t0 = ah_now_ms();
    char *out = run_victim(dir, hang, 1, &code);
    int64_t took = ah_now_ms() - t0;
    AH_ASSERT_CONTAINS(out, "FAIL hang: timed out after 2.5 s");
    AH_ASSERT_MSG(took >= 2400, "scaled timeout came after only %lld ms", (long long)took);
    unsetenv("AH_TIMEOUT_SCALE");
    free(out);
    ah_rmrf(dir);
    free(dir);
}

static void t_free_ports_distinct_and_bindable(void)
{
    int ports[64];
    for (int i = 0; i < 64; i++) {
        ports[i] = ah_free_port();
        AH_ASSERT(ports[i] > 1024 && ports[i] < 65536);
        for (int k = 0; k < i; k++)
            AH_ASSERT_MSG(ports[k] != ports[i], "port %d handed out twice", ports[i]);
    }
    /* Nothing listens there: a connect must fail, and ah_wait_tcp must time out. */
    AH_ASSERT_EQ_INT(ah_connect(ports[0]), -1);
    int64_t t0 = ah_now_ms();
    AH_ASSERT_EQ_INT(ah_wait_tcp(ports[0], 200), -1);
    AH_ASSERT(ah_now_ms() - t0 >= 190);
}

/* A listener is told apart by its owner: ours here, not a spawned child's, and the other
 * way round once the child listens. */
static void t_pid_listens(void)
{
    int port = ah_free_port();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0);
    ah_proc child;
    char *sleeper[] = {"sleep", "30", NULL};
    AH_ASSERT(ah_spawn(&child, NULL, sleeper) == 0);
    AH_ASSERT(ah_pid_listens(getpid(), port));
    AH_ASSERT(!ah_pid_listens(child.pid, port));
    close(fd);
    AH_ASSERT(!ah_pid_listens(getpid(), port)); /* nobody listens now */
    ah_stop(&child, SIGKILL, 1000);
}

static void t_spawn_stop_alive(void)
{
    char *dir = ah_mkdtemp("spawn");
    AH_ASSERT(dir);
    char log[600];
    snprintf(log, sizeof log, "%s/out.log", dir);
    ah_proc p;
    char *echo[] = {"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3", NULL};
    AH_ASSERT(ah_spawn(&p, log, echo) == 0);
    int st = -1;
    for (int i = 0; i < 250 && ah_alive(&p); i++)
        ah_sleep_ms(20);
    AH_ASSERT(!ah_alive(&p));
    st = ah_stop(&p, SIGTERM, 1000); /* already exited: the status is still ours */
    AH_ASSERT(WIFEXITED(st));
    AH_ASSERT_EQ_INT(WEXITSTATUS(st), 3);
    char *text = ah_read_file(log);
    AH_ASSERT_CONTAINS(text, "to-stdout");
    AH_ASSERT_CONTAINS(text, "to-stderr");
    free(text);

    char *sleeper[] = {"sleep", "300", NULL};
    AH_ASSERT(ah_spawn(&p, NULL, sleeper) == 0);
    AH_ASSERT(ah_alive(&p));
    st = ah_stop(&p, SIGTERM, 2000);
    AH_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    AH_ASSERT_EQ_INT(p.pid, 0);
    AH_ASSERT_EQ_INT(ah_stop(&p, SIGTERM, 10), -1); /* twice: nothing to stop */

    /* A program that ignores SIGTERM is SIGKILLed after the grace time. */
    char *stubborn[] = {"sh", "-c", "trap '' TERM; sleep 300 & wait", NULL};
    AH_ASSERT(ah_spawn(&p, NULL, stubborn) == 0);
    ah_sleep_ms(100);
    int64_t t0 = ah_now_ms();
    st = ah_stop(&p, SIGTERM, 300);
    AH_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    AH_ASSERT(ah_now_ms() - t0 >= 290);

    /* A test's own sockets are not inherited: after the test closes its listener, the
     * port refuses connections even though a spawned process still runs. */
    int lport = ah_free_port();
    int lfd = socket(AF_INET, SOCK_STREAM, 0); /* deliberately without SOCK_CLOEXEC */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AH_ASSERT(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 4) == 0);
    AH_ASSERT(ah_spawn(&p, NULL, sleeper) == 0);
    close(lfd);
    AH_ASSERT_EQ_INT(ah_connect(lport), -1);
    ah_stop(&p, SIGKILL, 1000);

    char *missing[] = {"/nonexistent/aerie-no-such-program", NULL};
    AH_ASSERT_EQ_INT(ah_spawn(&p, NULL, missing), -1);
    AH_ASSERT_EQ_INT(p.pid, 0);
    ah_rmrf(dir);
    free(dir);
}

static void t_files_and_dirs(void)
{
    char *dir = ah_mkdtemp("files");
    AH_ASSERT(dir);
    AH_ASSERT_CONTAINS(dir, "aerie-files-");
    char sub[600], path[700];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/a", dir);
    AH_ASSERT(mkdir(path, 0755) == 0 && mkdir(sub, 0755) == 0);
    snprintf(path, sizeof path, "%s/f.txt", sub);
    AH_ASSERT(ah_write_file(path, "n=%d s=%s", 42, "x") == 0);
    char *text = ah_read_file(path);
    AH_ASSERT_EQ_STR(text, "n=42 s=x");
    free(text);
    AH_ASSERT(ah_read_file("/nonexistent/aerie") == NULL);
    AH_ASSERT_EQ_INT(ah_rmrf(dir), 0);
    AH_ASSERT(access(dir, F_OK) != 0);
    AH_ASSERT_EQ_INT(ah_rmrf(dir), 0); /* already gone is fine */
    AH_ASSERT_EQ_INT(ah_rmrf("/"), -1);
    free(dir);
}

static void t_bin_path(void)
{
    setenv("AERIE_BUILD_DIR", "/opt/x", 1);
    const char *a = ah_bin("aerie-leaf");
    const char *b = ah_bin("aerie-gw");
    AH_ASSERT_EQ_STR(a, "/opt/x/aerie-leaf"); /* both stay valid at once */
    AH_ASSERT_EQ_STR(b, "/opt/x/aerie-gw");
    unsetenv("AERIE_BUILD_DIR");
    AH_ASSERT_CONTAINS(ah_bin("aerie-relay"), "/aerie-relay");
    AH_ASSERT(access(ah_bin("aerie-relay"), X_OK) == 0);
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"reports_each_failure", t_reports_each_failure, 30},
        {"selects_cases_by_name", t_selects_cases_by_name, 20},
        {"timeout_scale", t_timeout_scale, 20},
        {"free_ports_distinct_and_bindable", t_free_ports_distinct_and_bindable, 10},
        {"pid_listens", t_pid_listens, 10},
        {"spawn_stop_alive", t_spawn_stop_alive, 20},
        {"files_and_dirs", t_files_and_dirs, 10},
        {"bin_path", t_bin_path, 10},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
