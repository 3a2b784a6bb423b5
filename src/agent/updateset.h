/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Update sets: one version across all enabled transfers of a component, and the choice of the
 * candidate (spec sysupdate.md 6, the v257+ variant: an installed version missing in some target
 * is kept as INCOMPLETE, so the booted version is never mistaken for free space). */

#include <stdbool.h>
#include <stddef.h>

struct transfer;
struct resource;
struct instance;

enum update_set_flags {
        UPDATE_NEWEST = 1u << 0,
        UPDATE_AVAILABLE = 1u << 1,
        UPDATE_INSTALLED = 1u << 2,
        UPDATE_OBSOLETE = 1u << 3,
        UPDATE_PROTECTED = 1u << 4,
        UPDATE_INCOMPLETE = 1u << 5,
};

struct update_set {
        char *version;
        unsigned flags;
        const struct instance **installed;  /* per transfer: the target instance, or NULL */
        const struct instance **available;  /* per transfer: the source instance, or NULL */
};

struct update_sets {
        struct update_set **sets;           /* newest first */
        size_t n_sets;
        size_t n_transfers;
        struct update_set *newest_installed;
        struct update_set *candidate;       /* what `update` installs, or NULL */
};

/* transfers/targets/sources are parallel arrays of n (enabled transfers only); sources may be
 * NULL (--offline, installed versions only). */
int update_sets_discover(struct transfer *const *transfers, struct resource *const *targets,
                         struct resource *const *sources, size_t n, struct update_sets **ret);
void update_sets_free(struct update_sets *s);

/* Exact string match first (as `update VERSION` wants), then strverscmp equality. */
struct update_set *update_sets_find(const struct update_sets *s, const char *version);

/* The newest installed version that every enabled transfer holds, or NULL: what a reboot would
 * bring up. A version missing its boot entry or its data (an interrupted install or vacuum) is
 * never it. */
const struct update_set *update_sets_newest_complete(const struct update_sets *s);

/* "current", "candidate", "installed", "protected+incomplete", ... (spec 6.2). */
const char *update_set_assessment(unsigned flags);
