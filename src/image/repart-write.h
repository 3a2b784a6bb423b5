/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "repart-plan.h"

/* Writes the plan: resizes the image file, clears and fills the new partitions, builds the
 * verity hash trees (which fix the verity UUIDs, root hashes and split names in res), syncs,
 * writes the GPT (backup, then primary), tells the kernel, then writes the split files. */
int repart_write(struct context *c, struct repart_result *res);
