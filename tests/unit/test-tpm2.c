/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sealing and unsealing need a TPM: tests/integration/test_encrypt.py runs them against swtpm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypt/tpm2.h"

#include <errno.h>

static void test_pcr_mask_parse(void **state) {
        (void) state;
        uint32_t m;
        assert_int_equal(tpm2_pcr_mask_parse("7", &m), 0);
        assert_int_equal(m, 0x80);
        assert_int_equal(tpm2_pcr_mask_parse("0+7", &m), 0);
        assert_int_equal(m, 0x81);
        assert_int_equal(tpm2_pcr_mask_parse("0,2,23", &m), 0);
        assert_int_equal(m, 0x800005);
        assert_int_equal(tpm2_pcr_mask_parse("", &m), 0);
        assert_int_equal(m, 0);
        static const char *const bad[] = { "24", "x", "7+", "+7", "7;8", "-1", "7 " };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(tpm2_pcr_mask_parse(bad[i], &m), -EINVAL);
}

static void test_unreachable(void **state) {
        (void) state;
        /* Nothing listens on port 1: a clear failure, not a crash or a hang. */
        struct tpm2_sealed s = {};
        char *pass = NULL;
        assert_int_equal(tpm2_seal("swtpm:host=127.0.0.1,port=1", 0x80, &s, &pass), -ENODEV);
        assert_null(pass);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pcr_mask_parse),
                cmocka_unit_test(test_unreachable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
