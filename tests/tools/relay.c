/* aerie-relay: a TCP relay on loopback that injects link faults for tests.
 *
 *   aerie-relay --listen PORT --to HOST:PORT [--control PORT]
 *
 * PORT 0 lets the kernel choose (the listener is then never lost to a race with another
 * process); the chosen ports are printed on the READY line on stdout.
 * Every connection accepted on PORT is paired with a new connection to the target, and
 * bytes are copied both ways. A line protocol on the control port (and on stdin) changes
 * how the link behaves at run time, the way a cellular link to a drone misbehaves:
 *
 *   cut            close every relayed connection with RST, and reset new ones until heal
 *   blackhole      forward nothing and close nothing: bytes are held (not read), no FIN, no
 *                  RST, and new connections are accepted but not connected onwards -- a dead
 *                  link as the endpoints see it, until their own keepalives give up
 *   heal           back to normal; held bytes flow again, in order
 *   delay MS       hold each chunk MS milliseconds before forwarding it (each direction)
 *   rate BPS       at most BPS bytes per second each direction, for all connections
 *                  together, like one link's capacity (0: unlimited)
 *   stats          one JSON object: state, connections, bytes each way, settings
 *   help, quit
 *
 * Each command is answered with one line, "OK ..." or "ERR ...". The relay is one thread
 * around epoll with level-triggered interest recomputed after each pass, which keeps the
 * state machine small: every pass "pumps" all pairs (read what may be read, write what is
 * due) and then asks epoll only for the readiness the pairs are waiting for.
 *
 * Blackholed bytes are held rather than dropped on purpose: TCP never loses bytes in the
 * middle of a stream, so a link that comes back delivers everything that was sent or the
 * connection dies; dropping bytes would create a stream no real network can produce. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes a direction may hold before the relay stops reading from its source: large enough
 * for `delay` to keep a few hundred ms of a fast stream in flight, small enough to keep the
 * sender's own buffers (and so its back-pressure) in play. */
#define QUEUE_LIMIT (1024 * 1024)
#define READ_CHUNK  16384
#define CTL_LINE    512

enum link_state { LINK_NORMAL, LINK_BLACKHOLE, LINK_CUT };
static const char *state_name[] = {"normal", "blackhole", "cut"};

enum ep_kind { EP_LISTEN, EP_CTL_LISTEN, EP_CTL, EP_STDIN };

/* What an epoll event points at, for the listeners, control connections and stdin. Pair
 * sockets are tagged differently (see PAIR_TAG): a pair can be freed and its memory
 * reused by a new pair within one batch of events, so they are found by id instead. */
struct ep {
    enum ep_kind kind;
    void *owner;
};
#define PAIR_TAG (UINT64_C(1) << 63) /* user-space pointers never have bit 63 set */

/* A token bucket for one direction of the link, shared by all connections: the rate is
 * the capacity of the (simulated) link, not of each connection. */
struct bucket {
    double tokens; /* bytes that may be written now */
    int64_t refill_ms;
};

struct chunk {
    struct chunk *next;
    int64_t due_ms; /* not written before this time (delay) */
    size_t len, off;
    char data[];
};

/* One direction of a pair: bytes read from `from` queued for `to`. */
struct dir {
    struct chunk *head, *tail;
    size_t queued;
    bool eof_in;           /* source sent FIN: nothing more will be read */
    bool shut_out;         /* FIN passed on to the destination */
    bool blocked;          /* destination's send buffer was full: wait for EPOLLOUT */
    struct bucket *bucket; /* the link's rate limit for this direction */
    uint64_t bytes;        /* delivered to the destination */
};

struct pair {
    struct pair *next;
    uint64_t id;
    int fd[2]; /* 0: client side (accepted), 1: upstream (to the target) */
    bool registered[2];
    uint32_t mask[2];
    bool hup[2];     /* epoll reported HUP/ERR: no longer registered */
    bool connecting; /* upstream connect in progress */
    bool pending;    /* accepted during blackhole: upstream not started yet */
    struct dir up;   /* client -> target */
    struct dir down; /* target -> client */
};

struct ctl {
    struct ctl *next;
    int fd;
    struct ep ep;
    char buf[CTL_LINE];
    size_t len;
};

