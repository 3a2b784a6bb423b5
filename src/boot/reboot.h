/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Rebooting into a newly installed version (spec sysupdate.md 7.7). */

/* Runs $ABOTA_REBOOT_COMMAND through /bin/sh -c when set (tests observe the reboot this way),
 * else `systemctl reboot` when systemctl exists, else `reboot`. Logs one line on failure. */
int reboot_system(void);
