/* Logging; see log.h. */
#include "common/log.h"
#include "common/err.h"

#include <stdarg.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_level = AE_LOG_INFO;
static FILE *log_file; /* NULL: stderr */

void ae_log_set_level(int level)
{
    log_level = level;
}

int ae_log_level(void)
{
    return log_level;
}

int ae_log_set_file(const char *path)
{
    if (!path) {
        if (log_file)
            fclose(log_file);
        log_file = NULL;
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (!f)
        return AE_EIO;
    setvbuf(f, NULL, _IOLBF, 0);
    if (log_file)
        fclose(log_file);
    log_file = f;
    return 0;
}

void ae_log(int level, const char *fmt, ...)
{
    static const char *tags[] = {"FTL", "ERR", "WRN", "INF", "DBG", "TRC"};
    if (level > log_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);
    FILE *out = log_file ? log_file : stderr;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(out, "[%d] %s.%06ld [%s] %s\n", (int)getpid(), stamp, (long)tv.tv_usec,
            tags[level < 0   ? 0
                 : level > 5 ? 5
                             : level],
            line);
}
