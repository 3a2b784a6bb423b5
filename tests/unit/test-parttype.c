/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/parttype.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>

static const char *const arches[] = {
        "alpha", "arc", "arm", "arm64", "ia64", "loongarch64", "mips-le", "mips64-le", "parisc", "ppc",
        "ppc64", "ppc64-le", "riscv32", "riscv64", "s390", "s390x", "tilegx", "x86", "x86-64",
};
static const char *const variants[] = { "", "-verity", "-verity-sig" };
static const char *const generic[] = { "esp", "xbootldr", "swap", "home", "srv", "var", "tmp", "user-home",
                                        "linux-generic" };

static void expect_uuid(const char *name, const char *uuid) {
        uint8_t id[16];
        char s[37];
        assert_int_equal(partition_type_from_string(name, id), 0);
        uuid_format(id, s);
        assert_string_equal(s, uuid);
        assert_string_equal(partition_type_to_string(id), name);
}

static void test_known_values(void **state) {
        (void) state;
        /* Values from the Discoverable Partitions Specification (repart-boot.md 1.4, 3.1). */
        expect_uuid("esp", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        expect_uuid("xbootldr", "bc13c2ff-59e6-4262-a352-b275fd6f7172");
        expect_uuid("linux-generic", "0fc63daf-8483-4772-8e79-3d69d8477de4");
        expect_uuid("swap", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");
        expect_uuid("user-home", "773f91ef-66d4-49b5-bd83-d683bf40ad16");
        expect_uuid("root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
        expect_uuid("root-x86-64-verity-sig", "41092b05-9fc8-4523-994f-2def0408b176");
        expect_uuid("usr-x86-64-verity", "77ff5f63-e7b6-4633-acf4-1565b864c0e6");
        expect_uuid("usr-arm64-verity-sig", "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a");
        expect_uuid("root-riscv64", "72ec70a6-cf74-40e6-bd49-4bda08e8f224");
        expect_uuid("root-loongarch64", "77055800-792c-4f94-b39a-98c91b762bb6");
        expect_uuid("usr-x86", "75250d76-8cc6-458e-bd66-bd47cc81a812");
}

/* Every name resolves, maps back to itself and has a UUID no other name has. */
static void test_full_table(void **state) {
        (void) state;
        uint8_t ids[ELEMENTSOF(arches) * 6 + ELEMENTSOF(generic)][16];
        size_t n = 0;
        char name[64];
        for (size_t a = 0; a < ELEMENTSOF(arches); a++)
                for (size_t k = 0; k < 2; k++)
                        for (size_t v = 0; v < ELEMENTSOF(variants); v++) {
                                snprintf(name, sizeof name, "%s-%s%s", k ? "usr" : "root", arches[a], variants[v]);
                                assert_int_equal(partition_type_from_string(name, ids[n]), 0);
                                assert_string_equal(partition_type_to_string(ids[n]), name);
                                n++;
                        }
        for (size_t g = 0; g < ELEMENTSOF(generic); g++) {
                assert_int_equal(partition_type_from_string(generic[g], ids[n]), 0);
                assert_string_equal(partition_type_to_string(ids[n]), generic[g]);
                n++;
        }
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        assert_memory_not_equal(ids[i], ids[j], 16);
}

static void test_aliases(void **state) {
        (void) state;
        uint8_t a[16], b[16];
        char name[64];
        static const char *const kinds[] = { "root", "usr", "root-verity", "usr-verity-sig" };
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                assert_int_equal(partition_type_from_string(kinds[i], a), 0);
                const char *dash = strchr(kinds[i], '-');
                size_t k = dash ? (size_t) (dash - kinds[i]) : strlen(kinds[i]);
                snprintf(name, sizeof name, "%.*s-%s%s", (int) k, kinds[i], native_architecture(), dash ? dash : "");
                assert_int_equal(partition_type_from_string(name, b), 0);
                assert_memory_equal(a, b, 16);
                /* The reverse mapping names the architecture. */
                assert_string_equal(partition_type_to_string(a), name);
        }
        if (streq(native_architecture(), "x86-64")) {
                assert_int_equal(partition_type_from_string("root-secondary", a), 0);
                assert_string_equal(partition_type_to_string(a), "root-x86");
                assert_int_equal(partition_type_from_string("usr-secondary-verity", a), 0);
                assert_string_equal(partition_type_to_string(a), "usr-x86-verity");
        }
}

static void test_uuid_and_unknown(void **state) {
        (void) state;
        uint8_t id[16];
        assert_int_equal(partition_type_from_string("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", id), 0);
        assert_string_equal(partition_type_to_string(id), "root-x86-64");
        assert_int_equal(partition_type_from_string("01234567-89ab-cdef-0123-456789abcdef", id), 0);
        assert_null(partition_type_to_string(id));
        assert_int_equal(partition_type_from_string("rooot", id), -EINVAL);
        assert_int_equal(partition_type_from_string("root-vax", id), -EINVAL);
        assert_int_equal(partition_type_from_string("root-x86-64-sig", id), -EINVAL);
        assert_int_equal(partition_type_from_string("", id), -EINVAL);
}

static void test_flags(void **state) {
        (void) state;
        uint8_t id[16];
        struct {
                const char *name;
                bool ro, growfs, noauto;
        } cases[] = {
                { "root-x86-64", true, true, true },       { "usr-arm64", true, true, true },
                { "root-x86-64-verity", true, false, true }, { "usr-x86-verity-sig", false, false, false },
                { "home", true, true, true },              { "xbootldr", true, true, true },
                { "swap", false, false, true },            { "esp", false, false, false },
                { "linux-generic", false, false, false },  { "user-home", false, false, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(partition_type_from_string(cases[i].name, id), 0);
                assert_int_equal(partition_type_knows_read_only(id), cases[i].ro);
                assert_int_equal(partition_type_knows_growfs(id), cases[i].growfs);
                assert_int_equal(partition_type_knows_no_auto(id), cases[i].noauto);
        }
        assert_int_equal(GPT_FLAG_READ_ONLY, UINT64_C(0x1000000000000000));
        assert_int_equal(GPT_FLAG_GROWFS, UINT64_C(0x0800000000000000));
        assert_int_equal(GPT_FLAG_NO_AUTO, UINT64_C(0x8000000000000000));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_values), cmocka_unit_test(test_full_table),
                cmocka_unit_test(test_aliases),      cmocka_unit_test(test_uuid_and_unknown),
                cmocka_unit_test(test_flags),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
