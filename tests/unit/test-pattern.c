/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/pattern.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct pattern *compile(const char *s) {
        struct pattern *p = NULL;
        const char *reason = NULL;
        int r = pattern_compile(s, &p, &reason);
        if (r < 0)
                fail_msg("pattern \"%s\" refused: %s", s, reason);
        assert_non_null(p);
        assert_string_equal(pattern_string(p), s);
        return p;
}

static void assert_refused(const char *s, const char *reason) {
        struct pattern *p = NULL;
        const char *got = NULL;
        assert_int_equal(pattern_compile(s, &p, &got), -EINVAL);
        assert_null(p);
        assert_non_null(got);
        if (!streq(got, reason))
                fail_msg("pattern \"%s\": expected reason \"%s\", got \"%s\"", s, reason, got);
}

/* Match s against one pattern; returns the result and leaves the metadata in *m. */
static int match(const char *pattern, const char *s, struct instance_metadata *m) {
        struct pattern *p = compile(pattern);
        int r = pattern_match(p, s, m);
        pattern_free(p);
        return r;
}

static int match_no_metadata(const char *pattern, const char *s) {
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        int r = match(pattern, s, &m);
        if (r != PATTERN_YES)
                assert_null(m.version);
        return r;
}

static void test_lexer_errors(void **state) {
        (void) state;
        assert_refused("", "empty pattern");
        assert_refused("foo.raw", "no @v field");
        assert_refused("foo_@u.raw", "no @v field");
        assert_refused("@v@u", "two fields without a separator: @v@u");
        assert_refused("x_@l@d_@v", "two fields without a separator: @l@d");
        assert_refused("@v_@v", "@v occurs twice");
        assert_refused("@v_@h.@h", "@h occurs twice");
        assert_refused("foo_@v_@x", "unknown field after '@' (fields: @v @u @f @a @r @g @t @m @s @d @l @h; "
                                    "'@@' is a literal '@')");
        assert_refused("foo_@V", "unknown field after '@' (fields: @v @u @f @a @r @g @t @m @s @d @l @h; "
                                 "'@@' is a literal '@')");
        assert_refused("foo_@v@", "trailing '@' (write '@@' for a literal '@')");
        assert_refused("foo_@v.raw@@@", "trailing '@' (write '@@' for a literal '@')");
        assert_refused("foo*_@v", "reserved character '*'");
        assert_refused("foo$_@v", "reserved character '$'");
        assert_refused("foo?_@v", "reserved character '?'");
        assert_refused("foo[_@v", "reserved character '['");
        assert_refused("foo]_@v", "reserved character ']'");
        assert_refused("foo!_@v", "reserved character '!'");
        assert_refused("foo\\_@v", "reserved character '\\'");
        assert_refused("foo|_@v", "reserved character '|'");
        assert_refused("foo\t_@v", "control or non-ASCII character");
        assert_refused("foo_@v\x7f", "control or non-ASCII character");
        assert_refused("f\xc3\xb6_@v", "control or non-ASCII character");
        assert_refused("/foo_@v", "pattern starts with '/'");
        assert_refused("foo_@v//bar", "empty path component '//'");
        assert_refused("foo_@v/", "pattern ends with '/'");
        assert_refused("../foo_@v", "'.' or '..' as a path component");
        assert_refused("foo_@v/./bar", "'.' or '..' as a path component");
        assert_refused("foo_@v/..", "'.' or '..' as a path component");
}

static void test_lexer_accepts(void **state) {
        (void) state;
        struct pattern *p = compile("foo bar_@v_@u.@f-@a-@r-@g-@t-@m-@s-@d-@l-@h~x");
        for (const char *f = "vufargtmsdlh"; *f; f++)
                assert_true(pattern_has_field(p, *f));
        assert_false(pattern_has_field(p, 'x'));
        assert_false(pattern_has_slash(p));
        pattern_free(p);

        p = compile("foo_@v/bar.efi");
        assert_true(pattern_has_slash(p));
        assert_true(pattern_has_field(p, 'v'));
        assert_false(pattern_has_field(p, 'u'));
        pattern_free(p);

        /* A slash separates two fields; "..." and ".x" are ordinary names. */
        pattern_free(compile("@v/@u"));
        pattern_free(compile(".../.x_@v"));
        pattern_free(compile("@v"));
}

