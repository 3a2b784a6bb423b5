/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-format.h"
#include "base/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_labels(void **state) {
        (void) state;
        static const struct {
                enum repart_format f;
                const char *in, *out;
        } v[] = {
                { REPART_FORMAT_VFAT, "esp", "ESP" },
                { REPART_FORMAT_VFAT, "my.esp:a/b+c", "MY_ESP_A_B_" },
                { REPART_FORMAT_VFAT, "b\xc3\xa4" "d", "B__D" },
                { REPART_FORMAT_EXT4, "a-very-long-label-indeed", "a-very-long-labe" },
                { REPART_FORMAT_SWAP, "a-very-long-label-indeed", "a-very-long-lab" },
                { REPART_FORMAT_EXT4, "123456789012345\xc3\xa4", "123456789012345" }, /* no half character */
                { REPART_FORMAT_EXT4, "data", "data" },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *l = repart_format_label(v[i].f, v[i].in);
                assert_string_equal(l, v[i].out);
        }
}

/* Holes of the source stay holes in the target; data lands at the right offset. */
static void test_copy_sparse(void **state) {
        (void) state;
        char a[] = "/tmp/test-repart-format-a-XXXXXX", b[] = "/tmp/test-repart-format-b-XXXXXX";
        int in = mkstemp(a), out = mkstemp(b);
        assert_true(in >= 0 && out >= 0);
        uint8_t block[4096];
        memset(block, 0xAB, sizeof(block));
        assert_int_equal(ftruncate(in, 8 << 20), 0);
        assert_int_equal(pwrite(in, block, sizeof(block), 0), 4096);
        assert_int_equal(pwrite(in, block, sizeof(block), 5 << 20), 4096);
        assert_int_equal(ftruncate(out, 16 << 20), 0);

        assert_int_equal(repart_copy_sparse(in, 0, out, 1 << 20, 8 << 20), 0);
        uint8_t got[4096];
        assert_int_equal(pread(out, got, sizeof(got), 1 << 20), 4096);
        assert_memory_equal(got, block, 4096);
        assert_int_equal(pread(out, got, sizeof(got), 6 << 20), 4096);
        assert_memory_equal(got, block, 4096);
        assert_int_equal(pread(out, got, sizeof(got), 3 << 20), 4096);
        static const uint8_t zero[4096];
        assert_memory_equal(got, zero, 4096);
        struct stat st;
        assert_int_equal(fstat(out, &st), 0);
        assert_true(st.st_blocks * 512 < (1 << 20)); /* only the two data blocks were written */

        /* a range in the middle of the source */
        assert_int_equal(repart_copy_sparse(in, 5 << 20, out, 0, 4096), 0);
        assert_int_equal(pread(out, got, sizeof(got), 0), 4096);
        assert_memory_equal(got, block, 4096);
        close(in);
        close(out);
        unlink(a);
        unlink(b);
}

/* A real mkfs: swap needs no content and checks label and UUID placement. */
static void test_build_swap(void **state) {
        (void) state;
        char dir[] = "/tmp/test-repart-format-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *out = path_join(dir, "swap.img");
        struct repart_format_request req = {
                .what = "20-swap.conf", .format = REPART_FORMAT_SWAP, .label = "swap", .size = 4 << 20,
                .workdir = dir,
        };
        assert_int_equal(uuid_parse("2aa26750-d987-4e93-ae1c-f85a93aa44e1", req.fs_uuid), 0);
        uint64_t size = 0;
        assert_int_equal(repart_format_build(&req, out, &size), 0);
        assert_int_equal(size, 4 << 20);
        int fd = open(out, O_RDONLY);
        char sig[10];
        assert_int_equal(pread(fd, sig, 10, 4096 - 10), 10);
        assert_memory_equal(sig, "SWAPSPACE2", 10);
        uint8_t uuid[16];
        assert_int_equal(pread(fd, uuid, 16, 1024 + 12), 16);
        assert_memory_equal(uuid, req.fs_uuid, 16);
        close(fd);
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(access(dir, F_OK), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_labels),
                cmocka_unit_test(test_copy_sparse),
                cmocka_unit_test(test_build_swap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
