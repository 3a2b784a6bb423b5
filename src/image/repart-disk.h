/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a disk carries before repart decides anything: the MBR in LBA 0, the primary GPT header
 * at LBA 1 and the backup at the end. `--empty=` is then decided as systemd-repart 252 (through
 * libfdisk) decides it: a GPT counts only behind a protective (0xEE) MBR entry; any other MBR
 * is a foreign label that only force and create may replace. Where systemd-repart would go on
 * but the disk is not what it seems (GPT headers without a protective MBR, overlapping
 * partitions) we refuse as well: nothing is written to a disk we do not understand. */

#include "repart-options.h"

#include <stdbool.h>
#include <stdint.h>

enum repart_disk_label {
        REPART_DISK_BLANK,         /* no MBR signature, no GPT header */
        REPART_DISK_DOS,           /* an MBR without a protective entry: a foreign label */
        REPART_DISK_PMBR_ONLY,     /* a protective MBR, but neither GPT header is valid */
        REPART_DISK_GPT_NO_PMBR,   /* a valid GPT header, but no protective MBR in front of it */
        REPART_DISK_GPT,           /* a protective or hybrid MBR and a valid primary or backup */
};

struct repart_disk_probe {
        enum repart_disk_label label;
        bool hybrid;               /* the MBR has partitions besides the 0xEE entry */
        unsigned mbr_partitions;   /* used MBR entries, the 0xEE one included */
        bool primary_valid, backup_valid;
        bool backup_differs;       /* both valid, but not the same table */
        unsigned overlap[2];       /* 1-based numbers of two overlapping partitions, or 0 */
        bool gpt_4k;               /* a 512-byte-sector reading finds a GPT at byte 4096 */
};

/* Reads the labels (nothing is written). Only an I/O error fails, logged naming path. */
int repart_disk_probe(int fd, const char *path, uint32_t sector_size, uint64_t size,
                      struct repart_disk_probe *ret);

/* Whether --empty=MODE may go on with this disk: 0 with *ret_fresh telling whether a new GPT
 * replaces what is there (nothing there, or force/create), or a refusal logged naming path and
 * the label found (-EMEDIUMTYPE, -ENOTEMPTY, -EBADMSG). The message never advises an option that
 * would overwrite what is on the disk. */
int repart_disk_check_empty(const struct repart_disk_probe *p, const char *path, enum repart_empty mode,
                            bool *ret_fresh);
