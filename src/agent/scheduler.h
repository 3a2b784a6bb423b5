/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `abota daemon`: the update timer, reboot timer and their lock for systems without systemd.
 * Same semantics as the shipped units: a check every interval plus a random delay, a missed
 * check (machine off) made up for at start (Persistent=, kept as the mtime of a stamp file),
 * and a reboot into a newer installed version only inside the maintenance window. */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct schedule {
        uint64_t interval;      /* seconds between two update checks */
        uint64_t random_delay;  /* each check waits a further 0..random_delay seconds */
        int window_start;       /* maintenance window, minutes after local midnight; -1: never reboot */
        int window_end;         /* exclusive; may be below window_start (the window spans midnight) */
        const char *state_dir;  /* holds the stamp "last-check" and the lock "daemon.lock" */
};

/* "1d", "2h", "30min", "45s", "90" (seconds), "1h30min". -EINVAL for anything else or 0. */
int schedule_parse_duration(const char *s, uint64_t *ret);
/* "HH:MM-HH:MM" (24:00 allowed as the end). -EINVAL otherwise or for an empty window. */
int schedule_parse_window(const char *s, int *ret_start, int *ret_end);

/* Whether local time t lies in the maintenance window (false when there is none). */
bool schedule_in_window(const struct schedule *s, time_t t);
/* The first time >= now inside the window; (time_t) -1 when there is no window. */
time_t schedule_window_open(const struct schedule *s, time_t now);
/* When the next check is due: last + interval (now if that passed or last is 0: never ran),
 * plus delay. */
time_t schedule_next_check(const struct schedule *s, time_t last, time_t now, uint64_t delay);

/* What a cycle does, supplied by the caller (the scheduler neither updates nor reboots itself). */
struct scheduler_ops {
        int (*update)(void *userdata);  /* < 0: failed, retried at the next check */
        int (*pending)(void *userdata); /* > 0: a version newer than the booted one is installed */
        int (*reboot)(void *userdata);
        void *userdata;
};

/* Takes the daemon lock (-EBUSY, logged with the holder's PID, when another daemon runs), then
 * loops until SIGTERM, SIGINT or SIGHUP, which return 0. */
int scheduler_run(const struct schedule *s, const struct scheduler_ops *ops);
