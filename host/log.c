/*
 * log.c — see log.h.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int host_log_level = BEAST_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int host_log_level_parse(const char *name) {
    for (int level = 0; level < 4; level++)
        if (strcmp(name, level_names[level]) == 0)
            return level;
    return -1;
}

void host_vlog(beast_log_level level, const char *prefix, const char *fmt, va_list args) {
    if ((int)level > host_log_level)
        return;
    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s%s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, level_names[level], prefix ? "[" : "",
                     prefix ? prefix : "", prefix ? "] " : "");
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line)) {
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, args);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
    (void)ignored;
}

void host_log(beast_log_level level, const char *prefix, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    host_vlog(level, prefix, fmt, args);
    va_end(args);
}
