/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `abota repart`: build a GPT disk image from repart.d definitions, or add the missing partitions
 * to an existing disk (first boot), as systemd-repart does (spec repart-boot.md 1). The flow is
 * definitions -> match with the existing table -> plan (sizes, offsets, UUIDs, labels) ->
 * write (file systems, then the GPT) -> split files. */

#include "repart-options.h"

/* Runs the whole flow. Each failure is logged once where it is detected; returns -errno. */
int repart_run(const struct repart_options *o, struct repart_result *ret);
