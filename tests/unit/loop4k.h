/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A disk image file partitioned by sfdisk through a loop device with 4096-byte sectors: a GPT as
 * libfdisk writes it for a 4Kn disk. */

#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs the sfdisk script (its lines separated by "\\n") on path (an existing file) attached as a
 * loop device; on_loop (may be NULL) sees the device open before it is detached. -ENODEV when
 * there are no loop devices here (not root?): the caller skips. */
static int sfdisk_4k_image(const char *path, const char *script, int (*on_loop)(int fd, void *userdata),
                           void *userdata) {
        char loop[64] = "";
        _cleanup_free_ char *cmd = strprintf("losetup -f --show --sector-size 4096 %s 2>/dev/null", path);
        FILE *f = cmd ? popen(cmd, "r") : NULL;
        if (!f)
                return -ENOMEM;
        bool ok = fgets(loop, sizeof(loop), f) != NULL;
        pclose(f);
        if (!ok)
                return -ENODEV;
        loop[strcspn(loop, "\n")] = 0;
        _cleanup_free_ char *sf = strprintf("printf '%s' | sfdisk -q %s >/dev/null 2>&1", script, loop);
        int r = sf && system(sf) == 0 ? 0 : -EIO;
        if (r == 0 && on_loop) {
                _cleanup_close_ int fd = open(loop, O_RDONLY | O_CLOEXEC);
                r = fd < 0 ? -errno : on_loop(fd, userdata);
        }
        _cleanup_free_ char *detach = strprintf("losetup -d %s", loop);
        if (!detach || system(detach) != 0)
                return -EIO;
        return r;
}
