/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A scratch directory per test program, created by the group setup and removed with its
 * contents by the group teardown (cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown)). */

#include "base/util.h"

#include <stdlib.h>

static char tmpdir[] = "/tmp/abota-unit-XXXXXX";

static int tmpdir_setup(void **state) {
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state) {
        (void) state;
        _cleanup_free_ char *cmd = strprintf("rm -rf '%s'", tmpdir);
        return cmd && system(cmd) == 0 ? 0 : -1;
}
