/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "btrfs.h"

#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The first inode number of every subvolume (BTRFS_FIRST_FREE_OBJECTID). */
#define SUBVOLUME_TOP_INODE 256

bool btrfs_is_fs(const char *dir) {
        struct statfs sf;
        return statfs(dir, &sf) == 0 && sf.f_type == BTRFS_SUPER_MAGIC;
}

bool btrfs_is_subvolume(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == SUBVOLUME_TOP_INODE && btrfs_is_fs(path);
}

/* The parent directory of path opened, and path's last component in name. */
static int open_parent(const char *path, char *name, size_t size) {
        _cleanup_free_ char *dir = NULL;
        int r = path_dirname(path, &dir);
        if (r < 0)
                return r;
        const char *base = path_basename(path);
        if (strlen(base) >= size)
                return -ENAMETOOLONG;
        strcpy(name, base);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int btrfs_subvolume_create(const char *path) {
        struct btrfs_ioctl_vol_args args = { 0 };
        _cleanup_close_ int fd = open_parent(path, args.name, sizeof(args.name));
        if (fd < 0)
                return fd;
        return ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0 ? -errno : 0;
}

int btrfs_subvolume_snapshot(const char *src, const char *path) {
        struct btrfs_ioctl_vol_args_v2 args = { 0 };
        _cleanup_close_ int from = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (from < 0)
                return -errno;
        _cleanup_close_ int fd = open_parent(path, args.name, sizeof(args.name));
        if (fd < 0)
                return fd;
        args.fd = from;
        return ioctl(fd, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0 ? -errno : 0;
}

int btrfs_subvolume_set_read_only(const char *path, bool read_only) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t flags;
        if (fd < 0)
                return -errno;
        if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
                return -errno;
        uint64_t want = read_only ? flags | BTRFS_SUBVOL_RDONLY : flags & ~(uint64_t) BTRFS_SUBVOL_RDONLY;
        if (want == flags)
                return 0;
        return ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &want) < 0 ? -errno : 0;
}

int btrfs_subvolume_remove(const char *path) {
        int r = btrfs_subvolume_set_read_only(path, false);
        if (r < 0)
                return r;
        struct btrfs_ioctl_vol_args args = { 0 };
        _cleanup_close_ int fd = open_parent(path, args.name, sizeof(args.name));
        if (fd < 0)
                return fd;
        return ioctl(fd, BTRFS_IOC_SNAP_DESTROY, &args) < 0 ? -errno : 0;
}
