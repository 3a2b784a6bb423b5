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

static void assert_proxy(const char *url, const char *want) {
        char *p = netconf_proxy_for_url(url);
        if (want) {
                assert_non_null(p);
                assert_string_equal(p, want);
        } else
                assert_null(p);
        free(p);
}

static void test_proxy_for_url(void **state) {
        (void) state;
        static const char *const vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                            "ALL_PROXY", "no_proxy", "NO_PROXY" };
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
                unsetenv(vars[i]);
        assert_proxy("http://updates.example.com/x", NULL);
        /* HTTP_PROXY is not read (CGI programs get it from a request header), HTTPS_PROXY is */
        setenv("HTTP_PROXY", "http://upper:1", 1);
        assert_proxy("http://updates.example.com/x", NULL);
        setenv("HTTPS_PROXY", "upper:2", 1);
        assert_proxy("https://updates.example.com/x", "http://upper:2");
        setenv("https_proxy", "socks5h://lower:3", 1);
        assert_proxy("https://updates.example.com/x", "socks5h://lower:3");
        setenv("http_proxy", "http://proxy:3128", 1);
        assert_proxy("http://updates.example.com/x", "http://proxy:3128");
        /* all_proxy for what has no proxy of its own, and an empty value is no value */
        setenv("http_proxy", "", 1);
        setenv("ALL_PROXY", "all:4", 1);
        assert_proxy("http://updates.example.com/x", "http://all:4");
        setenv("http_proxy", "http://proxy:3128", 1);

        /* no_proxy: domains with their subdomains, addresses, ranges, or everything */
        setenv("no_proxy", "example.com, .internal 10.0.0.0/8,[::1],fd00::/8", 1);
        assert_proxy("http://updates.example.com/x", NULL);
        assert_proxy("http://EXAMPLE.COM./x", NULL);
        assert_proxy("http://notexample.com/x", "http://proxy:3128");
        assert_proxy("http://a.b.internal:8080/x", NULL);
        assert_proxy("http://10.1.2.3/x", NULL);
        assert_proxy("http://11.1.2.3/x", "http://proxy:3128");
        assert_proxy("http://[fd12::1]/x", NULL);
        assert_proxy("http://[fe80::1]/x", "http://proxy:3128");
        unsetenv("no_proxy");
        setenv("NO_PROXY", "*", 1);
        assert_proxy("http://updates.example.com/x", NULL);
        setenv("NO_PROXY", "192.168.1.1/24", 1);
        assert_proxy("http://192.168.1.200/x", NULL);
        assert_proxy("http://192.168.2.1/x", "http://proxy:3128");
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
                unsetenv(vars[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_longest_match_over_defaults),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_proxy_for_url),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
