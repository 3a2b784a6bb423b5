/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-verity.h"

#include "repart-uuid.h"

#include "base/log.h"
#include "base/util.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <unistd.h>

#define DIGESTS_PER_BLOCK (REPART_VERITY_BLOCK / REPART_VERITY_DIGEST)
#define MAX_LEVELS 63
#define READ_CHUNK (256u * REPART_VERITY_BLOCK)

int repart_verity_pair(const struct repart_definitions *defs, size_t *ret_partner) {
        for (size_t i = 0; i < defs->n; i++) {
                const struct repart_definition *d = &defs->items[i];
                if (ret_partner)
                        ret_partner[i] = SIZE_MAX;
                if (d->verity == REPART_VERITY_OFF)
                        continue;
                size_t partner = SIZE_MAX;
                for (size_t j = 0; j < defs->n; j++) {
                        const struct repart_definition *e = &defs->items[j];
                        if (j == i || e->verity == REPART_VERITY_OFF || !streq(e->verity_match_key, d->verity_match_key))
                                continue;
                        if (e->verity == d->verity)
                                return log_error_errno(EINVAL, "%s, %s: both Verity=%s with VerityMatchKey=%s", d->path,
                                                       e->path, repart_verity_to_string(d->verity), d->verity_match_key);
                        partner = j;
                }
                if (partner == SIZE_MAX)
                        return log_error_errno(EINVAL, "%s: Verity=%s with VerityMatchKey=%s has no Verity=%s partner",
                                               d->path, repart_verity_to_string(d->verity), d->verity_match_key,
                                               d->verity == REPART_VERITY_DATA ? "hash" : "data");
                if (ret_partner)
                        ret_partner[i] = partner;
        }
        return 0;
}

/* The number of hash blocks of each level, bottom (level 0, the digests of the data blocks)
 * first; a level of one block is the top. One data block: no level, the root hash is its digest. */
static unsigned tree_levels(uint64_t data_blocks, uint64_t size[MAX_LEVELS]) {
        unsigned n = 0;
        for (uint64_t count = data_blocks; count > 1 && n < MAX_LEVELS; n++) {
                count = (count + DIGESTS_PER_BLOCK - 1) / DIGESTS_PER_BLOCK;
                size[n] = count;
        }
        return n;
}

uint64_t repart_verity_hash_size(uint64_t data_size) {
        uint64_t size[MAX_LEVELS], blocks = 1;
        unsigned n = tree_levels(data_size / REPART_VERITY_BLOCK, size);
        for (unsigned i = 0; i < n; i++)
                blocks += size[i];
        return blocks * REPART_VERITY_BLOCK;
}

int repart_verity_salt(const uint8_t seed[16], uint8_t salt[REPART_VERITY_SALT], uint8_t uuid[16]) {
        static const char msg[] = "verity-salt";
        unsigned len = 0;
        if (!HMAC(EVP_sha256(), seed, 16, (const unsigned char *) msg, strlen(msg), salt, &len) ||
            len != REPART_VERITY_SALT)
                return -EIO;
        return repart_uuid_hmac(seed, 16, "verity-uuid", strlen("verity-uuid"), uuid);
}

/* digest = SHA-256(salt || block), from a context that has already taken the salt. */
static int digest_block(EVP_MD_CTX *salted, EVP_MD_CTX *ctx, const uint8_t *block, uint8_t *out) {
        unsigned len = 0;
        if (EVP_MD_CTX_copy_ex(ctx, salted) != 1 || EVP_DigestUpdate(ctx, block, REPART_VERITY_BLOCK) != 1 ||
            EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != REPART_VERITY_DIGEST)
                return -EIO;
        return 0;
}

static void put_le32(uint8_t *p, uint32_t v) {
        v = htole32(v);
        memcpy(p, &v, sizeof(v));
}

/* The 512-byte superblock of hash type 1 (spec 6.1), little-endian. */
static void superblock(const struct repart_verity_request *req, uint64_t data_blocks, uint8_t *sb) {
        memcpy(sb, "verity\0\0", 8);
        put_le32(sb + 8, 1);              /* version */
        put_le32(sb + 12, 1);             /* hash type: normal */
        memcpy(sb + 16, req->uuid, 16);
        memcpy(sb + 32, "sha256", 6);
        put_le32(sb + 64, REPART_VERITY_BLOCK);
        put_le32(sb + 68, REPART_VERITY_BLOCK);
        uint64_t blocks = htole64(data_blocks);
        memcpy(sb + 72, &blocks, sizeof(blocks));
        sb[80] = REPART_VERITY_SALT;        /* salt size, 16 bits */
        memcpy(sb + 88, req->salt, REPART_VERITY_SALT);
}

