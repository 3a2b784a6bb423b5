/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/notify.h"
#include "tmpdir.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

static int listen_at(const char *path, socklen_t *len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path, path, strlen(path));
        if (path[0] == '@')
                sa.sun_path[0] = 0;
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path));
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, *len), 0);
        return fd;
}

static void expect_message(int fd, const char *want) {
        char buf[600] = "";
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        assert_int_equal(n, (ssize_t) strlen(want));
        assert_string_equal(buf, want);
}

static void test_path_and_abstract(void **state) {
        (void) state;
        socklen_t len;
        _cleanup_free_ char *path = path_join(tmpdir, "notify");
        _cleanup_close_ int fd = listen_at(path, &len);
        assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
        notify_send("STATUS=Making room for '%s'.", "2");
        expect_message(fd, "STATUS=Making room for '2'.");

        _cleanup_free_ char *abstract = strprintf("@abota-test-%d", (int) getpid());
        _cleanup_close_ int afd = listen_at(abstract, &len);
        assert_int_equal(setenv("NOTIFY_SOCKET", abstract, 1), 0);
        notify_send("READY=1");
        expect_message(afd, "READY=1");
}

static void test_unset_or_bogus(void **state) {
        (void) state;
        socklen_t len;
        _cleanup_free_ char *path = path_join(tmpdir, "quiet");
        _cleanup_close_ int fd = listen_at(path, &len);
        assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
        notify_send("READY=1");
        assert_int_equal(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
        notify_send("READY=1");
        char buf[16];
        assert_int_equal(recv(fd, buf, sizeof(buf), 0), -1);
}

/* A receiver whose queue is full (nobody reads it): the message is dropped at once, never waited
 * for. Without MSG_DONTWAIT the send would block here until the test times out. */
static void test_full_queue_drops(void **state) {
        (void) state;
        socklen_t len;
        _cleanup_free_ char *path = path_join(tmpdir, "full");
        _cleanup_close_ int fd = listen_at(path, &len);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path, path, strlen(path));
        /* fill it (net.unix.max_dgram_qlen) from as many senders as it takes */
        int senders[64], n = 0;
        for (; n < 64; n++) {
                senders[n] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                assert_true(senders[n] >= 0);
                int sent = 0;
                while (sendto(senders[n], "x", 1, 0, (struct sockaddr *) &sa, len) == 1)
                        sent++;
                if (sent == 0)
                        break;
        }
        assert_true(n < 64);
        assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
        notify_send("X_SYSUPDATE_PROGRESS=%d", 42); /* returns */
        /* what is queued is the filler only */
        char buf[64];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
                assert_int_equal(r, 1);
        for (int i = 0; i <= n && i < 64; i++)
                close(senders[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_and_abstract),
                cmocka_unit_test(test_unset_or_bogus),
                cmocka_unit_test(test_full_queue_drops),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
