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

int repart_encrypt_check(struct context *c) {
        for (size_t i = 0; i < c->defs.n; i++) {
                const struct repart_definition *d = &c->defs.items[i];
                if (uses_key_file(d->encrypt) && !c->o->key_file)
                        return log_error_errno(EINVAL, "%s: Encrypt=%s needs --key-file=", d->path,
                                               repart_encrypt_to_string(d->encrypt));
        }
        return 0;
}

uint64_t repart_encrypt_overhead(const struct repart_definition *d) {
        return d->encrypt == REPART_ENCRYPT_OFF ? 0 : LUKS_DATA_OFFSET;
}

int repart_encrypt_build(struct context *c, size_t i, uint64_t size, char **ret) {
        struct part *p = &c->parts[i];
        const struct repart_definition *d = p->def;
        if (size <= LUKS_DATA_OFFSET)
                return log_error_errno(EFBIG, "%s: too small for a LUKS2 header", d->path);
        int r = repart_ensure_workdir(c);
        if (r < 0)
                return r;
        _cleanup_free_ char *out = strprintf("%s/part-%zu.luks", c->workdir, i);
        _cleanup_free_ char *fs = strprintf("%s/part-%zu.fs", c->workdir, i);
        if (!out || !fs)
                return -ENOMEM;

        const char *payload = d->copy_blocks ?: p->prebuilt;
        if (!payload && d->format != REPART_FORMAT_NONE) {
                struct repart_format_request req;
                uint64_t got;
                r = repart_fs_request(c, p, size - LUKS_DATA_OFFSET, &req);
                if (r >= 0)
                        r = repart_format_build(&req, fs, &got);
                if (r < 0)
                        return r;
                payload = fs;
        }

        uint8_t uuid[16];
        r = repart_uuid_hmac(p->entry.uuid, 16, "luks-uuid", strlen("luks-uuid"), uuid);
        if (r < 0)
                return r;
        struct luks_keys k = {
                .key_file = uses_key_file(d->encrypt) ? c->o->key_file : NULL,
                .tpm2 = uses_tpm2(d->encrypt),
                .tpm2_device = c->o->tpm2_device,
                .tpm2_pcrs = c->o->tpm2_pcrs,
        };
        r = luks_format_image(d->file_name, out, size, payload, uuid, p->label, &k);
        (void) unlink(fs);
        if (r < 0) {
                (void) unlink(out);
                return r;
        }
        *ret = out;
        out = NULL;
        return 0;
}
