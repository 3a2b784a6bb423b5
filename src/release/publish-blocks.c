/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Block index and block data of a payload (publish-blocks.h). A zstd dictionary is trained on an
 * even sample of the payload's non-zero blocks that the index of the version before does not list
 * (else of all of them) and written first, compressed; then each 4 KiB block
 * is hashed and, unless all zeros, compressed on its own with that dictionary into one zstd frame
 * without a content size, checksum or dictionary ID (the index carries the block's hash and the
 * device checks the size), stored without the 5 bytes every such frame starts with
 * (sysupdate/block-index.h), so that a frame costs a few bytes over its data and any block can be
 * fetched alone.
 * Measured on the issue-13 data set (ext4, zstd 19), the distinct blocks missing on a v1 device
 * (6237 for v2, 15634 for v3): 9.61 / 22.89 MiB as 4 KiB frames without a dictionary (16 KiB or
 * 64 KiB frames were worse: more unchanged blocks ride along); with a dictionary trained on 16 MiB
 * of samples, frames plus the compressed dictionary: 110 KiB 8.97 / 21.32, 256 KiB 8.87 / 21.09,
 * 512 KiB (32 MiB of samples) 8.86 / 20.81, 1 MiB 9.15 / 20.82. zstd 22 instead of 19 gained
 * under 0.3 %; one of 512 KiB trained on the blocks new since the version before (v2 not in v1,
 * v3 not in v2) 8.11 / 20.53: what is used when the version before has an index. As raw bytes
 * they would be 24.66 MiB for v2. bench/delta, v1 -> v2 / v3 on the wire (index and HTTP
 * headers included): 10.29 / 23.86 MiB without a dictionary, 9.54 / 21.76 trained on the image,
 * 8.89 / 21.48 trained on the blocks new since the version before (one request per range); with
 * up to 100 ranges per request, 10.18 / 23.58 without a dictionary and 8.79 / 21.20 with it. */
#include "publish-blocks.h"

#include "base/log.h"
#include "base/util.h"
#include "sysupdate/block-index.h"

#include <zdict.h>
#include <zstd.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_LEVEL 19
/* The samples the dictionary is trained on (blocks), and its size: 1/64 of theirs, at most
 * DICT_SIZE (BLOCK_DICT_MAX at most), none below DICT_SIZE_MIN */
#define DICT_SAMPLES (32U * 1024U * 1024U / BLOCK_SIZE)
#define DICT_SIZE (512U * 1024U)
#define DICT_SIZE_MIN (4U * 1024U)
#define OUT_BUFFER (1024U * 1024U)

struct out {
        int fd;
        const char *path;
        EVP_MD_CTX *sha;
        uint8_t *buf;
        size_t n;
        uint64_t written;
};

