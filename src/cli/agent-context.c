/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line's view of the definitions and of the update agent's context, shared by
 * definitions, list, check-new, update, vacuum, pending and reboot. */
#include "cli.h"

#include "agent/context.h"
#include "agent/image.h"
#include "sysupdate/definitions.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>

const char *cli_root(const struct cli_options *o) {
        return o->root ? o->root : o->image_parts ? o->image_parts->root : NULL;
}

int cli_definitions_options(const struct cli_options *o, struct definitions_options *ret) {
        *ret = (struct definitions_options) {
                .root = cli_root(o),
                .definitions_dir = o->definitions,
                .component = o->component,
                .transfer_source = o->transfer_source,
                .root_mode = o->root || o->image,
                .image_mode = o->image != NULL,
        };
        return 0;
}

int cli_strict_check(const struct cli_options *o, unsigned warnings_before) {
        unsigned n = log_warning_count() - warnings_before;
        if (o->strict && n > 0)
                return log_error_errno(EINVAL, "--strict: %u warning(s) about the definitions, refusing", n);
        return 0;
}

int cli_context_load(const struct cli_options *o, bool sources, bool lock, struct context **ret) {
        struct definitions_options d;
        int r = cli_definitions_options(o, &d);
        if (r < 0)
                return r;
        struct resource_context rc = {
                .root = o->root,
                .image = o->image,
                .esp = o->image_parts ? o->image_parts->esp : NULL,
                .xbootldr = o->image_parts ? o->image_parts->xbootldr : NULL,
                .transfer_source = o->transfer_source,
                .verify = o->verify,
                .offline = o->offline,
        };
        if (o->strict) {
                /* before the lock, the sources and any write: the definitions alone */
                unsigned warnings = log_warning_count();
                struct definitions *defs = NULL;
                if (definitions_load(&d, &defs) < 0)
                        return -EINVAL;
                definitions_free(defs);
                if (cli_strict_check(o, warnings) < 0)
                        return -EINVAL;
        }
        return context_load(&d, &rc, sources && !o->offline, lock, ret);
}

int cli_exit_status(int r) {
        switch (-r) {
        case EAGAIN:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case EHOSTUNREACH:
        case EREMOTEIO:
                return EXIT_TEMPFAIL;
        default:
                return r < 0 ? EXIT_FAIL : EXIT_OK;
        }
}

bool cli_reboot_allowed(const struct cli_options *o) {
        /* The reboot is of this machine, so it only follows from its own root; a test may
         * replace the command ($ABOTA_REBOOT_COMMAND) and then use --root. */
        if (o->component || o->image || (o->root && !getenv("ABOTA_REBOOT_COMMAND"))) {
                log_error("rebooting cannot be combined with --component=, --image= or --root=");
                return false;
        }
        return true;
}
