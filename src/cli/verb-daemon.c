/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/scheduler.h"
#include "base/log.h"
#include "base/util.h"
#include "boot/reboot.h"

#include <errno.h>

#define STATE_DIR_DEFAULT "/var/lib/abota"

static int daemon_update(void *userdata) {
        return verb_update(userdata) == EXIT_OK ? 0 : -EIO;
}

static int daemon_pending(void *userdata) {
        return cli_newer_installed(userdata);
}

static int daemon_reboot(void *userdata) {
        (void) userdata;
        return reboot_system();
}

/* abota daemon: the update and reboot timers for systems without systemd (see scheduler.h). */
int verb_daemon(const struct cli_options *o) {
        struct schedule s = {
                .interval = 24 * 3600,
                .random_delay = 2 * 3600,
                .window_start = -1,
                .window_end = -1,
                .state_dir = o->state_dir ? o->state_dir : STATE_DIR_DEFAULT,
        };
        if (o->image || o->component || o->reboot) {
                log_error("daemon: updates and reboots this system; --image=, --component= and --reboot do not apply");
                return EXIT_FAIL;
        }
        if (o->interval && schedule_parse_duration(o->interval, &s.interval) < 0) {
                log_error("--interval=%s: expected a duration such as 1d, 6h, 30min or 90s", o->interval);
                return EXIT_FAIL;
        }
        if (o->random_delay && schedule_parse_duration(o->random_delay, &s.random_delay) < 0) {
                if (streq(o->random_delay, "0"))
                        s.random_delay = 0;
                else {
                        log_error("--random-delay=%s: expected a duration such as 2h, 30min or 0", o->random_delay);
                        return EXIT_FAIL;
                }
        }
        if (o->maintenance_window &&
            schedule_parse_window(o->maintenance_window, &s.window_start, &s.window_end) < 0) {
                log_error("--maintenance-window=%s: expected HH:MM-HH:MM, such as 03:00-05:00", o->maintenance_window);
                return EXIT_FAIL;
        }
        if (s.window_start >= 0 && !cli_reboot_allowed(o))
                return EXIT_FAIL;
        struct scheduler_ops ops = {
                .update = daemon_update,
                .pending = daemon_pending,
                .reboot = daemon_reboot,
                .userdata = (void *) o,
        };
        return scheduler_run(&s, &ops) < 0 ? EXIT_FAIL : EXIT_OK;
}
