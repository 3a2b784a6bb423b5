/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "spawn.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int find_executable(const char *name, char **ret) {
        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                char *s = strdup(name);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        const char *path = getenv("PATH");
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        for (const char *p = path;;) {
                size_t n = strcspn(p, ":");
                /* an empty PATH element means the current directory, which we never search */
                if (n > 0) {
                        _cleanup_free_ char *dir = strndup(p, n);
                        if (!dir)
                                return -ENOMEM;
                        _cleanup_free_ char *full = path_join(dir, name);
                        if (!full)
                                return -ENOMEM;
                        struct stat st;
                        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
                                *ret = TAKE_PTR(full);
                                return 0;
                        }
                }
                if (!p[n])
                        break;
                p += n + 1;
        }
        return -ENOENT;
}

int spawn_capture(char *const *argv, char **ret_output) {
        /* A memfd rather than a pipe: the child can write any amount without us reading
         * concurrently, and there is no deadlock to think about. */
        _cleanup_close_ int out = memfd_create("spawn-output", MFD_CLOEXEC);
        if (out < 0)
                return -errno;
        _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0)
                return -errno;

        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
                    dup2(out, STDERR_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        if (ret_output) {
                if (lseek(out, 0, SEEK_SET) < 0)
                        return -errno;
                char *buf = NULL;
                size_t size = 0;
                struct stat st;
                if (fstat(out, &st) < 0)
                        return -errno;
                /* keep the tail, which is where tools put their verdict */
                if ((size_t) st.st_size > SPAWN_OUTPUT_MAX &&
                    lseek(out, st.st_size - SPAWN_OUTPUT_MAX, SEEK_SET) < 0)
                        return -errno;
                int r = read_full_fd(out, SPAWN_OUTPUT_MAX, &buf, &size);
                if (r < 0)
                        return r;
                *ret_output = buf;
        }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

/* The line at p (up to '\n' or NUL), without trailing whitespace; *ret_next is the next line. */
static size_t line_span(const char *p, const char **ret_next) {
        size_t n = strcspn(p, "\n");
        *ret_next = p + n + (p[n] == '\n');
        while (n > 0 && strchr(" \t\r", p[n - 1]))
                n--;
        return n;
}

char *spawn_output_reason(const char *output, const char *prefix, const char *const *needles) {
        const char *best = NULL, *next;
        size_t best_len = 0;
        if (!output)
                output = "";
        for (const char *const *k = needles; !best && k && *k; k++)
                for (const char *p = output; *p && !best; p = next) {
                        size_t len = line_span(p, &next);
                        if (memmem(p, len, *k, strlen(*k)))
                                best = p, best_len = len;
                }
        if (!best) /* the last non-empty line */
                for (const char *p = output; *p; p = next) {
                        size_t len = line_span(p, &next);
                        if (len > 0)
                                best = p, best_len = len;
                }
        if (!best)
                return strdup("no output");
        size_t plen = prefix ? strlen(prefix) : 0;
        if (plen > 0 && best_len > plen + 2 && strncmp(best, prefix, plen) == 0 &&
            strncmp(best + plen, ": ", 2) == 0) {
                best += plen + 2;
                best_len -= plen + 2;
        }
        return strndup(best, best_len);
}
