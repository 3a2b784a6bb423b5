/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/conf.h"
#include "base/log.h"
#include "base/specifier.h"
#include "base/util.h"

#include "test-files.h"

/* Records every assignment as "LINE [SECTION] KEY=VALUE". */
static int record(const char *file, unsigned line, const char *section, const char *key, const char *value,
                  void *userdata) {
        (void) file;
        char ***l = userdata;
        if (streq(key, "Fail"))
                return -EUCLEAN;
        return strv_push(l, strprintf("%u [%s] %s=%s", line, section, key, value));
}

static int parse_string(const char *content, char ***ret) {
        char *dir = scratch_new();
        scratch_write(dir, "x.conf", content);
        char *p = strprintf("%s/x.conf", dir);
        *ret = calloc(1, sizeof(char *));
        int r = conf_parse_file(p, record, ret);
        free(p);
        scratch_free(dir);
        return r;
}

static void test_syntax(void **state) {
        (void) state;
        _cleanup_strv_free_ char **l = NULL;
        assert_int_equal(parse_string("# comment\n"
                                      "; also a comment\n"
                                      "\n"
                                      "[Source]\n"
                                      "  Type = url-file  \n"
                                      "MatchPattern=a_@v \\\n"
                                      "# comment inside a continuation\n"
                                      "   b_@v\n"
                                      "MatchPattern=\n"
                                      "[Target]\n"
                                      "Path=/a=b\n"
                                      "Path=/c",
                                      &l),
                         0);
        assert_int_equal(strv_length(l), 5);
        assert_string_equal(l[0], "5 [Source] Type=url-file");
        assert_string_equal(l[1], "6 [Source] MatchPattern=a_@v  b_@v");
        assert_string_equal(l[2], "9 [Source] MatchPattern=");
        assert_string_equal(l[3], "11 [Target] Path=/a=b");
        assert_string_equal(l[4], "12 [Target] Path=/c");
}

static void test_errors(void **state) {
        (void) state;
        char **l = NULL;
        assert_int_equal(parse_string("Type=x\n", &l), -EBADMSG);
        strv_free(l);
        assert_int_equal(parse_string("[Source]\nType\n", &l), -EBADMSG);
        strv_free(l);
        assert_int_equal(parse_string("[Source\nType=x\n", &l), -EBADMSG);
        strv_free(l);
        assert_int_equal(parse_string("[Source]\n=x\n", &l), -EBADMSG);
        strv_free(l);
        /* The callback's error stops parsing and is returned as is. */
        assert_int_equal(parse_string("[A]\nB=1\nFail=1\nC=2\n", &l), -EUCLEAN);
        assert_int_equal(strv_length(l), 1);
        strv_free(l);

        /* Hostile input: an endless logical line, a huge file. */
        size_t n = 70 * 1024;
        char *big = malloc(n + 16);
        memcpy(big, "[A]\nK=", 6);
        memset(big + 6, 'x', n);
        big[n + 6] = 0;
        assert_int_equal(parse_string(big, &l), -E2BIG);
        strv_free(l);
        char *cont = malloc(n * 3 + 16);
        strcpy(cont, "[A]\nK=");
        for (size_t i = 0; i < n; i++)
                strcat(cont + 6 + 3 * i, "x\\\n");
        assert_int_equal(parse_string(cont, &l), -E2BIG);
        strv_free(l);
        free(cont);
        free(big);
        l = NULL;

        char *dir = scratch_new();
        char *p = scratch_path(dir, "huge.conf");
        int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 8 * 1024 * 1024), 0);
        close(fd);
        assert_int_equal(conf_parse_file(p, record, &l), -EFBIG);
        free(p);
        p = strprintf("%s/missing.conf", dir);
        assert_int_equal(conf_parse_file(p, record, &l), -ENOENT);
        free(p);
        scratch_free(dir);
}

static void test_nul_byte(void **state) {
        (void) state;
        char *dir = scratch_new();
        char *p = scratch_path(dir, "nul.conf");
        FILE *f = fopen(p, "we");
        fwrite("[A]\nK=a\0b\n", 1, 10, f);
        fclose(f);
        char **l = calloc(1, sizeof(char *));
        assert_int_equal(conf_parse_file(p, record, &l), -EBADMSG);
        assert_int_equal(strv_length(l), 0);
        strv_free(l);
        free(p);
        scratch_free(dir);
}

