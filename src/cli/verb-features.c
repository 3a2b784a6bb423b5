/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "sysupdate/definitions.h"
#include "sysupdate/transfer.h"
#include "base/log.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>

static int show_all(const struct cli_options *o, const struct definitions *d) {
        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_key(&w, "features");
                json_begin_array(&w);
                for (size_t i = 0; i < d->n_features; i++)
                        json_string(&w, d->features[i]->id);
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
                return EXIT_OK;
        }
        if (d->n_features == 0) {
                log_notice("No features defined.");
                return EXIT_OK;
        }
        size_t wn = strlen("FEATURE"), wd = strlen("DESCRIPTION");
        for (size_t i = 0; i < d->n_features; i++) {
                const struct feature *f = d->features[i];
                if (strlen(f->id) > wn)
                        wn = strlen(f->id);
                if (f->description && strlen(f->description) > wd)
                        wd = strlen(f->description);
        }
        if (!o->no_legend)
                printf("  %-*s %-*s DOCUMENTATION\n", (int) wn, "FEATURE", (int) wd, "DESCRIPTION");
        for (size_t i = 0; i < d->n_features; i++) {
                const struct feature *f = d->features[i];
                printf("%s %-*s %-*s %s\n", f->enabled ? glyph("\u2713", "+") : glyph("\u2717", "-"), (int) wn, f->id,
                       (int) wd,
                       f->description ? f->description : "", f->documentation ? f->documentation : "");
        }
        return EXIT_OK;
}

static int show_one(const struct cli_options *o, const struct definitions *d, const char *name) {
        const struct feature *f = definitions_find_feature(d, name);
        if (!f) {
                log_error("Optional feature not found: %s", name);
                return EXIT_FAIL;
        }
        _cleanup_strv_free_ char **transfers = NULL;
        if (definitions_feature_transfers(d, name, &transfers) < 0)
                return EXIT_FAIL;
        if (o->json != JSON_OFF) {
                /* v257's keys; unset ones are left out */
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_kv_string(&w, "name", f->id);
                json_kv_bool(&w, "enabled", f->enabled);
                if (f->description)
                        json_kv_string(&w, "description", f->description);
                if (f->documentation)
                        json_kv_string(&w, "documentation", f->documentation);
                if (f->appstream)
                        json_kv_string(&w, "appStream", f->appstream);
                if (transfers[0])
                        json_kv_strv(&w, "transfers", transfers);
                json_end_object(&w);
                json_finish(&w);
                return EXIT_OK;
        }
        printf("         Name: %s\n      Enabled: %s\n", f->id, f->enabled ? "yes" : "no");
        if (f->description)
                printf("  Description: %s\n", f->description);
        if (f->documentation)
                printf("Documentation: %s\n", f->documentation);
        if (f->appstream)
                printf("    AppStream: %s\n", f->appstream);
        for (size_t i = 0; transfers[i]; i++)
                printf("%s %s\n", i == 0 ? "    Transfers:" : "              ", transfers[i]);
        return EXIT_OK;
}

/* abota features [FEATURE]: the features and their state, or one feature's details with the
 * transfers that belong to it (spec sysupdate.md 1.2, 10.1). */
int verb_features(const struct cli_options *o) {
        struct definitions_options opts;
        _cleanup_(definitions_freep) struct definitions *d = NULL;
        if (cli_definitions_options(o, &opts) < 0 || definitions_load(&opts, &d) < 0)
                return EXIT_FAIL;
        return o->n_args > 0 ? show_one(o, d, o->args[0]) : show_all(o, d);
}

static int set_features(const struct cli_options *o, bool enable) {
        if (o->definitions || o->image) {
                log_error("%s-feature writes below /etc/sysupdate.d; it cannot be combined with --definitions= or --image=",
                          enable ? "enable" : "disable");
                return EXIT_FAIL;
        }
        struct definitions_options opts;
        _cleanup_(definitions_freep) struct definitions *d = NULL;
        if (cli_definitions_options(o, &opts) < 0 || definitions_load(&opts, &d) < 0)
                return EXIT_FAIL;
        /* all names are checked before anything is written */
        for (int i = 0; i < o->n_args; i++)
                if (!definitions_find_feature(d, o->args[i])) {
                        log_error("Optional feature not found: %s", o->args[i]);
                        return EXIT_FAIL;
                }
        for (int i = 0; i < o->n_args; i++) {
                _cleanup_free_ char *file = NULL;
                if (feature_write_enabled(o->root, o->component, o->args[i], enable, &file) < 0)
                        return EXIT_FAIL;
                log_info("%s feature '%s' (%s).", enable ? "Enabled" : "Disabled", o->args[i], file);
        }
        return EXIT_OK;
}

/* abota enable-feature / disable-feature NAME...: as updatectl enable/disable, through a drop-in;
 * the next update installs, the next vacuum removes the feature's transfers. */
int verb_enable_feature(const struct cli_options *o) {
        return set_features(o, true);
}

int verb_disable_feature(const struct cli_options *o) {
        return set_features(o, false);
}
