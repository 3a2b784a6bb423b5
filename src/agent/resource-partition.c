/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GPT partitions as targets (spec sysupdate.md 5.3, 3.5): slots of the configured type, named by
 * their label; `_empty` marks a free slot. */
#include "resource-partition.h"

#include "resource.h"
#include "base/log.h"
#include "partition.h"
#include "base/parttype.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* The disk: --image, the disk backing the running system (Path=auto), a disk image file, a block
 * device, or the disk backing a directory. */
static int resolve_disk(const struct transfer *t, const struct resource_config *c, bool target,
                        const struct resource_context *ctx, char **ret) {
        (void) target;
        if (ctx->image) {
                *ret = strdup(ctx->image);
                return *ret ? 0 : -ENOMEM;
        }
        if (c->path_auto) {
                if (ctx->root)
                        return log_error_errno(EINVAL, "%s: Path=auto cannot be used with --root", t->file);
                if (access("/run/systemd/volatile-root", F_OK) == 0)
                        return partition_find_backing_disk("/run/systemd/volatile-root", ret);
                return partition_find_backing_disk("/usr", ret);
        }

        _cleanup_free_ char *p = path_prefix_root(ctx->root, c->path);
        if (!p)
                return -ENOMEM;
        struct stat st;
        if (stat(p, &st) < 0)
                return log_error_errno(errno, "%s: target disk %s: %s", t->file, p, strerror(errno));
        if (S_ISBLK(st.st_mode) && ctx->root)
                return log_error_errno(EPERM, "%s: %s is a block device, refused with --root", t->file, p);
        if (S_ISDIR(st.st_mode)) {
                if (ctx->root)
                        return log_error_errno(EPERM, "%s: %s is a directory; its backing disk cannot be used with --root",
                                               t->file, p);
                return partition_find_backing_disk(p, ret);
        }
        *ret = TAKE_PTR(p);
        return 0;
}

static int load(struct resource *r, const struct transfer *t, const struct resource_config *c,
                const struct resource_context *ctx) {
        (void) ctx;
        int k = partition_table_read(r->path, &r->table);
        if (k < 0)
                return k;

        for (size_t i = 0; i < r->table->n_partitions; i++) {
                const struct partition_info *p = &r->table->partitions[i];
                if (memcmp(p->type, t->partition_type, 16) != 0)
                        continue;
                if (streq(p->label, PARTITION_LABEL_EMPTY)) {
                        r->n_empty++;
                        continue;
                }

                struct instance_metadata m;
                instance_metadata_init(&m);
                k = pattern_match_many(c->patterns, c->n_patterns, p->label, &m);
                if (k != PATTERN_YES) {
                        instance_metadata_done(&m);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (!m.has_uuid) {
                        m.has_uuid = true;
                        memcpy(m.uuid, p->uuid, 16);
                }
                if (!m.has_flags) {
                        m.has_flags = true;
                        m.flags = p->flags;
                }
                if (m.read_only < 0 && partition_type_knows_read_only(p->type))
                        m.read_only = !!(p->flags & GPT_FLAG_READ_ONLY);

                _cleanup_free_ char *path = p->node ? strdup(p->node) : strprintf("%s:%zu", r->path, p->partno + 1);
                k = path ? resource_add_instance(r, p->label, path, &m) : -ENOMEM;
                instance_metadata_done(&m);
                if (k < 0)
                        return k;
                r->instances[r->n_instances - 1]->partition = p;
        }
        return 0;
}

static void done(struct resource *r) {
        partition_table_free(r->table);
        r->table = NULL;
}

const struct resource_kind resource_kind_partition = {
        .type = RESOURCE_PARTITION,
        .resolve = resolve_disk,
        .load = load,
        .done = done,
};
