/*
 * log.h — one-line logging to stderr, shared by the host and (through the
 * host API) every plugin instance. Lines look like
 *   2026-11-24T16:30:53.123Z warn  [sink:file:bookings] message
 */
#ifndef HOST_LOG_H
#define HOST_LOG_H

#include <stdarg.h>

#include "beast/plugin.h"

extern int host_log_level; /* lines above this level are dropped */

/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int host_log_level_parse(const char *name);

/* @locality any thread; each line is written with one write(2). */
void host_log(beast_log_level level, const char *prefix, const char *fmt, ...) BEAST_PRINTF(3, 4);
void host_vlog(beast_log_level level, const char *prefix, const char *fmt, va_list args);

#define log_error(...) host_log(BEAST_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) host_log(BEAST_LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) host_log(BEAST_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) host_log(BEAST_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
