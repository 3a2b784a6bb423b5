/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* block_index_parse() on arbitrary bytes, and block_index_load() on them as a zstd frame.
 * Invariants: an accepted index covers its image (n = ceil(image size / 4096) blocks), its frame
 * offsets grow by the frame lengths up to the data size, no frame is larger than a compressed
 * block can be, and block_index_format() gives back exactly the bytes parsed. */
#include "fuzz.h"

#include "base/util.h"
#include "sysupdate/block-index.h"

#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct block_index *idx = NULL;
        if (block_index_parse(data, size, &idx) == 0) {
                FUZZ_ASSERT(idx->n_blocks == (idx->image_size + BLOCK_SIZE - 1) / BLOCK_SIZE, "%zu blocks", idx->n_blocks);
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
        return 0;
}
