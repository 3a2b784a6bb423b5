/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Directories of regular files as sources and targets (spec sysupdate.md 5.2, 3.5). */
#include "resource-directory.h"

#include "resource.h"
#include "base/log.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

const struct resource_kind resource_kind_regular_file = {
        .type = RESOURCE_REGULAR_FILE,
        .load = load,
};
