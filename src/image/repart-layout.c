/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-layout.h"

#include "base/util.h"

#include <errno.h>

/* A stretch of unpartitioned space, and the existing partition right in front of it (which may
 * grow into it). */
struct free_area {
        uint64_t start, size, allocated;
        struct repart_layout_item *after;
};

/* One share of space to hand out: a partition's size or the padding after it. */
struct claim {
        uint64_t *value;      /* where the result goes; UINT64_MAX = not yet decided */
        uint64_t min, max;
        uint32_t weight;
        bool fixed;           /* foreign partitions keep their size whatever the share */
};

uint64_t repart_layout_auto_size(const struct repart_layout_item *items, size_t n) {
        uint64_t total = REPART_GPT_OVERHEAD;
        for (size_t i = 0; i < n; i++)
                if (!items[i].exists && !items[i].dropped &&
                    __builtin_add_overflow(total, items[i].min_size + items[i].min_padding, &total))
                        return UINT64_MAX;
        return total;
}

static int cmp_by_offset(const void *a, const void *b) {
        const struct repart_layout_item *x = *(struct repart_layout_item *const *) a;
        const struct repart_layout_item *y = *(struct repart_layout_item *const *) b;
        return x->current_offset < y->current_offset ? -1 : x->current_offset > y->current_offset;
}

/* Smallest area first, so that small partitions fill small gaps (first fit). */
static int cmp_by_size(const void *a, const void *b) {
        const struct free_area *x = a, *y = b;
        if (x->size != y->size)
                return x->size < y->size ? -1 : 1;
        return x->start < y->start ? -1 : x->start > y->start;
}

static int find_free_areas(struct repart_layout_item *items, size_t n, uint64_t start, uint64_t end,
                           uint64_t grain, struct free_area **ret, size_t *ret_n) {
        _cleanup_free_ struct repart_layout_item **ex = calloc(n + 1, sizeof(*ex));
        _cleanup_free_ struct free_area *areas = calloc(n + 1, sizeof(*areas));
        size_t n_ex = 0, n_areas = 0;

        if (!ex || !areas)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (items[i].exists)
                        ex[n_ex++] = &items[i];
        qsort(ex, n_ex, sizeof(*ex), cmp_by_offset);

        uint64_t cursor = start;
        struct repart_layout_item *prev = NULL;
        for (size_t i = 0; i <= n_ex; i++) {
                uint64_t next = i < n_ex ? ex[i]->current_offset : end;
                uint64_t a = repart_round_up(cursor, grain), b = repart_round_down(next, grain);
                if (prev)
                        prev->current_padding = b > cursor ? b - cursor : 0;
                if (b > a)
                        areas[n_areas++] = (struct free_area) { .start = a, .size = b - a, .after = prev };
                if (i < n_ex) {
                        uint64_t e = ex[i]->current_offset + ex[i]->current_size;
                        if (e > cursor)
                                cursor = e;
                        prev = ex[i];
                }
        }
        qsort(areas, n_areas, sizeof(*areas), cmp_by_size);
        *ret = TAKE_PTR(areas);
        *ret_n = n_areas;
        return 0;
}

/* An existing partition's minimum: never below its current size. */
static uint64_t existing_min(const struct repart_layout_item *p) {
        return p->min_size > p->current_size ? p->min_size : p->current_size;
}

/* What an existing partition must grow by to reach its minimum. */
static uint64_t growth(const struct repart_layout_item *p) {
        return p->foreign ? 0 : existing_min(p) - p->current_size;
}

/* First fit of every new partition's minimal footprint, after the growth that existing
 * partitions need from the free area behind them. */
static bool allocate(struct repart_layout_item *items, size_t n, struct free_area *areas, size_t n_areas,
                     struct free_area **owner) {
        for (size_t k = 0; k < n_areas; k++) {
                areas[k].allocated = areas[k].after ? growth(areas[k].after) : 0;
                if (areas[k].allocated > areas[k].size)
                        return false;
        }
        for (size_t i = 0; i < n; i++) {
                owner[i] = NULL;
                if (items[i].exists || items[i].dropped)
                        continue;
                uint64_t need = items[i].min_size + items[i].min_padding;
                for (size_t k = 0; k < n_areas && !owner[i]; k++)
                        if (areas[k].size - areas[k].allocated >= need) {
                                owner[i] = &areas[k];
                                areas[k].allocated += need;
                        }
                if (!owner[i])
                        return false;
        }
        return true;
}

static uint64_t share_of(uint64_t span, uint32_t weight, uint64_t weight_sum) {
        if (weight_sum == 0)
                return 0;
        /* span * weight / weight_sum without overflow: span < 2^64, weight <= 10^6. */
        unsigned __int128 v = (unsigned __int128) span * weight / weight_sum;
        return (uint64_t) v;
}

enum phase { PHASE_OVERCHARGE, PHASE_UNDERCHARGE, PHASE_DISTRIBUTE };

/* Hands out span among the claims by weight: first those whose share is below their minimum get
 * the minimum, then those whose share is above their maximum get the maximum (each time the
 * shares of the others are recomputed), then everyone gets the share, rounded down to the grain. */
