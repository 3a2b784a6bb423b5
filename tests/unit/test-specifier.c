/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/parttype.h"
#include "base/specifier.h"
#include "base/util.h"

#include "test-files.h"

static char *expand(const struct specifier_context *c, const char *s) {
        char *r = NULL;
        assert_int_equal(specifier_expand(c, s, NULL, &r), 0);
        return r;
}

static void test_os_release(void **state) {
        (void) state;
        char *root = scratch_new();
        scratch_write(root, "etc/os-release",
                      "# comment\n"
                      "ID=appliance\n"
                      "VERSION_ID=\"12\"\n"
                      "IMAGE_ID='store'\n"
                      "IMAGE_VERSION=\"1.2.3\"\n"
                      "BUILD_ID=\"b \\\"7\\\"\"\n"
                      "VARIANT_ID=edge  \n"
                      "BROKEN=\"unterminated\n");
        scratch_write(root, "usr/lib/os-release", "IMAGE_VERSION=9.9\n");
        struct specifier_context *c;
        assert_int_equal(specifier_context_new(root, &c), 0);
        assert_string_equal(specifier_os_release(c, "IMAGE_VERSION"), "1.2.3");
        assert_null(specifier_os_release(c, "BROKEN"));
        assert_null(specifier_os_release(c, "PRETTY_NAME"));

        _cleanup_free_ char *a = expand(c, "%o_%w_%M_%A_%B_%W_100%%");
        assert_string_equal(a, "appliance_12_store_1.2.3_b \"7\"_edge_100%");
        /* A missing field expands to nothing. */
        scratch_free(root);
        specifier_context_free(c);

        root = scratch_new();
        scratch_write(root, "usr/lib/os-release", "IMAGE_VERSION=9.9\n");
        assert_int_equal(specifier_context_new(root, &c), 0);
        _cleanup_free_ char *b = expand(c, "v%A-%w.");
        assert_string_equal(b, "v9.9-.");
        specifier_context_free(c);
        scratch_free(root);

        /* No os-release at all: every field is empty, no error. */
        root = scratch_new();
        assert_int_equal(specifier_context_new(root, &c), 0);
        _cleanup_free_ char *e = expand(c, "[%A]");
        assert_string_equal(e, "[]");
        assert_int_equal(specifier_expand(c, "%m", NULL, &a), -ENXIO);
        specifier_context_free(c);
        scratch_free(root);
}

static void test_system(void **state) {
        (void) state;
        char *root = scratch_new();
        scratch_write(root, "etc/machine-id", "0123456789ABCDEF0123456789abcdef\n");
        scratch_write(root, "etc/machine-info", "PRETTY_HOSTNAME=\"Kitchen Box\"\n");
        struct specifier_context *c;
        assert_int_equal(specifier_context_new(root, &c), 0);

        _cleanup_free_ char *m = expand(c, "%m");
        assert_string_equal(m, "0123456789abcdef0123456789abcdef");
        _cleanup_free_ char *a = expand(c, "%a");
        assert_string_equal(a, native_architecture());
        _cleanup_free_ char *q = expand(c, "%q");
        assert_string_equal(q, "Kitchen Box");

        char host[256] = "";
        assert_int_equal(gethostname(host, sizeof host - 1), 0);
        _cleanup_free_ char *h = expand(c, "%H");
        assert_string_equal(h, host);
        _cleanup_free_ char *l = expand(c, "%l");
        assert_null(strchr(l, '.'));
        assert_int_equal(strncmp(l, host, strlen(l)), 0);

        _cleanup_free_ char *b = expand(c, "%b");
        assert_int_equal(strlen(b), 32);
        assert_int_equal(strspn(b, "0123456789abcdef"), 32);

        setenv("TMPDIR", "/scratch", 1);
        _cleanup_free_ char *t = expand(c, "%T:%V");
        assert_string_equal(t, "/scratch:/scratch");
        setenv("TMPDIR", "relative", 1);
        _cleanup_free_ char *t2 = expand(c, "%T:%V");
        assert_string_equal(t2, "/tmp:/var/tmp");
        unsetenv("TMPDIR");

        specifier_context_free(c);
        scratch_free(root);
}

static void test_errors_and_extra(void **state) {
        (void) state;
        struct specifier_context *c;
        char *root = scratch_new();
        assert_int_equal(specifier_context_new(root, &c), 0);
        char *r = NULL;
        assert_int_equal(specifier_expand(c, "a%z", NULL, &r), -EBADMSG);
        assert_int_equal(specifier_expand(c, "trailing%", NULL, &r), -EBADMSG);
        assert_null(r);

        char *extra[] = { "tlinux-generic", "n3", NULL };
        assert_int_equal(specifier_expand(c, "%t-%n%%", extra, &r), 0);
        assert_string_equal(r, "linux-generic-3%");
        free(r);
        _cleanup_free_ char *plain = expand(c, "no specifiers at all");
        assert_string_equal(plain, "no specifiers at all");
        specifier_context_free(c);
        scratch_free(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_os_release),
                cmocka_unit_test(test_system),
                cmocka_unit_test(test_errors_and_extra),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
