/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* LUKS2 volumes through libcryptsetup, in the shape systemd-repart 252 makes them (aes-xts-plain64,
 * 512-bit volume key, 512-byte sectors, the partition label as LUKS label) and with the key slots
 * and tokens of systemd-cryptenroll 252. Nothing here needs device-mapper except opening a
 * mapping: the payload is encrypted in user space, and key checks use libcryptsetup's
 * activation without a name. */

#include "recovery.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The LUKS2 header (two metadata copies and the key slot area) before the data segment. */
#define LUKS_DATA_OFFSET (UINT64_C(16) * 1024 * 1024)

struct luks_keys {
        const char *key_file;        /* a key slot whose passphrase is this file's content */
        bool tpm2;                   /* a key slot sealed to the TPM, with a systemd-tpm2 token */
        const char *tpm2_device;     /* NULL: the tpm2-tss default */
        uint32_t tpm2_pcrs;
};

/* Creates output (a new regular file, size bytes) as a LUKS2 volume holding the bytes of payload
 * (NULL: none) encrypted. payload must fit in size - LUKS_DATA_OFFSET. what names the partition
 * in messages. */
int luks_format_image(const char *what, const char *output, uint64_t size, const char *payload,
                      const uint8_t uuid[16], const char *label, const struct luks_keys *k);

/* The ways to open a volume; each that is set is tried in this order. */
struct luks_unlock {
        const char *key_file;
        const char *recovery_key;    /* as typed */
        bool tpm2;                   /* every systemd-tpm2 token of the volume */
        const char *tpm2_device;
};

/* Opens volume as /dev/mapper/name, or with name NULL only checks that a key opens it. Logs each
 * way that failed and why. *ret_method: "key file", "recovery key", "TPM2". */
int luks_unlock(const char *volume, const char *name, const struct luks_unlock *u, int *ret_keyslot,
                const char **ret_method);

struct luks_enroll {
        bool recovery_key;
        bool tpm2;
        const char *tpm2_device;
        uint32_t tpm2_pcrs;
};

/* Unlocks volume with u and adds the key slots e asks for. A new recovery key is returned in
 * ret_recovery_key (to be shown once; it is stored nowhere). */
int luks_enroll(const char *volume, const struct luks_unlock *u, const struct luks_enroll *e,
                char ret_recovery_key[static RECOVERY_KEY_LENGTH + 1]);