/* Hashes and writes n bytes at the current end of o. */
static int out_write(struct out *o, const uint8_t *p, size_t n) {
        if (EVP_DigestUpdate(o->sha, p, n) != 1)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", o->path);
        for (size_t done = 0; done < n;) {
                ssize_t k = write(o->fd, p + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return log_error_errno(errno, "%s: write failed: %s", o->path, strerror(errno));
                done += (size_t) k;
        }
        o->written += n;
        return 0;
}

static int out_flush(struct out *o) {
        int r = o->n > 0 ? out_write(o, o->buf, o->n) : 0;
        o->n = 0;
        return r;
}

static int out_finish(struct out *o, uint8_t ret[32]) {
        unsigned len = 0;
        int r = out_flush(o);
        if (r < 0)
                return r;
        if (EVP_DigestFinal_ex(o->sha, ret, &len) != 1 || len != 32)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", o->path);
        if (fsync(o->fd) < 0)
                return log_error_errno(errno, "%s: fsync failed: %s", o->path, strerror(errno));
        return 0;
}

static bool is_compressed(const uint8_t *p, size_t n) {
        return (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0) || (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) ||
               (n >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0);
}

static size_t block_size_at(const struct block_index *idx, size_t i) {
        return i + 1 < idx->n_blocks ? BLOCK_SIZE : (size_t) (idx->image_size - (uint64_t) i * BLOCK_SIZE);
}

/* Marks in *ret the non-zero whole blocks of image that may be samples: those older does not list
 * when there are at least DICT_SIZE_MIN * 64 bytes of them, else all. *ret_n: how many. */
static int pick_samples(const uint8_t *image, struct block_index *idx, const struct block_index *older,
                        uint8_t **ret, size_t *ret_n, bool *ret_new) {
        size_t size = 1, n = 0, n_new = 0;
        uint8_t *pick = calloc(idx->n_blocks, 1);
        while (older && size < 2 * older->n_blocks)
                size <<= 1;
        _cleanup_free_ uint64_t *set = older ? calloc(size, sizeof(uint64_t)) : NULL;
        if (!pick || (older && !set)) {
                free(pick);
                return -ENOMEM;
        }
        /* open addressing over the first 8 bytes of the hashes (0 = empty: a hash of 0 is never "new") */
        for (size_t i = 0; older && i < older->n_blocks; i++) {
                uint64_t k;
                memcpy(&k, older->hashes[i], sizeof(k));
                size_t s = (size_t) k & (size - 1);
                while (set[s] != 0 && set[s] != k)
                        s = (s + 1) & (size - 1);
                set[s] = k;
        }
        for (size_t i = 0; i < idx->n_blocks; i++) {
                const uint8_t *p = image + (uint64_t) i * BLOCK_SIZE;
                if (block_size_at(idx, i) != BLOCK_SIZE || block_is_zero(p, BLOCK_SIZE))
                        continue;
                pick[i] = 1;
                n++;
                if (!older)
                        continue;
                uint64_t k;
                if (block_hash(p, BLOCK_SIZE, idx->hashes[i]) < 0) {
                        free(pick);
                        return -EIO;
                }
                memcpy(&k, idx->hashes[i], sizeof(k));
                size_t s = (size_t) k & (size - 1);
                while (set[s] != 0 && set[s] != k)
                        s = (s + 1) & (size - 1);
                if (set[s] != k) {
                        pick[i] = 2;
                        n_new++;
                }
        }
        *ret_new = n_new * BLOCK_SIZE >= DICT_SIZE_MIN * 64;
        if (*ret_new) {
                for (size_t i = 0; i < idx->n_blocks; i++)
                        pick[i] = pick[i] == 2;
                n = n_new;
        }
        *ret = pick;
        *ret_n = n;
        return 0;
}

/* Trains the dictionary on up to DICT_SAMPLES blocks of image (pick_samples()), evenly spread, and
 * writes it compressed at the start of data: 0 and *ret (NULL when the image is too small or too
 * uniform for one), or -errno (logged). */
static int write_dict(const uint8_t *image, struct block_index *idx, const struct block_index *older, struct out *data,
                      ZSTD_CDict **ret, int level) {
        size_t n = 0, k = 0;
        bool only_new = false;
        _cleanup_free_ uint8_t *pick = NULL;
        *ret = NULL;
        int r = pick_samples(image, idx, older, &pick, &n, &only_new);
        if (r < 0)
                return log_error_errno(r, "%s: cannot pick the samples of the dictionary: %s", data->path, strerror(-r));
        size_t want = n < DICT_SAMPLES ? n : DICT_SAMPLES, cap = want * BLOCK_SIZE / 64;
        if (cap > DICT_SIZE)
                cap = DICT_SIZE;
        if (cap < DICT_SIZE_MIN) {
                log_debug("%s: no dictionary (%zu non-zero blocks)", data->path, n);
                return 0;
        }
        _cleanup_free_ uint8_t *samples = malloc(want * BLOCK_SIZE), *dict = malloc(cap), *z = NULL;
        _cleanup_free_ size_t *sizes = malloc(want * sizeof(size_t));
        if (!samples || !dict || !sizes)
                return -ENOMEM;
        /* the j-th non-zero block is taken when j * want / n reaches the next sample */
        for (size_t i = 0, j = 0; i < idx->n_blocks && k < want; i++) {
                const uint8_t *p = image + (uint64_t) i * BLOCK_SIZE;
                if (!pick[i])
                        continue;
                if ((uint64_t) j++ * want / n == k) {
                        memcpy(samples + k * BLOCK_SIZE, p, BLOCK_SIZE);
                        sizes[k++] = BLOCK_SIZE;
                }
        }
        size_t d = ZDICT_trainFromBuffer(dict, cap, samples, sizes, (unsigned) k);
        if (ZDICT_isError(d)) {
                log_debug("%s: no dictionary: %s", data->path, ZDICT_getErrorName(d));
                return 0;
        }
        size_t bound = ZSTD_compressBound(d);
        z = malloc(bound);
        if (!z)
                return -ENOMEM;
        size_t zn = ZSTD_compress(z, bound, dict, d, INDEX_LEVEL);
        if (ZSTD_isError(zn))
                return log_error_errno(EIO, "%s: zstd compression failed: %s", data->path, ZSTD_getErrorName(zn));
        unsigned len = 0;
        if (EVP_Digest(z, zn, idx->dict_sha256, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", data->path);
        r = out_write(data, z, zn);
        if (r < 0)
                return r;
        idx->dict_size = (uint32_t) zn;
        idx->dict_raw_size = (uint32_t) d;
        log_debug("%s: a dictionary of %zu bytes (%zu compressed), trained on %zu of %zu %s", data->path, d, zn, k, n,
                  only_new ? "blocks the index of the version before does not list" : "non-zero blocks");
        *ret = ZSTD_createCDict(dict, d, level);
        return *ret ? 0 : -ENOMEM;
}

/* Compresses every block of image into data and fills idx. */
static int write_blocks(const uint8_t *image, struct block_index *idx, const struct block_index *older, int level,
                        struct out *data) {
        ZSTD_CCtx *c = ZSTD_createCCtx();
        ZSTD_CDict *dict = NULL;
        EVP_MD_CTX *sha = EVP_MD_CTX_new();
        size_t bound = ZSTD_compressBound(BLOCK_SIZE), e = 0;
        int r = c && sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
        if (r >= 0 && (ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
                       ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)) ||
                       ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)) ||
                       ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0))))
                r = log_error_errno(EIO, "%s: cannot set up zstd: %s", data->path, ZSTD_getErrorName(e));
        if (r >= 0)
                r = write_dict(image, idx, older, data, &dict, level);
        if (r >= 0 && dict && ZSTD_isError(e = ZSTD_CCtx_refCDict(c, dict)))
                r = log_error_errno(EIO, "%s: cannot set up zstd: %s", data->path, ZSTD_getErrorName(e));
        for (size_t i = 0; i < idx->n_blocks && r >= 0; i++) {
                const uint8_t *p = image + (uint64_t) i * BLOCK_SIZE;
                size_t n = block_size_at(idx, i), k = 0;
                if (block_hash(p, n, idx->hashes[i]) < 0 || EVP_DigestUpdate(sha, p, n) != 1) {
                        r = log_error_errno(EIO, "%s: SHA-256 computation failed", data->path);
                        break;
                }
                idx->offsets[i] = data->written + data->n;
                if (block_is_zero(p, n))
                        continue;
                if (OUT_BUFFER - data->n < bound && (r = out_flush(data)) < 0)
                        break;
                if (block_frame_compress(c, p, n, data->buf + data->n, bound, &k) < 0) {
                        r = log_error_errno(EIO, "%s: zstd compression of block %zu failed", data->path, i);
                        break;
                }
                idx->lengths[i] = (uint32_t) k;
                data->n += k;
        }
        unsigned len = 0;
        if (r >= 0 && (EVP_DigestFinal_ex(sha, idx->image_sha256, &len) != 1 || len != 32))
                r = log_error_errno(EIO, "%s: SHA-256 computation failed", data->path);
        idx->data_size = data->written + data->n;
        idx->offsets[idx->n_blocks] = idx->data_size;
        ZSTD_freeCCtx(c);
        ZSTD_freeCDict(dict);
        EVP_MD_CTX_free(sha);
        return r;
}

