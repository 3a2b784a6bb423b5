/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The commit of one acquired transfer (spec sysupdate.md 7.3): the single step that makes a new
 * instance visible under its final name. Until it runs, the data sits in an `_empty` slot or in a
 * ".#sysupdate..." temporary file that no enumeration matches. */

#include "partition.h"

#include <stdbool.h>
#include <sys/types.h>

struct transfer;
struct fs_access;

struct install {
        const struct transfer *transfer;
        char *name;                        /* the final label or file name */
        /* partition target */
        char *disk;
        const struct partition_info *slot; /* the `_empty` slot that was written */
        struct partition_change change;    /* change.label points at name */
        int claim_fd;                      /* the slot's node held with O_EXCL until the commit, or -1 */
        /* regular-file target */
        char *temp_path, *final_path;
        bool temp_is_tree;                 /* directory target: temp_path is a directory tree */
        bool temp_kept;                    /* temp_path is a partial file a resume state names: an
                                            * uncommitted one stays for the next run */
        const struct fs_access *fs;        /* the paths are on this file system, NULL: the local one */
        bool committed;
};

/* Makes the instance visible: rewrites the GPT entry, or renames the temporary file over the
 * final name and fsyncs the directory. Logs one line on failure. */
int commit_install(struct install *i, bool sync);

/* Frees and lets go of the claim; an uncommitted temporary file (or tree) is removed unless it is
 * kept for resuming (temp_kept). Leaves *i
 * ready for reuse (claim_fd = -1). */
void install_done(struct install *i);

/* fsync()s the directory holding path, so a rename or unlink in it is durable. */
int commit_sync_directory_of(const char *path);

/* Renames src to dst atomically; with sync, then syncs the file under its new name and the
 * directory (in that order: vfat writes a renamed file's entry with its inode). */
int commit_rename(const char *src, const char *dst, bool sync);

/* Removes path so that no cut can leave its name with its data gone: with sync, renamed to a
 * ".#" temporary name first (durable), then unlinked. */
int commit_unlink(const char *path, bool sync);

/* CurrentSymlink= (spec sysupdate.md 7.3): points link (absolute) at target with a path relative
 * to link's directory, replacing it atomically (a new symlink renamed over it); creates the
 * missing directories. Logs one line on failure. */
int commit_current_symlink(const char *link, const char *target, bool sync);
