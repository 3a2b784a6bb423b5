/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD shim for crash tests (built by tests/integration/syscall_shim.py). It counts the
 * data-changing system calls on files (fd > 2) of the process it is loaded into:
 *   CRASH_KILL_AT=N      raise SIGKILL right before the Nth call (the call does not happen)
 *   CRASH_COUNT_FILE=F   write the number of calls to F at exit
 *   CRASH_LOG_FILE=F     append one line per call: "N CALL PATH OFFSET LENGTH" (fsync: no numbers)
 *   CRASH_SELF_ONLY=1    do not pass the shim on to child processes (mkfs and other tools) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define WRAP_PWRITE(name)                                                     \
        ssize_t name(int fd, const void *b, size_t n, off_t o) {              \
                REAL(ssize_t, name, (int, const void *, size_t, off_t));      \
                if (fd > 2)                                                   \
                        step("pwrite", fd, (long long) o, (long long) n);     \
                return real(fd, b, n, o);                                     \
        }
WRAP_PWRITE(pwrite)
WRAP_PWRITE(pwrite64)

#define WRAP_SYNC(name)                                                       \
        int name(int fd) {                                                    \
                REAL(int, name, (int));                                       \
                if (fd > 2)                                                   \
                        step(#name, fd, 0, 0);                                \
                return real(fd);                                              \
        }
WRAP_SYNC(fsync)
WRAP_SYNC(fdatasync)

#define WRAP_FALLOCATE(name)                                                  \
        int name(int fd, int mode, off_t o, off_t n) {                        \
                REAL(int, name, (int, int, off_t, off_t));                    \
                if (fd > 2)                                                   \
                        step("fallocate", fd, (long long) o, (long long) n);  \
                return real(fd, mode, o, n);                                  \
        }
WRAP_FALLOCATE(fallocate)
WRAP_FALLOCATE(fallocate64)

#define WRAP_FTRUNCATE(name)                                                  \
        int name(int fd, off_t n) {                                           \
                REAL(int, name, (int, off_t));                                \
                if (fd > 2)                                                   \
                        step("ftruncate", fd, 0, (long long) n);              \
                return real(fd, n);                                           \
        }
WRAP_FTRUNCATE(ftruncate)
WRAP_FTRUNCATE(ftruncate64)

ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t n, unsigned flags) {
        REAL(ssize_t, copy_file_range, (int, off_t *, int, off_t *, size_t, unsigned));
        if (out > 2)
                step("copy_file_range", out, out_off ? (long long) *out_off : -1, (long long) n);
        return real(in, in_off, out, out_off, n, flags);
}

#define WRAP_PATH(name, params, args, what)                                   \
        int name params {                                                     \
                REAL(int, name, params);                                      \
                step(#name, -1, 0, 0);                                        \
                return real args;                                             \
        }
WRAP_PATH(rename, (const char *a, const char *b), (a, b), a)
WRAP_PATH(renameat, (int d1, const char *a, int d2, const char *b), (d1, a, d2, b), a)
WRAP_PATH(unlink, (const char *p), (p), p)
WRAP_PATH(unlinkat, (int d, const char *p, int f), (d, p, f), p)
