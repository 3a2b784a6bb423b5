/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "update.h"

#include "acquire.h"
#include "commit.h"
#include "context.h"
#include "base/log.h"
#include "base/notify.h"
#include "base/parttype.h"
#include "sysupdate/pattern.h"
#include "resource.h"
#include "sysupdate/transfer.h"
#include "updateset.h"
#include "base/util.h"
#include "vacuum.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>

/* The values fed to the first target pattern when naming a new instance (spec 3.6). The
 * version is borrowed from the source instance, never freed here. */
static void new_instance_metadata(const struct transfer *t, const struct instance *src, struct instance_metadata *m) {
        const struct instance_metadata *s = &src->metadata;
        *m = *s;
        if (t->has_partition_uuid) {
                m->has_uuid = true;
                memcpy(m->uuid, t->partition_uuid, 16);
        }
        if (t->has_partition_flags) {
                m->has_flags = true;
                m->flags = t->partition_flags;
        }
        if (t->has_mode) {
                m->has_mode = true;
                m->mode = t->mode;
        }
        m->has_tries_done = true;
        m->tries_done = t->has_tries_done ? t->tries_done : s->has_tries_done ? s->tries_done : 0;
        m->has_tries_left = true;
        m->tries_left = t->has_tries_left ? t->tries_left : s->has_tries_left ? s->tries_left : 3;
        if (t->no_auto >= 0)
                m->no_auto = t->no_auto;
        if (t->read_only >= 0)
                m->read_only = t->read_only;
        if (t->growfs >= 0)
                m->growfs = t->growfs;
}