static void test_strict_end(void **state) {
        (void) state;
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        assert_int_equal(match("foo_@v.raw", "foo_1.raw", &m), PATTERN_YES);
        assert_string_equal(m.version, "1");
        assert_int_equal(match_no_metadata("foo_@v.raw", "foo_1.raw.tar"), PATTERN_NO);
        assert_int_equal(match_no_metadata("x.erofs_@v", "x.erofs_1.caibx"), PATTERN_YES);
        assert_int_equal(match_no_metadata("x_@v.erofs", "x_1.erofs.caibx"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v.raw", "foo_.raw"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v.raw", "bar_1.raw"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v.raw", "foo_1"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v.raw", ""), PATTERN_NO);
}

static void test_no_backtracking(void **state) {
        (void) state;
        assert_int_equal(match_no_metadata("a@vb", "a1b2b"), PATTERN_NO);
        assert_int_equal(match_no_metadata("a@vb", "a1b"), PATTERN_YES);

        /* The split is non-greedy: @v stops at the first '_'. */
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        assert_int_equal(match("foo_@v_@u.raw", "foo_1.2_f4d1234f3ebf47c4b31d4052982f9a2f.raw", &m),
                         PATTERN_YES);
        assert_string_equal(m.version, "1.2");
        assert_int_equal(match_no_metadata("foo_@v_@u.raw", "foo_1_2_f4d1234f3ebf47c4b31d4052982f9a2f.raw"),
                         PATTERN_NO);
}

static void test_foobaros(void **state) {
        (void) state;
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        assert_int_equal(match("foobarOS_@v_@u.root.xz",
                               "foobarOS_47_f4d1234f-3ebf-47c4-b31d-4052982f9a2f.root.xz", &m),
                         PATTERN_YES);
        assert_string_equal(m.version, "47");
        assert_true(m.has_uuid);
        char id[37];
        uuid_format(m.uuid, id);
        assert_string_equal(id, "f4d1234f-3ebf-47c4-b31d-4052982f9a2f");
        assert_false(m.has_flags);
        assert_int_equal(m.read_only, -1);

        struct pattern *target = compile("foobarOS_@v");
        _cleanup_free_ char *label = NULL;
        assert_int_equal(pattern_format(target, &m, &label, NULL), 0);
        assert_string_equal(label, "foobarOS_47");
        pattern_free(target);

        /* The UUID is formatted as 32 lower-case hex digits without dashes. */
        target = compile("foobarOS_@v_@u");
        _cleanup_free_ char *name = NULL;
        assert_int_equal(pattern_format(target, &m, &name, NULL), 0);
        assert_string_equal(name, "foobarOS_47_f4d1234f3ebf47c4b31d4052982f9a2f");
        pattern_free(target);

        /* Upper case and undashed UUIDs match too. */
        assert_int_equal(match_no_metadata("foobarOS_@v_@u.root.xz",
                                           "foobarOS_47_F4D1234F3EBF47C4B31D4052982F9A2F.root.xz"),
                         PATTERN_YES);
        assert_int_equal(match_no_metadata("foobarOS_@v_@u.root.xz",
                                           "foobarOS_47_f4d1234f-3ebf-47c4-b31d-4052982f9a2.root.xz"),
                         PATTERN_NO);
}

