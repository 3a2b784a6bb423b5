/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What planning (repart.c) and writing (repart-write.c) both need of a run's context. */
#include "repart-plan.h"

#include "repart-uuid.h"

#include "base/log.h"
#include "base/parttype.h"
#include "base/specifier.h"
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

char *repart_type_name(const uint8_t type[16]) {
        const char *n = partition_type_to_string(type);
        if (n)
                return strdup(n);
        char s[37];
        uuid_format(type, s);
        return strdup(s);
}

int repart_split_path(const struct context *c, const struct part *p, unsigned partno, char **ret) {
        const struct repart_definition *d = p->def;
        *ret = NULL;
        if (!c->o->split || !d || streq_ptr(d->split_name, "-"))
                return 0;
        _cleanup_free_ char *tn = repart_type_name(p->entry.type);
        char th[33], uh[33];
        hex_format(p->entry.type, 16, th);
        hex_format(p->entry.uuid, 16, uh);
        _cleanup_free_ char *et = strprintf("t%s", tn ? tn : ""), *eT = strprintf("T%s", th),
                            *eU = strprintf("U%s", uh), *en = strprintf("n%u", partno);
        if (!tn || !et || !eT || !eU || !en)
                return -ENOMEM;
        char *extra[] = { et, eT, eU, en, NULL };
        _cleanup_free_ char *name = NULL;
        int r = specifier_expand(c->spec, d->split_name ? d->split_name : "%t", extra, &name);
        if (r == -EBADMSG)
                return log_error_errno(EINVAL, "%s: SplitName=%s: unknown specifier", d->path, d->split_name);
        if (r < 0)
                return r;
        if (!filename_is_valid(name))
                return log_error_errno(EINVAL, "%s: SplitName= gives '%s', not a valid file name", d->path, name);
        const char *img = c->disk.path;
        const char *suffix = endswith(img, ".raw");
        size_t base = suffix ? (size_t) (suffix - img) : strlen(img);
        *ret = strprintf("%.*s.%s%s", (int) base, img, name, suffix ? ".raw" : "");
        return *ret ? 0 : -ENOMEM;
}
