/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/parttype.h"
#include "image/repart-uuid.h"
#include "base/util.h"

static void check(const uint8_t u[16], const char *expect) {
        char s[37];
        uuid_format(u, s);
        assert_string_equal(s, expect);
}

static uint8_t seed[16];

static int setup(void **state) {
        (void) state;
        return uuid_parse("0867da16-f251-457d-a9e8-c31f9a3c220b", seed);
}

/* The test vector of spec repart-boot.md 1.7, verified against systemd-repart 252. */
static void test_disk(void **state) {
        (void) state;
        uint8_t u[16];
        assert_int_equal(repart_uuid_disk(seed, u), 0);
        check(u, "b581fef7-24ed-4f31-990b-099ec86bba03");
}

static void test_partitions(void **state) {
        (void) state;
        static const struct {
                const char *type;
                uint64_t k;
                const char *uuid;
        } v[] = {
                { "esp", 0, "dac4058a-2fc0-4808-a7ef-b8b4501c00ce" },
                { "root-x86-64", 0, "57bd1ad1-c688-450a-ba37-d1792ec72fbb" },
                { "root-x86-64", 1, "b61515ed-6e9f-4302-973e-25303565d610" },
                { "root-x86-64", 2, "173ffb50-62c5-47a5-b658-90b0bd38402b" },
                { "linux-generic", 0, "be6595b1-70b2-4c1e-a455-2693510a426f" },
                { "linux-generic", 1, "8e96213d-8e49-4402-819d-bf44af665035" },
                { "linux-generic", 2, "886a30bb-93cc-42c4-a9e5-e7fa5acc7cd8" },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                uint8_t t[16], u[16];
                assert_int_equal(partition_type_from_string(v[i].type, t), 0);
                assert_int_equal(repart_uuid_partition(seed, t, v[i].k, u), 0);
                check(u, v[i].uuid);
                assert_int_equal(u[6] >> 4, 4);
                assert_int_equal(u[8] & 0xC0, 0x80);
        }
}

static void test_filesystem(void **state) {
        (void) state;
        uint8_t t[16], p[16], f[16];
        assert_int_equal(partition_type_from_string("root-x86-64", t), 0);
        assert_int_equal(repart_uuid_partition(seed, t, 2, p), 0);
        assert_int_equal(repart_uuid_filesystem(p, f), 0);
        check(f, "2aa26750-d987-4e93-ae1c-f85a93aa44e1");

        /* the ESP's vfat serial is the first 4 bytes of its file system UUID */
        assert_int_equal(partition_type_from_string("esp", t), 0);
        assert_int_equal(repart_uuid_partition(seed, t, 0, p), 0);
        assert_int_equal(repart_uuid_filesystem(p, f), 0);
        char hex[9];
        hex_format(f, 4, hex);
        assert_string_equal(hex, "793a442b");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_disk),
                cmocka_unit_test(test_partitions),
                cmocka_unit_test(test_filesystem),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
