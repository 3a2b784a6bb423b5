/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "scheduler.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Re-read the clock at least this often: appliances without an RTC jump forward at NTP sync. */
#define MAX_SLEEP 60

int schedule_parse_duration(const char *s, uint64_t *ret) {
        static const struct { const char *suffix; uint64_t factor; } units[] = {
                { "min", 60 }, { "d", 86400 }, { "h", 3600 }, { "m", 60 }, { "s", 1 }, { "", 1 },
        };
        uint64_t total = 0;
        if (isempty(s))
                return -EINVAL;
        while (*s) {
                char *end;
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                errno = 0;
                unsigned long long v = strtoull(s, &end, 10);
                if (errno != 0)
                        return -EINVAL;
                size_t k = 0;
                for (; k < ELEMENTSOF(units); k++)
                        if (startswith(end, units[k].suffix))
                                break;
                if (v > UINT64_MAX / units[k].factor || total + v * units[k].factor < total)
                        return -EINVAL;
                total += v * units[k].factor;
                s = end + strlen(units[k].suffix);
                if (!*units[k].suffix && *s)
                        return -EINVAL; /* a number without unit must end the string */
        }
        if (total == 0)
                return -EINVAL;
        *ret = total;
        return 0;
}

static int parse_clock(const char *s, size_t n, int *ret) {
        unsigned h, m;
        char buf[6], extra;
        if (n != 5)
                return -EINVAL;
        memcpy(buf, s, 5);
        buf[5] = 0;
        if (sscanf(buf, "%2u:%2u%c", &h, &m, &extra) != 2 || buf[2] != ':' || m > 59 || h > 24 || (h == 24 && m > 0))
                return -EINVAL;
        *ret = (int) (h * 60 + m);
        return 0;
}

int schedule_parse_window(const char *s, int *ret_start, int *ret_end) {
        const char *dash = strchr(s, '-');
        int a, b;
        if (!dash || parse_clock(s, dash - s, &a) < 0 || parse_clock(dash + 1, strlen(dash + 1), &b) < 0 || a == b ||
            a == 24 * 60)
                return -EINVAL;
        *ret_start = a;
        *ret_end = b;
        return 0;
}

static int minute_of_day(time_t t) {
        struct tm tm;
        localtime_r(&t, &tm);
        return tm.tm_hour * 60 + tm.tm_min;
}

bool schedule_in_window(const struct schedule *s, time_t t) {
        if (s->window_start < 0)
                return false;
        int m = minute_of_day(t);
        if (s->window_start < s->window_end)
                return m >= s->window_start && m < s->window_end;
        return m >= s->window_start || m < s->window_end;
}

time_t schedule_window_open(const struct schedule *s, time_t now) {
        if (s->window_start < 0)
                return (time_t) -1;
        if (schedule_in_window(s, now))
                return now;
        /* Step to the start of the next minute, then by minutes: at most a day, and robust
         * against DST changes, which a computed date would have to handle. */
        time_t t = now - now % 60 + 60;
        for (int i = 0; i <= 24 * 60 + 60; i++, t += 60)
                if (schedule_in_window(s, t))
                        return t;
        return (time_t) -1;
}

time_t schedule_next_check(const struct schedule *s, time_t last, time_t now, uint64_t delay) {
        time_t due = last > 0 ? last + (time_t) s->interval : now;
        if (due < now)
                due = now;
        return due + (time_t) delay;
}

static uint64_t random_delay(const struct schedule *s) {
        uint64_t v = 0;
        if (s->random_delay == 0 || getrandom(&v, sizeof(v), 0) != sizeof(v))
                return 0;
        return v % (s->random_delay + 1);
}

static int daemon_lock(const char *state_dir, int *ret_fd) {
        if (mkdir(state_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "%s: cannot create: %s", state_dir, strerror(errno));
        _cleanup_free_ char *path = path_join(state_dir, "daemon.lock");
        if (!path)
                return log_error_errno(ENOMEM, "out of memory");
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return log_error_errno(errno, "%s: cannot lock: %s", path, strerror(errno));
                char pid[32] = "";
                ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
                pid[n > 0 ? n : 0] = 0;
                pid[strcspn(pid, "\n")] = 0;
                return log_error_errno(EBUSY, "%s: another abota daemon is running (PID %s)", path,
                                       *pid ? pid : "unknown");
        }
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != len)
                return log_error_errno(errno, "%s: cannot write: %s", path, strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static time_t stamp_read(const char *path) {
        struct stat st;
        return stat(path, &st) < 0 ? 0 : st.st_mtime;
}

static void stamp_write(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || futimens(fd, NULL) < 0)
                log_warning("%s: cannot record the check time: %s", path, strerror(errno));
        if (fd >= 0)
                close(fd);
}

static void log_time(const char *what, time_t t) {
        char buf[64];
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm);
        log_notice("%s %s.", what, buf);
}

/* Sleeps until t or a terminating signal; returns true when a signal came. */
static bool sleep_until(time_t t, const sigset_t *mask) {
        time_t now = time(NULL);
        if (t <= now)
                return false;
        struct timespec ts = { .tv_sec = t - now > MAX_SLEEP ? MAX_SLEEP : t - now };
        int sig = sigtimedwait(mask, NULL, &ts);
        return sig > 0;
}

int scheduler_run(const struct schedule *s, const struct scheduler_ops *ops) {
        _cleanup_close_ int lock_fd = -1;
        int r = daemon_lock(s->state_dir, &lock_fd);
        if (r < 0)
                return r;
        _cleanup_free_ char *stamp = path_join(s->state_dir, "last-check");
        if (!stamp)
                return log_error_errno(ENOMEM, "out of memory");

        sigset_t mask, old;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, &old);

        time_t now = time(NULL);
        time_t next = schedule_next_check(s, stamp_read(stamp), now, random_delay(s));
        log_time("Next update check at", next);
        bool pending = s->window_start >= 0 && ops->pending(ops->userdata) > 0;
        for (;;) {
                now = time(NULL);
                if (pending && schedule_in_window(s, now)) {
                        log_notice("In the maintenance window with a newer version installed: rebooting.");
                        (void) ops->reboot(ops->userdata);
                        pending = false; /* once; asked again after the next check */
                }
                if (now >= next) {
                        if (ops->update(ops->userdata) < 0)
                                log_warning("Update check failed, retrying at the next check.");
                        stamp_write(stamp);
                        pending = s->window_start >= 0 && ops->pending(ops->userdata) > 0;
                        now = time(NULL);
                        next = schedule_next_check(s, now, now, random_delay(s));
                        log_time("Next update check at", next);
                        if (pending && !schedule_in_window(s, now))
                                log_time("Rebooting into the new version in the maintenance window at",
                                         schedule_window_open(s, now));
                        continue;
                }
                time_t wake = next;
                if (pending) {
                        time_t w = schedule_window_open(s, now);
                        if (w != (time_t) -1 && w < wake)
                                wake = w;
                }
                if (sleep_until(wake, &mask))
                        break;
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        log_notice("Stopping.");
        return 0;
}
