/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "agent/updateset.h"

#include <stdio.h>

/* abota check-new: prints the candidate version; exit status 0 when there is one, 1 if not. In
 * JSON mode "nothing new" is an answer ({"available":null}) and exits 0, as in systemd 257. */
int verb_check_new(const struct cli_options *o) {
        struct context *c = NULL;
        if (o->offline) {
                log_error("check-new needs the update sources, it cannot run with --offline");
                return EXIT_FAIL;
        }
        int r = cli_context_load(o, true, false, &c);
        if (r < 0)
                return cli_exit_status(r);
        const struct update_set *u = c->sets->candidate;
        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_kv_string(&w, "available", u ? u->version : NULL);
                json_end_object(&w);
                json_finish(&w);
        } else if (u)
                printf("%s\n", u->version);
        else
                log_info("No updates found.");
        r = u || o->json != JSON_OFF ? EXIT_OK : EXIT_FAIL; /* u points into c */
        context_free(c);
        return r;
}
