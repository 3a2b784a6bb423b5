/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "partition.h"

#include "base/gpt.h"
#include "disk-lock.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <libfdisk/libfdisk.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void fdisk_unref_contextp(struct fdisk_context **c) {
        if (*c)
                fdisk_unref_context(*c);
}
static void fdisk_unref_partitionp(struct fdisk_partition **p) {
        if (*p)
                fdisk_unref_partition(*p);
}

bool partition_label_is_valid(const char *label) {
        uint16_t name[GPT_LABEL_MAX];
        return gpt_label_encode(label, name) == 0;
}

static int read_sysfs_line(const char *path, const char *key, char **ret);

/* The node of partition partno of the whole disk with device number devno, as the kernel names
 * it in sysfs (/sys/dev/block/MAJ:MIN/NAME/partition holds the number, its uevent the DEVNAME),
 * whatever path named the disk: /dev/disk/by-id/X has X-part3, not X3. *ret = NULL when the
 * kernel has no such partition (not scanned, or an image file's loop device without -P). */
static int partition_node(dev_t devno, size_t partno, char **ret) {
        _cleanup_free_ char *sys = strprintf("/sys/dev/block/%u:%u", major(devno), minor(devno));
        if (!sys)
                return -ENOMEM;
        *ret = NULL;
        DIR *d _cleanup_(closedirp) = opendir(sys);
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *num_path = strprintf("%s/%s/partition", sys, de->d_name), *num = NULL;
                if (!num_path)
                        return -ENOMEM;
                uint64_t n;
                if (read_full_file(num_path, 64, &num, NULL) < 0)
                        continue;
                num[strcspn(num, "\n")] = 0;
                if (parse_uint64(num, 10, &n) < 0 || n != partno + 1)
                        continue;
                _cleanup_free_ char *uevent = strprintf("%s/%s/uevent", sys, de->d_name), *name = NULL;
                if (!uevent)
                        return -ENOMEM;
                if (read_sysfs_line(uevent, "DEVNAME=", &name) < 0)
                        return 0;
                *ret = strprintf("/dev/%s", name);
                return *ret ? 0 : -ENOMEM;
        }
        return 0;
}

static int read_entries(const struct gpt_table *g, struct partition_table *t) {
        t->partitions = calloc(g->n_entries, sizeof(struct partition_info));
        if (!t->partitions)
                return -ENOMEM;
        for (uint32_t i = 0; i < g->n_entries; i++) {
                const struct gpt_entry *e = &g->entries[i];
                if (!gpt_entry_is_used(e))
                        continue;
                struct partition_info *p = &t->partitions[t->n_partitions++];
                p->partno = i;
                p->start = e->first_lba * g->sector_size;
                p->size = (e->last_lba - e->first_lba + 1) * g->sector_size;
                memcpy(p->type, e->type, 16);
                memcpy(p->uuid, e->uuid, 16);
                p->flags = e->flags;
                p->label = gpt_label_decode(e->name);
                if (!p->label)
                        return -ENOMEM;
                int r;
                if (t->is_block && (r = partition_node(t->devno, p->partno, &p->node)) < 0)
                        return r;
        }
        return 0;
}

