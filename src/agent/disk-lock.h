/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The per-disk lock (issue 9, defect 5): an exclusive BSD lock (flock) on the target disk itself,
 * the whole block device or the disk image file, as systemd takes it. Whatever path names the
 * disk (--root=, --image=, a symlink, /dev/disk/by-id/...), the lock lands on the same inode, so
 * two runs can never write one disk at once. update and vacuum take it before they read the
 * partition table and hold it until the last commit. udev and util-linux's fdisk honour it too. */

#include <stdbool.h>
#include <sys/types.h>

/* Opens disk and locks it without waiting. -EBUSY (logged, naming the holder's PID when
 * /proc/locks tells it) when another process holds it. The lock is this process's until
 * disk_unlock(). */
int disk_lock(const char *disk, int *ret_fd);
void disk_unlock(int fd);

/* True when this process already holds the disk lock of the file open as fd (another open of the
 * same disk would otherwise wait for its own lock). */
bool disk_lock_held(int fd);

/* The PID of the process holding a BSD lock on the file open as fd, from /proc/locks, or 0 when
 * that cannot be told. */
pid_t lock_holder_pid(int fd);
