/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "boot/reboot.h"
#include "agent/updateset.h"
#include "sysupdate/version.h"

#include <stdbool.h>

/* Compares the newest complete installed version with the booted one (spec 7.7): > 0 newer
 * installed, 0 when not newer, < 0 on error (logged). */
int cli_newer_installed(const struct cli_options *o) {
        if (o->component || o->image) {
                log_error("pending and reboot compare with the booted version; --component= and --image= do not apply");
                return -1;
        }
        struct context *c = NULL;
        if (cli_context_load(o, false, false, &c) < 0)
                return -1;
        const char *booted = NULL;
        int r = context_booted_version(c, &booted);
        const struct update_set *u = update_sets_newest_complete(c->sets);
        if (r >= 0 && !u) {
                log_error("no complete installed version found");
                r = -1;
        }
        if (r >= 0) {
                int cmp = version_compare(u->version, booted);
                if (cmp > 0)
                        log_notice("Newer version %s installed (booted: %s). Reboot recommended.", u->version, booted);
                else if (cmp == 0)
                        log_info("Booted version %s is the newest installed.", booted);
                else
                        log_warning("Booted version %s is newer than the newest installed %s.", booted, u->version);
                r = cmp > 0;
        }
        context_free(c);
        return r;
}

/* abota pending: exit status 0 when a newer version than the booted one is installed, else 1. */
int verb_pending(const struct cli_options *o) {
        return cli_newer_installed(o) > 0 ? EXIT_OK : EXIT_FAIL;
}

/* abota reboot: reboots when a newer version is installed, else does nothing. */
int verb_reboot(const struct cli_options *o) {
        if (!cli_reboot_allowed(o))
                return EXIT_FAIL;
        int r = cli_newer_installed(o);
        if (r < 0)
                return EXIT_FAIL;
        if (r == 0)
                return EXIT_OK;
        return reboot_system() < 0 ? EXIT_FAIL : EXIT_OK;
}
