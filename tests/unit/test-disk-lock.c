/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent/disk-lock.h"
#include "base/util.h"
#include "tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void test_lock_is_per_disk_not_per_path(void **state) {
        (void) state;
        _cleanup_free_ char *disk = path_join(tmpdir, "disk.raw"), *link = path_join(tmpdir, "by-id-disk");
        int fd = open(disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(symlink(disk, link), 0);

        /* a child holds the disk through its real name ... */
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int cfd;
                if (disk_lock(disk, &cfd) < 0)
                        _exit(1);
                (void) !write(pipefd[1], "x", 1);
                pause();
                _exit(0);
        }
        char c;
        assert_int_equal(read(pipefd[0], &c, 1), 1);

        /* ... so the symlink's lock is refused, and the holder is named */
        int lfd = -1;
        assert_int_equal(disk_lock(link, &lfd), -EAGAIN);
        int probe = open(disk, O_RDONLY | O_CLOEXEC);
        assert_true(probe >= 0);
        assert_int_equal(lock_holder_pid(probe), pid);
        assert_false(disk_lock_held(probe));

        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        assert_int_equal(disk_lock(link, &lfd), 0);
        assert_true(disk_lock_held(probe));
        /* a second open of the same disk in this process must not wait for its own lock */
        disk_unlock(lfd);
        assert_false(disk_lock_held(probe));
        assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), 0);
        close(probe);
        close(pipefd[0]);
        close(pipefd[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lock_is_per_disk_not_per_path),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
