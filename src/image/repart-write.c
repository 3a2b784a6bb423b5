/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-write.h"
#include "repart-encrypt.h"
#include "repart-verity.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/blkpg.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* New partitions start out as zeros, so that no stale file system signature survives and sparse
 * copies are correct. */
static int wipe_range(struct context *c, uint64_t off, uint64_t size) {
        int r = 0;
        if (c->disk.is_block) {
                uint64_t range[2] = { off, size };
                if (ioctl(c->disk.fd, BLKZEROOUT, range) < 0)
                        r = -errno;
        } else if (fallocate(c->disk.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) off, (off_t) size) < 0) {
                r = -errno;
                if (r == -EOPNOTSUPP) {
                        char z[65536] = {};
                        r = 0;
                        for (uint64_t done = 0; done < size && r >= 0;) {
                                size_t k = size - done < sizeof(z) ? (size_t) (size - done) : sizeof(z);
                                if (pwrite(c->disk.fd, z, k, (off_t) (off + done)) != (ssize_t) k)
                                        r = -errno;
                                done += k;
                        }
                }
        }
        if (r < 0)
                return log_error_errno(r, "%s: cannot clear %" PRIu64 " bytes at %" PRIu64 ": %s", c->disk.path,
                                       size, off, strerror(-r));
        return 0;
}

static int copy_into(struct context *c, const char *what, const char *src, uint64_t off, uint64_t size) {
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: %s: %s", what, src, strerror(errno));
        uint64_t n = (uint64_t) st.st_size;
        if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &n) < 0)
                return log_error_errno(errno, "%s: %s: %s", what, src, strerror(errno));
        if (n > size)
                return log_error_errno(EFBIG, "%s: %s is larger than the partition", what, src);
        int r = repart_copy_sparse(fd, 0, c->disk.fd, off, n);
        if (r < 0)
                return log_error_errno(r, "%s: cannot copy %s into %s: %s", what, src, c->disk.path, strerror(-r));
        return 0;
}

/* Encrypt=: the content is built and encrypted into a scratch image, then copied into place. */
static int write_encrypted(struct context *c, size_t i) {
        struct part *p = &c->parts[i];
        const struct repart_layout_item *it = &c->items[i];
        struct repart_encrypt_request req = {
                .def = p->def, .partition_uuid = p->entry.uuid, .label = p->label,
                .payload = p->def->copy_blocks ?: p->prebuilt,
                .key_file = c->o->key_file, .tpm2_device = c->o->tpm2_device, .tpm2_pcrs = c->o->tpm2_pcrs,
        };
        int r = repart_ensure_workdir(c);
        if (r < 0 || (r = repart_fs_request(c, p, 0, &req.fs)) < 0)
                return r;
        _cleanup_free_ char *out = strprintf("%s/part-%zu.luks", c->workdir, i);
        if (!out)
                return -ENOMEM;
        r = repart_encrypt_build(&req, it->new_size, out);
        if (r >= 0)
                r = copy_into(c, p->def->file_name, out, it->offset, it->new_size);
        (void) unlink(out);
        return r;
}

static int write_partition(struct context *c, size_t i) {
        struct part *p = &c->parts[i];
        const struct repart_layout_item *it = &c->items[i];
        const struct repart_definition *d = p->def;

        /* On a block device, an empty partition only needs stale signatures gone (the first and
         * last MiB): zeroing all of it could mean writing the whole rest of a large disk. Content
         * is copied sparsely, so a partition that gets content is zeroed completely. */
        bool content = d->copy_blocks || d->format != REPART_FORMAT_NONE || d->encrypt != REPART_ENCRYPT_OFF ||
                       d->verity == REPART_VERITY_HASH;
        uint64_t edge = UINT64_C(1024) * 1024;
        int r;
        if (c->disk.is_block && !content && it->new_size > 2 * edge) {
                r = wipe_range(c, it->offset, edge);
                if (r >= 0)
                        r = wipe_range(c, it->offset + it->new_size - edge, edge);
        } else
                r = wipe_range(c, it->offset, it->new_size);
        if (r < 0)
                return r;
        if (d->encrypt != REPART_ENCRYPT_OFF)
                return write_encrypted(c, i);
        if (d->copy_blocks)
                return copy_into(c, d->path, d->copy_blocks, it->offset, it->new_size);
        if (d->format == REPART_FORMAT_NONE)
                return 0;

        if (p->prebuilt)
                return copy_into(c, d->file_name, p->prebuilt, it->offset, it->new_size);
        r = repart_ensure_workdir(c);
        if (r < 0)
                return r;
        _cleanup_free_ char *out = strprintf("%s/part-%zu.img", c->workdir, i);
        if (!out)
                return -ENOMEM;
        struct repart_format_request req;
        r = repart_fs_request(c, p, it->new_size, &req);
        if (r < 0)
                return r;
        uint64_t got;
        r = repart_format_build(&req, out, &got);
        if (r < 0)
                return r;
        r = copy_into(c, d->file_name, out, it->offset, it->new_size);
        (void) unlink(out);
        return r;
}

/* What the run reports for part i once its verity identity is known: UUID, root hash, split
 * file name (SplitName=%U). */
static int update_result(struct context *c, struct repart_result *res, size_t i) {
        const struct part *p = &c->parts[i];
        unsigned partno = (unsigned) c->items[i].new_slot;
        for (size_t k = 0; k < res->n; k++) {
                struct repart_result_partition *rp = &res->partitions[k];
                if (rp->partno != partno)
                        continue;
                memcpy(rp->uuid, p->entry.uuid, 16);
                rp->has_roothash = p->has_roothash;
                memcpy(rp->roothash, p->roothash, sizeof(rp->roothash));
                free(rp->split_path);
                return repart_split_path(c, p, partno, &rp->split_path);
        }
        return 0;
}

