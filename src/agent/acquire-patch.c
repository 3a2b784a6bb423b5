/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The patch path (acquire-patch.h), as a pipeline in one streaming pass:
 *
 *     fetch -> progress -> hash (of the patch file, from SHA256SUMS) -> patch
 *
 * The patch stage reads the header, checks the base slot against the base image's SHA-256 before
 * a byte is written, then decompresses with the base slot as prefix straight into the mapped new
 * slot (ZSTD_d_stableOutBuffer: the output is the decoder's window, so it allocates none), and
 * hashes what it wrote. The hash stage fails a tampered patch before the patch stage finishes. */
#include "acquire-patch.h"

#include "acquire-stage.h"
#include "partition.h"
#include "resource.h"
#include "base/log.h"
#include "base/util.h"
#include "sysupdate/manifest.h"
#include "sysupdate/patch.h"
#include "sysupdate/version.h"

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_stableOutBuffer */
#include <zstd.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int acquire_patch_attach(struct resource *r, const struct manifest *m) {
        for (size_t i = 0; i < m->n_entries; i++) {
                const struct manifest_entry *e = &m->entries[i];
                _cleanup_free_ char *base = NULL;
                const char *target = NULL;
                if (patch_name_parse(e->name, &base, &target) < 0)
                        continue;
                for (size_t j = 0; j < r->n_instances; j++) {
                        struct instance *in = r->instances[j];
                        size_t nl = strlen(in->name), pl = strlen(in->path);
                        if (!streq(in->name, target) || pl < nl)
                                continue;
                        struct instance_patch *p = realloc(in->patches, (in->n_patches + 1) * sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        in->patches = p;
                        p = &p[in->n_patches];
                        /* the payload URL with the patch's name as its last component ('@' as %40) */
                        *p = (struct instance_patch) {
                                .base_version = strdup(base),
                                .url = strprintf("%.*s%%40delta%%40%s%%40%s", (int) (pl - nl), in->path, base, target),
                        };
                        memcpy(p->sha256, e->sha256, 32);
                        in->n_patches++;
                        if (!p->base_version || !p->url)
                                return -ENOMEM;
                }
        }
        return 0;
}

/* A page-aligned shared mapping of [offset, offset + size) of fd. */
struct region {
        uint8_t *map;
        size_t map_size;
        uint8_t *p; /* at offset */
};

static int region_map(int fd, uint64_t offset, uint64_t size, bool writable, struct region *ret) {
        uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE), start = offset - offset % page;
        if (size == 0 || size > SIZE_MAX - page)
                return -EINVAL;
        ret->map_size = (size_t) (offset - start + size);
        void *m = mmap(NULL, ret->map_size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, (off_t) start);
        if (m == MAP_FAILED)
                return -errno;
        ret->map = m;
        ret->p = ret->map + (offset - start);
        return 0;
}

static void region_unmap(struct region *r) {
        if (r->map)
                munmap(r->map, r->map_size);
        *r = (struct region) {};
}

struct patch_stage {
        struct acquire_stage stage;
        const char *what, *base_version;
        int fd;
        uint64_t offset, size_max, base_offset, base_size_max;
        bool sync;
        uint8_t header[PATCH_HEADER_SIZE];
        size_t header_got;
        struct patch_header h;
        bool base_mismatch;
        struct region base, out;
        ZSTD_DCtx *d;
        ZSTD_outBuffer ob;
        size_t last;       /* ZSTD_decompressStream's last hint: 0 = frame complete */
        EVP_MD_CTX *sha;
};

