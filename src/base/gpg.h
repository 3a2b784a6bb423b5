/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Detached OpenPGP signatures of SHA256SUMS (spec sysupdate.md 9), by the external gpg/gpgv tools
 * as systemd-pull does. */

#include <stddef.h>

/* The keyring to verify with, first existing of root/etc/systemd/import-pubring.pgp,
 * root/etc/systemd/import-pubring.gpg, else root/usr/lib/systemd/import-pubring.pgp (and the
 * older root/usr/lib/systemd/import-pubring.gpg). -ENOENT when none exists. */
int gpg_find_keyring(const char *root, char **ret);

/* Verify sig over data with gpgv against keyring. -EBADMSG when the signature is bad or made by
 * an unknown key; logs "URL: signature verification failed: reason". */
int gpg_verify(const char *keyring, const char *data, size_t size, const char *sig, size_t sig_size,
               const char *url);
/* The same, but a bad signature is not logged: -EBADMSG with that line (without "abota: ") in
 * *ret_reason, for a caller that may try again. Other failures are logged as by gpg_verify(). */
int gpg_check(const char *keyring, const char *data, size_t size, const char *sig, size_t sig_size,
              const char *url, char **ret_reason);

/* Create a detached binary signature of file at sigfile with gpg (key_id may be NULL for the
 * default key; homedir may be NULL for gpg's default). */
int gpg_sign_detached(const char *homedir, const char *key_id, const char *file, const char *sigfile);
