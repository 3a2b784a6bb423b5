/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "agent/vacuum.h"

#include <stdio.h>

/* abota vacuum: enforce InstancesMax= and wipe the instances of disabled transfers (spec 7.5). */
int verb_vacuum(const struct cli_options *o) {
        struct context *c = NULL;
        int r = cli_context_load(o, false, true, &c);
        if (r < 0)
                return cli_exit_status(r);
        struct vacuum_request q = { .space = 0, .instances_max = o->instances_max, .sync = o->sync };
        size_t removed = 0, disabled = 0;
        r = vacuum_context(c, &q, NULL, &removed, &disabled);
        context_free(c);
        if (r < 0)
                return cli_exit_status(r);

        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_kv_uint(&w, "removed", removed);
                json_kv_uint(&w, "disabledTransfers", disabled);
                json_end_object(&w);
                json_finish(&w);
        } else
                log_notice("Removed %zu instance(s)%s.", removed, disabled ? " (including disabled transfers)" : "");
        return EXIT_OK;
}