/* Level 0: the digest of every data block of the partition, read in chunks. */
static int hash_data(const struct repart_verity_request *req, EVP_MD_CTX *salted, EVP_MD_CTX *ctx,
                     uint64_t data_blocks, uint8_t *out) {
        _cleanup_free_ uint8_t *buf = malloc(READ_CHUNK);
        if (!buf)
                return -ENOMEM;
        for (uint64_t b = 0; b < data_blocks;) {
                uint64_t n = data_blocks - b < READ_CHUNK / REPART_VERITY_BLOCK ? data_blocks - b
                                                                                  : READ_CHUNK / REPART_VERITY_BLOCK;
                size_t bytes = (size_t) n * REPART_VERITY_BLOCK;
                ssize_t k = pread(req->fd, buf, bytes, (off_t) (req->data_offset + b * REPART_VERITY_BLOCK));
                if (k != (ssize_t) bytes)
                        return k < 0 ? -errno : -EIO;
                for (uint64_t i = 0; i < n; i++) {
                        int r = digest_block(salted, ctx, buf + i * REPART_VERITY_BLOCK,
                                             out + (b + i) * REPART_VERITY_DIGEST);
                        if (r < 0)
                                return r;
                }
                b += n;
        }
        return 0;
}

/* tree holds the hash area as written: superblock block, then the levels top first. */
static int build_tree(const struct repart_verity_request *req, EVP_MD_CTX *salted, EVP_MD_CTX *ctx, uint8_t *tree,
                      uint64_t data_blocks, const uint64_t *size, unsigned n, uint8_t *root) {
        uint64_t start[MAX_LEVELS], pos = 1;
        for (unsigned i = n; i-- > 0;) {
                start[i] = pos;
                pos += size[i];
        }
        superblock(req, data_blocks, tree);
        if (n == 0) {
                uint8_t block[REPART_VERITY_BLOCK];
                if (pread(req->fd, block, sizeof(block), (off_t) req->data_offset) != (ssize_t) sizeof(block))
                        return -EIO;
                return digest_block(salted, ctx, block, root);
        }
        int r = hash_data(req, salted, ctx, data_blocks, tree + start[0] * REPART_VERITY_BLOCK);
        for (unsigned i = 1; i < n && r >= 0; i++)
                for (uint64_t b = 0; b < size[i - 1] && r >= 0; b++)
                        r = digest_block(salted, ctx, tree + (start[i - 1] + b) * REPART_VERITY_BLOCK,
                                         tree + start[i] * REPART_VERITY_BLOCK + b * REPART_VERITY_DIGEST);
        if (r >= 0)
                r = digest_block(salted, ctx, tree + start[n - 1] * REPART_VERITY_BLOCK, root);
        return r;
}

int repart_verity_build(const struct repart_verity_request *req, uint8_t root_hash[REPART_VERITY_DIGEST]) {
        if (req->data_size % REPART_VERITY_BLOCK != 0 || req->data_size == 0)
                return log_error_errno(EINVAL, "%s: the data partition is not a multiple of %u bytes", req->what,
                                       REPART_VERITY_BLOCK);
        uint64_t need = repart_verity_hash_size(req->data_size);
        if (need > req->hash_size) {
                char a[16], b[16];
                return log_error_errno(EFBIG, "%s: the hash tree needs %s, the partition has %s", req->what,
                                       format_bytes(a, need), format_bytes(b, req->hash_size));
        }
        uint64_t size[MAX_LEVELS], data_blocks = req->data_size / REPART_VERITY_BLOCK;
        unsigned n = tree_levels(data_blocks, size);
        _cleanup_free_ uint8_t *tree = calloc(1, (size_t) need);
        EVP_MD_CTX *salted = EVP_MD_CTX_new(), *ctx = EVP_MD_CTX_new();
        int r = -ENOMEM;
        if (tree && salted && ctx) {
                r = EVP_DigestInit_ex(salted, EVP_sha256(), NULL) == 1 &&
                                    EVP_DigestUpdate(salted, req->salt, REPART_VERITY_SALT) == 1 ? 0 : -EIO;
                if (r >= 0)
                        r = build_tree(req, salted, ctx, tree, data_blocks, size, n, root_hash);
        }
        EVP_MD_CTX_free(salted);
        EVP_MD_CTX_free(ctx);
        if (r >= 0 && pwrite(req->fd, tree, (size_t) need, (off_t) req->hash_offset) != (ssize_t) need)
                r = -EIO;
        if (r < 0)
                return log_error_errno(r, "%s: cannot build the hash tree: %s", req->what, strerror(-r));
        return 0;
}
