/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Directories of regular files as sources and targets (spec sysupdate.md 5.2, 3.5). */
#include "resource-directory.h"

#include "acquire.h"
#include "btrfs.h"
#include "commit.h"
#include "fs-access.h"
#include "resource.h"
#include "resume-state.h"
#include "base/log.h"
#include "base/spawn.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#define DESCEND_MAX 8u

static int scan(struct resource *r, const struct resource_config *c, const char *rel, unsigned depth, bool dirs);

/* One entry name (below r->path) of a directory being scanned: an instance, a directory to descend
 * into, or nothing. st is NULL on a file system reached without mounting (no mode, no mtime). */
static int consider(struct resource *r, const struct resource_config *c, const char *name, bool is_dir, bool is_reg,
                    const struct stat *st, unsigned depth, bool dirs) {
        struct instance_metadata m;
        instance_metadata_init(&m);
        int k = pattern_match_many(c->patterns, c->n_patterns, name, &m);
        if (k == PATTERN_RETRY && is_dir && depth < DESCEND_MAX) {
                instance_metadata_done(&m);
                return scan(r, c, name, depth + 1, dirs);
        }
        if (k != PATTERN_YES || !(dirs ? is_dir : is_reg)) {
                instance_metadata_done(&m);
                return k < 0 ? k : 0;
        }
        if (!m.has_mtime && st) {
                m.has_mtime = true;
                m.mtime = (uint64_t) st->st_mtim.tv_sec * 1000000u + (uint64_t) st->st_mtim.tv_nsec / 1000u;
        }
        if (!m.has_mode && st) {
                m.has_mode = true;
                m.mode = st->st_mode & 0775;
        }
        _cleanup_free_ char *path = path_join(r->path, name);
        k = path ? resource_add_instance(r, name, path, &m) : -ENOMEM;
        instance_metadata_done(&m);
        return k;
}

static bool skip_entry(const char *n) {
        /* ".", "..", and our own temporary files */
        return (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) || startswith(n, ".#");
}

static int scan_fs(struct resource *r, const struct resource_config *c, const char *dir, const char *rel,
                   unsigned depth, bool dirs) {
        _cleanup_strv_free_ char **names = NULL;
        int k = fs_list(r->fs, dir, &names);
        if (k == -ENOENT)
                return 0; /* a missing directory simply has no instances */
        for (char **n = names; k >= 0 && n && *n; n++) {
                bool is_dir = endswith(*n, "/");
                if (is_dir)
                        (*n)[strlen(*n) - 1] = 0;
                if (skip_entry(*n))
                        continue;
                _cleanup_free_ char *name = rel ? path_join(rel, *n) : strdup(*n);
                k = name ? consider(r, c, name, is_dir, !is_dir, NULL, depth, dirs) : -ENOMEM;
        }
        return k < 0 ? k : 0;
}

/* Instances are regular files, or (dirs) directories: Type=directory/subvolume. */
static int scan(struct resource *r, const struct resource_config *c, const char *rel, unsigned depth, bool dirs) {
        _cleanup_free_ char *dir = rel ? path_join(r->path, rel) : strdup(r->path);
        if (!dir)
                return -ENOMEM;
        if (r->fs)
                return scan_fs(r, c, dir, rel, depth, dirs);
        DIR *d _cleanup_(closedirp) = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0; /* a missing directory simply has no instances */
                return log_error_errno(errno, "%s: cannot read directory: %s", dir, strerror(errno));
        }

        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (skip_entry(de->d_name))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* vanished meanwhile */
                _cleanup_free_ char *name = rel ? path_join(rel, de->d_name) : strdup(de->d_name);
                if (!name)
                        return -ENOMEM;
                int k = consider(r, c, name, S_ISDIR(st.st_mode), S_ISREG(st.st_mode), &st, depth, dirs);
                if (k < 0)
                        return k;
        }
        if (errno != 0)
                return log_error_errno(errno, "%s: cannot read directory: %s", dir, strerror(errno));
        return 0;
}

