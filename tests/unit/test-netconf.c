/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/netconf.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char conf[] = "/tmp/test-netconf-XXXXXX";

static void put(const char *text) {
        FILE *f = fopen(conf, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_missing_file(void **state) {
        (void) state;
        struct netconf_settings s;
        setenv("ABOTA_CONFIG", "/nonexistent/abota.conf", 1);
        assert_int_equal(netconf_for_url("https://a/x", &s), 0);
        assert_null(s.ca_file);
        assert_null(s.pinned_public_key);
        setenv("ABOTA_CONFIG", conf, 1);
}

static void test_longest_match_over_defaults(void **state) {
        (void) state;
        struct netconf_settings s;
        put("[Network]\nCAFile=/etc/hostname\n"
            "[Server]\nURL=https://a.example/\nPinnedPublicKey=sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
            "[Server]\nURL=https://a.example/fleet/\nCAFile=/etc/passwd\n");
        assert_int_equal(netconf_for_url("https://b.example/x", &s), 0);
        assert_string_equal(s.ca_file, "/etc/hostname");
        assert_null(s.pinned_public_key);
        netconf_settings_done(&s);

        assert_int_equal(netconf_for_url("https://a.example/x", &s), 0);
        assert_string_equal(s.ca_file, "/etc/hostname"); /* from [Network] */
        assert_string_equal(s.pinned_public_key, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        netconf_settings_done(&s);

        /* the longest URL wins as a whole: its unset keys come from [Network], not from a.example/ */
        assert_int_equal(netconf_for_url("https://a.example/fleet/SHA256SUMS", &s), 0);
        assert_string_equal(s.ca_file, "/etc/passwd");
        assert_null(s.pinned_public_key);
        netconf_settings_done(&s);
}

static void test_errors(void **state) {
        (void) state;
        struct netconf_settings s;
        static const char *const bad[] = {
                "[Network]\nCAFile=etc/hostname\n",
                "[Network]\nCAFile=/nonexistent\n",
                "[Network]\nPinnedPublicKey=sha1//AAAA\n",
                "[Network]\nPinnedPublicKey=sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;x\n",
                "[Network]\nVerify=no\n",
                "[Other]\nCAFile=/etc/hostname\n",
                "[Server]\nCAFile=/etc/hostname\n",
                "[Server]\nURL=file:///x\n",
                "[Server]\nURL=https://a/\nCAFile=/etc/hostname\nCAFile=/etc/passwd\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                put(bad[i]);
                int r = netconf_for_url("https://a/x", &s);
                assert_true(r < 0);
                assert_null(s.ca_file);
        }
}

static int setup(void **state) {
        (void) state;
        int fd = mkstemp(conf);
        if (fd < 0)
                return -1;
        close(fd);
        return setenv("ABOTA_CONFIG", conf, 1);
}

static int teardown(void **state) {
        (void) state;
        return unlink(conf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_longest_match_over_defaults),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
