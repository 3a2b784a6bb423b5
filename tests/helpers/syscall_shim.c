/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD shim for crash tests (built by tests/integration/syscall_shim.py). It counts the
 * data-changing system calls on files (fd > 2) of the process it is loaded into:
 *   CRASH_KILL_AT=N      raise SIGKILL right before the Nth call (the call does not happen)
 *   CRASH_COUNT_FILE=F   write the number of calls to F at exit
 *   CRASH_LOG_FILE=F     append one line per call: "N CALL PATH OFFSET LENGTH" (fsync: no numbers)
 *   CRASH_SELF_ONLY=1    do not pass the shim on to child processes (mkfs and other tools)
 *   CRASH_RCVBUF=N       TCP sockets get a receive buffer of N bytes (no autotuning): what the
 *                        kernel holds in flight when the process dies stays small, as on a slow
 *                        link, not the megabytes of loopback (with httpd.py --sndbuf) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static long counter, kill_at = -1;
static const char *count_file;
static int log_fd = -1;
static ssize_t (*real_write)(int, const void *, size_t);

__attribute__((constructor)) static void init(void) {
        const char *k = getenv("CRASH_KILL_AT");
        kill_at = k ? atol(k) : -1;
        count_file = getenv("CRASH_COUNT_FILE");
        real_write = (ssize_t (*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        const char *l = getenv("CRASH_LOG_FILE");
        if (l)
                log_fd = open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (getenv("CRASH_SELF_ONLY"))
                unsetenv("LD_PRELOAD");
}

__attribute__((destructor)) static void done(void) {
        if (count_file) {
                FILE *f = fopen(count_file, "w");
                if (f) {
                        fprintf(f, "%ld\n", counter);
                        fclose(f);
                }
        }
}

static void step(const char *call, int fd, long long off, long long len) {
        if (++counter == kill_at)
                raise(SIGKILL);
        if (log_fd < 0 || fd == log_fd)
                return;
        char proc[64], path[4096], line[4200];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        ssize_t n = fd >= 0 ? readlink(proc, path, sizeof(path) - 1) : -1;
        path[n < 0 ? 0 : n] = 0;
        int k = snprintf(line, sizeof(line), "%ld %s %s %lld %lld\n", counter, call, n < 0 ? "-" : path, off, len);
        real_write(log_fd, line, (size_t) k);
}

#define REAL(ret, name, params)                                               \
        static ret (*real) params;                                            \
        if (!real)                                                            \
                real = (ret (*) params) dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *b, size_t n) {
        REAL(ssize_t, write, (int, const void *, size_t));
        if (fd > 2 && fd != log_fd)
                step("write", fd, (long long) lseek(fd, 0, SEEK_CUR), (long long) n);
        return real(fd, b, n);
}

int socket(int domain, int type, int protocol) {
        REAL(int, socket, (int, int, int));
        int fd = real(domain, type, protocol);
        const char *b = getenv("CRASH_RCVBUF");
        if (fd >= 0 && b && (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM) {
                int n = atoi(b);
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
        }
        return fd;
}

/* ret name(params): counted (and logged as call, fd, off, len) when fd is a file (> 2) or -1 (a
 * call on a path), then done. */
#define WRAP(ret, name, params, args, call, fd, off, len)                     \
        ret name params {                                                     \
                REAL(ret, name, params);                                      \
                if ((fd) > 2 || (fd) == -1)                                   \
                        step(call, fd, (long long) (off), (long long) (len)); \
                return real args;                                             \
        }
WRAP(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), "pwrite", fd, o, n)
WRAP(ssize_t, pwrite64, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), "pwrite", fd, o, n)
WRAP(int, fsync, (int fd), (fd), "fsync", fd, 0, 0)
WRAP(int, fdatasync, (int fd), (fd), "fdatasync", fd, 0, 0)
WRAP(int, fallocate, (int fd, int m, off_t o, off_t n), (fd, m, o, n), "fallocate", fd, o, n)
WRAP(int, fallocate64, (int fd, int m, off_t o, off_t n), (fd, m, o, n), "fallocate", fd, o, n)
WRAP(int, ftruncate, (int fd, off_t n), (fd, n), "ftruncate", fd, 0, n)
WRAP(int, ftruncate64, (int fd, off_t n), (fd, n), "ftruncate", fd, 0, n)
WRAP(ssize_t, copy_file_range, (int in, off_t *io, int fd, off_t *oo, size_t n, unsigned f), (in, io, fd, oo, n, f),
     "copy_file_range", fd, oo ? *oo : -1, n)
WRAP(int, syncfs, (int fd), (fd), "syncfs", fd, 0, 0)
WRAP(int, sync_file_range, (int fd, off_t o, off_t n, unsigned f), (fd, o, n, f), "sync_file_range", fd, o, n)
WRAP(int, fchmod, (int fd, mode_t m), (fd, m), "fchmod", fd, 0, 0)
WRAP(int, rename, (const char *a, const char *b), (a, b), "rename", -1, 0, 0)
WRAP(int, renameat, (int d1, const char *a, int d2, const char *b), (d1, a, d2, b), "renameat", -1, 0, 0)
WRAP(int, renameat2, (int d1, const char *a, int d2, const char *b, unsigned f), (d1, a, d2, b, f), "renameat2", -1,
     0, 0)
WRAP(int, unlink, (const char *p), (p), "unlink", -1, 0, 0)
WRAP(int, unlinkat, (int d, const char *p, int f), (d, p, f), "unlinkat", -1, 0, 0)
