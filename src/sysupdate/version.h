/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* strverscmp_improved() of the UAPI Version Format Specification (spec sysupdate.md 4.2):
 * < 0 when a is older than b, 0 when equal, > 0 when newer. NULL is treated as "". */
int version_compare(const char *a, const char *b);

/* Validity of a sysupdate version string (spec 4.1), as systemd-sysupdate 257 has it: non-empty,
 * a valid file name (at most 255 bytes, not "." or ".."), only [A-Za-z0-9] and ". , _ - +".
 * '~' and '^' are refused, so a server offering 1~rc1 and 0.9 gives 0.9 with either tool. */
bool version_is_valid(const char *s);
