/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-encrypt.h"

#include "repart-uuid.h"

#include "base/log.h"
#include "base/util.h"
#include "crypt/luks.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static bool uses_key_file(enum repart_encrypt e) {
        return e == REPART_ENCRYPT_KEY_FILE || e == REPART_ENCRYPT_KEY_FILE_TPM2;
}

static bool uses_tpm2(enum repart_encrypt e) {
        return e == REPART_ENCRYPT_TPM2 || e == REPART_ENCRYPT_KEY_FILE_TPM2;
}

int repart_encrypt_check(const struct repart_definitions *defs, const char *key_file) {
        for (size_t i = 0; i < defs->n; i++) {
                const struct repart_definition *d = &defs->items[i];
                if (uses_key_file(d->encrypt) && !key_file)
                        return log_error_errno(EINVAL, "%s: Encrypt=%s needs --key-file=", d->path,
                                               repart_encrypt_to_string(d->encrypt));
        }
        return 0;
}

uint64_t repart_encrypt_overhead(const struct repart_definition *d) {
        return d->encrypt == REPART_ENCRYPT_OFF ? 0 : LUKS_DATA_OFFSET;
}

int repart_encrypt_build(struct repart_encrypt_request *req, uint64_t size, const char *output) {
        const struct repart_definition *d = req->def;
        if (size <= LUKS_DATA_OFFSET)
                return log_error_errno(EFBIG, "%s: too small for a LUKS2 header", d->path);
        _cleanup_free_ char *fs = strprintf("%s.fs", output);
        if (!fs)
                return -ENOMEM;
        const char *payload = req->payload;
        int r;
        if (!payload && d->format != REPART_FORMAT_NONE) {
                uint64_t got;
                req->fs.size = size - LUKS_DATA_OFFSET;
                r = repart_format_build(&req->fs, fs, &got);
                if (r < 0)
                        return r;
                payload = fs;
        }

        uint8_t uuid[16];
        r = repart_uuid_hmac(req->partition_uuid, 16, "luks-uuid", strlen("luks-uuid"), uuid);
        if (r >= 0) {
                struct luks_keys k = {
                        .key_file = uses_key_file(d->encrypt) ? req->key_file : NULL,
                        .tpm2 = uses_tpm2(d->encrypt),
                        .tpm2_device = req->tpm2_device,
                        .tpm2_pcrs = req->tpm2_pcrs,
                };
                r = luks_format_image(d->file_name, output, size, payload, uuid, req->label, &k);
        }
        (void) unlink(fs);
        if (r < 0)
                (void) unlink(output);
        return r;
}
