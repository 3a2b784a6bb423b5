/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The spool of a compressed download (acquire-stage.h): the bytes as downloaded, appended to a
 * file beside the resume state, so that a cut download can be decompressed again from its start
 * without fetching what it had. The spool is an optimisation only: where it cannot be kept (no
 * room, a failed write or sync) it is switched off with one warning and the download goes on
 * without resume; it never fails an update. */
#include "acquire-stage.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Room left free beside the spool, on top of the bytes still to come. */
#define SPOOL_MARGIN (16ULL * 1024 * 1024)

struct acquire_spool {
        char *path;
        const char *what;
        int fd;
        uint64_t size; /* bytes in the spool */
        bool off;
};

static void spool_off(struct acquire_spool *s, const char *why) {
        if (s->off)
                return;
        log_warning("%s: cannot keep the spool %s (%s), a cut download will start over", s->what, s->path, why);
        s->off = true;
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        (void) unlink(s->path);
}

/* Whether a file system (st) has room for remaining more bytes and the margin; else *why says
 * what it has. */
static bool has_room(const struct statvfs *st, uint64_t remaining, char *why, size_t size) {
        char a[16], b[16];
        uint64_t free_bytes = (uint64_t) st->f_bavail * st->f_frsize;
        if (remaining == UINT64_MAX || free_bytes >= remaining + SPOOL_MARGIN)
                return true; /* unknown: a failed write switches the spool off */
        snprintf(why, size, "%s free, the payload needs %s and a margin", format_bytes(a, free_bytes),
                 format_bytes(b, remaining));
        return false;
}

int acquire_spool_open(const char *path, uint64_t keep, uint64_t remaining, const char *what,
                       struct acquire_spool **ret) {
        struct acquire_spool *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct acquire_spool) { .path = strdup(path), .what = what, .fd = -1, .size = keep };
        _cleanup_free_ char *dir = NULL;
        char why[96];
        int r = s->path ? path_dirname(path, &dir) : -ENOMEM;
        if (r >= 0)
                r = mkdir_all(dir, 0700);
        struct statvfs st;
        if (r >= 0 && statvfs(dir, &st) >= 0 && !has_room(&st, remaining, why, sizeof(why))) {
                spool_off(s, why); /* before a byte of it is written */
                *ret = s;
                return 0;
        }
        if (r >= 0) {
                s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                r = s->fd < 0 ? -errno : ftruncate(s->fd, (off_t) keep) < 0 ? -errno : 0;
        }
        if (r == -ENOMEM) {
                acquire_spool_free(s);
                return r;
        }
        if (r < 0)
                spool_off(s, strerror(-r));
        *ret = s;
        return 0;
}

void acquire_spool_expect(struct acquire_spool *s, uint64_t remaining) {
        struct statvfs st;
        char why[96];
        if (!s->off && fstatvfs(s->fd, &st) >= 0 && !has_room(&st, remaining, why, sizeof(why)))
                spool_off(s, why);
}

bool acquire_spool_append(struct acquire_spool *s, const void *data, size_t n) {
        if (s->off)
                return false;
        int r = pwrite_full(s->fd, data, n, s->size);
        if (r < 0) {
                spool_off(s, strerror(-r));
                return false;
        }
        s->size += n;
        return true;
}

bool acquire_spool_sync(struct acquire_spool *s) {
        if (s->off)
                return false;
        if (fdatasync(s->fd) < 0) {
                spool_off(s, strerror(errno));
                return false;
        }
        return true;
}

bool acquire_spool_is_on(const struct acquire_spool *s) {
        return s && !s->off;
}

void acquire_spool_free(struct acquire_spool *s) {
        if (!s)
                return;
        if (s->fd >= 0)
                close(s->fd);
        free(s->path);
        free(s);
}

/* Reads the first n bytes of path in pieces: into the hash ctx when not NULL, else into to. */
static int spool_read(const char *path, uint64_t n, EVP_MD_CTX *ctx, struct acquire_stage *to, const char *what) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ uint8_t *buf = malloc(ACQUIRE_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open the spool %s: %s", what, path, strerror(errno));
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        for (uint64_t at = 0; at < n;) {
                size_t k = n - at < ACQUIRE_BUFFER_SIZE ? (size_t) (n - at) : ACQUIRE_BUFFER_SIZE;
                int r = pread_full(fd, buf, k, at);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot read the spool %s at byte %" PRIu64 ": %s", what, path,
                                               at, strerror(-r));
                if (ctx && EVP_DigestUpdate(ctx, buf, k) != 1)
                        return log_error_errno(EIO, "%s: SHA-256 computation failed", what);
                if (!ctx && (r = acquire_stage_push(to, buf, k)) < 0)
                        return r;
                at += k;
        }
        return 0;
}

int acquire_spool_check(const char *path, uint64_t n, const uint8_t sha256[32], const char *what) {
        struct stat st;
        char a[16];
        if (stat(path, &st) < 0 || (uint64_t) st.st_size < n) {
                log_warning("%s: the spool %s no longer holds the %s downloaded, downloading it all again", what, path,
                            format_bytes(a, n));
                return 0;
        }
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t got[32];
        unsigned len = 0;
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        int r = spool_read(path, n, ctx, NULL, what);
        if (r >= 0 && (EVP_DigestFinal_ex(ctx, got, &len) != 1 || len != 32))
                r = log_error_errno(EIO, "%s: SHA-256 computation failed", what);
        EVP_MD_CTX_free(ctx);
        if (r < 0)
                return r == -ENOMEM ? r : 0; /* unreadable: start over (logged) */
        if (memcmp(got, sha256, 32) != 0) {
                log_warning("%s: the %s in the spool %s no longer hash to what was downloaded, downloading it all again",
                            what, format_bytes(a, n), path);
                return 0;
        }
        return 1;
}

int acquire_spool_replay(const char *path, uint64_t n, struct acquire_stage *to, const char *what) {
        return spool_read(path, n, NULL, to, what);
}
