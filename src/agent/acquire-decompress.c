/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stage: decompression, detected by magic like systemd-import does (xz, gzip, zstd); anything else
 * is an uncompressed image and passes through untouched. One fixed output buffer. */
#include "acquire-stage.h"
#include "base/log.h"

#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* Enough for xz -9 and zstd's default window limit; a stream asking for more is refused. */
#define XZ_MEMLIMIT (1024ULL * 1024 * 1024)
#define MAGIC_MAX 6

enum format { FORMAT_UNKNOWN, FORMAT_PLAIN, FORMAT_XZ, FORMAT_GZIP, FORMAT_ZSTD };

struct acquire_decompress {
        struct acquire_stage stage;
        const char *name;
        enum format format;
        uint8_t head[MAGIC_MAX];
        size_t head_len;
        uint8_t *out;
        lzma_stream xz;
        bool xz_init;
        z_stream gz;
        bool gz_init, gz_member_done;
        ZSTD_DCtx *zstd;
        size_t zstd_left; /* last ZSTD_decompressStream() hint: 0 = frame complete */
};

static const char *const format_names[] = {
        [FORMAT_UNKNOWN] = "plain", [FORMAT_PLAIN] = "plain", [FORMAT_XZ] = "xz",
        [FORMAT_GZIP] = "gzip",     [FORMAT_ZSTD] = "zstd",
};

static enum format detect(const uint8_t *h) {
        static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
        static const uint8_t gz[] = { 0x1f, 0x8b, 0x08 }; /* 0x08: deflate, the only method */
        static const uint8_t zst[] = { 0x28, 0xb5, 0x2f, 0xfd };
        if (memcmp(h, xz, sizeof(xz)) == 0)
                return FORMAT_XZ;
        if (memcmp(h, gz, sizeof(gz)) == 0)
                return FORMAT_GZIP;
        if (memcmp(h, zst, sizeof(zst)) == 0)
                return FORMAT_ZSTD;
        return FORMAT_PLAIN;
}

static int corrupt(struct acquire_decompress *d, const char *detail) {
        return log_error_errno(EBADMSG, "%s: corrupt %s data (%s)", d->name, format_names[d->format], detail);
}

static int truncated(struct acquire_decompress *d) {
        return log_error_errno(EBADMSG, "%s: %s data ends early (truncated download?)", d->name,
                               format_names[d->format]);
}

