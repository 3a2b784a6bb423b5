/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Making patches for `abota publish --deltas=N`. The base is the uncompressed image of an older
 * version: a plain payload is mapped as it is, a zstd one is first decompressed into an unnamed
 * temporary file in the update directory. Both images are mapped, so memory stays bounded by the
 * compressor's tables, whatever the image size. */
#include "delta.h"

#include "base/log.h"
#include "base/util.h"
#include "sysupdate/instance.h"
#include "sysupdate/patch.h"
#include "sysupdate/version.h"

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer */
#include <zstd.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DELTA_LEVEL 19
#define OUT_BUFFER (256U * 1024U)

/* The index of the first pattern matching name and its version, -1 when none matches. */
static int pattern_index(struct pattern *const *patterns, size_t n_patterns, const char *name, char **ret_version) {
        for (size_t i = 0; i < n_patterns; i++) {
                struct instance_metadata m;
                instance_metadata_init(&m);
                int r = pattern_match(patterns[i], name, &m);
                if (r == PATTERN_YES) {
                        *ret_version = TAKE_PTR(m.version);
                        instance_metadata_done(&m);
                        return (int) i;
                }
                instance_metadata_done(&m);
                if (r < 0)
                        return r;
        }
        return -1;
}

int delta_pick_bases(struct pattern *const *patterns, size_t n_patterns, uint64_t deltas, const char *version,
                     const char *name, char *const *names, char *const *versions, size_t n, ssize_t **ret) {
        _cleanup_free_ char *v = NULL;
        _cleanup_free_ ssize_t *picked = calloc(n + 1, sizeof(ssize_t));
        _cleanup_strv_free_ char **taken = NULL; /* versions already picked, newest first */
        size_t k = 0;
        if (!picked)
                return -ENOMEM;
        int want = pattern_index(patterns, n_patterns, name, &v);
        if (want < 0) {
                picked[0] = -1;
                *ret = TAKE_PTR(picked);
                return want == -1 ? 0 : want;
        }
        /* Newest first: pick repeatedly the newest older version not taken yet. */
        while (k < deltas) {
                ssize_t best = -1;
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *bv = NULL;
                        if (!versions[i] || version_compare(versions[i], version) >= 0)
                                continue;
                        bool seen = false;
                        for (char **t = taken; t && *t && !seen; t++)
                                seen = version_compare(*t, versions[i]) == 0;
                        if (seen || pattern_index(patterns, n_patterns, names[i], &bv) != want)
                                continue;
                        if (best < 0 || version_compare(versions[i], versions[best]) > 0)
                                best = (ssize_t) i;
                }
                if (best < 0)
                        break;
                if (strv_extend(&taken, versions[best]) < 0)
                        return -ENOMEM;
                picked[k++] = best;
        }
        picked[k] = -1;
        *ret = TAKE_PTR(picked);
        return 0;
}

struct mapping {
        void *p;
        size_t size;
};

static void mapping_done(struct mapping *m) {
        if (m->p && m->p != MAP_FAILED)
                munmap(m->p, m->size);
        *m = (struct mapping) {};
}

static int map_fd(int fd, const char *path, struct mapping *ret) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: cannot stat: %s", path, strerror(errno));
        ret->size = (size_t) st.st_size;
        if (ret->size == 0)
                return 0;
        ret->p = mmap(NULL, ret->size, PROT_READ, MAP_SHARED, fd, 0);
        if (ret->p == MAP_FAILED) {
                ret->p = NULL;
                return log_error_errno(errno, "%s: cannot map: %s", path, strerror(errno));
        }
        (void) madvise(ret->p, ret->size, MADV_SEQUENTIAL);
        return 0;
}

static int write_all(int fd, const char *path, const void *data, size_t n, EVP_MD_CTX *sha) {
        const uint8_t *p = data;
        if (EVP_DigestUpdate(sha, data, n) != 1)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", path);
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "%s: write failed: %s", path, strerror(errno));
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* A zstd payload decompressed into an unnamed file in the directory; a plain one as it is. */
static int open_base(int dir_fd, const char *dir, const char *name, int *ret_fd) {
        _cleanup_free_ char *path = path_join(dir, name);
        _cleanup_close_ int in = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        uint8_t magic[6] = {};
        if (!path)
                return -ENOMEM;
        if (in < 0)
                return log_error_errno(errno, "%s: cannot open: %s", path, strerror(errno));
        ssize_t got = pread(in, magic, sizeof(magic), 0);
        if (got < 0)
                return log_error_errno(errno, "%s: cannot read: %s", path, strerror(errno));
        if ((got >= 6 && memcmp(magic, "\xfd" "7zXZ\0", 6) == 0) || (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)) {
                log_notice("%s: compressed with xz or gzip, no patch against it", path);
                return -EOPNOTSUPP;
        }
        if (got < 4 || memcmp(magic, "\x28\xb5\x2f\xfd", 4) != 0) {
                *ret_fd = TAKE_FD(in);
                return 0;
        }

        _cleanup_close_ int out = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (out < 0)
                return log_error_errno(errno, "%s: cannot create a temporary file: %s", dir, strerror(errno));
        ZSTD_DCtx *d = ZSTD_createDCtx();
        _cleanup_free_ uint8_t *ibuf = malloc(ZSTD_DStreamInSize()), *obuf = malloc(ZSTD_DStreamOutSize());
        if (!d || !ibuf || !obuf) {
                ZSTD_freeDCtx(d);
                return -ENOMEM;
        }
        (void) ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, PATCH_WINDOW_LOG_MAX);
        int r = 0;
        size_t last = 0;
        for (;;) {
                ssize_t k = read(in, ibuf, ZSTD_DStreamInSize());
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = log_error_errno(errno, "%s: read failed: %s", path, strerror(errno));
                        break;
                }
                if (k == 0) {
                        if (last != 0)
                                r = log_error_errno(EBADMSG, "%s: truncated zstd data", path);
                        break;
                }
                ZSTD_inBuffer ib = { ibuf, (size_t) k, 0 };
                while (ib.pos < ib.size && r >= 0) {
                        ZSTD_outBuffer ob = { obuf, ZSTD_DStreamOutSize(), 0 };
                        last = ZSTD_decompressStream(d, &ob, &ib);
                        if (ZSTD_isError(last))
                                r = log_error_errno(EBADMSG, "%s: corrupt zstd data: %s", path, ZSTD_getErrorName(last));
                        else if (write(out, obuf, ob.pos) != (ssize_t) ob.pos)
                                r = log_error_errno(errno ? errno : EIO, "%s: cannot write the decompressed base: %s",
                                                    dir, strerror(errno ? errno : EIO));
                }
                if (r < 0)
                        break;
        }
        ZSTD_freeDCtx(d);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(out);
        return 0;
}

