/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The LUKS2 JSON tokens of systemd-cryptenroll 252, so that systemd-cryptsetup and abota unlock
 * each other's volumes:
 *   {"type":"systemd-tpm2","keyslots":["1"],"tpm2-blob":BASE64,"tpm2-pcrs":[7],
 *    "tpm2-pcr-bank":"sha256","tpm2-primary-alg":"ecc","tpm2-policy-hash":HEX,"tpm2-pin":false}
 *   {"type":"systemd-recovery","keyslots":["2"]} */

#include "tpm2.h"

/* The token for s, guarding keyslot. Returns a new string, NULL on ENOMEM. */
char *token_tpm2_format(const struct tpm2_sealed *s, int keyslot);

/* Parses a systemd-tpm2 token. -EMEDIUMTYPE when json is another kind of token; -EINVAL for a
 * malformed one. *ret_keyslot is the first key slot listed (-1 when none). Logs nothing. */
int token_tpm2_parse(const char *json, struct tpm2_sealed *ret, int *ret_keyslot);

/* {"type":"systemd-recovery","keyslots":["N"]}. */
char *token_recovery_format(int keyslot);
