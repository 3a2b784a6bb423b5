/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "chase.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYMLINKS_MAX 40

/* rel (below root) with its last component dropped; "" is root itself. */
static void drop_last(char *rel) {
        char *s = strrchr(rel, '/');
        if (s)
                *s = 0;
        else
                *rel = 0;
}

static bool is_below(const char *root, const char *p) {
        const char *rest = startswith(p, root);
        return rest && (*rest == 0 || *rest == '/' || streq(root, "/"));
}

/* The kernel does it: one openat2() with RESOLVE_IN_ROOT, the result read back from /proc.
 * -ENOSYS (or the caller's fallback errno) when it cannot be used here. */
static int chase_openat2(int rootfd, const char *realroot, const char *path, char **ret) {
#ifdef SYS_openat2
        struct open_how how = {
                .flags = O_PATH | O_CLOEXEC,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd < 0)
                return errno == E2BIG || errno == EPERM ? -ENOSYS : -errno;
        char link[64], buf[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);
        int saved = errno;
        close(fd);
        if (n < 0)
                return saved == ENOENT ? -ENOSYS : -saved; /* no /proc */
        buf[n] = 0;
        if (!is_below(realroot, buf))
                return -EXDEV;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
#else
        (void) rootfd, (void) realroot, (void) path, (void) ret;
        return -ENOSYS;
#endif
}

/* Our own walk, one component at a time, for kernels without openat2() and for paths whose tail
 * does not exist yet. done holds the resolved part, relative to root, without symlinks. */
static int chase_walk(int rootfd, const char *realroot, const char *path, unsigned flags, char **ret) {
        _cleanup_free_ char *done = strdup(""), *todo = strdup(path);
        unsigned links = 0;
        if (!done || !todo)
                return -ENOMEM;

        for (char *p = todo; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *end = strchrnul(p, '/');
                size_t len = (size_t) (end - p);
                if (len == 1 && p[0] == '.') {
                        p = end;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        drop_last(done); /* at root, ".." stays at root */
                        p = end;
                        continue;
                }
                _cleanup_free_ char *next = strprintf("%s%s%.*s", done, *done ? "/" : "", (int) len, p);
                if (!next)
                        return -ENOMEM;
                struct stat st;
                if (fstatat(rootfd, next, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT || !(flags & CHASE_NONEXISTENT))
                                return -errno;
                        /* The rest does not exist: taken literally, but never upwards. */
                        free(done);
                        done = TAKE_PTR(next);
                        for (char *q = end; *q;) {
                                while (*q == '/')
                                        q++;
                                char *e = strchrnul(q, '/');
                                if (e - q == 2 && q[0] == '.' && q[1] == '.')
                                        return -ENOENT;
                                if (e > q && !(e - q == 1 && q[0] == '.')) {
                                        char *d = strprintf("%s/%.*s", done, (int) (e - q), q);
                                        if (!d)
                                                return -ENOMEM;
                                        free(done);
                                        done = d;
                                }
                                q = e;
                        }
                        break;
                }
                if (!S_ISLNK(st.st_mode)) {
                        free(done);
                        done = TAKE_PTR(next);
                        p = end;
                        continue;
                }
                if (++links > SYMLINKS_MAX)
                        return -ELOOP;
                char target[PATH_MAX];
                ssize_t n = readlinkat(rootfd, next, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                if (target[0] == '/')
                        *done = 0; /* an absolute link starts again at root */
                char *rest = strprintf("%s/%s", target, end);
                if (!rest)
                        return -ENOMEM;
                free(todo);
                todo = rest;
                p = todo;
        }
        *ret = *done ? path_join(realroot, done) : strdup(realroot);
        return *ret ? 0 : -ENOMEM;
}

int chase(const char *root, const char *path, unsigned flags, char **ret) {
        if (isempty(root) || streq(root, "/")) {
                *ret = strdup(path);
                return *ret ? 0 : -ENOMEM;
        }
        _cleanup_free_ char *realroot = realpath(root, NULL);
        if (!realroot)
                return -errno;
        _cleanup_close_ int rootfd = open(realroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return -errno;

        int r = chase_openat2(rootfd, realroot, path, ret);
        if (r == -ENOSYS || (r == -ENOENT && (flags & CHASE_NONEXISTENT)))
                r = chase_walk(rootfd, realroot, path, flags, ret);
        return r;
}