/* The relay's whole state; one instance lives in main. */
struct relay {
    int epfd;
    int listen_fd, ctl_fd;
    struct ep listen_ep, ctl_ep, stdin_ep;
    struct sockaddr_storage target;
    socklen_t target_len;
    enum link_state state;
    int delay_ms;
    long rate;               /* bytes per second; 0 unlimited */
    struct bucket bucket[2]; /* 0: client -> target, 1: target -> client */
    struct pair *pairs;
    struct ctl *ctls;
    uint64_t accepted, next_id, refused, live;
    uint64_t closed_up, closed_down; /* bytes delivered by pairs already closed */
    bool quit;
    char stdin_buf[CTL_LINE];
    size_t stdin_len;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "aerie-relay: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* Closes fd so that the peer sees RST instead of FIN. */
static void close_rst(int fd)
{
    if (fd < 0)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* ---- pairs ---------------------------------------------------------------------------- */

static void dir_free(struct dir *d)
{
    struct chunk *c = d->head;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    d->head = d->tail = NULL;
    d->queued = 0;
}

static void pair_unregister(struct relay *r, struct pair *p, int side)
{
    if (p->registered[side]) {
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, p->fd[side], NULL);
        p->registered[side] = false;
    }
}

/* Removes p from the list and frees it; `rst` closes both sockets abruptly. */
static void pair_close(struct relay *r, struct pair *p, bool rst, const char *why)
{
    for (int s = 0; s < 2; s++) {
        if (p->fd[s] < 0)
            continue;
        pair_unregister(r, p, s);
        if (rst)
            close_rst(p->fd[s]);
        else
            close(p->fd[s]);
        p->fd[s] = -1;
    }
    logf_("conn %" PRIu64 " closed (%s): up %" PRIu64 " B, down %" PRIu64 " B", p->id, why,
          p->up.bytes, p->down.bytes);
    r->closed_up += p->up.bytes;
    r->closed_down += p->down.bytes;
    dir_free(&p->up);
    dir_free(&p->down);
    for (struct pair **pp = &r->pairs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    r->live--;
    free(p);
}

/* Starts the non-blocking connect to the target. Returns 0 or -1. */
static int pair_connect(struct relay *r, struct pair *p)
{
    int fd = socket(r->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->fd[1] = fd;
    p->pending = false;
    if (connect(fd, (struct sockaddr *)&r->target, r->target_len) == 0) {
        p->connecting = false;
        return 0;
    }
    if (errno == EINPROGRESS) {
        p->connecting = true;
        return 0;
    }
    return -1;
}

static void dir_push(struct relay *r, struct dir *d, const char *data, size_t n, int64_t now)
{
    struct chunk *c = malloc(sizeof *c + n);
    if (!c) {
        logf_("out of memory");
        exit(2);
    }
    c->next = NULL;
    c->due_ms = now + r->delay_ms;
    c->len = n;
    c->off = 0;
    memcpy(c->data, data, n);
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->queued += n;
}

/* Refills the token bucket; the burst is 1/10 s of the rate so a throttled stream stays
 * smooth at the scale tests measure (hundreds of ms). */
static void bucket_refill(struct relay *r, struct bucket *b, int64_t now)
{
    if (r->rate <= 0)
        return;
    double burst = r->rate / 10.0 < 1.0 ? 1.0 : r->rate / 10.0;
    b->tokens += (double)(now - b->refill_ms) * (double)r->rate / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->refill_ms = now;
}

/* Moves bytes for one direction. Returns -1 if the pair must be aborted. */
static int dir_pump(struct relay *r, struct pair *p, struct dir *d, int from, int to, int64_t now)
{
    char buf[READ_CHUNK];
    while (!d->eof_in && d->queued < QUEUE_LIMIT) {
        ssize_t n = recv(p->fd[from], buf, sizeof buf, 0);
        if (n > 0) {
            dir_push(r, d, buf, (size_t)n, now);
            continue;
        }
        if (n == 0) {
            d->eof_in = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        return -1;
    }
    struct bucket *b = d->bucket;
    bucket_refill(r, b, now);
    while (d->head && d->head->due_ms <= now) {
        struct chunk *c = d->head;
        size_t want = c->len - c->off;
        if (r->rate > 0) {
            if (b->tokens < 1.0)
                break;
            if ((double)want > b->tokens)
                want = (size_t)b->tokens;
        }
        ssize_t w = send(p->fd[to], c->data + c->off, want, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                d->blocked = true;
                break;
            }
            return -1;
        }
        d->blocked = false;
        c->off += (size_t)w;
        d->queued -= (size_t)w;
        d->bytes += (uint64_t)w;
        if (r->rate > 0)
            b->tokens -= (double)w;
        if (c->off == c->len) {
            d->head = c->next;
            if (!d->head)
                d->tail = NULL;
            free(c);
        }
    }
    if (d->eof_in && !d->head && !d->shut_out) {
        shutdown(p->fd[to], SHUT_WR);
        d->shut_out = true;
    }
    return 0;
}

/* One pass over a pair. Returns false if the pair was closed. */
static bool pair_pump(struct relay *r, struct pair *p, int64_t now)
{
    if (r->state != LINK_NORMAL || p->pending || p->connecting)
        return true;
    if (dir_pump(r, p, &p->up, 0, 1, now) != 0 || dir_pump(r, p, &p->down, 1, 0, now) != 0) {
        pair_close(r, p, true, "socket error");
        return false;
    }
    if (p->up.shut_out && p->down.shut_out) {
        pair_close(r, p, false, "both sides finished");
        return false;
    }
    return true;
}

/* Makes epoll wait for exactly what the pair is waiting for. Nothing is registered while
 * blackholed: a registered socket whose peer went away would report HUP on every pass. */
static void pair_sync(struct relay *r, struct pair *p)
{
    for (int s = 0; s < 2; s++) {
        if (p->fd[s] < 0)
            continue;
        bool want_reg = r->state == LINK_NORMAL && !p->hup[s] && !p->pending;
        uint32_t mask = 0;
        struct dir *in = s == 0 ? &p->up : &p->down;  /* read from this side */
        struct dir *out = s == 0 ? &p->down : &p->up; /* written to this side */
        if (s == 1 && p->connecting) {
            mask = EPOLLOUT;
        } else if (s == 0 && p->connecting) {
            mask = 0; /* hold client bytes until the upstream exists */
        } else {
            if (!in->eof_in && in->queued < QUEUE_LIMIT)
                mask |= EPOLLIN;
            if (out->blocked)
                mask |= EPOLLOUT;
        }
        if (!want_reg) {
            pair_unregister(r, p, s);
            continue;
        }
        if (p->registered[s] && p->mask[s] == mask)
            continue;
        struct epoll_event ev = {.events = mask, .data.u64 = PAIR_TAG | (p->id << 1) | (uint64_t)s};
        if (epoll_ctl(r->epfd, p->registered[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->fd[s], &ev) ==
            0) {
            p->registered[s] = true;
            p->mask[s] = mask;
        }
    }
}

static void on_pair_event(struct relay *r, uint64_t tag, uint32_t events)
{
    uint64_t id = (tag & ~PAIR_TAG) >> 1;
    int side = (int)(tag & 1);
    struct pair *p = r->pairs;
    while (p && p->id != id)
        p = p->next;
    if (!p)
        return; /* closed earlier in this batch (a "cut", an error) */
    if (side == 1 && p->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            logf_("conn %" PRIu64 ": target refused or unreachable: %s", p->id, strerror(err));
            pair_close(r, p, true, "target unreachable");
            return;
        }
        p->connecting = false;
        return;
    }
    if (events & (EPOLLHUP | EPOLLERR)) {
        /* Stop watching; the pump still reads what is left and notices the error. A
         * level-triggered HUP would otherwise wake every pass. */
        p->hup[side] = true;
        pair_unregister(r, p, side);
    }
}

static void on_accept(struct relay *r)
{
    for (;;) {
        int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        r->accepted++;
        if (r->state == LINK_CUT) {
            r->refused++;
            close_rst(fd);
            logf_("connection reset on arrival (cut)");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct pair *p = calloc(1, sizeof *p);
        if (!p) {
            close_rst(fd);
            continue;
        }
        p->id = ++r->next_id;
        p->fd[0] = fd;
        p->fd[1] = -1;
        p->up.bucket = &r->bucket[0];
        p->down.bucket = &r->bucket[1];
        p->next = r->pairs;
        r->pairs = p;
        r->live++;
        if (r->state == LINK_BLACKHOLE) {
            p->pending = true; /* a dead link: the SYN never reaches the far side */
            logf_("conn %" PRIu64 " accepted, held (blackhole)", p->id);
        } else if (pair_connect(r, p) != 0) {
            pair_close(r, p, true, "cannot connect to target");
        } else {
            logf_("conn %" PRIu64 " accepted", p->id);
        }
    }
}

/* ---- control -------------------------------------------------------------------------- */

static void set_state(struct relay *r, enum link_state s)
{
    r->state = s;
    if (s == LINK_CUT) {
        while (r->pairs)
            pair_close(r, r->pairs, true, "cut");
    }
    if (s == LINK_NORMAL) {
        int64_t now = now_ms();
        for (int k = 0; k < 2; k++)
            r->bucket[k].refill_ms = now; /* no credit saved up during the outage */
        for (struct pair *p = r->pairs, *next; p; p = next) {
            next = p->next;
            if (p->pending && pair_connect(r, p) != 0)
                pair_close(r, p, true, "cannot connect to target");
        }
    }
}

/* Executes one command line; writes the one-line answer (with '\n') into out. */
static void run_command(struct relay *r, char *line, char *out, size_t cap)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r\n", &save);
    char *arg = strtok_r(NULL, " \t\r\n", &save);
    char *extra = strtok_r(NULL, " \t\r\n", &save);
    if (!cmd) {
        snprintf(out, cap, "ERR empty command (try: help)\n");
        return;
    }
    bool takes_arg = strcmp(cmd, "delay") == 0 || strcmp(cmd, "rate") == 0;
    if (extra || (arg && !takes_arg)) {
        snprintf(out, cap, "ERR too many arguments for '%s'\n", cmd);
        return;
    }
    if (strcmp(cmd, "cut") == 0) {
        set_state(r, LINK_CUT);
        snprintf(out, cap, "OK cut\n");
    } else if (strcmp(cmd, "blackhole") == 0) {
        set_state(r, LINK_BLACKHOLE);
        snprintf(out, cap, "OK blackhole\n");
    } else if (strcmp(cmd, "heal") == 0) {
        set_state(r, LINK_NORMAL);
        snprintf(out, cap, "OK heal\n");
    } else if (takes_arg) {
        char *end = NULL;
        errno = 0;
        long v = arg ? strtol(arg, &end, 10) : -1;
        long max = cmd[0] == 'd' ? 3600000L : 1000000000L;
        if (!arg || errno || *end || v < 0 || v > max) {
            snprintf(out, cap, "ERR %s needs an integer 0..%ld (%s)\n", cmd, max,
                     cmd[0] == 'd' ? "milliseconds" : "bytes per second, 0 = unlimited");
            return;
        }
        if (cmd[0] == 'd') {
            r->delay_ms = (int)v;
        } else {
            r->rate = v;
            for (int k = 0; k < 2; k++)
                r->bucket[k] = (struct bucket){.tokens = 0, .refill_ms = now_ms()};
        }
        snprintf(out, cap, "OK %s %ld\n", cmd, v);
    } else if (strcmp(cmd, "stats") == 0) {
        uint64_t up = r->closed_up, down = r->closed_down;
        size_t held_up = 0, held_down = 0;
        for (struct pair *p = r->pairs; p; p = p->next) {
            up += p->up.bytes;
            down += p->down.bytes;
            held_up += p->up.queued;
            held_down += p->down.queued;
        }
        snprintf(out, cap,
                 "OK {\"state\":\"%s\",\"connections\":%" PRIu64 ",\"accepted\":%" PRIu64
                 ",\"reset_on_arrival\":%" PRIu64 ",\"bytes_up\":%" PRIu64
                 ",\"bytes_down\":%" PRIu64 ",\"queued_up\":%zu,\"queued_down\":%zu"
                 ",\"delay_ms\":%d,\"rate\":%ld}\n",
                 state_name[r->state], r->live, r->accepted, r->refused, up, down, held_up,
                 held_down, r->delay_ms, r->rate);
    } else if (strcmp(cmd, "help") == 0) {
        snprintf(out, cap, "OK commands: cut blackhole heal delay MS rate BPS stats quit\n");
    } else if (strcmp(cmd, "quit") == 0) {
        r->quit = true;
        snprintf(out, cap, "OK bye\n");
    } else {
        snprintf(out, cap, "ERR unknown command '%s' (try: help)\n", cmd);
    }
}

/* Sends a short reply without blocking; a control client that does not read is dropped. */
static bool ctl_reply(int fd, const char *s)
{
    size_t n = strlen(s);
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return w == (ssize_t)n;
}

static void ctl_close(struct relay *r, struct ctl *c)
{
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    for (struct ctl **pp = &r->ctls; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
}

/* Splits buf into lines and runs each; keeps a partial line. Returns false on a line too
 * long to be a command. */
static bool ctl_lines(struct relay *r, char *buf, size_t *len, int reply_fd, FILE *reply_file)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *len);
        if (!nl) {
            if (*len >= CTL_LINE - 1) {
                if (reply_file)
                    fputs("ERR line too long\n", reply_file);
                else
                    ctl_reply(reply_fd, "ERR line too long\n");
                *len = 0;
                return false;
            }
            return true;
        }
        *nl = '\0';
        char out[600];
        run_command(r, buf, out, sizeof out);
        logf_("control: %.*s", (int)strcspn(out, "\n"), out);
        if (reply_file) {
            fputs(out, reply_file);
            fflush(reply_file);
        } else if (!ctl_reply(reply_fd, out)) {
            return false;
        }
        size_t used = (size_t)(nl - buf) + 1;
        memmove(buf, nl + 1, *len - used);
        *len -= used;
    }
}

static void on_ctl_accept(struct relay *r)
{
    for (;;) {
        int fd = accept4(r->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct ctl *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->ep = (struct ep){EP_CTL, c};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->ep};
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = r->ctls;
        r->ctls = c;
    }
}

static void on_ctl_read(struct relay *r, struct ctl *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ctl_close(r, c);
        return;
    }
    c->len += (size_t)n;
    if (!ctl_lines(r, c->buf, &c->len, c->fd, NULL))
        ctl_close(r, c);
}

