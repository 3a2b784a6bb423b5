/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/btrfs.h"
#include "base/util.h"
#include "tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_not_btrfs(void **state) {
        (void) state;
        _cleanup_free_ char *sub = path_join(tmpdir, "sub");
        assert_false(btrfs_is_fs(tmpdir));
        assert_false(btrfs_is_subvolume(tmpdir));
        int r = btrfs_subvolume_create(sub);
        assert_true(r == -ENOTTY || r == -EOPNOTSUPP || r == -EINVAL);
        assert_int_equal(access(sub, F_OK), -1);
        assert_int_equal(btrfs_subvolume_create("/nonexistent/dir/sub"), -ENOENT);
}

/* On a loop-mounted btrfs (needs root, mkfs.btrfs and the btrfs module; skipped otherwise). */
static void test_subvolumes(void **state) {
        (void) state;
        _cleanup_free_ char *mnt = path_join(tmpdir, "mnt");
        _cleanup_free_ char *cmd = strprintf("truncate -s 128M '%s/b.img' && mkfs.btrfs -q '%s/b.img' >/dev/null 2>&1 && "
                                             "mkdir -p '%s' && mount -o loop '%s/b.img' '%s' 2>/dev/null",
                                             tmpdir, tmpdir, mnt, tmpdir, mnt);
        if (system(cmd) != 0)
                skip();
        _cleanup_free_ char *a = path_join(mnt, "a"), *b = path_join(mnt, "b"), *file = path_join(mnt, "a/file");
        _cleanup_free_ char *plain = path_join(mnt, "plain");
        assert_true(btrfs_is_fs(mnt));
        assert_int_equal(btrfs_subvolume_create(a), 0);
        assert_true(btrfs_is_subvolume(a));
        assert_int_equal(btrfs_subvolume_create(a), -EEXIST);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs("data\n", f);
        fclose(f);
        assert_int_equal(btrfs_subvolume_snapshot(a, b), 0);
        assert_true(btrfs_is_subvolume(b));
        _cleanup_free_ char *copy = path_join(b, "file");
        assert_int_equal(access(copy, F_OK), 0);
        assert_int_equal(mkdir(plain, 0755), 0);
        assert_false(btrfs_is_subvolume(plain));

        assert_int_equal(btrfs_subvolume_set_read_only(b, true), 0);
        assert_int_equal(unlink(copy), -1); /* read-only now */
        assert_int_equal(btrfs_subvolume_remove(b), 0); /* read-only and not empty */
        assert_int_equal(access(b, F_OK), -1);
        assert_int_equal(btrfs_subvolume_remove(a), 0);
        assert_int_equal(access(a, F_OK), -1);
        _cleanup_free_ char *umount = strprintf("umount '%s'", mnt);
        assert_int_equal(system(umount), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_not_btrfs),
                cmocka_unit_test(test_subvolumes),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
