/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GPT partitions as targets (spec sysupdate.md 5.3, 3.5): slots of the configured type, named by
 * their label; `_empty` marks a free slot. */
#include "resource-partition.h"

#include "acquire.h"
#include "acquire-blocks.h"
#include "acquire-patch.h"
#include "commit.h"
#include "resource.h"
#include "resume-state.h"
#include "base/chase.h"
#include "base/log.h"
#include "partition.h"
#include "base/parttype.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

        _cleanup_free_ char *p = NULL;
        int r = chase(ctx->root, c->path, 0, &p);
        if (r < 0)
                return log_error_errno(r, "%s: target disk %s%s: %s", t->file, ctx->root ? ctx->root : "", c->path,
                                       r == -EXDEV ? "leaves the root" : strerror(-r));
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

static uint64_t partition_flags(const struct transfer *t, const struct instance_metadata *m,
                                const struct partition_info *slot, bool *ret_set) {
        uint64_t flags = m->has_flags ? m->flags : slot->flags;
        bool set = m->has_flags;
        const struct { int value; bool known; uint64_t bit; } bits[] = {
                { m->no_auto, partition_type_knows_no_auto(t->partition_type), GPT_FLAG_NO_AUTO },
                { m->read_only, partition_type_knows_read_only(t->partition_type), GPT_FLAG_READ_ONLY },
                { m->growfs, partition_type_knows_growfs(t->partition_type), GPT_FLAG_GROWFS },
        };
        for (size_t i = 0; i < ELEMENTSOF(bits); i++) {
                if (bits[i].value < 0 || !bits[i].known)
                        continue;
                flags = bits[i].value ? flags | bits[i].bit : flags & ~bits[i].bit;
                set = true;
        }
        *ret_set = set;
        return flags;
}

static bool slot_claimed(const struct install *in, size_t n, const char *disk, size_t partno) {
        for (size_t i = 0; i < n; i++)
                if (in[i].slot && streq(in[i].disk, disk) && in[i].slot->partno == partno)
                        return true;
        return false;
}

/* What names a slot in a resume state: disk, number, UUID and place. NULL on OOM. */
static char *slot_identity(const char *disk, const struct partition_info *p) {
        char uuid[37];
        uuid_format(p->uuid, uuid);
        return strprintf("%s partition %zu uuid %s start %" PRIu64 " size %" PRIu64, disk, p->partno + 1, uuid,
                         p->start, p->size);
}

/* The smallest free slot of the transfer's type that fits (spec 7.2); the slot named by resume
 * (a slot identity) first, where a cut download of this version waits to be resumed. */
static int pick_slot(const struct transfer *t, const struct resource *target, const struct instance_metadata *m,
                     const struct install *in, size_t n, const char *resume, const struct partition_info **ret) {
        const struct partition_info *best = NULL;
        uint64_t largest = 0;
        for (size_t i = 0; i < target->table->n_partitions; i++) {
                const struct partition_info *p = &target->table->partitions[i];
                if (memcmp(p->type, t->partition_type, 16) != 0 || !streq(p->label, PARTITION_LABEL_EMPTY) ||
                    slot_claimed(in, n, target->path, p->partno))
                        continue;
                if (p->size > largest)
                        largest = p->size;
                if (m->has_size && p->size < m->size)
                        continue;
                _cleanup_free_ char *id = resume ? slot_identity(target->path, p) : NULL;
                if (resume && !id)
                        return -ENOMEM;
                if (id && streq(id, resume)) {
                        best = p;
                        break;
                }
                if (!best || p->size < best->size)
                        best = p;
        }
        if (best) {
                *ret = best;
                return 0;
        }
        char a[16], b[16];
        if (largest > 0)
                return log_error_errno(ENOSPC, "%s: version %s needs %s, larger than every free slot on %s (largest: %s)",
                                       t->id, m->version, format_bytes(a, m->size), target->path, format_bytes(b, largest));
        return log_error_errno(ENOSPC, "%s: no partition of this type labelled '_empty' on %s; every slot holds a protected or booted version (run 'abota list', then adjust ProtectVersion= or reboot into the newest version first)",
                               t->id, target->path);
}

/* The plan was made from an earlier read of the table; before its bytes are overwritten, make
 * sure the slot is still free on disk: still there, same place and size, still labelled `_empty`
 * (nothing else relabelled it meanwhile), and not in use. Its node stays claimed (O_EXCL) in
 * *ret_claim until the commit. */
static int slot_still_free(const char *disk, const struct partition_info *slot, int *ret_claim) {
        struct partition_table *now = NULL;
        int r = partition_table_read(disk, &now);
        if (r < 0)
                return r;
        const struct partition_info *p = partition_table_find(now, slot->partno);
        if (!p || p->start != slot->start || p->size != slot->size || !streq(p->label, PARTITION_LABEL_EMPTY))
                r = log_error_errno(EBUSY, "%s: partition %zu is no longer a free slot, refusing to write into it",
                                    disk, slot->partno + 1);
        else
                r = partition_claim(p, ret_claim);
        partition_table_free(now);
        return r;
}