static const char *const dirs[] = { "/etc/sysupdate.d", "/run/sysupdate.d", "/usr/lib/sysupdate.d", NULL };

static void test_files_list(void **state) {
        (void) state;
        char *root = scratch_new();
        scratch_write(root, "usr/lib/sysupdate.d/20-b.transfer", "[Transfer]\n");
        scratch_write(root, "usr/lib/sysupdate.d/10-a.transfer", "[Transfer]\n");
        scratch_write(root, "usr/lib/sysupdate.d/30-c.transfer", "[Transfer]\n");
        scratch_write(root, "usr/lib/sysupdate.d/40-d.transfer", "[Transfer]\n");
        scratch_write(root, "usr/lib/sysupdate.d/README", "not a transfer\n");
        scratch_write(root, "usr/lib/sysupdate.d/.hidden.transfer", "[Transfer]\n");
        scratch_write(root, "run/sysupdate.d/15-run.transfer", "[Transfer]\n");
        scratch_write(root, "etc/sysupdate.d/20-b.transfer", "[Transfer]\n"); /* overrides */
        scratch_symlink(root, "etc/sysupdate.d/30-c.transfer", "/dev/null");  /* masks */
        scratch_write(root, "run/sysupdate.d/40-d.transfer", "");             /* masks */
        scratch_mkdir(root, "etc/sysupdate.d/50-dir.transfer");                 /* not a file */

        _cleanup_strv_free_ char **l = NULL;
        assert_int_equal(conf_files_list(root, dirs, ".transfer", &l), 0);
        assert_int_equal(strv_length(l), 3);
        _cleanup_free_ char *a = strprintf("%s/usr/lib/sysupdate.d/10-a.transfer", root);
        _cleanup_free_ char *r = strprintf("%s/run/sysupdate.d/15-run.transfer", root);
        _cleanup_free_ char *b = strprintf("%s/etc/sysupdate.d/20-b.transfer", root);
        assert_string_equal(l[0], a);
        assert_string_equal(l[1], r);
        assert_string_equal(l[2], b);

        /* Without the root prefix nothing of this tree is visible; missing dirs are fine. */
        _cleanup_strv_free_ char **none = NULL;
        static const char *const missing[] = { "/nonexistent/abota", NULL };
        assert_int_equal(conf_files_list(root, missing, ".transfer", &none), 0);
        assert_int_equal(strv_length(none), 0);
        scratch_free(root);
}

static void test_dirs_list(void **state) {
        (void) state;
        char *root = scratch_new();
        static const char *const roots[] = { "/etc", "/usr/lib", NULL };
        scratch_mkdir(root, "usr/lib/sysupdate.shim.d");
        scratch_mkdir(root, "usr/lib/sysupdate.d");
        scratch_mkdir(root, "usr/lib/sysupdate.gone.d");
        scratch_mkdir(root, "etc/sysupdate.apps.d");
        scratch_write(root, "etc/sysupdate.file.d", "a file, not a directory\n");
        scratch_symlink(root, "etc/sysupdate.gone.d", "/dev/null");
        _cleanup_strv_free_ char **l = NULL;
        assert_int_equal(conf_dirs_list(root, roots, "sysupdate.", ".d", &l), 0);
        assert_int_equal(strv_length(l), 2);
        assert_string_equal(l[0], "sysupdate.apps.d");
        assert_string_equal(l[1], "sysupdate.shim.d");
        scratch_free(root);
}

