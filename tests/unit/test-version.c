/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/util.h"
#include "sysupdate/version.h"

#include <string.h>

/* Versions may be NULL (unset); printf's %s must not see NULL. */
static const char *shown(const char *v) {
        return v ? v : "(null)";
}

/* a is older than b: checked in both directions, and each side equals itself. */
static void assert_older(const char *a, const char *b) {
        int ab = version_compare(a, b), ba = version_compare(b, a);
        if (ab >= 0 || ba <= 0)
                fail_msg("expected \"%s\" < \"%s\", got compare=%d, reverse=%d", shown(a), shown(b), ab, ba);
        assert_int_equal(version_compare(a, a), 0);
        assert_int_equal(version_compare(b, b), 0);
}

static void assert_same(const char *a, const char *b) {
        if (version_compare(a, b) != 0 || version_compare(b, a) != 0)
                fail_msg("expected \"%s\" == \"%s\"", shown(a), shown(b));
}

/* Each chain is oldest to newest: every adjacent pair, and (ordering is transitive) every later
 * element too. */
static void assert_chain(const char *const *chain, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        assert_older(chain[i], chain[j]);
}

static void test_canonical_chain(void **state) {
        (void) state;
        static const char *const chain[] = {
                "122.1",   "123~rc1-1", "123",     "123-a",   "123-a.1", "123-1",
                "123-1.1", "123^post1", "123.a-1", "123.1-1", "123a-1",  "124-1",
        };
        assert_chain(chain, ELEMENTSOF(chain));
}

static void test_numeric(void **state) {
        (void) state;
        assert_older("1.9", "1.10");
        assert_older("9", "10");
        assert_older("99999999999999999999998", "99999999999999999999999");
        assert_older("99999999999999999999999", "100000000000000000000000");
        assert_same("007", "7");
        assert_same("1.007", "1.7");
        assert_same("0", "00");
        assert_older("1.a", "1.1");
        /* An empty digit run loses even against a run of zeros. */
        assert_older("1.a", "1.0");
        assert_older("1.a", "1.00");
}

static void test_segments(void **state) {
        (void) state;
        static const char *const more[] = { "1", "1.0", "1.0.1" };
        assert_chain(more, ELEMENTSOF(more));
        assert_older("1.0~rc1", "1.0");
        assert_older("1.0~rc1", "1.0~rc2");
        /* Only the first of two '~' counts as a tilde (systemd 252 agrees): after the shared
         * one, "~" vs the end is an end-of-string comparison, and the longer side wins. */
        assert_older("1~", "1~~");
        assert_same("1~rc1", "1~rc1");
        static const char *const separators[] = { "1-2", "1^2", "1.2", "1a" };
        assert_chain(separators, ELEMENTSOF(separators));
}

static void test_alpha(void **state) {
        (void) state;
        assert_older("A", "a");
        assert_older("Z", "a");
        assert_older("abc", "abcd");
        assert_older("abcd", "abd");
        assert_older("abc", "abd");
        assert_older("1rc", "1rd");
}

static void test_invisible_separators(void **state) {
        (void) state;
        assert_same("123_a", "123a");
        assert_same("1+2", "1_2");
        assert_same("_1", "1");
        assert_same("1,", "1");
        /* '_' separates segments, it is not removed from inside one. */
        assert_older("1_2", "12");
}

static void test_empty(void **state) {
        (void) state;
        assert_same("", "");
        assert_same(NULL, "");
        assert_same(NULL, NULL);
        assert_same("_", "");
        assert_older("", "0");
        assert_older("", "a");
        assert_older("", "1.0");
        assert_older(NULL, "1");
        /* '~' is older than even the empty string. */
        assert_older("~", "");
        assert_older("~1", NULL);
}

