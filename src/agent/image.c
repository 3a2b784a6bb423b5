/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image.h"

#include "fs-access.h"
#include "partition.h"
#include "base/log.h"
#include "base/parttype.h"
#include "base/spawn.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Mounts made from now on are this process's own: they vanish with it, and the host's mount
 * table never shows them. */
static int private_mounts(void) {
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        return 0;
}

/* Mounts partition p of the image read-only at dir (through a loop device that goes away with the
 * mount). Quietly -EIO when it holds no file system the kernel reads. */
static int mount_partition(const char *image, const struct partition_info *p, const char *dir) {
        _cleanup_free_ char *exe = NULL, *output = NULL;
        _cleanup_free_ char *opts = strprintf("ro,nodev,nosuid,noexec,loop,offset=%" PRIu64 ",sizelimit=%" PRIu64,
                                              p->start, p->size);
        if (!opts)
                return -ENOMEM;
        int r = find_executable("mount", &exe);
        if (r < 0)
                return r;
        char *argv[] = { exe, (char *) "-o", opts, (char *) image, (char *) dir, NULL };
        r = spawn_capture(argv, &output);
        if (r != 0)
                log_debug("%s: partition %zu (%s) not mounted: %s", image, p->partno + 1, p->label,
                          output ? output : "");
        return r < 0 ? r : r > 0 ? -EIO : 0;
}

static bool has_os_release(const char *root) {
        static const char *const paths[] = { "etc/os-release", "usr/lib/os-release" };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                _cleanup_free_ char *p = path_join(root, paths[i]);
                struct stat st;
                if (p && lstat(p, &st) == 0)
                        return true;
        }
        return false;
}

enum candidate { NOT_ROOT, ROOT_TYPE, USR_TYPE, GENERIC_TYPE };

static enum candidate classify(const struct partition_info *p) {
        const char *type = partition_type_to_string(p->type);
        if (!type || streq(p->label, PARTITION_LABEL_EMPTY) || strstr(type, "-verity"))
                return NOT_ROOT;
        if (startswith(type, "root"))
                return ROOT_TYPE;
        if (startswith(type, "usr"))
                return USR_TYPE;
        return streq(type, "linux-generic") ? GENERIC_TYPE : NOT_ROOT;
}

/* Mounts each candidate of the preferred kind in turn (a usr partition below usr/) and keeps
 * the newest by label that carries an os-release. */
static int find_root(struct image *img, const struct partition_table *t) {
        const struct partition_info *best = NULL;
        enum candidate best_kind = NOT_ROOT;
        for (int pass = ROOT_TYPE; pass <= GENERIC_TYPE && !best; pass++)
                for (size_t i = 0; i < t->n_partitions; i++) {
                        const struct partition_info *p = &t->partitions[i];
                        if ((int) classify(p) != pass || (best && version_compare(p->label, best->label) <= 0))
                                continue;
                        _cleanup_free_ char *top = path_join(img->tmpdir, "probe");
                        _cleanup_free_ char *usr = top && pass == USR_TYPE ? path_join(top, "usr") : NULL;
                        const char *where = pass == USR_TYPE ? usr : top;
                        if (!where)
                                return -ENOMEM;
                        int r = mkdir_all(where, 0755);
                        if (r >= 0)
                                r = mount_partition(img->path, p, where);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                continue;
                        bool found = has_os_release(top);
                        (void) umount2(where, MNT_DETACH);
                        if (found) {
                                best = p;
                                best_kind = (enum candidate) pass;
                        }
                }
        if (!best)
                return 0;
        img->root = path_join(img->tmpdir, "root");
        _cleanup_free_ char *at = img->root && best_kind == USR_TYPE ? path_join(img->root, "usr") : NULL;
        if (!img->root || (best_kind == USR_TYPE && !at))
                return -ENOMEM;
        int r = mkdir_all(at ? at : img->root, 0755);
        if (r >= 0)
                r = mount_partition(img->path, best, at ? at : img->root);
        if (r < 0)
                return log_error_errno(-r, "%s: cannot mount partition %zu (%s) read-only: %s", img->path,
                                       best->partno + 1, best->label, strerror(-r));
        img->root_label = strdup(best->label);
        log_debug("%s: root file system on partition %zu (%s)", img->path, best->partno + 1, best->label);
        return img->root_label ? 0 : -ENOMEM;
}

static int boot_access(struct image *img, const struct partition_table *t, const char *type, const char *name,
                       struct fs_access **ret) {
        uint8_t id[16];
        int r = partition_type_from_string(type, id);
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_partitions; i++)
                if (memcmp(t->partitions[i].type, id, 16) == 0) {
                        _cleanup_free_ char *what = strprintf("%s of %s", name, img->path);
                        return what ? fs_access_new_mtools(img->path, t->partitions[i].start, what, ret) : -ENOMEM;
                }
        return 0;
}

int image_open(const char *path, bool need_root, struct image **ret) {
        struct image *img = calloc(1, sizeof(*img));
        if (!img || !(img->path = strdup(path))) {
                free(img);
                return -ENOMEM;
        }
        struct partition_table *t = NULL;
        struct stat st;
        int r = stat(path, &st) < 0 ? log_error_errno(errno, "--image=%s: %s", path, strerror(errno)) : 0;
        if (r >= 0)
                r = partition_table_read(path, &t);
        if (r >= 0)
                r = boot_access(img, t, "esp", "ESP", &img->esp);
        if (r >= 0)
                r = boot_access(img, t, "xbootldr", "XBOOTLDR", &img->xbootldr);
        if (r >= 0) {
                img->tmpdir = strdup("/tmp/abota-image-XXXXXX");
                if (!img->tmpdir)
                        r = -ENOMEM;
                else if (!mkdtemp(img->tmpdir)) {
                        r = log_error_errno(errno, "cannot create a directory to mount %s on: %s", path, strerror(errno));
                        free(img->tmpdir);
                        img->tmpdir = NULL;
                }
        }
        if (r >= 0 && (r = private_mounts()) < 0)
                r = log_error_errno(-r, "%s: cannot mount its root file system privately: %s", path, strerror(-r));
        if (r >= 0)
                r = find_root(img, t);
        if (r >= 0 && !img->root && need_root)
                r = log_error_errno(ENOENT, "%s: no root file system with an os-release found (a partition of a root, usr or "
                                    "generic Linux type, not `_empty`); pass --definitions=DIR", path);
        partition_table_free(t);
        if (r < 0) {
                image_close(img);
                return r;
        }
        *ret = img;
        return 0;
}

void image_close(struct image *img) {
        if (!img)
                return;
        if (img->root) {
                _cleanup_free_ char *usr = path_join(img->root, "usr");
                if (usr)
                        (void) umount2(usr, MNT_DETACH);
                (void) umount2(img->root, MNT_DETACH);
        }
        /* only empty directories: rmdir() never reaches into a mount that stayed */
        static const char *const dirs[] = { "root/usr", "root", "probe/usr", "probe", "" };
        for (size_t k = 0; img->tmpdir && k < ELEMENTSOF(dirs); k++) {
                _cleanup_free_ char *d = path_join(img->tmpdir, dirs[k]);
                if (d)
                        (void) rmdir(d);
        }
        fs_access_free(img->esp);
        fs_access_free(img->xbootldr);
        free(img->path);
        free(img->root);
        free(img->root_label);
        free(img->tmpdir);
        free(img);
}