static void distribute(struct claim *c, size_t n, uint64_t *span, uint64_t grain) {
        uint64_t weight_sum = 0;
        for (size_t i = 0; i < n; i++)
                weight_sum += c[i].weight;

        for (enum phase ph = PHASE_OVERCHARGE; ph <= PHASE_DISTRIBUTE;) {
                bool again = false;
                for (size_t i = 0; i < n && !again; i++) {
                        if (*c[i].value != UINT64_MAX)
                                continue;
                        uint64_t share = share_of(*span, c[i].weight, weight_sum), v;
                        if (c[i].fixed)
                                v = c[i].min;
                        else if (ph == PHASE_OVERCHARGE && c[i].min > share)
                                v = c[i].min, again = true;
                        else if (ph == PHASE_UNDERCHARGE && c[i].max < share)
                                v = c[i].max, again = true;
                        else if (ph == PHASE_DISTRIBUTE) {
                                v = repart_round_down(share, grain);
                                if (v < c[i].min)
                                        v = c[i].min;
                                if (v > c[i].max)
                                        v = c[i].max;
                        } else
                                continue;
                        *c[i].value = v;
                        *span = *span > v ? *span - v : 0;
                        weight_sum -= c[i].weight;
                }
                if (!again)
                        ph++;
        }
}

/* Grows value into span, never beyond max and never below value. */
static uint64_t grow_by(uint64_t value, uint64_t max, uint64_t *span, uint64_t grain) {
        uint64_t m = repart_round_down(value + *span, grain);
        if (m > max)
                m = max;
        if (m < value)
                m = value;
        *span -= m - value;
        return m;
}

static int grow_area(struct repart_layout_item *items, size_t n, struct free_area *a,
                     struct free_area *const *owner, uint64_t grain) {
        _cleanup_free_ struct claim *c = calloc(2 * (n + 1), sizeof(*c));
        size_t k = 0;
        uint64_t span = a->size;

        if (!c)
                return -ENOMEM;
        struct repart_layout_item *after = a->after;
        if (after) {
                span += repart_round_up(after->current_offset + after->current_size, grain) - after->current_offset;
                uint64_t min = after->foreign ? after->current_size : existing_min(after);
                uint64_t max = after->foreign ? after->current_size : after->max_size;
                if (max < min)
                        max = min;
                c[k++] = (struct claim) { &after->new_size, min, max, after->weight, after->foreign };
                c[k++] = (struct claim) { &after->new_padding, 0, after->foreign ? 0 : after->max_padding,
                                          after->padding_weight, after->foreign };
        }
        for (size_t i = 0; i < n; i++) {
                if (owner[i] != a)
                        continue;
                c[k++] = (struct claim) { &items[i].new_size, items[i].min_size, items[i].max_size, items[i].weight, false };
                c[k++] = (struct claim) { &items[i].new_padding, items[i].min_padding, items[i].max_padding,
                                          items[i].padding_weight, false };
        }
        distribute(c, k, &span, grain);

        /* Rounding (or maxima) left something over: give it to the partition in front, then to the
         * new ones in order, and whatever nobody takes becomes padding. */
        if (span > 0 && after && !after->foreign)
                after->new_size = grow_by(after->new_size, after->max_size, &span, grain);
        for (size_t i = 0; i < n && span > 0; i++)
                if (owner[i] == a)
                        items[i].new_size = grow_by(items[i].new_size, items[i].max_size, &span, grain);
        if (span > 0 && after)
                after->new_padding += span;
        return 0;
}

int repart_layout_place(struct repart_layout_item *items, size_t n, uint64_t start, uint64_t end,
                        uint64_t grain) {
        _cleanup_free_ struct free_area *areas = NULL;
        _cleanup_free_ struct free_area **owner = calloc(n + 1, sizeof(*owner));
        size_t n_areas = 0;
        int r;

        if (!owner)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                items[i].dropped = false;
                items[i].new_size = items[i].new_padding = UINT64_MAX;
                items[i].new_slot = -1;
                items[i].current_padding = 0;
        }
        r = find_free_areas(items, n, start, end, grain, &areas, &n_areas);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                bool room = false;
                for (size_t k = 0; k < n_areas; k++)
                        room = room || areas[k].after == &items[i];
                if (items[i].exists && growth(&items[i]) > 0 && !room)
                        return -ENOSPC;
        }

        /* When it does not fit, drop the new partitions with the highest positive Priority=, all
         * of that priority at once, and try again. */
        while (!allocate(items, n, areas, n_areas, owner)) {
                int64_t top = 0;
                for (size_t i = 0; i < n; i++)
                        if (!items[i].exists && !items[i].dropped && items[i].priority > top)
                                top = items[i].priority;
                if (top <= 0)
                        return -ENOSPC;
                for (size_t i = 0; i < n; i++)
                        if (!items[i].exists && items[i].priority == top)
                                items[i].dropped = true;
        }

        for (size_t k = 0; k < n_areas; k++) {
                r = grow_area(items, n, &areas[k], owner, grain);
                if (r < 0)
                        return r;
        }

        int slot = 0;
        for (size_t i = 0; i < n; i++) {
                struct repart_layout_item *p = &items[i];
                if (p->exists) {
                        if (p->slot + 1 > slot)
                                slot = p->slot + 1;
                        p->offset = p->current_offset;
                        if (p->new_size == UINT64_MAX)
                                p->new_size = p->current_size;
                        if (p->new_padding == UINT64_MAX)
                                p->new_padding = p->current_padding;
                }
        }
        for (size_t k = 0; k < n_areas; k++) {
                struct free_area *a = &areas[k];
                uint64_t cursor = a->start;
                if (a->after)
                        cursor = repart_round_up(a->after->offset + a->after->new_size, grain) + a->after->new_padding;
                for (size_t i = 0; i < n; i++) {
                        if (owner[i] != a)
                                continue;
                        items[i].offset = cursor;
                        items[i].new_slot = slot++;
                        cursor += items[i].new_size + items[i].new_padding;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (items[i].dropped)
                        items[i].new_size = items[i].new_padding = 0;
        return 0;
}