static void test_sort(void **state) {
        (void) state;
        const char *list[] = { "2.10", "2.9", "2.9~rc1", "10", "2.9.1", "1", "2.9-1" };
        for (size_t i = 0; i < ELEMENTSOF(list); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(list); j++)
                        if (version_compare(list[i], list[j]) > 0) {
                                const char *t = list[i];
                                list[i] = list[j];
                                list[j] = t;
                        }
        static const char *const want[] = { "1", "2.9~rc1", "2.9", "2.9-1", "2.9.1", "2.10", "10" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(list[i], want[i]);
}

/* Random strings over the interesting characters, with the verdicts of systemd 252's
 * "systemd-analyze compare-versions" (Debian 12) as the reference. */
static void test_systemd_vectors(void **state) {
        (void) state;
        static const struct {
                const char *a, *b;
                int expected;
        } vectors[] = {
                /* After a shared '~' the ',' is not skipped before the digit step. */
                { "~0z+", "~,0_00Z02.1Z", 1 },
                { "~,0", "~0", -1 },
                { "1~_", "0", 1 },
                { "0Z.0^", "00", 1 },
                { "~020", "~0.02", 1 },
                { "_.0..~", "2", -1 },
                { "^", "a~", -1 },
                { "^0", "a^_10", -1 },
                { "._2Z0", "+0.0.", -1 },
                { "-_", "~Z-.-", 1 },
                { "a21", "20.a^-", -1 },
                { "+-a", "00^~1", -1 },
                { "1-~", "_", 1 },
                { "^", "ZZ+Z.", -1 },
                { ".-00", "-+_", 1 },
                { "0", "+a_._-", 1 },
                { "+~_", "0-Z", -1 },
                { ".0", "02a1", -1 },
                { "2~~-01", "~^a1", 1 },
                { "^a+~", "_~2", 1 },
                { "01", "2_", -1 },
                { "0-", "1aa01", -1 },
                { "^Z..", "1+^", -1 },
                { "__+0-", "^~~~~0", 1 },
                { "_~02", "2", -1 },
                { "10Z.", "0", 1 },
                { ".", "^0", 1 },
                { ".00", ".~", 1 },
                { "_a", ".Z-", 1 },
                { "0", "---a", 1 },
                { "1", "+", 1 },
                { "+a-", "1^02^Z", -1 },
                { "+^", "^", 0 },
                { "_0+", "^Z1", 1 },
                { "2^^", "Z_2.2", 1 },
                { "~+", "2^", -1 },
                { "Z+00", "-a2", 1 },
                { ".Z-+ZZ", "2", -1 },
                { "2", "2Z2-", -1 },
                { ".0-_Z", "0_0~+2", -1 },
                { "1~_Z", "+", 1 },
                { "-~+0", "11101.", -1 },
                { "_1..", "_Z1^", 1 },
                { "100+_", "^", 1 },
                { "1~220a", "a^", 1 },
                { ".Z", "^~1", 1 },
                { "+", "-_.", -1 },
                { "~^1^1", "^0-1.", -1 },
                { "1", "1-", -1 },
                { "+0^0Z", "^^^-0^", 1 },
                { "2", "a0", 1 },
                { "^", "^00-", -1 },
                { ".^.", "2+a-^", -1 },
                { "-^2+^", "^2-", -1 },
                { "~0", "-Z0_", -1 },
                { "~0", "_a", -1 },
                { "1", "__Z1a1", 1 },
                { "2+0~", "1_21", 1 },
                { "~^~Z~2", "Z0+", -1 },
                { "0Z^", "-+0~", 1 },
                { "^.a", "00200", -1 },
                { "a01", "1~_", -1 },
                { "~1^", ".-+Z0", -1 },
                { "0+1", "0a0_", 1 },
                { "a", ".", 1 },
                { "0a", "-", 1 },
        };
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                int r = version_compare(vectors[i].a, vectors[i].b);
                int got = (r > 0) - (r < 0);
                if (got != vectors[i].expected)
                        fail_msg("\"%s\" vs \"%s\": got %d, systemd says %d", vectors[i].a, vectors[i].b, got,
                                 vectors[i].expected);
        }
}

static void test_valid(void **state) {
        (void) state;
        assert_true(version_is_valid("1"));
        assert_true(version_is_valid("47.1-3"));
        assert_true(version_is_valid("2026_11_25+abc"));
        assert_true(version_is_valid("A.b-C"));
        assert_true(version_is_valid("1,2"));
        /* systemd-sysupdate 257: only alphanumerics and ".,_-+"; it never offers 1~rc1 */
        assert_false(version_is_valid("1~rc1"));
        assert_false(version_is_valid("1^post1"));
        assert_false(version_is_valid("."));
        assert_false(version_is_valid(".."));
        assert_false(version_is_valid(""));
        assert_false(version_is_valid(NULL));
        assert_false(version_is_valid("1/2"));
        assert_false(version_is_valid("1 2"));
        assert_false(version_is_valid("1@2"));
        assert_false(version_is_valid("1\n"));
        assert_false(version_is_valid("\xc3\xa9"));

        char buf[257];
        memset(buf, '7', sizeof(buf) - 1);
        buf[256] = 0;
        assert_false(version_is_valid(buf));
        buf[255] = 0;
        assert_true(version_is_valid(buf));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_canonical_chain),
                cmocka_unit_test(test_numeric),
                cmocka_unit_test(test_segments),
                cmocka_unit_test(test_alpha),
                cmocka_unit_test(test_invisible_separators),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_sort),
                cmocka_unit_test(test_systemd_vectors),
                cmocka_unit_test(test_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
