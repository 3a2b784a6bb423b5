/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vacuum.h"

#include "context.h"
#include "sysupdate/definitions.h"
#include "base/log.h"
#include "resource.h"
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

int vacuum_transfer(const struct transfer *t, struct resource *target, const struct vacuum_request *q,
                    size_t *removed) {
        if (t->remove_temporary && target->kind->remove_temporary)
                target->kind->remove_temporary(target);

        uint64_t limit = 0;
        int r = compute_limit(t, target, q, &limit);
        if (r < 0)
                return r;

        while (target->n_instances > limit) {
                /* the oldest instance that is not protected */
                size_t idx = target->n_instances;
                while (idx > 0 && is_protected(q->protected, target->instances[idx - 1]->metadata.version))
                        idx--;
                if (idx == 0)
                        break; /* the slot search reports it if that leaves no room */
                r = remove_instance(t, target, idx - 1, q->sync);
                if (r < 0)
                        return r;
                (*removed)++;
        }
        return 0;
}

static int collect_protected(const struct context *c, char *const *extra, char ***ret) {
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

int vacuum_context(struct context *c, const struct vacuum_request *q, const char *skip_version,
                   size_t *ret_removed, size_t *ret_disabled) {
        _cleanup_strv_free_ char **protected = NULL;
        int r = collect_protected(c, q->protected, &protected);
        if (r < 0)
                return r;
        struct vacuum_request qq = *q;
        qq.protected = protected;

        size_t removed = 0, disabled = 0;
        for (size_t k = 0; k < c->n; k++) {
                if (skip_version && resource_find(c->targets[k], skip_version))
                        continue;
                r = vacuum_transfer(c->transfers[k], c->targets[k], &qq, &removed);
                if (r < 0)
                        return r;
        }
        struct vacuum_request wipe = qq;
        wipe.space = VACUUM_WIPE;
        for (size_t k = 0; k < c->n_disabled; k++) {
                size_t before = removed;
                r = vacuum_transfer(c->disabled[k], c->disabled_targets[k], &wipe, &removed);
                if (r < 0)
                        return r;
                disabled += removed > before;
        }
        *ret_removed = removed;
        if (ret_disabled)
                *ret_disabled = disabled;
        return 0;
}
