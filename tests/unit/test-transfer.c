/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/log.h"
#include "base/parttype.h"
#include "base/specifier.h"
#include "sysupdate/transfer.h"
#include "base/util.h"

#include "test-files.h"

static char *dir;
static struct specifier_context *ctx;

static int setup(void **state) {
        (void) state;
        dir = scratch_new();
        scratch_write(dir, "root/etc/os-release", "IMAGE_VERSION=4.2\nVERSION_ID=12\n");
        _cleanup_free_ char *root = strprintf("%s/root", dir);
        log_set_max_level(LOG_ERR - 1); /* the expected errors are not output of interest here */
        return specifier_context_new(root, &ctx);
}

static int teardown(void **state) {
        (void) state;
        specifier_context_free(ctx);
        scratch_free(dir);
        return 0;
}

/* Writes content as NAME.transfer in a fresh directory and loads it. */
static int load_with(const char *name, const char *content, const struct transfer_parse_options *o,
                     struct transfer **ret) {
        _cleanup_free_ char *rel = strprintf("defs-%s/%s.transfer", name, name);
        _cleanup_free_ char *defs = strprintf("%s/defs-%s", dir, name);
        scratch_write(dir, rel, content);
        const char *dirs[] = { defs, NULL };
        struct transfer_parse_options opts = o ? *o : (struct transfer_parse_options) { 0 };
        opts.specifiers = ctx;
        opts.search_dirs = dirs;
        _cleanup_free_ char *p = strprintf("%s/%s", dir, rel);
        int r = transfer_load(p, &opts, ret);
        opts.search_dirs = NULL;
        return r;
}

static int load(const char *name, const char *content, struct transfer **ret) {
        return load_with(name, content, NULL, ret);
}

#define URL_SOURCE "[Source]\nType=url-file\nPath=https://example.com/os/\nMatchPattern=os_@v.raw.xz\n"

static void test_store_partition(void **state) {
        (void) state;
        struct transfer *t;
        assert_int_equal(load("store",
                              "[Transfer]\nVerify=no\n" URL_SOURCE
                              "[Target]\nType=partition\nPath=auto\nMatchPattern=store_@v\nInstancesMax=2\nReadOnly=yes\n"
                              "PartitionFlags=1000000000000000\nPartitionUUID=0FC63DAF848347728E793D69D8477DE4\n",
                              &t),
                         0);
        assert_string_equal(t->id, "store");
        assert_false(t->verify);
        assert_int_equal(t->source.type, RESOURCE_URL_FILE);
        assert_string_equal(t->source.path, "https://example.com/os/");
        assert_int_equal(t->source.n_patterns, 1);
        assert_int_equal(t->target.type, RESOURCE_PARTITION);
        assert_true(t->target.path_auto);
        assert_int_equal(t->instances_max, 2);
        assert_int_equal(t->read_only, 1);
        assert_int_equal(t->no_auto, -1);
        assert_true(t->has_partition_flags);
        assert_true(t->partition_flags == GPT_FLAG_READ_ONLY);
        assert_true(t->has_partition_uuid);
        assert_string_equal(partition_type_to_string(t->partition_type), "linux-generic");
        assert_false(t->has_tries_left);
        assert_false(t->has_mode);
        assert_true(t->remove_temporary);
        assert_int_equal(strv_length(t->dropins), 0);
        transfer_free(t);
}