static int write_index(const struct block_index *idx, struct out *o) {
        _cleanup_free_ uint8_t *raw = NULL;
        size_t n = 0;
        int r = block_index_format(idx, &raw, &n);
        if (r < 0)
                return r;
        size_t bound = ZSTD_compressBound(n);
        _cleanup_free_ uint8_t *z = malloc(bound);
        if (!z)
                return -ENOMEM;
        size_t k = ZSTD_compress(z, bound, raw, n, INDEX_LEVEL);
        if (ZSTD_isError(k))
                return log_error_errno(EIO, "%s: zstd compression failed: %s", o->path, ZSTD_getErrorName(k));
        return out_write(o, z, k);
}

int publish_blocks_older(int dir_fd, const char *name, struct block_index **ret) {
        _cleanup_free_ char *iname = block_index_name(name), *data = NULL;
        _cleanup_close_ int fd = iname ? openat(dir_fd, iname, O_RDONLY | O_CLOEXEC) : -1;
        size_t n = 0;
        *ret = NULL;
        if (!iname)
                return -ENOMEM;
        if (fd < 0)
                return 0;
        int r = read_full_fd(fd, BLOCK_INDEX_MAX, &data, &n);
        if (r >= 0)
                r = block_index_load(data, n, ret);
        if (r < 0)
                log_debug("%s: not used for the dictionary: %s", iname, strerror(-r));
        return r == -ENOMEM ? r : 0;
}

