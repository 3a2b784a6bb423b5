/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Building encrypted partitions runs in tests/integration/test_encrypt.py (it needs mkfs and a TPM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-encrypt.h"
#include "base/log.h"

#include <errno.h>

static void test_overhead(void **state) {
        (void) state;
        struct repart_definition d = { .encrypt = REPART_ENCRYPT_OFF };
        assert_int_equal(repart_encrypt_overhead(&d), 0);
        d.encrypt = REPART_ENCRYPT_TPM2;
        assert_int_equal(repart_encrypt_overhead(&d), 16 * 1024 * 1024);
}

static void test_too_small(void **state) {
        (void) state;
        struct repart_definition d = { .path = "10-a.conf", .file_name = "10-a.conf", .encrypt = REPART_ENCRYPT_TPM2 };
        struct repart_encrypt_request req = { .def = &d };
        log_set_max_level(LOG_ERR - 1);
        assert_int_equal(repart_encrypt_build(&req, 16 * 1024 * 1024, "/nonexistent/x"), -EFBIG);
}

static void test_check(void **state) {
        (void) state;
        struct repart_definition items[2] = {
                { .path = "10-a.conf", .encrypt = REPART_ENCRYPT_TPM2 },
                { .path = "20-b.conf", .encrypt = REPART_ENCRYPT_OFF },
        };
        struct repart_definitions defs = { .items = items, .n = 2 };
        assert_int_equal(repart_encrypt_check(&defs, NULL), 0);
        items[1].encrypt = REPART_ENCRYPT_KEY_FILE_TPM2;
        log_set_max_level(LOG_ERR - 1);
        assert_int_equal(repart_encrypt_check(&defs, NULL), -EINVAL);
        assert_int_equal(repart_encrypt_check(&defs, "/some/key"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_overhead),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_too_small),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
