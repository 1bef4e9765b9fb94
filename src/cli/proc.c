/* Daemons, ownership checks, ports and small socket helpers for a local fleet; see proc.h.
 *
 * Why a session of its own: the fleet must outlive the `aerie up` that started it and must
 * not be hit by a Ctrl-C in the terminal that ran it, so each program gets setsid() and no
 * controlling terminal. An exec failure travels back over a close-on-exec pipe, so `up` can
 * say "cannot run X: No such file" instead of finding a dead PID later. */
#include "cli/proc.h"
#include "common/random.h"
#include "common/tcp.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int ae_proc_self_exe(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        return AE_EIO;
    out[n] = 0;
    return 0;
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int on_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path)
        return AE_ENOENT;
    char *copy = strdup(path);
    int rc = AE_ENOENT;
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", *d ? d : ".", name);
        if (executable(out)) {
            char real[PATH_MAX];
            if (realpath(out, real))
                snprintf(out, cap, "%s", real);
            rc = 0;
            break;
        }
    }
    free(copy);
    return rc;
}

int ae_proc_find_program(const char *name, char *out, size_t cap)
{
    char self[PATH_MAX];
    if (ae_proc_self_exe(self, sizeof self) == 0) {
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, cap, "%s/%s", self, name);
            if (executable(out))
                return 0;
            /* An installed aerie (/usr/bin/aerie) keeps its helpers (aerie-relay) private. */
            snprintf(out, cap, "%s/../libexec/aerie/%s", self, name);
            if (executable(out))
                return 0;
        }
    }
    return on_path(name, out, cap);
}

int ae_proc_find_nats_server(char *out, size_t cap, ae_err *err)
{
    const char *env = getenv("NATS_SERVER");
    if (env && *env) {
        if (executable(env)) {
            snprintf(out, cap, "%s", env);
            return 0;
        }
        return ae_err_set(err, AE_ENOENT, "NATS_SERVER=%s is not an executable file", env);
    }
    if (on_path("nats-server", out, cap) == 0)
        return 0;
    snprintf(out, cap, "/usr/sbin/nats-server");
    if (executable(out))
        return 0;
    return ae_err_set(err, AE_ENOENT,
                      "nats-server is not installed (the hub runs on it): install it with "
                      "`sudo apt-get install nats-server` (Debian/Ubuntu), or set NATS_SERVER "
                      "to its path");
}

