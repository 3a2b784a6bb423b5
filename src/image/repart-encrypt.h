/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Encrypt= (spec repart-boot.md 1.3): the partition becomes a LUKS2 volume holding its file
 * system (or CopyBlocks= data), unlocked by --key-file= and/or a key sealed to the TPM
 * (--tpm2-device=, --tpm2-pcrs=). The host needs no device-mapper: the content is built as a
 * plain image and encrypted in user space (crypt/luks.h). */

#include "repart-config.h"
#include "repart-format.h"

#include <stdint.h>

/* Encrypt=key-file needs --key-file= (checked before anything is written). */
int repart_encrypt_check(const struct repart_definitions *defs, const char *key_file);

/* What Encrypt= adds to a partition's minimum size: the 16 MiB LUKS2 header. systemd-repart 252
 * plans 17 MiB for an encrypted ext4 partition (1 MiB + 16 MiB), not the 32 MiB the spec table
 * says; tests/integration/test_encrypt.py compares the two. */
uint64_t repart_encrypt_overhead(const struct repart_definition *d);

struct repart_encrypt_request {
        const struct repart_definition *def;
        const uint8_t *partition_uuid;          /* the LUKS UUID is derived from it */
        const char *label;                      /* the partition label, also the LUKS label */
        const char *payload;                    /* CopyBlocks= source or a prebuilt image; NULL:
                                                 * build fs (when def->format is set) */
        struct repart_format_request fs;        /* .size is set here */
        const char *key_file;
        const char *tpm2_device;
        uint32_t tpm2_pcrs;
};

/* Builds the content and encrypts it into output (a new file of size bytes). */
int repart_encrypt_build(struct repart_encrypt_request *req, uint64_t size, const char *output);
