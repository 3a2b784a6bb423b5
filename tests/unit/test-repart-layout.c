/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-layout.h"
#include "base/util.h"

#include <errno.h>

#define K UINT64_C(1024)
#define M (K * K)
#define G (K * M)

static struct repart_layout_item new_item(uint64_t min, uint64_t max, uint32_t weight) {
        return (struct repart_layout_item) { .min_size = min, .max_size = max, .weight = weight,
                                             .max_padding = UINT64_MAX, .slot = -1 };
}

/* --size=auto: the spec's verified example sums to 1 362 120 704 bytes. */
static void test_auto_size(void **state) {
        (void) state;
        uint64_t sizes[] = { 64 * M, 100 * M, 256 * M, 100 * M, 10 * M, 256 * M, 512 * M };
        struct repart_layout_item it[7];
        for (size_t i = 0; i < 7; i++)
                it[i] = new_item(sizes[i], UINT64_MAX, 1000);
        assert_int_equal(repart_layout_auto_size(it, 7), UINT64_C(1362120704));
}

/* Fresh disk of exactly the auto size: packed back to back from 1 MiB, no extra space. */
static void test_packed(void **state) {
        (void) state;
        struct repart_layout_item it[4] = {
                new_item(200 * M, 200 * M, 1000),
                new_item(2 * G, 2 * G, 1000),
                new_item(2 * G, 2 * G, 1000),
                new_item(10 * M, UINT64_MAX, 1000),
        };
        uint64_t end = repart_layout_auto_size(it, 4) - 20 * K;
        assert_int_equal(repart_layout_place(it, 4, M, end, 4096), 0);
        uint64_t off = M;
        for (int i = 0; i < 4; i++) {
                assert_int_equal(it[i].offset, off);
                assert_int_equal(it[i].new_size, it[i].min_size);
                assert_int_equal(it[i].new_padding, 0);
                assert_int_equal(it[i].new_slot, i);
                off += it[i].new_size;
        }
        assert_int_equal(off, end);
}

/* Extra space goes by weight: 1:3 between two unbounded partitions, maxima respected. */
static void test_weights(void **state) {
        (void) state;
        struct repart_layout_item it[3] = {
                new_item(10 * M, UINT64_MAX, 1000),
                new_item(10 * M, UINT64_MAX, 3000),
                new_item(10 * M, 50 * M, 1000),
        };
        assert_int_equal(repart_layout_place(it, 3, M, M + 1050 * M, 4096), 0);
        assert_int_equal(it[2].new_size, 50 * M);
        assert_int_equal(it[0].new_size, 250 * M);
        assert_int_equal(it[1].new_size, 750 * M);
        assert_int_equal(it[1].offset, M + 250 * M);
        assert_int_equal(it[2].offset, M + 1000 * M);
}

/* Padding weights share the space too; padding minima are kept. */
static void test_padding(void **state) {
        (void) state;
        struct repart_layout_item it[2] = { new_item(4 * M, 4 * M, 1000), new_item(4 * M, 4 * M, 1000) };
        it[0].padding_weight = 1;
        it[1].min_padding = M;
        it[1].max_padding = M;
        assert_int_equal(repart_layout_place(it, 2, M, M + 100 * M, 4096), 0);
        assert_int_equal(it[1].new_padding, M);
        assert_int_equal(it[0].new_padding, 100 * M - 8 * M - M);
        assert_int_equal(it[1].offset, M + 4 * M + it[0].new_padding);
}

/* First boot: two existing partitions keep their place; the new ones go behind them and the
 * weighted one takes the rest of the disk. */
static void test_existing(void **state) {
        (void) state;
        struct repart_layout_item it[4] = {
                { .exists = true, .current_offset = M, .current_size = 200 * M, .min_size = 200 * M,
                  .max_size = 200 * M, .weight = 1000, .max_padding = UINT64_MAX, .slot = 0 },
                { .exists = true, .current_offset = 201 * M, .current_size = 2 * G, .min_size = 2 * G,
                  .max_size = 2 * G, .weight = 1000, .max_padding = UINT64_MAX, .slot = 1 },
                new_item(2 * G, 2 * G, 1000),
                new_item(10 * M, UINT64_MAX, 1000),
        };
        uint64_t end = 8 * G - 20 * K;
        assert_int_equal(repart_layout_place(it, 4, M, end, 4096), 0);
        assert_int_equal(it[0].offset, M);
        assert_int_equal(it[0].new_size, 200 * M);
        assert_int_equal(it[1].offset, 201 * M);
        assert_int_equal(it[1].new_size, 2 * G);
        assert_int_equal(it[2].offset, 201 * M + 2 * G);
        assert_int_equal(it[2].new_slot, 2);
        assert_int_equal(it[3].offset, 201 * M + 4 * G);
        assert_int_equal(it[3].new_slot, 3);
        assert_int_equal(it[3].offset + it[3].new_size, repart_round_down(end, 4096));
}

