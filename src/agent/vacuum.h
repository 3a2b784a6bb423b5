/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Freeing instances so that InstancesMax= holds and, before an update, one slot is free (spec
 * sysupdate.md 7.5). Files are deleted; partitions are relabelled `_empty`, never deleted,
 * resized or wiped. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct context;
struct transfer;
struct resource;

#define VACUUM_WIPE UINT64_MAX

struct vacuum_request {
        uint64_t space;               /* instances to make room for; VACUUM_WIPE = remove all */
        uint64_t instances_max;       /* -m/--instances-max, 0 = the transfer's InstancesMax= */
        char *const *protected;       /* versions never removed, NULL-terminated (may be NULL) */
        bool sync;
        /* vacuum_context(): called after each version removed (may be NULL) */
        void (*on_removed)(void *userdata, const char *version);
        void *userdata;
};

/* Vacuums one transfer's target; target is updated in place (instances dropped, n_empty
 * counted up). Adds the number removed to *removed. -ENOSPC (logged, saying what to change)
 * when the request cannot be met by configuration. */
int vacuum_transfer(const struct transfer *t, struct resource *target, const struct vacuum_request *q,
                    size_t *removed);

/* The one removal rule, used by every path that takes a version away: its instance of every
 * transfer is removed in reverse commit order, so the boot entry (committed last) goes first and
 * the data (a GPT label turned back to `_empty`) last. A crash in between leaves a version
 * without a boot entry, which nothing boots, never a boot entry without its data. */
int vacuum_remove_version(struct transfer *const *transfers, struct resource *const *targets, size_t n,
                          const char *version, bool sync, size_t *removed);

/* extra plus every ProtectVersion= of the component and the booted version (IMAGE_VERSION):
 * what no vacuum ever removes. */
int vacuum_protected_versions(const struct context *c, char *const *extra, char ***ret);

/* The versions vacuum_context() would remove, in the order it would (NULL-terminated, owned by
 * the caller); nothing is touched. */
int vacuum_plan(struct context *c, const struct vacuum_request *q, const char *skip_version, char ***ret);
/* All enabled transfers with q (skipping those that already hold skip_version, if given), then
 * disabled transfers wiped. *ret_removed counts the enabled transfers' instances removed,
 * *ret_disabled the disabled transfers that had instances to wipe (systemd 257's counts). Protects
 * every ProtectVersion= of the component and the booted version (IMAGE_VERSION) in addition to
 * q->protected. Logs each version it removes. */
int vacuum_context(struct context *c, const struct vacuum_request *q, const char *skip_version,
                   size_t *ret_removed, size_t *ret_disabled);
