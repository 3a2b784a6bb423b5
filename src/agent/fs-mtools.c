/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fs-access.h through mtools: a vfat file system inside an image file ("-i IMAGE@@OFFSET"),
 * read and written without a kernel vfat driver or a mount. */
#include "fs-access.h"

#include "base/log.h"
#include "base/spawn.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs "TOOL -i IMAGE@@OFFSET ARGS..." through env(1) (non-interactive, output in English);
 * returns the tool's exit status (0..255) or -errno, its output in *ret_output. */
static int run(const struct fs_access *fs, const char *tool, const char *const *args, char **ret_output) {
        _cleanup_free_ char *env = NULL, *image = strprintf("%s@@%" PRIu64, fs->image, fs->offset);
        if (!image)
                return -ENOMEM;
        int r = find_executable("env", &env);
        if (r < 0)
                return log_error_errno(-r, "%s: env(1) not found", fs->what);
        const char *argv[16] = { env, "MTOOLS_SKIP_CHECK=1", "LC_ALL=C", tool, "-i", image };
        size_t n = 6;
        for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        r = spawn_capture((char *const *) argv, ret_output);
        if (r == 127)
                return log_error_errno(ENOENT, "%s: %s (mtools) cannot be run", fs->what, tool);
        return r;
}

static char *mpath(const char *path) {
        return strprintf("::%s%s", path[0] == '/' ? "" : "/", path);
}

/* Runs tool on path and logs its reason on failure. */
static int run_logged(const struct fs_access *fs, const char *tool, const char *action, const char *const *args,
                      const char *path) {
        _cleanup_free_ char *output = NULL;
        int r = run(fs, tool, args, &output);
        if (r == 0 || r < 0)
                return r;
        _cleanup_free_ char *reason = spawn_output_reason(output ? output : "", tool, NULL);
        return log_error_errno(EIO, "%s: cannot %s %s: %s", fs->what, action, path, !isempty(reason) ? reason : "failed");
}

static bool not_found(const char *output) {
        return output && strstr(output, "not found");
}

