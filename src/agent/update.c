/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "update.h"

#include "commit.h"
#include "context.h"
#include "base/log.h"
#include "base/notify.h"
#include "sysupdate/pattern.h"
#include "resource.h"
#include "sysupdate/transfer.h"
#include "updateset.h"
#include "base/util.h"
#include "vacuum.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The values fed to the first target pattern when naming a new instance (spec 3.6). The
 * version is borrowed from the source instance, never freed here. */
static void new_instance_metadata(const struct transfer *t, const struct instance *src, struct instance_metadata *m) {
        const struct instance_metadata *s = &src->metadata;
        *m = *s;
        if (t->has_partition_uuid) {
                m->has_uuid = true;
                memcpy(m->uuid, t->partition_uuid, 16);
        }
        if (t->has_partition_flags) {
                m->has_flags = true;
                m->flags = t->partition_flags;
        }
        if (t->has_mode) {
                m->has_mode = true;
                m->mode = t->mode;
        }
        m->has_tries_done = true;
        m->tries_done = t->has_tries_done ? t->tries_done : s->has_tries_done ? s->tries_done : 0;
        m->has_tries_left = true;
        m->tries_left = t->has_tries_left ? t->tries_left : s->has_tries_left ? s->tries_left : 3;
        if (t->no_auto >= 0)
                m->no_auto = t->no_auto;
        if (t->read_only >= 0)
                m->read_only = t->read_only;
        if (t->growfs >= 0)
                m->growfs = t->growfs;
}

static int plan_name(const struct transfer *t, const struct resource *target, const struct instance_metadata *m,
                     char **ret) {
        char missing = 0;
        int r = pattern_format(t->target.patterns[0], m, ret, &missing);
        if (r == -ENXIO)
                return log_error_errno(r, "%s: target pattern '%s' needs @%c, which version %s does not provide",
                                       t->file, pattern_string(t->target.patterns[0]), missing, m->version);
        if (r < 0)
                return r;
        if (!target->kind->name_is_valid(*ret))
                return log_error_errno(EINVAL, "%s: '%s' is not a valid %s", t->file, *ret, target->kind->name_what);

        /* The new name must be found again as this version, or list/vacuum would not see it: a
         * version containing the literal that follows @v (e.g. 1_2 with foo_@v_@u) is cut short
         * by the non-greedy matcher (spec 3.3). */
        struct instance_metadata back;
        instance_metadata_init(&back);
        r = pattern_match_many(t->target.patterns, t->target.n_patterns, *ret, &back);
        bool same = r == PATTERN_YES && streq_ptr(back.version, m->version);
        instance_metadata_done(&back);
        if (r < 0)
                return r;
        if (!same)
                return log_error_errno(EINVAL, "%s: new name '%s' would not be recognised as version %s by MatchPattern=; "
                                       "the version contains a separator of the pattern", t->file, *ret, m->version);
        return 0;
}

static int pick_set(struct context *c, const struct update_options *o, struct update_set **ret) {
        struct update_set *u = o->version ? update_sets_find(c->sets, o->version) : c->sets->candidate;
        *ret = NULL;
        if (!u) {
                if (o->version)
                        return log_error_errno(ENOENT, "update '%s' not found", o->version);
                log_info("No update needed.");
                return 0;
        }
        if ((u->flags & UPDATE_INSTALLED) && !(u->flags & UPDATE_INCOMPLETE)) {
                log_info("Version %s is already installed, skipping update.", u->version);
                return 0;
        }
        if (!(u->flags & UPDATE_AVAILABLE))
                return log_error_errno(ENOENT, "version %s is not available from every source", u->version);
        if (u->flags & UPDATE_OBSOLETE)
                return log_error_errno(EPROTO, "version %s is obsolete (outside MinVersion=/MaxVersion=)", u->version);
        if (c->sets->newest_installed && version_compare(u->version, c->sets->newest_installed->version) < 0)
                log_warning("version %s is older than the newest installed %s, downgrading as asked",
                            u->version, c->sets->newest_installed->version);
        *ret = u;
        return 0;
}

static int run(struct context *c, const struct update_options *o, const struct update_set *u, struct install *in) {
        int r;
        /* Plan every name first: nothing is touched if one of them cannot be formed. */
        for (size_t k = 0; k < c->n; k++) {
                in[k].transfer = c->transfers[k];
                if (resource_find(c->targets[k], u->version))
                        continue; /* already there (repairing an incomplete install) */
                struct instance_metadata m;
                new_instance_metadata(c->transfers[k], u->available[k], &m);
                r = plan_name(c->transfers[k], c->targets[k], &m, &in[k].name);
                if (r < 0)
                        return r;
        }

        char *protect[] = { u->version, NULL };
        struct vacuum_request vq = { .space = 1, .instances_max = o->instances_max, .protected = protect, .sync = o->sync };
        size_t removed = 0;
        log_info("Making room for '%s'.", u->version);
        notify_send("READY=1\nX_SYSUPDATE_VERSION=%s\nSTATUS=Making room for '%s'.", u->version, u->version);
        r = vacuum_context(c, &vq, u->version, &removed, NULL);
        if (r < 0)
                return r;
        if (o->sync)
                sync();

        for (size_t k = 0; k < c->n; k++) {
                if (!in[k].name)
                        continue;
                const struct transfer *t = c->transfers[k];
                notify_send("STATUS=Updating to '%s' (%zu%% complete).\nX_SYSUPDATE_PROGRESS=%zu\n"
                            "X_SYSUPDATE_TRANSFERS_LEFT=%zu\nX_SYSUPDATE_TRANSFERS_DONE=%zu",
                            u->version, 100 * k / c->n, 100 * k / c->n, c->n - k, k);
                struct instance_metadata m;
                new_instance_metadata(t, u->available[k], &m);
                log_info("%s: acquiring %s as %s", t->id, u->available[k]->path, in[k].name);
                struct resource_write w = {
                        .transfer = t, .source = u->available[k], .metadata = &m,
                        .others = in, .n_others = k, .sync = o->sync, .progress = o->progress,
                };
                r = c->targets[k]->kind->acquire(c->targets[k], &w, &in[k]);
                if (r < 0)
                        return r;
        }
        if (o->sync)
                sync();

        /* Commit in transfer order: the boot entry (named last) appears only after the data. */
        for (size_t k = 0; k < c->n; k++)
                if (in[k].name && (r = commit_install(&in[k], o->sync)) < 0)
                        return r;
        return 0;
}

int update_run(struct context *c, const struct update_options *o, const char **ret_version) {
        struct update_set *u;
        *ret_version = NULL;
        int r = pick_set(c, o, &u);
        if (r < 0 || !u)
                return r;
        if (c->lock_fd < 0)
                return log_error_errno(ENOLCK, "internal error: update without the run lock");

        struct install *in = calloc(c->n ? c->n : 1, sizeof(*in));
        if (!in)
                return -ENOMEM;
        r = run(c, o, u, in);
        for (size_t k = 0; k < c->n; k++)
                install_done(&in[k]);
        free(in);
        if (r < 0)
                return r;
        log_notice("Successfully installed update '%s'.", u->version);
        notify_send("STATUS=Installed '%s'.\nX_SYSUPDATE_PROGRESS=100", u->version);
        *ret_version = u->version;
        return 0;
}
