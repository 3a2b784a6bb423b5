/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Compression of payloads for an update directory: a file streamed through the zstd or xz
 * library (or copied as is) into a writer, in constant memory. Clients detect the format by its
 * magic, so the file keeps its name (the decoding side is acquire-decompress.c). */

#include <stddef.h>
#include <stdint.h>

enum compression {
        COMPRESSION_NONE,
        COMPRESSION_ZSTD,
        COMPRESSION_XZ,
        _COMPRESSION_MAX,
        _COMPRESSION_INVALID = -1,
};

const char *compression_to_string(enum compression c);
/* "none", "zstd", "xz", optionally with ":LEVEL" (zstd 1..19, default 9; xz 0..9, default 6);
 * *ret_level is the level to pass to compress_stream() (the default level when none is given, 0
 * for none). -EINVAL otherwise. */
int compression_from_string(const char *s, enum compression *ret, int *ret_level);

/* Receives each piece of output; returns 0 or -errno (which aborts the stream unchanged). */
typedef int (*compress_write_fn)(const void *data, size_t n, void *userdata);

/* Reads in to its end and writes it, compressed with c at level, through write_fn. level is the
 * zstd level (0 = the default) or the xz preset 0..9 (0 is a preset of its own, not the default).
 * size is the input size recorded in a zstd frame header (UINT64_MAX = unknown). zstd frames
 * carry a content checksum, xz streams a CRC64. Read and codec failures are logged naming
 * in_path; errors of write_fn are returned as they are. */
int compress_stream(int in, const char *in_path, enum compression c, int level, uint64_t size,
                    compress_write_fn write_fn, void *userdata);
