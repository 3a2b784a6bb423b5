/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/spawn.h"
#include "base/util.h"

#include <errno.h>

static void test_find_executable(void **state) {
        (void) state;
        _cleanup_free_ char *sh = NULL, *abs = NULL;
        assert_int_equal(find_executable("sh", &sh), 0);
        assert_true(path_is_absolute(sh));
        assert_string_equal(path_basename(sh), "sh");
        assert_int_equal(find_executable("/bin/sh", &abs), 0);
        assert_string_equal(abs, "/bin/sh");
        char *x = NULL;
        assert_int_equal(find_executable("abota-no-such-tool", &x), -ENOENT);
        assert_null(x);
        _cleanup_free_ char *old = strdup(getenv("PATH"));
        setenv("PATH", "/nonexistent::/also-not", 1);
        assert_int_equal(find_executable("sh", &x), -ENOENT);
        setenv("PATH", old, 1);
}

static void test_spawn_capture(void **state) {
        (void) state;
        char *ok[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo out; echo err >&2; read x || echo eof", NULL };
        _cleanup_free_ char *out = NULL;
        assert_int_equal(spawn_capture(ok, &out), 0);
        assert_string_equal(out, "out\nerr\neof\n"); /* stdin is /dev/null */

        char *fail[] = { (char *) "/bin/sh", (char *) "-c", (char *) "exit 3", NULL };
        assert_int_equal(spawn_capture(fail, NULL), 3);
        char *killed[] = { (char *) "/bin/sh", (char *) "-c", (char *) "kill -9 $$", NULL };
        assert_int_equal(spawn_capture(killed, NULL), 128 + 9);
        char *missing[] = { (char *) "/nonexistent/tool", NULL };
        assert_int_equal(spawn_capture(missing, NULL), 127);

        /* only the tail of a huge output is kept */
        char *big[] = { (char *) "/bin/sh", (char *) "-c", (char *) "yes x | head -c 200000; echo; echo last", NULL };
        _cleanup_free_ char *bout = NULL;
        assert_int_equal(spawn_capture(big, &bout), 0);
        assert_int_equal(strlen(bout), SPAWN_OUTPUT_MAX);
        assert_non_null(endswith(bout, "\nlast\n"));
}

static void test_output_reason(void **state) {
        (void) state;
        static const char *const needles[] = { "BAD signature", NULL };
        _cleanup_free_ char *a = spawn_output_reason("gpgv: Signature made today\ngpgv: BAD signature from \"x\"  \ngpgv: done\n",
                                                     "gpgv", needles);
        assert_string_equal(a, "BAD signature from \"x\"");
        _cleanup_free_ char *b = spawn_output_reason("gpgv: one\ngpgv: two\n\n", "gpgv", needles);
        assert_string_equal(b, "two");
        static const char *const preferred[] = { "two", "one", NULL }; /* needle order wins */
        _cleanup_free_ char *b2 = spawn_output_reason("gpgv: one\ngpgv: two\n", "gpgv", preferred);
        assert_string_equal(b2, "two");
        _cleanup_free_ char *c = spawn_output_reason("", "gpgv", NULL);
        assert_string_equal(c, "no output");
        _cleanup_free_ char *d = spawn_output_reason("gpgvx: three", "gpgv", NULL);
        assert_string_equal(d, "gpgvx: three");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find_executable),
                cmocka_unit_test(test_spawn_capture),
                cmocka_unit_test(test_output_reason),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
