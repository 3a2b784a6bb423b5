/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Recovery keys as systemd-cryptenroll --recovery-key makes them: 32 random bytes in YubiKey
 * "modhex" (the 16 letters cbdefghijklnrtuv for the nibbles 0-f, high nibble first), in eight
 * dash-separated groups of eight letters. The string itself is the LUKS2 passphrase. */

#include <stddef.h>

#define RECOVERY_KEY_LENGTH (8 * 8 + 7)

/* A new random recovery key (RECOVERY_KEY_LENGTH characters and a NUL). */
int recovery_key_generate(char ret[static RECOVERY_KEY_LENGTH + 1]);

/* The canonical form of a typed key: any case, with or without dashes, blanks around it
 * ignored. -EINVAL when it is not 64 modhex letters. */
int recovery_key_normalize(const char *s, char ret[static RECOVERY_KEY_LENGTH + 1]);
