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
#include <linux/close_range.h>
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

/* ---- processes and files ------------------------------------------------------------ */

/* Ports handed out by this process (and inherited by case children), so that two calls
 * never return the same port even before the first one is bound. */
static int given_ports[512];
static size_t n_given_ports;

static bool port_given(int port)
{
    for (size_t i = 0; i < n_given_ports; i++)
        if (given_ports[i] == port)
            return true;
    return false;
}

/* True if 127.0.0.1:port can be bound for listening right now. No SO_REUSEADDR: a port in
 * TIME_WAIT is skipped too, which avoids surprising a server that does not set it. */
static bool port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int ah_free_port(void)
{
    /* Ports come from below the kernel's ephemeral range: a port bound to 0 would be an
     * ephemeral one, and a later outgoing connection could take it before our server
     * binds it (a hub restart on the same port then fails). The random start keeps two
     * test binaries run in parallel by ctest apart. */
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        int a = 0, b = 0;
        if (fscanf(f, "%d %d", &a, &b) == 2 && a > 12000)
            lo = a;
        fclose(f);
    }
    /* 20000-29999 is left out: `aerie up` draws its fleet's ports there (src/cli/proc.c),
     * and a test running `aerie up` beside this one must not lose a port to us. */
    const int low_base = 10000, low_span = 10000, high_base = 30000;
    int high_span = lo - 1000 - high_base;
    if (high_span < 0)
        high_span = 0;
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)ah_now_ms();
    for (int tries = 0; tries < 5000; tries++) {
        seed = seed * 1103515245u + 12345u;
        int r = (int)((seed >> 8) % (unsigned)(low_span + high_span));
        int port = r < low_span ? low_base + r : high_base + (r - low_span);
        if (port_given(port) || !port_bindable(port))
            continue;
        if (n_given_ports < sizeof given_ports / sizeof given_ports[0])
            given_ports[n_given_ports++] = port;
        else
            n_given_ports = 0; /* forget the oldest batch rather than fail */
        return port;
    }
    return -1;
}

