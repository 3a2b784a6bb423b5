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
#include <stddef.h>
#include <stdint.h>

struct context;

/* What update_run() reports as it goes, for --json (abota(1), JSON EVENTS). */
enum update_event_type {
        UPDATE_EVENT_PHASE,     /* phase: "check", "vacuum", "acquire", "commit" */
        UPDATE_EVENT_PROGRESS,  /* transfer, instance: bytes done of total, elapsed time */
        UPDATE_EVENT_REMOVED,   /* removed: a version removed to make room */
        UPDATE_EVENT_WRITTEN,   /* transfer, instance, target: an instance committed */
};

struct update_event {
        enum update_event_type type;
        const char *version;      /* the version being installed */
        const char *phase;
        const char *transfer;     /* the transfer's id */
        const char *instance;     /* the new instance's label or file name */
        const char *target;       /* WRITTEN: the disk (partno set) or the file written */
        size_t partno;            /* WRITTEN: 1-based partition number, 0 for a file */
        uint64_t done, total;     /* PROGRESS: bytes; total UINT64_MAX when unknown */
        uint64_t elapsed_usec;    /* PROGRESS: since this transfer started */
        const char *removed;
};

struct update_options {
        const char *version;      /* explicit VERSION, NULL = the candidate */
        uint64_t instances_max;   /* -m, 0 = per transfer */
        bool sync;
        bool progress;            /* progress on stderr: a redrawn line on a terminal, plain lines otherwise */
        bool dry_run;             /* print the plan on stdout (version, victims, slots, files), write nothing */
        void (*on_event)(void *userdata, const struct update_event *e); /* may be NULL */
        void *userdata;
};

/* Why version is not (or not fully) what update would install, one line per reason: for each
 * transfer missing at the source, above MaxVersion= (below MinVersion=), or with a payload larger
 * than every slot (or the room) it could get, its size read from the manifest or the server (a
 * HEAD request) before anything is downloaded; then whether the version is incomplete, or older
 * than the newest installed one. *ret is NULL when nothing stands in the way. Returns the number
 * of transfers that have version installed or at their source (0: unknown everywhere). */
int update_explain(struct context *c, const char *version, char ***ret);

/* On success *ret_version is the version installed (pointing into c), or NULL when there was
 * nothing to do (already installed, or no candidate). */
int update_run(struct context *c, const struct update_options *o, const char **ret_version);
