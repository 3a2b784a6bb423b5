/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "boot/reboot.h"
#include "agent/update.h"
#include "agent/updateset.h"
#include "sysupdate/version.h"

#include <stdio.h>
#include <unistd.h>

/* abota update [VERSION] [--reboot] (spec sysupdate.md 7.1, 7.7) */
int verb_update(const struct cli_options *o) {
        if (o->dry_run && o->reboot) {
                log_error("--dry-run and --reboot cannot be combined");
                return EXIT_FAIL;
        }
        if (o->reboot && !cli_reboot_allowed(o))
                return EXIT_FAIL;
        if (o->instances_max == 1) {
                log_error("--instances-max=1 leaves no room for an update; use at least 2");
                return EXIT_FAIL;
        }
        if (o->offline) {
                log_notice("No update needed: --offline and nothing was acquired ahead.");
                return EXIT_OK;
        }

        struct context *c = NULL;
        int r = cli_context_load(o, true, !o->dry_run, &c);
        if (r < 0)
                return cli_exit_status(r);
        const char *booted = NULL;
        if (o->reboot && context_booted_version(c, &booted) < 0) {
                context_free(c);
                return EXIT_FAIL;
        }
        const struct update_set *before = o->n_args > 0 ? update_sets_find(c->sets, o->args[0]) : c->sets->candidate;
        bool repair = before && (before->flags & UPDATE_INCOMPLETE);

        struct update_options uo = {
                .version = o->n_args > 0 ? o->args[0] : NULL,
                .instances_max = o->instances_max,
                .sync = o->sync,
                .progress = isatty(STDERR_FILENO),
                .dry_run = o->dry_run,
        };
        const char *installed = NULL;
        r = update_run(c, &uo, &installed);
        if (r >= 0 && installed && o->reboot) {
                int cmp = version_compare(installed, booted);
                if (cmp > 0 || (cmp == 0 && repair))
                        r = reboot_system();
                else
                        log_info("Installed version %s is not newer than the booted %s, not rebooting.", installed,
                                 booted);
        }
        context_free(c);
        return cli_exit_status(r);
}
