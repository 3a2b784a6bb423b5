/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Block indexes: what the block-reuse path of the update agent needs, published beside each full
 * image by `abota publish`.
 *
 * Two files per payload NAME, listed in SHA256SUMS:
 *   "@index@NAME"   the index: one zstd frame holding the header and, per 4 KiB block of the
 *                   uncompressed image, a short hash (the first 8 bytes of its SHA-256) and the
 *                   length of that block's frame in the data file (0: the block is all zeros
 *                   and not stored).
 *   "@blocks@NAME"  the data: a zstd dictionary (one zstd frame holding it; it may be absent), then
 *                   every non-zero block as its own zstd frame compressed with that dictionary, in
 *                   image order, so that any block can be fetched with an HTTP Range request and
 *                   decompressed on its own (with the dictionary, fetched once per update).
 * A sysupdate pattern cannot match these names (every field rejects '@', and a literal '@' in a
 * pattern is written "@@"), so systemd-sysupdate keeps installing the full image.
 *
 * Uncompressed index layout, format version 2 (little endian): magic "ABOTABI2", block size (LE32,
 * 4096), hash size (LE32, 8), image size (LE64), data file size (LE64), image SHA-256 (32 bytes),
 * dictionary size in the data file (LE32, 0 = none), dictionary size decompressed (LE32), SHA-256
 * of the dictionary's bytes in the data file (32 bytes), then the n = ceil(image size / block size)
 * hashes (8 bytes each), then the n frame lengths (LE32 each). The first frame starts right after
 * the dictionary. Each frame is a zstd frame without content size, checksum or dictionary ID, and
 * is stored without its first BLOCK_FRAME_PREFIX_SIZE bytes, which are then always the same
 * (BLOCK_FRAME_PREFIX: the zstd magic number and a frame header descriptor of 0). The last block
 * may be short: its hash covers only its bytes. The index is authenticated by its SHA-256 in the
 * (signed) SHA256SUMS; the dictionary by its SHA-256 in the index; the frames through the block
 * hashes and, at the end, the image SHA-256 of the written slot. Version 1 ("ABOTABI1": no
 * dictionary, whole frames) is refused with -EPROTONOSUPPORT. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#define BLOCK_INDEX_PREFIX "@index@"
#define BLOCK_DATA_PREFIX "@blocks@"
#define BLOCK_INDEX_MAGIC "ABOTABI2"
#define BLOCK_INDEX_HEADER_SIZE 104U
/* What every frame starts with, not stored: the zstd magic number and a frame header descriptor of
 * 0 (no content size, not single-segment, no checksum, no dictionary ID). */
#define BLOCK_FRAME_PREFIX "\x28\xb5\x2f\xfd\x00"
#define BLOCK_FRAME_PREFIX_SIZE 5U
/* The largest dictionary accepted, decompressed. */
#define BLOCK_DICT_MAX (1024U * 1024U)
#define BLOCK_SIZE 4096U
#define BLOCK_HASH_SIZE 8U
/* The largest uncompressed index accepted (a 21 GiB image). */
#define BLOCK_INDEX_MAX (64U * 1024U * 1024U)

struct block_index {
        uint32_t block_size;
        uint64_t image_size, data_size;
        uint8_t image_sha256[32];
        uint32_t dict_size, dict_raw_size; /* the dictionary at the start of the data file; 0 = none */
        uint8_t dict_sha256[32];
        size_t n_blocks;
        uint8_t (*hashes)[BLOCK_HASH_SIZE];
        uint32_t *lengths;  /* of each block's frame; 0 = all zeros, not stored */
        uint64_t *offsets;  /* of each block's frame in the data file (n_blocks + 1 entries, the first
                             * one is dict_size) */
};

/* "@index@NAME" and "@blocks@NAME"; NULL when out of memory. */
char *block_index_name(const char *target_name);
char *block_data_name(const char *target_name);
/* The payload name an index or data file belongs to (points into name), NULL when it is neither. */
const char *block_index_target(const char *name);
/* The short hash of a block of n bytes. */
int block_hash(const void *data, size_t n, uint8_t ret[BLOCK_HASH_SIZE]);
bool block_is_zero(const void *data, size_t n);

/* Allocates the arrays of an index of image_size bytes (block size BLOCK_SIZE). */
int block_index_new(uint64_t image_size, struct block_index **ret);
void block_index_free(struct block_index *idx);
/* The uncompressed index, for compression by the publisher. */
int block_index_format(const struct block_index *idx, uint8_t **ret, size_t *ret_size);
/* Parses an uncompressed index: -EPROTONOSUPPORT for an index of another format version, -EBADMSG
 * for a wrong magic, a dictionary larger than BLOCK_DICT_MAX (or one size 0 and not the other), an unsupported block or hash size,
 * a length that does not match the header, frame lengths that do not add up to the data size,
 * a frame larger than a compressed block can be, or a zero block that does not hash as one. */
int block_index_parse(const uint8_t *data, size_t n, struct block_index **ret);
/* Decompresses an index file as published (one zstd frame, at most BLOCK_INDEX_MAX bytes
 * decompressed) and parses it. -EBADMSG when it is not valid. */
int block_index_load(const void *file, size_t n, struct block_index **ret);

/* Compresses the block src of n bytes with c (set up by the caller: level, dictionary, no content
 * size, checksum or dictionary ID) into dst (cap bytes, at least ZSTD_compressBound(n)) as stored in
 * the data file, without its prefix: 0 and *ret_size, or -EIO. */
int block_frame_compress(ZSTD_CCtx *c, const void *src, size_t n, uint8_t *dst, size_t cap, size_t *ret_size);
/* Decompresses a frame as stored (n bytes) with d and the dictionary dict (NULL: none) into out,
 * which must then hold exactly want bytes: 0, or -EBADMSG. */
int block_frame_decompress(ZSTD_DCtx *d, const ZSTD_DDict *dict, const uint8_t *frame, size_t n, uint8_t *out,
                           size_t want);
/* The dictionary of idx from the first idx->dict_size bytes of the data file (n bytes at data):
 * checks their SHA-256 against the index, decompresses them (exactly dict_raw_size bytes) and makes
 * *ret (NULL when the index has no dictionary). -EBADMSG when they do not match, -ENOMEM. */
int block_dict_load(const struct block_index *idx, const void *data, size_t n, ZSTD_DDict **ret);
