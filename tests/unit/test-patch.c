/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/patch.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>

static void test_name_roundtrip(void **state) {
        (void) state;
        _cleanup_free_ char *n = patch_name("1.2_3", "appliance_2.store.raw");
        assert_string_equal(n, "@delta@1.2_3@appliance_2.store.raw");
        assert_true(patch_name_is(n));
        _cleanup_free_ char *base = NULL;
        const char *target = NULL;
        assert_int_equal(patch_name_parse(n, &base, &target), 0);
        assert_string_equal(base, "1.2_3");
        assert_string_equal(target, "appliance_2.store.raw");
        /* a target name with '@' of its own: the version ends at the first one */
        _cleanup_free_ char *m = patch_name("7", "a@b_8.raw");
        _cleanup_free_ char *b2 = NULL;
        assert_int_equal(patch_name_parse(m, &b2, &target), 0);
        assert_string_equal(b2, "7");
        assert_string_equal(target, "a@b_8.raw");
}

static void test_name_rejects(void **state) {
        (void) state;
        _cleanup_free_ char *base = NULL;
        const char *target = NULL;
        assert_null(patch_name("", "x"));
        assert_null(patch_name("1/2", "x"));
        assert_false(patch_name_is("appliance_1.raw"));
        assert_int_equal(patch_name_parse("appliance_1.raw", &base, &target), -EINVAL);
        assert_int_equal(patch_name_parse("@delta@1", &base, &target), -EINVAL);
        assert_int_equal(patch_name_parse("@delta@1@", &base, &target), -EINVAL);
        assert_int_equal(patch_name_parse("@delta@@x", &base, &target), -EINVAL);
        assert_int_equal(patch_name_parse("@delta@a b@x", &base, &target), -EINVAL);
        assert_null(base);
}

static void test_header_roundtrip(void **state) {
        (void) state;
        struct patch_header h = { .base_size = 335544320, .target_size = 0x0102030405060708ULL }, g;
        uint8_t buf[PATCH_HEADER_SIZE];
        memset(h.base_sha256, 0xab, 32);
        memset(h.target_sha256, 0xcd, 32);
        patch_header_format(&h, buf);
        assert_memory_equal(buf, "ABOTAPT1", 8);
        assert_int_equal(buf[16], 0x08); /* little endian */
        assert_int_equal(patch_header_parse(buf, &g), 0);
        assert_int_equal(g.base_size, h.base_size);
        assert_int_equal(g.target_size, h.target_size);
        assert_memory_equal(g.base_sha256, h.base_sha256, 32);
        assert_memory_equal(g.target_sha256, h.target_sha256, 32);
        buf[0] = 'X';
        assert_int_equal(patch_header_parse(buf, &g), -EBADMSG);
}

static void test_window_log(void **state) {
        (void) state;
        assert_int_equal(patch_window_log(0, 0), 10);
        assert_int_equal(patch_window_log(512, 512), 10);
        assert_int_equal(patch_window_log(1024, 1), 11);
        /* two 320 MiB ext4 images: a 1 GiB window, as zstd --long=30 */
        assert_int_equal(patch_window_log(320ULL << 20, 320ULL << 20), 30);
        assert_int_equal(patch_window_log(1ULL << 40, 1), PATCH_WINDOW_LOG_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_name_roundtrip),
                cmocka_unit_test(test_name_rejects),
                cmocka_unit_test(test_header_roundtrip),
                cmocka_unit_test(test_window_log),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
