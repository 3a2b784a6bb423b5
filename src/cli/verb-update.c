/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/util.h"
#include "boot/reboot.h"
#include "agent/update.h"
#include "agent/updateset.h"
#include "sysupdate/definitions.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* update --json: one event object per line on stdout as the update goes (abota(1), JSON
 * EVENTS), then one result object. What the result lists is collected from the events. */
struct json_events {
        char **removed;
        struct written {
                char *transfer, *instance, *path;
                size_t partno;
        } *written;
        size_t n_written;
};

static void event_begin(struct json_writer *w, const char *type) {
        json_init(w, stdout, JSON_SHORT);
        json_begin_object(w);
        json_kv_string(w, "type", type);
}

static void event_end(struct json_writer *w) {
        json_end_object(w);
        json_finish(w);
        fflush(stdout); /* a reader of a pipe wants each event when it happens */
}

static void on_event(void *userdata, const struct update_event *e) {
        struct json_events *je = userdata;
        struct json_writer w;
        switch (e->type) {
        case UPDATE_EVENT_PHASE:
                event_begin(&w, "phase");
                json_kv_string(&w, "phase", e->phase);
                json_kv_string(&w, "version", e->version);
                break;
        case UPDATE_EVENT_PROGRESS: {
                bool known = e->total != UINT64_MAX;
                uint64_t rate = progress_rate(e->done, e->elapsed_usec);
                event_begin(&w, "progress");
                json_kv_string(&w, "version", e->version);
                json_kv_string(&w, "transfer", e->transfer);
                json_kv_string(&w, "instance", e->instance);
                json_kv_uint(&w, "bytesDone", e->done);
                json_kv_uint_or_null(&w, "bytesTotal", known, e->total);
                json_kv_uint(&w, "rate", rate);
                json_kv_uint_or_null(&w, "eta", known && rate > 0,
                                     known && rate > 0 && e->total > e->done ? (e->total - e->done + rate - 1) / rate : 0);
                break;
        }
        case UPDATE_EVENT_REMOVED:
                if (strv_extend(&je->removed, e->removed) < 0)
                        log_error("out of memory");
                event_begin(&w, "removed");
                json_kv_string(&w, "version", e->removed);
                break;
        case UPDATE_EVENT_WRITTEN: {
                struct written *l = realloc(je->written, (je->n_written + 1) * sizeof(*l));
                if (l) {
                        je->written = l;
                        l[je->n_written++] = (struct written) {
                                .transfer = strdup(e->transfer), .instance = strdup(e->instance),
                                .path = strdup(e->target), .partno = e->partno,
                        };
                }
                event_begin(&w, "written");
                json_kv_string(&w, "version", e->version);
                json_kv_string(&w, "transfer", e->transfer);
                json_kv_string(&w, "instance", e->instance);
                json_kv_string(&w, "path", e->target);
                json_kv_uint_or_null(&w, "partition", e->partno > 0, e->partno);
                break;
        }
        default:
                return;
        }
        event_end(&w);
}

/* The result object: what was installed (or null), where, what was removed; on failure the
 * error's message. Frees je. */
static void json_result(struct json_events *je, const char *installed, int exit_status) {
        struct json_writer w;
        event_begin(&w, "result");
        json_kv_string(&w, "result", exit_status != EXIT_OK ? "failed" : installed ? "installed" : "up-to-date");
        json_kv_string(&w, "version", installed);
        json_key(&w, "written");
        json_begin_array(&w);
        for (size_t i = 0; i < je->n_written; i++) {
                json_begin_object(&w);
                json_kv_string(&w, "transfer", je->written[i].transfer);
                json_kv_string(&w, "instance", je->written[i].instance);
                json_kv_string(&w, "path", je->written[i].path);
                json_kv_uint_or_null(&w, "partition", je->written[i].partno > 0, je->written[i].partno);
                json_end_object(&w);
                free(je->written[i].transfer);
                free(je->written[i].instance);
                free(je->written[i].path);
        }
        json_end_array(&w);
        json_kv_strv(&w, "removed", je->removed);
        json_kv_string(&w, "error", exit_status != EXIT_OK ? log_last_error() : NULL);
        json_kv_uint(&w, "exitCode", (uint64_t) exit_status);
        event_end(&w);
        free(je->written);
        strv_free(je->removed);
}

/* As updatectl names what it updated ("host", "component:NAME") and tells to reboot when the
 * new version is newer than the booted one. */
static void final_line(const struct cli_options *o, const char *installed, const char *booted) {
        if (o->component)
                log_notice("Installed component:%s@%s.", o->component, installed);
        else if (booted && version_compare(installed, booted) > 0)
                log_notice("Installed host@%s; reboot to use it (booted: %s).", installed, booted);
        else
                log_notice("Installed host@%s.", installed);
}

/* abota update [VERSION] [--reboot] (spec sysupdate.md 7.1, 7.7) */
int verb_update(const struct cli_options *o) {
        bool json = o->json != JSON_OFF;
        if (o->dry_run && (o->reboot || json)) {
                log_error("--dry-run and %s cannot be combined", o->reboot ? "--reboot" : "--json");
                return EXIT_FAIL;
        }
        if (o->reboot && !cli_reboot_allowed(o))
                return EXIT_FAIL;
        if (o->instances_max == 1) {
                log_error("--instances-max=1 leaves no room for an update; use at least 2");
                return EXIT_FAIL;
        }
        struct json_events je = {};
        if (o->offline) {
                log_notice("No update needed: --offline and nothing was acquired ahead.");
                if (json)
                        json_result(&je, NULL, EXIT_OK);
                return EXIT_OK;
        }

        struct context *c = NULL;
        int r = cli_context_load(o, true, !o->dry_run, &c);
        if (r < 0) {
                if (json)
                        json_result(&je, NULL, cli_exit_status(r));
                return cli_exit_status(r);
        }
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
                .progress = !json,
                .dry_run = o->dry_run,
                .on_event = json ? on_event : NULL,
                .userdata = &je,
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
        } else if (r >= 0 && installed && !json)
                final_line(o, installed, o->image || isempty(c->defs->os_image_version) ? NULL : c->defs->os_image_version);
        int status = cli_exit_status(r);
        if (json)
                json_result(&je, r >= 0 ? installed : NULL, status);
        context_free(c);
        return status;
}
