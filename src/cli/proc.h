/* Processes and ports of a local fleet (`aerie up` / `down`): finding our programs, starting
 * them as daemons that outlive `aerie up`, telling whether a recorded PID is still the
 * process we started, stopping it, choosing free ports, and readiness and control-port
 * exchanges on loopback (HTTP readiness checks use common/http.h).
 *
 * Ownership rule: every process `aerie up` starts carries AERIE_FLEET_DIR=<fleet dir> in its
 * environment. `down` signals a PID only when /proc/PID/environ still holds that exact entry
 * and /proc/PID/cmdline names the expected program, so a PID reused by an unrelated process
 * is never touched. */
#ifndef AERIE_CLI_PROC_H
#define AERIE_CLI_PROC_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AE_FLEET_ENV "AERIE_FLEET_DIR"

/* Finds one of our programs ("aerie-leaf"): first next to the running executable
 * (/proc/self/exe), then in ../libexec/aerie/ from there (an installed aerie's private
 * helpers: aerie-relay), then on PATH. Writes the absolute path to out. Returns 0 or
 * AE_ENOENT. */
int ae_proc_find_program(const char *name, char *out, size_t cap);

/* Finds nats-server: $NATS_SERVER, then PATH, then /usr/sbin/nats-server. Returns 0, or
 * AE_ENOENT with a message saying how to install it. */
int ae_proc_find_nats_server(char *out, size_t cap, ae_err *err);

/* The absolute path of the running executable. Returns 0 or AE_EIO. */
int ae_proc_self_exe(char *out, size_t cap);

/* Starts argv[0] (an absolute path) in its own session with cwd `cwd`, stdin from
 * /dev/null, stdout and stderr appended to `log_path`, no other inherited descriptors, and
 * AERIE_FLEET_DIR=fleet_dir added to the environment. Returns the PID (> 0), or a negative
 * AE_E* with a message when the fork or the exec failed (an exec failure is reported
 * synchronously). The process is our child until we exit; reap it with ae_proc_alive. */
pid_t ae_proc_spawn_daemon(char *const argv[], const char *log_path, const char *cwd,
                           const char *fleet_dir, ae_err *err);

/* True when `pid` runs (not a zombie; a zombie child of ours is reaped) and is ours: its
 * environment has AERIE_FLEET_DIR=fleet_dir and the basename of its argv[0] is `prog`
 * (NULL: any). */
bool ae_proc_owned(pid_t pid, const char *prog, const char *fleet_dir);

/* True while `pid` runs on a CPU or waits for the disk (/proc/PID/stat state R or D); false
 * once it sleeps waiting for input, or is gone. A program just started is busy loading and
 * setting up; `up` takes the first sleep as the end of its start-up. */
bool ae_proc_busy(pid_t pid);

/* The CPU time `pid` has used (utime + stime, in clock ticks), or -1 when it is gone. */
int64_t ae_proc_cpu_ticks(pid_t pid);

/* Stops the owned processes pids[0..n-1] (entries <= 0 are skipped): SIGTERM to each, wait
 * up to grace_ms for all, then SIGKILL to the rest and wait up to 2 s more. Processes that
 * are not owned (see ae_proc_owned) are never signalled. Returns how many were signalled. */
int ae_proc_stop_all(const pid_t *pids, const char *const *progs, size_t n, const char *fleet_dir,
                     int grace_ms);

/* A free port on 127.0.0.1 for `socktype` (SOCK_STREAM or SOCK_DGRAM): `prefer` when it can
 * be bound (0: none), else a random one in 20000..29999 that can be bound and is not in
 * avoid[0..navoid-1]. Returns the port or AE_EIO. */
int ae_proc_free_port(int socktype, int prefer, const int *avoid, size_t navoid);

/* True when 127.0.0.1:port accepts a TCP connection within timeout_ms. */
bool ae_proc_tcp_ready(int port, int timeout_ms);

/* Sends one line to a TCP control port and reads one answer line into reply (no newline).
 * Returns 0, or AE_EIO when nothing answered. */
int ae_proc_line_cmd(int port, const char *line, char *reply, size_t cap, int timeout_ms);

/* mkdir -p with mode 0700 for what it creates. Returns 0 or AE_EIO with a message. */
int ae_proc_mkdirs(const char *path, ae_err *err);

#endif
