/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Verity= (spec repart-boot.md 1.3, 1.7, 6): the hash partition receives the dm-verity hash tree
 * of its data partition (paired by VerityMatchKey=) in the format veritysetup writes: a version 1
 * superblock, SHA-256, 4096-byte data and hash blocks, a 32-byte salt. The two partitions' UUIDs
 * become the halves of the root hash. Unlike systemd-repart 252, which salts at random, the salt
 * and the superblock UUID come from the seed (as systemd-repart 255 does), so the same inputs give
 * the same bytes. Everything is computed in user space: no device-mapper is needed. */

#include "repart-config.h"

#include <stddef.h>
#include <stdint.h>

#define REPART_VERITY_BLOCK 4096u
#define REPART_VERITY_SALT 32u
#define REPART_VERITY_DIGEST 32u

/* Every VerityMatchKey= names exactly one Verity=data and one Verity=hash partition. On failure
 * logs "FILE: reason" and returns -EINVAL. ret_partner[i] = the index of definition i's partner
 * (SIZE_MAX for definitions without Verity=); ret_partner may be NULL. */
int repart_verity_pair(const struct repart_definitions *defs, size_t *ret_partner);

/* Bytes the hash partition needs for a data partition of data_size bytes (a multiple of the
 * block size): the superblock block and every level of the tree. */
uint64_t repart_verity_hash_size(uint64_t data_size);

/* The salt, HMAC-SHA256(seed, "verity-salt"), and the superblock UUID, v4(HMAC(seed,
 * "verity-uuid")). */
int repart_verity_salt(const uint8_t seed[16], uint8_t salt[REPART_VERITY_SALT], uint8_t uuid[16]);

struct repart_verity_request {
        const char *what;                  /* for messages: the hash partition's definition file */
        int fd;                            /* the disk, read and written in place */
        uint64_t data_offset, data_size;   /* the data partition (whole, a multiple of 4096) */
        uint64_t hash_offset, hash_size;   /* the hash partition, already zeroed */
        uint8_t salt[REPART_VERITY_SALT];
        uint8_t uuid[16];
};

/* Hashes the data partition and writes the superblock and the tree into the hash partition.
 * Returns the root hash. -EFBIG (logged) when the tree does not fit. */
int repart_verity_build(const struct repart_verity_request *req, uint8_t root_hash[REPART_VERITY_DIGEST]);
