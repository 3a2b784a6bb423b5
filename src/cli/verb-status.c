/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The updatectl-style view: `abota` alone and `abota check`. */
#include "cli.h"

#include "agent/context.h"
#include "agent/updateset.h"
#include "base/log.h"
#include "base/util.h"
#include "sysupdate/definitions.h"

#include <stdio.h>

/* The booted version (IMAGE_VERSION) when the os-release names one, else the newest installed. */
static const char *current_version(const struct context *c) {
        if (c->defs->os_image_version && *c->defs->os_image_version)
                return c->defs->os_image_version;
        return c->sets->newest_installed ? c->sets->newest_installed->version : NULL;
}

/* {"current":..., "available":...[, "checked":...]}; checked < 0 leaves it out. */
static void print_json(const struct cli_options *o, const char *current, const struct update_set *u, int checked) {
        struct json_writer w;
        json_init(&w, stdout, o->json);
        json_begin_object(&w);
        json_kv_string(&w, "current", current);
        json_kv_string(&w, "available", u ? u->version : NULL);
        if (checked >= 0)
                json_kv_bool(&w, "checked", checked);
        json_end_object(&w);
        json_finish(&w);
}

/* abota (no verb): the current version and the one an update would install. */
int verb_status(const struct cli_options *o) {
        /* Installed versions first, so that bad definitions fail here and an unreachable
         * server still leaves the current version to show. */
        struct context *c = NULL, *online = NULL;
        struct cli_options offline = *o;
        offline.offline = true;
        if (cli_context_load(&offline, false, false, &c) < 0) {
                log_notice("Run without a verb, abota shows this system's version; abota --help lists the verbs.");
                return EXIT_FAIL;
        }
        bool reached = false;
        if (!o->offline) {
                reached = cli_context_load(o, true, false, &online) >= 0;
                if (reached) {
                        context_free(c);
                        c = online;
                } else
                        log_notice("Showing the installed versions only: the update sources could not be read.");
        }
        const char *current = current_version(c);
        const struct update_set *u = reached ? c->sets->candidate : NULL;
        if (o->json != JSON_OFF)
                print_json(o, current, u, reached);
        else {
                printf("  Current: %s\n", current ? current : "-");
                if (!reached)
                        printf("Available: unknown (%s)\n", o->offline ? "--offline" : "update sources unreachable");
                else if (u)
                        printf("Available: %s (install with: abota update)\n", u->version);
                else
                        printf("Available: none, up to date\n");
        }
        context_free(c);
        return EXIT_OK;
}

/* abota check: as updatectl check, a TARGET UPDATE table with CURRENT → NEW, empty when there is
 * nothing new. */
int verb_check(const struct cli_options *o) {
        if (o->offline) {
                log_error("check needs the update sources, it cannot run with --offline");
                return EXIT_FAIL;
        }
        struct context *c = NULL;
        int r = cli_context_load(o, true, false, &c);
        if (r < 0)
                return cli_exit_status(r);
        const char *current = current_version(c);
        const struct update_set *u = c->sets->candidate;
        if (o->json != JSON_OFF)
                print_json(o, current, u, -1);
        else if (u) {
                if (!o->no_legend)
                        printf("TARGET UPDATE\n");
                printf("host   %s %s %s\n", current ? current : "-", glyph("\u2192", "->"), u->version);
        } else
                log_notice("No updates available.");
        context_free(c);
        return EXIT_OK;
}
