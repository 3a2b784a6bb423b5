/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One line per message on stderr, prefixed "abota: ". Messages up to info are shown by default,
 * as systemd does; SYSTEMD_LOG_LEVEL=, --log-level= and -v change that. The function that detects a failure and
 * knows its context (file:line, partition, URL) logs it once and returns -errno; callers only
 * propagate the error code and do not log again. */

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

void log_set_max_level(enum log_level level);
enum log_level log_get_max_level(void);
/* "emerg" ... "debug" or "0" ... "7", as systemd's log levels; levels above err count as err. */
int log_level_from_string(const char *s, enum log_level *ret);
/* SYSTEMD_LOG_LEVEL= sets the level when set; -EINVAL (logged) when it is not a level. */
int log_setup_from_environment(void);

/* The warnings logged so far, shown or not: --strict turns them into a failure. */
unsigned log_warning_count(void);

/* The text of the last error message (shown or held), "" before any: what a JSON result object
 * reports. */
const char *log_last_error(void);
/* While held, error messages are only recorded (log_last_error(), and the first 16 kept for
 * log_print_held_errors()), not printed: for a caller that prints something first and then the
 * error, with a hint. */
void log_hold_errors(bool hold);
/* Logs the held error messages, suffix (may be NULL) appended to the last, and forgets them. */
void log_print_held_errors(const char *suffix);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_msgv(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Logs at LOG_ERR and returns -abs(err) (or -EINVAL when err is 0). */
int log_error_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same at LOG_WARNING: for failures that a fallback takes over. */
int log_warning_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
