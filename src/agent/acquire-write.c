/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stage (sink): write the payload at a byte offset of the target, never past offset + size_max
 * (spec sysupdate.md 7.2: partition writes go to the whole disk, bounded by the partition size).
 * Regular files (image files, temporary files) stay sparse: aligned all-zero blocks are skipped
 * beyond the end of the file and punched as holes inside it, so what reads back is identical. */
#include "acquire-stage.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPARSE_BLOCK 4096U
/* Start writeback of every this many written bytes (see kick_writeback()). */
#define WRITEBACK_WINDOW (16U * 1024 * 1024)

struct acquire_write {
        struct acquire_stage stage;
        const char *name;
        int fd;
        uint64_t offset, size_max, written;
        /* libcurl hands over 16 KiB at a time: gather whole buffers, so there are fewer writes
         * and zero blocks are found across chunk boundaries. */
        uint8_t *buf;
        size_t buffered;
        uint64_t flushed;          /* bytes of the payload already passed to the disk */
        uint64_t kicked;           /* bytes of the payload whose writeback has been started */
        uint64_t file_size; /* regular files: size as far as we know it */
        bool regular, sync, punch;
};

static bool block_is_zero(const uint8_t *p, size_t n) {
        /* The first bytes decide for almost every non-zero block. */
        if (n == 0 || p[0] != 0)
                return n == 0;
        return memcmp(p, p + 1, n - 1) == 0;
}

static int write_all(struct acquire_write *w, const uint8_t *p, size_t n, uint64_t at) {
        while (n > 0) {
                ssize_t k = pwrite(w->fd, p, n, (off_t) at);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "%s: write at byte %" PRIu64 " failed: %s", w->name, at,
                                               strerror(errno));
                }
                if (k == 0)
                        return log_error_errno(EIO, "%s: write at byte %" PRIu64 " made no progress", w->name, at);
                p += k;
                n -= (size_t) k;
                at += (uint64_t) k;
        }
        if (at > w->file_size)
                w->file_size = at;
        return 0;
}

/* [at, at+n) must read back as zeros. */
static int write_zeros(struct acquire_write *w, const uint8_t *zeros, size_t n, uint64_t at) {
        if (at >= w->file_size)
                return 0; /* past the end: a hole once finish extends the file */
        uint64_t inside = w->file_size - at < n ? w->file_size - at : n;
        if (w->punch) {
                if (fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) at, (off_t) inside) == 0)
                        return 0;
                if (errno != EOPNOTSUPP && errno != ENOSYS)
                        return log_error_errno(errno, "%s: punching a hole at byte %" PRIu64 " failed: %s",
                                               w->name, at, strerror(errno));
                w->punch = false;
        }
        return write_all(w, zeros, inside, at);
}

/* Writes n payload bytes at the current flush position. */
static int write_out(struct acquire_write *w, const uint8_t *p, size_t n) {
        uint64_t at = w->offset + w->flushed;
        w->flushed += n;
        if (!w->regular)
                return write_all(w, p, n, at);

        while (n > 0) {
                /* Runs of whole aligned blocks that are all zero, or not. */
                size_t first = SPARSE_BLOCK - (size_t) (at % SPARSE_BLOCK);
                size_t run = first < n ? first : n;
                bool zero = run == SPARSE_BLOCK && block_is_zero(p, run);
                while (run < n) {
                        size_t b = n - run < SPARSE_BLOCK ? n - run : SPARSE_BLOCK;
                        if ((b == SPARSE_BLOCK && block_is_zero(p + run, b)) != zero)
                                break;
                        run += b;
                }
                int r = zero ? write_zeros(w, p, run, at) : write_all(w, p, run, at);
                if (r < 0)
                        return r;
                p += run;
                at += run;
                n -= run;
        }
        return 0;
}

/* Ask the kernel to start writing back what we wrote, without waiting for it. The commit step
 * must make the slot durable before its label is written (an fsync, also inside libfdisk), and
 * that flush then finds little left to do instead of a whole image's worth of dirty pages. It is
 * advice only: where the fd does not support it, nothing changes. */