/* An existing partition followed by free space grows if its definition allows it; a foreign
 * one never does. */
static void test_existing_grows(void **state) {
        (void) state;
        struct repart_layout_item it[2] = {
                { .exists = true, .current_offset = M, .current_size = 10 * M, .min_size = 10 * M,
                  .max_size = UINT64_MAX, .weight = 1000, .max_padding = UINT64_MAX, .slot = 0 },
                { .exists = true, .foreign = true, .current_offset = 50 * M, .current_size = 10 * M,
                  .min_size = 10 * M, .max_size = UINT64_MAX, .weight = 1000, .slot = 1 },
        };
        assert_int_equal(repart_layout_place(it, 2, M, 100 * M, 4096), 0);
        assert_int_equal(it[0].new_size, 49 * M);
        assert_int_equal(it[1].new_size, 10 * M);
        assert_int_equal(it[1].new_padding, 40 * M);
}

static void test_priority(void **state) {
        (void) state;
        struct repart_layout_item it[3] = {
                new_item(40 * M, UINT64_MAX, 1000),
                new_item(40 * M, UINT64_MAX, 1000),
                new_item(40 * M, UINT64_MAX, 1000),
        };
        it[1].priority = 5;
        it[2].priority = 3;
        assert_int_equal(repart_layout_place(it, 3, M, 100 * M, 4096), 0);
        assert_true(it[1].dropped);
        assert_false(it[0].dropped);
        assert_false(it[2].dropped);
        assert_int_equal(it[2].offset, M + it[0].new_size);

        it[1].priority = 0;
        it[2].priority = 0;
        assert_int_equal(repart_layout_place(it, 3, M, 100 * M, 4096), -ENOSPC);
}

/* Small partitions fill the smallest gap that holds them (first fit, smallest area first). */
static void test_gaps(void **state) {
        (void) state;
        struct repart_layout_item it[4] = {
                { .exists = true, .foreign = true, .current_offset = M, .current_size = 10 * M, .min_size = 10 * M,
                  .max_size = UINT64_MAX, .slot = 0 },
                { .exists = true, .foreign = true, .current_offset = 15 * M, .current_size = 10 * M,
                  .min_size = 10 * M, .max_size = UINT64_MAX, .slot = 1 },
                new_item(30 * M, 30 * M, 1000),
                new_item(4 * M, 4 * M, 1000),
        };
        assert_int_equal(repart_layout_place(it, 4, M, 100 * M, 4096), 0);
        assert_int_equal(it[3].offset, 11 * M);
        /* What no partition can take becomes padding of the partition in front of the area, so
         * the fixed-size one lands at the end (systemd-repart 252 does the same). */
        assert_int_equal(it[2].offset, 70 * M);
        assert_int_equal(it[1].new_padding, 45 * M);
        assert_int_equal(it[3].new_slot, 2);
        assert_int_equal(it[2].new_slot, 3);
}

/* An existing partition never shrinks, whatever its maximum says now; one whose minimum is above
 * its size grows into the space behind it, and fails when there is none. */
static void test_existing_never_shrinks(void **state) {
        (void) state;
        struct repart_layout_item it[2] = {
                { .exists = true, .current_offset = M, .current_size = 8 * M, .min_size = 8 * M,
                  .max_size = 4 * M, .max_padding = UINT64_MAX, .weight = 1000, .slot = 0 },
        };
        assert_int_equal(repart_layout_place(it, 1, M, 64 * M, 4096), 0);
        assert_int_equal(it[0].new_size, 8 * M);
        it[0].min_size = 10 * M;
        assert_int_equal(repart_layout_place(it, 1, M, 64 * M, 4096), 0);
        assert_int_equal(it[0].new_size, 10 * M);
        /* another partition right behind it: no room to grow */
        it[1] = (struct repart_layout_item) { .exists = true, .foreign = true, .current_offset = 9 * M,
                                              .current_size = M, .min_size = M, .slot = 1 };
        assert_int_equal(repart_layout_place(it, 2, M, 64 * M, 4096), -ENOSPC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auto_size), cmocka_unit_test(test_packed),
                cmocka_unit_test(test_weights),   cmocka_unit_test(test_padding),
                cmocka_unit_test(test_existing),  cmocka_unit_test(test_existing_grows),
                cmocka_unit_test(test_priority),  cmocka_unit_test(test_gaps),
                cmocka_unit_test(test_existing_never_shrinks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
