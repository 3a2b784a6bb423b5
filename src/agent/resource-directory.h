/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Type=regular-file: the regular files in a directory (and its subdirectories, for patterns
 * with a '/'). Type=directory and Type=subvolume: the directories in it, copied as trees.
 * Type=tar: the archives in it (sources only). */

#include "resource.h"

extern const struct resource_kind resource_kind_regular_file;
extern const struct resource_kind resource_kind_directory;
extern const struct resource_kind resource_kind_subvolume;
extern const struct resource_kind resource_kind_tar;
