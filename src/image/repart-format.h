/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* File systems for new partitions (spec repart-boot.md 1.9): made with the usual mkfs tools into
 * a scratch file, populated from CopyFiles=/MakeDirectories=, then copied into place. With
 * SOURCE_DATE_EPOCH set every timestamp is fixed, so the same inputs give the same bytes. */

#include "repart-tool.h"

#include <stdint.h>

/* Builds the file system into the regular file output (created). *ret_size = bytes of the
 * result (for squashfs/erofs the image size, else req->size). -EFBIG (logged) when the content
 * does not fit; a failing tool is logged with its last output line and returns -EIO. */
int repart_format_build(const struct repart_format_request *req, const char *output, uint64_t *ret_size);

/* Minimize=guess for a writable file system (ext4): builds it once into scratch with ample room,
 * returns the allocated bytes plus 50 %, rounded up to 4 KiB. */
int repart_format_guess_size(const struct repart_format_request *req, const char *scratch, uint64_t *ret);

/* Copies n bytes from in_fd at in_off to out_fd at out_off, skipping holes of the source (the
 * target range must already read as zeros where the source has holes). */
int repart_copy_sparse(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t n);

/* The volume label as each file system stores it: vfat upper-case, 11 bytes, reserved characters
 * replaced by '_'; ext4 16 bytes; swap 15 bytes. Returns a new string. */
char *repart_format_label(enum repart_format f, const char *label);
