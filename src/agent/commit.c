/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "commit.h"

#include "base/log.h"
#include "sysupdate/transfer.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

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
        return sync ? commit_sync_directory_of(dst) : 0;
}

int commit_install(struct install *i, bool sync) {
        int r;
        if (i->slot)
                r = partition_commit(i->disk, i->slot, &i->change, sync);
        else
                r = commit_rename(i->temp_path, i->final_path, sync);
        if (r < 0)
                return r;
        i->committed = true;
        log_info("%s: installed %s", i->transfer->id, i->slot ? i->name : i->final_path);
        return 0;
}

void install_done(struct install *i) {
        if (i->temp_path && !i->committed)
                (void) unlink(i->temp_path);
        free(i->name);
        free(i->disk);
        free(i->temp_path);
        free(i->final_path);
        if (i->claim_fd >= 0)
                close(i->claim_fd);
        *i = (struct install) { .claim_fd = -1 };
}
