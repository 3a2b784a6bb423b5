/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/block-index.h"
#include "base/util.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <zstd.h>

static void test_names(void **state) {
        (void) state;
        _cleanup_free_ char *i = block_index_name("appliance_2.store.raw"), *d = block_data_name("appliance_2.store.raw");
        assert_string_equal(i, "@index@appliance_2.store.raw");
        assert_string_equal(d, "@blocks@appliance_2.store.raw");
        assert_string_equal(block_index_target(i), "appliance_2.store.raw");
        assert_string_equal(block_index_target(d), "appliance_2.store.raw");
        assert_null(block_index_target("appliance_2.store.raw"));
        assert_null(block_index_target("@index@"));
        assert_null(block_index_target("@delta@1@appliance_2.store.raw"));
}

/* An index of three blocks (the last one short): data, zeros, 100 bytes of data. */
static struct block_index *sample(void) {
        struct block_index *idx = NULL;
        uint8_t b[BLOCK_SIZE];
        assert_int_equal(block_index_new(2 * BLOCK_SIZE + 100, &idx), 0);
        assert_int_equal(idx->n_blocks, 3);
        memset(b, 0x5a, sizeof(b));
        assert_int_equal(block_hash(b, BLOCK_SIZE, idx->hashes[0]), 0);
        memset(b, 0, sizeof(b));
        assert_int_equal(block_hash(b, BLOCK_SIZE, idx->hashes[1]), 0);
        memset(b, 0x17, 100);
        assert_int_equal(block_hash(b, 100, idx->hashes[2]), 0);
        idx->lengths[0] = 20;
        idx->lengths[1] = 0;
        idx->lengths[2] = 15;
        idx->data_size = 35;
        memset(idx->image_sha256, 0xee, 32);
        return idx;
}

static void test_roundtrip(void **state) {
        (void) state;
        struct block_index *idx = sample(), *g = NULL;
        _cleanup_free_ uint8_t *raw = NULL;
        size_t n = 0;
        assert_int_equal(block_index_format(idx, &raw, &n), 0);
        assert_int_equal(n, BLOCK_INDEX_HEADER_SIZE + 3 * 12);
        assert_memory_equal(raw, "ABOTABI1", 8);
        assert_int_equal(block_index_parse(raw, n, &g), 0);
        assert_int_equal(g->image_size, 2 * BLOCK_SIZE + 100);
        assert_int_equal(g->n_blocks, 3);
        assert_int_equal(g->data_size, 35);
        assert_memory_equal(g->image_sha256, idx->image_sha256, 32);
        assert_memory_equal(g->hashes, idx->hashes, 3 * BLOCK_HASH_SIZE);
        assert_int_equal(g->offsets[0], 0);
        assert_int_equal(g->offsets[1], 20);
        assert_int_equal(g->offsets[2], 20);
        assert_int_equal(g->offsets[3], 35);
        block_index_free(g);

        /* as published: one zstd frame */
        size_t bound = ZSTD_compressBound(n);
        _cleanup_free_ uint8_t *z = malloc(bound);
        size_t k = ZSTD_compress(z, bound, raw, n, 3);
        assert_false(ZSTD_isError(k));
        assert_int_equal(block_index_load(z, k, &g), 0);
        assert_int_equal(g->n_blocks, 3);
        block_index_free(g);
        /* truncated, trailing garbage, not zstd */
        g = NULL;
        assert_int_equal(block_index_load(z, k - 1, &g), -EBADMSG);
        _cleanup_free_ uint8_t *z2 = malloc(k + 1);
        memcpy(z2, z, k);
        z2[k] = 0;
        assert_int_equal(block_index_load(z2, k + 1, &g), -EBADMSG);
        assert_int_equal(block_index_load(raw, n, &g), -EBADMSG);
        assert_null(g);
        block_index_free(idx);
}

static void put32(uint8_t *p, uint32_t v) {
        v = htole32(v);
        memcpy(p, &v, 4);
}

static void test_rejects(void **state) {
        (void) state;
        struct block_index *idx = sample(), *g = NULL;
        _cleanup_free_ uint8_t *raw = NULL;
        size_t n = 0;
        assert_int_equal(block_index_format(idx, &raw, &n), 0);
        uint8_t *lengths = raw + BLOCK_INDEX_HEADER_SIZE + 3 * BLOCK_HASH_SIZE;
        uint8_t copy[BLOCK_INDEX_HEADER_SIZE + 3 * 12];
        memcpy(copy, raw, n);

        assert_int_equal(block_index_parse(raw, n - 1, &g), -EBADMSG);      /* short */
        assert_int_equal(block_index_parse(raw, 10, &g), -EBADMSG);
        raw[0] = 'X';                                                        /* magic */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        put32(raw + 8, 512);                                                  /* block size */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        put32(raw + 12, 32);                                                  /* hash size */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        raw[16] += 1;                                                         /* image size, n blocks same */
        assert_int_equal(block_index_parse(raw, n, &g), 0);
        block_index_free(g);
        g = NULL;
        raw[18] += 1;                                                         /* one block more than listed */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        raw[24] += 1;                                                         /* data size */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        put32(lengths + 4, 1);                                                /* lengths do not add up */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        put32(lengths, 0);                                                    /* a zero block that is not */
        put32(lengths + 4, 20);
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        put32(lengths, 0x10000);                                              /* larger than a frame can be */
        put32(lengths + 8, 0);
        raw[24] = (uint8_t) 0;
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        assert_null(g);
        block_index_free(idx);

        assert_int_equal(block_index_new(0, &g), -EFBIG);
        assert_int_equal(block_index_new(UINT64_MAX / 2, &g), -EFBIG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_rejects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
