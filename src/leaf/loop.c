/* epoll event loop with a timer heap; see loop.h. */
#include "leaf/loop.h"
#include "common/err.h"
#include "common/timeutil.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct ae_loop {
    int epfd;
    bool stop;
    int64_t now;
    ae_timer **heap;
    size_t nheap, capheap;
    bool (*before_sleep)(ae_loop *, void *);
    void *before_sleep_ctx;
    struct epoll_event events[MAX_EVENTS];
    int nready, cursor; /* events of the pass being dispatched */
};

ae_loop *ae_loop_new(void)
{
    ae_loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->now = ae_mono_ns();
    return l;
}

void ae_loop_free(ae_loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l->heap);
    free(l);
}

static uint32_t to_epoll(unsigned ev)
{
    uint32_t e = 0;
    if (ev & AE_IO_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (ev & AE_IO_WRITE)
        e |= EPOLLOUT;
    return e;
}

int ae_loop_add(ae_loop *l, ae_io *io, unsigned events)
{
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) != 0)
        return AE_EIO;
    io->events = events;
    io->registered = true;
    return 0;
}

int ae_loop_mod(ae_loop *l, ae_io *io, unsigned events)
{
    if (!io->registered)
        return ae_loop_add(l, io, events);
    if (io->events == events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0)
        return AE_EIO;
    io->events = events;
    return 0;
}

void ae_loop_del(ae_loop *l, ae_io *io)
{
    if (!io->registered)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
    /* The io may be freed right after this call: forget any pending events for it. */
    for (int i = l->cursor; i < l->nready; i++) {
        if (l->events[i].data.ptr == io)
            l->events[i].data.ptr = NULL;
    }
}

/* ---- timer heap ---------------------------------------------------------------------- */

static void heap_swap(ae_loop *l, size_t a, size_t b)
{
    ae_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(ae_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->due_ns <= l->heap[i]->due_ns)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(ae_loop *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && l->heap[a]->due_ns < l->heap[m]->due_ns)
            m = a;
        if (b < l->nheap && l->heap[b]->due_ns < l->heap[m]->due_ns)
            m = b;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

void ae_loop_timer_stop(ae_loop *l, ae_timer *t)
{
    if (!t->armed)
        return;
    size_t i = t->heap_idx;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->armed = false;
}

void ae_loop_timer_start(ae_loop *l, ae_timer *t, int64_t delay_ns)
{
    ae_loop_timer_stop(l, t);
    if (l->nheap == l->capheap) {
        size_t ncap = l->capheap ? l->capheap * 2 : 64;
        ae_timer **nh = realloc(l->heap, ncap * sizeof *nh);
        if (!nh)
            abort(); /* a timer that silently never fires would hang a connection forever */
        l->heap = nh;
        l->capheap = ncap;
    }
    t->due_ns = ae_mono_ns() + delay_ns;
    t->heap_idx = l->nheap;
    t->armed = true;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
}

void ae_loop_set_before_sleep(ae_loop *l, bool (*fn)(ae_loop *, void *), void *ctx)
{
    l->before_sleep = fn;
    l->before_sleep_ctx = ctx;
}

int ae_loop_set_slice(int64_t ns)
{
    if (ns <= 0 || sched_getscheduler(0) != SCHED_OTHER)
        return 0;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno)
        return AE_EIO;
    /* struct sched_attr, first version (<linux/sched/types.h> clashes with <sched.h>). */
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
    } attr = {.size = sizeof attr, .policy = SCHED_OTHER, .nice = nice, .runtime = (uint64_t)ns};
    return syscall(SYS_sched_setattr, 0, &attr, 0) == 0 ? 0 : AE_EIO;
}

int64_t ae_loop_now(const ae_loop *l)
{
    return l->now;
}

void ae_loop_stop(ae_loop *l)
{
    l->stop = true;
}

int ae_loop_run(ae_loop *l)
{
    l->stop = false;
    while (!l->stop) {
        bool more = l->before_sleep && l->before_sleep(l, l->before_sleep_ctx);
        if (l->stop)
            break;
        int timeout = -1;
        if (more) {
            timeout = 0;
        } else if (l->nheap > 0) {
            int64_t d = l->heap[0]->due_ns - ae_mono_ns();
            timeout = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
        }
        int n = epoll_wait(l->epfd, l->events, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return AE_EIO;
        }
        l->now = ae_mono_ns();
        l->nready = n;
        for (l->cursor = 0; l->cursor < l->nready; l->cursor++) {
            struct epoll_event *e = &l->events[l->cursor];
            ae_io *io = e->data.ptr;
            if (!io)
                continue;
            unsigned ev = 0;
            if (e->events & (EPOLLIN | EPOLLRDHUP))
                ev |= AE_IO_READ;
            if (e->events & (EPOLLHUP | EPOLLERR))
                ev |= AE_IO_READ | AE_IO_HUP; /* the read reports EOF or the error */
            if (e->events & EPOLLOUT)
                ev |= AE_IO_WRITE;
            io->cb(l, io, ev);
        }
        l->nready = l->cursor = 0;
        while (l->nheap > 0 && l->heap[0]->due_ns <= ae_mono_ns()) {
            ae_timer *t = l->heap[0];
            ae_loop_timer_stop(l, t);
            t->cb(l, t);
        }
    }
    return 0;
}
