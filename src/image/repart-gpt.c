/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-gpt.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <unistd.h>

#define GPT_DEFAULT_ENTRIES 128u

int repart_gpt_new(uint32_t sector_size, uint64_t n_sectors, const uint8_t disk_guid[16],
                   struct gpt_table *ret) {
        uint64_t es = gpt_entries_sectors(GPT_DEFAULT_ENTRIES, sector_size);
        /* libfdisk aligns the first usable LBA to 1 MiB on a fresh disk. */
        uint64_t first = (1024 * 1024) / sector_size;
        if (first < 2 + es)
                first = 2 + es;
        if (n_sectors < first + es + 2)
                return -ENOSPC;
        *ret = (struct gpt_table) {
                .sector_size = sector_size,
                .n_sectors = n_sectors,
                .first_usable = first,
                .last_usable = n_sectors - 2 - es,
                .entries_lba = 2,
                .n_entries = GPT_DEFAULT_ENTRIES,
                .entries = calloc(GPT_DEFAULT_ENTRIES, sizeof(struct gpt_entry)),
        };
        if (!ret->entries)
                return -ENOMEM;
        memcpy(ret->disk_guid, disk_guid, 16);
        return 0;
}

int repart_gpt_free_slot(const struct gpt_table *g) {
        for (uint32_t i = 0; i < g->n_entries; i++)
                if (!gpt_entry_is_used(&g->entries[i]))
                        return (int) i;
        return -ENOSPC;
}

int repart_gpt_read(int fd, const char *path, uint32_t sector_size, uint64_t size, struct gpt_table *ret) {
        struct gpt_table g;
        int r = gpt_read(fd, sector_size, size, &g);
        if (r == -EMEDIUMTYPE)
                return r;
        if (r == -EBADMSG)
                return log_error_errno(EBADMSG, "%s: the GPT is corrupt", path);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read the GPT: %s", path, strerror(-r));
        if (!g.primary_valid)
                log_warning("%s: primary GPT is damaged, using the backup", path);

        /* The disk may have grown (an image copied onto a larger disk): the backup table moves to
         * the new end and the space in between becomes usable. A disk smaller than its table
         * (a truncated image) is refused. */
        uint64_t es = gpt_entries_sectors(g.n_entries, g.sector_size);
        if (g.last_usable < g.n_sectors - 2 - es)
                g.last_usable = g.n_sectors - 2 - es;
        if (g.entries_lba + es > g.first_usable || g.last_usable > g.n_sectors - 2 - es) {
                gpt_table_done(&g);
                return log_error_errno(EBADMSG, "%s: GPT usable area does not fit the disk", path);
        }
        *ret = g;
        return 0;
}

static void header_fill(uint8_t *h, const struct gpt_table *g, uint64_t my, uint64_t alt, uint64_t elba,
                        uint32_t ecrc) {
        memcpy(h, "EFI PART", 8);
        gpt_put32(h + 8, 0x00010000);
        gpt_put32(h + 12, GPT_HEADER_SIZE);
        gpt_put64(h + 24, my);
        gpt_put64(h + 32, alt);
        gpt_put64(h + 40, g->first_usable);
        gpt_put64(h + 48, g->last_usable);
        gpt_guid_swap(h + 56, g->disk_guid);
        gpt_put64(h + 72, elba);
        gpt_put32(h + 80, g->n_entries);
        gpt_put32(h + 84, GPT_ENTRY_SIZE);
        gpt_put32(h + 88, ecrc);
        gpt_put32(h + 16, gpt_crc32(h, GPT_HEADER_SIZE));
}

static void entry_fill(uint8_t *p, const struct gpt_entry *x) {
        gpt_guid_swap(p, x->type);
        gpt_guid_swap(p + 16, x->uuid);
        gpt_put64(p + 32, x->first_lba);
        gpt_put64(p + 40, x->last_lba);
        gpt_put64(p + 48, x->flags);
        for (unsigned k = 0; k < GPT_LABEL_MAX; k++) {
                p[56 + 2 * k] = (uint8_t) x->name[k];
                p[57 + 2 * k] = (uint8_t) (x->name[k] >> 8);
        }
}

/* Protective MBR: keep boot code and disk signature if there are any, replace the four partition
 * entries with the one 0xEE entry covering the disk. */
static void mbr_fill(uint8_t *mbr, uint64_t n_sectors) {
        memset(mbr + 446, 0, 64);
        mbr[446 + 2] = 0x02;
        mbr[446 + 4] = 0xEE;
        mbr[446 + 5] = mbr[446 + 6] = mbr[446 + 7] = 0xFF;
        gpt_put32(mbr + 446 + 8, 1);
        gpt_put32(mbr + 446 + 12, n_sectors - 1 > UINT32_MAX ? UINT32_MAX : (uint32_t) (n_sectors - 1));
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
}

int repart_gpt_write(int fd, const char *path, const struct gpt_table *g, bool keep_mbr) {
        uint32_t ss = g->sector_size;
        uint64_t es = gpt_entries_sectors(g->n_entries, ss);
        size_t ebytes = (size_t) (es * ss);
        _cleanup_free_ uint8_t *e = calloc(1, ebytes);
        _cleanup_free_ uint8_t *h = calloc(1, ss);
        _cleanup_free_ uint8_t *mbr = calloc(1, ss);
        const char *step = "backup table";
        int r;

        if (!e || !h || !mbr)
                return -ENOMEM;
        for (uint32_t i = 0; i < g->n_entries; i++)
                if (gpt_entry_is_used(&g->entries[i]))
                        entry_fill(e + (size_t) i * GPT_ENTRY_SIZE, &g->entries[i]);
        uint32_t ecrc = gpt_crc32(e, (size_t) g->n_entries * GPT_ENTRY_SIZE);
        if (pread_full(fd, mbr, 512, 0) < 0)
                memset(mbr, 0, ss);
        mbr_fill(mbr, g->n_sectors);

        /* Backup first, made durable before the primary is touched: until the primary is
         * complete, it still describes the old table, and after it the new one is in both. */
        uint64_t last = g->n_sectors - 1, backup_elba = last - es;
        header_fill(h, g, last, 1, backup_elba, ecrc);
        r = pwrite_full(fd, e, ebytes, backup_elba * ss);
        if (r >= 0)
                r = pwrite_full(fd, h, ss, last * ss);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0) {
                step = "primary table";
                memset(h, 0, ss);
                header_fill(h, g, 1, last, g->entries_lba, ecrc);
                r = pwrite_full(fd, e, ebytes, g->entries_lba * ss);
        }
        if (r >= 0)
                r = pwrite_full(fd, h, ss, 1 * (uint64_t) ss);
        if (r >= 0 && !keep_mbr)
                r = pwrite_full(fd, mbr, ss, 0);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "%s: cannot write the %s: %s", path, step, strerror(-r));
        return 0;
}
