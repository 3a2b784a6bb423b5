/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "block-index.h"

#include "base/util.h"

#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

char *block_index_name(const char *target_name) {
        return strprintf(BLOCK_INDEX_PREFIX "%s", target_name);
}

char *block_data_name(const char *target_name) {
        return strprintf(BLOCK_DATA_PREFIX "%s", target_name);
}

const char *block_index_target(const char *name) {
        const char *t = startswith(name, BLOCK_INDEX_PREFIX);
        if (!t)
                t = startswith(name, BLOCK_DATA_PREFIX);
        return t && *t ? t : NULL;
}

int block_hash(const void *data, size_t n, uint8_t ret[BLOCK_HASH_SIZE]) {
        uint8_t d[32];
        unsigned len = 0;
        if (EVP_Digest(data, n, d, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        memcpy(ret, d, BLOCK_HASH_SIZE);
        return 0;
}

bool block_is_zero(const void *data, size_t n) {
        const uint8_t *p = data;
        if (n == 0 || p[0] != 0)
                return n == 0;
        return memcmp(p, p + 1, n - 1) == 0;
}

static size_t blocks_of(uint64_t image_size, uint32_t block_size) {
        return (size_t) ((image_size + block_size - 1) / block_size);
}

static int index_alloc(struct block_index *idx) {
        idx->hashes = calloc(idx->n_blocks ? idx->n_blocks : 1, BLOCK_HASH_SIZE);
        idx->lengths = calloc(idx->n_blocks ? idx->n_blocks : 1, sizeof(uint32_t));
        idx->offsets = calloc(idx->n_blocks + 1, sizeof(uint64_t));
        return idx->hashes && idx->lengths && idx->offsets ? 0 : -ENOMEM;
}

int block_index_new(uint64_t image_size, struct block_index **ret) {
        if (image_size == 0 || image_size / BLOCK_SIZE > (BLOCK_INDEX_MAX - BLOCK_INDEX_HEADER_SIZE) / 12)
                return -EFBIG;
        struct block_index *idx = calloc(1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        idx->block_size = BLOCK_SIZE;
        idx->image_size = image_size;
        idx->n_blocks = blocks_of(image_size, BLOCK_SIZE);
        if (index_alloc(idx) < 0) {
                block_index_free(idx);
                return -ENOMEM;
        }
        *ret = idx;
        return 0;
}

void block_index_free(struct block_index *idx) {
        if (!idx)
                return;
        free(idx->hashes);
        free(idx->lengths);
        free(idx->offsets);
        free(idx);
}

static void put32(uint8_t *p, uint32_t v) {
        v = htole32(v);
        memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v) {
        v = htole64(v);
        memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
}

static uint64_t get64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, 8);
        return le64toh(v);
}

int block_index_format(const struct block_index *idx, uint8_t **ret, size_t *ret_size) {
        size_t n = BLOCK_INDEX_HEADER_SIZE + idx->n_blocks * (BLOCK_HASH_SIZE + 4);
        uint8_t *b = calloc(1, n), *p;
        if (!b)
                return -ENOMEM;
        memcpy(b, BLOCK_INDEX_MAGIC, 8);
        put32(b + 8, idx->block_size);
        put32(b + 12, BLOCK_HASH_SIZE);
        put64(b + 16, idx->image_size);
        put64(b + 24, idx->data_size);
        memcpy(b + 32, idx->image_sha256, 32);
        put32(b + 64, idx->dict_size);
        put32(b + 68, idx->dict_raw_size);
        memcpy(b + 72, idx->dict_sha256, 32);
        p = b + BLOCK_INDEX_HEADER_SIZE;
        memcpy(p, idx->hashes, idx->n_blocks * BLOCK_HASH_SIZE);
        p += idx->n_blocks * BLOCK_HASH_SIZE;
        for (size_t i = 0; i < idx->n_blocks; i++)
                put32(p + 4 * i, idx->lengths[i]);
        *ret = b;
        *ret_size = n;
        return 0;
}

int block_index_parse(const uint8_t *data, size_t n, struct block_index **ret) {
        /* "ABOTABI" and the format version: another version is not misread as this one */
        if (n >= 8 && memcmp(data, BLOCK_INDEX_MAGIC, 7) == 0 && data[7] != BLOCK_INDEX_MAGIC[7] &&
            data[7] >= '1' && data[7] <= '9')
                return -EPROTONOSUPPORT;
        if (n < BLOCK_INDEX_HEADER_SIZE || memcmp(data, BLOCK_INDEX_MAGIC, 8) != 0)
                return -EBADMSG;
        uint32_t bs = get32(data + 8), hs = get32(data + 12), dict_size = get32(data + 64), dict_raw = get32(data + 68);
        uint64_t image_size = get64(data + 16);
        if (bs != BLOCK_SIZE || hs != BLOCK_HASH_SIZE || image_size == 0 || dict_raw > BLOCK_DICT_MAX ||
            dict_size > ZSTD_compressBound(BLOCK_DICT_MAX) || (dict_size == 0) != (dict_raw == 0))
                return -EBADMSG;
        uint64_t nb = (image_size + bs - 1) / bs;
        if (nb > (n - BLOCK_INDEX_HEADER_SIZE) / (BLOCK_HASH_SIZE + 4) ||
            n != BLOCK_INDEX_HEADER_SIZE + nb * (BLOCK_HASH_SIZE + 4))
                return -EBADMSG;

        struct block_index *idx = calloc(1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        idx->block_size = bs;
        idx->image_size = image_size;
        idx->data_size = get64(data + 24);
        memcpy(idx->image_sha256, data + 32, 32);
        idx->dict_size = dict_size;
        idx->dict_raw_size = dict_raw;
        memcpy(idx->dict_sha256, data + 72, 32);
        idx->n_blocks = (size_t) nb;
        if (index_alloc(idx) < 0) {
                block_index_free(idx);
                return -ENOMEM;
        }
        const uint8_t *p = data + BLOCK_INDEX_HEADER_SIZE;
        memcpy(idx->hashes, p, idx->n_blocks * BLOCK_HASH_SIZE);
        p += idx->n_blocks * BLOCK_HASH_SIZE;

        static uint8_t zero[BLOCK_SIZE];
        uint8_t zero_hash[BLOCK_HASH_SIZE];
        int r = block_hash(zero, bs, zero_hash);
        size_t max = ZSTD_compressBound(bs);
        uint64_t off = dict_size;
        for (size_t i = 0; i < idx->n_blocks && r >= 0; i++) {
                uint64_t len = get32(p + 4 * i);
                size_t bytes = i + 1 < idx->n_blocks ? bs : (size_t) (image_size - (uint64_t) i * bs);
                if (len > max)
                        r = -EBADMSG;
                else if (len == 0 && bytes == bs && memcmp(idx->hashes[i], zero_hash, BLOCK_HASH_SIZE) != 0)
                        r = -EBADMSG;
                else if (len == 0 && bytes != bs) {
                        uint8_t h[BLOCK_HASH_SIZE];
                        r = block_hash(zero, bytes, h);
                        if (r >= 0 && memcmp(idx->hashes[i], h, BLOCK_HASH_SIZE) != 0)
                                r = -EBADMSG;
                }
                idx->lengths[i] = (uint32_t) len;
                idx->offsets[i] = off;
                off += len;
        }
        idx->offsets[idx->n_blocks] = off;
        if (r >= 0 && off != idx->data_size)
                r = -EBADMSG;
        if (r < 0) {
                block_index_free(idx);
                return r;
        }
        *ret = idx;
        return 0;
}

int block_frame_compress(ZSTD_CCtx *c, const void *src, size_t n, uint8_t *dst, size_t cap, size_t *ret_size) {
        size_t k = ZSTD_compress2(c, dst, cap, src, n);
        if (ZSTD_isError(k) || k <= BLOCK_FRAME_PREFIX_SIZE || memcmp(dst, BLOCK_FRAME_PREFIX, BLOCK_FRAME_PREFIX_SIZE) != 0)
                return -EIO;
        memmove(dst, dst + BLOCK_FRAME_PREFIX_SIZE, k - BLOCK_FRAME_PREFIX_SIZE);
        *ret_size = k - BLOCK_FRAME_PREFIX_SIZE;
        return 0;
}

int block_frame_decompress(ZSTD_DCtx *d, const ZSTD_DDict *dict, const uint8_t *frame, size_t n, uint8_t *out,
                           size_t want) {
        uint8_t z[BLOCK_FRAME_PREFIX_SIZE + ZSTD_COMPRESSBOUND(BLOCK_SIZE)];
        if (n > sizeof(z) - BLOCK_FRAME_PREFIX_SIZE || want > BLOCK_SIZE)
                return -EBADMSG;
        memcpy(z, BLOCK_FRAME_PREFIX, BLOCK_FRAME_PREFIX_SIZE);
        memcpy(z + BLOCK_FRAME_PREFIX_SIZE, frame, n);
        /* out has room for want bytes only: a frame of more fails as too small a destination */
        size_t k = ZSTD_decompress_usingDDict(d, out, want, z, BLOCK_FRAME_PREFIX_SIZE + n, dict);
        return ZSTD_isError(k) || k != want ? -EBADMSG : 0;
}

int block_dict_load(const struct block_index *idx, const void *data, size_t n, ZSTD_DDict **ret) {
        uint8_t h[32];
        unsigned len = 0;
        *ret = NULL;
        if (idx->dict_size == 0)
                return 0;
        if (n != idx->dict_size)
                return -EBADMSG;
        if (EVP_Digest(data, n, h, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        if (memcmp(h, idx->dict_sha256, 32) != 0 || ZSTD_getFrameContentSize(data, n) != idx->dict_raw_size)
                return -EBADMSG;
        _cleanup_free_ uint8_t *raw = malloc(idx->dict_raw_size);
        if (!raw)
                return -ENOMEM;
        size_t k = ZSTD_decompress(raw, idx->dict_raw_size, data, n);
        if (ZSTD_isError(k) || k != idx->dict_raw_size)
                return -EBADMSG;
        *ret = ZSTD_createDDict(raw, k);
        return *ret ? 0 : -ENOMEM;
}

int block_index_load(const void *file, size_t n, struct block_index **ret) {
        unsigned long long size = ZSTD_getFrameContentSize(file, n);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > BLOCK_INDEX_MAX ||
            size < BLOCK_INDEX_HEADER_SIZE)
                return -EBADMSG;
        _cleanup_free_ uint8_t *buf = malloc((size_t) size);
        if (!buf)
                return -ENOMEM;
        size_t got = ZSTD_decompress(buf, (size_t) size, file, n);
        if (ZSTD_isError(got) || got != size)
                return -EBADMSG;
        return block_index_parse(buf, got, ret);
}
