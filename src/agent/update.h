/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `update [VERSION]` (spec sysupdate.md 7.1-7.3, classic acquire/commit for partitions): check
 * that every payload is there and fits (a HEAD request each), vacuum with space=1, acquire every
 * transfer into an `_empty` slot or a ".#sysupdate..." temporary file, sync, then commit in
 * transfer (file name) order.
 *
 * What a failure leaves: before the vacuum (a payload missing, unreachable or too large) nothing
 * has changed. After it, the versions removed to make room stay removed; the booted version, the
 * protected ones and the new version's target slots are never touched, and the new version stays
 * invisible until its commit. Removal goes boot entry first, data last (vacuum.h), so whatever the
 * boot loader can pick at any instant has all its parts. */

#include <stdbool.h>
#include <stdint.h>

struct context;

struct update_options {
        const char *version;      /* explicit VERSION, NULL = the candidate */
        uint64_t instances_max;   /* -m, 0 = per transfer */
        bool sync;
        bool progress;            /* progress lines on a terminal */
        bool dry_run;             /* print the plan on stdout (version, victims, slots, files), write nothing */
};

/* On success *ret_version is the version installed (pointing into c), or NULL when there was
 * nothing to do (already installed, or no candidate). */
int update_run(struct context *c, const struct update_options *o, const char **ret_version);
