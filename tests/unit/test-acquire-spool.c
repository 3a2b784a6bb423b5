/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/acquire-stage.h"
#include "tmpdir.h"
#include "base/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (3 * ACQUIRE_BUFFER_SIZE + 1000)

static uint8_t data[SIZE];

/* A sink that keeps what it is given. */
struct sink {
        struct acquire_stage stage;
        uint8_t *got;
        size_t n, pushes;
};

static int sink_push(struct acquire_stage *s, const void *p, size_t n) {
        struct sink *k = (struct sink *) s;
        assert_true(n <= ACQUIRE_BUFFER_SIZE); /* constant memory: one buffer at a time */
        memcpy(k->got + k->n, p, n);
        k->n += n;
        k->pushes++;
        return 0;
}

static char *spool_in(const char *name) {
        _cleanup_free_ char *dir = path_join(tmpdir, name);
        assert_non_null(dir);
        return path_join(dir, "10-store.part");
}

static void sha256(const uint8_t *p, size_t n, uint8_t ret[32]) {
        unsigned len = 0;
        assert_int_equal(EVP_Digest(p, n, ret, &len, EVP_sha256(), NULL), 1);
}

static void fill(void) {
        for (size_t i = 0; i < SIZE; i++)
                data[i] = (uint8_t) (i * 7 + i / 251);
}

/* Appended in pieces, synced, checked and replayed; reopened keeping a prefix, it goes on
 * after it. */
static void test_append_check_replay(void **state) {
        (void) state;
        fill();
        _cleanup_free_ char *path = spool_in("a");
        struct acquire_spool *s = NULL;
        assert_int_equal(acquire_spool_open(path, 0, SIZE, "store", &s), 0);
        assert_true(acquire_spool_is_on(s));
        for (size_t at = 0; at < SIZE; at += 5000)
                assert_true(acquire_spool_append(s, data + at, SIZE - at < 5000 ? SIZE - at : 5000));
        assert_true(acquire_spool_sync(s));
        acquire_spool_free(s);

        uint8_t h[32];
        sha256(data, SIZE - 1000, h);
        assert_int_equal(acquire_spool_check(path, SIZE - 1000, h, "store"), 1);
        h[0] ^= 1;
        assert_int_equal(acquire_spool_check(path, SIZE - 1000, h, "store"), 0);
        sha256(data, SIZE, h);
        assert_int_equal(acquire_spool_check(path, SIZE + 1, h, "store"), 0); /* shorter than claimed */

        _cleanup_free_ uint8_t *got = malloc(SIZE);
        struct sink k = { .stage = { .push = sink_push }, .got = got };
        assert_int_equal(acquire_spool_replay(path, SIZE, &k.stage, "store"), 0);
        assert_int_equal(k.n, SIZE);
        assert_int_equal(k.pushes, 4);
        assert_memory_equal(got, data, SIZE);

        /* kept: the first 4096 bytes; what follows is written anew */
        assert_int_equal(acquire_spool_open(path, 4096, UINT64_MAX, "store", &s), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 4096);
        assert_true(acquire_spool_append(s, data + 4096, 100));
        acquire_spool_free(s);
        sha256(data, 4196, h);
        assert_int_equal(acquire_spool_check(path, 4196, h, "store"), 1);
}

/* Without room for what is to come, the spool is off before a byte of it is written. */
static void test_no_room(void **state) {
        (void) state;
        _cleanup_free_ char *path = spool_in("b");
        struct acquire_spool *s = NULL;
        assert_int_equal(acquire_spool_open(path, 0, UINT64_MAX / 2, "store", &s), 0);
        assert_false(acquire_spool_is_on(s));
        assert_false(acquire_spool_append(s, "x", 1));
        assert_false(acquire_spool_sync(s));
        assert_int_equal(access(path, F_OK), -1);
        acquire_spool_free(s);

        /* told later (the size arrives with the answer): off, and the file is gone */
        assert_int_equal(acquire_spool_open(path, 0, UINT64_MAX, "store", &s), 0);
        assert_true(acquire_spool_append(s, "x", 1));
        acquire_spool_expect(s, UINT64_MAX / 2);
        assert_false(acquire_spool_is_on(s));
        assert_int_equal(access(path, F_OK), -1);
        acquire_spool_free(s);
}

/* A spool that cannot be created (its directory is a file) is off: no failure. */
static void test_cannot_create(void **state) {
        (void) state;
        _cleanup_free_ char *file = path_join(tmpdir, "c");
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fclose(f);
        _cleanup_free_ char *path = path_join(file, "10-store.part");
        struct acquire_spool *s = NULL;
        assert_int_equal(acquire_spool_open(path, 0, 10, "store", &s), 0);
        assert_false(acquire_spool_is_on(s));
        acquire_spool_free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_check_replay),
                cmocka_unit_test(test_no_room),
                cmocka_unit_test(test_cannot_create),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
