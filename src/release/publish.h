/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `abota publish`: add one version's payloads to a static update directory (the url-file source
 * of sysupdate, spec sysupdate.md 5.4 and 9), rewrite its SHA256SUMS, sign it, drop old versions.
 *
 * Crash and client safety come from the order of writes: payloads, their patches and block
 * indexes first (temporary name, fsync, rename; patches: delta.h, indexes: publish-blocks.h), then the manifest and its signature (same), and only then the deletion of payloads
 * that the new manifest no longer names. A client therefore never reads a manifest naming a
 * missing file; one that pairs a new manifest with the old signature fails verification and
 * retries later. */

#include "base/compress.h"
#include "sysupdate/pattern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One transfer of --definitions: the version published must have a payload for each. */
struct publish_transfer {
        const char *name;                /* the transfer's file name, for messages */
        struct pattern *const *patterns; /* its [Source] MatchPattern= */
        size_t n_patterns;
        bool partition;                  /* its target is a partition: payloads get a block index */
};

struct publish_options {
        const char *dir;                 /* the update directory, holding many versions */
        char *const *files;              /* the payloads of one version */
        size_t n_files;
        struct pattern *const *patterns; /* recognise versions in file names (no '/') */
        size_t n_patterns;
        enum compression compression;
        int level;                       /* as compression_from_string() returns it */
        uint64_t keep;                   /* keep this many newest versions; 0 = all */
        uint64_t deltas;                 /* patches from this many older versions (delta.h) */
        int blocks;                      /* a block index per payload (publish-blocks.h): 1 yes (of
                                          * partition transfers only, with transfers), 0 no, -1 for
                                          * the payloads of partition transfers (none without transfers) */
        const char *best_before;         /* "YYYY-MM-DD": add a BEST-BEFORE marker, NULL = none */
        bool force;                      /* replace a published file with different content */
        bool sign;                       /* write SHA256SUMS.gpg with gpg */
        bool unsign;                     /* --sign=no: may drop the SHA256SUMS.gpg of a signed dir */
        const struct publish_transfer *transfers; /* NULL = no completeness check */
        size_t n_transfers;
        const char *gpg_key;             /* --local-user, NULL = gpg's default key */
        const char *gpg_homedir;         /* NULL = gpg's default */
};

struct publish_result {
        char *version;   /* the version published */
        char **added;    /* names written into dir, NULL-terminated */
        char **removed;  /* names of older versions deleted by keep */
        char **dropped_versions;
        size_t n_listed; /* entries in the new SHA256SUMS */
        bool signed_;    /* SHA256SUMS.gpg written */
};

/* Every failure is logged once, naming the file and the reason, and returned as -errno; the
 * directory is then left as it was, except when the manifest or its signature could not be
 * written: then the new payloads are there already, named by no manifest yet. Replacing a
 * published file by different content fails with -EEXIST unless force is set. Publishing without
 * sign into a directory holding SHA256SUMS.gpg fails with -EPERM unless unsign is set: the
 * signature would go and every Verify=yes client would stop updating. With transfers, a version
 * without a payload for one of them (new, or already in dir) fails with -EINVAL. */
int publish(const struct publish_options *o, struct publish_result *ret);
void publish_result_done(struct publish_result *r);
