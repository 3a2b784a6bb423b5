/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vacuum.h"

#include "context.h"
#include "sysupdate/definitions.h"
#include "base/log.h"
#include "resource.h"
#include "resume-state.h"
#include "sysupdate/transfer.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static bool is_protected(char *const *protected, const char *v) {
        for (char *const *p = protected; p && *p; p++)
                if (version_compare(*p, v) == 0)
                        return true;
        return false;
}

static int remove_instance(const struct transfer *t, struct resource *target, size_t idx, bool sync) {
        struct instance *i = target->instances[idx];
        int r = target->kind->remove(t, target, i, sync);
        if (r < 0)
                return r;
        log_info("%s: removed version %s (%s)", t->id, i->metadata.version, i->path);
        resource_remove_instance(target, idx);
        return 0;
}

static int compute_limit(const struct transfer *t, const struct resource *target, const struct vacuum_request *q,
                         uint64_t *ret) {
        uint64_t max = q->instances_max > 0 ? q->instances_max : t->instances_max, limit;
        const char *setting = q->instances_max > 0 ? "--instances-max" : "InstancesMax";

        if (q->space == VACUUM_WIPE)
                limit = 0;
        else if (max == UINT64_MAX)
                limit = UINT64_MAX;
        else if (q->space >= max)
                return log_error_errno(ENOSPC, "%s: %s=%" PRIu64 " leaves no room for a new version while one must always remain; set it to at least %" PRIu64,
                                       t->id, setting, max, q->space + 1);
        else
                limit = max - q->space;

        if (target->kind->vacuum_limit && q->space != VACUUM_WIPE)
                return target->kind->vacuum_limit(t, target, q->space, limit, ret);
        *ret = limit;
        return 0;
}

/* Adds to *victims the versions this transfer must give up: the oldest unprotected ones, until
 * InstancesMax= and the room asked for hold. Nothing is removed here. */
static int select_victims(const struct transfer *t, const struct resource *target, const struct vacuum_request *q,
                          char ***victims) {
        uint64_t limit = 0;
        int r = compute_limit(t, target, q, &limit);
        if (r < 0)
                return r;
        uint64_t keep = target->n_instances;
        for (size_t idx = target->n_instances; idx > 0 && keep > limit; idx--) {
                const char *v = target->instances[idx - 1]->metadata.version;
                if (is_protected(q->protected, v))
                        continue; /* the slot search reports it if that leaves no room */
                keep--;
                if (!is_protected(*victims, v) && (r = strv_extend(victims, v)) < 0)
                        return r;
        }
        return 0;
}

static ssize_t find_index(const struct resource *target, const char *v) {
        for (size_t i = 0; i < target->n_instances; i++)
                if (version_compare(target->instances[i]->metadata.version, v) == 0)
                        return (ssize_t) i;
        return -1;
}

/* RemoveTemporary=; the partial download that t's resume state in resume_dir names stays. */
static void remove_temporary(const struct transfer *t, const struct resource *target, const char *resume_dir) {
        if (!t->remove_temporary || !target->kind->remove_temporary)
                return;
        _cleanup_free_ char *keep = resume_state_kept_file(resume_dir, t->id);
        target->kind->remove_temporary(target, keep);
}

int vacuum_transfer(const struct transfer *t, struct resource *target, const struct vacuum_request *q,
                    size_t *removed) {
        remove_temporary(t, target, NULL);
        _cleanup_strv_free_ char **victims = NULL;
        int r = select_victims(t, target, q, &victims);
        for (char **v = victims; r >= 0 && v && *v; v++) {
                ssize_t idx = find_index(target, *v);
                if (idx >= 0 && (r = remove_instance(t, target, (size_t) idx, q->sync)) >= 0)
                        (*removed)++;
        }
        return r;
}

