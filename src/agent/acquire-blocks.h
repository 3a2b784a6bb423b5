/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The block-reuse path of a partition transfer (format: sysupdate/block-index.h). When the server
 * publishes a block index for the new image, the index is fetched and checked against SHA256SUMS,
 * every 4 KiB block of every local slot of the transfer (the booted one included: it is only
 * read) is hashed, each block of the new image found there is copied from it, all-zero blocks are
 * written as zeros, and the rest is fetched from the block data file with HTTP Range requests
 * (frames close together merged into one range, up to 100 ranges per request, answered as
 * multipart/byteranges; a server that answers with the whole file or with fewer ranges is asked
 * for fewer per request, down to one; the dictionary of the frames first, in one range, checked
 * against its SHA-256 in the index), each block checked against its hash. The written slot
 * must hash to the image's SHA-256 from the index; otherwise the slot stays `_empty` and the
 * caller downloads the full image. */

#include <stdbool.h>
#include <stdint.h>

struct resource;
struct instance;
struct manifest;

/* url-file sources: attaches the block index listed in m to the instance (of r) it describes. */
int acquire_blocks_attach(struct resource *r, const struct manifest *m);

/* Writes src into the slot [offset, offset + size) of the disk fd by block reuse from the slots of
 * target. Returns 1 when the slot holds the image, 0 when there is no index, block reuse would
 * fetch (index, dictionary and frames) no fewer bytes than the full image (unless $ABOTA_PATH=blocks), or it failed (logged): the
 * caller then downloads the full image. -ENOMEM only otherwise. */
int acquire_blocks_try(const struct resource *target, const struct instance *src, int fd, uint64_t offset,
                       uint64_t size, bool sync, const char *what);
