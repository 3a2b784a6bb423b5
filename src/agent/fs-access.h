/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A file system the agent reaches without mounting it, e.g. the ESP inside a disk image given
 * with --image (the host may lack vfat). Resources on such a file system carry one of these
 * (struct resource.fs); NULL there means the local file system through POSIX calls. Paths are
 * absolute inside the file system ("/EFI/Linux/x.efi"). Every function logs one line naming the
 * file system and the path on failure, except where a return value is documented as expected. */

#include <stdint.h>

struct fs_access {
        char *what;     /* for messages: "ESP of disk.raw" */
        char *image;    /* mtools: the image file */
        uint64_t offset; /* ... and the file system's byte offset in it */
};

/* The entries of dir, directories with a trailing '/'; -ENOENT (not logged) when dir is missing. */
int fs_list(const struct fs_access *fs, const char *dir, char ***ret);
/* Creates dir and the directories above it that are missing. */
int fs_make_dirs(const struct fs_access *fs, const char *dir);
/* Copies the local file local (its mtime kept) to the new file path. */
int fs_put(const struct fs_access *fs, const char *local, const char *path);
/* Renames from to to, replacing to. */
int fs_rename(const struct fs_access *fs, const char *from, const char *to);
/* Removes the file path; a missing one is no error. */
int fs_remove(const struct fs_access *fs, const char *path);
/* Removes the directory path; -ENOTEMPTY (not logged) when it holds something. */
int fs_remove_dir(const struct fs_access *fs, const char *path);
/* Makes what was written durable. */
int fs_sync(const struct fs_access *fs);
/* The bytes free on the file system, and the size of the file path. */
int fs_free_bytes(const struct fs_access *fs, uint64_t *ret);
int fs_file_size(const struct fs_access *fs, const char *path, uint64_t *ret);

/* A vfat file system at byte offset of the image file, reached with mtools. */
int fs_access_new_mtools(const char *image, uint64_t offset, const char *what, struct fs_access **ret);
void fs_access_free(struct fs_access *fs);