static void test_kernel_file(void **state) {
        (void) state;
        struct transfer *t;
        assert_int_equal(load("kernel",
                              "[Transfer]\nProtectVersion=%A\nProtectVersion=1.0\nProtectVersion=%A\n"
                              "MinVersion=%w.0\nFeatures=a b\nFeatures=c\nRequisiteFeatures=x\nRequisiteFeatures=\n"
                              "ChangeLog=https://example.com/@v.txt\nChangeLog=ftp://nope\n"
                              "[Source]\nType=url-file\nPath=http://localhost/\nMatchPattern=appliance_@v.efi\n"
                              "[Target]\nType=regular-file\nPath=/EFI/Linux\nPathRelativeTo=boot\n"
                              "MatchPattern=appliance_@v+@l-@d.efi \\\n  appliance_@v+@l.efi appliance_@v.efi\n"
                              "Mode=0444\nTriesLeft=3\nInstancesMax=2\nCurrentSymlink=.//links/./current.efi/\n",
                              &t),
                         0);
        assert_int_equal(strv_length(t->protect_versions), 2);
        assert_string_equal(t->protect_versions[0], "4.2");
        assert_string_equal(t->protect_versions[1], "1.0");
        assert_string_equal(t->min_version, "12.0");
        assert_int_equal(strv_length(t->features), 3);
        assert_int_equal(strv_length(t->requisite_features), 0);
        assert_int_equal(strv_length(t->changelog), 1);
        assert_int_equal(t->target.path_relative_to, PATH_RELATIVE_TO_BOOT);
        assert_int_equal(t->target.n_patterns, 3);
        assert_string_equal(t->target.patterns_str[1], "appliance_@v+@l.efi");
        assert_true(pattern_has_field(t->target.patterns[0], 'd'));
        assert_true(t->has_mode);
        assert_int_equal(t->mode, 0444);
        assert_true(t->has_tries_left);
        assert_int_equal(t->tries_left, 3);
        assert_false(t->has_tries_done);
        assert_string_equal(t->current_symlink, "links/current.efi");
        transfer_free(t);
}

static void test_defaults_and_inference(void **state) {
        (void) state;
        struct transfer *t;
        /* url-file to a /dev/ path: a partition target, patterns inherited, unlimited instances. */
        assert_int_equal(load("infer1", URL_SOURCE "[Target]\nPath=/dev/vda\n", &t), 0);
        assert_int_equal(t->target.type, RESOURCE_PARTITION);
        assert_int_equal(t->target.n_patterns, 1);
        assert_string_equal(t->target.patterns_str[0], "os_@v.raw.xz");
        assert_true(t->instances_max == UINT64_MAX);
        assert_true(t->verify);
        transfer_free(t);

        assert_int_equal(load("infer2", URL_SOURCE "[Target]\nPath=/var/lib/os\nInstancesMax=1\n", &t), 0);
        assert_int_equal(t->target.type, RESOURCE_REGULAR_FILE);
        assert_int_equal(t->instances_max, 2); /* 1 is bumped */
        transfer_free(t);

        assert_int_equal(load("infer3",
                              "[Source]\nType=tar\nPath=/srv/src\nMatchPattern=app_@v.tar\n"
                              "[Target]\nPath=/opt\nMatchPattern=app_@v\nInstancesMax=0\n",
                              &t),
                         0);
        assert_int_equal(t->target.type, RESOURCE_DIRECTORY);
        assert_int_equal(t->instances_max, 3); /* 0 means the default */
        transfer_free(t);

        assert_int_equal(load("infer4",
                              "[Source]\nType=subvolume\nPath=/srv/src\nMatchPattern=app_@v\n"
                              "[Target]\nPath=/opt\nMatchPartitionType=root\n",
                              &t),
                         0);
        assert_int_equal(t->target.type, RESOURCE_SUBVOLUME);
        uint8_t root[16];
        assert_int_equal(partition_type_from_string("root", root), 0);
        assert_memory_equal(t->partition_type, root, 16);
        transfer_free(t);
}

