/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Near-free checks: each server's manifest and signature are fetched once per run, and, with a
 * cache directory, asked for conditionally (If-None-Match/If-Modified-Since with the ETag and
 * Last-Modified of the copy kept from the last run), so a server with nothing new answers 304
 * and sends no body. A kept copy is only used whole: it carries its own SHA-256, and one that
 * does not match is dropped and the file fetched again. The manifest is then checked (signature,
 * parser) exactly as a fresh download is. */

#include <stddef.h>

/* Below the --root directory (or /). */
#define MANIFEST_CACHE_DIR "/var/cache/abota/manifests"

struct manifest_cache;

/* dir: where copies are kept across runs (created when missing), NULL = within the run only. */
int manifest_cache_new(const char *dir, struct manifest_cache **ret);
void manifest_cache_free(struct manifest_cache *c);

/* acquire_fetch_small() through the cache (c may be NULL: no cache); *ret is the caller's. */
int manifest_cache_fetch(struct manifest_cache *c, const char *url, size_t max, char **ret, size_t *ret_size);

/* Drops what is known of url and of its signature url.gpg (a pair that did not match), in memory
 * and kept: the next manifest_cache_fetch() of them asks the server unconditionally. */
void manifest_cache_forget(struct manifest_cache *c, const char *url);
