/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "commit.h"

#include "base/log.h"
#include "fs-access.h"
#include "sysupdate/transfer.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int commit_sync_directory_of(const char *path) {
        _cleanup_free_ char *dir = NULL;
        int r = path_dirname(path, &dir);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return log_error_errno(errno, "%s: cannot sync directory: %s", dir, strerror(errno));
        return 0;
}

int commit_rename(const char *src, const char *dst, bool sync) {
        if (rename(src, dst) < 0)
                return log_error_errno(errno, "%s: cannot rename to %s: %s", src, dst, strerror(errno));
        if (!sync)
                return 0;
        /* vfat (the ESP) writes the size and first cluster into the new directory entry only
         * when the file's inode is written back, which syncing the directory does not do: a cut
         * after that sync left an empty boot entry under the new name. Sync the file under its
         * new name first, then the directory. */
        _cleanup_close_ int fd = open(dst, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return log_error_errno(errno, "%s: cannot sync: %s", dst, strerror(errno));
        return commit_sync_directory_of(dst);
}

int commit_unlink(const char *path, bool sync) {
        if (!sync) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return log_error_errno(errno, "%s: cannot remove: %s", path, strerror(errno));
                return 0;
        }
        /* On vfat a cut during unlink() can keep the directory entry while its clusters are
         * already free: a boot entry whose content is gone. Take the name away first (a rename to
         * a temporary name that no pattern matches and RemoveTemporary= cleans up), make that
         * durable, then free the data. */
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        int r = path_dirname(path, &dir);
        if (r < 0)
                return r;
        tmp = strprintf("%s/.#sysupdate-removing-%s", dir, path_basename(path));
        if (!tmp)
                return -ENOMEM;
        if (rename(path, tmp) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "%s: cannot remove: %s", path, strerror(errno));
        }
        r = commit_sync_directory_of(path);
        if (r < 0)
                return r;
        if (unlink(tmp) < 0)
                return log_error_errno(errno, "%s: cannot remove: %s", tmp, strerror(errno));
        return commit_sync_directory_of(path);
}

int commit_install(struct install *i, bool sync) {
        int r;
        if (i->slot)
                r = partition_commit(i->disk, i->slot, &i->change, sync);
        else if (i->fs) {
                r = fs_rename(i->fs, i->temp_path, i->final_path);
                if (r >= 0 && sync)
                        r = fs_sync(i->fs);
        }
        else
                r = commit_rename(i->temp_path, i->final_path, sync);
        if (r < 0)
                return r;
        i->committed = true;
        if (i->slot)
                log_info("%s: wrote partition %zu of %s, labelled %s", i->transfer->id, i->slot->partno + 1, i->disk,
                         i->name);
        else
                log_info("%s: installed %s", i->transfer->id, i->final_path);
        return 0;
}

void install_done(struct install *i) {
        if (i->temp_path && !i->committed && !i->temp_kept)
                (void) (i->fs ? fs_remove(i->fs, i->temp_path) : i->temp_is_tree ? rm_rf(i->temp_path) : unlink(i->temp_path));
        free(i->name);
        free(i->disk);
        free(i->temp_path);
        free(i->final_path);
        if (i->claim_fd >= 0)
                close(i->claim_fd);
        *i = (struct install) { .claim_fd = -1 };
}

/* The path of to relative to the directory from (both absolute and normalized). */
static char *relative_path(const char *from, const char *to) {
        /* the longest common prefix of whole components */
        size_t common = 0;
        for (size_t i = 0;; i++) {
                bool end_f = from[i] == 0 || from[i] == '/', end_t = to[i] == 0 || to[i] == '/';
                if (end_f && end_t)
                        common = i;
                if (from[i] != to[i] || from[i] == 0)
                        break;
        }
        if (streq(from, "/"))
                common = 0;
        size_t ups = 0;
        for (const char *p = from + common; *p; p++)
                if (*p == '/' && p[1])
                        ups++;
        const char *rest = to + common + (to[common] == '/');
        size_t n = ups * 3 + strlen(rest) + 2;
        char *r = malloc(n);
        if (!r)
                return NULL;
        r[0] = 0;
        for (size_t i = 0; i < ups; i++)
                strcat(r, "../");
        strcat(r, rest);
        if (!*r)
                strcpy(r, ".");
        else if (r[strlen(r) - 1] == '/')
                r[strlen(r) - 1] = 0;
        return r;
}

int commit_current_symlink(const char *link, const char *target, bool sync) {
        _cleanup_free_ char *dir = NULL;
        int r = path_dirname(link, &dir);
        if (r < 0)
                return log_error_errno(-r, "CurrentSymlink=%s: not an absolute path", link);
        _cleanup_free_ char *rel = relative_path(dir, target);
        _cleanup_free_ char *tmp = strprintf("%s/.#%s.new", dir, path_basename(link));
        if (!rel || !tmp)
                return -ENOMEM;
        r = mkdir_all(dir, 0755);
        if (r < 0)
                return log_error_errno(-r, "%s: cannot create directory: %s", dir, strerror(-r));
        (void) unlink(tmp);
        if (symlink(rel, tmp) < 0)
                return log_error_errno(errno, "%s: cannot create symlink: %s", tmp, strerror(errno));
        r = commit_rename(tmp, link, sync);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        log_info("%s -> %s", link, rel);
        return 0;
}
