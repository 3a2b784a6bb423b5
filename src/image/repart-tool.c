/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-tool.h"

#include "base/log.h"
#include "base/spawn.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* SOURCE_DATE_EPOCH, when set and valid. */
bool repart_source_date_epoch(uint64_t *ret) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        return e && parse_uint64(e, 10, ret) >= 0;
}

/* Runs argv (through env(1), which adds the variables that make the tools reproducible and
 * non-interactive); on failure logs the telling line of the tool's output. */
int repart_run_tool(const char *what, char *const *argv, bool quiet) {
        _cleanup_free_ char *env = NULL, *fake = NULL, *output = NULL;
        _cleanup_free_ char **full = calloc(strv_length(argv) + 5, sizeof(char *));
        size_t n = 0;
        uint64_t t;
        int r;

        if (!full)
                return -ENOMEM;
        r = find_executable("env", &env);
        if (r < 0)
                return log_error_errno(r, "%s: env(1) not found", what);
        full[n++] = env;
        full[n++] = "TZ=UTC";
        full[n++] = "MTOOLS_SKIP_CHECK=1";
        if (repart_source_date_epoch(&t)) {
                fake = strprintf("E2FSPROGS_FAKE_TIME=%" PRIu64, t);
                if (!fake)
                        return -ENOMEM;
                full[n++] = fake;
        }
        for (size_t i = 0; argv[i]; i++)
                full[n++] = argv[i];
        full[n] = NULL;
        r = spawn_capture(full, &output);
        if (r == 0)
                return 0;
        if (r < 0)
                return log_error_errno(r, "%s: cannot run %s: %s", what, argv[0], strerror(-r));
        if (quiet)
                return -EIO;
        _cleanup_free_ char *reason = spawn_output_reason(output ? output : "", argv[0], NULL);
        return log_error_errno(EIO, "%s: %s failed (status %d)%s%s", what, argv[0], r,
                               !isempty(reason) ? ": " : "", reason ? reason : "");
}

/* Calls fn for every entry below path and then for path itself (children first, so that
 * changing a file's times does not disturb its directory's afterwards). Symlinks are not
 * followed. */
int repart_walk_tree(const char *path, int (*fn)(const char *p, const struct stat *st, void *userdata),
                     void *userdata) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode)) {
                DIR *d = opendir(path);
                if (!d)
                        return -errno;
                int r = 0;
                struct dirent *de;
                while (r >= 0 && (de = readdir(d))) {
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        _cleanup_free_ char *c = path_join(path, de->d_name);
                        r = c ? repart_walk_tree(c, fn, userdata) : -ENOMEM;
                }
                closedir(d);
                if (r < 0)
                        return r;
        }
        return fn(path, &st, userdata);
}

int repart_create_sized(const char *what, const char *output, uint64_t size) {
        _cleanup_close_ int fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t) size) < 0)
                return log_error_errno(errno, "%s: cannot create %s: %s", what, output, strerror(errno));
        return 0;
}
