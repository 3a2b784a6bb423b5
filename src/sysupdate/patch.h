/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Binary patches between two versions of one payload, published beside the full images
 * (`abota publish --deltas=N`) and applied by the update agent when the base is installed.
 *
 * Name: "@delta@BASEVERSION@TARGETNAME", e.g. "@delta@1@appliance_2.store.raw". A sysupdate
 * pattern cannot match it: every field rejects '@' and a pattern's literal would have to start
 * with "@@", so systemd-sysupdate keeps installing the full image from the same directory.
 *
 * Content: a fixed header, then one zstd frame made with the uncompressed base image as its
 * prefix (zstd --patch-from). The header gives the size and SHA-256 of the uncompressed base
 * and target images. It is authenticated with the whole file, whose SHA-256 the (signed)
 * SHA256SUMS lists: a client checks the base slot against it before applying, and the written
 * slot against it after; a forged header fails the file's hash at the end. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PATCH_NAME_PREFIX "@delta@"
#define PATCH_MAGIC "ABOTAPT1"
#define PATCH_HEADER_SIZE 88U   /* magic, base size, target size (LE64), base and target SHA-256 */
#define PATCH_WINDOW_LOG_MAX 31U  /* the largest zstd window a patch may need (2 GiB) */

struct patch_header {
        uint64_t base_size, target_size;
        uint8_t base_sha256[32], target_sha256[32];
};

/* "@delta@BASE@TARGET"; NULL when out of memory or base is not a valid version. */
char *patch_name(const char *base_version, const char *target_name);
bool patch_name_is(const char *name);
/* Splits a patch name; *ret_target points into name. -EINVAL when name is not one. */
int patch_name_parse(const char *name, char **ret_base_version, const char **ret_target);

void patch_header_format(const struct patch_header *h, uint8_t ret[PATCH_HEADER_SIZE]);
/* -EBADMSG when the magic is wrong. */
int patch_header_parse(const uint8_t data[PATCH_HEADER_SIZE], struct patch_header *ret);
/* The zstd window log that covers base and target together (ZSTD_c_windowLog). */
unsigned patch_window_log(uint64_t base_size, uint64_t target_size);
