/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A validated transfer: one *.transfer file (spec sysupdate.md 2), with specifiers expanded,
 * defaults applied and the source/target compatibility matrix (5.1) checked. */

#include "pattern.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum resource_type {
        RESOURCE_URL_FILE,
        RESOURCE_URL_TAR,
        RESOURCE_TAR,
        RESOURCE_REGULAR_FILE,
        RESOURCE_DIRECTORY,
        RESOURCE_SUBVOLUME,
        RESOURCE_PARTITION,
        _RESOURCE_TYPE_MAX,
        _RESOURCE_TYPE_INVALID = -1,
};

enum path_relative_to {
        PATH_RELATIVE_TO_ROOT,
        PATH_RELATIVE_TO_ESP,
        PATH_RELATIVE_TO_XBOOTLDR,
        PATH_RELATIVE_TO_BOOT,
        PATH_RELATIVE_TO_EXPLICIT,
        _PATH_RELATIVE_TO_MAX,
        _PATH_RELATIVE_TO_INVALID = -1,
};

const char *resource_type_to_string(enum resource_type t);
enum resource_type resource_type_from_string(const char *s);
const char *path_relative_to_to_string(enum path_relative_to r);
enum path_relative_to path_relative_to_from_string(const char *s);
bool resource_type_is_url(enum resource_type t);

/* A resource as configured (not yet enumerated). */
struct resource_config {
        enum resource_type type;
        char *path;                       /* as configured after specifier expansion, or "auto" */
        bool path_auto;                   /* Path=auto (partition targets only) */
        enum path_relative_to path_relative_to;
        char **patterns_str;              /* MatchPattern= words, NULL-terminated */
        struct pattern **patterns;        /* compiled, same order, n_patterns */
        size_t n_patterns;
};

struct transfer {
        char *id;                         /* file name without .transfer / .conf */
        char *file;                       /* the definition file's path */
        char **dropins;                   /* drop-in files applied, NULL-terminated */

        /* [Transfer] */
        char *min_version, *max_version;  /* NULL when unset */
        char **protect_versions;          /* NULL-terminated, may be empty */
        bool verify;                      /* default yes */
        char **changelog, **appstream;
        char **features, **requisite_features;
        bool enabled;                     /* features rule, computed by definitions_load() */

        /* [Source] / [Target] */
        struct resource_config source, target;

        /* [Target] extras; "has_"/-1 mean unset */
        uint8_t partition_type[16];       /* MatchPartitionType=, default linux-generic */
        bool has_partition_uuid;
        uint8_t partition_uuid[16];
        bool has_partition_flags;
        uint64_t partition_flags;
        int no_auto, growfs, read_only;   /* -1 unset */
        bool has_mode;
        mode_t mode;
        bool has_tries_done, has_tries_left;
        uint64_t tries_done, tries_left;
        uint64_t instances_max;           /* UINT64_MAX = unlimited (partition default) */
        bool remove_temporary;            /* default yes */
        char *current_symlink;
};

struct feature {
        char *id;                         /* file name without .feature */
        char *file;
        char *description, *documentation, *appstream;
        bool enabled;                     /* default no */
};

void transfer_free(struct transfer *t);
void feature_free(struct feature *f);

/* Writes ROOT/etc/sysupdate[.COMPONENT].d/NAME.feature.d/50-systemd-sysupdate-enabled.conf with
 * Enabled=yes|no, the drop-in updatectl enable/disable writes (atomically: temporary file, rename).
 * Returns the file's path in *ret_path (may be NULL); -errno, logged. */
int feature_write_enabled(const char *root, const char *component, const char *name, bool enabled, char **ret_path);

struct specifier_context;
struct transfer_parse_options {
        const struct specifier_context *specifiers;
        const char *root;                 /* --root, for drop-in lookup; NULL = / */
        const char *const *search_dirs;   /* the directories the file came from (for drop-ins) */
        bool have_transfer_source;        /* --transfer-source= given */
        bool root_mode;                   /* --root or --image given (Path=auto rules) */
        bool image_mode;                  /* --image given: Path=auto means the image's loop device */
        bool build_host;                  /* publish: ProtectVersion= is the device's business */
};

/* Parse and validate one transfer file (+ drop-ins). Every error is logged as "FILE:LINE: reason"
 * (or "FILE: reason" for whole-file checks such as a missing Type=) and returned as -EINVAL. */
int transfer_load(const char *path, const struct transfer_parse_options *o, struct transfer **ret);
int feature_load(const char *path, const struct transfer_parse_options *o, struct feature **ret);