pid_t ae_proc_spawn_daemon(char *const argv[], const char *log_path, const char *cwd,
                           const char *fleet_dir, ae_err *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return ae_err_set(err, AE_EIO, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return ae_err_set(err, AE_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int e = 0;
        setsid();
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
            (cwd && chdir(cwd) != 0)) {
            e = errno;
            goto fail;
        }
        /* Only stdio and the error pipe (close-on-exec) may reach the program: a leaked
         * listening socket of ours would keep a port busy for the fleet's lifetime. */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != pfd[1])
                close(fd);
        setenv(AE_FLEET_ENV, fleet_dir, 1);
        execve(argv[0], argv, environ);
        e = errno;
    fail:
        if (write(pfd[1], &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(pfd[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        return ae_err_set(err, AE_EIO, "cannot run %s: %s (log: %s)", argv[0], strerror(e),
                          log_path);
    }
    return pid;
}

/* Reads a /proc file of NUL-separated strings. Returns its length or -1. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len >= cap - 1)
            break;
    }
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

static bool is_zombie(pid_t pid)
{
    char st[512];
    if (read_proc(pid, "stat", st, sizeof st) <= 0)
        return true;
    const char *p = strrchr(st, ')'); /* the name may contain spaces and parentheses */
    return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

bool ae_proc_busy(pid_t pid)
{
    char st[512];
    if (read_proc(pid, "stat", st, sizeof st) <= 0)
        return false;
    const char *p = strrchr(st, ')');
    return p && p[1] == ' ' && (p[2] == 'R' || p[2] == 'D');
}

int64_t ae_proc_cpu_ticks(pid_t pid)
{
    char st[512];
    if (read_proc(pid, "stat", st, sizeof st) <= 0)
        return -1;
    const char *p = strrchr(st, ')');
    unsigned long long ut, stime;
    /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime */
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
        return -1;
    return (int64_t)(ut + stime);
}

bool ae_proc_owned(pid_t pid, const char *prog, const char *fleet_dir)
{
    if (pid <= 0)
        return false;
    /* A child of ours that exited is a zombie until reaped: reap it, it is gone. */
    if (waitpid(pid, NULL, WNOHANG) == pid)
        return false;
    if (kill(pid, 0) != 0 || is_zombie(pid))
        return false;
    static char buf[256 * 1024]; /* environments can be large; single-threaded use only */
    char want[PATH_MAX + 32];
    int wl = snprintf(want, sizeof want, "%s=%s", AE_FLEET_ENV, fleet_dir);
    ssize_t n = read_proc(pid, "environ", buf, sizeof buf);
    bool env_ok = false;
    for (ssize_t off = 0; n > 0 && off < n;) {
        const char *s = buf + off;
        size_t l = strnlen(s, (size_t)(n - off));
        if ((int)l == wl && memcmp(s, want, l) == 0) {
            env_ok = true;
            break;
        }
        off += (ssize_t)l + 1;
    }
    if (!env_ok)
        return false;
    if (!prog)
        return true;
    char cmd[PATH_MAX];
    if (read_proc(pid, "cmdline", cmd, sizeof cmd) <= 0)
        return false;
    const char *base = strrchr(cmd, '/');
    base = base ? base + 1 : cmd;
    return strcmp(base, prog) == 0;
}

int ae_proc_stop_all(const pid_t *pids, const char *const *progs, size_t n, const char *fleet_dir,
                     int grace_ms)
{
    bool *mine = calloc(n ? n : 1, sizeof *mine);
    int signalled = 0;
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0 && ae_proc_owned(pids[i], progs ? progs[i] : NULL, fleet_dir) &&
            kill(pids[i], SIGTERM) == 0) {
            mine[i] = true;
            signalled++;
        }
    for (int round = 0; round < 2; round++) {
        int64_t deadline = ae_mono_ns() + (int64_t)(round ? 2000 : grace_ms) * AE_NS_PER_MS;
        for (;;) {
            bool any = false;
            for (size_t i = 0; i < n; i++)
                if (mine[i]) {
                    if (ae_proc_owned(pids[i], NULL, fleet_dir))
                        any = true;
                    else
                        mine[i] = false;
                }
            if (!any || ae_mono_ns() > deadline)
                break;
            ae_sleep_ms(20);
        }
        if (round == 0)
            for (size_t i = 0; i < n; i++)
                if (mine[i] && ae_proc_owned(pids[i], NULL, fleet_dir))
                    kill(pids[i], SIGKILL);
    }
    free(mine);
    return signalled;
}

/* Whether our programs could listen on 127.0.0.1:port. They all set SO_REUSEADDR on TCP
 * listeners (nats-server, aerie-leaf, aerie-relay), so a port whose last connection is in
 * TIME_WAIT (a fleet that was just stopped) counts as free; a port with a listener does
 * not. UDP is checked without it: there SO_REUSEADDR would let two sockets share a port. */
static bool can_bind(int socktype, int port)
{
    int fd = socket(AF_INET, socktype | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return false;
    if (socktype == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int ae_proc_free_port(int socktype, int prefer, const int *avoid, size_t navoid)
{
    if (prefer > 0 && can_bind(socktype, prefer))
        return prefer;
    for (int tries = 0; tries < 2000; tries++) {
        uint32_t r = 0;
        if (ae_random_below(10000, &r, NULL) != 0)
            return AE_EIO;
        int port = 20000 + (int)r;
        bool taken = false;
        for (size_t i = 0; i < navoid && !taken; i++)
            taken = avoid[i] == port;
        /* A TCP port is also checked for UDP and the other way round, so that one number
         * names one thing in the summary. */
        if (!taken && can_bind(SOCK_STREAM, port) && can_bind(SOCK_DGRAM, port))
            return port;
    }
    return AE_EIO;
}

bool ae_proc_tcp_ready(int port, int timeout_ms)
{
    int fd = ae_tcp_connect("127.0.0.1", port, timeout_ms, NULL);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static bool has_newline(const char *s, size_t n)
{
    return memchr(s, '\n', n) != NULL;
}

int ae_proc_line_cmd(int port, const char *line, char *reply, size_t cap, int timeout_ms)
{
    int64_t deadline = ae_mono_ns() + (int64_t)timeout_ms * AE_NS_PER_MS;
    int fd = ae_tcp_connect("127.0.0.1", port, timeout_ms, NULL);
    if (fd < 0)
        return AE_EIO;
    char req[512], buf[4096];
    int n = snprintf(req, sizeof req, "%s\n", line);
    ssize_t got = -1;
    if (n > 0 && (size_t)n < sizeof req && ae_tcp_send_all(fd, req, (size_t)n, deadline) == 0)
        got = ae_tcp_read_until(fd, buf, sizeof buf, 0, has_newline, deadline);
    close(fd);
    if (got <= 0 || !has_newline(buf, (size_t)got))
        return AE_EIO;
    buf[strcspn(buf, "\r\n")] = 0;
    if (reply)
        snprintf(reply, cap, "%s", buf);
    return 0;
}

int ae_proc_mkdirs(const char *path, ae_err *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return ae_err_set(err, AE_EIO, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return ae_err_set(err, AE_EIO, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}
