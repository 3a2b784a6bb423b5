/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Encrypt= (spec repart-boot.md 1.3): the partition becomes a LUKS2 volume holding its file
 * system (or CopyBlocks= data), unlocked by --key-file= and/or a key sealed to the TPM
 * (--tpm2-device=, --tpm2-pcrs=). The host needs no device-mapper: the content is built as a
 * plain image and encrypted in user space (crypt/luks.h). */

#include "repart-plan.h"

/* Plan step: Encrypt=key-file needs --key-file=. */
int repart_encrypt_check(struct context *c);

/* What Encrypt= adds to a partition's minimum size: the 16 MiB LUKS2 header. systemd-repart 252
 * plans 17 MiB for an encrypted ext4 partition (1 MiB + 16 MiB), not the 32 MiB the spec table
 * says; tests/integration/test_encrypt.py compares the two. */
uint64_t repart_encrypt_overhead(const struct repart_definition *d);

/* Builds the content of the new partition i and encrypts it into a scratch image of size bytes;
 * *ret is its path (the caller copies and removes it). */
int repart_encrypt_build(struct context *c, size_t i, uint64_t size, char **ret);
