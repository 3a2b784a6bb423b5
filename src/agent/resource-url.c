/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* url-file sources: the versions a server offers, from its SHA256SUMS (spec sysupdate.md 5.4, 9).
 * The manifest is the unit of trust: with Verify=yes it is only used after its detached
 * signature checked out; every payload is later checked against the hash listed here. */
#include "resource-url.h"

#include "acquire.h"
#include "acquire-blocks.h"
#include "acquire-patch.h"
#include "manifest-cache.h"
#include "resource.h"
#include "base/gpg.h"
#include "base/log.h"
#include "sysupdate/manifest.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#define SIGNATURE_SIZE_MAX (64u * 1024)
#define SIGNATURE_RETRY_MS 1000u

static char *url_append(const char *base, const char *name) {
        size_t l = strlen(base);
        return strprintf("%s%s%s", base, l > 0 && base[l - 1] == '/' ? "" : "/", name);
}

/* -EBADMSG with *ret_reason set when the signature is missing or does not match data. */
static int check_signature(struct manifest_cache *cache, const char *url, const char *data, size_t size,
                           const char *keyring, char **ret_reason) {
        _cleanup_free_ char *sig_url = strprintf("%s.gpg", url), *sig = NULL;
        size_t sig_size = 0;
        if (!sig_url)
                return -ENOMEM;
        int r = manifest_cache_fetch(cache, sig_url, SIGNATURE_SIZE_MAX, &sig, &sig_size);
        if (r == -ENOENT) {
                *ret_reason = strprintf("%s: signature missing, refusing the unsigned manifest (Verify=yes)", sig_url);
                return *ret_reason ? -EBADMSG : -ENOMEM;
        }
        if (r < 0)
                return r;
        return gpg_check(keyring, data, size, sig, sig_size, url, ret_reason);
}

/* The manifest, with Verify=yes only once its signature checked out. `abota publish` (like any
 * server that renames the two files into place one after the other) has a moment in which a
 * client gets a manifest and a signature that do not belong together: a bad pair is fetched
 * once more, after a short wait, before it is refused. */
static int fetch_manifest(struct manifest_cache *cache, const char *url, bool verify, const char *root, char **ret,
                          size_t *ret_size) {
        _cleanup_free_ char *keyring = NULL;
        if (verify) {
                int r = gpg_find_keyring(root, &keyring);
                if (r == -ENOENT)
                        return log_error_errno(r, "%s: Verify=yes, but no keyring found (%s/etc/systemd/import-pubring.pgp)",
                                               url, root ? root : "");
                if (r < 0)
                        return r;
        }
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_free_ char *data = NULL, *reason = NULL;
                size_t size = 0;
                int r = manifest_cache_fetch(cache, url, MANIFEST_SIZE_MAX, &data, &size);
                if (r == -ENOENT)
                        return log_error_errno(r, "%s: not found; the server must list its files in SHA256SUMS (check Path=)",
                                               url);
                if (r < 0)
                        return r;
                r = verify ? check_signature(cache, url, data, size, keyring, &reason) : 0;
                if (r >= 0) {
                        *ret = TAKE_PTR(data);
                        *ret_size = size;
                        return 0;
                }
                if (r != -EBADMSG || !reason)
                        return r;
                if (attempt > 0)
                        return log_error_errno(r, "%s", reason);
                log_info("%s; fetching both again in %u ms, the server may be publishing", reason, SIGNATURE_RETRY_MS);
                sleep_ms(SIGNATURE_RETRY_MS);
                manifest_cache_forget(cache, url);
        }
}

static int add_entries(struct resource *r, const struct resource_config *c, const struct manifest *m,
                       const char *url) {
        for (size_t i = 0; i < m->n_entries; i++) {
                const struct manifest_entry *e = &m->entries[i];
                struct instance_metadata md;
                instance_metadata_init(&md);
                int k = pattern_match_many(c->patterns, c->n_patterns, e->name, &md);
                if (k != PATTERN_YES) {
                        instance_metadata_done(&md);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (md.has_sha256 && memcmp(md.sha256, e->sha256, 32) != 0) {
                        instance_metadata_done(&md);
                        return log_error_errno(EBADMSG, "%s: %s: the hash in the name differs from the listed one, rejecting the manifest",
                                               url, e->name);
                }
                md.has_sha256 = true;
                memcpy(md.sha256, e->sha256, 32);
                _cleanup_free_ char *path = url_append(r->path, e->name);
                k = path ? resource_add_instance(r, e->name, path, &md) : -ENOMEM;
                instance_metadata_done(&md);
                if (k < 0)
                        return k;
        }
        int k = acquire_patch_attach(r, m);
        return k < 0 ? k : acquire_blocks_attach(r, m);
}

static int resolve(const struct transfer *t, const struct resource_config *c, bool target,
                   const struct resource_context *ctx, char **ret) {
        (void) t;
        (void) target;
        (void) ctx;
        *ret = strdup(c->path);
        return *ret ? 0 : -ENOMEM;
}

static int load(struct resource *r, const struct transfer *t, const struct resource_config *c,
                const struct resource_context *ctx) {
        bool verify = ctx->verify >= 0 ? ctx->verify : t->verify;
        const char *root = ctx->root;
        _cleanup_free_ char *url = url_append(r->path, "SHA256SUMS"), *data = NULL, *reason = NULL;
        size_t size = 0;
        if (!url)
                return -ENOMEM;

        int k = fetch_manifest(ctx->manifest_cache, url, verify, root, &data, &size);
        if (k < 0)
                return k;

        struct manifest *m = NULL;
        k = manifest_parse(data, size, &m, &reason);
        if (k < 0)
                return log_error_errno(k, "%s: %s", url, reason ? reason : "invalid manifest");
        k = manifest_check_fresh(m, time(NULL));
        if (k == -ESTALE)
                log_error_errno(k, "%s: best-before marker indicates an out-of-date file list", url);
        else if (k >= 0)
                k = add_entries(r, c, m, url);
        manifest_free(m);
        return k;
}

const struct resource_kind resource_kind_url_file = {
        .type = RESOURCE_URL_FILE,
        .resolve = resolve,
        .load = load,
};

/* Type=url-tar: the same listing; each payload is a tar archive, unpacked by the target. */
const struct resource_kind resource_kind_url_tar = {
        .type = RESOURCE_URL_TAR,
        .resolve = resolve,
        .load = load,
};
