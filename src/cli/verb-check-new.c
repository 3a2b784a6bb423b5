/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "agent/update.h"
#include "agent/updateset.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <stdio.h>

static int explain_version(struct context *c, const char *version) {
        _cleanup_strv_free_ char **why = NULL;
        int r = update_explain(c, version, &why);
        if (r < 0)
                return r;
        for (char **l = why; l && *l; l++)
                log_debug("Version %s is not offered: %s", version, *l);
        return 0;
}

/* With -v: why the newest version at any source is not offered (when it is not the candidate),
 * and whether the candidate will not fit; this reads the payloads' sizes from the server, which
 * plain check-new never does. */
static int explain(struct context *c) {
        const struct update_set *candidate = c->sets->candidate, *installed = c->sets->newest_installed;
        const char *newest = NULL;
        for (size_t k = 0; k < c->n; k++) /* instances are listed newest first */
                if (c->sources[k]->n_instances > 0) {
                        const char *v = c->sources[k]->instances[0]->metadata.version;
                        if (!newest || version_compare(v, newest) > 0)
                                newest = v;
                }
        int r = 0;
        if (newest && (!candidate || version_compare(newest, candidate->version) > 0) &&
            (!installed || version_compare(newest, installed->version) > 0))
                r = explain_version(c, newest);
        if (r >= 0 && candidate)
                r = explain_version(c, candidate->version);
        return r;
}

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
        if (log_get_max_level() >= LOG_DEBUG && (r = explain(c)) < 0) {
                context_free(c);
                return cli_exit_status(r);
        }
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
