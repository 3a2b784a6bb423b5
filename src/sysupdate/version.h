/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* strverscmp_improved() of the UAPI Version Format Specification (spec sysupdate.md 4.2):
 * < 0 when a is older than b, 0 when equal, > 0 when newer. NULL is treated as "". */
int version_compare(const char *a, const char *b);

/* Validity of a sysupdate version string (spec 4.1): non-empty, at most 255 bytes, only
 * [A-Za-z0-9] and ". _ + - ~ ^" (the newer character set plus '_' and '+', which sysupdate allows;
 * ',' of the classic set is refused, as in the newest upstream). */
bool version_is_valid(const char *s);
