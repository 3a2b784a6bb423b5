/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-disk.h"

#include "base/gpt.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MBR_ENTRIES 446u
#define MBR_TYPE_PROTECTIVE 0xEE

/* LBA 0 as libfdisk reads it: the 0x55AA signature makes it an MBR (a "dos" label, even without
 * partitions); a 0xEE entry anywhere in the four makes it protective, and any other used entry
 * beside it hybrid. */
static int probe_mbr(int fd, const char *path, uint64_t size, struct repart_disk_probe *p) {
        uint8_t s[512];
        if (size < sizeof(s))
                return 0;
        ssize_t n = pread(fd, s, sizeof(s), 0);
        if (n < 0)
                return log_error_errno(errno, "%s: cannot read the MBR: %s", path, strerror(errno));
        if (n != (ssize_t) sizeof(s) || s[510] != 0x55 || s[511] != 0xAA)
                return 0;
        bool protective = false;
        for (unsigned i = 0; i < 4; i++) {
                uint8_t type = s[MBR_ENTRIES + 16 * i + 4];
                if (type == 0)
                        continue;
                p->mbr_partitions++;
                if (type == MBR_TYPE_PROTECTIVE)
                        protective = true;
        }
        p->label = protective ? REPART_DISK_PMBR_ONLY : REPART_DISK_DOS;
        p->hybrid = protective && p->mbr_partitions > 1;
        return 0;
}

static bool same_table(const struct gpt_table *a, const struct gpt_table *b) {
        return a->n_entries == b->n_entries && a->first_usable == b->first_usable &&
               a->last_usable == b->last_usable && memcmp(a->disk_guid, b->disk_guid, 16) == 0 &&
               memcmp(a->entries, b->entries, sizeof(struct gpt_entry) * a->n_entries) == 0;
}

/* A header that does not read (damaged, absent) only makes that copy invalid; an I/O error fails. */
static int read_header(int fd, const char *path, uint32_t ss, uint64_t n_sectors, uint64_t lba, struct gpt_table *g,
                       bool *ret_valid) {
        int r = gpt_read_header(fd, ss, n_sectors, lba, g);
        *ret_valid = r >= 0;
        if (r < 0 && r != -EMEDIUMTYPE && r != -EBADMSG)
                return log_error_errno(r, "%s: cannot read the GPT header at LBA %" PRIu64 ": %s", path, lba,
                                       strerror(-r));
        return 0;
}

int repart_disk_probe(int fd, const char *path, uint32_t sector_size, uint64_t size,
                      struct repart_disk_probe *ret) {
        struct repart_disk_probe p = { .label = REPART_DISK_BLANK };
        uint64_t n_sectors = size / sector_size;
        _cleanup_(gpt_table_done) struct gpt_table primary = {}, backup = {};
        int r = probe_mbr(fd, path, size, &p);
        if (r < 0)
                return r;

        /* The smallest GPT: MBR, two headers, two entry arrays of 16 KiB. */
        if (n_sectors >= 3 + 2 * (16384 / sector_size)) {
                r = read_header(fd, path, sector_size, n_sectors, 1, &primary, &p.primary_valid);
                if (r >= 0)
                        r = read_header(fd, path, sector_size, n_sectors, n_sectors - 1, &backup, &p.backup_valid);
                if (r < 0)
                        return r;
        }
        p.backup_differs = p.primary_valid && p.backup_valid && !same_table(&primary, &backup);
        if (p.primary_valid || p.backup_valid) {
                /* libfdisk reads overlapping partitions but cannot write them back (systemd-repart
                 * fails only after it has wiped the new partitions): found here, nothing is written. */
                r = gpt_entries_check(p.primary_valid ? &primary : &backup, p.overlap);
                if (r == -ENOMEM)
                        return r;
                if (p.label == REPART_DISK_PMBR_ONLY)
                        p.label = REPART_DISK_GPT;
                else if (p.label == REPART_DISK_BLANK)
                        p.label = REPART_DISK_GPT_NO_PMBR;
        }
        /* An image file is read with 512-byte sectors; say so when its GPT was made for 4096. */
        if (sector_size == 512 && !p.primary_valid && size >= 8192) {
                char sig[8];
                p.gpt_4k = pread(fd, sig, sizeof(sig), 4096) == (ssize_t) sizeof(sig) &&
                           memcmp(sig, "EFI PART", 8) == 0;
        }
        *ret = p;
        return 0;
}

static const char *label_description(const struct repart_disk_probe *p, char *buf, size_t n) {
        switch (p->label) {
        case REPART_DISK_BLANK:
                return "no GPT disk label (no partition table at all)";
        case REPART_DISK_DOS:
                (void) snprintf(buf, n, "a dos (MBR) partition table with %u partition%s", p->mbr_partitions,
                                p->mbr_partitions == 1 ? "" : "s");
                return buf;
        case REPART_DISK_PMBR_ONLY:
                return p->gpt_4k ? "a GPT made for 4096-byte sectors, read here with 512-byte sectors "
                                   "(attach it with losetup --sector-size=4096)"
                                 : "a protective MBR but no valid GPT header, neither primary nor backup";
        case REPART_DISK_GPT_NO_PMBR:
                return p->primary_valid ? "a GPT but no protective MBR in LBA 0"
                                        : "only a backup GPT at its end, no protective MBR in LBA 0";
        case REPART_DISK_GPT:
                return "a GPT";
        }
        return "an unknown label";
}

int repart_disk_check_empty(const struct repart_disk_probe *p, const char *path, enum repart_empty mode,
                            bool *ret_fresh) {
        char buf[96];
        const char *what = label_description(p, buf, sizeof(buf));

        *ret_fresh = false;
        if (mode == REPART_EMPTY_FORCE || mode == REPART_EMPTY_CREATE) {
                *ret_fresh = true;
                return 0;
        }
        if (mode == REPART_EMPTY_REQUIRE && p->label != REPART_DISK_BLANK)
                return log_error_errno(ENOTEMPTY, "%s: already has %s, not repartitioning (--empty=require)", path, what);
        if (p->label == REPART_DISK_BLANK && mode != REPART_EMPTY_REFUSE) {
                *ret_fresh = true;
                return 0;
        }
        if (p->label != REPART_DISK_GPT)
                return log_error_errno(EMEDIUMTYPE, "%s: has %s, not repartitioning (--empty=%s)", path, what,
                                       mode == REPART_EMPTY_REFUSE ? "refuse" : "allow");
        if (p->overlap[0] > 0)
                return log_error_errno(EBADMSG, "%s: GPT partitions %u and %u overlap, not repartitioning", path,
                                       p->overlap[0], p->overlap[1]);
        if (p->backup_differs)
                log_notice("%s: the backup GPT differs from the primary, using the primary", path);
        return 0;
}