static int sha256_equal(const void *p, size_t n, const uint8_t want[32]) {
        uint8_t got[32];
        unsigned len = 0;
        if (EVP_Digest(p, n, got, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        return memcmp(got, want, 32) == 0;
}

/* The header is complete: check the base slot, map the new one, set up the decoder. */
static int patch_begin(struct patch_stage *s) {
        char a[16];
        if (patch_header_parse(s->header, &s->h) < 0)
                return log_error_errno(EBADMSG, "%s: not a patch (bad magic)", s->what);
        if (s->h.target_size == 0 || s->h.target_size > s->size_max)
                return log_error_errno(EFBIG, "%s: the image of the patch is larger than the slot (%s)", s->what,
                                       format_bytes(a, s->size_max));
        int r = s->h.base_size > 0 && s->h.base_size <= s->base_size_max ?
                region_map(s->fd, s->base_offset, s->h.base_size, false, &s->base) : 0;
        if (r < 0)
                return log_error_errno(r, "%s: cannot map the slot of version %s: %s", s->what, s->base_version, strerror(-r));
        r = s->base.map ? sha256_equal(s->base.p, s->h.base_size, s->h.base_sha256) : 0;
        if (r < 0)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", s->what);
        if (r == 0) {
                s->base_mismatch = true;
                log_warning("%s: the slot labelled version %s does not hold that version's image (SHA-256 differs), not using the patch",
                            s->what, s->base_version);
                return -ESTALE;
        }
        /* A sparse image file must not run out of space under the mapping (SIGBUS). */
        struct stat st;
        if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) &&
            fallocate(s->fd, 0, (off_t) s->offset, (off_t) s->h.target_size) < 0 && errno != EOPNOTSUPP)
                return log_error_errno(errno, "%s: cannot allocate the slot: %s", s->what, strerror(errno));
        r = region_map(s->fd, s->offset, s->h.target_size, true, &s->out);
        if (r < 0)
                return log_error_errno(r, "%s: cannot map the slot for writing: %s", s->what, strerror(-r));
        (void) madvise(s->out.map, s->out.map_size, MADV_SEQUENTIAL);

        s->d = ZSTD_createDCtx();
        if (!s->d)
                return -ENOMEM;
        size_t e = 0;
        if (ZSTD_isError(e = ZSTD_DCtx_setParameter(s->d, ZSTD_d_windowLogMax, PATCH_WINDOW_LOG_MAX)) ||
            ZSTD_isError(e = ZSTD_DCtx_setParameter(s->d, ZSTD_d_stableOutBuffer, 1)) ||
            ZSTD_isError(e = ZSTD_DCtx_refPrefix(s->d, s->base.p, s->h.base_size)))
                return log_error_errno(EIO, "%s: cannot set up zstd: %s", s->what, ZSTD_getErrorName(e));
        s->ob = (ZSTD_outBuffer) { s->out.p, (size_t) s->h.target_size, 0 };
        s->last = 1;
        return 0;
}

static int patch_push(struct acquire_stage *stage, const void *data, size_t n) {
        struct patch_stage *s = (struct patch_stage *) stage;
        const uint8_t *p = data;
        if (s->header_got < PATCH_HEADER_SIZE) {
                size_t k = PATCH_HEADER_SIZE - s->header_got < n ? PATCH_HEADER_SIZE - s->header_got : n;
                memcpy(s->header + s->header_got, p, k);
                s->header_got += k;
                p += k;
                n -= k;
                if (s->header_got < PATCH_HEADER_SIZE)
                        return 0;
                int r = patch_begin(s);
                if (r < 0)
                        return r;
        }
        ZSTD_inBuffer ib = { p, n, 0 };
        while (ib.pos < ib.size) {
                size_t before_in = ib.pos, before_out = s->ob.pos;
                s->last = ZSTD_decompressStream(s->d, &s->ob, &ib);
                if (ZSTD_isError(s->last))
                        return log_error_errno(EBADMSG, "%s: corrupt patch: %s", s->what, ZSTD_getErrorName(s->last));
                if (s->ob.pos > before_out &&
                    EVP_DigestUpdate(s->sha, s->out.p + before_out, s->ob.pos - before_out) != 1)
                        return log_error_errno(EIO, "%s: SHA-256 computation failed", s->what);
                if (ib.pos == before_in && s->ob.pos == before_out)
                        return log_error_errno(EBADMSG, "%s: corrupt patch: data after the end of the image", s->what);
        }
        return 0;
}

