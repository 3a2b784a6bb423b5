/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Everything one run of the update agent knows: the component's definitions, each transfer's
 * enumerated target (and source) resource, and the update sets built from them. Planning only:
 * loading a context never writes. */

#include "resource.h"

#include <stdbool.h>
#include <stddef.h>

struct definitions;
struct definitions_options;
struct update_sets;

struct context {
        struct definitions *defs;
        struct resource_context rc;
        /* enabled transfers, in commit order, with their resources (parallel arrays) */
        struct transfer **transfers;
        struct resource **targets;
        struct resource **sources;   /* NULL when sources were not loaded (--offline) */
        size_t n;
        /* disabled transfers (features switched off): vacuum wipes their instances */
        struct transfer **disabled;
        struct resource **disabled_targets;
        size_t n_disabled;
        struct update_sets *sets;
        int lock_fd;                 /* context_lock(), -1 when not locked */
        int *disk_locks;             /* disk_lock() of every partition target's disk */
        size_t n_disk_locks;
};

/* With lock set, the run lock (context_lock()) and the lock of every target disk (disk-lock.h)
 * are taken before anything is enumerated and held until context_free(), so the plan cannot go
 * stale under a concurrent run, whatever path that run reached the disk by. */
int context_load(const struct definitions_options *d, const struct resource_context *rc, bool sources,
                 bool lock, struct context **ret);
void context_free(struct context *c);

/* The run lock: an exclusive flock() on the --root directory, the directory holding --image,
 * or "/" on the host, so that two runs never write the same boot entries and files. Disks are
 * guarded by their own lock, since two roots can share one disk. -EBUSY (logged) when another
 * run holds it. */
int context_lock(const struct resource_context *rc, int *ret_fd);

/* IMAGE_VERSION of the root's os-release; -ENODATA (logged) when unset. */
int context_booted_version(const struct context *c, const char **ret);
