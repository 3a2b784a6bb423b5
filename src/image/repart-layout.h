/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Sizing and placement (spec repart-boot.md 1.5): where each new partition goes and how large
 * every partition becomes. Pure computation on byte offsets; no I/O. Existing partitions never
 * move; one that is followed by free space may grow into it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPART_GRAIN 4096u
#define REPART_HARD_MIN 4096u
/* What --size=auto adds for the GPT: 1 MiB in front, 20 KiB for the backup table. */
#define REPART_GPT_OVERHEAD (UINT64_C(1044) * 1024)

struct repart_layout_item {
        /* Input. Existing partitions: exists, current_*; foreign ones (no definition) keep their
         * size. New partitions: min/max size and padding already rounded to the grain. */
        bool exists, foreign;
        uint64_t current_offset, current_size;
        uint64_t min_size, max_size;       /* max: UINT64_MAX = unbounded */
        uint64_t min_padding, max_padding;
        uint32_t weight, padding_weight;
        int64_t priority;
        int slot;                          /* existing: its GPT slot */

        /* Output. */
        bool dropped;
        uint64_t offset, new_size, new_padding, current_padding;
        int new_slot;                      /* new partitions: assigned in placement order */
};

/* items are in definition order (foreign partitions last). Usable area [start, end) in bytes.
 * Returns -ENOSPC (not logged) if the new partitions cannot fit even after dropping the
 * partitions with positive Priority=. */
int repart_layout_place(struct repart_layout_item *items, size_t n, uint64_t start, uint64_t end,
                        uint64_t grain);

/* The --size=auto result for a fresh disk: REPART_GPT_OVERHEAD + the minimal sizes and paddings
 * of the given items (each at most 2^62), UINT64_MAX when the sum does not fit 64 bits. */
uint64_t repart_layout_auto_size(const struct repart_layout_item *items, size_t n);

static inline uint64_t repart_round_up(uint64_t v, uint64_t g) {
        return v > UINT64_MAX - (g - 1) ? UINT64_MAX / g * g : (v + g - 1) / g * g;
}
static inline uint64_t repart_round_down(uint64_t v, uint64_t g) {
        return v / g * g;
}