static int patch_finish(struct acquire_stage *stage) {
        struct patch_stage *s = (struct patch_stage *) stage;
        uint8_t got[32];
        unsigned len = 0;
        if (s->header_got < PATCH_HEADER_SIZE || s->last != 0 || s->ob.pos != s->h.target_size)
                return log_error_errno(EBADMSG, "%s: truncated patch", s->what);
        if (EVP_DigestFinal_ex(s->sha, got, &len) != 1 || len != 32)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", s->what);
        if (memcmp(got, s->h.target_sha256, 32) != 0)
                return log_error_errno(EBADMSG, "%s: the patched slot does not hash to the published image", s->what);
        if (s->sync && (msync(s->out.map, s->out.map_size, MS_SYNC) < 0 || fsync(s->fd) < 0))
                return log_error_errno(errno, "%s: sync failed: %s", s->what, strerror(errno));
        return 0;
}

static void patch_stage_done(struct patch_stage *s) {
        ZSTD_freeDCtx(s->d);
        EVP_MD_CTX_free(s->sha);
        region_unmap(&s->base);
        region_unmap(&s->out);
}

bool acquire_path_allowed(const char *path) {
        const char *e = getenv("ABOTA_PATH");
        if (streq(path, "patch")) {
                const char *p = getenv("ABOTA_PATCH");
                if (p && streq(p, "0"))
                        return false;
        }
        if (isempty(e))
                return true;
        if (!streq(e, "patch") && !streq(e, "blocks") && !streq(e, "full")) {
                static bool warned;
                if (!warned)
                        log_warning("$ABOTA_PATH=%s: expected patch, blocks or full; ignored", e);
                warned = true;
                return true;
        }
        return streq(e, path);
}

/* One attempt: 1 applied, -ESTALE base slot differs, other -errno failed (logged). */
static int patch_apply(const struct instance_patch *pt, const struct partition_info *base, int fd, uint64_t offset,
                       uint64_t size, bool sync, const char *what, bool progress, uint64_t *ret_downloaded) {
        struct patch_stage s = {
                .stage = { .push = patch_push, .finish = patch_finish },
                .what = what, .base_version = pt->base_version, .fd = fd, .offset = offset, .size_max = size,
                .base_offset = base->start, .base_size_max = base->size, .sync = sync,
                .sha = EVP_MD_CTX_new(),
        };
        struct acquire_hash *hash = NULL;
        struct acquire_progress *prog = NULL;
        struct acquire_fetch_options o;
        int r = s.sha && EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
        if (r >= 0)
                r = acquire_hash_new(pt->url, pt->sha256, &s.stage, &hash);
        if (r >= 0)
                r = acquire_progress_new(what, progress, NULL, NULL, acquire_hash_stage(hash), &prog);
        if (r >= 0) {
                acquire_fetch_options_default(&o);
                r = acquire_fetch(&o, pt->url, acquire_progress_stage(prog), ret_downloaded);
        }
        if (r >= 0)
                r = acquire_stage_finish(acquire_progress_stage(prog));
        if (r == -ESTALE && !s.base_mismatch)
                r = -EIO;
        acquire_progress_free(prog);
        acquire_hash_free(hash);
        patch_stage_done(&s);
        return r < 0 ? r : 1;
}

int acquire_patch_try(const struct resource *target, const struct instance *src, int fd, uint64_t offset,
                      uint64_t size, bool sync, const char *what, bool progress) {
        if (src->n_patches == 0 || !acquire_path_allowed("patch"))
                return 0;
        /* The newest installed version that a patch starts from first. */
        for (size_t i = 0; i < target->n_instances; i++) {
                const struct instance *b = target->instances[i];
                if (!b->partition)
                        continue;
                for (size_t k = 0; k < src->n_patches; k++) {
                        const struct instance_patch *pt = &src->patches[k];
                        uint64_t downloaded = 0;
                        char a[16];
                        if (version_compare(pt->base_version, b->metadata.version) != 0)
                                continue;
                        int r = patch_apply(pt, b->partition, fd, offset, size, sync, what, progress, &downloaded);
                        if (r == -ENOMEM)
                                return r;
                        if (r > 0) {
                                log_info("%s: written from version %s and a patch of %s", what, pt->base_version,
                                         format_bytes(a, downloaded));
                                return 1;
                        }
                        if (r != -ESTALE) {
                                log_warning("%s: the patch from version %s failed, downloading the full image", what,
                                            pt->base_version);
                                return 0;
                        }
                }
        }
        return 0;
}
