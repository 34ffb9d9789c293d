/*  sl_log.c - one-line logging to stderr.
 */
#include "sl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *s_program = "sluice";
static sl_log_level_t s_level = SL_LOG_INFO;

void
sl_log_set_program (const char *name)
{
    s_program = name;
}

void
sl_log_set_level (sl_log_level_t level)
{
    s_level = level;
}

sl_log_level_t
sl_log_level (void)
{
    return s_level;
}

void
sl_log (sl_log_level_t level, const char *component, const char *fmt, ...)
{
    if (level > s_level) {
        return;
    }
    static const char letters[] = "EWID";
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    char line[2048];
    int n = snprintf (
        line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %c %s: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
        s_program, (int)getpid (), letters[level], component);
    if (n < 0 || (size_t)n >= sizeof line) {
        n = 0;
    }
    va_list args;
    va_start (args, fmt);
    int m = vsnprintf (line + n, sizeof line - (size_t)n - 1, fmt, args);
    va_end (args);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) {
        len = sizeof line - 2;
    }
    line[len++] = '\n';
    //  One write per line, so that lines of concurrent processes do not interleave.
    ssize_t rc = write (STDERR_FILENO, line, len);
    (void)rc;
}
