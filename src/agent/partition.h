/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The GPT of a whole block device or a disk image file (spec sysupdate.md 5.3, 7.3), read and
 * changed through libfdisk. Reading never writes; partition_commit() is the one atomic step that
 * turns an `_empty` slot into an installed version (or back, for vacuum). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PARTITION_LABEL_EMPTY "_empty"

struct partition_info {
        size_t partno;          /* libfdisk index, 0-based (the device node is partno + 1) */
        uint64_t start, size;   /* bytes */
        uint8_t type[16];
        uint8_t uuid[16];
        uint64_t flags;         /* GPT attribute bits */
        char *label;            /* UTF-8, "" when unset */
        char *node;             /* /dev/sda3 for block devices (from sysfs), NULL for image files
                                 * and partitions the kernel does not know */
};

struct partition_table {
        char *disk;             /* the path it was read from */
        bool is_block;
        dev_t devno;            /* block devices: the whole disk's device number */
        uint64_t sector_size;
        bool intact;            /* both GPT copies valid and equal */
        struct partition_info *partitions; /* used entries only, in table order */
        size_t n_partitions;
};

/* When one GPT copy is damaged or differs (a write cut between libfdisk's writes of the entry
 * array and the header), rewrites both from the valid one, so that the disk never stays with a
 * single copy that the next cut could destroy. Needs the disk lock. Returns 1 when repaired, 0
 * when there was nothing to repair, -errno (logged). */
int partition_table_repair(const char *disk, bool sync);

/* Reads the partition table of disk (a whole block device or an image file). Logs one line and
 * returns -ENOENT (missing), -EMEDIUMTYPE ("has no GPT disk label") or another -errno. */
int partition_table_read(const char *disk, struct partition_table **ret);
void partition_table_free(struct partition_table *t);

const struct partition_info *partition_table_find(const struct partition_table *t, size_t partno);

/* What partition_commit() changes; unset members keep their current value. */
struct partition_change {
        const char *label;      /* NULL = keep */
        bool set_uuid;
        uint8_t uuid[16];
        bool set_flags;
        uint64_t flags;
};

/* Rewrites one GPT entry under flock(LOCK_EX) on the disk (unless this process holds the disk's
 * lock already, disk-lock.h), then fsyncs (when sync is set).
 * Before writing it re-reads the table and checks the entry still starts at expect->start and
 * carries expect->label, so two concurrent runs cannot both claim one slot (-EBUSY otherwise).
 * libfdisk writes the backup table before the primary one; either copy is valid on its own, so
 * an interruption leaves the old or the new entry, never a mix. */
int partition_commit(const char *disk, const struct partition_info *expect,
                     const struct partition_change *change, bool sync);

/* Opens the partition's node with O_EXCL and keeps it open in *ret_fd, so that nothing can mount
 * or otherwise claim it while it is written through the whole disk. -EBUSY (logged) when it is in
 * use: mounted, or held by dm-verity or another exclusive opener. This is how a mislabelled slot
 * that holds the running system is kept from being written. *ret_fd = -1 for image files and
 * partitions without a node. */
int partition_claim(const struct partition_info *p, int *ret_fd);

/* partition_claim() and let go at once: for a check before a relabel. */
int partition_check_unused(const struct partition_info *p);

/* True when label is a valid GPT label: valid UTF-8, at most 36 UTF-16 code units, no control
 * characters. */
bool partition_label_is_valid(const char *label);

/* The whole disk backing the file system of path (for Path=auto: "/" or "/usr"), as /dev/NAME.
 * -ENOTBLK when path is not on a partition of a block device. */
int partition_find_backing_disk(const char *path, char **ret);
/* The same with sysfs mounted at sysfs (tests): a partition's disk, or for a device-mapper device
 * (dm-verity) the one disk all its slaves are partitions of. */
int partition_find_backing_disk_in(const char *sysfs, const char *path, char **ret);