/* Writes the source into the smallest free slot that fits; commit_install() labels it. */
static int acquire(const struct resource *target, const struct resource_write *w, struct install *i) {
        const struct transfer *t = w->transfer;
        const struct instance *src = w->source;
        const struct instance_metadata *m = w->metadata;
        const struct partition_info *slot = NULL;
        /* A full download of this version cut before resumes into the same slot (acquire-resume.c). */
        _cleanup_free_ char *state = w->resume_dir ? resume_state_path(w->resume_dir, t->id) : NULL, *resume_slot = NULL;
        struct resume_state rs = {};
        int r = state ? resume_state_load(state, &rs) : w->resume_dir ? -ENOMEM : 0;
        if (r < 0)
                return r;
        if (r > 0 && streq(rs.transfer, t->id) && streq(rs.version, m->version))
                resume_slot = TAKE_PTR(rs.target);
        resume_state_done(&rs);
        r = pick_slot(t, target, m, w->others, w->n_others, resume_slot, &slot);
        if (r < 0)
                return r;
        i->disk = strdup(target->path);
        _cleanup_free_ char *what = strprintf("%s (partition %zu of %s)", i->name, slot->partno + 1, target->path);
        if (!i->disk || !what)
                return -ENOMEM;

        r = slot_still_free(target->path, slot, &i->claim_fd);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(target->path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open for writing: %s", target->path, strerror(errno));
        struct acquire_request req = {
                .url = src->path, .expected_sha256 = src->metadata.has_sha256 ? src->metadata.sha256 : NULL,
                .fd = fd, .offset = slot->start, .size_max = slot->size, .sync = w->sync,
                .what = what, .progress = w->progress, .on_bytes = w->on_bytes, .userdata = w->userdata,
        };
        _cleanup_free_ char *identity = slot_identity(target->path, slot);
        if (!identity)
                return -ENOMEM;
        struct resume_key resume = { .state_path = state, .transfer = t->id, .version = m->version, .target = identity };
        req.resume = state ? &resume : NULL;
        /* The paths in the order of the bytes they fetch: patch, block reuse, full image. */
        r = acquire_patch_try(target, src, fd, slot->start, slot->size, w->sync, what, w->progress);
        if (r == 0)
                r = acquire_blocks_try(target, src, fd, slot->start, slot->size, w->sync, what);
        if (r == 0) {
                struct acquire_result res = {};
                char a[16];
                r = acquire_run(&req, &res);
                if (r >= 0)
                        log_info("%s: written from the full image, %s downloaded", what, format_bytes(a, res.downloaded));
        }
        if (r < 0)
                return r;

        i->slot = slot;
        i->change.label = i->name;
        if (m->has_uuid) {
                i->change.set_uuid = true;
                memcpy(i->change.uuid, m->uuid, 16);
        }
        i->change.flags = partition_flags(t, m, slot, &i->change.set_flags);
        return 0;
}

/* A/B needs two slots, and one instance always remains. */
static int vacuum_limit(const struct transfer *t, const struct resource *target, uint64_t space, uint64_t limit,
                        uint64_t *ret) {
        uint64_t total = target->n_empty + target->n_instances;
        char type[37];
        uuid_format(t->partition_type, type);
        const char *tn = partition_type_to_string(t->partition_type);
        if (total < 2)
                return log_error_errno(ENOSPC, "%s: %s has %" PRIu64 " partition slot(s) of type %s, A/B updates need at least two; add a partition of that type labelled '_empty'",
                                       t->id, target->path, total, tn ? tn : type);
        if (space >= total)
                return log_error_errno(ENOSPC, "%s: %s has %" PRIu64 " partition slots of type %s, cannot free %" PRIu64 " while keeping one",
                                       t->id, target->path, total, tn ? tn : type, space);
        uint64_t need = space > target->n_empty ? space - target->n_empty : 0;
        uint64_t keep = target->n_instances > need ? target->n_instances - need : 0;
        if (keep < limit)
                limit = keep;
        *ret = limit;
        return 0;
}

/* The slot becomes free again: its label is `_empty`. */
static int remove_instance(const struct transfer *t, struct resource *target, const struct instance *i, bool sync) {
        (void) t;
        struct partition_change change = { .label = PARTITION_LABEL_EMPTY };
        int r = partition_check_unused(i->partition);
        if (r >= 0)
                r = partition_commit(target->path, i->partition, &change, sync);
        if (r < 0)
                return r;
        /* keep the in-memory table in step, so the slot search sees the freed slot */
        struct partition_info *p = (struct partition_info *) i->partition;
        char *l = strdup(PARTITION_LABEL_EMPTY);
        if (!l)
                return -ENOMEM;
        free(p->label);
        p->label = l;
        target->n_empty++;
        return 0;
}

const struct resource_kind resource_kind_partition = {
        .type = RESOURCE_PARTITION,
        .resolve = resolve_disk,
        .load = load,
        .done = done,
        .name_what = "GPT partition label",
        .name_is_valid = partition_label_is_valid,
        .acquire = acquire,
        .remove = remove_instance,
        .vacuum_limit = vacuum_limit,
};
