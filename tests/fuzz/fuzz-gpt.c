/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GPT reader (base/gpt.c) and the image builder's use of it (repart_gpt_read(), then its
 * writer) on arbitrary disks. Input: one mode byte, then the disk. Mode bit 0: recompute the
 * CRCs of whatever headers there are first, so that the fuzzer gets past them to the structure;
 * bits 1-2: the sector size passed (0 = probe, 512, 4096, 0).
 * Invariants: the reader returns 0 or -EMEDIUMTYPE/-EBADMSG/-EIO/-ENOMEM; what it accepts has a
 * sane header and used entries inside the usable area without overlaps, labels decode to valid
 * UTF-8; and what the image builder writes back reads again with both copies valid and the same
 * entries. */
#include "fuzz.h"

#include "base/gpt.h"
#include "base/log.h"
#include "base/util.h"
#include "image/repart-gpt.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/mman.h>

static void fix_crcs(uint8_t *d, size_t size) {
        static const uint32_t sizes[] = { 512, 4096 };
        for (size_t k = 0; k < ELEMENTSOF(sizes); k++) {
                uint32_t ss = sizes[k];
                uint64_t n = size / ss;
                if (n < 3)
                        continue;
                uint64_t lbas[] = { 1, n - 1 };
                for (size_t j = 0; j < ELEMENTSOF(lbas); j++) {
                        uint8_t *h = d + lbas[j] * ss;
                        if (memcmp(h, "EFI PART", 8) != 0)
                                continue;
                        uint32_t hsize = gpt_get32(h + 12);
                        if (hsize < GPT_HEADER_SIZE || hsize > ss)
                                continue;
                        uint64_t elba = gpt_get64(h + 72), count = gpt_get32(h + 80);
                        if (count <= GPT_ENTRIES_MAX && elba < n && elba * ss + count * GPT_ENTRY_SIZE <= size)
                                gpt_put32(h + 88, gpt_crc32(d + elba * ss, (size_t) (count * GPT_ENTRY_SIZE)));
                        gpt_put32(h + 16, 0);
                        gpt_put32(h + 16, gpt_crc32(h, hsize));
                }
        }
}

static bool valid_utf8(const char *s) {
        for (size_t n = strlen(s); n > 0;) {
                uint32_t c;
                size_t k = utf8_decode(s, n, &c);
                if (k == 0)
                        return false;
                s += k;
                n -= k;
        }
        return true;
}

static void check_table(const struct gpt_table *t, uint64_t size) {
        FUZZ_ASSERT(t->sector_size == 512 || t->sector_size == 4096, "%u", t->sector_size);
        FUZZ_ASSERT(t->n_sectors == size / t->sector_size, "%" PRIu64, t->n_sectors);
        FUZZ_ASSERT(t->n_entries >= 1 && t->n_entries <= GPT_ENTRIES_MAX, "%u", t->n_entries);
        FUZZ_ASSERT(t->first_usable >= 2 && t->first_usable <= t->last_usable && t->last_usable < t->n_sectors,
                    "%" PRIu64 "..%" PRIu64, t->first_usable, t->last_usable);
        FUZZ_ASSERT(t->primary_valid || t->backup_valid, "neither copy");
        const struct gpt_entry *prev = NULL;
        for (uint32_t i = 0; i < t->n_entries; i++) {
                const struct gpt_entry *e = &t->entries[i];
                if (!gpt_entry_is_used(e))
                        continue;
                FUZZ_ASSERT(e->first_lba >= t->first_usable && e->first_lba <= e->last_lba &&
                            e->last_lba <= t->last_usable, "entry %u", i);
                for (uint32_t j = 0; j < i; j++) {
                        prev = &t->entries[j];
                        if (gpt_entry_is_used(prev))
                                FUZZ_ASSERT(prev->last_lba < e->first_lba || e->last_lba < prev->first_lba,
                                            "entries %u and %u overlap", j, i);
                }
                _cleanup_free_ char *label = gpt_label_decode(e->name);
                FUZZ_ASSERT(label && valid_utf8(label), "entry %u label", i);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        log_set_max_level((enum log_level) 0);
        return 0;
}

static int memfd_with(const uint8_t *d, size_t size) {
        int fd = memfd_create("fuzz-gpt", MFD_CLOEXEC);
        if (fd >= 0 && size > 0 && pwrite_full(fd, d, size, 0) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint32_t sector_sizes[4] = { 0, 512, 4096, 0 };
        if (size < 1 || size > 1024 * 1024)
                return 0;
        uint8_t mode = data[0];
        uint32_t ss = sector_sizes[(mode >> 1) & 3];
        _cleanup_free_ uint8_t *disk = malloc(size);
        if (!disk)
                return 0;
        size--;
        memcpy(disk, data + 1, size);
        if (mode & 1)
                fix_crcs(disk, size);
        _cleanup_close_ int fd = memfd_with(disk, size);
        if (fd < 0)
                return 0;

        struct gpt_table t = {};
        int r = gpt_read(fd, ss, size, &t);
        FUZZ_ASSERT(r == 0 || r == -EMEDIUMTYPE || r == -EBADMSG || r == -EIO || r == -ENOMEM, "%d", r);
        if (r == 0)
                check_table(&t, size);
        gpt_table_done(&t);

        /* The image builder: read (the usable area may move to the end), write back, read again. */
        r = repart_gpt_read(fd, "fuzz", ss, size, &t);
        FUZZ_ASSERT(r == 0 || r == -EMEDIUMTYPE || r == -EBADMSG || r == -EIO || r == -ENOMEM, "%d", r);
        if (r < 0)
                return 0;
        _cleanup_close_ int out = memfd_with(disk, size);
        if (out >= 0 && repart_gpt_write(out, "fuzz", &t, false) == 0) {
                struct gpt_table again = {};
                r = gpt_read(out, t.sector_size, size, &again);
                FUZZ_ASSERT(r == 0, "written table does not read back: %d", r);
                FUZZ_ASSERT(again.primary_valid && again.backup_valid, "a written copy is not valid");
                FUZZ_ASSERT(again.n_entries == t.n_entries, "%u entries, were %u", again.n_entries, t.n_entries);
                static const struct gpt_entry unused;
                for (uint32_t i = 0; i < t.n_entries; i++) {
                        const struct gpt_entry *want = gpt_entry_is_used(&t.entries[i]) ? &t.entries[i] : &unused;
                        FUZZ_ASSERT(memcmp(&again.entries[i], want, sizeof(*want)) == 0, "entry %u changed", i);
                }
                FUZZ_ASSERT(again.last_usable == t.last_usable && again.first_usable == t.first_usable,
                            "usable area changed");
                gpt_table_done(&again);
        }
        gpt_table_done(&t);
        return 0;
}