static void on_stdin(struct relay *r)
{
    ssize_t n = read(0, r->stdin_buf + r->stdin_len, sizeof r->stdin_buf - 1 - r->stdin_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* stdin closed (or /dev/null when spawned by a test): control port only. */
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, 0, NULL);
        return;
    }
    r->stdin_len += (size_t)n;
    ctl_lines(r, r->stdin_buf, &r->stdin_len, -1, stdout);
}

/* ---- setup and loop ------------------------------------------------------------------- */

/* Listens on 127.0.0.1:*port; a port of 0 is replaced by the one the kernel chose. */
static int listen_on(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static bool parse_port(const char *s, int *port)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < 0 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/* Resolves HOST:PORT and insists on a loopback address: this tool exists for tests on one
 * machine and must never become a way to send test traffic elsewhere. */
static bool parse_target(struct relay *r, const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host)
        return false;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[') { /* [::1]:4222 */
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return false;
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    int port;
    if (!parse_port(colon + 1, &port))
        return false;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return false;
    bool ok = false;
    for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
            ok = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
        } else if (ai->ai_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ai->ai_addr;
            ok = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
        }
        if (ok) {
            memcpy(&r->target, ai->ai_addr, ai->ai_addrlen);
            r->target_len = ai->ai_addrlen;
        }
    }
    freeaddrinfo(res);
    return ok;
}

