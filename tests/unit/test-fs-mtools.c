/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/fs-access.h"
#include "base/util.h"
#include "tmpdir.h"

#include <errno.h>
#include <stdio.h>

#define OFFSET (1024 * 1024)

/* A vfat file system 1 MiB into an image file, as an ESP sits in a disk image. */
static struct fs_access *make_fs(const char *name) {
        _cleanup_free_ char *img = path_join(tmpdir, name), *fat = strprintf("%s.fat", img);
        _cleanup_free_ char *cmd = strprintf("truncate -s 40M '%s' && mkfs.vfat -F 32 '%s' >/dev/null && "
                                             "truncate -s 1M '%s' && cat '%s' >>'%s'", fat, fat, img, fat, img);
        assert_non_null(cmd);
        assert_int_equal(system(cmd), 0);
        struct fs_access *fs = NULL;
        assert_int_equal(fs_access_new_mtools(img, OFFSET, "ESP of test", &fs), 0);
        return fs;
}

static void test_files(void **state) {
        (void) state;
        struct fs_access *fs = make_fs("esp.img");
        char **l = NULL;
        assert_int_equal(fs_list(fs, "/EFI/Linux", &l), -ENOENT);

        assert_int_equal(fs_make_dirs(fs, "/EFI/Linux/x.d"), 0);
        assert_int_equal(fs_make_dirs(fs, "/EFI/Linux"), 0); /* there already */
        assert_int_equal(fs_list(fs, "/EFI", &l), 0);
        assert_string_equal(l[0], "Linux/");
        assert_null(l[1]);
        strv_free(l);

        _cleanup_free_ char *local = path_join(tmpdir, "payload");
        FILE *f = fopen(local, "w");
        assert_non_null(f);
        for (int i = 0; i < 1000; i++)
                fputs("0123456789", f);
        fclose(f);
        assert_int_equal(fs_put(fs, local, "/EFI/Linux/.#sysupdateuki_1+3-0.efi1234"), 0);
        assert_int_equal(fs_rename(fs, "/EFI/Linux/.#sysupdateuki_1+3-0.efi1234", "/EFI/Linux/uki_1+3-0.efi"), 0);
        assert_int_equal(fs_sync(fs), 0);
        assert_int_equal(fs_list(fs, "/EFI/Linux", &l), 0);
        assert_string_equal(l[0], "x.d/");
        assert_string_equal(l[1], "uki_1+3-0.efi"); /* the long name, in directory order */
        assert_null(l[2]);
        strv_free(l);

        uint64_t size = 0, free_before = 0, free_after = 0;
        assert_int_equal(fs_file_size(fs, "/EFI/Linux/uki_1+3-0.efi", &size), 0);
        assert_int_equal(size, 10000);
        assert_int_equal(fs_file_size(fs, "/EFI/Linux/none.efi", &size), -ENOENT);
        assert_int_equal(fs_free_bytes(fs, &free_before), 0);
        assert_true(free_before > 30 * 1024 * 1024 && free_before < 40 * 1024 * 1024);

        /* a rename replaces the file there */
        assert_int_equal(fs_put(fs, local, "/EFI/Linux/new"), 0);
        assert_int_equal(fs_rename(fs, "/EFI/Linux/new", "/EFI/Linux/uki_1+3-0.efi"), 0);
        assert_int_equal(fs_list(fs, "/EFI/Linux", &l), 0);
        assert_int_equal(strv_length(l), 2);
        strv_free(l);

        assert_int_equal(fs_remove_dir(fs, "/EFI/Linux"), -ENOTEMPTY);
        assert_int_equal(fs_remove(fs, "/EFI/Linux/uki_1+3-0.efi"), 0);
        assert_int_equal(fs_remove(fs, "/EFI/Linux/uki_1+3-0.efi"), 0); /* gone already: fine */
        assert_int_equal(fs_free_bytes(fs, &free_after), 0);
        assert_true(free_after > free_before);
        assert_int_equal(fs_remove_dir(fs, "/EFI/Linux/x.d"), 0);
        assert_int_equal(fs_remove_dir(fs, "/EFI/Linux/x.d"), 0);
        assert_int_equal(fs_list(fs, "/EFI/Linux", &l), 0);
        assert_null(l[0]);
        strv_free(l);
        fs_access_free(fs);
}

static void test_not_fat(void **state) {
        (void) state;
        _cleanup_free_ char *img = path_join(tmpdir, "zero.img"), *cmd = strprintf("truncate -s 8M '%s'", img);
        assert_int_equal(system(cmd), 0);
        struct fs_access *fs = NULL;
        assert_int_equal(fs_access_new_mtools(img, OFFSET, "ESP of zero.img", &fs), 0);
        char **l = NULL;
        assert_int_equal(fs_list(fs, "/EFI", &l), -EMEDIUMTYPE);
        uint64_t n;
        assert_int_equal(fs_free_bytes(fs, &n), -EIO);
        fs_access_free(fs);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_not_fat),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
