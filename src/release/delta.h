/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The patches of `abota publish --deltas=N` (format: sysupdate/patch.h): zstd long-window
 * patch-from, level 19, between the uncompressed image of an older version already in the update
 * directory and the new payload. */

#include "sysupdate/pattern.h"

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* The bases of the new payload `name` (version `version`): the names among names[] (versions[]
 * alike, NULL = not a version) of the `deltas` newest versions older than version whose file
 * matches the same pattern (of patterns[]) as name. *ret is a list of indexes into names[], newest
 * first, ended by -1. */
int delta_pick_bases(struct pattern *const *patterns, size_t n_patterns, uint64_t deltas, const char *version,
                     const char *name, char *const *names, char *const *versions, size_t n, ssize_t **ret);

/* Writes the patch from DIR/base_name (as published: plain or zstd) to target_path (the
 * uncompressed new payload) into out_fd, fsynced, and returns the SHA-256 and size of what it
 * wrote. -EOPNOTSUPP (logged as a notice) when the base is compressed in a format it cannot
 * read. Other failures are logged naming the file. */
int delta_write(int dir_fd, const char *dir, const char *base_name, const char *target_path, int out_fd,
                const char *out_path, uint8_t ret_sha256[32], uint64_t *ret_size);
