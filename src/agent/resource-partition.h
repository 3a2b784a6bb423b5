/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Type=partition: the GPT partitions of one disk as targets, slots named by their label. */

#include "resource.h"

extern const struct resource_kind resource_kind_partition;