static void test_boot_counting(void **state) {
        (void) state;
        struct pattern *p[3] = {
                compile("appliance_@v+@l-@d.efi"),
                compile("appliance_@v+@l.efi"),
                compile("appliance_@v.efi"),
        };
        _cleanup_(instance_metadata_donep) struct instance_metadata m;

        instance_metadata_init(&m);
        assert_int_equal(pattern_match_many(p, 3, "appliance_2+3-0.efi", &m), PATTERN_YES);
        assert_string_equal(m.version, "2");
        assert_true(m.has_tries_left && m.tries_left == 3);
        assert_true(m.has_tries_done && m.tries_done == 0);
        instance_metadata_done(&m);

        assert_int_equal(pattern_match_many(p, 3, "appliance_2+2-1.efi", &m), PATTERN_YES);
        assert_string_equal(m.version, "2");
        assert_true(m.has_tries_left && m.tries_left == 2);
        assert_true(m.has_tries_done && m.tries_done == 1);
        instance_metadata_done(&m);

        assert_int_equal(pattern_match_many(p, 3, "appliance_2+3.efi", &m), PATTERN_YES);
        assert_true(m.has_tries_left && m.tries_left == 3);
        assert_false(m.has_tries_done);
        instance_metadata_done(&m);

        assert_int_equal(pattern_match_many(p, 3, "appliance_2.efi", &m), PATTERN_YES);
        assert_string_equal(m.version, "2");
        assert_false(m.has_tries_left);
        assert_false(m.has_tries_done);
        instance_metadata_done(&m);

        /* Neither counter parses, so the last pattern takes "2+x" as the version ('+' is valid). */
        assert_int_equal(pattern_match_many(p, 3, "appliance_2+x.efi", &m), PATTERN_YES);
        assert_string_equal(m.version, "2+x");
        instance_metadata_done(&m);

        assert_int_equal(pattern_match_many(p, 3, "appliance_2+3-0.efi.bak", &m), PATTERN_NO);
        assert_null(m.version);
        assert_int_equal(pattern_match_many(p, 0, "appliance_2.efi", &m), PATTERN_NO);

        /* A new entry is named with the first pattern. */
        m.version = strdup("3");
        m.has_tries_left = true;
        m.tries_left = 3;
        m.has_tries_done = true;
        m.tries_done = 0;
        _cleanup_free_ char *name = NULL;
        assert_int_equal(pattern_format(p[0], &m, &name, NULL), 0);
        assert_string_equal(name, "appliance_3+3-0.efi");

        for (size_t i = 0; i < 3; i++)
                pattern_free(p[i]);
}

static void test_slash(void **state) {
        (void) state;
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        assert_int_equal(match("foo_@v/bar.efi", "foo_1", &m), PATTERN_RETRY);
        assert_null(m.version);
        assert_int_equal(match("foo_@v/bar.efi", "foo_1/", &m), PATTERN_RETRY);
        assert_int_equal(match("foo_@v/bar.efi", "foo_1/bar.efi", &m), PATTERN_YES);
        assert_string_equal(m.version, "1");
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "foo_1/baz.efi"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "foo_1/bar.efi/x"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "foo_1/bar.efi.sig"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "foo_/bar.efi"), PATTERN_NO);
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "bar_1"), PATTERN_NO);
        /* "1.efi" is a valid version: this may be a directory holding bar.efi. */
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "foo_1.efi"), PATTERN_RETRY);
        assert_int_equal(match_no_metadata("foo_@v/bar.efi", "foo_1~efi"), PATTERN_NO);
        assert_int_equal(match_no_metadata("dir/foo_@v.efi", "dir"), PATTERN_RETRY);
        assert_int_equal(match_no_metadata("dir/foo_@v.efi", "dirx"), PATTERN_NO);
        assert_int_equal(match_no_metadata("dir/foo_@v.efi", "dir/foo_2.efi"), PATTERN_YES);
        assert_int_equal(match_no_metadata("@v/@u", "1/f4d1234f3ebf47c4b31d4052982f9a2f"), PATTERN_YES);

        struct pattern *p = compile("foo_@v/bar.efi");
        _cleanup_free_ char *name = NULL;
        assert_int_equal(pattern_format(p, &m, &name, NULL), 0);
        assert_string_equal(name, "foo_1/bar.efi");
        pattern_free(p);
}

static void test_match_many_order(void **state) {
        (void) state;
        struct pattern *p[2] = { compile("foo_@v/x"), compile("foo_@v") };
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        /* The first pattern says RETRY before the second one gets to say YES. */
        assert_int_equal(pattern_match_many(p, 2, "foo_1", &m), PATTERN_RETRY);
        assert_null(m.version);
        assert_int_equal(pattern_match_many(p + 1, 1, "foo_1", &m), PATTERN_YES);
        assert_string_equal(m.version, "1");
        pattern_free(p[0]);
        pattern_free(p[1]);
}