/* Verity=hash: the tree of the data partition (written before), then both UUIDs from the root
 * hash (data: the first 16 bytes, hash: the last 16), unless UUID= fixes them. */
static int write_verity(struct context *c, struct repart_result *res) {
        for (size_t i = 0; i < c->defs.n; i++) {
                struct part *h = &c->parts[i];
                if (h->def->verity != REPART_VERITY_HASH || h->exists || c->items[i].dropped)
                        continue;
                size_t j = h->verity_partner;
                struct part *d = &c->parts[j];
                struct repart_verity_request req = {
                        .what = h->def->path, .fd = c->disk.fd,
                        .data_offset = c->items[j].offset, .data_size = c->items[j].new_size,
                        .hash_offset = c->items[i].offset, .hash_size = c->items[i].new_size,
                };
                int r = repart_verity_salt(c->seed, req.salt, req.uuid);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot derive the verity salt", h->def->path);
                r = repart_verity_build(&req, h->roothash);
                if (r < 0)
                        return r;
                h->has_roothash = true;
                if (!d->def->has_uuid)
                        memcpy(d->entry.uuid, h->roothash, 16);
                if (!h->def->has_uuid)
                        memcpy(h->entry.uuid, h->roothash + 16, 16);
                r = update_result(c, res, i);
                if (r >= 0)
                        r = update_result(c, res, j);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_split(struct context *c, const struct repart_result_partition *rp) {
        if (!rp->split_path)
                return 0;
        _cleanup_close_ int fd = open(rp->split_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot create: %s", rp->split_path, strerror(errno));
        if (ftruncate(fd, (off_t) rp->new_size) < 0)
                return log_error_errno(errno, "%s: cannot size: %s", rp->split_path, strerror(errno));
        int r = repart_copy_sparse(c->disk.fd, rp->offset, fd, 0, rp->new_size);
        if (r < 0)
                return log_error_errno(r, "%s: cannot write: %s", rp->split_path, strerror(-r));
        return 0;
}

static int blkpg(int fd, int op, unsigned partno, uint64_t offset, uint64_t size) {
        struct blkpg_partition p = { .start = (long long) offset, .length = (long long) size, .pno = (int) partno + 1 };
        struct blkpg_ioctl_arg a = { .op = op, .datalen = sizeof(p), .data = &p };
        return ioctl(fd, BLKPG, &a) < 0 ? -errno : 0;
}

/* The kernel reads the new table (BLKRRPART); when a partition of the disk is in use (the
 * running system, at first boot) it refuses, and the changed partitions are announced one by
 * one (BLKPG). The table on the disk is complete either way; what is not announced is said. */
static void tell_kernel(struct context *c) {
        if (ioctl(c->disk.fd, BLKRRPART, 0) >= 0)
                return;
        int why = errno;
        for (size_t i = 0; i < c->n_parts; i++) {
                const struct part *p = &c->parts[i];
                const struct repart_layout_item *it = &c->items[i];
                if (it->dropped || (p->exists && it->new_size == it->current_size))
                        continue;
                unsigned partno = (unsigned) (p->exists ? it->slot : it->new_slot);
                int r = blkpg(c->disk.fd, p->exists ? BLKPG_RESIZE_PARTITION : BLKPG_ADD_PARTITION, partno,
                              it->offset, it->new_size);
                if (r < 0)
                        log_warning("%s: the kernel does not see partition %u yet (reread: %s; BLKPG: %s), it will after "
                                    "a reboot", c->disk.path, partno + 1, strerror(why), strerror(-r));
        }
}

int repart_write(struct context *c, struct repart_result *res) {
        uint64_t size = c->size;
        struct disk *d = &c->disk;
        uint64_t ss = d->sector_size;
        int r;

        if (!d->is_block && (size != d->size || c->fresh)) {
                if (c->fresh && ftruncate(d->fd, 0) < 0)
                        return log_error_errno(errno, "%s: cannot truncate: %s", d->path, strerror(errno));
                if (ftruncate(d->fd, (off_t) size) < 0)
                        return log_error_errno(errno, "%s: cannot resize to %" PRIu64 " bytes: %s", d->path, size,
                                               strerror(errno));
                d->size = size;
        }
        for (size_t i = 0; i < c->n_parts; i++)
                if (!c->parts[i].exists && !c->items[i].dropped) {
                        r = write_partition(c, i);
                        if (r < 0)
                                return r;
                }
        r = write_verity(c, res);
        if (r < 0)
                return r;

        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *p = &c->parts[i];
                const struct repart_layout_item *it = &c->items[i];
                if (it->dropped)
                        continue;
                p->entry.first_lba = it->offset / ss;
                p->entry.last_lba = (it->offset + it->new_size) / ss - 1;
                int slot = p->exists ? it->slot : it->new_slot;
                if (slot < 0 || (uint32_t) slot >= c->gpt.n_entries)
                        return log_error_errno(ENOSPC, "%s: no free GPT entry for %s", d->path,
                                               p->def ? p->def->file_name : "partition");
                c->gpt.entries[slot] = p->entry;
        }
        /* The new partitions' contents are durable before the table that makes them exist: after
         * a power cut, a partition in the table is never one whose file system is half there
         * (it would count as existing and never be formatted again). */
        if (fsync(d->fd) < 0)
                return log_error_errno(errno, "%s: cannot sync the new partitions: %s", d->path, strerror(errno));
        r = repart_gpt_write(d->fd, d->path, &c->gpt, d->keep_mbr);
        if (r < 0)
                return r;
        if (d->is_block)
                tell_kernel(c);
        for (size_t i = 0; i < res->n; i++) {
                r = write_split(c, &res->partitions[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}
