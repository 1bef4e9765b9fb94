/* Process-wide logging in nats-server's line format:
 *   [pid] 2026/11/26 05:14:24.123456 [INF] message
 * The level and destination are the only process-wide state here; they are
 * set once by a program's main and on SIGHUP. */
#ifndef AERIE_COMMON_LOG_H
#define AERIE_COMMON_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum { AE_LOG_FATAL, AE_LOG_ERROR, AE_LOG_WARN, AE_LOG_INFO, AE_LOG_DEBUG, AE_LOG_TRACE };

void ae_log_set_level(int level);
int ae_log_level(void);
/* Sends log lines to `path` (appending); NULL means stderr. Returns 0 or AE_EIO. */
int ae_log_set_file(const char *path);
void ae_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ae_log_error(...) ae_log(AE_LOG_ERROR, __VA_ARGS__)
#define ae_log_warn(...)  ae_log(AE_LOG_WARN, __VA_ARGS__)
#define ae_log_info(...)  ae_log(AE_LOG_INFO, __VA_ARGS__)
#define ae_log_debug(...)                                                                          \
    do {                                                                                           \
        if (ae_log_level() >= AE_LOG_DEBUG)                                                        \
            ae_log(AE_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define ae_log_trace(...)                                                                          \
    do {                                                                                           \
        if (ae_log_level() >= AE_LOG_TRACE)                                                        \
            ae_log(AE_LOG_TRACE, __VA_ARGS__);                                                     \
    } while (0)

#endif
