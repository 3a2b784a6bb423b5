/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/commit.h"
#include "sysupdate/transfer.h"
#include "tmpdir.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>


static char *make_file(const char *name, const char *content) {
        char *p = path_join(tmpdir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
        return p;
}

static void test_rename_commit(void **state) {
        (void) state;
        struct transfer t = { .id = (char *) "kernel" };
        struct install i = {
                .claim_fd = -1,
                .transfer = &t,
                .name = strdup("app_2+3-0.efi"),
                .temp_path = make_file(".#sysupdateapp_2+3-0.efi0011223344556677", "new"),
                .final_path = path_join(tmpdir, "app_2+3-0.efi"),
        };
        _cleanup_free_ char *final = strdup(i.final_path), *temp = strdup(i.temp_path);
        assert_int_equal(commit_install(&i, true), 0);
        assert_true(i.committed);
        install_done(&i);
        assert_int_equal(access(final, F_OK), 0);
        assert_int_equal(access(temp, F_OK), -1);

        /* an uncommitted temporary file is removed, the final name never appears */
        _cleanup_free_ char *final2 = path_join(tmpdir, "app_3+3-0.efi");
        struct install j = {
                .claim_fd = -1,
                .transfer = &t,
                .name = strdup("app_3+3-0.efi"),
                .temp_path = make_file(".#sysupdateapp_3+3-0.efi0011223344556677", "partial"),
                .final_path = strdup(final2),
        };
        _cleanup_free_ char *temp2 = strdup(j.temp_path);
        install_done(&j);
        assert_int_equal(access(temp2, F_OK), -1);
        assert_int_equal(access(final2, F_OK), -1);
}

static void test_rename_errors(void **state) {
        (void) state;
        _cleanup_free_ char *src = path_join(tmpdir, "missing"), *dst = path_join(tmpdir, "x");
        assert_int_equal(commit_rename(src, dst, true), -ENOENT);
        assert_int_equal(commit_sync_directory_of("/nonexistent/tmpdir/file"), -ENOENT);
        _cleanup_free_ char *f = make_file("a", "a");
        assert_int_equal(commit_sync_directory_of(f), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rename_commit),
                cmocka_unit_test(test_rename_errors),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