static int start_decoder(struct acquire_decompress *d) {
        switch (d->format) {
        case FORMAT_XZ:
                d->xz = (lzma_stream) LZMA_STREAM_INIT;
                if (lzma_stream_decoder(&d->xz, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK)
                        return -ENOMEM;
                d->xz_init = true;
                break;
        case FORMAT_GZIP:
                /* 16 + MAX_WBITS: gzip header and trailer, not a raw zlib stream. */
                if (inflateInit2(&d->gz, 16 + MAX_WBITS) != Z_OK)
                        return -ENOMEM;
                d->gz_init = true;
                break;
        case FORMAT_ZSTD:
                d->zstd = ZSTD_createDCtx();
                if (!d->zstd)
                        return -ENOMEM;
                d->zstd_left = 1;
                break;
        default:
                return 0;
        }
        d->out = malloc(ACQUIRE_BUFFER_SIZE);
        return d->out ? 0 : -ENOMEM;
}

static int feed_xz(struct acquire_decompress *d, const void *data, size_t n, lzma_action action) {
        d->xz.next_in = data;
        d->xz.avail_in = n;
        for (;;) {
                d->xz.next_out = d->out;
                d->xz.avail_out = ACQUIRE_BUFFER_SIZE;
                lzma_ret ret = lzma_code(&d->xz, action);
                int r = acquire_stage_push(d->stage.next, d->out, ACQUIRE_BUFFER_SIZE - d->xz.avail_out);
                if (r < 0)
                        return r;
                if (ret == LZMA_STREAM_END)
                        return 0;
                if (ret == LZMA_BUF_ERROR && action == LZMA_FINISH)
                        return truncated(d);
                if (ret == LZMA_MEMLIMIT_ERROR)
                        return corrupt(d, "needs more than 1 GiB of memory to decompress");
                if (ret != LZMA_OK)
                        return corrupt(d, ret == LZMA_FORMAT_ERROR ? "bad header" : "lzma decoder error");
                if (d->xz.avail_in == 0 && d->xz.avail_out > 0 && action == LZMA_RUN)
                        return 0;
        }
}

static int feed_gzip(struct acquire_decompress *d, const void *data, size_t n) {
        d->gz.next_in = (Bytef *) data;
        d->gz.avail_in = n;
        for (;;) {
                /* A gzip file may be several members back to back (gzip -c a b > c). */
                if (d->gz_member_done && d->gz.avail_in > 0) {
                        if (inflateReset(&d->gz) != Z_OK)
                                return corrupt(d, "cannot start next member");
                        d->gz_member_done = false;
                }
                d->gz.next_out = d->out;
                d->gz.avail_out = ACQUIRE_BUFFER_SIZE;
                int ret = inflate(&d->gz, Z_NO_FLUSH);
                int r = acquire_stage_push(d->stage.next, d->out, ACQUIRE_BUFFER_SIZE - d->gz.avail_out);
                if (r < 0)
                        return r;
                if (ret == Z_STREAM_END)
                        d->gz_member_done = true;
                else if (ret == Z_MEM_ERROR)
                        return -ENOMEM;
                else if (ret != Z_OK && ret != Z_BUF_ERROR)
                        return corrupt(d, d->gz.msg ? d->gz.msg : "inflate error");
                if (d->gz.avail_in == 0 && d->gz.avail_out > 0)
                        return 0;
                if (ret == Z_BUF_ERROR && d->gz.avail_out > 0)
                        return corrupt(d, "no progress");
        }
}

static int feed_zstd(struct acquire_decompress *d, const void *data, size_t n) {
        ZSTD_inBuffer in = { .src = data, .size = n };
        for (;;) {
                ZSTD_outBuffer out = { .dst = d->out, .size = ACQUIRE_BUFFER_SIZE };
                size_t ret = ZSTD_decompressStream(d->zstd, &out, &in);
                if (ZSTD_isError(ret))
                        return corrupt(d, ZSTD_getErrorName(ret));
                d->zstd_left = ret;
                int r = acquire_stage_push(d->stage.next, d->out, out.pos);
                if (r < 0)
                        return r;
                /* ret == 0: a frame ended and is fully flushed; asking again with no input would
                 * only report the header size of a next frame. */
                if (in.pos == in.size && (out.pos < out.size || ret == 0))
                        return 0;
        }
}

static int feed(struct acquire_decompress *d, const void *data, size_t n) {
        switch (d->format) {
        case FORMAT_XZ:
                return feed_xz(d, data, n, LZMA_RUN);
        case FORMAT_GZIP:
                return feed_gzip(d, data, n);
        case FORMAT_ZSTD:
                return feed_zstd(d, data, n);
        default:
                return acquire_stage_push(d->stage.next, data, n);
        }
}

static int decompress_push(struct acquire_stage *s, const void *data, size_t n) {
        struct acquire_decompress *d = (struct acquire_decompress *) s;
        if (d->format == FORMAT_UNKNOWN) {
                /* The magic may arrive split over several pushes. */
                size_t k = MAGIC_MAX - d->head_len < n ? MAGIC_MAX - d->head_len : n;
                memcpy(d->head + d->head_len, data, k);
                d->head_len += k;
                data = (const uint8_t *) data + k;
                n -= k;
                if (d->head_len < MAGIC_MAX)
                        return 0;
                d->format = detect(d->head);
                int r = start_decoder(d);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot set up %s decoder", d->name, format_names[d->format]);
                r = feed(d, d->head, d->head_len);
                if (r < 0)
                        return r;
        }
        return n > 0 ? feed(d, data, n) : 0;
}

static int decompress_finish(struct acquire_stage *s) {
        struct acquire_decompress *d = (struct acquire_decompress *) s;
        int r = 0;
        switch (d->format) {
        case FORMAT_UNKNOWN: /* shorter than any magic: plain */
                d->format = FORMAT_PLAIN;
                r = acquire_stage_push(s->next, d->head, d->head_len);
                break;
        case FORMAT_XZ:
                r = feed_xz(d, NULL, 0, LZMA_FINISH);
                break;
        case FORMAT_GZIP:
                if (!d->gz_member_done)
                        r = truncated(d);
                break;
        case FORMAT_ZSTD:
                if (d->zstd_left != 0)
                        r = truncated(d);
                break;
        default:
                break;
        }
        if (r < 0)
                return r;
        return acquire_stage_finish(s->next);
}

int acquire_decompress_new(const char *name, struct acquire_stage *next, struct acquire_decompress **ret) {
        struct acquire_decompress *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->stage = (struct acquire_stage) { .push = decompress_push, .finish = decompress_finish, .next = next };
        d->name = name;
        *ret = d;
        return 0;
}

struct acquire_stage *acquire_decompress_stage(struct acquire_decompress *d) {
        return &d->stage;
}

const char *acquire_decompress_format(const struct acquire_decompress *d) {
        return format_names[d->format];
}

bool acquire_decompress_is_plain(const struct acquire_decompress *d) {
        return d->format == FORMAT_PLAIN;
}

bool acquire_decompress_is_compressed(const struct acquire_decompress *d) {
        return d->format != FORMAT_UNKNOWN && d->format != FORMAT_PLAIN;
}

void acquire_decompress_free(struct acquire_decompress *d) {
        if (!d)
                return;
        if (d->xz_init)
                lzma_end(&d->xz);
        if (d->gz_init)
                inflateEnd(&d->gz);
        ZSTD_freeDCtx(d->zstd);
        free(d->out);
        free(d);
}
