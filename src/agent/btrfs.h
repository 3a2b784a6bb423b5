/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* btrfs subvolumes for Type=subvolume targets (spec sysupdate.md 5.1, 7.3), through the kernel's
 * ioctls (linux/btrfs.h). Functions return 0 or -errno and do not log. */

#include <stdbool.h>

/* True when dir is on btrfs. */
bool btrfs_is_fs(const char *dir);
/* True when path is the top directory of a btrfs subvolume. */
bool btrfs_is_subvolume(const char *path);
/* Creates the empty subvolume path (its parent must exist, on btrfs). */
int btrfs_subvolume_create(const char *path);
/* Creates path as a snapshot of the subvolume src (same file system; -EXDEV otherwise). */
int btrfs_subvolume_snapshot(const char *src, const char *path);
int btrfs_subvolume_set_read_only(const char *path, bool read_only);
/* Deletes the subvolume path with everything in it (read-only or not). */
int btrfs_subvolume_remove(const char *path);