/* Milliseconds until the next queued chunk is due or the next tokens arrive; -1 if
 * nothing waits on time. */
static int next_wake(struct relay *r, int64_t now)
{
    int64_t best = -1;
    if (r->state != LINK_NORMAL)
        return -1;
    for (struct pair *p = r->pairs; p; p = p->next) {
        if (p->hup[0] || p->hup[1])
            best = best < 0 || best > 20 ? 20 : best; /* unwatched socket: poll it */
        struct dir *ds[2] = {&p->up, &p->down};
        for (int k = 0; k < 2; k++) {
            struct dir *d = ds[k];
            if (!d->head || d->blocked)
                continue;
            int64_t t = d->head->due_ms - now;
            if (r->rate > 0 && d->bucket->tokens < 1.0) {
                int64_t tt = (int64_t)((1.0 - d->bucket->tokens) * 1000.0 / (double)r->rate) + 1;
                if (tt > t)
                    t = tt;
            }
            if (t < 1)
                t = 1;
            if (best < 0 || t < best)
                best = t;
        }
    }
    return (int)best;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: aerie-relay --listen PORT --to HOST:PORT [--control PORT]\n"
            "  Relays TCP from 127.0.0.1:PORT to HOST:PORT (a loopback address) and takes\n"
            "  (PORT 0: the kernel chooses; READY on stdout names the ports)\n"
            "  commands, one per line, on the control port and on stdin:\n"
            "  cut | blackhole | heal | delay MS | rate BYTES_PER_SEC | stats | help | quit\n");
}