static void test_field_validation(void **state) {
        (void) state;
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);

        assert_int_equal(match("v@v_m@m", "v1_m0644", &m), PATTERN_YES);
        assert_true(m.has_mode);
        assert_int_equal(m.mode, 0644);
        assert_int_equal(match("v@v_m@m", "v1_m775", &m), PATTERN_YES);
        assert_int_equal(m.mode, 0775);
        assert_int_equal(match_no_metadata("v@v_m@m", "v1_m0777"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_m@m", "v1_m4755"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_m@m", "v1_m1775"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_m@m", "v1_m0648"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_m@m", "v1_m"), PATTERN_NO);

        assert_int_equal(match("v@v_f@f", "v1_f1000000000000000", &m), PATTERN_YES);
        assert_true(m.has_flags);
        assert_true(m.flags == UINT64_C(0x1000000000000000));
        assert_int_equal(match("v@v_f@f", "v1_fFF", &m), PATTERN_YES);
        assert_true(m.flags == 0xff);
        assert_int_equal(match_no_metadata("v@v_f@f", "v1_f0x10"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_f@f", "v1_f-1"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_f@f", "v1_f10000000000000000"), PATTERN_NO);

        assert_int_equal(match("v@v_a@a_r@r_g@g", "v1_ayes_r0_gon", &m), PATTERN_YES);
        assert_int_equal(m.no_auto, 1);
        assert_int_equal(m.read_only, 0);
        assert_int_equal(m.growfs, 1);
        assert_int_equal(match_no_metadata("v@v_a@a", "v1_amaybe"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_a@a", "v1_a2"), PATTERN_NO);

        assert_int_equal(match("v@v_s@s_t@t", "v1_s18446744073709551614_t1700000000000000", &m), PATTERN_YES);
        assert_true(m.has_size && m.size == UINT64_C(18446744073709551614));
        assert_true(m.has_mtime && m.mtime == UINT64_C(1700000000000000));
        assert_int_equal(match_no_metadata("v@v_s@s", "v1_s18446744073709551615"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_s@s", "v1_s18446744073709551616"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_t@t", "v1_t18446744073709551615"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_s@s", "v1_s+1"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_s@s", "v1_s 1"), PATTERN_NO);
        assert_int_equal(match_no_metadata("v@v_s@s", "v1_s1k"), PATTERN_NO);

        assert_int_equal(match("v@v_d@d_l@l", "v1_d007_l3", &m), PATTERN_YES);
        assert_true(m.has_tries_done && m.tries_done == 7);
        assert_true(m.has_tries_left && m.tries_left == 3);
        assert_int_equal(match_no_metadata("v@v_d@d", "v1_d-1"), PATTERN_NO);

        static const char hash[] = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        char name[100];
        snprintf(name, sizeof(name), "v1_h%s", hash);
        assert_int_equal(match("v@v_h@h", name, &m), PATTERN_YES);
        assert_true(m.has_sha256);
        assert_int_equal(m.sha256[0], 0xe3);
        assert_int_equal(m.sha256[31], 0x55);
        name[strlen(name) - 1] = 0;
        assert_int_equal(match_no_metadata("v@v_h@h", name), PATTERN_NO);
        name[strlen(name) - 1] = 'g';
        assert_int_equal(match_no_metadata("v@v_h@h", name), PATTERN_NO);

        /* Versions must pass version_is_valid(). */
        assert_int_equal(match_no_metadata("x_@v", "x_1~2"), PATTERN_NO);
        assert_int_equal(match_no_metadata("x_@v", "x_1 2"), PATTERN_NO);
        assert_int_equal(match_no_metadata("@v", "1,rc1.2-3_4+5"), PATTERN_YES);
}

static void test_match_keeps_other_fields(void **state) {
        (void) state;
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        m.has_sha256 = true;
        memset(m.sha256, 0xab, sizeof(m.sha256));
        m.version = strdup("old");
        assert_int_equal(match("x_@v", "x_2", &m), PATTERN_YES);
        assert_string_equal(m.version, "2");
        assert_true(m.has_sha256);
        assert_int_equal(m.sha256[5], 0xab);
        /* NO leaves the metadata untouched. */
        assert_int_equal(match("x_@v_@u", "x_3_zz", &m), PATTERN_NO);
        assert_string_equal(m.version, "2");
        assert_false(m.has_uuid);
}

static void test_literal_at(void **state) {
        (void) state;
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        assert_int_equal(match("a@@b_@v", "a@b_5", &m), PATTERN_YES);
        assert_string_equal(m.version, "5");
        assert_int_equal(match_no_metadata("a@@b_@v", "a@@b_5"), PATTERN_NO);
        struct pattern *p = compile("@v@@host");
        _cleanup_free_ char *name = NULL;
        assert_int_equal(pattern_format(p, &m, &name, NULL), 0);
        assert_string_equal(name, "5@host");
        pattern_free(p);
}

static void test_format(void **state) {
        (void) state;
        struct pattern *p = compile("x_@v_@u_@f_@a@@@r@@@g_@t_@m_@s_@d_@l_@h");
        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        _cleanup_free_ char *name = NULL;
        char missing = 0;

        assert_int_equal(pattern_format(p, &m, &name, &missing), -ENXIO);
        assert_int_equal(missing, 'v');
        assert_null(name);
        m.version = strdup("1.2");
        assert_int_equal(pattern_format(p, &m, &name, &missing), -ENXIO);
        assert_int_equal(missing, 'u');
        assert_int_equal(uuid_parse("F4D1234F-3EBF-47C4-B31D-4052982F9A2F", m.uuid), 0);
        m.has_uuid = true;
        m.has_flags = true;
        m.flags = UINT64_C(0x9000000000000000);
        m.no_auto = 1;
        m.read_only = 0;
        assert_int_equal(pattern_format(p, &m, &name, &missing), -ENXIO);
        assert_int_equal(missing, 'g');
        m.growfs = 1;
        m.has_mtime = true;
        m.mtime = 1700000000123456;
        m.has_mode = true;
        m.mode = 044;
        m.has_size = true;
        m.size = 4096;
        m.has_tries_done = true;
        m.tries_done = 0;
        m.has_tries_left = true;
        m.tries_left = 3;
        assert_int_equal(pattern_format(p, &m, &name, &missing), -ENXIO);
        assert_int_equal(missing, 'h');
        m.has_sha256 = true;
        for (size_t i = 0; i < 32; i++)
                m.sha256[i] = (uint8_t) (i * 8 + 0xa);
        assert_int_equal(pattern_format(p, &m, &name, &missing), 0);
        assert_string_equal(name, "x_1.2_f4d1234f3ebf47c4b31d4052982f9a2f_9000000000000000_1@0@1_"
                                  "1700000000123456_044_4096_0_3_"
                                  "0a121a222a323a424a525a626a727a828a929aa2aab2bac2cad2dae2eaf2fa02");

        /* Round trip: matching the formatted name gives the same values back. */
        _cleanup_(instance_metadata_donep) struct instance_metadata back;
        instance_metadata_init(&back);
        assert_int_equal(pattern_match(p, name, &back), PATTERN_YES);
        assert_string_equal(back.version, m.version);
        assert_memory_equal(back.uuid, m.uuid, 16);
        assert_true(back.flags == m.flags);
        assert_int_equal(back.no_auto, 1);
        assert_int_equal(back.read_only, 0);
        assert_int_equal(back.growfs, 1);
        assert_true(back.mtime == m.mtime);
        assert_int_equal(back.mode, 044);
        assert_true(back.size == 4096);
        assert_true(back.tries_done == 0 && back.has_tries_done);
        assert_true(back.tries_left == 3);
        assert_memory_equal(back.sha256, m.sha256, 32);
        pattern_free(p);

        p = compile("m@m_@v");
        m.mode = 0;
        free(name);
        name = NULL;
        assert_int_equal(pattern_format(p, &m, &name, NULL), 0);
        assert_string_equal(name, "m000_1.2");
        pattern_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lexer_errors),
                cmocka_unit_test(test_lexer_accepts),
                cmocka_unit_test(test_strict_end),
                cmocka_unit_test(test_no_backtracking),
                cmocka_unit_test(test_foobaros),
                cmocka_unit_test(test_boot_counting),
                cmocka_unit_test(test_slash),
                cmocka_unit_test(test_match_many_order),
                cmocka_unit_test(test_field_validation),
                cmocka_unit_test(test_match_keeps_other_fields),
                cmocka_unit_test(test_literal_at),
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
