/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "context.h"
#include "partition.h"

#include "disk-lock.h"
#include "sysupdate/definitions.h"
#include "base/log.h"
#include "manifest-cache.h"
#include "resource-kinds.h"
#include "updateset.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdlib.h>

static int push(void ***l, size_t n, void *p) {
        void **a = realloc(*l, (n + 1) * sizeof(void *));
        if (!a)
                return -ENOMEM;
        a[n] = p;
        *l = a;
        return 0;
}

/* Locks the disk of a partition target before its table is read (once per disk). */
static int lock_target_disk(struct context *c, const struct transfer *t) {
        _cleanup_free_ char *disk = NULL;
        int r = resource_resolve(t, true, &c->rc, &disk);
        if (r < 0)
                return r;
        _cleanup_close_ int probe = open(disk, O_RDONLY | O_CLOEXEC);
        if (probe >= 0 && disk_lock_held(probe))
                return 0;
        int fd;
        r = disk_lock(disk, &fd);
        if (r < 0)
                return r;
        int *l = realloc(c->disk_locks, (c->n_disk_locks + 1) * sizeof(int));
        if (!l) {
                disk_unlock(fd);
                return -ENOMEM;
        }
        l[c->n_disk_locks++] = fd;
        c->disk_locks = l;
        /* A run killed between the two writes of one GPT copy left one copy: make it two again
         * before anything reads the table to decide. */
        r = partition_table_repair(disk, true);
        return r < 0 ? r : 0;
}

static int load_transfer(struct context *c, struct transfer *t, bool sources, bool lock) {
        struct resource *target = NULL, *source = NULL;
        int r = lock && t->target.type == RESOURCE_PARTITION ? lock_target_disk(c, t) : 0;
        if (r < 0)
                return r;
        r = resource_load(t, true, &c->rc, &target);
        if (r < 0)
                return r;
        if (!t->enabled) {
                r = push((void ***) &c->disabled, c->n_disabled, t);
                if (r >= 0)
                        r = push((void ***) &c->disabled_targets, c->n_disabled, target);
                if (r < 0) {
                        resource_free(target);
                        return r;
                }
                c->n_disabled++;
                return 0;
        }
        if (sources && (r = resource_load(t, false, &c->rc, &source)) < 0) {
                resource_free(target);
                return r;
        }
        r = push((void ***) &c->transfers, c->n, t);
        if (r >= 0)
                r = push((void ***) &c->targets, c->n, target);
        if (r >= 0 && sources)
                r = push((void ***) &c->sources, c->n, source);
        if (r < 0) {
                resource_free(target);
                resource_free(source);
                return r;
        }
        c->n++;
        return 0;
}

int context_load(const struct definitions_options *d, const struct resource_context *rc, bool sources,
                 bool lock, struct context **ret) {
        struct context *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->rc = *rc;
        c->lock_fd = -1;

        /* Manifests: once per run; kept across runs (for 304 answers) below the root. */
        _cleanup_free_ char *cache_dir = rc->root ? path_join(rc->root, MANIFEST_CACHE_DIR) :
                                         !rc->image ? strdup(MANIFEST_CACHE_DIR) : NULL;
        int r = (rc->root || !rc->image) && !cache_dir ? -ENOMEM : manifest_cache_new(cache_dir, &c->rc.manifest_cache);
        if (r < 0) {
                free(c);
                return r;
        }
        if (lock)
                r = context_lock(rc, &c->lock_fd);
        if (r >= 0)
                r = definitions_load(d, &c->defs);
        for (size_t i = 0; r >= 0 && i < c->defs->n_transfers; i++)
                r = load_transfer(c, c->defs->transfers[i], sources, lock);
        if (r >= 0 && c->n == 0)
                r = log_error_errno(ENOENT, "no enabled transfer definitions found");
        if (r >= 0)
                r = update_sets_discover(c->transfers, c->targets, sources ? c->sources : NULL, c->n, &c->sets);
        if (r < 0) {
                context_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void context_free(struct context *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                resource_free(c->targets[i]);
                if (c->sources)
                        resource_free(c->sources[i]);
        }
        for (size_t i = 0; i < c->n_disabled; i++)
                resource_free(c->disabled_targets[i]);
        free(c->transfers);
        free(c->targets);
        free(c->sources);
        free(c->disabled);
        free(c->disabled_targets);
        update_sets_free(c->sets);
        definitions_free(c->defs);
        for (size_t i = 0; i < c->n_disk_locks; i++)
                disk_unlock(c->disk_locks[i]);
        free(c->disk_locks);
        manifest_cache_free(c->rc.manifest_cache);
        if (c->lock_fd >= 0)
                close(c->lock_fd);
        free(c);
}

int context_booted_version(const struct context *c, const char **ret) {
        if (isempty(c->defs->os_image_version))
                return log_error_errno(ENODATA, "os-release of %s lacks IMAGE_VERSION, cannot tell the booted version",
                                       c->rc.root ? c->rc.root : "/");
        *ret = c->defs->os_image_version;
        return 0;
}

int context_lock(const struct resource_context *rc, int *ret_fd) {
        _cleanup_free_ char *dir = NULL;
        int r = rc->image ? path_dirname(rc->image, &dir) : -EINVAL;
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                dir = strdup(rc->image ? "." : rc->root ? rc->root : "/");
        if (!dir)
                return -ENOMEM;

        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open for locking: %s", dir, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = -errno; /* -EAGAIN (== EWOULDBLOCK): held, try again later */
                pid_t pid = r == -EAGAIN ? lock_holder_pid(fd) : 0;
                close(fd);
                if (pid > 0)
                        return log_error_errno(r, "%s: another update or vacuum is running on this system (PID %d), try again later",
                                               dir, (int) pid);
                return log_error_errno(r, "%s: another update or vacuum is running on this system, try again later", dir);
        }
        *ret_fd = fd;
        return 0;
}
