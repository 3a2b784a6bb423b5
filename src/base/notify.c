/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "notify.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

void notify_send(const char *fmt, ...) {
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (isempty(path) || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
                return;
        memcpy(sa.sun_path, path, strlen(path));
        if (path[0] == '@')
                sa.sun_path[0] = 0; /* abstract namespace */

        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        /* Never waits: with the receiver's queue full (a service manager busy, or a socket nobody
         * reads) the message is dropped rather than the download stalled. */
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        socklen_t len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path));
        if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *) &sa, len) < 0)
                log_debug("%s: cannot send notification%s: %s", path,
                          errno == EAGAIN ? ", its queue is full, dropped" : "", strerror(errno));
}
