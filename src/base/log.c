/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The only process-wide state of the library: set once from the command line. */
static enum log_level max_level = LOG_INFO; /* as systemd: info by default */
static unsigned n_warnings; /* for --strict */
static char last_error[512]; /* for a JSON result */
static bool hold_errors;     /* log_hold_errors() */
#define HELD_MAX 16
static char held[HELD_MAX][512];
static unsigned n_held;

void log_set_max_level(enum log_level level) {
        max_level = level;
}

int log_level_from_string(const char *s, enum log_level *ret) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(s, names[i]) == 0 || (s[0] == (char) ('0' + i) && s[1] == 0)) {
                        *ret = i < LOG_ERR ? LOG_ERR : (enum log_level) i;
                        return 0;
                }
        return -EINVAL;
}

int log_setup_from_environment(void) {
        const char *e = getenv("SYSTEMD_LOG_LEVEL");
        enum log_level l;
        if (!e || !*e)
                return 0;
        if (log_level_from_string(e, &l) < 0)
                return log_error_errno(EINVAL, "SYSTEMD_LOG_LEVEL=%s: expected one of emerg, alert, crit, err, warning, notice, info, debug or 0-7", e);
        max_level = l;
        return 0;
}

enum log_level log_get_max_level(void) {
        return max_level;
}

unsigned log_warning_count(void) {
        return n_warnings;
}

const char *log_last_error(void) {
        return last_error;
}

void log_hold_errors(bool hold) {
        hold_errors = hold;
}

void log_print_held_errors(const char *suffix) {
        for (unsigned i = 0; i < n_held; i++)
                log_error("%s%s", held[i], i + 1 == n_held && suffix ? suffix : "");
        n_held = 0;
}

void log_msgv(enum log_level level, const char *fmt, va_list ap) {
        if (level == LOG_WARNING)
                n_warnings++;
        int saved_errno = errno; /* logging must not change what the caller is about to test */
        if (level == LOG_ERR) {
                va_list aq;
                va_copy(aq, ap);
                vsnprintf(last_error, sizeof(last_error), fmt, aq);
                va_end(aq);
        }
        if (level == LOG_ERR && hold_errors && n_held < HELD_MAX)
                memcpy(held[n_held++], last_error, sizeof(last_error));
        if (level > max_level || (level == LOG_ERR && hold_errors)) {
                errno = saved_errno;
                return;
        }
        const char *tag = level == LOG_ERR ? "" : level == LOG_WARNING ? "warning: " : "";
        /* A progress line may stand on the terminal with the cursor at column 0: clear it, so
         * the message replaces it instead of mixing with its tail. */
        if (isatty(STDERR_FILENO))
                fputs("\r\033[K", stderr);
        fprintf(stderr, "abota: %s", tag);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_msgv(level, fmt, ap);
        va_end(ap);
}

static int log_errno_v(enum log_level level, int err, const char *fmt, va_list ap) {
        log_msgv(level, fmt, ap);
        if (err == 0)
                return -EINVAL;
        return err < 0 ? err : -err;
}

int log_error_errno(int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = log_errno_v(LOG_ERR, err, fmt, ap);
        va_end(ap);
        return r;
}

int log_warning_errno(int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = log_errno_v(LOG_WARNING, err, fmt, ap);
        va_end(ap);
        return r;
}
