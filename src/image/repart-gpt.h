/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The GPT as systemd-repart 252 (through libfdisk) lays it out on a fresh disk (spec
 * repart-boot.md 1.6): protective MBR, primary header at LBA 1, 128 entries of 128 bytes from
 * LBA 2, FirstUsableLBA at 1 MiB, backup entries and header at the end. Written here byte by byte
 * so the result is identical and fully under our control. Reading is base/gpt.c; what is read is
 * kept where it is not changed (foreign entries, disk GUID, first usable LBA, entry array LBA). */

#include "base/gpt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh, empty table for a disk of n_sectors. */
int repart_gpt_new(uint32_t sector_size, uint64_t n_sectors, const uint8_t disk_guid[16],
                   struct gpt_table *ret);
/* Reads the table (sector_size 0: probe, for image files); the disk may have grown since it was
 * written: the backup table then moves to the new end (last_usable follows). -EMEDIUMTYPE when
 * the disk has no GPT (not logged: the caller decides per --empty=); a corrupt table is logged
 * naming path and returns -EBADMSG. */
int repart_gpt_read(int fd, const char *path, uint32_t sector_size, uint64_t size, struct gpt_table *ret);

/* Writes the backup entries and header, fsync, then the primary entries, header and protective
 * MBR (keeping existing boot code; not at all with keep_mbr, for a hybrid MBR), fsync: whatever a
 * power cut leaves, one of the two copies is complete and describes either the old or the new
 * table. */
int repart_gpt_write(int fd, const char *path, const struct gpt_table *g, bool keep_mbr);

/* Index of the first unused slot, or -ENOSPC. */
int repart_gpt_free_slot(const struct gpt_table *g);
