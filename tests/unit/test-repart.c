/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-format.h"
#include "image/repart.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test-repart-XXXXXX";

static void put(const char *name, const char *text) {
        _cleanup_free_ char *p = path_join(dir, name);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static struct repart_options options(char **defs, const char *image) {
        struct repart_options o = { .definitions = defs, .size = UINT64_MAX, .seed_set = true, .image = image };
        assert_int_equal(uuid_parse("0867da16-f251-457d-a9e8-c31f9a3c220b", o.seed), 0);
        return o;
}

static void test_empty_names(void **state) {
        (void) state;
        assert_int_equal(repart_empty_from_string("refuse"), REPART_EMPTY_REFUSE);
        assert_int_equal(repart_empty_from_string("create"), REPART_EMPTY_CREATE);
        assert_int_equal(repart_empty_from_string("force"), REPART_EMPTY_FORCE);
        assert_int_equal(repart_empty_from_string("maybe"), _REPART_EMPTY_INVALID);
}

static void test_plan_and_apply(void **state) {
        (void) state;
        _cleanup_free_ char *defs_dir = path_join(dir, "defs"), *img = path_join(dir, "disk.raw");
        assert_int_equal(mkdir(defs_dir, 0755), 0);
        put("defs/10-root.conf", "[Partition]\nType=root\nSizeMinBytes=8M\nSizeMaxBytes=8M\nSplitName=root\n");
        put("defs/20-data.conf", "[Partition]\nType=linux-generic\nLabel=data_%%\nSplitName=-\n");
        char *defs[] = { defs_dir, NULL };

        /* dry run of a new image: the plan, and no file */
        struct repart_options o = options(defs, img);
        o.empty = REPART_EMPTY_CREATE;
        o.size_auto = true;
        o.dry_run = true;
        o.split = true;
        struct repart_result res;
        assert_int_equal(repart_run(&o, &res), 0);
        assert_int_equal(access(img, F_OK), -1);
        assert_int_equal(res.n, 2);
        assert_true(res.changed);
        assert_int_equal(res.disk_size, 1044 * 1024 + 8 * 1024 * 1024 + 10 * 1024 * 1024);
        assert_string_equal(res.partitions[0].type, "root-x86-64");
        assert_string_equal(res.partitions[0].label, "root-x86-64");
        assert_string_equal(res.partitions[0].activity, "create");
        assert_int_equal(res.partitions[0].offset, 1024 * 1024);
        assert_int_equal(res.partitions[1].offset, 9 * 1024 * 1024);
        assert_string_equal(res.partitions[1].label, "data_%");
        _cleanup_free_ char *split = path_join(dir, "disk.root.raw"), *node = strprintf("%s2", img);
        assert_string_equal(res.partitions[0].split_path, split);
        assert_null(res.partitions[1].split_path);
        assert_string_equal(res.partitions[1].node, node);
        repart_result_done(&res);

        /* for real, then again: nothing left to do */
        o.dry_run = false;
        assert_int_equal(repart_run(&o, &res), 0);
        repart_result_done(&res);
        struct stat st;
        assert_int_equal(stat(split, &st), 0);
        assert_int_equal(st.st_size, 8 * 1024 * 1024);
        o = options(defs, img);
        assert_int_equal(repart_run(&o, &res), 0);
        assert_false(res.changed);
        assert_string_equal(res.partitions[0].activity, "unchanged");
        assert_string_equal(res.partitions[1].activity, "unchanged");
        repart_result_done(&res);

        /* --empty=create refuses an existing file and leaves it alone */
        o.empty = REPART_EMPTY_CREATE;
        o.size_auto = true;
        o.dry_run = false;
        assert_int_equal(repart_run(&o, &res), -EEXIST);
        assert_int_equal(stat(img, &st), 0);
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        return rm_rf(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_names),
                cmocka_unit_test(test_plan_and_apply),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