static int sha256_of(const void *p, size_t n, uint8_t ret[32]) {
        unsigned len = 0;
        return EVP_Digest(p, n, ret, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -EIO;
}

static void zstd_cctx_freep(ZSTD_CCtx **c) {
        ZSTD_freeCCtx(*c);
}

int delta_write(int dir_fd, const char *dir, const char *base_name, const char *target_path, int out_fd,
                const char *out_path, uint8_t ret_sha256[32], uint64_t *ret_size) {
        _cleanup_close_ int base_fd = -EBADF;
        _cleanup_close_ int target_fd = open(target_path, O_RDONLY | O_CLOEXEC);
        _cleanup_(mapping_done) struct mapping base = {}, target = {};
        _cleanup_(zstd_cctx_freep) ZSTD_CCtx *c = ZSTD_createCCtx();
        _cleanup_free_ uint8_t *obuf = malloc(OUT_BUFFER);
        EVP_MD_CTX *sha = EVP_MD_CTX_new();
        struct patch_header h = {};
        uint8_t header[PATCH_HEADER_SIZE];
        uint64_t written = 0;
        int r;

        if (!c || !obuf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(sha);
                return -ENOMEM;
        }
        if (target_fd < 0) {
                r = log_error_errno(errno, "%s: cannot open: %s", target_path, strerror(errno));
                goto finish;
        }
        r = open_base(dir_fd, dir, base_name, &base_fd);
        if (r >= 0)
                r = map_fd(base_fd, base_name, &base);
        if (r >= 0)
                r = map_fd(target_fd, target_path, &target);
        if (r < 0)
                goto finish;
        h.base_size = base.size;
        h.target_size = target.size;
        if (sha256_of(base.p, base.size, h.base_sha256) < 0 || sha256_of(target.p, target.size, h.target_sha256) < 0) {
                r = log_error_errno(EIO, "%s: SHA-256 computation failed", out_path);
                goto finish;
        }
        patch_header_format(&h, header);
        r = write_all(out_fd, out_path, header, sizeof(header), sha);
        if (r < 0)
                goto finish;
        written = sizeof(header);

        /* As `zstd -19 --long --patch-from=BASE`: a window over base and target, long-distance
         * matching to find the base's bytes, the base referenced in place (not copied). */
        size_t e = 0;
        if (ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, DELTA_LEVEL)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, (int) patch_window_log(base.size, target.size))) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(c, ZSTD_c_stableInBuffer, 1)) ||
            ZSTD_isError(e = ZSTD_CCtx_setPledgedSrcSize(c, target.size)) ||
            ZSTD_isError(e = ZSTD_CCtx_refPrefix(c, base.p, base.size))) {
                r = log_error_errno(EIO, "%s: cannot set up zstd: %s", out_path, ZSTD_getErrorName(e));
                goto finish;
        }
        ZSTD_inBuffer in = { target.p, target.size, 0 };
        for (;;) {
                ZSTD_outBuffer ob = { obuf, OUT_BUFFER, 0 };
                size_t left = ZSTD_compressStream2(c, &ob, &in, ZSTD_e_end);
                if (ZSTD_isError(left)) {
                        r = log_error_errno(EIO, "%s: zstd compression failed: %s", out_path, ZSTD_getErrorName(left));
                        goto finish;
                }
                r = write_all(out_fd, out_path, obuf, ob.pos, sha);
                if (r < 0)
                        goto finish;
                written += ob.pos;
                if (left == 0)
                        break;
        }
        unsigned len = 0;
        if (EVP_DigestFinal_ex(sha, ret_sha256, &len) != 1 || len != 32) {
                r = log_error_errno(EIO, "%s: SHA-256 computation failed", out_path);
                goto finish;
        }
        if (fsync(out_fd) < 0) {
                r = log_error_errno(errno, "%s: fsync failed: %s", out_path, strerror(errno));
                goto finish;
        }
        *ret_size = written;
        r = 0;
finish:
        EVP_MD_CTX_free(sha);
        return r;
}
