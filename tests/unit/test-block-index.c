/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/block-index.h"
#include "base/util.h"

#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
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
        assert_memory_equal(raw, "ABOTABI2", 8);
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
        raw[7] = '1';                                                         /* format version 1 */
        assert_int_equal(block_index_parse(raw, n, &g), -EPROTONOSUPPORT);
        assert_int_equal(block_index_parse(raw, 64, &g), -EPROTONOSUPPORT);
        raw[7] = '3';                                                         /* a later one */
        assert_int_equal(block_index_parse(raw, n, &g), -EPROTONOSUPPORT);
        memcpy(raw, copy, n);
        put32(raw + 64, 10);                                                  /* dictionary: size without raw size */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        put32(raw + 64, 0);
        put32(raw + 68, 10);                                                  /* raw size without size */
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        memcpy(raw, copy, n);
        put32(raw + 64, 10);                                                  /* larger than the maximum */
        put32(raw + 68, BLOCK_DICT_MAX + 1);
        raw[24] += 10;
        assert_int_equal(block_index_parse(raw, n, &g), -EBADMSG);
        put32(raw + 68, BLOCK_DICT_MAX);                                      /* the maximum */
        assert_int_equal(block_index_parse(raw, n, &g), 0);
        assert_int_equal(g->offsets[0], 10);
        block_index_free(g);
        g = NULL;
        raw[24] -= 10;                                                        /* frames and dictionary do not add up */
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

/* Frames as stored: without their 5-byte prefix, with or without a dictionary. */
static void test_frames(void **state) {
        (void) state;
        uint8_t block[BLOCK_SIZE], out[BLOCK_SIZE], z[ZSTD_COMPRESSBOUND(BLOCK_SIZE)], dictz[ZSTD_COMPRESSBOUND(BLOCK_SIZE)];
        static uint8_t dict[BLOCK_SIZE];
        for (size_t i = 0; i < sizeof(block); i++) {
                block[i] = (uint8_t) ((i * 7919) >> 5);
                dict[i] = (uint8_t) ((i * 7919) >> 5);
        }
        ZSTD_CCtx *c = ZSTD_createCCtx();
        ZSTD_DCtx *d = ZSTD_createDCtx();
        assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
        assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0)));
        size_t n = 0, plain = 0;
        assert_int_equal(block_frame_compress(c, block, 100, z, sizeof(z), &n), 0);
        assert_int_equal(block_frame_decompress(d, NULL, z, n, out, 100), 0);
        assert_memory_equal(out, block, 100);
        assert_int_equal(block_frame_decompress(d, NULL, z, n, out, 99), -EBADMSG);   /* more than the block */
        assert_int_equal(block_frame_decompress(d, NULL, z, n, out, 101), -EBADMSG);  /* less */
        assert_int_equal(block_frame_decompress(d, NULL, z, n - 1, out, 100), -EBADMSG); /* truncated */
        assert_int_equal(block_frame_compress(c, block, sizeof(block), z, sizeof(z), &plain), 0);

        /* with a dictionary of the same content: smaller, and it needs that dictionary */
        struct block_index idx = { .dict_raw_size = sizeof(dict) };
        idx.dict_size = (uint32_t) ZSTD_compress(dictz, sizeof(dictz), dict, sizeof(dict), 3);
        assert_false(ZSTD_isError(idx.dict_size));
        assert_int_equal(block_hash(dictz, 0, idx.dict_sha256), 0); /* wrong on purpose first */
        ZSTD_DDict *dd = NULL;
        assert_int_equal(block_dict_load(&idx, dictz, idx.dict_size, &dd), -EBADMSG);
        assert_null(dd);
        unsigned len = 0;
        assert_int_equal(EVP_Digest(dictz, idx.dict_size, idx.dict_sha256, &len, EVP_sha256(), NULL), 1);
        assert_int_equal(block_dict_load(&idx, dictz, idx.dict_size - 1, &dd), -EBADMSG);   /* short */
        dictz[idx.dict_size / 2] ^= 1;                                                          /* a byte flipped */
        assert_int_equal(block_dict_load(&idx, dictz, idx.dict_size, &dd), -EBADMSG);
        dictz[idx.dict_size / 2] ^= 1;
        idx.dict_raw_size--;                                                                    /* another size */
        assert_int_equal(block_dict_load(&idx, dictz, idx.dict_size, &dd), -EBADMSG);
        idx.dict_raw_size++;
        assert_int_equal(block_dict_load(&idx, dictz, idx.dict_size, &dd), 0);
        assert_non_null(dd);
        ZSTD_CDict *cd = ZSTD_createCDict(dict, sizeof(dict), 3);
        assert_false(ZSTD_isError(ZSTD_CCtx_refCDict(c, cd)));
        assert_int_equal(block_frame_compress(c, block, sizeof(block), z, sizeof(z), &n), 0);
        assert_true(n < plain / 4);
        assert_int_equal(block_frame_decompress(d, dd, z, n, out, sizeof(out)), 0);
        assert_memory_equal(out, block, sizeof(block));
        assert_int_equal(block_frame_decompress(d, NULL, z, n, out, sizeof(out)), -EBADMSG);
        ZSTD_freeDDict(dd);

        idx = (struct block_index) {};                                                          /* no dictionary */
        dd = (ZSTD_DDict *) 1;
        assert_int_equal(block_dict_load(&idx, NULL, 0, &dd), 0);
        assert_null(dd);
        ZSTD_freeCDict(cd);
        ZSTD_freeCCtx(c);
        ZSTD_freeDCtx(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_frames),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
