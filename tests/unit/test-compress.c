/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/compress.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <sys/mman.h>
#include <zstd.h>

struct buffer {
        uint8_t *data;
        size_t size;
        size_t fail_after; /* a write beyond this many bytes fails with -ENOSPC; 0 = never */
};

static int buffer_write(const void *data, size_t n, void *userdata) {
        struct buffer *b = userdata;
        if (b->fail_after && b->size + n > b->fail_after)
                return -ENOSPC;
        uint8_t *d = realloc(b->data, b->size + n);
        if (!d)
                return -ENOMEM;
        memcpy(d + b->size, data, n);
        b->data = d;
        b->size += n;
        return 0;
}

/* A memfd holding n bytes: compressible text with a stretch of pseudo-random bytes. */
static int input_fd(size_t n, uint8_t **ret_copy) {
        int fd = memfd_create("input", MFD_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t *d = malloc(n ? n : 1);
        assert_non_null(d);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245 + 12345;
                d[i] = (i / 4096) % 3 == 0 ? (uint8_t) (x >> 16) : (uint8_t) "abota publish "[i % 14];
        }
        assert_int_equal(write(fd, d, n), (ssize_t) n);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        *ret_copy = d;
        return fd;
}

static void test_names(void **state) {
        (void) state;
        enum compression c;
        int level = -1;
        assert_int_equal(compression_from_string("none", &c, &level), 0);
        assert_int_equal(c, COMPRESSION_NONE);
        assert_int_equal(level, 0);
        assert_int_equal(compression_from_string("zstd", &c, &level), 0);
        assert_int_equal(c, COMPRESSION_ZSTD);
        assert_int_equal(level, 9);
        /* the xz default is preset 6, distinct from the valid preset 0 */
        assert_int_equal(compression_from_string("xz", &c, &level), 0);
        assert_int_equal(c, COMPRESSION_XZ);
        assert_int_equal(level, 6);
        assert_int_equal(compression_from_string("zstd:19", &c, &level), 0);
        assert_int_equal(level, 19);
        assert_int_equal(compression_from_string("xz:0", &c, &level), 0);
        assert_int_equal(c, COMPRESSION_XZ);
        assert_int_equal(level, 0);
        assert_int_equal(compression_from_string("zstd:0", &c, &level), -EINVAL);
        assert_int_equal(compression_from_string("zstd:20", &c, &level), -EINVAL);
        assert_int_equal(compression_from_string("zstd:", &c, &level), -EINVAL);
        assert_int_equal(compression_from_string("xz:10", &c, &level), -EINVAL);
        assert_int_equal(compression_from_string("none:1", &c, &level), -EINVAL);
        assert_int_equal(compression_from_string("zst", &c, &level), -EINVAL);
        assert_int_equal(compression_from_string("gzip", &c, &level), -EINVAL);
        assert_string_equal(compression_to_string(COMPRESSION_XZ), "xz");
        assert_null(compression_to_string(_COMPRESSION_MAX));
}

static void test_zstd_roundtrip(void **state) {
        (void) state;
        static const size_t sizes[] = { 0, 1, 300000, 3 * 256 * 1024 };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint8_t *orig;
                _cleanup_close_ int fd = input_fd(sizes[i], &orig);
                struct buffer out = {};
                assert_int_equal(compress_stream(fd, "input", COMPRESSION_ZSTD, 3, sizes[i], buffer_write, &out), 0);
                /* the size is in the frame header, and the frame decodes to the input */
                assert_int_equal(ZSTD_getFrameContentSize(out.data, out.size), sizes[i]);
                uint8_t *back = malloc(sizes[i] + 1);
                size_t k = ZSTD_decompress(back, sizes[i] + 1, out.data, out.size);
                assert_false(ZSTD_isError(k));
                assert_int_equal(k, sizes[i]);
                assert_memory_equal(back, orig, sizes[i]);
                if (sizes[i] > 100000)
                        assert_true(out.size < sizes[i] / 2);
                free(back);
                free(out.data);
                free(orig);
        }
}

static void test_xz_roundtrip(void **state) {
        (void) state;
        static const size_t sizes[] = { 0, 1, 300000 };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint8_t *orig;
                _cleanup_close_ int fd = input_fd(sizes[i], &orig);
                struct buffer out = {};
                assert_int_equal(compress_stream(fd, "input", COMPRESSION_XZ, 1, UINT64_MAX, buffer_write, &out), 0);
                uint8_t *back = malloc(sizes[i] + 1);
                size_t in_pos = 0, out_pos = 0;
                uint64_t memlimit = UINT64_MAX;
                assert_int_equal(lzma_stream_buffer_decode(&memlimit, 0, NULL, out.data, &in_pos, out.size, back,
                                                           &out_pos, sizes[i] + 1),
                                 LZMA_OK);
                assert_int_equal(in_pos, out.size);
                assert_int_equal(out_pos, sizes[i]);
                assert_memory_equal(back, orig, sizes[i]);
                /* CRC64 integrity check: byte 7 of the stream header holds the check type */
                assert_int_equal(out.data[7], LZMA_CHECK_CRC64);
                free(back);
                free(out.data);
                free(orig);
        }
}

/* Preset 0 is its own preset, not the default 6: the two streams differ. */
static void test_xz_preset_zero(void **state) {
        (void) state;
        struct buffer out[2] = {};
        static const int presets[2] = { 0, 6 };
        uint8_t *orig;
        _cleanup_close_ int fd = input_fd(300000, &orig);
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
                assert_int_equal(compress_stream(fd, "input", COMPRESSION_XZ, presets[i], UINT64_MAX, buffer_write,
                                                 &out[i]),
                                 0);
        }
        assert_true(out[0].size != out[1].size ||
                    memcmp(out[0].data, out[1].data, out[0].size) != 0);
        free(out[0].data);
        free(out[1].data);
        free(orig);
}

static void test_plain_and_errors(void **state) {
        (void) state;
        uint8_t *orig;
        _cleanup_close_ int fd = input_fd(600000, &orig);
        struct buffer out = {};
        assert_int_equal(compress_stream(fd, "input", COMPRESSION_NONE, 0, UINT64_MAX, buffer_write, &out), 0);
        assert_int_equal(out.size, 600000);
        assert_memory_equal(out.data, orig, 600000);
        free(out.data);

        /* a failing writer stops the stream with its own error, for every method */
        for (int c = 0; c < _COMPRESSION_MAX; c++) {
                assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
                struct buffer small = { .fail_after = 1000 };
                assert_int_equal(compress_stream(fd, "input", (enum compression) c, 1, 600000, buffer_write, &small),
                                 -ENOSPC);
                free(small.data);
        }
        /* an unreadable input is reported as a read error */
        _cleanup_close_ int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct buffer none = {};
        assert_int_equal(compress_stream(dir, "/", COMPRESSION_ZSTD, 0, UINT64_MAX, buffer_write, &none), -EISDIR);
        free(none.data);
        free(orig);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_zstd_roundtrip),
                cmocka_unit_test(test_xz_roundtrip),
                cmocka_unit_test(test_xz_preset_zero),
                cmocka_unit_test(test_plain_and_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