int publish_blocks_write(const char *path, int level, const struct block_index *older, int index_fd,
                         const char *index_path, int data_fd, const char *data_path, uint8_t ret_index_sha256[32],
                         uint8_t ret_data_sha256[32]) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: cannot open: %s", path, strerror(errno));
        if (st.st_size == 0) {
                log_notice("%s: empty, no block index", path);
                return -EOPNOTSUPP;
        }
        void *map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return log_error_errno(errno, "%s: cannot map: %s", path, strerror(errno));
        (void) madvise(map, (size_t) st.st_size, MADV_SEQUENTIAL);
        struct block_index *idx = NULL;
        struct out data = { .fd = data_fd, .path = data_path, .sha = EVP_MD_CTX_new(), .buf = malloc(OUT_BUFFER) };
        struct out index = { .fd = index_fd, .path = index_path, .sha = EVP_MD_CTX_new() };
        int r = data.sha && index.sha && data.buf && EVP_DigestInit_ex(data.sha, EVP_sha256(), NULL) == 1 &&
                EVP_DigestInit_ex(index.sha, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
        if (r >= 0 && is_compressed(map, (size_t) st.st_size)) {
                log_notice("%s: already compressed, no block index (publish the uncompressed image)", path);
                r = -EOPNOTSUPP;
        }
        if (r >= 0) {
                r = block_index_new((uint64_t) st.st_size, &idx);
                if (r == -EFBIG)
                        r = log_error_errno(r, "%s: too large for a block index", path);
        }
        if (r >= 0)
                r = write_blocks(map, idx, older, level, &data);
        if (r >= 0)
                r = out_finish(&data, ret_data_sha256);
        if (r >= 0)
                r = write_index(idx, &index);
        if (r >= 0)
                r = out_finish(&index, ret_index_sha256);
        block_index_free(idx);
        EVP_MD_CTX_free(data.sha);
        EVP_MD_CTX_free(index.sha);
        free(data.buf);
        munmap(map, (size_t) st.st_size);
        return r;
}
