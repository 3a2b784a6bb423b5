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
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

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

/* The spool flag round-trips; a state of an earlier version (no spool= line) reads as no spool. */
static void test_spool_flag(void **state) {
        (void) state;
        struct resume_state s = sample(), got = {};
        _cleanup_free_ char *p = state_in("e");
        s.spool = true;
        assert_int_equal(resume_state_save(p, &s), 0);
        assert_int_equal(resume_state_load(p, &got), 1);
        assert_true(got.spool);
        resume_state_done(&got);
        s.spool = false;
        assert_int_equal(resume_state_save(p, &s), 0);
        assert_int_equal(resume_state_load(p, &got), 1);
        assert_false(got.spool);
        resume_state_done(&got);

        /* an earlier version's record, checksummed the same way, without the line */
        _cleanup_free_ char *text = NULL;
        assert_int_equal(read_full_file(p, 8192, &text, NULL), 0);
        char *line = strstr(text, "spool=no\n");
        assert_non_null(line);
        memmove(line, line + strlen("spool=no\n"), strlen(line + strlen("spool=no\n")) + 1);
        *strstr(text, "check=") = 0;
        uint8_t d[32];
        unsigned len = 0;
        assert_int_equal(EVP_Digest(text, strlen(text), d, &len, EVP_sha256(), NULL), 1);
        char hex[65];
        hex_format(d, 32, hex);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fprintf(f, "%scheck=%s\n", text, hex);
        fclose(f);
        assert_int_equal(resume_state_load(p, &got), 1);
        assert_false(got.spool);
        assert_int_equal(got.done, 262144);
        resume_state_done(&got);
}

/* The spool goes with its state; one without a state goes at the cleanup, others stay. */
static void test_spool_removed_with_state(void **state) {
        (void) state;
        struct resume_state s = sample();
        _cleanup_free_ char *dir = path_join(tmpdir, "f");
        _cleanup_free_ char *p = resume_state_path(dir, "10-store"), *spool = resume_spool_path(p);
        _cleanup_free_ char *other = resume_state_path(dir, "20-kernel"), *orphan = resume_spool_path(other);
        assert_string_equal(spool + strlen(dir), "/10-store.part");
        assert_int_equal(resume_state_save(p, &s), 0);
        put(spool, "x");
        put(orphan, "y");
        resume_dir_cleanup(dir);
        assert_int_equal(access(spool, F_OK), 0);
        assert_int_equal(access(orphan, F_OK), -1);
        assert_int_equal(resume_state_remove(p), 0);
        assert_int_equal(access(p, F_OK), -1);
        assert_int_equal(access(spool, F_OK), -1);
}

static void test_kept_file(void **state) {
        (void) state;
        struct resume_state s = sample();
        _cleanup_free_ char *dir = path_join(tmpdir, "g");
        _cleanup_free_ char *p = resume_state_path(dir, "20-kernel");
        assert_null(resume_state_kept_file(dir, "20-kernel"));
        s.transfer = (char *) "20-kernel";
        s.target = (char *) "file /efi/EFI/Linux/.#sysupdate-partial-uki_2.efi";
        assert_int_equal(resume_state_save(p, &s), 0);
        _cleanup_free_ char *k = resume_state_kept_file(dir, "20-kernel");
        assert_string_equal(k, "/efi/EFI/Linux/.#sysupdate-partial-uki_2.efi");
        /* a partition target names no file */
        s.target = (char *) "/dev/vda partition 3 uuid 0c6e start 1048576 size 4194304";
        assert_int_equal(resume_state_save(p, &s), 0);
        assert_null(resume_state_kept_file(dir, "20-kernel"));
        assert_null(resume_state_kept_file(NULL, "20-kernel"));
}

static void test_dir(void **state) {
        (void) state;
        char *d = NULL;
        assert_int_equal(resume_state_dir("/sysroot", "/disk.raw", &d), 0);
        assert_string_equal(d, "/sysroot/var/lib/abota/resume");
        free(d);
        assert_int_equal(resume_state_dir(NULL, NULL, &d), 0);
        assert_string_equal(d, "/var/lib/abota/resume");
        free(d);
        assert_int_equal(resume_state_dir(NULL, "/disk.raw", &d), 0);
        assert_null(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_damaged_is_ignored),
                cmocka_unit_test(test_values_with_newlines_refused),
                cmocka_unit_test(test_path),
                cmocka_unit_test(test_spool_flag),
                cmocka_unit_test(test_spool_removed_with_state),
                cmocka_unit_test(test_kept_file),
                cmocka_unit_test(test_dir),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