static void test_lenient_values(void **state) {
        (void) state;
        struct transfer *t;
        /* Unknown keys/sections and unparsable booleans/numbers warn and are ignored. */
        assert_int_equal(load("lenient",
                              "[Transfer]\nVerify=maybe\nFrobnicate=1\n[X-Vendor]\nA=b\n[Other]\nC=d\n" URL_SOURCE
                              "[Target]\nPath=/var/lib/os\nReadOnly=perhaps\nMode=0999\nTriesDone=-1\n"
                              "PartitionUUID=nope\nMatchPattern=a\\x20b_@v\nMatchPattern=\nMatchPattern=c_@v c_@v\n",
                              &t),
                         0);
        assert_true(t->verify);
        assert_int_equal(t->read_only, -1);
        assert_false(t->has_mode);
        assert_false(t->has_tries_done);
        assert_false(t->has_partition_uuid);
        assert_int_equal(t->target.n_patterns, 1); /* reset by the empty assignment, duplicate dropped */
        assert_string_equal(t->target.patterns_str[0], "c_@v");
        transfer_free(t);

        assert_int_equal(load("escape", URL_SOURCE "[Target]\nPath=/var/lib/os\nMatchPattern=a\\x20b_@v\n", &t), 0);
        assert_string_equal(t->target.patterns_str[0], "a b_@v");
        transfer_free(t);
}

static void test_dropins(void **state) {
        (void) state;
        struct transfer *t;
        scratch_write(dir, "defs-dropin/dropin.transfer.d/50-more.conf", "[Target]\nInstancesMax=5\n");
        scratch_write(dir, "defs-dropin/dropin.transfer.d/60-empty.conf", ""); /* masked */
        assert_int_equal(load("dropin", URL_SOURCE "[Target]\nPath=/var/lib/os\nInstancesMax=2\n", &t), 0);
        assert_int_equal(t->instances_max, 5);
        assert_int_equal(strv_length(t->dropins), 1);
        assert_non_null(endswith(t->dropins[0], "/dropin.transfer.d/50-more.conf"));
        transfer_free(t);
}

static void expect_invalid(const char *name, const char *content) {
        struct transfer *t = NULL;
        assert_int_equal(load(name, content, &t), -EINVAL);
        assert_null(t);
}

static void test_invalid(void **state) {
        (void) state;
        expect_invalid("e1", "[Source]\nPath=http://x/\nMatchPattern=a_@v\n[Target]\nPath=/x\n");
        expect_invalid("e2", "[Source]\nType=partition\nPath=/dev/vda\nMatchPattern=a_@v\n[Target]\nPath=/x\n");
        expect_invalid("e3", "[Source]\nType=floppy\n");
        expect_invalid("e4", "[Source]\nType=url-tar\nPath=http://x/\nMatchPattern=a_@v\n[Target]\nType=partition\nPath=/dev/vda\n");
        expect_invalid("e5", URL_SOURCE "[Target]\nType=url-file\nPath=/x\n");
        expect_invalid("e6", URL_SOURCE "[Target]\nPath=var/lib\n");
        expect_invalid("e7", URL_SOURCE "[Target]\nPath=/var//lib\n");
        expect_invalid("e8", URL_SOURCE "[Target]\nPath=/x\nPathRelativeTo=explicit\n");
        expect_invalid("e9", "[Source]\nType=regular-file\nPath=/src\nPathRelativeTo=explicit\nMatchPattern=a_@v\n[Target]\nPath=/x\n");
        expect_invalid("e10", URL_SOURCE "[Target]\nType=partition\nPath=/dev/vda\nPathRelativeTo=esp\n");
        expect_invalid("e11", URL_SOURCE "[Target]\nType=regular-file\nPath=auto\n");
        expect_invalid("e12", URL_SOURCE "[Target]\nType=partition\nPath=auto\nCurrentSymlink=rel\n");
        struct transfer *t;
        assert_int_equal(load("symlink", URL_SOURCE "[Target]\nType=partition\nPath=auto\nCurrentSymlink=//run//./os/\n", &t), 0);
        assert_string_equal(t->current_symlink, "/run/os");
        transfer_free(t);
        expect_invalid("e13", "[Source]\nType=url-file\nPath=/not/a/url\nMatchPattern=a_@v\n[Target]\nPath=/x\n");
        expect_invalid("e14", "[Source]\nType=regular-file\nPath=/src\n[Target]\nPath=/x\n");
        expect_invalid("e15", URL_SOURCE "[Target]\nType=partition\nPath=/dev/vda\nMatchPattern=a_@v/b\n");
        expect_invalid("e16", URL_SOURCE "[Target]\nPath=/x\nMatchPartitionType=rooot\n");
        expect_invalid("e17", URL_SOURCE "[Target]\nPath=/x\nPathRelativeTo=home\n");
        expect_invalid("e18", "[Transfer]\nMinVersion=1~2\n" URL_SOURCE "[Target]\nPath=/x\n");
        expect_invalid("e19", "[Transfer]\nMinVersion=%q%z\n" URL_SOURCE "[Target]\nPath=/x\n");
        expect_invalid("e20", "[Transfer]\nMaxVersion=a/b\n" URL_SOURCE "[Target]\nPath=/x\n");
        expect_invalid("e21", URL_SOURCE "[Target]\nPath=/x\nMatchPattern=a\\q_@v\n");
        expect_invalid("e22", "[Source]\nType=url-file\nPath=http://x/\nMatchPattern=a_@v b\n[Target]\nPath=/x\n");
        expect_invalid("e23", URL_SOURCE "[Target]\nPath=/x\nMatchPattern=a_@v@u\n");
        expect_invalid("e24", URL_SOURCE "[Target]\nPath=/x\nMatchPattern=a*_@v\n");
        expect_invalid("e25", "[Source]\nType=url-file\nPath=http://x/\nPathRelativeTo=boot\nMatchPattern=a_@v\n[Target]\nPath=/x\n");
        expect_invalid("e26", URL_SOURCE);
}

