/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/resume-state.h"
#include "tmpdir.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct resume_state sample(void) {
        struct resume_state s = {
                .transfer = (char *) "10-store", .version = (char *) "2.1",
                .target = (char *) "/dev/vda partition 3 uuid 0c6e start 1048576 size 4194304",
                .done = 262144, .complete = false,
        };
        for (int i = 0; i < 32; i++) {
                s.payload_sha256[i] = (uint8_t) i;
                s.prefix_sha256[i] = (uint8_t) (255 - i);
        }
        return s;
}

static char *state_in(const char *sub) {
        _cleanup_free_ char *dir = path_join(tmpdir, sub);
        assert_non_null(dir);
        return resume_state_path(dir, "10-store");
}

static void test_round_trip(void **state) {
        (void) state;
        struct resume_state s = sample(), got = {};
        _cleanup_free_ char *p = state_in("a/b"); /* the directories are created */
        assert_int_equal(resume_state_save(p, &s), 0);
        assert_int_equal(resume_state_load(p, &got), 1);
        assert_string_equal(got.transfer, s.transfer);
        assert_string_equal(got.version, s.version);
        assert_string_equal(got.target, s.target);
        assert_int_equal(got.done, s.done);
        assert_false(got.complete);
        assert_memory_equal(got.payload_sha256, s.payload_sha256, 32);
        assert_memory_equal(got.prefix_sha256, s.prefix_sha256, 32);
        resume_state_done(&got);

        /* a new checkpoint replaces the old one, in place */
        s.done = 4194304;
        s.complete = true;
        assert_int_equal(resume_state_save(p, &s), 0);
        assert_int_equal(resume_state_load(p, &got), 1);
        assert_int_equal(got.done, 4194304);
        assert_true(got.complete);
        resume_state_done(&got);

        assert_int_equal(resume_state_remove(p), 0);
        assert_int_equal(resume_state_load(p, &got), 0);
        assert_int_equal(resume_state_remove(p), 0);
}

/* Any change to the file (here: more bytes claimed as done) makes it unusable. */
static void test_damaged_is_ignored(void **state) {
        (void) state;
        struct resume_state s = sample(), got = {};
        _cleanup_free_ char *p = state_in("c");
        assert_int_equal(resume_state_save(p, &s), 0);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(read_full_file(p, 8192, &text, NULL), 0);
        char *d = strstr(text, "done=262144");
        assert_non_null(d);
        d[5] = '9';
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(resume_state_load(p, &got), 0);

        /* torn: the first part of a new record over the old one */
        s.done = 1048576;
        assert_int_equal(resume_state_save(p, &s), 0);
        _cleanup_free_ char *newer = NULL;
        assert_int_equal(read_full_file(p, 8192, &newer, NULL), 0);
        s.done = 262144;
        assert_int_equal(resume_state_save(p, &s), 0);
        f = fopen(p, "r+");
        assert_non_null(f);
        fwrite(newer, 1, strlen(newer) * 2 / 3, f); /* the new done=, not the new check= */
        fclose(f);
        assert_int_equal(resume_state_load(p, &got), 0);

        /* truncated: the checksum line is gone */
        assert_int_equal(truncate(p, 40), 0);
        assert_int_equal(resume_state_load(p, &got), 0);
        /* not a state at all */
        f = fopen(p, "w");
        assert_non_null(f);
        fputs("hello\ncheck=0000000000000000000000000000000000000000000000000000000000000000\n", f);
        fclose(f);
        assert_int_equal(resume_state_load(p, &got), 0);
}

static void test_values_with_newlines_refused(void **state) {
        (void) state;
        struct resume_state s = sample();
        s.target = (char *) "/dev/vda\ndone=999999999";
        _cleanup_free_ char *p = state_in("d");
        assert_int_equal(resume_state_save(p, &s), -EINVAL);
}

static void test_path(void **state) {
        (void) state;
        _cleanup_free_ char *p = resume_state_path("/var/lib/abota/resume", "a/b");
        assert_string_equal(p, "/var/lib/abota/resume/a_b.state");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_damaged_is_ignored),
                cmocka_unit_test(test_values_with_newlines_refused),
                cmocka_unit_test(test_path),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
