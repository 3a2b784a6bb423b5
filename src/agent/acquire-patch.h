/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The patch path of a partition transfer (format: sysupdate/patch.h). When the server offers a
 * patch to the new version from a version installed in a local slot, the base slot is verified
 * by hashing its bytes, mapped read-only as the zstd prefix, and the patch is streamed through
 * the decompressor into the new `_empty` slot (mapped: only the decompressor's small state is
 * held in memory). The written bytes must hash to the target image's SHA-256; otherwise the slot
 * stays `_empty` and the caller runs the full download. */

#include <stdbool.h>
#include <stdint.h>

struct resource;
struct instance;
struct manifest;

/* url-file sources: attaches each patch listed in m to the instance (of r) it builds. */
int acquire_patch_attach(struct resource *r, const struct manifest *m);

/* Writes src into the slot [offset, offset + size) of the disk fd from a patch whose base
 * version is installed in a slot of target. Returns 1 when the slot holds the image, 0 when
 * there is no usable patch or applying one failed (logged): the caller then downloads the full
 * image. -ENOMEM only otherwise. $ABOTA_PATCH=0 turns the patch path off. */
int acquire_patch_try(const struct resource *target, const struct instance *src, int fd, uint64_t offset,
                      uint64_t size, bool sync, const char *what, bool progress);

/* Whether the path "patch", "blocks" or "full" may be tried: $ABOTA_PATH=patch|blocks|full allows
 * that one only (the full download stays the fallback of the others), $ABOTA_PATCH=0 rules out
 * the patch. */
bool acquire_path_allowed(const char *path);
