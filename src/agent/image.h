/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A whole disk image given with --image=FILE (a GPT image file or a block device): where its
 * own definitions and os-release are, and how its ESP and XBOOTLDR are reached. The root file
 * system is mounted read-only (squashfs, erofs, ext4: whatever the kernel reads) in a mount
 * namespace of this process alone, so nothing is left mounted when the process ends however it
 * ends; the ESP is not mounted at all (fs-access.h: mtools), since vfat may be missing. */

#include <stdbool.h>

struct fs_access;

struct image {
        char *path;
        char *root;                  /* the mounted root file system, or NULL when none was found */
        char *root_label;            /* its partition's label */
        struct fs_access *esp;       /* NULL when the image has no ESP */
        struct fs_access *xbootldr;  /* NULL when it has no XBOOTLDR partition */
        char *tmpdir;
};

/* Reads the image's partition table and finds its parts. The root file system is the newest
 * (by label, as systemd's image dissection picks between A/B copies) partition of a root or usr
 * type, or else of the generic Linux type, that is not an `_empty` slot and carries an
 * os-release; an A/B appliance's store slots are such partitions. With need_root, an image
 * without one is an error (logged); else *ret has root NULL. */
int image_open(const char *path, bool need_root, struct image **ret);
void image_close(struct image *i);
