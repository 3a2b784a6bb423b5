/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hash tree is compared byte for byte with `veritysetup format` and checked with
 * `veritysetup verify` in tests/integration/test_verity.py; here: sizes, pairing, the superblock,
 * the one-block case and the failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-verity.h"
#include "base/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define B REPART_VERITY_BLOCK

static void test_hash_size(void **state) {
        (void) state;
        assert_int_equal(repart_verity_hash_size(B), B);                /* superblock only */
        assert_int_equal(repart_verity_hash_size(2 * B), 2 * B);        /* one level of one block */
        assert_int_equal(repart_verity_hash_size(128 * B), 2 * B);
        assert_int_equal(repart_verity_hash_size(129 * B), 4 * B);      /* 2 + 1 blocks */
        /* 64 MiB: 128 + 1 hash blocks, as veritysetup dump reports ("Hash device size: 532480") */
        assert_int_equal(repart_verity_hash_size(64 * 1024 * 1024), 532480);
        /* 1 GiB: 2048 + 16 + 1 (spec 6.2) */
        assert_int_equal(repart_verity_hash_size(UINT64_C(1) << 30), (1 + 2048 + 16 + 1) * B);
}

static void test_salt(void **state) {
        (void) state;
        uint8_t seed[16] = { 1 }, other[16] = { 2 };
        uint8_t s1[32], s2[32], s3[32], u1[16], u2[16], u3[16];
        assert_int_equal(repart_verity_salt(seed, s1, u1), 0);
        assert_int_equal(repart_verity_salt(seed, s2, u2), 0);
        assert_int_equal(repart_verity_salt(other, s3, u3), 0);
        assert_memory_equal(s1, s2, 32);
        assert_memory_equal(u1, u2, 16);
        assert_memory_not_equal(s1, s3, 32);
        assert_memory_not_equal(u1, u3, 16);
        assert_int_equal(u1[6] >> 4, 4);
        assert_int_equal(u1[8] & 0xC0, 0x80);
}

static struct repart_definition def(const char *path, enum repart_verity v, const char *key) {
        return (struct repart_definition) { .path = (char *) path, .verity = v, .verity_match_key = (char *) key };
}

static void test_pair(void **state) {
        (void) state;
        struct repart_definition items[4] = {
                def("10-esp.conf", REPART_VERITY_OFF, NULL),
                def("20-usr.conf", REPART_VERITY_DATA, "usr"),
                def("30-root.conf", REPART_VERITY_DATA, "root"),
                def("40-usr-verity.conf", REPART_VERITY_HASH, "usr"),
        };
        struct repart_definitions defs = { .items = items, .n = 4 };
        size_t partner[4];
        assert_int_equal(repart_verity_pair(&defs, partner), -EINVAL); /* root has no hash partner */
        items[2].verity_match_key = (char *) "usr";
        assert_int_equal(repart_verity_pair(&defs, partner), -EINVAL); /* two data partitions for usr */
        items[2].verity = REPART_VERITY_OFF;
        assert_int_equal(repart_verity_pair(&defs, partner), 0);
        assert_int_equal(partner[0], SIZE_MAX);
        assert_int_equal(partner[1], 3);
        assert_int_equal(partner[2], SIZE_MAX);
        assert_int_equal(partner[3], 1);
}

static int disk(uint64_t data_size, uint64_t hash_size) {
        int fd = memfd_create("disk", 0);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) (data_size + hash_size)), 0);
        return fd;
}

static void test_one_block(void **state) {
        (void) state;
        int fd = disk(B, B);
        uint8_t block[B], root[32], expect[32], sb[B];
        memset(block, 0xA5, sizeof(block));
        assert_int_equal(pwrite(fd, block, B, 0), B);
        struct repart_verity_request req = { .what = "hash.conf", .fd = fd, .data_offset = 0, .data_size = B,
                                             .hash_offset = B, .hash_size = B };
        memset(req.salt, 7, sizeof(req.salt));
        memset(req.uuid, 9, sizeof(req.uuid));
        assert_int_equal(repart_verity_build(&req, root), 0);

        /* no hash level: the root hash is SHA-256(salt || the data block) */
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned len = 0;
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, req.salt, 32), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, block, B), 1);
        assert_int_equal(EVP_DigestFinal_ex(ctx, expect, &len), 1);
        EVP_MD_CTX_free(ctx);
        assert_memory_equal(root, expect, 32);

        assert_int_equal(pread(fd, sb, B, B), B);
        assert_memory_equal(sb, "verity\0\0\1\0\0\0\1\0\0\0", 16);
        assert_memory_equal(sb + 16, req.uuid, 16);
        assert_string_equal((char *) sb + 32, "sha256");
        assert_memory_equal(sb + 64, "\0\20\0\0\0\20\0\0\1\0\0\0\0\0\0\0\40\0", 18);
        assert_memory_equal(sb + 88, req.salt, 32);
        for (size_t i = 88 + 32; i < B; i++)
                assert_int_equal(sb[i], 0);
        close(fd);
}

static void test_content_and_size(void **state) {
        (void) state;
        uint64_t data = 129 * B;
        int fd = disk(data, 4 * B);
        struct repart_verity_request req = { .what = "hash.conf", .fd = fd, .data_offset = 0, .data_size = data,
                                             .hash_offset = data, .hash_size = 4 * B };
        uint8_t r1[32], r2[32];
        assert_int_equal(repart_verity_build(&req, r1), 0);
        /* the last data block counts */
        assert_int_equal(pwrite(fd, "x", 1, (off_t) data - 1), 1);
        assert_int_equal(repart_verity_build(&req, r2), 0);
        assert_memory_not_equal(r1, r2, 32);
        /* so does the salt */
        req.salt[0] ^= 1;
        assert_int_equal(repart_verity_build(&req, r1), 0);
        assert_memory_not_equal(r1, r2, 32);

        req.hash_size = 3 * B;
        assert_int_equal(repart_verity_build(&req, r1), -EFBIG);
        req.hash_size = 4 * B;
        req.data_size = data - 512;
        assert_int_equal(repart_verity_build(&req, r1), -EINVAL);
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hash_size),   cmocka_unit_test(test_salt),
                cmocka_unit_test(test_pair),        cmocka_unit_test(test_one_block),
                cmocka_unit_test(test_content_and_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
