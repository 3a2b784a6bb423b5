/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/chase.h"
#include "base/util.h"
#include "tmpdir.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char root[256], host[256];

/* ROOT/{etc/os-release, efi -> /somewhere, up -> ../.., loop -> loop, rel -> etc} and a HOST
 * directory beside ROOT that the links would reach if followed on the host. */
static int setup(void **state) {
        if (tmpdir_setup(state) < 0)
                return -1;
        snprintf(root, sizeof(root), "%s/root", tmpdir);
        snprintf(host, sizeof(host), "%s/host", tmpdir);
        char p[512];
        if (mkdir(root, 0755) < 0 || mkdir(host, 0755) < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/etc", root);
        if (mkdir(p, 0755) < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/etc/os-release", root);
        FILE *f = fopen(p, "w");
        if (!f)
                return -1;
        fclose(f);
        snprintf(p, sizeof(p), "%s/efi", root);
        if (symlink(host, p) < 0) /* absolute, pointing outside */
                return -1;
        snprintf(p, sizeof(p), "%s/up", root);
        if (symlink("../..", p) < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/loop", root);
        if (symlink("loop", p) < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/rel", root);
        return symlink("etc", p);
}

static void expect(const char *path, unsigned flags, const char *want_below_root) {
        _cleanup_free_ char *got = NULL, *want = path_join(root, want_below_root);
        assert_int_equal(chase(root, path, flags, &got), 0);
        assert_string_equal(got, want);
}

static void test_plain_and_relative_links(void **state) {
        (void) state;
        expect("/etc/os-release", 0, "etc/os-release");
        expect("rel/os-release", 0, "etc/os-release");
        expect("/etc/../etc/./os-release", 0, "etc/os-release");
}

static void test_links_never_leave_the_root(void **state) {
        (void) state;
        /* the absolute link is taken relative to root: ROOT/<host path>, which does not exist */
        _cleanup_free_ char *got = NULL;
        assert_int_equal(chase(root, "/efi", 0, &got), -ENOENT);
        _cleanup_free_ char *inside = NULL;
        assert_int_equal(chase(root, "/efi/EFI/Linux", CHASE_NONEXISTENT, &inside), 0);
        assert_non_null(startswith(inside, root));
        assert_null(startswith(inside, host));
        _cleanup_free_ char *want = strprintf("%s%s/EFI/Linux", root, host);
        assert_string_equal(inside, want);
        /* ".." stops at root, through a link too */
        expect("/up/etc/os-release", 0, "etc/os-release");
        expect("/../../../etc/os-release", 0, "etc/os-release");
}

static void test_missing_tail(void **state) {
        (void) state;
        expect("/etc/missing/file", CHASE_NONEXISTENT, "etc/missing/file");
        expect("/rel/missing", CHASE_NONEXISTENT, "etc/missing");
        _cleanup_free_ char *got = NULL;
        assert_int_equal(chase(root, "/etc/missing", 0, &got), -ENOENT);
        assert_int_equal(chase(root, "/etc/missing/../../x", CHASE_NONEXISTENT, &got), -ENOENT);
}

static void test_loops_and_no_root(void **state) {
        (void) state;
        _cleanup_free_ char *got = NULL, *host_path = NULL;
        assert_int_equal(chase(root, "/loop/x", CHASE_NONEXISTENT, &got), -ELOOP);
        assert_int_equal(chase(NULL, "/etc/os-release", 0, &host_path), 0);
        assert_string_equal(host_path, "/etc/os-release");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_and_relative_links),
                cmocka_unit_test(test_links_never_leave_the_root),
                cmocka_unit_test(test_missing_tail),
                cmocka_unit_test(test_loops_and_no_root),
        };
        return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
