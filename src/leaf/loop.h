/* The single-threaded event loop: epoll for file descriptors, a min-heap of timers,
 * and a before-sleep hook where the server flushes output and frees closed connections
 * (Redis's beforeSleep). Everything the broker does happens on this thread, except
 * storage syncs, which report back through an eventfd watched here. */
#ifndef AERIE_LEAF_LOOP_H
#define AERIE_LEAF_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ae_loop ae_loop;
typedef struct ae_io ae_io;
typedef struct ae_timer ae_timer;

/* AE_IO_HUP is never requested: it accompanies AE_IO_READ when the peer hung up or the
 * socket has an error. */
enum { AE_IO_READ = 1u << 0, AE_IO_WRITE = 1u << 1, AE_IO_HUP = 1u << 2 };

/* Called with the ready events (AE_IO_*). A hang-up or socket error is reported as
 * AE_IO_READ | AE_IO_HUP (the read then sees EOF or the error) even when READ is not in the
 * interest set: epoll reports those on every wait, so a callback that does not read at that
 * moment must unregister the fd (ae_loop_del), or the loop spins. */
typedef void (*ae_io_cb)(ae_loop *loop, ae_io *io, unsigned events);
typedef void (*ae_timer_cb)(ae_loop *loop, ae_timer *t);

/* Owned by the caller; must stay valid while registered. */
struct ae_io {
    int fd;
    unsigned events; /* registered interest */
    ae_io_cb cb;
    void *ctx;
    bool registered;
};

/* Owned by the caller; must stay valid while armed. */
struct ae_timer {
    int64_t due_ns; /* monotonic */
    ae_timer_cb cb;
    void *ctx;
    size_t heap_idx; /* private */
    bool armed;
};

ae_loop *ae_loop_new(void);
void ae_loop_free(ae_loop *loop);

/* Registers io->fd for `events`. Returns 0 or AE_EIO. */
int ae_loop_add(ae_loop *loop, ae_io *io, unsigned events);
/* Changes the interest set (no-op if unchanged). */
int ae_loop_mod(ae_loop *loop, ae_io *io, unsigned events);
/* Unregisters; safe to call on an unregistered io. Events already collected for this io in
 * the current pass are suppressed. */
void ae_loop_del(ae_loop *loop, ae_io *io);

/* Arms (or re-arms) a timer `delay_ns` from now. */
void ae_loop_timer_start(ae_loop *loop, ae_timer *t, int64_t delay_ns);
void ae_loop_timer_stop(ae_loop *loop, ae_timer *t);

/* Sets the hook called before each wait. It returns true when it left work for the next pass
 * that no fd or timer will announce (the wait then does not block). */
void ae_loop_set_before_sleep(ae_loop *loop, bool (*fn)(ae_loop *, void *), void *ctx);

/* Runs until ae_loop_stop. Returns 0, or AE_EIO if epoll fails. */
int ae_loop_run(ae_loop *loop);
void ae_loop_stop(ae_loop *loop);

/* Asks the kernel to treat the calling thread (the loop's) as latency-sensitive: a short
 * scheduler slice (EEVDF custom slice, Linux 6.12 and later) makes its wakeups preempt
 * CPU-bound tasks at once instead of waiting up to a full default slice behind them. Its
 * share of the CPU is unchanged (same weight); only when it runs changes. Leaves nice and
 * non-default policies (SCHED_BATCH, SCHED_IDLE, real-time) alone; older kernels ignore the
 * slice. ns 0 does nothing. Returns 0 or AE_EIO (errno set). */
int ae_loop_set_slice(int64_t ns);

/* Monotonic time cached at the start of the current pass. */
int64_t ae_loop_now(const ae_loop *loop);

#endif