int ah_spawn(ah_proc *p, const char *log_path, char *const argv[])
{
    p->pid = 0;
    snprintf(p->log_path, sizeof p->log_path, "%s", log_path ? log_path : "/dev/null");
    /* The exec-status pipe: closes on a successful exec, carries errno if exec fails. */
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(ep[0]);
        close(ep[1]);
        return -1;
    }
    if (pid == 0) {
        close(ep[0]);
        /* A server must not outlive the test that started it, even if that test is
         * SIGKILLed by a timeout. (Fires when the spawning thread exits: spawn from the
         * case's main thread.) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* Only stdio is passed on: a test's sockets leaking into a server would keep them
         * open (a "closed" listener still accepting) after the test closes its copy. The
         * exec-status pipe is already close-on-exec. */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            for (int fd = 3; fd < 1024; fd++)
                if (fd != ep[1])
                    fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        int in = open("/dev/null", O_RDONLY);
        int out = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0) {
            int e = errno;
            ssize_t w = write(ep[1], &e, sizeof e);
            (void)w;
            _exit(127);
        }
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        if (in > 2)
            close(in);
        if (out > 2)
            close(out);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(ep[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(ep[1]);
    int child_errno = 0;
    ssize_t n;
    while ((n = read(ep[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
    }
    close(ep[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        fprintf(stderr, "ah_spawn: cannot start %s: %s\n", argv[0], strerror(child_errno));
        return -1;
    }
    p->pid = pid;
    return 0;
}

int ah_stop(ah_proc *p, int sig, int timeout_ms)
{
    if (!p || p->pid <= 0)
        return -1;
    pid_t pid = p->pid;
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
        p->pid = 0;
        return status;
    }
    if (r < 0) {
        p->pid = 0;
        return -1; /* not our child */
    }
    kill(pid, sig);
    int64_t deadline = ah_now_ms() + timeout_ms;
    for (;;) {
        r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            p->pid = 0;
            return -1;
        }
        if (ah_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        ah_sleep_ms(5);
    }
    p->pid = 0;
    return status;
}

bool ah_alive(ah_proc *p)
{
    if (!p || p->pid <= 0)
        return false;
    /* WNOWAIT: look without reaping, so a later ah_stop still gets the exit status. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return false;
    return si.si_pid == 0;
}

int ah_wait_tcp(int port, int timeout_ms)
{
    int64_t deadline = ah_now_ms() + timeout_ms;
    do {
        int fd = ah_connect(port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        ah_sleep_ms(20);
    } while (ah_now_ms() < deadline);
    return -1;
}

/* The inode of the socket listening on port, from /proc/net/tcp (0 if none). */
static unsigned long listener_inode(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets(line, sizeof line, f)) { /* the header */
        fclose(f);
        return 0;
    }
    while (!found && fgets(line, sizeof line, f)) {
        unsigned lport = 0, state = 0;
        unsigned long inode = 0;
        /* sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode */
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*d %*d %lu", &lport, &state,
                   &inode) == 3 &&
            (int)lport == port && state == 0x0A)
            found = inode;
    }
    fclose(f);
    return found;
}

bool ah_pid_listens(pid_t pid, int port)
{
    unsigned long inode = listener_inode(port);
    if (!inode)
        return false;
    char dir[64], want[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool mine = false;
    struct dirent *e;
    while (!mine && (e = readdir(d))) {
        char path[600], target[64];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            mine = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return mine;
}

char *ah_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/aerie-%s-XXXXXX", tmp, tag ? tag : "test");
    if (!mkdtemp(path))
        return NULL;
    return strdup(path);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int ah_rmrf(const char *path)
{
    /* Refuse the obviously catastrophic, since tests build paths from env and strings. */
    if (!path || !*path || strcmp(path, "/") == 0 || strcmp(path, ".") == 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int ah_write_file(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    int rc = fclose(f);
    return n < 0 || rc != 0 ? -1 : 0;
}

char *ah_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf)
        return NULL;
    if (err) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

const char *ah_bin(const char *name)
{
    /* A ring of buffers (documented global state) so that a test can hold several paths
     * at once, e.g. in one argv. */
    static char ring[16][1024];
    static unsigned next;
    char *out = ring[next++ % 16];
    const char *dir = getenv("AERIE_BUILD_DIR");
    if (!dir || !*dir)
        dir = AH_BUILD_DIR;
    snprintf(out, sizeof ring[0], "%s/%s", dir, name);
    return out;
}

const char *ah_nats_server(void)
{
    const char *env = getenv("NATS_SERVER");
    if (env && *env)
        return env;
    if (access("/usr/sbin/nats-server", X_OK) == 0)
        return "/usr/sbin/nats-server";
    return "nats-server";
}

/* ---- raw sockets -------------------------------------------------------------------- */

int ah_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int ah_send_n(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ah_send(int fd, const char *s)
{
    return ah_send_n(fd, s, strlen(s));
}

/* The readers use read(), not recv(), so they also serve pipes (a child's stdout). */

/* Waits up to ms for fd to be readable. Returns >0 readable, 0 timeout, -1 error. */
static int wait_readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&pfd, 1, ms < 0 ? 0 : ms)) < 0 && errno == EINTR) {
    }
    return r;
}

int ah_read_until(int fd, char *buf, size_t cap, const char *needle, int timeout_ms)
{
    if (!buf || cap == 0)
        return -1;
    size_t len = 0, nlen = needle ? strlen(needle) : 0;
    buf[0] = '\0';
    int64_t deadline = ah_now_ms() + timeout_ms;
    while (len < cap - 1) {
        if (nlen && memmem(buf, len, needle, nlen))
            break;
        int left = (int)(deadline - ah_now_ms());
        if (left <= 0)
            break;
        int r = wait_readable(fd, left);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return len ? (int)len : -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    buf[len] = '\0';
    return (int)len;
}

int ah_read_for(int fd, char *buf, size_t cap, int timeout_ms)
{
    if (!buf || cap == 0)
        return 0;
    size_t len = 0;
    buf[0] = '\0';
    int64_t deadline = ah_now_ms() + timeout_ms;
    while (len < cap - 1) {
        int left = (int)(deadline - ah_now_ms());
        if (left <= 0)
            break;
        int r = wait_readable(fd, left);
        if (r <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (int)len;
}

bool ah_wait_closed(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    char scratch[4096];
    if (buf && cap)
        buf[0] = '\0';
    int64_t deadline = ah_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - ah_now_ms());
        if (left <= 0)
            return false;
        int r = wait_readable(fd, left);
        if (r < 0)
            return true;
        if (r == 0)
            return false;
        ssize_t n = read(fd, scratch, sizeof scratch);
        if (n == 0)
            return true; /* orderly FIN */
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return true; /* RST or other error: the connection is gone */
        }
        if (buf && cap > 1 && len < cap - 1) {
            size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
            memcpy(buf + len, scratch, take);
            len += take;
            buf[len] = '\0';
        }
    }
}

char *ah_http_get(int port, const char *path, int *status)
{
    if (status)
        *status = 0;
    int fd = ah_connect(port);
    if (fd < 0)
        return NULL;
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
             path, port);
    if (ah_send(fd, req) != 0) {
        close(fd);
        return NULL;
    }
    /* HTTP/1.0: the server closes after the body, so read until close. */
    size_t cap = 65536, len = 0;
    char *resp = malloc(cap);
    int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    while (resp) {
        int left = (int)(deadline - ah_now_ms());
        if (left <= 0)
            break;
        if (len + 1 >= cap) {
            char *nr = realloc(resp, cap * 2);
            if (!nr)
                break;
            resp = nr;
            cap *= 2;
        }
        if (wait_readable(fd, left) <= 0)
            break;
        ssize_t n = recv(fd, resp + len, cap - 1 - len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (!resp)
        return NULL;
    resp[len] = '\0';
    int code = 0;
    char *body = strstr(resp, "\r\n\r\n");
    if (sscanf(resp, "HTTP/%*d.%*d %d", &code) != 1 || !body) {
        free(resp);
        return NULL;
    }
    if (status)
        *status = code;
    body += 4;
    memmove(resp, body, strlen(body) + 1);
    return resp;
}

/* ---- a hub: nats-server cluster with JetStream --------------------------------------- */

static int hub_spawn(ah_hub *h, int i)
{
    char log[600];
    snprintf(log, sizeof log, "%s/hub%d.log", h->dir, i + 1);
    char *argv[] = {(char *)ah_nats_server(), "-c", h->conf_path[i], NULL};
    return ah_spawn(&h->proc[i], log, argv);
}

/* True once the node's /healthz answers 200 with the given query. */
static bool hub_healthy(ah_hub *h, int i, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/healthz%s", query);
    int status = 0;
    char *body = ah_http_get(h->http_port[i], path, &status);
    free(body);
    return status == 200;
}

/* True once node i's /jsz names a JetStream meta leader. A fresh cluster answers
 * /healthz?js-enabled-only=true before its meta group has elected a leader, and any
 * JetStream API request in that window fails with "JetStream system temporarily
 * unavailable"; waiting for the leader here keeps that race out of every test. */
static bool hub_meta_leader(ah_hub *h, int i)
{
    int status = 0;
    char *body = ah_http_get(h->http_port[i], "/jsz", &status);
    bool ok = false;
    if (body && status == 200) {
        const char *meta = strstr(body, "\"meta_cluster\"");
        const char *leader = meta ? strstr(meta, "\"leader\"") : NULL;
        if (leader) {
            leader = strchr(leader + 8, '"');
            ok = leader && leader[1] != '"'; /* a non-empty name */
        }
    }
    free(body);
    return ok;
}

void ah_print_tail(const char *path, size_t max)
{
    char *text = ah_read_file(path);
    if (!text)
        return;
    size_t len = strlen(text);
    fprintf(stderr, "---- tail of %s ----\n%s\n", path, len > max ? text + len - max : text);
    free(text);
}

int ah_count_in_file(const char *path, const char *needle)
{
    char *text = ah_read_file(path);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

void ah_hub_print_logs(const ah_hub *h, size_t max)
{
    for (int i = 0; h->dir[0] && i < h->nodes; i++) {
        char log[600];
        snprintf(log, sizeof log, "%s/hub%d.log", h->dir, i + 1);
        ah_print_tail(log, max);
    }
}

/* Waits until node i is healthy (and, in a cluster, sees a meta leader). */
static int hub_wait_node(ah_hub *h, int i, int64_t deadline)
{
    bool healthy = false, leader = h->nodes == 1;
    while (ah_now_ms() < deadline) {
        if (!ah_alive(&h->proc[i])) {
            fprintf(stderr, "ah_hub: hub%d exited during startup\n", i + 1);
            return -1;
        }
        /* Healthy on its own ports: a parallel test's server may answer on a port this
         * node could not bind (then the node exits, and the check above says so). */
        if (!healthy)
            healthy = ah_pid_listens(h->proc[i].pid, h->client_port[i]) &&
                      ah_pid_listens(h->proc[i].pid, h->http_port[i]) &&
                      hub_healthy(h, i, "?js-enabled-only=true");
        if (healthy && !leader)
            leader = hub_meta_leader(h, i);
        if (healthy && leader)
            return 0;
        ah_sleep_ms(50);
    }
    fprintf(stderr, "ah_hub: hub%d not ready in time (healthy=%d, meta leader=%d)\n", i + 1,
            healthy, leader);
    return -1;
}

int ah_hub_start(ah_hub *h, int nodes, const char *extra_conf)
{
    ah_hub_opts o = {.nodes = nodes, .extra_conf = extra_conf};
    return ah_hub_start_opts(h, &o);
}

int ah_hub_restart_node(ah_hub *h, int i)
{
    if (!h || i < 0 || i >= h->nodes)
        return -1;
    ah_stop(&h->proc[i], SIGTERM, 10000);
    if (hub_spawn(h, i) != 0)
        return -1;
    int64_t deadline = ah_now_ms() + (int64_t)(45000 * ah_timeout_scale());
    if (hub_wait_node(h, i, deadline) != 0) {
        ah_hub_print_logs(h, 3000);
        return -1;
    }
    return 0;
}

void ah_hub_stop(ah_hub *h)
{
    if (!h)
        return;
    /* Signal all first, then wait: shutting down one node at a time makes the survivors
     * spend the wait on leader elections. */
    for (int i = 0; i < h->nodes && i < AH_HUB_MAX; i++)
        if (h->proc[i].pid > 0)
            kill(h->proc[i].pid, SIGTERM);
    for (int i = 0; i < h->nodes && i < AH_HUB_MAX; i++)
        ah_stop(&h->proc[i], SIGTERM, 10000);
    if (h->dir[0]) {
        if (getenv("AH_KEEP_TMP"))
            fprintf(stderr, "ah_hub: keeping %s (AH_KEEP_TMP)\n", h->dir);
        else
            ah_rmrf(h->dir);
        h->dir[0] = '\0';
    }
}

/* ---- a hub with per-node leafnode settings ------------------------------------------- */

/* Writes node i's config. Without options it is the seed's leaf authorization in the shape
 * that loads on 2.9.10 (wire notes 2.1, shape B): top-level users, vehicle limited to LEAFNODE
 * connections; a users list means every client must log in, hence the operator user for
 * ordinary (STANDARD) clients. The options add node i's leafnodes lines or replace the users
 * block. */
static int hub_write_conf_opts(ah_hub *h, int i, const ah_hub_opts *o)
{
    char routes[1024] = "";
    size_t off = 0;
    for (int k = 0; k < h->nodes; k++) {
        int n = snprintf(routes + off, sizeof routes - off, "%s\"nats-route://127.0.0.1:%d\"",
                         k ? ", " : "", h->cluster_port[k]);
        if (n < 0 || (size_t)n >= sizeof routes - off)
            return -1;
        off += (size_t)n;
    }
    char cluster[1400] = "";
    if (h->nodes > 1)
        snprintf(cluster, sizeof cluster,
                 "cluster {\n  name: hubc\n  listen: 127.0.0.1:%d\n  routes: [ %s ]\n}\n",
                 h->cluster_port[i], routes);
    snprintf(h->conf_path[i], sizeof h->conf_path[i], "%s/hub%d.conf", h->dir, i + 1);
    const char *auth =
        o->authorization
            ? o->authorization
            : "authorization {\n  users = [\n"
              "    { user: vehicle, password: secret, allowed_connection_types: [\"LEAFNODE\", "
              "\"LEAFNODE_WS\"] }\n"
              "    { user: operator, password: secret, allowed_connection_types: [\"STANDARD\"] }\n"
              "  ]\n}\n";
    return ah_write_file(h->conf_path[i],
                         "server_name: hub%d\n"
                         "listen: 127.0.0.1:%d\n"
                         "http: 127.0.0.1:%d\n"
                         "jetstream {\n  store_dir: \"%s/data/hub%d\"\n  domain: hub\n"
                         "  max_memory_store: 256MB\n  max_file_store: 1GB\n}\n"
                         "%s"
                         "leafnodes {\n  listen: 127.0.0.1:%d\n%s\n}\n"
                         "websocket {\n  listen: 127.0.0.1:%d\n%s"
                         "  compression: true\n%s\n}\n"
                         "%s\n"
                         "%s\n",
                         i + 1, h->client_port[i], h->http_port[i], h->dir, i + 1, cluster,
                         h->leaf_port[i], o->leaf_conf[i] ? o->leaf_conf[i] : "", h->ws_port[i],
                         o->ws_conf[i] && strstr(o->ws_conf[i], "tls {") ? "" : "  no_tls: true\n",
                         o->ws_conf[i] ? o->ws_conf[i] : "", auth,
                         o->extra_conf ? o->extra_conf : "");
}

/* leaf port -> websocket port of the hub nodes this process started */
static int ws_map[64][2];
static int ws_map_n;

static void remember_ws_port(int leaf_port, int ws_port)
{
    if (ws_map_n < 64) {
        ws_map[ws_map_n][0] = leaf_port;
        ws_map[ws_map_n++][1] = ws_port;
    }
}

bool ah_uplink_ws(void)
{
    const char *t = getenv("AH_UPLINK_TRANSPORT");
    return t && !strcmp(t, "ws");
}

int ah_uplink_port(int leaf_port)
{
    if (!ah_uplink_ws())
        return leaf_port;
    for (int i = ws_map_n - 1; i >= 0; i--)
        if (ws_map[i][0] == leaf_port)
            return ws_map[i][1];
    return leaf_port;
}

void ah_leaf_url(char *buf, size_t cap, int port, const char *userinfo)
{
    snprintf(buf, cap, "%s://%s%s127.0.0.1:%d", ah_uplink_ws() ? "ws" : "nats-leaf",
             userinfo ? userinfo : "", userinfo ? "@" : "", ah_uplink_port(port));
}

const char *ah_leaf_remote_opts(void)
{
    return ah_uplink_ws() ? "ws_compression: true" : "";
}

int ah_hub_start_opts(ah_hub *h, const ah_hub_opts *o)
{
    memset(h, 0, sizeof *h);
    if (!o || o->nodes < 1 || o->nodes > AH_HUB_MAX)
        return -1;
    h->nodes = o->nodes;
    char *dir = ah_mkdtemp("hub");
    if (!dir)
        return -1;
    snprintf(h->dir, sizeof h->dir, "%s", dir);
    free(dir);
    for (int i = 0; i < h->nodes; i++) {
        h->client_port[i] = ah_free_port();
        h->cluster_port[i] = h->nodes > 1 ? ah_free_port() : 0;
        h->leaf_port[i] = o->leaf_port[i] > 0 ? o->leaf_port[i] : ah_free_port();
        h->ws_port[i] = o->ws_port[i] > 0 ? o->ws_port[i] : ah_free_port();
        h->http_port[i] = ah_free_port();
        if (h->client_port[i] < 0 || h->cluster_port[i] < 0 || h->leaf_port[i] < 0 ||
            h->ws_port[i] < 0 || h->http_port[i] < 0)
            goto fail;
        remember_ws_port(h->leaf_port[i], h->ws_port[i]);
    }
    for (int i = 0; i < h->nodes; i++)
        if (hub_write_conf_opts(h, i, o) != 0)
            goto fail;
    for (int i = 0; i < h->nodes; i++)
        if (hub_spawn(h, i) != 0)
            goto fail;
    int64_t deadline = ah_now_ms() + (int64_t)(45000 * ah_timeout_scale());
    for (int i = 0; i < h->nodes; i++)
        if (hub_wait_node(h, i, deadline) != 0)
            goto fail;
    return 0;
fail:
    ah_hub_print_logs(h, 3000);
    ah_hub_stop(h);
    return -1;
}

/* ---- running a program to completion -------------------------------------------------- */

ah_output ah_run_capture(const char *tmp_prefix, char *const argv[], int timeout_ms)
{
    char op[600], ep[600];
    snprintf(op, sizeof op, "%s.run.%d.out", tmp_prefix, (int)getpid());
    snprintf(ep, sizeof ep, "%s.run.%d.err", tmp_prefix, (int)getpid());
    ah_output r = {.code = -1};
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(op, "w", stdout) || !freopen(ep, "w", stderr))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int64_t deadline = ah_now_ms() + (int64_t)(timeout_ms * ah_timeout_scale());
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, WNOHANG) == 0) {
        if (ah_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            st = -1;
            break;
        }
        ah_sleep_ms(5);
    }
    if (pid > 0 && st != -1 && WIFEXITED(st))
        r.code = WEXITSTATUS(st);
    r.out = ah_read_file(op);
    r.err = ah_read_file(ep);
    unlink(op);
    unlink(ep);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    return r;
}

void ah_output_free(ah_output *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}
