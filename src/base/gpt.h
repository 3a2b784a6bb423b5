/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one GPT reader (UEFI 2.10 5.3), used by the device side (agent/partition.c) and by the
 * image builder (image/repart-gpt.c, which also writes). Reading is strict: header and entry
 * array CRCs, MyLBA, the usable area and every used entry are checked; the entry array is read
 * wherever the header puts it. Nothing is logged: callers name the disk. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPT_LABEL_MAX 36
#define GPT_ENTRY_SIZE 128u
#define GPT_HEADER_SIZE 92u
/* More entries than this are refused (libfdisk's limit is of the same order). */
#define GPT_ENTRIES_MAX 4096u

struct gpt_entry {
        uint8_t type[16];              /* textual byte order; all zero = unused slot */
        uint8_t uuid[16];
        uint64_t first_lba, last_lba;  /* inclusive */
        uint64_t flags;
        uint16_t name[GPT_LABEL_MAX];  /* UTF-16, zero padded */
};

struct gpt_table {
        uint32_t sector_size;
        uint64_t n_sectors;            /* of the whole disk */
        uint8_t disk_guid[16];
        uint64_t first_usable, last_usable;
        uint64_t entries_lba;          /* of the primary entry array */
        uint64_t alternate_lba;        /* the backup header, as the table says */
        uint32_t n_entries;
        bool primary_valid;            /* false: the table came from the backup */
        bool backup_valid;             /* a valid backup with the same entries exists */
        struct gpt_entry *entries;     /* n_entries slots */
};

/* Reads the GPT of a disk of size bytes. sector_size 0 probes 512, then 4096 (image files).
 * The primary header is at LBA 1; when it is missing or fails a check, the backup at the last
 * LBA is used (entries_lba then names where the primary array belongs: LBA 2). Returns
 * -EMEDIUMTYPE when neither header has the signature, -EBADMSG when what is there is corrupt,
 * -errno on I/O errors. */
int gpt_read(int fd, uint32_t sector_size, uint64_t size, struct gpt_table *ret);
void gpt_table_done(struct gpt_table *t);

/* One copy as it is: the header at lba (1 or the last LBA) and its entries, with the checks of
 * the header and the CRCs, but not of the entries (see gpt_entries_check()). -EMEDIUMTYPE without
 * the signature, -EBADMSG when a check fails. primary_valid/backup_valid tell which copy it is. */
int gpt_read_header(int fd, uint32_t sector_size, uint64_t n_sectors, uint64_t lba, struct gpt_table *ret);
/* -EBADMSG when a used entry lies outside the usable area or two overlap (then their 1-based
 * numbers in overlap[], when given), else 0. */
int gpt_entries_check(const struct gpt_table *t, unsigned overlap[2]);

bool gpt_entry_is_used(const struct gpt_entry *e);
/* Number of sectors an array of n entries takes. */
uint64_t gpt_entries_sectors(uint32_t n_entries, uint32_t sector_size);

/* UTF-8 label <-> GPT name. Encoding fails with -EINVAL on invalid UTF-8, control characters or
 * more than 36 UTF-16 code units. Decoding returns a malloc'ed UTF-8 string. */
int gpt_label_encode(const char *s, uint16_t ret[GPT_LABEL_MAX]);
char *gpt_label_decode(const uint16_t name[GPT_LABEL_MAX]);

/* Little-endian fields and the mixed-endian GUIDs of the on-disk format (the writer shares them). */
static inline uint32_t gpt_get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static inline uint64_t gpt_get64(const uint8_t *p) {
        return (uint64_t) gpt_get32(p) | (uint64_t) gpt_get32(p + 4) << 32;
}
static inline void gpt_put32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static inline void gpt_put64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
/* On disk the first three GUID fields are little-endian; the swap is its own inverse. */
void gpt_guid_swap(uint8_t out[16], const uint8_t in[16]);
uint32_t gpt_crc32(const uint8_t *p, size_t n);
