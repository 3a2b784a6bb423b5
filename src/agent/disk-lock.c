/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "disk-lock.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define HELD_MAX 16

/* The inodes this process holds locked (a handful of disks at most). */
static struct held {
        dev_t dev;
        ino_t ino;
        int fd;
} held[HELD_MAX];
static size_t n_held;

static struct held *find_held(const struct stat *st) {
        for (size_t i = 0; i < n_held; i++)
                if (held[i].dev == st->st_dev && held[i].ino == st->st_ino)
                        return &held[i];
        return NULL;
}

bool disk_lock_held(int fd) {
        struct stat st;
        return fstat(fd, &st) == 0 && find_held(&st);
}

/* The PID holding a BSD lock on the inode, from /proc/locks ("1: FLOCK ADVISORY WRITE PID
 * MAJ:MIN:INODE 0 EOF", major and minor in hex), or 0 when not found. */
static pid_t lock_holder(const struct stat *st) {
        _cleanup_free_ char *data = NULL;
        if (read_full_file("/proc/locks", 4 * 1024 * 1024, &data, NULL) < 0)
                return 0;
        for (char *line = data; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                char kind[16], mode[16], access[16];
                unsigned maj, min;
                uint64_t ino;
                int pid;
                /* blocked waiters are listed as "1: -> FLOCK ..." and do not hold it */
                if (!strstr(line, "->") &&
                    sscanf(line, "%*d: %15s %15s %15s %d %x:%x:%" SCNu64, kind, mode, access, &pid, &maj, &min, &ino) == 7 &&
                    streq(kind, "FLOCK") && maj == major(st->st_dev) && min == minor(st->st_dev) &&
                    ino == (uint64_t) st->st_ino && pid > 0)
                        return pid;
                line = nl ? nl + 1 : NULL;
        }
        return 0;
}

pid_t lock_holder_pid(int fd) {
        struct stat st;
        return fstat(fd, &st) == 0 ? lock_holder(&st) : 0;
}

int disk_lock(const char *disk, int *ret_fd) {
        int fd = open(disk, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open disk for locking: %s", disk, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = log_error_errno(errno, "%s: %s", disk, strerror(errno));
                close(fd);
                return r;
        }
        if (n_held >= HELD_MAX) {
                close(fd);
                return log_error_errno(EMFILE, "%s: too many disks locked at once", disk);
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = -errno; /* -EAGAIN (== EWOULDBLOCK): held, try again later */
                pid_t pid = r == -EAGAIN ? lock_holder(&st) : 0;
                close(fd);
                if (pid > 0)
                        return log_error_errno(r, "%s: the disk is locked by another update or vacuum (PID %d), try again later",
                                               disk, (int) pid);
                if (r == -EAGAIN)
                        return log_error_errno(r, "%s: the disk is locked by another update or vacuum, try again later", disk);
                return log_error_errno(r, "%s: cannot lock disk: %s", disk, strerror(-r));
        }
        held[n_held++] = (struct held) { .dev = st.st_dev, .ino = st.st_ino, .fd = fd };
        *ret_fd = fd;
        return 0;
}

void disk_unlock(int fd) {
        if (fd < 0)
                return;
        for (size_t i = 0; i < n_held; i++)
                if (held[i].fd == fd) {
                        held[i] = held[--n_held];
                        break;
                }
        close(fd);
}
