/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/progress.h"
#include "base/util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

static void test_format(void **state) {
        (void) state;
        char buf[256];
        /* 12 MiB of 1 GiB after 2 s: 6 MiB/s, (1024-12)/6 = 168.7 -> 169 s left. */
        progress_format(buf, sizeof(buf), "store_2", 12ULL << 20, 1ULL << 30, 2000000);
        assert_string_equal(buf, "store_2  12.0 MiB / 1.0 GiB  1%  6.0 MiB/s  ETA 2:49");
        /* Unknown total: no percentage, no ETA. */
        progress_format(buf, sizeof(buf), "x", 3 << 10, 0, 1000000);
        assert_string_equal(buf, "x  3.0 KiB  3.0 KiB/s");
        /* Too early for a rate. */
        progress_format(buf, sizeof(buf), "x", 100, 1000, 1000);
        assert_string_equal(buf, "x  100 B / 1000 B  10%  -/s");
        /* Done. */
        progress_format(buf, sizeof(buf), "x", 1000, 1000, 1000000);
        assert_string_equal(buf, "x  1000 B / 1000 B  100%  1000 B/s");
        /* Hours. */
        progress_format(buf, sizeof(buf), "x", 1 << 20, 10ULL << 30, 1000000);
        assert_string_equal(buf, "x  1.0 MiB / 10.0 GiB  0%  1.0 MiB/s  ETA 2:50:39");
        /* A small buffer truncates, never overflows. */
        char small[8];
        progress_format(small, sizeof(small), "store_2", 1, 2, 1000000);
        assert_string_equal(small, "store_2");
}

/* Runs a short progress sequence with stderr redirected to fd; returns what was written. */
static char *draw_to(int fd, int readfd, bool fail) {
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        struct progress p;
        progress_start(&p, "store_2", true);
        progress_set_total(&p, 1000);
        progress_update(&p, 500);
        progress_update(&p, 600); /* within 200 ms of the last draw: not drawn */
        if (fail) {
                progress_abandon(&p);
                fputs("abota: store_2: failed\n", stderr); /* what log.c would print */
        }
        progress_end(&p); /* after progress_abandon(): nothing */
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        char *out = calloc(1, 4096);
        size_t n = 0;
        struct pollfd pfd = { .fd = readfd, .events = POLLIN };
        while (n < 4095 && poll(&pfd, 1, 100) > 0) {
                ssize_t k = read(readfd, out + n, 4095 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        return out;
}

static void test_terminal_or_lines(void **state) {
        (void) state;
        /* Not a terminal (a pipe): plain log lines, none within the first second, the final one
         * at the end; after a failure only the error. */
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        _cleanup_free_ char *piped = draw_to(pipefd[1], pipefd[0], false);
        assert_string_equal(piped, "abota: store_2  600 B / 1000 B  60%  -/s\n");
        _cleanup_free_ char *piped_failed = draw_to(pipefd[1], pipefd[0], true);
        assert_string_equal(piped_failed, "abota: store_2: failed\n");
        close(pipefd[0]);
        close(pipefd[1]);

        /* A pseudo terminal: one line, redrawn in place with \r, ended with a newline. */
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(master >= 0);
        assert_int_equal(grantpt(master), 0);
        assert_int_equal(unlockpt(master), 0);
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(slave >= 0);
        _cleanup_free_ char *tty = draw_to(slave, master, false);
        /* A failure: the error line overwrites the progress line from column 0. */
        _cleanup_free_ char *failed = draw_to(slave, master, true);
        close(slave);
        close(master);
        assert_string_equal(failed, "store_2  500 B / 1000 B  50%  -/s\x1b[K\r"
                                    "abota: store_2: failed\r\n");
        /* Redrawn from column 0; the tty turns \n into \r\n. */
        assert_string_equal(tty, "store_2  500 B / 1000 B  50%  -/s\x1b[K\r"
                                 "store_2  600 B / 1000 B  60%  -/s\x1b[K\r\r\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_terminal_or_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
