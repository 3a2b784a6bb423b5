/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reboot.h"

#include "base/log.h"
#include "base/spawn.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>

int reboot_system(void) {
        const char *cmd = getenv("ABOTA_REBOOT_COMMAND");
        _cleanup_free_ char *exe = NULL, *output = NULL;
        char *argv[4] = {};

        if (!isempty(cmd)) {
                argv[0] = (char *) "/bin/sh", argv[1] = (char *) "-c", argv[2] = (char *) cmd;
        } else if (find_executable("systemctl", &exe) >= 0) {
                argv[0] = exe, argv[1] = (char *) "reboot";
        } else if (find_executable("reboot", &exe) >= 0) {
                argv[0] = exe;
        } else
                return log_error_errno(ENOENT, "cannot reboot: neither systemctl nor reboot found in $PATH");

        log_notice("Rebooting.");
        int r = spawn_capture(argv, &output);
        if (r < 0)
                return log_error_errno(r, "%s: cannot run: %s", argv[0], strerror(-r));
        if (r > 0) {
                _cleanup_free_ char *why = output ? spawn_output_reason(output, NULL, NULL) : NULL;
                return log_error_errno(EIO, "reboot command failed with status %d%s%s", r, why && *why ? ": " : "",
                                       why ? why : "");
        }
        return 0;
}