static int load(struct resource *r, const struct transfer *t, const struct resource_config *c,
                const struct resource_context *ctx) {
        (void) t;
        (void) ctx;
        return scan(r, c, NULL, 0, false);
}

static int load_dirs(struct resource *r, const struct transfer *t, const struct resource_config *c,
                     const struct resource_context *ctx) {
        (void) t;
        (void) ctx;
        return scan(r, c, NULL, 0, true);
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

/* The partial file of a resumable download: a fixed name beside the final one (which holds the
 * version), so that the next run finds it. Like every temporary name it starts with ".#": no
 * pattern matches it and RemoveTemporary= removes it once no resume state names it. */
#define PARTIAL_PREFIX ".#sysupdate-partial-"

static char *partial_name_for(const char *final) {
        const char *base = path_basename(final);
        return strprintf("%.*s" PARTIAL_PREFIX "%s", (int) (base - final), final, base);
}

/* Opens the partial file of this version for a resumable download; the one of another version
 * that the transfer's state names goes. */
static int open_partial(const struct resource_write *w, const char *state, struct install *i) {
        struct resume_state s = {};
        int r = resume_state_load(state, &s);
        if (r < 0)
                return r;
        free(i->temp_path); /* the random name is not used */
        i->temp_path = partial_name_for(i->final_path);
        if (!i->temp_path) {
                resume_state_done(&s);
                return -ENOMEM;
        }
        const char *other = r > 0 && streq(s.transfer, w->transfer->id) ? resume_state_file(&s) : NULL;
        if (other && startswith(path_basename(other), PARTIAL_PREFIX) && !streq(other, i->temp_path) &&
            unlink(other) >= 0)
                log_info("%s: removed the partial download of another version", other);
        resume_state_done(&s);
        int fd = open(i->temp_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        i->temp_kept = true; /* an uncommitted partial stays for the next run */
        return fd;
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

/* The final path of the new instance and a ".#sysupdate..." temporary name beside it, with the
 * missing directories above them created. */
static int plan_paths(const struct resource *target, struct install *i) {
        i->fs = target->fs;
        int r = target->fs ? 0 : make_parents(target->path, i->name);
        if (r < 0)
                return r;
        i->final_path = path_join(target->path, i->name);
        i->temp_path = i->final_path ? temp_name_for(i->final_path) : NULL;
        return i->temp_path ? 0 : -ENOMEM;
}

/* Copies the local file (removed afterwards) to i's temporary name on fs, creating the
 * directories above it. */
static int put_file(const struct fs_access *fs, const char *local, const struct install *i) {
        _cleanup_free_ char *dir = NULL;
        int r = path_dirname(i->temp_path, &dir);
        if (r >= 0)
                r = fs_make_dirs(fs, dir);
        if (r >= 0)
                r = fs_put(fs, local, i->temp_path);
        (void) unlink(local);
        return r;
}

/* Writes the source into a ".#sysupdate..." temporary file beside the final name, with its mode
 * and mtime; commit_install() renames it. A download checked against SHA256SUMS, on a local file
 * system, with resume states kept, goes into the partial file of its version instead and goes on
 * where a cut run stopped (acquire-resume.c). */
static int acquire(const struct resource *target, const struct resource_write *w, struct install *i) {
        const struct transfer *t = w->transfer;
        const struct instance *src = w->source;
        const struct instance_metadata *m = w->metadata;
        int r = plan_paths(target, i);
        if (r < 0)
                return r;

        bool resumable = w->resume_dir && !target->fs && src->metadata.has_sha256;
        _cleanup_free_ char *state = resumable ? resume_state_path(w->resume_dir, t->id) : NULL;
        if (resumable && !state)
                return -ENOMEM;
        /* on a file system reached without mounting, the file is made here first and copied in */
        _cleanup_free_ char *local = target->fs ? strdup("/var/tmp/.#abota-XXXXXX") : NULL;
        if (target->fs && !local)
                return -ENOMEM;
        _cleanup_close_ int fd = local ? mkostemp(local, O_CLOEXEC)
                                 : resumable ? open_partial(w, state, i)
                                 : open(i->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                int e = resumable ? -fd : errno;
                r = log_error_errno(e, "%s: cannot create %s: %s", t->id, local ? local : i->temp_path, strerror(e));
                free(i->temp_path); /* not ours: never unlink it */
                i->temp_path = NULL;
                return r;
        }
        _cleanup_free_ char *identity = resumable ? strprintf("file %s", i->temp_path) : NULL;
        if (resumable && !identity)
                return -ENOMEM;
        struct resume_key resume = { .state_path = state, .transfer = t->id, .version = m->version, .target = identity };
        struct acquire_request req = {
                .url = src->path, .expected_sha256 = src->metadata.has_sha256 ? src->metadata.sha256 : NULL,
                .fd = fd, .offset = 0, .size_max = UINT64_MAX, .sync = resumable && w->sync,
                .what = i->final_path, .progress = w->progress, .on_bytes = w->on_bytes, .userdata = w->userdata,
                .resume = resumable ? &resume : NULL, .own_file = resumable,
        };
        r = acquire_run(&req, NULL);
        if (r == -EBADMSG)
                i->temp_kept = false; /* not worth resuming: its state is gone too */
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
        if (local)
                return put_file(target->fs, local, i);
        if (w->sync && fsync(fd) < 0)
                return log_error_errno(errno, "%s: cannot sync: %s", i->temp_path, strerror(errno));
        return 0;
}

static bool name_is_valid(const char *name) {
        return !path_is_absolute(name) && path_is_normalized(name) && !strstr(name, "..");
}

/* After path (below dir) was removed: the directories a pattern's directory part created for
 * it (uki_1.efi.extra.d/), removed from the bottom up while empty, never dir itself; then the
 * directory that changed is synced. */
static int remove_empty_parents(const struct fs_access *fs, const char *dir, const char *path, bool sync) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        size_t n = strlen(dir);
        for (;;) {
                char *slash = strrchr(p, '/');
                if (!slash || slash == p)
                        break;
                *slash = 0;
                /* stop at dir: only what lies strictly below it */
                if (strlen(p) <= n || strncmp(p, dir, n) != 0 || p[n] != '/')
                        break;
                if (fs) {
                        int r = fs_remove_dir(fs, p);
                        if (r == -ENOTEMPTY)
                                break;
                        if (r < 0)
                                return r;
                        continue;
                }
                if (rmdir(p) < 0) {
                        if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT)
                                break;
                        return log_error_errno(errno, "%s: cannot remove empty directory: %s", p, strerror(errno));
                }
        }
        if (fs)
                return sync ? fs_sync(fs) : 0;
        /* p is now the deepest directory that remains: the entry that changed is in it */
        if (!sync)
                return 0;
        _cleanup_free_ char *child = path_join(p, "x");
        return child ? commit_sync_directory_of(child) : -ENOMEM;
}

static int remove_instance(const struct transfer *t, struct resource *target, const struct instance *i, bool sync) {
        (void) t;
        int r = target->fs ? fs_remove(target->fs, i->path) : commit_unlink(i->path, sync);
        if (r < 0)
                return r;
        return remove_empty_parents(target->fs, target->path, i->path, sync);
}

/* A file, a directory tree, or a btrfs subvolume (read-only or not) with everything in it. */
static int remove_any(const char *path) {
        return btrfs_is_subvolume(path) ? btrfs_subvolume_remove(path) : rm_rf(path);
}

/* RemoveTemporary=: leftovers of interrupted runs (".#sysupdate...") in the target directory, but
 * keep (the partial file a resume state names). */
static void remove_temporary(const struct resource *target, const char *keep) {
        if (target->fs) {
                _cleanup_strv_free_ char **names = NULL;
                if (fs_list(target->fs, target->path, &names) < 0)
                        return;
                for (char **n = names; *n; n++) {
                        _cleanup_free_ char *p = path_join(target->path, *n);
                        if (startswith(*n, ".#") && !endswith(*n, "/") && p && !streq_ptr(p, keep) &&
                            fs_remove(target->fs, p) >= 0)
                                log_info("%s: %s: removed temporary file", target->fs->what, p);
                }
                return;
        }
        DIR *d _cleanup_(closedirp) = opendir(target->path);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (startswith(de->d_name, ".#")) {
                        _cleanup_free_ char *p = path_join(target->path, de->d_name);
                        if (p && streq_ptr(p, keep))
                                continue;
                        if (!p || remove_any(p) < 0)
                                log_warning("%s/%s: cannot remove temporary file: %s", target->path,
                                            de->d_name, strerror(errno));
                        else
                                log_info("%s/%s: removed temporary file", target->path, de->d_name);
                }
}

/* Type=tar: the tar archives (possibly compressed) in a directory, sources only. */
const struct resource_kind resource_kind_tar = {
        .type = RESOURCE_TAR,
        .load = load,
};

const struct resource_kind resource_kind_regular_file = {
        .type = RESOURCE_REGULAR_FILE,
        .load = load,
        .name_what = "file name",
        .name_is_valid = name_is_valid,
        .acquire = acquire,
        .remove = remove_instance,
        .remove_temporary = remove_temporary,
};

/* Runs argv (argv[0] a program name), one logged line naming what on failure. */
static int run_tool(const char *what, const char *action, char **argv) {
        _cleanup_free_ char *exe = NULL, *output = NULL;
        int r = find_executable(argv[0], &exe);
        if (r < 0)
                return log_error_errno(-r, "%s: %s not found: %s", what, argv[0], strerror(-r));
        const char *name = argv[0];
        argv[0] = exe;
        r = spawn_capture(argv, &output);
        argv[0] = (char *) name;
        if (r == 0)
                return 0;
        _cleanup_free_ char *reason = spawn_output_reason(output ? output : "", name, NULL);
        return log_error_errno(r < 0 ? -r : EIO, "%s: cannot %s: %s", what, action,
                               reason && *reason ? reason : "failed");
}

static int copy_tree(const struct resource_write *w, const struct install *i) {
        _cleanup_free_ char *from = strprintf("%s/.", w->source->path), *to = strprintf("%s/", i->temp_path);
        if (!from || !to)
                return -ENOMEM;
        char *argv[] = { (char *) "cp", (char *) "-a", (char *) "--reflink=auto", from, to, NULL };
        return run_tool(w->transfer->id, "copy the directory", argv);
}

/* tar and url-tar: the archive is fetched (SHA-256 checked, decompressed by magic) into a
 * temporary file beside the tree, then unpacked with modes, owners, symlinks and xattrs. */
static int unpack_tar(const struct resource_write *w, const struct install *i) {
        const struct instance *src = w->source;
        _cleanup_free_ char *archive = strprintf("%s.tar", i->temp_path);
        if (!archive)
                return -ENOMEM;
        _cleanup_close_ int fd = open(archive, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot create %s: %s", w->transfer->id, archive, strerror(errno));
        struct acquire_request req = {
                .url = src->path, .expected_sha256 = src->metadata.has_sha256 ? src->metadata.sha256 : NULL,
                .fd = fd, .offset = 0, .size_max = UINT64_MAX, .sync = false,
                .what = i->final_path, .progress = w->progress,
        };
        int r = acquire_run(&req, NULL);
        if (r >= 0) {
                char *argv[] = { (char *) "tar", (char *) "-x", (char *) "--numeric-owner", (char *) "--same-permissions",
                                 (char *) "--xattrs", (char *) "--xattrs-include=*", (char *) "-f", archive,
                                 (char *) "-C", i->temp_path, NULL };
                r = run_tool(src->path, "unpack the archive", argv);
        }
        (void) unlink(archive);
        return r;
}

/* Copies the source directory's tree (modes, owners, times, symlinks, xattrs: cp -a), or unpacks
 * the source archive, into a ".#sysupdate..." temporary directory beside the final name;
 * commit_install() renames it, so nothing half-extracted is ever visible. */
static int acquire_tree(const struct resource *target, const struct resource_write *w, struct install *i) {
        const struct transfer *t = w->transfer;
        const struct instance_metadata *m = w->metadata;
        if (target->fs)
                return log_error_errno(EOPNOTSUPP, "%s: %s: directory trees cannot be written there", t->id, target->fs->what);
        int r = plan_paths(target, i);
        if (r < 0)
                return r;
        /* Type=subvolume on btrfs: a real subvolume, a snapshot when the source is a subvolume on
         * the same file system; elsewhere a directory, as systemd falls back */
        _cleanup_free_ char *parent = NULL;
        if ((r = path_dirname(i->temp_path, &parent)) < 0)
                return r;
        bool tree_source = t->source.type == RESOURCE_DIRECTORY || t->source.type == RESOURCE_SUBVOLUME;
        bool subvolume = t->target.type == RESOURCE_SUBVOLUME && btrfs_is_fs(parent);
        bool copied = subvolume && tree_source && btrfs_is_subvolume(w->source->path) &&
                      btrfs_subvolume_snapshot(w->source->path, i->temp_path) >= 0;
        r = copied ? 0 : subvolume ? btrfs_subvolume_create(i->temp_path) : mkdir(i->temp_path, 0700) < 0 ? -errno : 0;
        if (r < 0) {
                r = log_error_errno(-r, "%s: cannot create %s%s: %s", t->id, subvolume ? "subvolume " : "", i->temp_path,
                                    strerror(-r));
                free(i->temp_path); /* not ours: never remove it */
                i->temp_path = NULL;
                return r;
        }
        i->temp_is_tree = true;

        r = copied ? 0 : tree_source ? copy_tree(w, i) : unpack_tar(w, i);
        if (r < 0)
                return r;
        if (m->has_mode && chmod(i->temp_path, m->mode) < 0)
                return log_error_errno(errno, "%s: cannot set mode: %s", i->temp_path, strerror(errno));
        if (m->has_mtime) {
                struct timespec ts[2] = {
                        { .tv_sec = (time_t) (m->mtime / 1000000u), .tv_nsec = (long) (m->mtime % 1000000u) * 1000 },
                };
                ts[1] = ts[0];
                if (utimensat(AT_FDCWD, i->temp_path, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return log_error_errno(errno, "%s: cannot set mtime: %s", i->temp_path, strerror(errno));
        }
        if (subvolume && m->read_only > 0 && (r = btrfs_subvolume_set_read_only(i->temp_path, true)) < 0)
                return log_error_errno(-r, "%s: cannot make subvolume %s read-only: %s", t->id, i->temp_path, strerror(-r));
        if (w->sync)
                sync();
        return 0;
}

static int remove_tree(const struct transfer *t, struct resource *target, const struct instance *i, bool sync) {
        int r = remove_any(i->path);
        if (r < 0)
                return log_error_errno(-r, "%s: cannot remove %s: %s", t->id, i->path, strerror(-r));
        return remove_empty_parents(NULL, target->path, i->path, sync);
}

/* Trees: a subvolume is a btrfs subvolume on btrfs, else a directory (as systemd falls back). */
#define TREE_KIND(t)                                                                               \
        {                                                                                          \
                .type = (t), .load = load_dirs, .name_what = "directory name",                     \
                .name_is_valid = name_is_valid, .acquire = acquire_tree, .remove = remove_tree,    \
                .remove_temporary = remove_temporary,                                              \
        }
const struct resource_kind resource_kind_directory = TREE_KIND(RESOURCE_DIRECTORY);
const struct resource_kind resource_kind_subvolume = TREE_KIND(RESOURCE_SUBVOLUME);
