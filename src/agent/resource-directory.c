/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Directories of regular files as sources and targets (spec sysupdate.md 5.2, 3.5). */
#include "resource-directory.h"

#include "acquire.h"
#include "commit.h"
#include "resource.h"
#include "base/log.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#define DESCEND_MAX 8u

static int scan(struct resource *r, const struct resource_config *c, const char *rel, unsigned depth) {
        _cleanup_free_ char *dir = rel ? path_join(r->path, rel) : strdup(r->path);
        if (!dir)
                return -ENOMEM;
        DIR *d _cleanup_(closedirp) = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0; /* a missing directory simply has no instances */
                return log_error_errno(errno, "%s: cannot read directory: %s", dir, strerror(errno));
        }

        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
                        continue;
                if (startswith(de->d_name, ".#"))
                        continue; /* our own temporary files */
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* vanished meanwhile */
                _cleanup_free_ char *name = rel ? path_join(rel, de->d_name) : strdup(de->d_name);
                if (!name)
                        return -ENOMEM;

                struct instance_metadata m;
                instance_metadata_init(&m);
                int k = pattern_match_many(c->patterns, c->n_patterns, name, &m);
                if (k < 0) {
                        instance_metadata_done(&m);
                        return k;
                }
                if (k == PATTERN_RETRY && S_ISDIR(st.st_mode) && depth < DESCEND_MAX) {
                        instance_metadata_done(&m);
                        k = scan(r, c, name, depth + 1);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (k != PATTERN_YES || !S_ISREG(st.st_mode)) {
                        instance_metadata_done(&m);
                        continue;
                }
                if (!m.has_mtime) {
                        m.has_mtime = true;
                        m.mtime = (uint64_t) st.st_mtim.tv_sec * 1000000u + (uint64_t) st.st_mtim.tv_nsec / 1000u;
                }
                if (!m.has_mode) {
                        m.has_mode = true;
                        m.mode = st.st_mode & 0775;
                }
                _cleanup_free_ char *path = path_join(r->path, name);
                k = path ? resource_add_instance(r, name, path, &m) : -ENOMEM;
                instance_metadata_done(&m);
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
        return scan(r, c, NULL, 0);
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

/* Writes the source into a ".#sysupdate..." temporary file beside the final name, with its mode
 * and mtime; commit_install() renames it. */
static int acquire(const struct resource *target, const struct resource_write *w, struct install *i) {
        const struct transfer *t = w->transfer;
        const struct instance *src = w->source;
        const struct instance_metadata *m = w->metadata;
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
                .what = i->final_path, .progress = w->progress, .on_bytes = w->on_bytes, .userdata = w->userdata,
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
        if (w->sync && fsync(fd) < 0)
                return log_error_errno(errno, "%s: cannot sync: %s", i->temp_path, strerror(errno));
        return 0;
}

static bool name_is_valid(const char *name) {
        return !path_is_absolute(name) && path_is_normalized(name) && !strstr(name, "..");
}

static int remove_instance(const struct transfer *t, struct resource *target, const struct instance *i, bool sync) {
        (void) target;
        (void) t;
        return commit_unlink(i->path, sync);
}

/* RemoveTemporary=: leftovers of interrupted runs (".#sysupdate...") in the target directory. */
static void remove_temporary(const struct resource *target) {
        DIR *d _cleanup_(closedirp) = opendir(target->path);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (startswith(de->d_name, ".#")) {
                        if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                                log_warning("%s/%s: cannot remove temporary file: %s", target->path,
                                            de->d_name, strerror(errno));
                        else
                                log_info("%s/%s: removed temporary file", target->path, de->d_name);
                }
}

const struct resource_kind resource_kind_regular_file = {
        .type = RESOURCE_REGULAR_FILE,
        .load = load,
        .name_what = "file name",
        .name_is_valid = name_is_valid,
        .acquire = acquire,
        .remove = remove_instance,
        .remove_temporary = remove_temporary,
};
