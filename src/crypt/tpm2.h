/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Sealing a volume key to the TPM under a PCR policy, as systemd-cryptenroll 252 does, so that
 * either tool unseals what the other sealed: the storage root key is the same ECC P-256 (or RSA
 * 2048) primary in the owner hierarchy, the secret a 32-byte keyed-hash object whose auth policy
 * is TPM2_PolicyPCR over the chosen PCRs of one bank, and the LUKS2 passphrase is the base64 of
 * the secret. */

#include <stddef.h>
#include <stdint.h>

#define TPM2_PCRS_DEFAULT (UINT32_C(1) << 7)  /* systemd-repart/cryptenroll 252: PCR 7 */

struct tpm2_sealed {
        uint8_t *blob;            /* TPM2B_PRIVATE || TPM2B_PUBLIC, marshalled */
        size_t blob_size;
        uint32_t pcr_mask;        /* bit n = PCR n */
        char pcr_bank[8];         /* "sha256", "sha1" */
        char primary_alg[4];      /* "ecc", "rsa" */
        uint8_t policy_hash[64];
        size_t policy_hash_size;
        int pin;                  /* the token asks for a PIN (not supported for unsealing) */
};

void tpm2_sealed_done(struct tpm2_sealed *s);

/* "7", "0+7", "0,7", "" (no PCRs). -EINVAL for anything else or a PCR above 23. */
int tpm2_pcr_mask_parse(const char *s, uint32_t *ret);

/* device: a device node (/dev/tpmrm0), a tpm2-tss TCTI string ("swtpm:host=127.0.0.1,port=2321",
 * "device:/dev/tpm0"), or NULL for the tpm2-tss default. Seals 32 random bytes; *ret_passphrase is
 * their base64 (the LUKS2 passphrase). Failures are logged, naming the device. */
int tpm2_seal(const char *device, uint32_t pcr_mask, struct tpm2_sealed *ret, char **ret_passphrase);

/* Unseals s. -EPERM (logged) when the TPM refuses: another TPM (the blob does not load) or PCR
 * values that differ from those at sealing; -ENODEV (logged) when the TPM cannot be reached. */
int tpm2_unseal(const char *device, const struct tpm2_sealed *s, char **ret_passphrase);
