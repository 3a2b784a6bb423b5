/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "publish-temp.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void temp_files_cleanup(struct temp_files *t) {
        for (char **n = t->names; n && *n; n++)
                (void) unlinkat(t->dir_fd, *n, 0);
        strv_free(t->names);
        t->names = NULL;
}

/* Creates DIR/.#NAME.XXXXXX (mode 0644, readable by the web server); returns fd and name. */
int temp_file_create(struct temp_files *t, const char *dir, const char *name, char **ret_name) {
        _cleanup_free_ char *path = strprintf("%s/" TEMP_PREFIX "%s.XXXXXX", dir, name);
        if (!path)
                return -ENOMEM;
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                return log_error_errno(r, "%s: cannot create a temporary file: %s", dir, strerror(-r));
        }
        char *base = strdup(path_basename(path));
        if (!base || strv_extend(&t->names, base) < 0) {
                (void) unlink(path);
                close(fd);
                free(base);
                return -ENOMEM;
        }
        if (fchmod(fd, 0644) < 0) {
                int r = -errno;
                close(fd);
                free(base);
                return log_error_errno(r, "%s: cannot set mode: %s", path, strerror(-r));
        }
        *ret_name = base;
        return fd;
}

int rename_into_place(struct temp_files *t, const char *dir, const char *temp, const char *name) {
        if (renameat(t->dir_fd, temp, t->dir_fd, name) < 0) {
                int r = -errno;
                return log_error_errno(r, "%s/%s: cannot rename to %s: %s", dir, temp, name, strerror(-r));
        }
        strv_remove(t->names, temp);
        return 0;
}
