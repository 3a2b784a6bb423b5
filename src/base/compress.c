/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "compress.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <lzma.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define COMPRESS_BUFFER_SIZE (256u * 1024)
#define ZSTD_LEVEL_DEFAULT 9
#define XZ_PRESET_DEFAULT 6

struct writer {
        compress_write_fn fn;
        void *userdata;
};

static int writer_write(struct writer *w, const void *data, size_t n) {
        return n > 0 ? w->fn(data, n, w->userdata) : 0;
}

static const char *const compression_names[_COMPRESSION_MAX] = {
        [COMPRESSION_NONE] = "none",
        [COMPRESSION_ZSTD] = "zstd",
        [COMPRESSION_XZ] = "xz",
};

const char *compression_to_string(enum compression c) {
        return string_table_to_string(compression_names, ELEMENTSOF(compression_names), c);
}

int compression_from_string(const char *s, enum compression *ret, int *ret_level) {
        size_t n = strcspn(s, ":");
        for (int c = 0; c < _COMPRESSION_MAX; c++) {
                if (strlen(compression_names[c]) != n || strncmp(s, compression_names[c], n) != 0)
                        continue;
                /* The default is returned as a level, not as 0: xz has a preset 0 of its own. */
                uint64_t level = c == COMPRESSION_ZSTD ? ZSTD_LEVEL_DEFAULT : c == COMPRESSION_XZ ? XZ_PRESET_DEFAULT : 0;
                if (s[n]) {
                        uint64_t max = c == COMPRESSION_ZSTD ? 19 : c == COMPRESSION_XZ ? 9 : 0;
                        if (max == 0 || parse_uint64(s + n + 1, 10, &level) < 0 || level > max ||
                            (c == COMPRESSION_ZSTD && level == 0))
                                return -EINVAL;
                }
                *ret = (enum compression) c;
                *ret_level = (int) level;
                return 0;
        }
        return -EINVAL;
}


static ssize_t read_some(int fd, void *buf, size_t n, const char *path) {
        for (;;) {
                ssize_t k = read(fd, buf, n);
                if (k >= 0)
                        return k;
                if (errno != EINTR) {
                        int r = -errno;
                        return log_error_errno(r, "%s: read failed: %s", path, strerror(-r));
                }
        }
}

static int copy_plain(int in, const char *in_path, struct writer *out, uint8_t *buf) {
        for (;;) {
                ssize_t k = read_some(in, buf, COMPRESS_BUFFER_SIZE, in_path);
                if (k <= 0)
                        return (int) k;
                int r = writer_write(out, buf, (size_t) k);
                if (r < 0)
                        return r;
        }
}

static void zstd_freep(ZSTD_CCtx **c) {
        ZSTD_freeCCtx(*c);
}

static int copy_zstd(int in, const char *in_path, uint64_t size, int level, struct writer *out, uint8_t *buf) {
        _cleanup_(zstd_freep) ZSTD_CCtx *c = ZSTD_createCCtx();
        if (!c)
                return -ENOMEM;
        /* The content size in the frame header lets a client check the slot size up front. */
        if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level > 0 ? level : ZSTD_LEVEL_DEFAULT)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
            (size != UINT64_MAX && ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, size))))
                return log_error_errno(EINVAL, "%s: cannot set up zstd compression", in_path);
        size_t out_cap = ZSTD_CStreamOutSize();
        _cleanup_free_ uint8_t *obuf = malloc(out_cap);
        if (!obuf)
                return -ENOMEM;
        bool done = false;
        while (!done) {
                ssize_t k = read_some(in, buf, COMPRESS_BUFFER_SIZE, in_path);
                if (k < 0)
                        return (int) k;
                ZSTD_EndDirective mode = k == 0 ? ZSTD_e_end : ZSTD_e_continue;
                ZSTD_inBuffer ib = { buf, (size_t) k, 0 };
                for (;;) {
                        ZSTD_outBuffer ob = { obuf, out_cap, 0 };
                        size_t left = ZSTD_compressStream2(c, &ob, &ib, mode);
                        if (ZSTD_isError(left))
                                return log_error_errno(EIO, "%s: zstd compression failed: %s", in_path,
                                                       ZSTD_getErrorName(left));
                        int r = writer_write(out, obuf, ob.pos);
                        if (r < 0)
                                return r;
                        if (mode == ZSTD_e_end ? left == 0 : ib.pos == ib.size)
                                break;
                }
                done = k == 0;
        }
        return 0;
}

static void lzma_endp(lzma_stream *s) {
        lzma_end(s);
}

static int copy_xz(int in, const char *in_path, int level, struct writer *out, uint8_t *buf) {
        _cleanup_(lzma_endp) lzma_stream s = LZMA_STREAM_INIT;
        if (level < 0 || level > 9 || lzma_easy_encoder(&s, (uint32_t) level, LZMA_CHECK_CRC64) != LZMA_OK)
                return log_error_errno(ENOMEM, "%s: cannot set up xz compression", in_path);
        uint8_t obuf[64 * 1024];
        lzma_action action = LZMA_RUN;
        for (;;) {
                if (s.avail_in == 0 && action == LZMA_RUN) {
                        ssize_t k = read_some(in, buf, COMPRESS_BUFFER_SIZE, in_path);
                        if (k < 0)
                                return (int) k;
                        s.next_in = buf;
                        s.avail_in = (size_t) k;
                        if (k == 0)
                                action = LZMA_FINISH;
                }
                s.next_out = obuf;
                s.avail_out = sizeof(obuf);
                lzma_ret ret = lzma_code(&s, action);
                if (ret != LZMA_OK && ret != LZMA_STREAM_END)
                        return log_error_errno(EIO, "%s: xz compression failed (liblzma error %d)", in_path,
                                               (int) ret);
                int r = writer_write(out, obuf, sizeof(obuf) - s.avail_out);
                if (r < 0)
                        return r;
                if (ret == LZMA_STREAM_END)
                        return 0;
        }
}

int compress_stream(int in, const char *in_path, enum compression c, int level, uint64_t size,
                    compress_write_fn write_fn, void *userdata) {
        _cleanup_free_ uint8_t *buf = malloc(COMPRESS_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        struct writer w = { write_fn, userdata };
        switch (c) {
        case COMPRESSION_ZSTD:
                return copy_zstd(in, in_path, size, level, &w, buf);
        case COMPRESSION_XZ:
                return copy_xz(in, in_path, level, &w, buf);
        default:
                return copy_plain(in, in_path, &w, buf);
        }
}
