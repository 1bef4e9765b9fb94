/* Clocks, durations and sizes as operators write them ("2s", "10ms", "7d", "1GB"). */
#ifndef AERIE_COMMON_TIMEUTIL_H
#define AERIE_COMMON_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define AE_NS_PER_MS  1000000LL
#define AE_NS_PER_SEC 1000000000LL

/* Wall-clock time in nanoseconds since the Unix epoch. */
int64_t ae_now_ns(void);
/* Monotonic time in nanoseconds, for timers and intervals. */
int64_t ae_mono_ns(void);
/* Sleeps ms milliseconds, resuming after signals (EINTR). For tools that poll; the daemons
 * wait in their event loops instead. */
void ae_sleep_ms(int ms);

/* Parses a duration: a number with a unit ns, us, ms, s, m, h or d ("1.5s", "90m"), also
 * chained Go-style ("1m30s"). A bare number is taken as seconds, as nats-server does for
 * ping_interval. Returns 0 and *ns, or AE_EINVAL. */
int ae_parse_duration(const char *text, int64_t *ns);

/* Parses a byte size: a number with an optional unit. K, M, G, T are powers of 1000;
 * KB, MB, GB, TB (and KiB..) powers of 1024, as in nats-server's config. Returns 0 or AE_EINVAL. */
int ae_parse_size(const char *text, int64_t *bytes);

/* Writes `ns` (Unix epoch) as RFC 3339 UTC with nanoseconds: 2026-11-26T04:15:51.294912309Z.
 * `out` needs 40 bytes. Returns out. */
char *ae_format_rfc3339(int64_t ns, char *out, size_t cap);
/* Parses RFC 3339 (fractional seconds and a Z or +hh:mm offset allowed). Returns 0 or AE_EINVAL. */
int ae_parse_rfc3339(const char *text, int64_t *ns);

/* Writes a duration the way Go prints it ("4m44s", "1.5s", "300ms", "650µs"). Returns out. */
char *ae_format_go_duration(int64_t ns, char *out, size_t cap);

#endif
