/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recovery.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

static const char modhex[] = "cbdefghijklnrtuv";

static void put(char *ret, size_t i, char c) {
        /* letter i goes after i / 8 dashes */
        ret[i + i / 8] = c;
        if (i % 8 == 7 && i < 63)
                ret[i + i / 8 + 1] = '-';
}

int recovery_key_generate(char ret[static RECOVERY_KEY_LENGTH + 1]) {
        uint8_t b[32];
        if (RAND_bytes(b, sizeof(b)) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof(b); i++) {
                put(ret, 2 * i, modhex[b[i] >> 4]);
                put(ret, 2 * i + 1, modhex[b[i] & 0xf]);
        }
        ret[RECOVERY_KEY_LENGTH] = 0;
        OPENSSL_cleanse(b, sizeof(b));
        return 0;
}

int recovery_key_normalize(const char *s, char ret[static RECOVERY_KEY_LENGTH + 1]) {
        size_t n = 0;
        while (isspace((unsigned char) *s))
                s++;
        for (; *s && !isspace((unsigned char) *s); s++) {
                if (*s == '-')
                        continue;
                char c = (char) tolower((unsigned char) *s);
                if (!strchr(modhex, c) || n >= 64)
                        return -EINVAL;
                put(ret, n++, c);
        }
        while (isspace((unsigned char) *s))
                s++;
        if (n != 64 || *s)
                return -EINVAL;
        ret[RECOVERY_KEY_LENGTH] = 0;
        return 0;
}