static void test_modes(void **state) {
        (void) state;
        struct transfer *t;
        const char *src = "[Source]\nType=regular-file\nPath=src\nPathRelativeTo=explicit\nMatchPattern=a_@v\n"
                          "[Target]\nType=partition\nPath=auto\n";
        struct transfer_parse_options o = { .have_transfer_source = true };
        assert_int_equal(load_with("explicit", src, &o, &t), 0);
        assert_int_equal(t->source.path_relative_to, PATH_RELATIVE_TO_EXPLICIT);
        transfer_free(t);
        /* Path=auto: fine with --image, refused with --root. */
        o.root_mode = o.image_mode = true;
        assert_int_equal(load_with("image", src, &o, &t), 0);
        transfer_free(t);
        o.image_mode = false;
        t = NULL;
        assert_int_equal(load_with("rootmode", src, &o, &t), -EINVAL);
        assert_null(t);
}

static void test_protect_version_without_image_version(void **state) {
        (void) state;
        struct specifier_context *saved = ctx;
        _cleanup_free_ char *bare = strprintf("%s/bare", dir);
        scratch_write(dir, "bare/etc/os-release", "ID=x\n");
        assert_int_equal(specifier_context_new(bare, &ctx), 0);
        struct transfer *t;
        assert_int_equal(load("noversion", "[Transfer]\nProtectVersion=%A\n" URL_SOURCE "[Target]\nPath=/x\n", &t), 0);
        assert_int_equal(strv_length(t->protect_versions), 0);
        transfer_free(t);
        specifier_context_free(ctx);
        ctx = saved;
}

static void test_type_strings(void **state) {
        (void) state;
        for (int i = 0; i < _RESOURCE_TYPE_MAX; i++)
                assert_int_equal(resource_type_from_string(resource_type_to_string(i)), i);
        for (int i = 0; i < _PATH_RELATIVE_TO_MAX; i++)
                assert_int_equal(path_relative_to_from_string(path_relative_to_to_string(i)), i);
        assert_int_equal(resource_type_from_string("floppy"), _RESOURCE_TYPE_INVALID);
        assert_null(resource_type_to_string(_RESOURCE_TYPE_INVALID));
        assert_true(resource_type_is_url(RESOURCE_URL_TAR));
        assert_false(resource_type_is_url(RESOURCE_TAR));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_store_partition),
                cmocka_unit_test(test_kernel_file),
                cmocka_unit_test(test_defaults_and_inference),
                cmocka_unit_test(test_lenient_values),
                cmocka_unit_test(test_dropins),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_modes),
                cmocka_unit_test(test_protect_version_without_image_version),
                cmocka_unit_test(test_type_strings),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