static void test_dropins(void **state) {
        (void) state;
        char *root = scratch_new();
        scratch_write(root, "usr/lib/sysupdate.d/a.transfer", "[Target]\nInstancesMax=3\nMode=0644\n");
        scratch_write(root, "usr/lib/sysupdate.d/a.transfer.d/10-x.conf", "[Target]\nInstancesMax=4\n");
        scratch_write(root, "usr/lib/sysupdate.d/a.transfer.d/30-z.conf", "[Target]\nMode=0600\n");
        scratch_write(root, "etc/sysupdate.d/a.transfer.d/20-y.conf", "[Target]\nInstancesMax=5\n");
        scratch_write(root, "etc/sysupdate.d/a.transfer.d/10-x.conf", "[Target]\nInstancesMax=6\n");
        _cleanup_free_ char *p = strprintf("%s/usr/lib/sysupdate.d/a.transfer", root);

        _cleanup_strv_free_ char **files = NULL;
        assert_int_equal(conf_dropins_list(root, dirs, p, &files), 0);
        assert_int_equal(strv_length(files), 3);
        assert_non_null(strstr(files[0], "/etc/sysupdate.d/a.transfer.d/10-x.conf"));
        assert_non_null(strstr(files[1], "/etc/sysupdate.d/a.transfer.d/20-y.conf"));
        assert_non_null(strstr(files[2], "/usr/lib/sysupdate.d/a.transfer.d/30-z.conf"));

        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        assert_int_equal(conf_parse_file_with_dropins(root, dirs, p, record, &l), 0);
        assert_int_equal(strv_length(l), 5);
        assert_string_equal(l[0], "2 [Target] InstancesMax=3");
        assert_string_equal(l[2], "2 [Target] InstancesMax=6");
        assert_string_equal(l[3], "2 [Target] InstancesMax=5");
        assert_string_equal(l[4], "2 [Target] Mode=0600");

        _cleanup_strv_free_ char **l2 = calloc(1, sizeof(char *)), **applied = NULL;
        assert_int_equal(conf_parse_file_with_dropins_list(root, dirs, p, record, &l2, &applied), 0);
        assert_int_equal(strv_length(l2), 5);
        assert_int_equal(strv_length(applied), 3);
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(applied[i], files[i]);
        scratch_free(root);
}

static void test_values(void **state) {
        (void) state;
        bool b = true, has = true;
        int t = 1;
        uint64_t u = 7;
        assert_int_equal(conf_value_bool("f", 1, "K", "no", &b), 0);
        assert_false(b);
        assert_int_equal(conf_value_bool("f", 1, "K", "perhaps", &b), 1);
        assert_false(b);
        assert_int_equal(conf_value_bool("f", 1, "K", "", &b), 0);
        assert_false(b); /* an empty boolean keeps the value */
        assert_int_equal(conf_value_tristate("f", 1, "K", "on", &t), 0);
        assert_int_equal(t, 1);
        assert_int_equal(conf_value_tristate("f", 1, "K", "2", &t), 1);
        assert_int_equal(t, 1);
        assert_int_equal(conf_value_tristate("f", 1, "K", "", &t), 0);
        assert_int_equal(t, -1);
        assert_int_equal(conf_value_uint64("f", 1, "K", "-1", &has, &u), 1);
        assert_int_equal(u, 7);
        assert_int_equal(conf_value_uint64("f", 1, "K", "42", &has, &u), 0);
        assert_true(has);
        assert_int_equal(u, 42);
        assert_int_equal(conf_value_uint64("f", 1, "K", "", &has, &u), 0);
        assert_false(has);

        assert_true(conf_is_http_url("https://example.com/x"));
        assert_true(conf_is_http_url("http://h"));
        assert_false(conf_is_http_url("http://"));
        assert_false(conf_is_http_url("ftp://example.com"));
        assert_false(conf_is_http_url("https://a b"));

        char *root = scratch_new();
        scratch_write(root, "etc/os-release", "VERSION_ID=12\n");
        struct specifier_context *c;
        assert_int_equal(specifier_context_new(root, &c), 0);
        char *s = NULL;
        assert_int_equal(conf_value_expand(c, "f", 1, "K", "v%w", &s), 0);
        assert_string_equal(s, "v12");
        free(s);
        s = NULL;
        assert_int_equal(conf_value_expand(c, "f", 1, "K", "v%y", &s), 1);
        assert_null(s);
        assert_int_equal(conf_value_url(c, "f", 1, "K", "https://x/%w", &s), 0);
        assert_string_equal(s, "https://x/12");
        free(s);
        s = NULL;
        assert_int_equal(conf_value_url(c, "f", 1, "K", "/local/%w", &s), 1);
        assert_null(s);
        specifier_context_free(c);
        scratch_free(root);
}

int main(void) {
        log_set_max_level(LOG_ERR - 1); /* warnings of the value tests are expected */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_syntax),     cmocka_unit_test(test_errors),
                cmocka_unit_test(test_nul_byte),   cmocka_unit_test(test_files_list),
                cmocka_unit_test(test_dirs_list),  cmocka_unit_test(test_dropins),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
