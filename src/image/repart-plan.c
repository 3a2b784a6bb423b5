/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What planning (repart.c) and writing (repart-write.c) both need of a run's context. */
#include "repart-plan.h"

#include "repart-uuid.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int repart_ensure_workdir(struct context *c) {
        if (c->workdir)
                return 0;
        _cleanup_free_ char *dir = NULL;
        const char *tmp = getenv("TMPDIR");
        if (c->disk.is_block)
                dir = strdup(!isempty(tmp) ? tmp : "/var/tmp");
        else if (!strchr(c->o->image, '/'))
                dir = strdup(".");
        else
                dir = strndup(c->o->image, (size_t) (strrchr(c->o->image, '/') - c->o->image));
        if (!dir)
                return -ENOMEM;
        char *t = strprintf("%s/.abota-repart-XXXXXX", isempty(dir) ? "/" : dir);
        if (!t)
                return -ENOMEM;
        if (!mkdtemp(t)) {
                int r = -errno;
                free(t);
                return log_error_errno(r, "%s: cannot create a scratch directory: %s", dir, strerror(-r));
        }
        /* Absolute, because tools are run from other directories. */
        c->workdir = realpath(t, NULL);
        if (!c->workdir) {
                int r = -errno;
                (void) rmdir(t);
                free(t);
                return r;
        }
        free(t);
        return 0;
}

int repart_fs_request(struct context *c, struct part *p, uint64_t size, struct repart_format_request *ret) {
        *ret = (struct repart_format_request) {
                .what = p->def->file_name,
                .format = p->def->format,
                .label = p->label,
                .copy_files = p->def->copy_files,
                .n_copy_files = p->def->n_copy_files,
                .make_directories = p->def->make_directories,
                .size = size,
                .workdir = c->workdir,
        };
        return repart_uuid_filesystem(p->entry.uuid, ret->fs_uuid);
}

uint64_t repart_grain(const struct context *c) {
        return c->disk.sector_size > REPART_GRAIN ? c->disk.sector_size : REPART_GRAIN;
}
