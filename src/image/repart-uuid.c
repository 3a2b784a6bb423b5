/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-uuid.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

int repart_uuid_hmac(const uint8_t *key, size_t key_size, const void *msg, size_t msg_size,
                     uint8_t ret[16]) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (!HMAC(EVP_sha256(), key, (int) key_size, msg, msg_size, md, &md_len) || md_len < 16)
                return -EIO;
        memcpy(ret, md, 16);
        ret[6] = (ret[6] & 0x0F) | 0x40;
        ret[8] = (ret[8] & 0x3F) | 0x80;
        return 0;
}

int repart_uuid_disk(const uint8_t seed[16], uint8_t ret[16]) {
        static const char msg[] = "disk-uuid";
        return repart_uuid_hmac(seed, 16, msg, strlen(msg), ret);
}

int repart_uuid_partition(const uint8_t seed[16], const uint8_t type[16], uint64_t k, uint8_t ret[16]) {
        uint8_t msg[24];
        memcpy(msg, type, 16);
        if (k == 0)
                return repart_uuid_hmac(seed, 16, msg, 16, ret);
        for (unsigned i = 0; i < 8; i++)
                msg[16 + i] = (uint8_t) (k >> (8 * i));
        return repart_uuid_hmac(seed, 16, msg, sizeof(msg), ret);
}

int repart_uuid_filesystem(const uint8_t partition_uuid[16], uint8_t ret[16]) {
        static const char msg[] = "file-system-uuid";
        return repart_uuid_hmac(partition_uuid, 16, msg, strlen(msg), ret);
}
