/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* block_index_parse() on arbitrary bytes, block_index_load() on them as a zstd frame, and
 * block_frame_decompress() on them as a stored frame.
 * Invariants: an accepted index covers its image (n = ceil(image size / 4096) blocks), its frames
 * start after the dictionary and their offsets grow by the frame lengths up to the data size, no
 * frame is larger than a compressed block can be, the dictionary is no larger than BLOCK_DICT_MAX,
 * and block_index_format() gives back exactly the bytes parsed; a frame decodes to exactly the
 * block size asked for or is refused. */
#include "fuzz.h"

#include "base/util.h"
#include "sysupdate/block-index.h"

#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct block_index *idx = NULL;
        if (block_index_parse(data, size, &idx) == 0) {
                FUZZ_ASSERT(idx->n_blocks == (idx->image_size + BLOCK_SIZE - 1) / BLOCK_SIZE, "%zu blocks", idx->n_blocks);
                FUZZ_ASSERT(idx->offsets[0] == idx->dict_size && idx->dict_raw_size <= BLOCK_DICT_MAX, "dictionary");
                for (size_t i = 0; i < idx->n_blocks; i++) {
                        FUZZ_ASSERT(idx->lengths[i] <= ZSTD_compressBound(BLOCK_SIZE), "frame %zu", i);
                        FUZZ_ASSERT(idx->offsets[i + 1] == idx->offsets[i] + idx->lengths[i], "offset %zu", i);
                }
                FUZZ_ASSERT(idx->offsets[idx->n_blocks] == idx->data_size, "data size");
                _cleanup_free_ uint8_t *again = NULL;
                size_t n = 0;
                if (block_index_format(idx, &again, &n) == 0)
                        FUZZ_ASSERT(n == size && memcmp(again, data, n) == 0, "round trip");
                block_index_free(idx);
        }
        idx = NULL;
        if (block_index_load(data, size, &idx) == 0)
                FUZZ_ASSERT(idx->n_blocks > 0, "empty index loaded");
        block_index_free(idx);

        static ZSTD_DCtx *d;
        static uint8_t out[BLOCK_SIZE];
        if (!d)
                d = ZSTD_createDCtx();
        size_t want = size > 0 ? 1 + data[0] % BLOCK_SIZE : BLOCK_SIZE;
        if (d)
                (void) block_frame_decompress(d, NULL, data, size, out, want);
        return 0;
}
