/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the file system builders (repart-format.c, repart-vfat.c) share: the request, running
 * the mkfs tools reproducibly, walking a source tree, scratch files. */

#include "repart-config.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* What to build for one new partition. */
struct repart_format_request {
        const char *what;                 /* definition file name, for messages */
        enum repart_format format;
        const char *label;                /* partition label; mangled per file system */
        uint8_t fs_uuid[16];
        const struct repart_copy *copy_files;
        size_t n_copy_files;
        char *const *make_directories;
        uint64_t size;                    /* writable file systems: exact size; read-only ones:
                                           * the most they may take (UINT64_MAX: unbounded) */
        const char *workdir;              /* scratch directory for staging trees */
};

/* SOURCE_DATE_EPOCH, when set and valid. */
bool repart_source_date_epoch(uint64_t *ret);

/* Runs argv (through env(1), which adds the variables that make the tools reproducible and
 * non-interactive). On failure logs the telling line of the tool's output and returns -EIO;
 * quiet: returns -EIO without logging (a failure that the caller expects and handles). */
int repart_run_tool(const char *what, char *const *argv, bool quiet);

/* Calls fn for every entry below path and then for path itself (children first, so that
 * changing a file's times does not disturb its directory's afterwards). Symlinks are not
 * followed; fn sees them as links. */
int repart_walk_tree(const char *path, int (*fn)(const char *p, const struct stat *st, void *userdata),
                     void *userdata);

/* Creates (or truncates) output as a sparse file of size bytes. */
int repart_create_sized(const char *what, const char *output, uint64_t size);
