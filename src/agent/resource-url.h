/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Type=url-file and url-tar: the files a server lists in its SHA256SUMS. */

#include "resource.h"

extern const struct resource_kind resource_kind_url_file;
extern const struct resource_kind resource_kind_url_tar;