static void kick_writeback(struct acquire_write *w) {
        if (w->flushed - w->kicked < WRITEBACK_WINDOW)
                return;
        (void) sync_file_range(w->fd, (off_t) (w->offset + w->kicked), (off_t) (w->flushed - w->kicked),
                               SYNC_FILE_RANGE_WRITE);
        w->kicked = w->flushed;
}

static int write_flush(struct acquire_write *w) {
        size_t n = w->buffered;
        w->buffered = 0;
        int r = n > 0 ? write_out(w, w->buf, n) : 0;
        if (r >= 0)
                kick_writeback(w);
        return r;
}

static int write_push(struct acquire_stage *s, const void *data, size_t n) {
        struct acquire_write *w = (struct acquire_write *) s;
        const uint8_t *p = data;
        char buf[16];
        /* Refused before a byte of it is written: nothing lands past offset + size_max. */
        if (n > w->size_max - w->written)
                return log_error_errno(EFBIG, "%s: payload larger than the slot (%s, %" PRIu64 " bytes)",
                                       w->name, format_bytes(buf, w->size_max), w->size_max);
        w->written += n;
        if (w->buffered == 0 && n >= ACQUIRE_BUFFER_SIZE) {
                int r = write_out(w, p, n); /* already a big piece: no copy */
                if (r >= 0)
                        kick_writeback(w);
                return r;
        }
        while (n > 0) {
                size_t k = ACQUIRE_BUFFER_SIZE - w->buffered < n ? ACQUIRE_BUFFER_SIZE - w->buffered : n;
                memcpy(w->buf + w->buffered, p, k);
                w->buffered += k;
                p += k;
                n -= k;
                if (w->buffered == ACQUIRE_BUFFER_SIZE) {
                        int r = write_flush(w);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* A regular file ends at least where the payload written so far does (zero blocks past its end
 * were skipped). */
static int extend(struct acquire_write *w) {
        uint64_t end = w->offset + w->flushed;
        if (!w->regular || w->file_size >= end)
                return 0;
        if (ftruncate(w->fd, (off_t) end) < 0)
                return log_error_errno(errno, "%s: extending to %" PRIu64 " bytes failed: %s", w->name, end,
                                       strerror(errno));
        w->file_size = end;
        return 0;
}

int acquire_write_sync(struct acquire_write *w, bool sync) {
        int r = write_flush(w);
        if (r >= 0)
                r = extend(w); /* what the resume state counts reads back */
        if (r < 0)
                return r;
        if (sync && fdatasync(w->fd) < 0)
                return log_error_errno(errno, "%s: fdatasync failed: %s", w->name, strerror(errno));
        return 0;
}

static int write_finish(struct acquire_stage *s) {
        struct acquire_write *w = (struct acquire_write *) s;
        int r = write_flush(w);
        if (r >= 0)
                r = extend(w);
        if (r < 0)
                return r;
        if (w->sync && fsync(w->fd) < 0)
                return log_error_errno(errno, "%s: fsync failed: %s", w->name, strerror(errno));
        return 0;
}

int acquire_write_new(const char *name, int fd, uint64_t offset, uint64_t size_max, bool sync,
                      struct acquire_write **ret) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: cannot stat target: %s", name, strerror(errno));
        struct acquire_write *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->buf = malloc(ACQUIRE_BUFFER_SIZE);
        if (!w->buf) {
                free(w);
                return -ENOMEM;
        }
        w->stage = (struct acquire_stage) { .push = write_push, .finish = write_finish };
        w->name = name;
        w->fd = fd;
        w->offset = offset;
        w->size_max = size_max;
        w->sync = sync;
        w->regular = S_ISREG(st.st_mode);
        w->punch = w->regular;
        w->file_size = (uint64_t) st.st_size;
        *ret = w;
        return 0;
}

struct acquire_stage *acquire_write_stage(struct acquire_write *w) {
        return &w->stage;
}

uint64_t acquire_write_written(const struct acquire_write *w) {
        return w->written;
}

void acquire_write_free(struct acquire_write *w) {
        if (!w)
                return;
        free(w->buf);
        free(w);
}
