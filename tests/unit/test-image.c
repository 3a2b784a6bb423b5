/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/fs-access.h"
#include "agent/image.h"
#include "base/util.h"
#include "tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#define USR_X86_64 "8484680C-9521-48C6-9C11-B0720656F69E"
#define GENERIC "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
#define ESP "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

/* name.img: a GPT with 2 MiB partitions (type, label), partition i holding an ext4 made from
 * the directory trees[i] (NULL: nothing). */
static char *make_image(const char *name, const char *const *types, const char *const *labels,
                        const char *const *trees, size_t n) {
        char *img = path_join(tmpdir, name);
        _cleanup_free_ char *cmd = strprintf("truncate -s %zuM '%s'", 2 * n + 2, img);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        _cleanup_free_ char *script = strdup("label: gpt\n");
        for (size_t i = 0; i < n; i++) {
                char *s = strprintf("%ssize=2MiB, type=%s, name=%s\n", script, types[i], labels[i]);
                free(script);
                script = s;
        }
        cmd = strprintf("printf '%s' | sfdisk -q '%s'", script, img);
        assert_int_equal(system(cmd), 0);
        for (size_t i = 0; i < n; i++) {
                if (!trees[i])
                        continue;
                free(cmd);
                cmd = strprintf("rm -f '%s.p' && truncate -s 2M '%s.p' && mkfs.ext4 -q -d '%s/%s' '%s.p' && "
                                "dd if='%s.p' of='%s' bs=1M seek=%zu conv=notrunc status=none",
                                img, img, tmpdir, trees[i], img, img, img, 1 + 2 * i);
                assert_int_equal(system(cmd), 0);
        }
        return img;
}

static void tree(const char *name, const char *file, const char *version) {
        _cleanup_free_ char *cmd = strprintf("mkdir -p '%s/%s/%s' && echo IMAGE_VERSION=%s >'%s/%s/%s/os-release'",
                                             tmpdir, name, file, version, tmpdir, name, file);
        assert_int_equal(system(cmd), 0);
}

static bool root_has(const struct image *img, const char *rel) {
        _cleanup_free_ char *p = path_join(img->root, rel);
        return access(p, F_OK) == 0;
}

static void test_generic_newest_label(void **state) {
        (void) state;
        if (geteuid() != 0)
                skip();
        tree("v1", "usr/lib", "1");
        tree("v2", "usr/lib", "2");
        tree("data", "srv", "9"); /* no os-release where one belongs */
        const char *types[] = { ESP, GENERIC, GENERIC, GENERIC, GENERIC };
        const char *labels[] = { "esp", "store_1", "store_2", "_empty", "data" };
        const char *trees[] = { NULL, "v1", "v2", "v2", "data" };
        _cleanup_free_ char *path = make_image("generic.img", types, labels, trees, 5);
        struct image *img = NULL;
        assert_int_equal(image_open(path, true, &img), 0);
        assert_string_equal(img->root_label, "store_2"); /* not `_empty`, though it holds a newer copy */
        assert_true(root_has(img, "usr/lib/os-release"));
        assert_non_null(img->esp);
        assert_int_equal(img->esp->offset, 1024 * 1024);
        assert_null(img->xbootldr);
        image_close(img);
}

static void test_usr_partition_preferred(void **state) {
        (void) state;
        if (geteuid() != 0)
                skip();
        tree("usr", "lib", "3");
        tree("g", "usr/lib", "4");
        const char *types[] = { GENERIC, USR_X86_64 };
        const char *labels[] = { "store_4", "usr_3" };
        const char *trees[] = { "g", "usr" };
        _cleanup_free_ char *path = make_image("usr.img", types, labels, trees, 2);
        struct image *img = NULL;
        assert_int_equal(image_open(path, true, &img), 0);
        /* a usr partition is the /usr tree: mounted below usr/ */
        assert_string_equal(img->root_label, "usr_3");
        assert_true(root_has(img, "usr/lib/os-release"));
        assert_null(img->esp);
        _cleanup_free_ char *dir = strdup(img->tmpdir);
        image_close(img);
        assert_int_equal(access(dir, F_OK), -1); /* nothing left behind */
}

static void test_no_root(void **state) {
        (void) state;
        const char *types[] = { GENERIC };
        const char *labels[] = { "store_1" };
        const char *trees[] = { NULL };
        _cleanup_free_ char *path = make_image("none.img", types, labels, trees, 1);
        struct image *img = NULL;
        assert_int_equal(image_open(path, true, &img), -ENOENT);
        assert_int_equal(image_open(path, false, &img), 0);
        assert_null(img->root);
        image_close(img);
        assert_int_equal(image_open("/nonexistent.img", false, &img), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generic_newest_label),
                cmocka_unit_test(test_usr_partition_preferred),
                cmocka_unit_test(test_no_root),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
