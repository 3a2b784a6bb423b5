/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/definitions.h"
#include "base/log.h"
#include "base/util.h"

#include "test-files.h"

#define TRANSFER(pattern, extra)                                                                   \
        "[Transfer]\n" extra "[Source]\nType=url-file\nPath=http://localhost/\nMatchPattern=" pattern \
        "\n[Target]\nPath=/var/lib/os\n"

static void test_search_dirs(void **state) {
        (void) state;
        _cleanup_strv_free_ char **d = NULL, **c = NULL, **bad = NULL;
        assert_int_equal(definitions_search_dirs(NULL, &d), 0);
        assert_int_equal(strv_length(d), 4);
        assert_string_equal(d[0], "/etc/sysupdate.d");
        assert_string_equal(d[1], "/run/sysupdate.d");
        assert_string_equal(d[2], "/usr/local/lib/sysupdate.d");
        assert_string_equal(d[3], "/usr/lib/sysupdate.d");
        assert_int_equal(definitions_search_dirs("shim", &c), 0);
        assert_string_equal(c[3], "/usr/lib/sysupdate.shim.d");
        assert_int_equal(definitions_search_dirs("a/b", &bad), -EINVAL);
        assert_int_equal(definitions_search_dirs("x.component", &bad), -EINVAL);
        assert_int_equal(definitions_search_dirs("", &bad), -EINVAL);
}

static void test_load_root(void **state) {
        (void) state;
        char *root = scratch_new();
        scratch_write(root, "etc/os-release", "IMAGE_VERSION=7\n");
        scratch_write(root, "usr/lib/sysupdate.d/20-b.transfer", TRANSFER("b_@v", ""));
        scratch_write(root, "usr/lib/sysupdate.d/10-a.transfer", TRANSFER("vendor_@v", ""));
        scratch_write(root, "etc/sysupdate.d/10-a.transfer", TRANSFER("admin_@v", "ProtectVersion=%A\n"));
        scratch_write(root, "usr/lib/sysupdate.d/30-c.transfer", "this would not even parse\n");
        scratch_symlink(root, "etc/sysupdate.d/30-c.transfer", "/dev/null");
        scratch_write(root, "usr/lib/sysupdate.d/40-d.transfer", TRANSFER("d_@v", "Features=devel\n"));
        scratch_write(root, "usr/lib/sysupdate.d/50-e.transfer",
                      TRANSFER("e_@v", "Features=devel docs\nRequisiteFeatures=base\n"));
        scratch_write(root, "usr/lib/sysupdate.d/60-f.transfer", TRANSFER("f_@v", "RequisiteFeatures=base\n"));
        scratch_write(root, "usr/lib/sysupdate.d/70-g.transfer", TRANSFER("g_@v", "Features=unknown\n"));
        scratch_write(root, "usr/lib/sysupdate.d/devel.feature", "[Feature]\nEnabled=no\n");
        scratch_write(root, "usr/lib/sysupdate.d/docs.feature", "[Feature]\nEnabled=yes\n");
        scratch_write(root, "usr/lib/sysupdate.d/base.feature", "[Feature]\nEnabled=no\n");
        scratch_write(root, "etc/sysupdate.d/base.feature.d/50-enable.conf", "[Feature]\nEnabled=yes\n");

        struct definitions_options o = { .root = root, .root_mode = true };
        struct definitions *d;
        assert_int_equal(definitions_load(&o, &d), 0);
        assert_string_equal(d->os_image_version, "7");
        _cleanup_free_ char *etc = strprintf("%s/etc/sysupdate.d", root);
        assert_int_equal(strv_length(d->search_dirs), 4);
        assert_string_equal(d->search_dirs[0], etc);
        assert_int_equal(d->n_transfers, 6);
        assert_string_equal(d->transfers[0]->id, "10-a");
        assert_string_equal(d->transfers[0]->source.patterns_str[0], "admin_@v");
        assert_string_equal(d->transfers[0]->protect_versions[0], "7");
        assert_string_equal(d->transfers[1]->id, "20-b");
        assert_string_equal(d->transfers[2]->id, "40-d");
        assert_true(d->transfers[0]->enabled);
        assert_false(d->transfers[2]->enabled); /* its only feature is disabled */
        assert_true(d->transfers[3]->enabled);  /* docs enabled, base enabled through a drop-in */
        assert_true(d->transfers[4]->enabled);
        assert_false(d->transfers[5]->enabled); /* unknown features count as disabled */
        assert_int_equal(d->n_features, 3);
        assert_string_equal(d->features[0]->id, "base");
        assert_true(d->features[0]->enabled);
        definitions_free(d);

        /* --definitions=DIR is a host path even with --root. */
        _cleanup_free_ char *defs = strprintf("%s/usr/lib/sysupdate.d", root);
        o.definitions_dir = defs;
        assert_int_equal(definitions_load(&o, &d), -EINVAL); /* 30-c is not masked there */
        _cleanup_free_ char *c = strprintf("%s/30-c.transfer", defs);
        assert_int_equal(unlink(c), 0);
        assert_int_equal(definitions_load(&o, &d), 0);
        assert_string_equal(d->transfers[0]->source.patterns_str[0], "vendor_@v");
        assert_string_equal(d->os_image_version, "7"); /* os-release still from the root */
        assert_int_equal(strv_length(d->search_dirs), 1);
        assert_string_equal(d->search_dirs[0], defs);
        definitions_free(d);
        scratch_free(root);
}

