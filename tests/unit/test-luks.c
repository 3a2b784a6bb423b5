/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Key files and recovery keys; the TPM paths run against swtpm in tests/integration/test_encrypt.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypt/luks.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/abota-test-luks-XXXXXX";

static char *path(const char *name) {
        return strprintf("%s/%s", dir, name);
}

static void put(const char *name, const void *data, size_t n) {
        char *p = path(name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        fclose(f);
        free(p);
}

static const uint8_t uuid[16] = { 0x44, 0xf6, 0x77, 0xbf, 0x19, 0x94, 0x4d, 0x35,
                                  0x8d, 0x04, 0x52, 0xa9, 0x49, 0x33, 0xb9, 0x91 };

static void test_format_and_unlock(void **state) {
        (void) state;
        enum { SIZE = 20 * 1024 * 1024, PAYLOAD = 3 * 512 + 100 };
        uint8_t payload[PAYLOAD];
        for (size_t i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t) (i * 7 + 1);
        put("payload", payload, sizeof(payload));
        put("key", "build key", 9);
        put("wrong", "wrong key", 9);
        char *vol = path("vol"), *pl = path("payload"), *key = path("key"), *wrong = path("wrong");
        struct luks_keys k = { .key_file = key };
        assert_int_equal(luks_format_image("test", vol, SIZE, pl, uuid, "home", &k), 0);

        int slot;
        const char *method;
        struct luks_unlock u = { .key_file = key };
        assert_int_equal(luks_unlock(vol, NULL, &u, &slot, &method), 0);
        assert_int_equal(slot, 0);
        assert_string_equal(method, "key file");
        u.key_file = wrong;
        assert_int_equal(luks_unlock(vol, NULL, &u, &slot, &method), -EPERM);
        u.key_file = NULL;
        assert_int_equal(luks_unlock(vol, NULL, &u, &slot, &method), -ENOKEY);

        /* The data segment holds the payload as aes-xts-plain64 with sector-number IVs. */
        struct crypt_device *cd;
        assert_int_equal(crypt_init(&cd, vol), 0);
        assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
        assert_string_equal(crypt_get_uuid(cd), "44f677bf-1994-4d35-8d04-52a94933b991");
        assert_string_equal(crypt_get_cipher(cd), "aes");
        assert_string_equal(crypt_get_cipher_mode(cd), "xts-plain64");
        assert_int_equal(crypt_get_data_offset(cd) * 512, LUKS_DATA_OFFSET);
        char vk[64];
        size_t vk_size = sizeof(vk);
        assert_int_equal(crypt_volume_key_get(cd, CRYPT_ANY_SLOT, vk, &vk_size, "build key", 9), 0);
        assert_int_equal(vk_size, 64);
        crypt_free(cd);
        int fd = open(vol, O_RDONLY);
        assert_true(fd >= 0);
        uint8_t ct[4 * 512], pt[4 * 512];
        assert_int_equal(pread(fd, ct, sizeof(ct), LUKS_DATA_OFFSET), sizeof(ct));
        close(fd);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        for (int s = 0; s < 4; s++) {
                uint8_t iv[16] = { (uint8_t) s };
                int n;
                assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_xts(), NULL, (uint8_t *) vk, iv), 1);
                assert_int_equal(EVP_DecryptUpdate(ctx, pt + 512 * s, &n, ct + 512 * s, 512), 1);
        }
        EVP_CIPHER_CTX_free(ctx);
        assert_memory_equal(pt, payload, sizeof(payload));
        for (size_t i = sizeof(payload); i < sizeof(pt); i++)
                assert_int_equal(pt[i], 0);

        /* A recovery key: enrolled with the key file, then it opens the volume on its own. */
        char rk[RECOVERY_KEY_LENGTH + 1];
        struct luks_enroll e = { .recovery_key = true };
        u.key_file = key;
        assert_int_equal(luks_enroll(vol, &u, &e, rk), 0);
        struct luks_unlock r = { .recovery_key = rk };
        assert_int_equal(luks_unlock(vol, NULL, &r, &slot, &method), 0);
        assert_int_equal(slot, 1);
        assert_string_equal(method, "recovery key");
        assert_int_equal(crypt_init(&cd, vol), 0);
        assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
        const char *type;
        assert_int_equal(crypt_token_status(cd, 0, &type), CRYPT_TOKEN_EXTERNAL_UNKNOWN);
        assert_string_equal(type, "systemd-recovery");
        crypt_free(cd);

        /* A payload larger than the data segment is refused. */
        assert_int_equal(luks_format_image("test", vol, LUKS_DATA_OFFSET + 1024, pl, uuid, "home", &k), -EFBIG);
        free(vol);
        free(pl);
        free(key);
        free(wrong);
}

static int setup(void **state) {
        (void) state;
        log_set_max_level(LOG_ERR - 1);  /* the expected failures need not be printed */
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        const char *names[] = { "vol", "payload", "key", "wrong" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char *p = path(names[i]);
                (void) unlink(p);
                free(p);
        }
        return rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_and_unlock),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
