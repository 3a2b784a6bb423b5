/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stage: SHA-256 of the bytes exactly as downloaded (spec sysupdate.md 9: the manifest names the
 * hash of the file on the server, before decompression). */
#include "acquire-stage.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct acquire_hash {
        struct acquire_stage stage;
        const char *name;
        EVP_MD_CTX *ctx;
        bool check;
        uint8_t expected[32];
        uint8_t digest[32];
};

static int hash_push(struct acquire_stage *s, const void *data, size_t n) {
        struct acquire_hash *h = (struct acquire_hash *) s;
        if (n > 0 && EVP_DigestUpdate(h->ctx, data, n) != 1)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", h->name);
        return acquire_stage_push(s->next, data, n);
}

static int hash_finish(struct acquire_stage *s) {
        struct acquire_hash *h = (struct acquire_hash *) s;
        unsigned len = 0;
        if (EVP_DigestFinal_ex(h->ctx, h->digest, &len) != 1 || len != sizeof(h->digest))
                return log_error_errno(EIO, "%s: SHA-256 computation failed", h->name);
        /* Checked before the later stages finish, so a tampered download is reported as such and
         * not as whatever the decompressor makes of it. */
        if (h->check && memcmp(h->digest, h->expected, sizeof(h->digest)) != 0) {
                char want[65], got[65];
                hex_format(h->expected, sizeof(h->expected), want);
                hex_format(h->digest, sizeof(h->digest), got);
                return log_error_errno(EBADMSG, "%s: checksum mismatch, expected SHA-256 %s, got %s "
                                       "(download invalid, tampered with?)", h->name, want, got);
        }
        return acquire_stage_finish(s->next);
}

int acquire_hash_new(const char *name, const uint8_t *expected, struct acquire_stage *next,
                     struct acquire_hash **ret) {
        struct acquire_hash *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->stage = (struct acquire_stage) { .push = hash_push, .finish = hash_finish, .next = next };
        h->name = name;
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
                acquire_hash_free(h);
                return -ENOMEM;
        }
        if (expected) {
                h->check = true;
                memcpy(h->expected, expected, sizeof(h->expected));
        }
        *ret = h;
        return 0;
}

int acquire_hash_update(struct acquire_hash *h, const void *data, size_t n) {
        if (n > 0 && EVP_DigestUpdate(h->ctx, data, n) != 1)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", h->name);
        return 0;
}

int acquire_hash_peek(struct acquire_hash *h, uint8_t ret[32]) {
        EVP_MD_CTX *copy = EVP_MD_CTX_new();
        unsigned len = 0;
        int r = copy && EVP_MD_CTX_copy_ex(copy, h->ctx) == 1 && EVP_DigestFinal_ex(copy, ret, &len) == 1 &&
                len == 32 ? 0 : log_error_errno(EIO, "%s: SHA-256 computation failed", h->name);
        EVP_MD_CTX_free(copy);
        return r;
}

int acquire_hash_reset(struct acquire_hash *h) {
        return EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
}

struct acquire_stage *acquire_hash_stage(struct acquire_hash *h) {
        return &h->stage;
}

const uint8_t *acquire_hash_digest(const struct acquire_hash *h) {
        return h->digest;
}

void acquire_hash_free(struct acquire_hash *h) {
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}