int fs_list(const struct fs_access *fs, const char *dir, char ***ret) {
        _cleanup_free_ char *m = mpath(dir), *output = NULL;
        if (!m)
                return -ENOMEM;
        const char *args[] = { "-b", "-a", m, NULL };
        int r = run(fs, "mdir", args, &output);
        if (r > 0 && not_found(output))
                return -ENOENT;
        if (r > 0 && output && strstr(output, "Cannot initialize"))
                return log_error_errno(EMEDIUMTYPE, "%s: cannot read directory %s: no FAT file system there", fs->what, dir);
        if (r > 0) {
                _cleanup_free_ char *reason = spawn_output_reason(output ? output : "", "mdir", NULL);
                return log_error_errno(EIO, "%s: cannot read directory %s: %s", fs->what, dir, reason ? reason : "failed");
        }
        if (r < 0)
                return r;
        /* one "::/DIR/NAME" line per entry, "::/DIR/NAME/" for directories */
        _cleanup_free_ char *prefix = strprintf("%s%s", m, endswith(m, "/") ? "" : "/");
        _cleanup_strv_free_ char **l = NULL;
        if (!prefix)
                return -ENOMEM;
        char *save = NULL;
        for (char *line = strtok_r(output, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *name = startswith(line, prefix);
                if (!name || !*name || strchr(name, '/') != strrchr(name, '/') ||
                    (strchr(name, '/') && !endswith(name, "/")))
                        continue;
                if ((r = strv_extend(&l, name)) < 0)
                        return r;
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int fs_make_dirs(const struct fs_access *fs, const char *dir) {
        _cleanup_free_ char *p = strdup(dir);
        if (!p)
                return -ENOMEM;
        /* each level that is missing, from the top */
        for (char *s = p + 1;; s++) {
                bool last = !(s = strchr(s, '/'));
                if (!last)
                        *s = 0;
                _cleanup_strv_free_ char **l = NULL;
                _cleanup_free_ char *parent = NULL;
                int r = path_dirname(p, &parent);
                if (r < 0)
                        return r;
                r = fs_list(fs, parent, &l);
                if (r < 0)
                        return r == -ENOENT ? log_error_errno(ENOENT, "%s: %s vanished", fs->what, parent) : r;
                _cleanup_free_ char *entry = strprintf("%s/", path_basename(p));
                if (!entry)
                        return -ENOMEM;
                if (!strv_contains(l, entry)) {
                        _cleanup_free_ char *m = mpath(p);
                        const char *args[] = { m, NULL };
                        if (!m)
                                return -ENOMEM;
                        r = run_logged(fs, "mmd", "create directory", args, p);
                        if (r < 0)
                                return r;
                }
                if (last)
                        return 0;
                *s = '/';
        }
}

int fs_put(const struct fs_access *fs, const char *local, const char *path) {
        _cleanup_free_ char *m = mpath(path);
        if (!m)
                return -ENOMEM;
        const char *args[] = { "-m", "-D", "o", local, m, NULL };
        return run_logged(fs, "mcopy", "write", args, path);
}

int fs_rename(const struct fs_access *fs, const char *from, const char *to) {
        _cleanup_free_ char *a = mpath(from), *b = mpath(to);
        if (!a || !b)
                return -ENOMEM;
        const char *args[] = { "-D", "o", a, b, NULL };
        return run_logged(fs, "mmove", "rename", args, from);
}

int fs_remove(const struct fs_access *fs, const char *path) {
        _cleanup_free_ char *m = mpath(path), *output = NULL;
        if (!m)
                return -ENOMEM;
        const char *args[] = { m, NULL };
        int r = run(fs, "mdel", args, &output);
        if (r <= 0 || not_found(output))
                return r < 0 ? r : 0;
        _cleanup_free_ char *reason = spawn_output_reason(output ? output : "", "mdel", NULL);
        return log_error_errno(EIO, "%s: cannot remove %s: %s", fs->what, path, reason ? reason : "failed");
}

int fs_remove_dir(const struct fs_access *fs, const char *path) {
        _cleanup_strv_free_ char **l = NULL;
        int r = fs_list(fs, path, &l);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (l[0])
                return -ENOTEMPTY;
        _cleanup_free_ char *m = mpath(path);
        const char *args[] = { m, NULL };
        return m ? run_logged(fs, "mrd", "remove directory", args, path) : -ENOMEM;
}

int fs_sync(const struct fs_access *fs) {
        /* mtools writes to the image file and exits: what it wrote is in the page cache */
        _cleanup_close_ int fd = open(fs->image, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return log_error_errno(errno, "%s: cannot sync: %s", fs->image, strerror(errno));
        return 0;
}

/* The number in "...   12 345 678 bytes..." on the first line containing needle. */
static int parse_bytes(const char *output, const char *needle, uint64_t *ret) {
        for (const char *line = output; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                const char *end = strchr(line, '\n'), *b = strstr(line, needle);
                if (!b || (end && b > end))
                        continue;
                uint64_t v = 0;
                bool any = false;
                /* the digits (grouped with spaces) right before " bytes" */
                const char *p = b;
                while (p > line && (p[-1] == ' ' || (p[-1] >= '0' && p[-1] <= '9')))
                        p--;
                for (; p < b; p++)
                        if (*p >= '0' && *p <= '9') {
                                v = v * 10 + (uint64_t) (*p - '0');
                                any = true;
                        }
                if (any) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

int fs_free_bytes(const struct fs_access *fs, uint64_t *ret) {
        _cleanup_free_ char *output = NULL;
        const char *args[] = { "::/", NULL };
        int r = run(fs, "mdir", args, &output);
        if (r > 0 || (r == 0 && parse_bytes(output, " bytes free", ret) < 0))
                return log_error_errno(EIO, "%s: cannot tell the free space", fs->what);
        return r;
}

int fs_file_size(const struct fs_access *fs, const char *path, uint64_t *ret) {
        _cleanup_free_ char *m = mpath(path), *output = NULL;
        if (!m)
                return -ENOMEM;
        const char *args[] = { "-a", m, NULL };
        int r = run(fs, "mdir", args, &output);
        if (r > 0 && not_found(output))
                return -ENOENT;
        if (r > 0 || (r == 0 && parse_bytes(output, " bytes\n", ret) < 0))
                return log_error_errno(EIO, "%s: cannot tell the size of %s", fs->what, path);
        return r;
}

int fs_access_new_mtools(const char *image, uint64_t offset, const char *what, struct fs_access **ret) {
        struct fs_access *fs = calloc(1, sizeof(*fs));
        if (!fs)
                return -ENOMEM;
        fs->image = strdup(image);
        fs->what = strdup(what);
        fs->offset = offset;
        if (!fs->image || !fs->what) {
                fs_access_free(fs);
                return -ENOMEM;
        }
        *ret = fs;
        return 0;
}

void fs_access_free(struct fs_access *fs) {
        if (!fs)
                return;
        free(fs->image);
        free(fs->what);
        free(fs);
}
