/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypt/recovery.h"

#include <errno.h>
#include <string.h>

static void check_format(const char *k) {
        assert_int_equal(strlen(k), RECOVERY_KEY_LENGTH);
        for (size_t i = 0; i < RECOVERY_KEY_LENGTH; i++)
                if (i % 9 == 8)
                        assert_int_equal(k[i], '-');
                else
                        assert_non_null(strchr("cbdefghijklnrtuv", k[i]));
}

static void test_generate(void **state) {
        (void) state;
        char a[RECOVERY_KEY_LENGTH + 1], b[RECOVERY_KEY_LENGTH + 1];
        assert_int_equal(recovery_key_generate(a), 0);
        assert_int_equal(recovery_key_generate(b), 0);
        check_format(a);
        check_format(b);
        assert_string_not_equal(a, b);
        /* Every letter of the alphabet shows up over a few keys (all 16 nibble values used). */
        char seen[17] = "";
        for (int n = 0; n < 20; n++) {
                assert_int_equal(recovery_key_generate(a), 0);
                for (const char *p = a; *p; p++)
                        if (*p != '-' && !strchr(seen, *p))
                                seen[strlen(seen)] = *p;
        }
        assert_int_equal(strlen(seen), 16);
}

static void test_normalize(void **state) {
        (void) state;
        /* A key systemd-cryptenroll 252 printed. */
        static const char key[] = "jcfdfgtn-levvrebi-udhvcjdg-eingidtl-rrjlbgjc-rkugvrtc-gtrrcdtn-nvvhkhkc";
        char out[RECOVERY_KEY_LENGTH + 1];
        assert_int_equal(recovery_key_normalize(key, out), 0);
        assert_string_equal(out, key);
        assert_int_equal(recovery_key_normalize("  JCFDFGTNLEVVREBIUDHVCJDGEINGIDTLRRJLBGJCRKUGVRTCGTRRCDTNNVVHKHKC\n", out), 0);
        assert_string_equal(out, key);
        assert_int_equal(recovery_key_normalize("jcfd-fgtn-levv-rebi-udhv-cjdg-eing-idtl-rrjl-bgjc-rkug-vrtc-gtrr-cdtn-nvvh-khkc", out), 0);
        assert_string_equal(out, key);

        static const char *const bad[] = {
                "",
                "jcfdfgtn-levvrebi-udhvcjdg-eingidtl-rrjlbgjc-rkugvrtc-gtrrcdtn-nvvhkhk",   /* 63 letters */
                "jcfdfgtn-levvrebi-udhvcjdg-eingidtl-rrjlbgjc-rkugvrtc-gtrrcdtn-nvvhkhkcc", /* 65 */
                "acfdfgtn-levvrebi-udhvcjdg-eingidtl-rrjlbgjc-rkugvrtc-gtrrcdtn-nvvhkhkc",  /* 'a' */
                "jcfdfgtn levvrebi-udhvcjdg-eingidtl-rrjlbgjc-rkugvrtc-gtrrcdtn-nvvhkhkc",  /* blank inside */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(recovery_key_normalize(bad[i], out), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generate),
                cmocka_unit_test(test_normalize),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