static void test_conf_fallback_and_empty(void **state) {
        (void) state;
        char *root = scratch_new();
        struct definitions_options o = { .root = root };
        struct definitions *d = NULL;
        assert_int_equal(definitions_load(&o, &d), -ENOENT);
        assert_null(d);

        scratch_write(root, "usr/lib/sysupdate.d/old.conf", TRANSFER("old_@v", ""));
        assert_int_equal(definitions_load(&o, &d), 0);
        assert_int_equal(d->n_transfers, 1);
        assert_string_equal(d->transfers[0]->id, "old");
        definitions_free(d);

        /* Once there is a .transfer, .conf files are not read. */
        scratch_write(root, "usr/lib/sysupdate.d/new.transfer", TRANSFER("new_@v", ""));
        assert_int_equal(definitions_load(&o, &d), 0);
        assert_int_equal(d->n_transfers, 1);
        assert_string_equal(d->transfers[0]->id, "new");
        definitions_free(d);

        o.component = "shim";
        assert_int_equal(definitions_load(&o, &d), -ENOENT);
        scratch_write(root, "run/sysupdate.shim.d/shim.transfer", TRANSFER("shim_@v", ""));
        assert_int_equal(definitions_load(&o, &d), 0);
        assert_string_equal(d->transfers[0]->id, "shim");
        assert_null(d->os_image_version);
        definitions_free(d);
        scratch_free(root);
}

static void test_components(void **state) {
        (void) state;
        char *root = scratch_new();
        _cleanup_strv_free_ char **l = NULL;
        bool def = true;
        assert_int_equal(definitions_list_components(root, &def, &l), 0);
        assert_false(def);
        assert_int_equal(strv_length(l), 0);
        strv_free(l);

        scratch_mkdir(root, "usr/lib/sysupdate.d");
        scratch_write(root, "etc/sysupdate.shim.d/a.transfer", TRANSFER("a_@v", ""));
        scratch_mkdir(root, "usr/lib/sysupdate.apps.d");
        scratch_mkdir(root, "usr/local/lib/sysupdate.masked.d");
        scratch_symlink(root, "run/sysupdate.masked.d", "/dev/null");
        assert_int_equal(definitions_list_components(root, &def, &l), 0);
        assert_false(def); /* sysupdate.d exists but holds no transfer */
        assert_int_equal(strv_length(l), 2);
        assert_string_equal(l[0], "apps");
        assert_string_equal(l[1], "shim");
        strv_free(l);

        /* Older *.conf transfers make a default component too (and list quietly). */
        scratch_write(root, "usr/lib/sysupdate.d/old.conf", TRANSFER("old_@v", ""));
        assert_int_equal(definitions_list_components(root, &def, &l), 0);
        assert_true(def);
        strv_free(l);
        def = false;

        scratch_write(root, "usr/lib/sysupdate.d/x.transfer", TRANSFER("x_@v", ""));
        assert_int_equal(definitions_list_components(root, &def, &l), 0);
        assert_true(def);
        scratch_free(root);
}

int main(void) {
        log_set_max_level(LOG_ERR - 1); /* the expected errors are not output of interest here */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_search_dirs),
                cmocka_unit_test(test_load_root),
                cmocka_unit_test(test_conf_fallback_and_empty),
                cmocka_unit_test(test_components),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
