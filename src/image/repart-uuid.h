/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Deterministic UUIDs of systemd-repart (spec repart-boot.md 1.7): every UUID of a built image is
 * derived from the --seed by HMAC-SHA256, so the same seed and definitions give the same image. */

#include <stddef.h>
#include <stdint.h>

/* v4(HMAC-SHA256(key, msg)): the first 16 bytes with the version nibble set to 4 and the variant
 * bits to 10. */
int repart_uuid_hmac(const uint8_t *key, size_t key_size, const void *msg, size_t msg_size,
                     uint8_t ret[16]);

/* Disk GUID: HMAC(seed, "disk-uuid"). */
int repart_uuid_disk(const uint8_t seed[16], uint8_t ret[16]);

/* Partition UUID of the (k+1)-th definition of type: HMAC(seed, type) for k = 0, else
 * HMAC(seed, type || k as little-endian u64). */
int repart_uuid_partition(const uint8_t seed[16], const uint8_t type[16], uint64_t k, uint8_t ret[16]);

/* File system UUID: HMAC(partition UUID, "file-system-uuid"). */
int repart_uuid_filesystem(const uint8_t partition_uuid[16], uint8_t ret[16]);