int vacuum_remove_version(struct transfer *const *transfers, struct resource *const *targets, size_t n,
                          const char *version, bool sync, size_t *removed) {
        /* Reverse commit order: the last transfer (the boot entry) goes first, so that at every
         * instant whatever the boot loader can still pick has all its data. */
        for (size_t k = n; k > 0; k--) {
                ssize_t idx = find_index(targets[k - 1], version);
                if (idx < 0)
                        continue;
                int r = remove_instance(transfers[k - 1], targets[k - 1], (size_t) idx, sync);
                if (r < 0)
                        return r;
                (*removed)++;
        }
        return 0;
}

int vacuum_protected_versions(const struct context *c, char *const *extra, char ***ret) {
        _cleanup_strv_free_ char **l = strv_copy(extra);
        if (!l)
                return -ENOMEM;
        int r = 0;
        for (size_t k = 0; r >= 0 && k < c->defs->n_transfers; k++)
                for (char **p = c->defs->transfers[k]->protect_versions; r >= 0 && p && *p; p++)
                        r = strv_extend(&l, *p);
        /* The running system is never given away, whatever ProtectVersion= says. */
        if (r >= 0 && !isempty(c->defs->os_image_version))
                r = strv_extend(&l, c->defs->os_image_version);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

static int plan_victims(struct context *c, const struct vacuum_request *q, const char *skip_version,
                        bool remove_temporaries, char ***ret) {
        _cleanup_strv_free_ char **protected = NULL;
        int r = vacuum_protected_versions(c, q->protected, &protected);
        if (r < 0)
                return r;
        struct vacuum_request qq = *q;
        qq.protected = protected;

        /* Every transfer names the versions it must give up; each of them then goes as a whole,
         * in reverse commit order (vacuum_remove_version()), never one transfer at a time. */
        _cleanup_strv_free_ char **victims = NULL;
        _cleanup_free_ char *resume_dir = NULL;
        if (remove_temporaries && (r = resume_state_dir(c->rc.root, c->rc.image, &resume_dir)) < 0)
                return r;
        if (resume_dir)
                resume_dir_cleanup(resume_dir); /* spools whose state is gone */
        for (size_t k = 0; k < c->n; k++) {
                const struct transfer *t = c->transfers[k];
                if (remove_temporaries)
                        remove_temporary(t, c->targets[k], resume_dir);
                if (skip_version && resource_find(c->targets[k], skip_version))
                        continue;
                r = select_victims(t, c->targets[k], &qq, &victims);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(victims);
        return 0;
}

int vacuum_plan(struct context *c, const struct vacuum_request *q, const char *skip_version, char ***ret) {
        return plan_victims(c, q, skip_version, false, ret);
}

int vacuum_context(struct context *c, const struct vacuum_request *q, const char *skip_version,
                   size_t *ret_removed, size_t *ret_disabled) {
        _cleanup_strv_free_ char **victims = NULL;
        int r = plan_victims(c, q, skip_version, true, &victims);
        if (r < 0)
                return r;
        size_t removed = 0, disabled = 0;
        for (char **v = victims; v && *v; v++) {
                if (skip_version)
                        log_info("Removing version %s to make room for %s.", *v, skip_version);
                else
                        log_info("Removing version %s.", *v);
                r = vacuum_remove_version(c->transfers, c->targets, c->n, *v, q->sync, &removed);
                if (r < 0)
                        return r;
                if (q->on_removed)
                        q->on_removed(q->userdata, *v);
        }
        _cleanup_strv_free_ char **protected = NULL;
        r = vacuum_protected_versions(c, q->protected, &protected);
        if (r < 0)
                return r;
        struct vacuum_request wipe = *q;
        wipe.protected = protected;
        wipe.space = VACUUM_WIPE;
        for (size_t k = 0; k < c->n_disabled; k++) {
                /* as in systemd 257: these count as transfers, not in the instances removed */
                size_t wiped = 0;
                r = vacuum_transfer(c->disabled[k], c->disabled_targets[k], &wipe, &wiped);
                if (r < 0)
                        return r;
                disabled += wiped > 0;
        }
        *ret_removed = removed;
        if (ret_disabled)
                *ret_disabled = disabled;
        return 0;
}
