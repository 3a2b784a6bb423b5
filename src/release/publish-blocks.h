/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The block index and block data of one payload (format: sysupdate/block-index.h), written by
 * `abota publish` for the block-reuse path of the update agent. */

#include <stdint.h>

/* Reads the uncompressed payload at path and writes its block data (every non-zero 4 KiB block as
 * its own zstd frame at level) into data_fd and its index into index_fd, both fsynced; returns the
 * SHA-256 of each file as written. The dictionary is trained on the blocks that older (the index of
 * the version before, NULL = none) does not list, as those are what its devices fetch, when there
 * are enough of them. -EOPNOTSUPP (logged as a notice) when the payload is already compressed (xz,
 * gzip, zstd) or empty: its blocks are not the image's. Other failures are logged naming the file. */
struct block_index;
int publish_blocks_write(const char *path, int level, const struct block_index *older, int index_fd,
                         const char *index_path, int data_fd, const char *data_path, uint8_t ret_index_sha256[32],
                         uint8_t ret_data_sha256[32]);
/* The index DIR/@index@NAME (dir_fd is DIR) into *ret: NULL when there is none or it is not one this
 * abota reads. -ENOMEM only. */
int publish_blocks_older(int dir_fd, const char *name, struct block_index **ret);
