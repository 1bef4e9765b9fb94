/* Clocks, durations and sizes; see timeutil.h. */
#include "common/timeutil.h"
#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t ae_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * AE_NS_PER_SEC + ts.tv_nsec;
}

int64_t ae_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * AE_NS_PER_SEC + ts.tv_nsec;
}

void ae_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int unit_ns(const char *u, size_t n, double *mult)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"ns", 1},    {"us", 1e3},   {"µs", 1e3},      {"ms", 1e6},
                 {"s", 1e9},   {"m", 60e9},   {"h", 3600e9},    {"d", 86400e9},
                 {"sec", 1e9}, {"min", 60e9}, {"hour", 3600e9}, {"day", 86400e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].name) == n && strncasecmp(u, units[i].name, n) == 0) {
            *mult = units[i].ns;
            return 0;
        }
    }
    return AE_EINVAL;
}

int ae_parse_duration(const char *text, int64_t *ns)
{
    if (!text)
        return AE_EINVAL;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return AE_EINVAL;
    double total = 0;
    int parts = 0;
    while (*p && !isspace((unsigned char)*p)) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return AE_EINVAL;
        double v = strtod(p, &end);
        if (end == p || v < 0 || v > 1e18)
            return AE_EINVAL;
        p = end;
        const char *u = p;
        while (*p && !isdigit((unsigned char)*p) && *p != '.' && !isspace((unsigned char)*p))
            p++;
        double mult;
        if (p == u) {
            if (parts > 0 || *p)
                return AE_EINVAL;
            mult = 1e9; /* bare number: seconds */
        } else if (unit_ns(u, (size_t)(p - u), &mult) != 0) {
            return AE_EINVAL;
        }
        total += v * mult;
        parts++;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p || total > 9.2e18)
        return AE_EINVAL;
    *ns = (int64_t)(total + 0.5);
    return 0;
}

/* base^exp for small exponents, without libm (aerie-leaf stays off it to keep its RSS low). */
static double power(double base, int exp)
{
    double r = 1;
    while (exp-- > 0)
        r *= base;
    return r;
}

int ae_parse_size(const char *text, int64_t *bytes)
{
    if (!text)
        return AE_EINVAL;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    char *end;
    if (!isdigit((unsigned char)*p))
        return AE_EINVAL;
    double v = strtod(p, &end);
    if (end == p || v < 0)
        return AE_EINVAL;
    p = end;
    while (isspace((unsigned char)*p))
        p++;
    const char *u = p;
    while (isalpha((unsigned char)*p))
        p++;
    size_t n = (size_t)(p - u);
    while (isspace((unsigned char)*p))
        p++;
    if (*p)
        return AE_EINVAL;
    double mult = 1;
    if (n > 0) {
        char c = (char)toupper((unsigned char)u[0]);
        int pow_i = c == 'K' ? 1 : c == 'M' ? 2 : c == 'G' ? 3 : c == 'T' ? 4 : c == 'B' ? 0 : -1;
        if (pow_i < 0)
            return AE_EINVAL;
        if (c == 'B') {
            if (n != 1)
                return AE_EINVAL;
        } else if (n == 1) {
            mult = power(1000, pow_i);
        } else if ((n == 2 && toupper((unsigned char)u[1]) == 'B') ||
                   (n == 2 && toupper((unsigned char)u[1]) == 'I') ||
                   (n == 3 && toupper((unsigned char)u[1]) == 'I' &&
                    toupper((unsigned char)u[2]) == 'B')) {
            mult = power(1024, pow_i);
        } else {
            return AE_EINVAL;
        }
    }
    double r = v * mult;
    if (r > 9.2e18)
        return AE_EINVAL;
    *bytes = (int64_t)(r + 0.5);
    return 0;
}

char *ae_format_rfc3339(int64_t ns, char *out, size_t cap)
{
    time_t sec = (time_t)(ns / AE_NS_PER_SEC);
    long frac = (long)(ns % AE_NS_PER_SEC);
    if (frac < 0) {
        frac += AE_NS_PER_SEC;
        sec -= 1;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", base, frac);
    return out;
}

int ae_parse_rfc3339(const char *text, int64_t *ns)
{
    int y, mo, d, h, mi, s, consumed = 0;
    if (!text ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6)
        return AE_EINVAL;
    const char *p = text + consumed;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        if (digits == 0)
            return AE_EINVAL;
        while (digits++ < 9)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return AE_EINVAL;
        offset = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return AE_EINVAL;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return AE_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    *ns = ((int64_t)t - offset) * AE_NS_PER_SEC + frac;
    return 0;
}

char *ae_format_go_duration(int64_t ns, char *out, size_t cap)
{
    if (ns < 0)
        ns = 0;
    if (ns < 1000) {
        snprintf(out, cap, "%lldns", (long long)ns);
    } else if (ns < AE_NS_PER_MS) {
        snprintf(out, cap, "%.3gµs", (double)ns / 1e3);
    } else if (ns < AE_NS_PER_SEC) {
        snprintf(out, cap, "%.6gms", (double)ns / 1e6);
    } else {
        int64_t s = ns / AE_NS_PER_SEC;
        int64_t h = s / 3600, m = (s / 60) % 60, sec = s % 60;
        if (h)
            snprintf(out, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)sec);
        else if (m)
            snprintf(out, cap, "%lldm%llds", (long long)m, (long long)sec);
        else
            snprintf(out, cap, "%llds", (long long)sec);
    }
    return out;
}
