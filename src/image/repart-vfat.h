/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vfat file systems (spec repart-boot.md 1.9): made with mkfs.vfat, filled with mtools. */

#include "repart-tool.h"

#include <stdint.h>

/* The least number of clusters of a FAT32 (Microsoft's FAT specification): with fewer, every
 * reader that goes by the cluster count (mtools, some UEFI firmware) takes it for FAT16. */
#define REPART_FAT32_MIN_CLUSTERS 65525u

/* Number of clusters of the FAT file system whose boot sector is boot (512 bytes); 0 when it is
 * not a FAT boot sector. */
uint64_t repart_vfat_clusters(const uint8_t boot[512]);

/* Builds a vfat of size bytes into output: FAT32 as systemd-repart makes it when that gives a
 * valid FAT32 (at least REPART_FAT32_MIN_CLUSTERS clusters, from about 33 MiB), else the FAT12 or
 * FAT16 mkfs.vfat picks for the size. root (may be NULL) is the staged tree: a symbolic link in
 * it that leads out of the source trees or nowhere is refused (-EPERM, logged), since vfat
 * cannot keep links and mtools would copy a host file. When the files do not fit, the least
 * size that holds them is named (-EFBIG, logged). */
int repart_vfat_build(const struct repart_format_request *req, const char *output, uint64_t size,
                      const char *label, const char *root);