/* Reads the table of the open disk through the GPT reader (base/gpt.c). */
static int table_load(int fd, const char *disk, struct partition_table **ret) {
        struct stat st;
        uint64_t size;
        int ss = 0;
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: %s", disk, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                if (ioctl(fd, BLKGETSIZE64, &size) < 0 || ioctl(fd, BLKSSZGET, &ss) < 0)
                        return log_error_errno(errno, "%s: cannot get the device size: %s", disk, strerror(errno));
        } else if (S_ISREG(st.st_mode))
                size = (uint64_t) st.st_size;
        else
                return log_error_errno(ENOTBLK, "%s: neither a block device nor a disk image file", disk);

        _cleanup_(gpt_table_done) struct gpt_table g = {};
        int r = gpt_read(fd, (uint32_t) ss, size, &g);
        if (r == -EMEDIUMTYPE)
                return log_error_errno(EMEDIUMTYPE, "%s: has no GPT disk label", disk);
        if (r == -EBADMSG)
                return log_error_errno(EBADMSG, "%s: the GPT is corrupt", disk);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read partition table: %s", disk, strerror(-r));

        struct partition_table *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->is_block = S_ISBLK(st.st_mode);
        t->devno = st.st_rdev;
        t->sector_size = g.sector_size;
        t->intact = g.primary_valid && g.backup_valid;
        t->disk = strdup(disk);
        r = t->disk ? read_entries(&g, t) : -ENOMEM;
        if (r < 0) {
                partition_table_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int partition_table_read(const char *disk, struct partition_table **ret) {
        _cleanup_close_ int fd = open(disk, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open disk: %s", disk, strerror(errno));
        return table_load(fd, disk, ret);
}

void partition_table_free(struct partition_table *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_partitions; i++) {
                free(t->partitions[i].label);
                free(t->partitions[i].node);
        }
        free(t->partitions);
        free(t->disk);
        free(t);
}

const struct partition_info *partition_table_find(const struct partition_table *t, size_t partno) {
        for (size_t i = 0; i < t->n_partitions; i++)
                if (t->partitions[i].partno == partno)
                        return &t->partitions[i];
        return NULL;
}

static int apply_change(struct fdisk_context *ctx, const char *disk, size_t partno,
                        const struct partition_change *change) {
        struct fdisk_partition *pa _cleanup_(fdisk_unref_partitionp) = fdisk_new_partition();
        if (!pa)
                return -ENOMEM;
        int r = 0;
        if (change->label)
                r = fdisk_partition_set_name(pa, change->label);
        if (r >= 0 && change->set_uuid) {
                char s[37];
                uuid_format(change->uuid, s);
                r = fdisk_partition_set_uuid(pa, s);
        }
        if (r >= 0)
                r = fdisk_set_partition(ctx, partno, pa);
        if (r >= 0 && change->set_flags)
                r = fdisk_gpt_set_partition_attrs(ctx, partno, change->flags);
        if (r < 0)
                return log_error_errno(r, "%s: partition %zu: cannot change entry: %s", disk, partno + 1,
                                       strerror(-r));
        return 0;
}

/* libfdisk rewrites entries; it must see the table with the sector size it was read with (an
 * image file made with 4096-byte sectors). */
static int fdisk_open_gpt(int fd, const char *disk, uint64_t sector_size, struct fdisk_context **ret) {
        struct fdisk_context *ctx = fdisk_new_context();
        if (!ctx)
                return -ENOMEM;
        int r = fdisk_save_user_sector_size(ctx, (unsigned) sector_size, (unsigned) sector_size);
        if (r >= 0)
                r = fdisk_assign_device_by_fd(ctx, fd, disk, 0);
        if (r >= 0 && !fdisk_is_label(ctx, GPT))
                r = -EMEDIUMTYPE;
        if (r < 0) {
                fdisk_unref_context(ctx);
                return log_error_errno(r, "%s: cannot open the partition table for writing: %s", disk, strerror(-r));
        }
        *ret = ctx;
        return 0;
}

/* Opens disk for writing under its lock (which keeps udev and a concurrent abota away while the
 * table is rewritten) and reads its table as it is now. */
static int table_open_for_writing(const char *disk, int *ret_fd, struct partition_table **ret) {
        _cleanup_close_ int fd = open(disk, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open disk for writing: %s", disk, strerror(errno));
        if (!disk_lock_held(fd) && flock(fd, LOCK_EX) < 0)
                return log_error_errno(errno, "%s: cannot lock disk: %s", disk, strerror(errno));
        int r = table_load(fd, disk, ret);
        if (r < 0)
                return r;
        *ret_fd = fd;
        fd = -1;
        return 0;
}

int partition_table_repair(const char *disk, bool sync) {
        _cleanup_close_ int fd = -1;
        struct partition_table *now = NULL;
        int r = table_open_for_writing(disk, &fd, &now);
        if (r < 0)
                return r;
        bool intact = now->intact;
        uint64_t sector_size = now->sector_size;
        partition_table_free(now);
        if (intact)
                return 0;

        struct fdisk_context *ctx _cleanup_(fdisk_unref_contextp) = NULL;
        r = fdisk_open_gpt(fd, disk, sector_size, &ctx);
        if (r < 0)
                return r;
        r = fdisk_write_disklabel(ctx);
        if (r < 0)
                r = log_error_errno(r, "%s: cannot rewrite the damaged GPT copy: %s", disk, strerror(-r));
        else if (sync && fsync(fd) < 0)
                r = log_error_errno(errno, "%s: cannot sync partition table: %s", disk, strerror(errno));
        else {
                log_info("%s: one GPT copy was damaged (an interrupted write); rewrote both", disk);
                r = 1;
        }
        fdisk_deassign_device(ctx, 1);
        return r;
}

int partition_commit(const char *disk, const struct partition_info *expect,
                     const struct partition_change *change, bool sync) {
        if (change->label && !partition_label_is_valid(change->label))
                return log_error_errno(EINVAL, "%s: '%s' is not a valid GPT partition label", disk,
                                       change->label);

        _cleanup_close_ int fd = -1;
        struct partition_table *now = NULL;
        int r = table_open_for_writing(disk, &fd, &now);
        if (r < 0)
                return r;

        struct fdisk_context *ctx _cleanup_(fdisk_unref_contextp) = NULL;
        r = fdisk_open_gpt(fd, disk, now->sector_size, &ctx);
        if (r < 0) {
                partition_table_free(now);
                return r;
        }
        const struct partition_info *cur = partition_table_find(now, expect->partno);
        if (!cur || cur->start != expect->start || !streq(cur->label, expect->label)) {
                r = log_error_errno(EBUSY, "%s: partition %zu changed while updating (expected label '%s')",
                                    disk, expect->partno + 1, expect->label);
                goto finish;
        }

        r = apply_change(ctx, disk, expect->partno, change);
        if (r < 0)
                goto finish;
        r = fdisk_write_disklabel(ctx);
        if (r < 0) {
                r = log_error_errno(r, "%s: cannot write partition table: %s", disk, strerror(-r));
                goto finish;
        }
        if (sync && fsync(fd) < 0)
                r = log_error_errno(errno, "%s: cannot sync partition table: %s", disk, strerror(errno));
finish:
        partition_table_free(now);
        fdisk_deassign_device(ctx, 1);
        return r;
}

int partition_claim(const struct partition_info *p, int *ret_fd) {
        *ret_fd = -1;
        if (!p->node)
                return 0;
        int fd = open(p->node, O_RDONLY | O_EXCL | O_CLOEXEC);
        if (fd < 0) {
                if (errno == EBUSY)
                        return log_error_errno(EBUSY, "%s: partition '%s' is in use (mounted?), refusing to touch it",
                                               p->node, p->label);
                if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
                        return 0; /* no node (yet) or no device behind it: nothing can hold it */
                return log_error_errno(errno, "%s: cannot open partition '%s' exclusively: %s", p->node, p->label,
                                       strerror(errno));
        }
        *ret_fd = fd;
        return 0;
}

int partition_check_unused(const struct partition_info *p) {
        int fd;
        int r = partition_claim(p, &fd);
        if (fd >= 0)
                close(fd);
        return r;
}

static int read_sysfs_line(const char *path, const char *key, char **ret) {
        _cleanup_free_ char *data = NULL;
        int r = read_full_file(path, 64 * 1024, &data, NULL);
        if (r < 0)
                return r;
        size_t kl = strlen(key);
        for (char *line = data; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (strncmp(line, key, kl) == 0) {
                        *ret = strdup(line + kl);
                        return *ret ? 0 : -ENOMEM;
                }
                line = nl ? nl + 1 : NULL;
        }
        return -ENOENT;
}

/* The disk of the block device sys (a /sys/dev/block/MAJ:MIN directory): its parent when it is a
 * partition; when it is a device-mapper device (dm-verity over a store slot pair), the disk of its
 * slaves, which must all be partitions of one disk. */
static int backing_disk_of(const char *sys, const char *path, unsigned depth, char **ret) {
        _cleanup_free_ char *part = path_join(sys, "partition"), *slaves = path_join(sys, "slaves");
        if (!part || !slaves)
                return -ENOMEM;
        if (access(part, F_OK) < 0) {
                DIR *d _cleanup_(closedirp) = depth < 8 ? opendir(slaves) : NULL;
                _cleanup_free_ char *disk = NULL;
                for (struct dirent *de; d && (de = readdir(d));) {
                        if (de->d_name[0] == '.')
                                continue;
                        _cleanup_free_ char *slave = path_join(slaves, de->d_name), *this = NULL;
                        if (!slave)
                                return -ENOMEM;
                        int r = backing_disk_of(slave, path, depth + 1, &this);
                        if (r < 0)
                                return r;
                        if (disk && !streq(disk, this))
                                return log_error_errno(ENOTBLK, "%s: backed by a device over two disks, %s and %s",
                                                       path, disk, this);
                        free(disk);
                        disk = TAKE_PTR(this);
                }
                if (!disk)
                        return log_error_errno(ENOTBLK, "%s: backing device %s is not a partition of a disk", path,
                                               path_basename(sys));
                *ret = TAKE_PTR(disk);
                return 0;
        }
        /* The sysfs directory of a partition sits inside the one of its whole disk. */
        _cleanup_free_ char *resolved = realpath(sys, NULL);
        if (!resolved)
                return log_error_errno(errno, "%s: %s", sys, strerror(errno));
        char *slash = strrchr(resolved, '/');
        if (!slash || slash == resolved)
                return log_error_errno(ENOTBLK, "%s: unexpected sysfs layout", resolved);
        *slash = 0;
        _cleanup_free_ char *uevent = path_join(resolved, "uevent");
        _cleanup_free_ char *name = NULL;
        if (!uevent)
                return -ENOMEM;
        int r = read_sysfs_line(uevent, "DEVNAME=", &name);
        if (r < 0)
                return log_error_errno(r, "%s: no DEVNAME of the disk backing %s", uevent, path);
        *ret = strprintf("/dev/%s", name);
        return *ret ? 0 : -ENOMEM;
}

int partition_find_backing_disk_in(const char *sysfs, const char *path, char **ret) {
        struct stat st;
        if (stat(path, &st) < 0)
                return log_error_errno(errno, "%s: %s", path, strerror(errno));
        dev_t dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
        if (major(dev) == 0)
                return log_error_errno(ENOTBLK, "%s: not backed by a block device partition", path);
        _cleanup_free_ char *sys = strprintf("%s/dev/block/%u:%u", sysfs, major(dev), minor(dev));
        if (!sys)
                return -ENOMEM;
        return backing_disk_of(sys, path, 0, ret);
}

int partition_find_backing_disk(const char *path, char **ret) {
        return partition_find_backing_disk_in("/sys", path, ret);
}
