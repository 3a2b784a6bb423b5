/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* stderr goes to a temporary file between capture_begin() and capture_end(), which restores it
 * (so a failing assertion is still shown) and returns what was written. */
static int saved_stderr = -1;
static FILE *capture_file = NULL;

static void capture_begin(void) {
        fflush(stderr);
        capture_file = tmpfile();
        assert_non_null(capture_file);
        saved_stderr = dup(STDERR_FILENO);
        assert_true(saved_stderr >= 0);
        assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

static char *capture_end(void) {
        fflush(stderr);
        assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
        close(saved_stderr);
        rewind(capture_file);
        char *buf = NULL;
        assert_int_equal(read_full_fd(fileno(capture_file), 1024 * 1024, &buf, NULL), 0);
        fclose(capture_file);
        return buf;
}

static void test_error_errno(void **state) {
        (void) state;
        capture_begin();
        errno = ENOSPC;
        assert_int_equal(log_error_errno(EIO, "%s:%u: broken", "a.transfer", 3u), -EIO);
        assert_int_equal(errno, ENOSPC); /* logging does not clobber errno */
        assert_int_equal(log_error_errno(-ENOENT, "x"), -ENOENT);
        assert_int_equal(log_error_errno(0, "y"), -EINVAL);
        _cleanup_free_ char *out = capture_end();
        assert_string_equal(out, "abota: a.transfer:3: broken\nabota: x\nabota: y\n");
}

static void test_levels(void **state) {
        (void) state;
        assert_int_equal(log_get_max_level(), LOG_INFO); /* as systemd */
        capture_begin();
        log_warning("w %d", 1);
        log_notice("n");
        log_info("i");
        log_debug("hidden");
        _cleanup_free_ char *out = capture_end();
        assert_string_equal(out, "abota: warning: w 1\nabota: n\nabota: i\n");

        capture_begin();
        log_set_max_level(LOG_ERR);
        log_warning("hidden");
        log_error("e");
        log_set_max_level(LOG_DEBUG);
        log_debug("d");
        log_set_max_level(LOG_INFO);
        _cleanup_free_ char *out2 = capture_end();
        assert_string_equal(out2, "abota: e\nabota: d\n");
}

static void test_level_names(void **state) {
        (void) state;
        enum log_level l;
        assert_int_equal(log_level_from_string("debug", &l), 0);
        assert_int_equal(l, LOG_DEBUG);
        assert_int_equal(log_level_from_string("5", &l), 0);
        assert_int_equal(l, LOG_NOTICE);
        assert_int_equal(log_level_from_string("crit", &l), 0);
        assert_int_equal(l, LOG_ERR); /* nothing is logged above err: the same */
        assert_int_equal(log_level_from_string("8", &l), -EINVAL);
        assert_int_equal(log_level_from_string("Debug", &l), -EINVAL);
        assert_int_equal(log_level_from_string("", &l), -EINVAL);

        assert_int_equal(setenv("SYSTEMD_LOG_LEVEL", "warning", 1), 0);
        assert_int_equal(log_setup_from_environment(), 0);
        assert_int_equal(log_get_max_level(), LOG_WARNING);
        assert_int_equal(setenv("SYSTEMD_LOG_LEVEL", "loud", 1), 0);
        capture_begin();
        assert_int_equal(log_setup_from_environment(), -EINVAL);
        _cleanup_free_ char *out = capture_end();
        assert_non_null(strstr(out, "SYSTEMD_LOG_LEVEL=loud"));
        assert_int_equal(log_get_max_level(), LOG_WARNING); /* unchanged */
        unsetenv("SYSTEMD_LOG_LEVEL");
        log_set_max_level(LOG_INFO);
}

static void test_warning_count(void **state) {
        (void) state;
        unsigned before = log_warning_count();
        capture_begin();
        log_error("e");
        log_notice("n");
        log_warning("shown");
        log_set_max_level(LOG_ERR);
        log_warning("hidden, still counted");
        log_set_max_level(LOG_INFO);
        _cleanup_free_ char *out = capture_end();
        assert_string_equal(out, "abota: e\nabota: n\nabota: warning: shown\n");
        assert_int_equal(log_warning_count(), before + 2);
}

static void test_last_error_and_hold(void **state) {
        (void) state;
        capture_begin();
        log_error("%s: first", "a");
        assert_string_equal(log_last_error(), "a: first");
        log_warning("not an error");
        assert_string_equal(log_last_error(), "a: first");
        /* held: recorded, not printed; warnings still are */
        log_hold_errors(true);
        errno = EBADF;
        log_error_errno(EIO, "%s: held", "b");
        assert_int_equal(errno, EBADF);
        log_warning("w");
        log_error("c: held too");
        log_hold_errors(false);
        assert_string_equal(log_last_error(), "c: held too");
        log_print_held_errors("; hint");
        log_print_held_errors("; printed once");
        /* and at a level that hides errors too */
        log_set_max_level(LOG_ERR - 1);
        log_error("c: hidden");
        log_set_max_level(LOG_INFO);
        assert_string_equal(log_last_error(), "c: hidden");
        _cleanup_free_ char *out = capture_end();
        assert_string_equal(out, "abota: a: first\nabota: warning: not an error\nabota: warning: w\n"
                                 "abota: b: held\nabota: c: held too; hint\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_errno),
                cmocka_unit_test(test_levels),
                cmocka_unit_test(test_level_names),
                cmocka_unit_test(test_warning_count),
                cmocka_unit_test(test_last_error_and_hold),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
