/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The GPT as systemd-repart 252 (through libfdisk) lays it out on a fresh disk (spec
 * repart-boot.md 1.6): protective MBR, primary header at LBA 1, 128 entries of 128 bytes from
 * LBA 2, FirstUsableLBA at 1 MiB, backup entries and header at the end. Written here byte by byte
 * so the result is identical and fully under our control; reading accepts any valid GPT and
 * keeps what it does not change (foreign entries, disk GUID, first usable LBA). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPART_GPT_LABEL_MAX 36

struct repart_gpt_entry {
        uint8_t type[16];              /* textual byte order; all zero = unused slot */
        uint8_t uuid[16];
        uint64_t first_lba, last_lba;  /* inclusive */
        uint64_t flags;
        uint16_t name[REPART_GPT_LABEL_MAX]; /* UTF-16, zero padded */
};

struct repart_gpt {
        uint32_t sector_size;
        uint64_t n_sectors;            /* of the whole disk */
        uint8_t disk_guid[16];
        uint64_t first_usable, last_usable;
        uint64_t entries_lba;
        uint32_t n_entries;
        struct repart_gpt_entry *entries; /* n_entries slots */
        bool keep_mbr;                 /* a hybrid MBR: written GPT only, LBA 0 stays (as libfdisk) */
};

/* A fresh, empty table for a disk of n_sectors. */
int repart_gpt_new(uint32_t sector_size, uint64_t n_sectors, const uint8_t disk_guid[16],
                   struct repart_gpt *ret);
/* Reads the primary table (falling back to the backup at the last sector); the disk may have
 * grown since it was written: the table is then moved to the new end (last_usable follows).
 * -EMEDIUMTYPE when the disk has no GPT (not logged: the caller decides per --empty=); a corrupt
 * table is logged naming path and returns -EBADMSG. */
int repart_gpt_read(int fd, const char *path, uint32_t sector_size, uint64_t n_sectors,
                    struct repart_gpt *ret);
void repart_gpt_done(struct repart_gpt *g);
/* The one header at lba and its entries, as they are (nothing logged): -EMEDIUMTYPE without the
 * signature, -EBADMSG when the header or its entries fail their checks (CRCs, MyLBA, sizes). */
int repart_gpt_read_header(int fd, uint32_t sector_size, uint64_t n_sectors, uint64_t lba,
                           struct repart_gpt *ret);

/* Writes backup entries and header, primary entries and header, then the protective MBR (keeping
 * existing boot code; not at all with keep_mbr). */
int repart_gpt_write(int fd, const char *path, const struct repart_gpt *g);

/* Index of the first unused slot, or -ENOSPC. */
int repart_gpt_free_slot(const struct repart_gpt *g);

/* UTF-8 label <-> GPT name. Encoding fails with -EINVAL on invalid UTF-8, control characters or
 * more than 36 UTF-16 code units. Decoding returns a malloc'ed UTF-8 string. */
int repart_gpt_label_encode(const char *s, uint16_t ret[REPART_GPT_LABEL_MAX]);
char *repart_gpt_label_decode(const uint16_t name[REPART_GPT_LABEL_MAX]);
