/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/log.h"
#include "base/specifier.h"
#include "sysupdate/transfer.h"
#include "base/util.h"

#include "test-files.h"

static void test_feature(void **state) {
        (void) state;
        char *dir = scratch_new();
        scratch_write(dir, "root/etc/os-release", "VERSION_ID=12\n");
        scratch_write(dir, "usr/devel.feature",
                      "[Feature]\nDescription=Development tools\nDocumentation=https://example.com/%w\n"
                      "AppStream=ftp://bad\nEnabled=yes\nUnknown=1\n[X-Vendor]\nA=b\n");
        scratch_write(dir, "usr/devel.feature.d/10-off.conf", "[Feature]\nEnabled=no\n");
        scratch_write(dir, "etc/devel.feature.d/20-on.conf", "[Feature]\nEnabled=yes\nEnabled=maybe\n");
        _cleanup_free_ char *root = strprintf("%s/root", dir);
        _cleanup_free_ char *usr = strprintf("%s/usr", dir), *etc = strprintf("%s/etc", dir);
        _cleanup_free_ char *p = strprintf("%s/usr/devel.feature", dir);
        struct specifier_context *ctx;
        assert_int_equal(specifier_context_new(root, &ctx), 0);
        const char *dirs[] = { etc, usr, NULL };
        struct transfer_parse_options o = { .specifiers = ctx, .search_dirs = dirs };

        struct feature *f;
        assert_int_equal(feature_load(p, &o, &f), 0);
        assert_string_equal(f->id, "devel");
        assert_string_equal(f->file, p);
        assert_string_equal(f->description, "Development tools");
        assert_string_equal(f->documentation, "https://example.com/12");
        assert_null(f->appstream);
        assert_true(f->enabled); /* 10-off, then 20-on; the bad boolean is ignored */
        feature_free(f);

        /* Defaults: disabled, nothing set. A syntax error is fatal. */
        scratch_write(dir, "usr/plain.feature", "[Feature]\n");
        _cleanup_free_ char *plain = strprintf("%s/usr/plain.feature", dir);
        assert_int_equal(feature_load(plain, &o, &f), 0);
        assert_false(f->enabled);
        assert_null(f->description);
        feature_free(f);
        scratch_write(dir, "usr/broken.feature", "Enabled=yes\n");
        _cleanup_free_ char *broken = strprintf("%s/usr/broken.feature", dir);
        f = NULL;
        assert_int_equal(feature_load(broken, &o, &f), -EINVAL);
        assert_null(f);

        specifier_context_free(ctx);
        scratch_free(dir);
}

int main(void) {
        log_set_max_level(LOG_ERR - 1); /* the expected errors are not output of interest here */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_feature),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
