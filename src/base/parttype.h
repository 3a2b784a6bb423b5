/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GPT partition type identifiers of the Discoverable Partitions Specification, with the symbolic
 * names systemd-repart and sysupdate's MatchPartitionType= accept (spec repart-boot.md 1.4, 3). */

#include <stdbool.h>
#include <stdint.h>

/* "esp", "linux-generic", "root", "root-x86-64", "usr-arm64-verity", ... or a UUID string.
 * Arch-less "root"/"usr"... aliases resolve to the native architecture. -EINVAL if unknown. */
int partition_type_from_string(const char *s, uint8_t ret[16]);

/* The arch-specific identifier ("root-x86-64", "esp"), or NULL for an unknown UUID. */
const char *partition_type_to_string(const uint8_t id[16]);

/* Which GPT attribute bits the type defines (spec repart-boot.md 1.8 / DPS). */
bool partition_type_knows_read_only(const uint8_t id[16]);
bool partition_type_knows_growfs(const uint8_t id[16]);
bool partition_type_knows_no_auto(const uint8_t id[16]);
/* root-ARCH-verity, usr-ARCH-verity: read-only unless ReadOnly=no (as in systemd-repart 252). */
bool partition_type_is_verity_hash(const uint8_t id[16]);

#define GPT_FLAG_NO_AUTO (UINT64_C(1) << 63)
#define GPT_FLAG_READ_ONLY (UINT64_C(1) << 60)
#define GPT_FLAG_GROWFS (UINT64_C(1) << 59)

/* Architecture name in systemd's spelling ("x86-64", "arm64") of the build. */
const char *native_architecture(void);
