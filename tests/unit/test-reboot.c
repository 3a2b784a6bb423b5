/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "boot/reboot.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static void test_command_override(void **state) {
        (void) state;
        char marker[] = "/tmp/test-reboot-XXXXXX";
        int fd = mkstemp(marker);
        assert_true(fd >= 0);
        close(fd);
        unlink(marker);

        _cleanup_free_ char *cmd = strprintf("echo rebooting > %s", marker);
        assert_int_equal(setenv("ABOTA_REBOOT_COMMAND", cmd, 1), 0);
        assert_int_equal(reboot_system(), 0);
        assert_int_equal(access(marker, F_OK), 0);
        unlink(marker);

        assert_int_equal(setenv("ABOTA_REBOOT_COMMAND", "echo refused by inhibitor >&2; exit 3", 1), 0);
        assert_int_equal(reboot_system(), -EIO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_command_override),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
