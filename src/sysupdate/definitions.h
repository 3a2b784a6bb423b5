/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* All transfers and features of one component, found through the sysupdate.d search path
 * (spec sysupdate.md 1): /etc, /run, /usr/local/lib, /usr/lib, or only --definitions=DIR. */

#include "transfer.h"

#include <stdbool.h>
#include <stddef.h>

struct definitions_options {
        const char *root;            /* --root / mounted --image; NULL = host */
        const char *definitions_dir; /* --definitions=DIR: below root if there, else a host path */
        const char *component;       /* -C NAME; NULL = default sysupdate.d */
        const char *transfer_source; /* --transfer-source= */
        bool root_mode;              /* --root or --image given */
        bool image_mode;             /* --image given (Path=auto is allowed then, not with --root) */
        bool build_host;             /* read by publish on the build host: no warnings about the
                                      * device side (%A and other os-release fields are the host's) */
};

struct definitions {
        struct transfer **transfers; /* sorted by file name: download and commit order */
        size_t n_transfers;
        struct feature **features;
        size_t n_features;
        char *os_image_version;      /* IMAGE_VERSION of the root's os-release, or NULL */
        struct specifier_context *specifiers;
        char **search_dirs;          /* the directories read, highest priority first, root-prefixed */
};

/* Loads everything, computes each transfer's enabled flag. No transfer found → logs
 * "No transfer definitions found in DIRS." and returns -ENOENT. Any invalid file → -EINVAL. */
int definitions_load(const struct definitions_options *o, struct definitions **ret);
void definitions_free(struct definitions *d);
void definitions_freep(struct definitions **d);

/* The feature named id, or NULL. */
const struct feature *definitions_find_feature(const struct definitions *d, const char *id);
/* The ids of the transfers naming feature id in Features= or RequisiteFeatures=, in order. */
int definitions_feature_transfers(const struct definitions *d, const char *id, char ***ret);

/* The component names (sysupdate.NAME.d) found under root; *ret_default tells whether plain
 * sysupdate.d exists with at least one transfer. */
int definitions_list_components(const char *root, bool *ret_default, char ***ret);

/* The four search directories of a component ("sysupdate.d" or "sysupdate.NAME.d"). */
int definitions_search_dirs(const char *component, char ***ret);
