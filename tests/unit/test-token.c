/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypt/token.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A token systemd-cryptenroll 252 wrote (--tpm2-device=swtpm:... --tpm2-pcrs=7), as
 * `cryptsetup token export` prints it. */
static const char systemd_token[] =
        "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-blob\":\"AJ4AIBH1lUkoeJlDccnuTdjvA76KEEjp/cN5AEUctxca"
        "Kjz2ABAZHh4ClmkG4FH/v7+5B6Sei0rSNdBDfLiCGUgcck8N7c4C5DIQ9waPTFMHKux0/MWrF29DF7GfGrnnur5+LsBWSkkcLqMizwIHBKKr"
        "VMCADuywit9nG2HZChazqKZEfEkIed5IU+rCxzZDRIEZv2FvdMaRxXmsMx08IABOAAgACwAAABIAIItWgtgbKUNdCNeSeBUGEdx+WSOy/vzO"
        "aEoJV3tAEwqLABAAIIiQ2bSOpnJQtf0RfJPoB0zh3Ac0/k3OFJei/cRQozSc\",\"tpm2-pcrs\":[7],\"tpm2-pcr-bank\":\"sha256\","
        "\"tpm2-primary-alg\":\"ecc\",\"tpm2-policy-hash\":\"8b5682d81b29435d08d79278150611dc7e5923b2fefcce684a09577b40"
        "130a8b\",\"tpm2-pin\":false}";

static void test_systemd_token_roundtrip(void **state) {
        (void) state;
        struct tpm2_sealed s;
        int slot;
        assert_int_equal(token_tpm2_parse(systemd_token, &s, &slot), 0);
        assert_int_equal(slot, 1);
        assert_int_equal(s.pcr_mask, 0x80);
        assert_string_equal(s.pcr_bank, "sha256");
        assert_string_equal(s.primary_alg, "ecc");
        assert_int_equal(s.policy_hash_size, 32);
        assert_int_equal(s.policy_hash[0], 0x8b);
        assert_int_equal(s.pin, 0);
        /* TPM2B_PRIVATE (0x009e bytes) then TPM2B_PUBLIC (0x004e bytes), 2-byte sizes each. */
        assert_int_equal(s.blob_size, 2 + 0x9e + 2 + 0x4e);
        assert_int_equal(s.blob[0], 0x00);
        assert_int_equal(s.blob[1], 0x9e);
        char *again = token_tpm2_format(&s, slot);
        assert_non_null(again);
        assert_string_equal(again, systemd_token);
        free(again);
        tpm2_sealed_done(&s);
}

static void test_other_and_bad_tokens(void **state) {
        (void) state;
        struct tpm2_sealed s;
        int slot;
        char *rec = token_recovery_format(2);
        assert_string_equal(rec, "{\"type\":\"systemd-recovery\",\"keyslots\":[\"2\"]}");
        assert_int_equal(token_tpm2_parse(rec, &s, &slot), -EMEDIUMTYPE);
        free(rec);
        static const char *const bad[] = {
                "not json",
                "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-pcrs\":[7]}",                       /* no blob */
                "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-blob\":\"AAAA\",\"tpm2-pcrs\":[24]}",
                "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"x\"],\"tpm2-blob\":\"AAAA\",\"tpm2-pcrs\":[7]}",
                ("{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-blob\":\"AAAA\",\"tpm2-pcrs\":[7],"
                 "\"tpm2-policy-hash\":\"abc\"}"),
                "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-blob\":\"AAAA\",\"tpm2-pcrs\":\"7\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(token_tpm2_parse(bad[i], &s, &slot), -EINVAL);
        /* Without bank and algorithm: systemd 252's defaults; a PIN is recorded. */
        assert_int_equal(token_tpm2_parse("{\"type\":\"systemd-tpm2\",\"keyslots\":[],\"tpm2-blob\":\"AAAA\","
                                          "\"tpm2-pcrs\":[0,7],\"tpm2-pin\":true}", &s, &slot), 0);
        assert_int_equal(slot, -1);
        assert_int_equal(s.pcr_mask, 0x81);
        assert_string_equal(s.pcr_bank, "sha256");
        assert_string_equal(s.primary_alg, "ecc");
        assert_int_equal(s.blob_size, 3);
        assert_int_equal(s.pin, 1);
        tpm2_sealed_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_systemd_token_roundtrip),
                cmocka_unit_test(test_other_and_bad_tokens),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
