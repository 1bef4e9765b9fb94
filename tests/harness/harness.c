/* The test harness implementation: the case runner, assertions' failure path, and the
 * helpers declared in harness.h for running real processes and sockets on loopback.
 *
 * Runner model: every case runs in its own forked child that becomes the leader of a new
 * process group. Everything the case spawns (nats-server, aerie-leaf, the relay) stays in
 * that group, so when the case ends -- passed, failed, crashed or timed out -- the runner
 * kills the whole group by its id and no server outlives its test. The child reports the
 * reason of a failure through a pipe, so the runner can print it on the case's own line.
 *
 * Global state (documented exception to the project rule): the runner keeps the write end
 * of the reason pipe and the current child's process group in file-level statics, because
 * ah_fail() and the signal handler have no other way to reach them. */
#include "harness/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AH_BUILD_DIR
#define AH_BUILD_DIR "."
#endif

/* ---- runner ------------------------------------------------------------------------- */

/* Write end of the reason pipe inside a case child; -1 outside a case. */
static int reason_fd = -1;
/* Process group of the case child being run; 0 when none. Read by the signal handler. */
static volatile sig_atomic_t running_pgid = 0;

void ah_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    int off = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    if (off < 0 || (size_t)off >= sizeof msg)
        off = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
    va_end(ap);
    /* Keep the reason on one line so the runner's "FAIL name: reason" stays one line. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fflush(stdout);
    fprintf(stderr, "FAILED: %s\n", msg);
    fflush(stderr);
    if (reason_fd >= 0) {
        size_t len = strlen(msg);
        ssize_t w = write(reason_fd, msg, len);
        (void)w;
    }
    /* _exit: a failing case must not run atexit handlers or leak checks of half-done
     * state; the failure is already recorded. Works from any thread (libnats callbacks). */
    _exit(1);
}

void ah_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t ah_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double ah_timeout_scale(void)
{
    const char *s = getenv("AH_TIMEOUT_SCALE");
    if (!s || !*s)
        return 1.0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !(v > 0.0) || !isfinite(v))
        return 1.0;
    return v;
}

/* On SIGINT/SIGTERM to the runner, take the running case's process group down with us:
 * the case child is in its own group, so a terminal's Ctrl-C would not reach it. */
static void on_runner_signal(int sig)
{
    if (running_pgid > 0)
        kill(-(pid_t)running_pgid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static bool name_selected(const char *name, int argc, char **argv)
{
    if (argc <= 1)
        return true;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

/* Runs one case in a child; fills reason (empty on success). Returns true if it passed. */
static bool run_case(const ah_case *c, char *reason, size_t cap, int64_t *elapsed_ms)
{
    reason[0] = '\0';
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(reason, cap, "pipe: %s", strerror(errno));
        return false;
    }
    double timeout_s = (c->timeout_s > 0 ? c->timeout_s : 60) * ah_timeout_scale();
    int64_t start = ah_now_ms();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(reason, cap, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    if (pid == 0) {
        close(pfd[0]);
        reason_fd = pfd[1];
        setpgid(0, 0);
        /* If the runner itself is killed (ctest timeout), do not linger. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_IGN); /* writes to a closed socket are test outcomes */
        c->fn();
        fflush(stdout);
        fflush(stderr);
        exit(0); /* exit, not _exit: lets LeakSanitizer check a passing case */
    }
    setpgid(pid, pid); /* also in the parent, to close the race before the child runs */
    running_pgid = pid;
    close(pfd[1]);

    int status = 0;
    bool timed_out = false;
    int64_t deadline = start + (int64_t)(timeout_s * 1000.0);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(reason, cap, "waitpid: %s", strerror(errno));
            status = -1;
            break;
        }
        if (ah_now_ms() >= deadline) {
            timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        ah_sleep_ms(5);
    }
    *elapsed_ms = ah_now_ms() - start;
    /* Whatever the case left running in its group goes now (servers of a failed case). */
    kill(-pid, SIGKILL);
    running_pgid = 0;

    char msg[1024];
    size_t got = 0;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        ssize_t n = read(pfd[0], msg + got, sizeof msg - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got >= sizeof msg - 1)
            break;
    }
    msg[got] = '\0';
    close(pfd[0]);

    if (timed_out) {
        snprintf(reason, cap, "timed out after %.1f s (killed)", timeout_s);
        return false;
    }
    if (reason[0])
        return false;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(reason, cap, "killed by signal %d (%s)%s%s", sig, strsignal(sig),
                 got ? "; last failure: " : "", msg);
        return false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        if (got)
            snprintf(reason, cap, "%s", msg);
        else
            snprintf(reason, cap,
                     "exited with status %d without an assertion failure (sanitizer report or "
                     "exit() in the code under test? see stderr)",
                     WEXITSTATUS(status));
        return false;
    }
    return true;
}

int ah_run(int argc, char **argv, const ah_case *cases, size_t n)
{
    signal(SIGINT, on_runner_signal);
    signal(SIGTERM, on_runner_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0;

    /* A name on the command line that matches no case is a failure: a typo must not make
     * a selective run look green. */
    for (int i = 1; i < argc; i++) {
        bool known = false;
        for (size_t k = 0; k < n; k++)
            if (strcmp(cases[k].name, argv[i]) == 0)
                known = true;
        if (!known) {
            printf("FAIL %s: no such case\n", argv[i]);
            failed++;
        }
    }

    for (size_t k = 0; k < n; k++) {
        if (!name_selected(cases[k].name, argc, argv))
            continue;
        char reason[1400];
        int64_t ms = 0;
        if (run_case(&cases[k], reason, sizeof reason, &ms)) {
            printf("ok %s (%lld ms)\n", cases[k].name, (long long)ms);
            passed++;
        } else {
            printf("FAIL %s: %s\n", cases[k].name, reason);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}
