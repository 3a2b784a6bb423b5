/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "update.h"

#include "acquire.h"
#include "commit.h"
#include "context.h"
#include "fs-access.h"
#include "base/log.h"
#include "base/notify.h"
#include "base/progress.h"
#include "sysupdate/pattern.h"
#include "resource.h"
#include "resume-state.h"
#include "sysupdate/transfer.h"
#include "updateset.h"
#include "base/util.h"
#include "vacuum.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* The values fed to the first target pattern when naming a new instance (spec 3.6). The
 * version is borrowed from the source instance, never freed here. */
static void new_instance_metadata(const struct transfer *t, const struct instance *src, struct instance_metadata *m) {
        const struct instance_metadata *s = &src->metadata;
        *m = *s;
        /* spec 3.6: an archive's own mtime and mode are not the tree's; the archive has them */
        if (t->source.type == RESOURCE_TAR || t->source.type == RESOURCE_URL_TAR)
                m->has_mtime = m->has_mode = false;
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

static int plan_name(const struct transfer *t, const struct resource *target, const struct instance_metadata *m,
                     char **ret) {
        char missing = 0;
        int r = pattern_format(t->target.patterns[0], m, ret, &missing);
        if (r == -ENXIO)
                return log_error_errno(r, "%s: target pattern '%s' needs @%c, which version %s does not provide",
                                       t->file, pattern_string(t->target.patterns[0]), missing, m->version);
        if (r < 0)
                return r;
        if (!target->kind->name_is_valid(*ret))
                return log_error_errno(EINVAL, "%s: '%s' is not a valid %s", t->file, *ret, target->kind->name_what);

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

static int pick_set(struct context *c, const struct update_options *o, struct update_set **ret) {
        struct update_set *u = o->version ? update_sets_find(c->sets, o->version) : c->sets->candidate;
        *ret = NULL;
        if (!u) {
                if (o->version)
                        return log_error_errno(ENOENT, "update '%s' not found", o->version);
                log_info("No updates found.");
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
        log_info("Selected version %s for install.", u->version);
        *ret = u;
        return 0;
}

/* The payload's size as it will be written, from the size the server announced: only known for
 * payloads not compressed (by name), since decompression changes it. */
static uint64_t written_size(const char *url, uint64_t announced) {
        static const char *const compressed[] = { ".xz", ".gz", ".zst", ".zstd", ".lzma", ".bz2" };
        for (size_t i = 0; i < ELEMENTSOF(compressed); i++)
                if (endswith(url, compressed[i]))
                        return UINT64_MAX;
        return announced;
}

/* A slot the new version can end up in: free, or holding a version vacuum may remove. */
static bool slot_usable(const struct resource *target, const struct partition_info *p, char *const *protected) {
        if (streq(p->label, PARTITION_LABEL_EMPTY))
                return true;
        for (size_t i = 0; i < target->n_instances; i++)
                if (target->instances[i]->partition == p)
                        return !strv_contains(protected, target->instances[i]->metadata.version);
        return false;
}

/* The room a new file can get in target's directory: what its file system has free (looked up at
 * the nearest existing parent, for a directory not created yet) plus what vacuum may free there,
 * the files of every version that is not protected. */
static int file_room(const struct resource *target, char *const *protected, uint64_t *ret) {
        if (target->fs) {
                int r = fs_free_bytes(target->fs, ret);
                for (size_t i = 0; r >= 0 && i < target->n_instances; i++) {
                        uint64_t size = 0;
                        if (!strv_contains(protected, target->instances[i]->metadata.version) &&
                            fs_file_size(target->fs, target->instances[i]->path, &size) >= 0)
                                *ret += size;
                }
                return r;
        }
        _cleanup_free_ char *dir = strdup(target->path);
        if (!dir)
                return -ENOMEM;
        struct statvfs sv;
        while (statvfs(dir, &sv) < 0) {
                char *slash = strrchr(dir, '/');
                if (errno != ENOENT || !slash || slash == dir)
                        return log_error_errno(errno, "%s: cannot tell the free space: %s", target->path, strerror(errno));
                *slash = 0;
        }
        uint64_t room = (uint64_t) sv.f_bavail * sv.f_frsize;
        for (size_t i = 0; i < target->n_instances; i++) {
                struct stat st;
                if (!strv_contains(protected, target->instances[i]->metadata.version) &&
                    stat(target->instances[i]->path, &st) == 0)
                        room += (uint64_t) st.st_blocks * 512;
        }
        *ret = room;
        return 0;
}

/* Whether a payload of size bytes fits where transfer k writes version: a slot it can get, or the
 * room of its directory. 0 when it fits or nobody can tell (no usable slot at all is a
 * configuration problem, which vacuum explains); -ENOSPC with *ret_why ("is 5.0 MiB, larger than
 * ...", not logged) when it does not. */
static int payload_fits(struct context *c, size_t k, uint64_t size, char *const *protected, const char *version,
                        char **ret_why) {
        const struct transfer *t = c->transfers[k];
        const struct resource *target = c->targets[k];
        char a[16], b[16];
        *ret_why = NULL;
        if (t->target.type != RESOURCE_PARTITION) {
                uint64_t room = 0;
                int r = file_room(target, protected, &room);
                if (r < 0)
                        return r;
                if (room >= size)
                        return 0;
                *ret_why = strprintf("is %s, more than the space left in %s (%s, counting what vacuum may free)",
                                     format_bytes(a, size), target->path, format_bytes(b, room));
                return *ret_why ? -ENOSPC : -ENOMEM;
        }
        uint64_t largest = 0;
        for (size_t i = 0; i < target->table->n_partitions; i++) {
                const struct partition_info *p = &target->table->partitions[i];
                if (memcmp(p->type, t->partition_type, 16) == 0 && slot_usable(target, p, protected) &&
                    p->size > largest)
                        largest = p->size;
        }
        if (largest == 0 || largest >= size)
                return 0;
        *ret_why = strprintf("is %s, larger than every slot that could take version %s on %s (largest: %s)",
                             format_bytes(a, size), version, target->path, format_bytes(b, largest));
        return *ret_why ? -ENOSPC : -ENOMEM;
}

/* The size transfer k's payload src will have when written, from the manifest or what the server
 * announces (HEAD): *ret_size, UINT64_MAX unknown; *ret_download what the server announced. */
static int payload_size(const struct instance *src, uint64_t *ret_size, uint64_t *ret_download) {
        uint64_t announced = UINT64_MAX;
        int r = acquire_probe(src->path, &announced);
        if (r < 0)
                return r;
        *ret_download = announced;
        *ret_size = src->metadata.has_size ? src->metadata.size : written_size(src->path, announced);
        return 0;
}

/* Before anything is removed to make room: every payload of the new version must be there, and
 * every payload whose size is known must fit (payload_fits()). Otherwise the update stops here,
 * with every installed version still in place. sizes[k] gets the size each payload will have
 * when written (UINT64_MAX when unknown). */
static int preflight(struct context *c, const struct update_set *u, const struct install *in, uint64_t *sizes,
                     uint64_t *downloads) {
        _cleanup_strv_free_ char **protected = NULL;
        int r = vacuum_protected_versions(c, NULL, &protected);
        if (r < 0)
                return r;
        for (size_t k = 0; k < c->n; k++) {
                sizes[k] = downloads[k] = UINT64_MAX;
                if (!in[k].name)
                        continue;
                const struct transfer *t = c->transfers[k];
                const struct instance *src = u->available[k];
                if (t->source.type == RESOURCE_DIRECTORY || t->source.type == RESOURCE_SUBVOLUME) {
                        /* a tree is copied as it is: it must still be there */
                        struct stat st;
                        if (stat(src->path, &st) < 0 || !S_ISDIR(st.st_mode))
                                return log_error_errno(ENOENT, "%s: %s: not a directory (any more)", t->id, src->path);
                        continue;
                }
                if ((r = payload_size(src, &sizes[k], &downloads[k])) < 0)
                        return r;
                char a[16];
                log_debug("%s: %s is there, %s when written", t->id, src->path,
                          sizes[k] == UINT64_MAX ? "size unknown" : format_bytes(a, sizes[k]));
                if (sizes[k] == UINT64_MAX)
                        continue;
                _cleanup_free_ char *why = NULL;
                r = payload_fits(c, k, sizes[k], protected, u->version, &why);
                if (r == -ENOSPC)
                        return log_error_errno(ENOSPC, "%s: %s %s; nothing was removed", t->id, src->path, why);
                if (r < 0)
                        return r;
        }
        return 0;
}

int update_explain(struct context *c, const char *version, char ***ret) {
        _cleanup_strv_free_ char **why = NULL, **protected = NULL;
        int r = vacuum_protected_versions(c, NULL, &protected);
        if (r < 0)
                return r;
        size_t at_source = 0, installed = 0, known = 0;
        for (size_t k = 0; k < c->n; k++) {
                const struct transfer *t = c->transfers[k];
                const struct instance *s = c->sources ? resource_find(c->sources[k], version) : NULL;
                const struct instance *i = resource_find(c->targets[k], version);
                at_source += s != NULL;
                installed += i != NULL;
                known += s || i;
                _cleanup_free_ char *line = NULL;
                if (c->sources && !s && !i)
                        line = strprintf("%s: missing at the source %s", t->id, c->sources[k]->path);
                else if ((s || i) && t->max_version && version_compare(version, t->max_version) > 0)
                        line = strprintf("%s: above MaxVersion=%s", t->id, t->max_version);
                else if ((s || i) && t->min_version && version_compare(version, t->min_version) < 0)
                        line = strprintf("%s: below MinVersion=%s", t->id, t->min_version);
                else if (s && !i && t->source.type != RESOURCE_DIRECTORY && t->source.type != RESOURCE_SUBVOLUME) {
                        uint64_t size, download;
                        _cleanup_free_ char *fit = NULL;
                        if (payload_size(s, &size, &download) < 0) /* logged */
                                line = strprintf("%s: %s cannot be fetched", t->id, s->path);
                        else if (size != UINT64_MAX) {
                                r = payload_fits(c, k, size, protected, version, &fit);
                                if (r == -ENOSPC)
                                        line = strprintf("%s: %s %s", t->id, s->path, fit);
                                else if (r < 0)
                                        return r;
                        }
                }
                if (line && strv_extend(&why, line) < 0)
                        return -ENOMEM;
        }
        _cleanup_free_ char *line = NULL;
        const struct update_set *newest = c->sets->newest_installed;
        if (installed > 0 && installed < c->n)
                line = strprintf("incomplete: installed for %zu of %zu transfers", installed, c->n);
        else if (c->sources && at_source > 0 && at_source + installed < c->n)
                line = strprintf("incomplete: at the source for %zu of %zu transfers", at_source, c->n);
        else if (at_source == c->n && installed == 0 && newest && version_compare(version, newest->version) < 0)
                line = strprintf("older than the newest installed version %s (update %s installs it anyway)",
                                 newest->version, version);
        if (line && strv_extend(&why, line) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(why);
        return (int) known;
}

/* What transfer k's CurrentSymlink= would point at: the partition's device node, or the file. A
 * file system reached without mounting has no symlinks, and a partition of a disk image file
 * has no node: refused before anything is written (systemd 257 installs, then points the link at
 * its own file descriptor, /proc/self/fd/N). */
static int check_current_symlink(const struct context *c, size_t k) {
        const struct transfer *t = c->transfers[k];
        const struct resource *target = c->targets[k];
        if (!t->current_symlink)
                return 0;
        if (target->fs)
                return log_error_errno(EOPNOTSUPP, "%s: CurrentSymlink=%s: %s keeps no symlinks", t->file,
                                       t->current_symlink, target->fs->what);
        if (target->table && !target->table->is_block)
                return log_error_errno(EOPNOTSUPP, "%s: CurrentSymlink=%s needs the partition's device node, and %s is a "
                                       "disk image file, whose partitions have none", t->file, t->current_symlink,
                                       target->path);
        for (size_t i = 0; target->table && i < target->table->n_partitions; i++) {
                const struct partition_info *p = &target->table->partitions[i];
                if (memcmp(p->type, t->partition_type, 16) == 0 && !p->node)
                        return log_error_errno(EOPNOTSUPP, "%s: CurrentSymlink=%s needs the partition's device node, and "
                                               "the kernel knows no node for partition %zu of %s", t->file,
                                               t->current_symlink, p->partno + 1, target->path);
        }
        return 0;
}

/* CurrentSymlink=: after every commit, each such transfer's link points at the instance of the
 * version now installed (new or already there): the file, or the partition's device node.
 * Relative links are below the target's Path=. */
static int update_current_symlinks(const struct context *c, const struct update_set *u, const struct install *in,
                                   bool sync) {
        for (size_t k = 0; k < c->n; k++) {
                const struct transfer *t = c->transfers[k];
                if (!t->current_symlink)
                        continue;
                const struct instance *have = resource_find(c->targets[k], u->version);
                const char *target = in[k].slot ? in[k].slot->node : in[k].final_path ? in[k].final_path
                                                                    : have ? have->path : NULL;
                if (!target || (t->target.type == RESOURCE_PARTITION && !path_is_absolute(target)))
                        return log_error_errno(ENOENT, "%s: CurrentSymlink=%s: version %s has no device node to point at",
                                               t->file, t->current_symlink, u->version);
                _cleanup_free_ char *link = path_is_absolute(t->current_symlink)
                                                    ? path_prefix_root(c->rc.root, t->current_symlink)
                                                    : path_join(c->targets[k]->path, t->current_symlink);
                if (!link)
                        return -ENOMEM;
                int r = commit_current_symlink(link, target, sync);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The slot update would write for transfer k, as the partition kind will pick it once vacuum
 * has removed the victims: the smallest of the type that is free or freed, fits, and is not taken
 * by an earlier transfer of this plan. NULL when there is none. */
static const struct partition_info *plan_slot(struct context *c, size_t k, uint64_t size, char *const *victims,
                                              const struct partition_info **taken) {
        const struct resource *target = c->targets[k];
        const struct partition_info *best = NULL;
        for (size_t i = 0; i < target->table->n_partitions; i++) {
                const struct partition_info *p = &target->table->partitions[i];
                bool free_ = streq(p->label, PARTITION_LABEL_EMPTY);
                for (size_t j = 0; !free_ && j < target->n_instances; j++)
                        free_ = target->instances[j]->partition == p &&
                                strv_contains(victims, target->instances[j]->metadata.version);
                bool claimed = false;
                for (size_t j = 0; j < k; j++)
                        claimed = claimed || taken[j] == p;
                if (memcmp(p->type, c->transfers[k]->partition_type, 16) != 0 || !free_ || claimed ||
                    (size != UINT64_MAX && p->size < size))
                        continue;
                if (!best || p->size < best->size)
                        best = p;
        }
        return best;
}

/* update --dry-run: the plan on stdout, nothing written. */
static int print_plan(struct context *c, const struct update_options *o, const struct update_set *u,
                      const struct install *in, const uint64_t *sizes) {
        char *protect[] = { u->version, NULL };
        struct vacuum_request vq = { .space = 1, .instances_max = o->instances_max, .protected = protect, .sync = o->sync };
        _cleanup_strv_free_ char **victims = NULL;
        int r = vacuum_plan(c, &vq, u->version, &victims);
        if (r < 0)
                return r;
        _cleanup_free_ const struct partition_info **taken = calloc(c->n ? c->n : 1, sizeof(*taken));
        if (!taken)
                return -ENOMEM;
        printf("Would install version %s.\n", u->version);
        for (char **v = victims; v && *v; v++)
                printf("Would remove version %s to make room.\n", *v);
        for (size_t k = 0; k < c->n; k++) {
                const struct transfer *t = c->transfers[k];
                char a[16];
                const char *size = sizes[k] == UINT64_MAX ? "size unknown" : format_bytes(a, sizes[k]);
                if (!in[k].name)
                        printf("%s: already has version %s\n", t->id, u->version);
                else if (t->target.type == RESOURCE_PARTITION) {
                        taken[k] = plan_slot(c, k, sizes[k], victims, taken);
                        if (taken[k])
                                printf("%s: would write %s (%s) into partition %zu of %s, labelled %s\n", t->id,
                                       u->available[k]->path, size, taken[k]->partno + 1, c->targets[k]->path,
                                       in[k].name);
                        else
                                printf("%s: would write %s (%s) into a free partition of %s, none fits now\n", t->id,
                                       u->available[k]->path, size, c->targets[k]->path);
                } else
                        printf("%s: would write %s (%s) as %s/%s\n", t->id, u->available[k]->path, size,
                               c->targets[k]->path, in[k].name);
        }
        printf("Dry run: nothing was changed.\n");
        return 0;
}

static void emit(const struct update_options *o, const struct update_event *e) {
        if (o->on_event)
                o->on_event(o->userdata, e);
}

static void emit_phase(const struct update_options *o, const char *version, const char *phase) {
        emit(o, &(struct update_event) { .type = UPDATE_EVENT_PHASE, .version = version, .phase = phase });
}

static void on_removed(void *userdata, const char *version) {
        const struct update_options *o = userdata;
        emit(o, &(struct update_event) { .type = UPDATE_EVENT_REMOVED, .removed = version });
}

#define EVENT_GAP_USEC 200000ULL

/* The bytes of transfer k as they arrive. X_SYSUPDATE_PROGRESS moves with them: transfer k of n
 * is the k-th n-th of the way, its share filled as its bytes arrive (when the server announced
 * their number). A progress event goes out at most every EVENT_GAP_USEC, and at the end. */
struct transfer_progress {
        const struct update_options *o;
        const char *version, *transfer, *instance;
        size_t k, n;
        uint64_t total;  /* bytes to download for transfer k, UINT64_MAX unknown */
        size_t last;     /* the percentage sent last */
        uint64_t done, start_usec, last_event_usec;
};

static void progress_event(struct transfer_progress *tp, uint64_t now) {
        tp->last_event_usec = now;
        emit(tp->o, &(struct update_event) {
                .type = UPDATE_EVENT_PROGRESS, .version = tp->version, .transfer = tp->transfer,
                .instance = tp->instance, .done = tp->done, .total = tp->total, .elapsed_usec = now - tp->start_usec,
        });
}

static void on_bytes(void *userdata, uint64_t done) {
        struct transfer_progress *tp = userdata;
        tp->done = done;
        if (tp->o->on_event) {
                uint64_t now = progress_now_usec();
                if (now - tp->last_event_usec >= EVENT_GAP_USEC || done == tp->total)
                        progress_event(tp, now);
        }
        if (tp->total == UINT64_MAX || tp->total == 0)
                return;
        uint64_t part = done >= tp->total ? 100 : done * 100 / tp->total;
        size_t pct = (size_t) ((100 * tp->k + part) / tp->n);
        if (pct <= tp->last || pct >= 100 * (tp->k + 1) / tp->n) /* the next step says that one */
                return;
        tp->last = pct;
        notify_send("STATUS=Updating to '%s' (%zu%% complete).\nX_SYSUPDATE_PROGRESS=%zu", tp->version, pct, pct);
}

static int run(struct context *c, const struct update_options *o, const struct update_set *u, struct install *in) {
        int r;
        /* Plan every name first: nothing is touched if one of them cannot be formed. */
        for (size_t k = 0; k < c->n; k++) {
                in[k].transfer = c->transfers[k];
                if ((r = check_current_symlink(c, k)) < 0)
                        return r;
                if (resource_find(c->targets[k], u->version))
                        continue; /* already there (repairing an incomplete install) */
                struct instance_metadata m;
                new_instance_metadata(c->transfers[k], u->available[k], &m);
                r = plan_name(c->transfers[k], c->targets[k], &m, &in[k].name);
                if (r < 0)
                        return r;
        }

        _cleanup_free_ uint64_t *sizes = calloc(c->n ? c->n : 1, sizeof(uint64_t));
        _cleanup_free_ uint64_t *downloads = calloc(c->n ? c->n : 1, sizeof(uint64_t));
        if (!sizes || !downloads)
                return -ENOMEM;
        log_debug("Checking that every payload of '%s' is there.", u->version);
        emit_phase(o, u->version, "check");
        r = preflight(c, u, in, sizes, downloads);
        if (r < 0)
                return r;
        if (o->dry_run)
                return print_plan(c, o, u, in, sizes);

        char *protect[] = { u->version, NULL };
        struct vacuum_request vq = {
                .space = 1, .instances_max = o->instances_max, .protected = protect, .sync = o->sync,
                .on_removed = on_removed, .userdata = (void *) o,
        };
        size_t removed = 0;
        log_debug("Making room for '%s'.", u->version);
        emit_phase(o, u->version, "vacuum");
        notify_send("READY=1\nX_SYSUPDATE_VERSION=%s\nSTATUS=Making room for '%s'.", u->version, u->version);
        r = vacuum_context(c, &vq, u->version, &removed, NULL);
        if (r < 0)
                return r;
        /* Where a cut download is resumed from: below --root, not with --image alone. */
        _cleanup_free_ char *resume_dir = NULL;
        if ((r = resume_state_dir(c->rc.root, c->rc.image, &resume_dir)) < 0)
                return r;
        if (o->sync)
                sync();

        emit_phase(o, u->version, "acquire");
        for (size_t k = 0; k < c->n; k++) {
                if (!in[k].name)
                        continue;
                const struct transfer *t = c->transfers[k];
                notify_send("STATUS=Updating to '%s' (%zu%% complete).\nX_SYSUPDATE_PROGRESS=%zu\n"
                            "X_SYSUPDATE_TRANSFERS_LEFT=%zu\nX_SYSUPDATE_TRANSFERS_DONE=%zu",
                            u->version, 100 * k / c->n, 100 * k / c->n, c->n - k, k);
                struct instance_metadata m;
                new_instance_metadata(t, u->available[k], &m);
                if (!m.has_size && sizes[k] != UINT64_MAX) {
                        m.has_size = true; /* the smallest slot that fits what the server announced */
                        m.size = sizes[k];
                }
                log_info("%s: acquiring %s as %s", t->id, u->available[k]->path, in[k].name);
                struct transfer_progress tp = {
                        .o = o, .version = u->version, .transfer = t->id, .instance = in[k].name,
                        .k = k, .n = c->n, .total = downloads[k], .last = 100 * k / c->n,
                        .start_usec = progress_now_usec(),
                };
                struct resource_write w = {
                        .transfer = t, .source = u->available[k], .metadata = &m,
                        .others = in, .n_others = k, .sync = o->sync, .progress = o->progress,
                        .on_bytes = on_bytes, .userdata = &tp, .resume_dir = resume_dir,
                };
                r = c->targets[k]->kind->acquire(c->targets[k], &w, &in[k]);
                if (r < 0)
                        return r;
                if (o->on_event && tp.last_event_usec == 0) /* nothing counted (a tree, a patch) */
                        progress_event(&tp, progress_now_usec());
        }
        if (o->sync)
                sync();

        /* Commit in transfer order: the boot entry (named last) appears only after the data. */
        emit_phase(o, u->version, "commit");
        for (size_t k = 0; k < c->n; k++) {
                if (!in[k].name)
                        continue;
                if ((r = commit_install(&in[k], o->sync)) < 0)
                        return r;
                emit(o, &(struct update_event) {
                        .type = UPDATE_EVENT_WRITTEN, .version = u->version, .transfer = c->transfers[k]->id,
                        .instance = in[k].name, .target = in[k].slot ? in[k].disk : in[k].final_path,
                        .partno = in[k].slot ? in[k].slot->partno + 1 : 0,
                });
        }
        /* Nothing left to resume. */
        for (size_t k = 0; resume_dir && k < c->n; k++) {
                _cleanup_free_ char *state = resume_state_path(resume_dir, c->transfers[k]->id);
                if (!state)
                        return -ENOMEM;
                (void) resume_state_remove(state);
        }
        return update_current_symlinks(c, u, in, o->sync);
}

int update_run(struct context *c, const struct update_options *o, const char **ret_version) {
        struct update_set *u;
        *ret_version = NULL;
        int r = pick_set(c, o, &u);
        if (r < 0 || !u)
                return r;
        if (c->lock_fd < 0 && !o->dry_run)
                return log_error_errno(ENOLCK, "internal error: update without the run lock");

        struct install *in = calloc(c->n ? c->n : 1, sizeof(*in));
        if (!in)
                return -ENOMEM;
        for (size_t k = 0; k < c->n; k++)
                in[k].claim_fd = -1;
        r = run(c, o, u, in);
        for (size_t k = 0; k < c->n; k++)
                install_done(&in[k]);
        free(in);
        if (r < 0 || o->dry_run)
                return r;
        log_notice("Successfully installed update '%s'.", u->version);
        notify_send("STATUS=Installed '%s'.\nX_SYSUPDATE_PROGRESS=100", u->version);
        *ret_version = u->version;
        return 0;
}
