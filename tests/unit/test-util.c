/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static void test_paths(void **state) {
        (void) state;
        assert_true(path_is_normalized("/"));
        assert_true(path_is_normalized("/EFI/Linux"));
        assert_true(path_is_normalized("a/b"));
        assert_false(path_is_normalized("/EFI//Linux"));
        assert_false(path_is_normalized("/EFI/Linux/"));
        assert_false(path_is_normalized("/a/./b"));
        assert_false(path_is_normalized("/a/../b"));
        assert_false(path_is_normalized(""));
        _cleanup_free_ char *j = path_join("/srv/", "/SHA256SUMS");
        assert_string_equal(j, "/srv/SHA256SUMS");
        _cleanup_free_ char *r = path_prefix_root("/tmp/root", "/etc/os-release");
        assert_string_equal(r, "/tmp/root/etc/os-release");
        _cleanup_free_ char *h = path_prefix_root(NULL, "/etc/os-release");
        assert_string_equal(h, "/etc/os-release");
        assert_true(filename_is_valid("a.raw"));
        assert_false(filename_is_valid(".."));
        assert_false(filename_is_valid("a/b"));
}

static void test_path_dirname(void **state) {
        (void) state;
        char *d = NULL;
        assert_int_equal(path_dirname("/var/lib/app.raw", &d), 0);
        assert_string_equal(d, "/var/lib");
        free(d);
        assert_int_equal(path_dirname("/app.raw", &d), 0);
        assert_string_equal(d, "/");
        free(d);
        assert_int_equal(path_dirname("img/disk.raw", &d), 0);
        assert_string_equal(d, "img");
        free(d);
        assert_int_equal(path_dirname("disk.raw", &d), -EINVAL);
}

static void test_string_table(void **state) {
        (void) state;
        static const char *const table[] = { [0] = "zero", [2] = "two" };
        assert_string_equal(string_table_to_string(table, ELEMENTSOF(table), 2), "two");
        assert_null(string_table_to_string(table, ELEMENTSOF(table), 1));
        assert_null(string_table_to_string(table, ELEMENTSOF(table), 3));
        assert_null(string_table_to_string(table, ELEMENTSOF(table), -1));
        assert_int_equal(string_table_from_string(table, ELEMENTSOF(table), "zero"), 0);
        assert_int_equal(string_table_from_string(table, ELEMENTSOF(table), "two"), 2);
        assert_int_equal(string_table_from_string(table, ELEMENTSOF(table), "one"), -1);
        assert_int_equal(string_table_from_string(table, ELEMENTSOF(table), NULL), -1);
}

static void test_strv(void **state) {
        (void) state;
        _cleanup_strv_free_ char **l = NULL;
        assert_int_equal(strv_split_whitespace("  a b\tc  ", &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[2], "c");
        assert_true(strv_contains(l, "b"));
        assert_false(strv_contains(l, "d"));
        assert_int_equal(strv_extend(&l, "d"), 0);
        assert_true(strv_contains(l, "d"));
}

static void test_uuid(void **state) {
        (void) state;
        uint8_t id[16], id2[16];
        char s[37];
        assert_int_equal(uuid_parse("0FC63DAF-8483-4772-8E79-3D69D8477DE4", id), 0);
        uuid_format(id, s);
        assert_string_equal(s, "0fc63daf-8483-4772-8e79-3d69d8477de4");
        assert_int_equal(uuid_parse("0fc63daf848347728e793d69d8477de4", id2), 0);
        assert_memory_equal(id, id2, 16);
        assert_int_equal(uuid_parse("0fc63daf-8483-4772-8e79-3d69d8477de", id), -EINVAL);
        assert_int_equal(uuid_parse("0fc63daf+8483-4772-8e79-3d69d8477de4", id), -EINVAL);
        assert_int_equal(uuid_parse("zfc63daf848347728e793d69d8477de4", id), -EINVAL);
}

static void test_parse(void **state) {
        (void) state;
        uint64_t v;
        assert_int_equal(parse_size("10M", &v), 0);
        assert_int_equal(v, 10 * 1024 * 1024);
        assert_int_equal(parse_size("2G", &v), 0);
        assert_int_equal(v, 2ULL << 30);
        assert_int_equal(parse_size("4096", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(parse_size("1X", &v), -EINVAL);
        assert_int_equal(parse_size("-1", &v), -EINVAL);
        assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
        assert_int_equal(parse_boolean("yes"), 1);
        assert_int_equal(parse_boolean("off"), 0);
        assert_int_equal(parse_boolean("maybe"), -EINVAL);
        assert_int_equal(parse_uint64("0444", 8, &v), 0);
        assert_int_equal(v, 0444);
        assert_int_equal(parse_uint64("12a", 10, &v), -EINVAL);
        char buf[16];
        assert_string_equal(format_bytes(buf, 512), "512 B");
        assert_string_equal(format_bytes(buf, 3 << 29), "1.5 GiB");
}

static void test_utf8(void **state) {
        (void) state;
        uint32_t c;
        assert_int_equal(utf8_decode("a", 1, &c), 1);
        assert_int_equal(c, 'a');
        assert_int_equal(utf8_decode("\xc3\xa4", 2, &c), 2);
        assert_int_equal(c, 0xe4);
        assert_int_equal(utf8_decode("\xf0\x9f\x98\x80", 4, &c), 4);
        assert_int_equal(c, 0x1f600);
        assert_int_equal(utf8_decode("\xf0\x9f\x98\x80", 3, &c), 0); /* truncated */
        assert_int_equal(utf8_decode("\xc0\xaf", 2, &c), 0);           /* overlong '/' */
        assert_int_equal(utf8_decode("\xed\xa0\x80", 3, &c), 0);      /* surrogate */
        assert_int_equal(utf8_decode("\xf4\x90\x80\x80", 4, &c), 0); /* beyond U+10FFFF */
        assert_int_equal(utf8_decode("\xff", 1, &c), 0);
        assert_int_equal(utf8_decode("\xc3" "a", 2, &c), 0);               /* bad continuation */
}

static void test_timestamp_and_glyph(void **state) {
        (void) state;
        char buf[64];
        setenv("TZ", "UTC", 1);
        tzset();
        assert_string_equal(format_timestamp(buf, 1772600767123456ULL), "Wed 2026-03-04 05:06:07 UTC");
        setenv("TZ", "ABC-1", 1);
        tzset();
        assert_string_equal(format_timestamp(buf, 1772600767123456ULL), "Wed 2026-03-04 06:06:07 ABC");
        /* an explicit C locale is not UTF-8; the answer is kept for the whole process */
        setenv("LC_ALL", "C", 1);
        assert_false(is_locale_utf8());
        assert_string_equal(glyph("\u2713", "+"), "+");
        setenv("LC_ALL", "C.UTF-8", 1);
        assert_false(is_locale_utf8());
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_path_dirname),
                cmocka_unit_test(test_string_table),
                cmocka_unit_test(test_strv),
                cmocka_unit_test(test_uuid),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_timestamp_and_glyph),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