int main(int argc, char **argv)
{
    struct relay r;
    memset(&r, 0, sizeof r);
    r.listen_fd = r.ctl_fd = -1;
    int listen_port = -1, ctl_port = -1; /* -1: not given; 0: the kernel chooses */
    const char *to = NULL;
    /* Options come in pairs: the loop steps over the option and its value. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (!v) {
            fprintf(stderr, "aerie-relay: %s needs a value\n", a);
            usage();
            return 2;
        }
        if (strcmp(a, "--listen") == 0 && parse_port(v, &listen_port)) {
        } else if (strcmp(a, "--control") == 0 && parse_port(v, &ctl_port)) {
        } else if (strcmp(a, "--to") == 0) {
            to = v;
        } else {
            fprintf(stderr, "aerie-relay: bad option or value: %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    if (listen_port < 0 || !to) {
        fprintf(stderr, "aerie-relay: --listen and --to are required\n");
        usage();
        return 2;
    }
    if (!parse_target(&r, to)) {
        fprintf(stderr,
                "aerie-relay: --to %s: expected HOST:PORT resolving to a loopback address "
                "(127.0.0.0/8 or ::1)\n",
                to);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    r.epfd = epoll_create1(EPOLL_CLOEXEC);
    int asked = listen_port;
    r.listen_fd = listen_on(&listen_port);
    if (r.listen_fd < 0) {
        fprintf(stderr, "aerie-relay: cannot listen on 127.0.0.1:%d: %s\n", asked, strerror(errno));
        return 1;
    }
    r.listen_ep = (struct ep){EP_LISTEN, NULL};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r.listen_ep};
    epoll_ctl(r.epfd, EPOLL_CTL_ADD, r.listen_fd, &ev);
    if (ctl_port >= 0) {
        asked = ctl_port;
        r.ctl_fd = listen_on(&ctl_port);
        if (r.ctl_fd < 0) {
            fprintf(stderr, "aerie-relay: cannot listen on control 127.0.0.1:%d: %s\n", asked,
                    strerror(errno));
            return 1;
        }
        r.ctl_ep = (struct ep){EP_CTL_LISTEN, NULL};
        ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &r.ctl_ep};
        epoll_ctl(r.epfd, EPOLL_CTL_ADD, r.ctl_fd, &ev);
    }
    r.stdin_ep = (struct ep){EP_STDIN, NULL};
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &r.stdin_ep};
    /* Fails for a regular file or /dev/null stdin: then there is simply no stdin control. */
    epoll_ctl(r.epfd, EPOLL_CTL_ADD, 0, &ev);

    if (ctl_port < 0)
        ctl_port = 0; /* none */
    printf("READY listen=%d control=%d\n", listen_port, ctl_port);
    fflush(stdout);
    logf_("relaying 127.0.0.1:%d -> %s (control %d)", listen_port, to, ctl_port);

    while (!r.quit) {
        struct epoll_event evs[64];
        int n = epoll_wait(r.epfd, evs, 64, next_wake(&r, now_ms()));
        if (n < 0 && errno != EINTR) {
            perror("aerie-relay: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 & PAIR_TAG) {
                on_pair_event(&r, evs[i].data.u64, evs[i].events);
                continue;
            }
            struct ep *e = evs[i].data.ptr;
            switch (e->kind) {
            case EP_LISTEN:
                on_accept(&r);
                break;
            case EP_CTL_LISTEN:
                on_ctl_accept(&r);
                break;
            case EP_CTL:
                on_ctl_read(&r, e->owner);
                break;
            case EP_STDIN:
                on_stdin(&r);
                break;
            }
        }
        int64_t now = now_ms();
        for (struct pair *p = r.pairs, *next; p; p = next) {
            next = p->next;
            if (pair_pump(&r, p, now))
                pair_sync(&r, p);
        }
    }
    while (r.pairs)
        pair_close(&r, r.pairs, false, "relay quit");
    while (r.ctls)
        ctl_close(&r, r.ctls);
    return 0;
}