static int plan_name(const struct transfer *t, const struct instance_metadata *m, char **ret) {
        char missing = 0;
        int r = pattern_format(t->target.patterns[0], m, ret, &missing);
        if (r == -ENXIO)
                return log_error_errno(r, "%s: target pattern '%s' needs @%c, which version %s does not provide",
                                       t->file, pattern_string(t->target.patterns[0]), missing, m->version);
        if (r < 0)
                return r;
        bool ok = t->target.type == RESOURCE_PARTITION
                ? partition_label_is_valid(*ret)
                : !path_is_absolute(*ret) && path_is_normalized(*ret) && !strstr(*ret, "..");
        if (!ok)
                return log_error_errno(EINVAL, "%s: '%s' is not a valid %s", t->file, *ret,
                                       t->target.type == RESOURCE_PARTITION ? "GPT partition label" : "file name");

        /* The new name must be found again as this version, or list/vacuum would not see it: a
         * version containing the literal that follows @v (e.g. 1_2 with foo_@v_@u) is cut short
         * by the non-greedy matcher (spec 3.3). */
        struct instance_metadata back;
        instance_metadata_init(&back);
        r = pattern_match_many(t->target.patterns, t->target.n_patterns, *ret, &back);
        bool same = r == PATTERN_YES && streq_ptr(back.version, m->version);
        instance_metadata_done(&back);
        if (r < 0)
                return r;
        if (!same)
                return log_error_errno(EINVAL, "%s: new name '%s' would not be recognised as version %s by MatchPattern=; "
                                       "the version contains a separator of the pattern", t->file, *ret, m->version);
        return 0;
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

/* The smallest free slot of the transfer's type that fits (spec 7.2). */
static int pick_slot(const struct transfer *t, const struct resource *target, const struct instance_metadata *m,
                     const struct install *in, size_t n, const struct partition_info **ret) {
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
 * sure the slot is still free on disk (nothing else relabelled it meanwhile). */
static int slot_still_free(const char *disk, const struct partition_info *slot) {
        struct partition_table *now = NULL;
        int r = partition_table_read(disk, &now);
        if (r < 0)
                return r;
        const struct partition_info *p = partition_table_find(now, slot->partno);
        if (!p || p->start != slot->start || p->size != slot->size || !streq(p->label, PARTITION_LABEL_EMPTY))
                r = log_error_errno(EBUSY, "%s: partition %zu is no longer a free slot, refusing to write into it",
                                    disk, slot->partno + 1);
        else
                r = partition_check_unused(p);
        partition_table_free(now);
        return r;
}

static int acquire_partition(const struct transfer *t, const struct resource *target, const struct instance *src,
                             const struct instance_metadata *m, const struct update_options *o,
                             struct install *in, size_t n_in, struct install *i) {
        const struct partition_info *slot = NULL;
        int r = pick_slot(t, target, m, in, n_in, &slot);
        if (r < 0)
                return r;
        i->disk = strdup(target->path);
        _cleanup_free_ char *what = strprintf("%s (partition %zu of %s)", i->name, slot->partno + 1, target->path);
        if (!i->disk || !what)
                return -ENOMEM;

        r = slot_still_free(target->path, slot);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(target->path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open for writing: %s", target->path, strerror(errno));
        struct acquire_request req = {
                .url = src->path, .expected_sha256 = src->metadata.has_sha256 ? src->metadata.sha256 : NULL,
                .fd = fd, .offset = slot->start, .size_max = slot->size, .sync = o->sync,
                .what = what, .progress = o->progress,
        };
        r = acquire_run(&req, NULL);
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

static char *temp_name_for(const char *final) {
        uint8_t rnd[8];
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return NULL;
        const char *base = path_basename(final);
        size_t dl = (size_t) (base - final);
        return strprintf("%.*s.#sysupdate%s%02x%02x%02x%02x%02x%02x%02x%02x", (int) dl, final, base,
                         rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

/* Creates the missing directories above dir/rel (EFI/Linux on a fresh ESP, or those of a
 * pattern with slashes), mode 0755. */
static int make_parents(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_join(dir, rel);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "%s: cannot create directory: %s", p, strerror(errno));
                *s = '/';
        }
        return 0;
}

static int acquire_file(const struct transfer *t, const struct resource *target, const struct instance *src,
                        const struct instance_metadata *m, const struct update_options *o, struct install *i) {
        int r = make_parents(target->path, i->name);
        if (r < 0)
                return r;
        i->final_path = path_join(target->path, i->name);
        i->temp_path = i->final_path ? temp_name_for(i->final_path) : NULL;
        if (!i->temp_path)
                return -ENOMEM;

        _cleanup_close_ int fd = open(i->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = log_error_errno(errno, "%s: cannot create %s: %s", t->id, i->temp_path, strerror(errno));
                free(i->temp_path); /* not ours: never unlink it */
                i->temp_path = NULL;
                return r;
        }
        struct acquire_request req = {
                .url = src->path, .expected_sha256 = src->metadata.has_sha256 ? src->metadata.sha256 : NULL,
                .fd = fd, .offset = 0, .size_max = UINT64_MAX, .sync = false,
                .what = i->final_path, .progress = o->progress,
        };
        r = acquire_run(&req, NULL);
        if (r < 0)
                return r;

        mode_t mode = m->has_mode ? m->mode : 0644;
        if (m->read_only > 0)
                mode &= ~0222;
        if (fchmod(fd, mode) < 0)
                return log_error_errno(errno, "%s: cannot set mode: %s", i->temp_path, strerror(errno));
        if (m->has_mtime) {
                struct timespec ts[2] = {
                        { .tv_sec = (time_t) (m->mtime / 1000000u), .tv_nsec = (long) (m->mtime % 1000000u) * 1000 },
                };
                ts[1] = ts[0];
                if (futimens(fd, ts) < 0)
                        return log_error_errno(errno, "%s: cannot set mtime: %s", i->temp_path, strerror(errno));
        }
        if (o->sync && fsync(fd) < 0)
                return log_error_errno(errno, "%s: cannot sync: %s", i->temp_path, strerror(errno));
        return 0;
}

static int pick_set(struct context *c, const struct update_options *o, struct update_set **ret) {
        struct update_set *u = o->version ? update_sets_find(c->sets, o->version) : c->sets->candidate;
        *ret = NULL;
        if (!u) {
                if (o->version)
                        return log_error_errno(ENOENT, "update '%s' not found", o->version);
                log_info("No update needed.");
                return 0;
        }
        if ((u->flags & UPDATE_INSTALLED) && !(u->flags & UPDATE_INCOMPLETE)) {
                log_info("Version %s is already installed, skipping update.", u->version);
                return 0;
        }
        if (!(u->flags & UPDATE_AVAILABLE))
                return log_error_errno(ENOENT, "version %s is not available from every source", u->version);
        if (u->flags & UPDATE_OBSOLETE)
                return log_error_errno(EPROTO, "version %s is obsolete (outside MinVersion=/MaxVersion=)", u->version);
        if (c->sets->newest_installed && version_compare(u->version, c->sets->newest_installed->version) < 0)
                log_warning("version %s is older than the newest installed %s, downgrading as asked",
                            u->version, c->sets->newest_installed->version);
        *ret = u;
        return 0;
}

static int run(struct context *c, const struct update_options *o, const struct update_set *u, struct install *in) {
        int r;
        /* Plan every name first: nothing is touched if one of them cannot be formed. */
        for (size_t k = 0; k < c->n; k++) {
                in[k].transfer = c->transfers[k];
                if (resource_find(c->targets[k], u->version))
                        continue; /* already there (repairing an incomplete install) */
                struct instance_metadata m;
                new_instance_metadata(c->transfers[k], u->available[k], &m);
                r = plan_name(c->transfers[k], &m, &in[k].name);
                if (r < 0)
                        return r;
        }

        char *protect[] = { u->version, NULL };
        struct vacuum_request vq = { .space = 1, .instances_max = o->instances_max, .protected = protect, .sync = o->sync };
        size_t removed = 0;
        log_info("Making room for '%s'.", u->version);
        notify_send("READY=1\nX_SYSUPDATE_VERSION=%s\nSTATUS=Making room for '%s'.", u->version, u->version);
        r = vacuum_context(c, &vq, u->version, &removed, NULL);
        if (r < 0)
                return r;
        if (o->sync)
                sync();

        for (size_t k = 0; k < c->n; k++) {
                if (!in[k].name)
                        continue;
                const struct transfer *t = c->transfers[k];
                notify_send("STATUS=Updating to '%s' (%zu%% complete).\nX_SYSUPDATE_PROGRESS=%zu\n"
                            "X_SYSUPDATE_TRANSFERS_LEFT=%zu\nX_SYSUPDATE_TRANSFERS_DONE=%zu",
                            u->version, 100 * k / c->n, 100 * k / c->n, c->n - k, k);
                struct instance_metadata m;
                new_instance_metadata(t, u->available[k], &m);
                log_info("%s: acquiring %s as %s", t->id, u->available[k]->path, in[k].name);
                r = t->target.type == RESOURCE_PARTITION
                        ? acquire_partition(t, c->targets[k], u->available[k], &m, o, in, k, &in[k])
                        : acquire_file(t, c->targets[k], u->available[k], &m, o, &in[k]);
                if (r < 0)
                        return r;
        }
        if (o->sync)
                sync();

        /* Commit in transfer order: the boot entry (named last) appears only after the data. */
        for (size_t k = 0; k < c->n; k++)
                if (in[k].name && (r = commit_install(&in[k], o->sync)) < 0)
                        return r;
        return 0;
}

int update_run(struct context *c, const struct update_options *o, const char **ret_version) {
        struct update_set *u;
        *ret_version = NULL;
        int r = pick_set(c, o, &u);
        if (r < 0 || !u)
                return r;
        if (c->lock_fd < 0)
                return log_error_errno(ENOLCK, "internal error: update without the run lock");

        struct install *in = calloc(c->n ? c->n : 1, sizeof(*in));
        if (!in)
                return -ENOMEM;
        r = run(c, o, u, in);
        for (size_t k = 0; k < c->n; k++)
                install_done(&in[k]);
        free(in);
        if (r < 0)
                return r;
        log_notice("Successfully installed update '%s'.", u->version);
        notify_send("STATUS=Installed '%s'.\nX_SYSUPDATE_PROGRESS=100", u->version);
        *ret_version = u->version;
        return 0;
}
