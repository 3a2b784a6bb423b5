/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manifest-cache.h"

#include "acquire.h"
#include "acquire-stage.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One URL fetched in this run: its content, or the error (-ENOENT) it gave. */
struct entry {
        char *url;
        char *data;
        size_t size;
        int error;
};

struct manifest_cache {
        char *dir;
        struct entry *entries;
        size_t n;
};

int manifest_cache_new(const char *dir, struct manifest_cache **ret) {
        struct manifest_cache *c = calloc(1, sizeof(*c));
        if (!c || (dir && !(c->dir = strdup(dir)))) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void manifest_cache_free(struct manifest_cache *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->entries[i].url);
                free(c->entries[i].data);
        }
        free(c->entries);
        free(c->dir);
        free(c);
}

static void sha256_hex(const void *p, size_t n, char ret[65]) {
        uint8_t d[32] = {};
        unsigned len = 0;
        (void) EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
        hex_format(d, 32, ret);
}

/* The kept copy: "ETAG\nLAST-MODIFIED\nSHA256-OF-BODY\n" then the body. */
static char *kept_path(const struct manifest_cache *c, const char *url) {
        char h[65];
        sha256_hex(url, strlen(url), h);
        return strprintf("%s/%s", c->dir, h);
}

static int kept_load(const struct manifest_cache *c, const char *url, size_t max, struct acquire_validators *v,
                     char **ret, size_t *ret_size) {
        _cleanup_free_ char *path = kept_path(c, url), *all = NULL;
        if (!path)
                return -ENOMEM;
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        size_t n = 0, cap = 0;
        int r = 0;
        for (;;) {
                if (n + 4096 + 1 > cap) {
                        cap = cap ? 2 * cap : 8192;
                        char *a = realloc(all, cap);
                        if (!a) {
                                r = -ENOMEM;
                                break;
                        }
                        all = a;
                }
                size_t k = fread(all + n, 1, 4096, f);
                n += k;
                if (k == 0 || n > max + 512)
                        break;
        }
        fclose(f);
        if (r < 0)
                return r;
        all[n] = 0;
        char *l1 = all, *l2 = l1 ? strchr(l1, '\n') : NULL, *l3 = l2 ? strchr(l2 + 1, '\n') : NULL,
             *body = l3 ? strchr(l3 + 1, '\n') : NULL;
        if (!body || body - l3 != 65 || (size_t) (l2 - l1) >= sizeof(v->etag) ||
            (size_t) (l3 - l2 - 1) >= sizeof(v->last_modified) || (size_t) (all + n - body - 1) > max)
                return -EBADMSG;
        body++;
        char want[65];
        sha256_hex(body, (size_t) (all + n - body), want);
        if (memcmp(want, l3 + 1, 64) != 0)
                return -EBADMSG;
        memcpy(v->etag, l1, (size_t) (l2 - l1));
        v->etag[l2 - l1] = 0;
        memcpy(v->last_modified, l2 + 1, (size_t) (l3 - l2 - 1));
        v->last_modified[l3 - l2 - 1] = 0;
        *ret_size = (size_t) (all + n - body);
        char *d = malloc(*ret_size + 1);
        if (!d)
                return -ENOMEM;
        memcpy(d, body, *ret_size);
        d[*ret_size] = 0;
        *ret = d;
        return 0;
}

/* Best effort: a cache that cannot be written only costs a full fetch next time. */
static void kept_store(const struct manifest_cache *c, const char *url, const struct acquire_validators *v,
                       const char *data, size_t size) {
        _cleanup_free_ char *path = kept_path(c, url), *tmp = path ? strprintf("%s.tmp", path) : NULL;
        char h[65];
        if (!tmp)
                return;
        if (!v->etag[0] && !v->last_modified[0]) {
                (void) unlink(path);
                return;
        }
        (void) mkdir_all(c->dir, 0755);
        FILE *f = fopen(tmp, "we");
        if (!f) {
                log_debug("%s: cannot keep a copy: %s", tmp, strerror(errno));
                return;
        }
        sha256_hex(data, size, h);
        fprintf(f, "%s\n%s\n%s\n", v->etag, v->last_modified, h);
        fwrite(data, 1, size, f);
        bool ok = fflush(f) == 0 && !ferror(f);
        if (fclose(f) != 0 || !ok || rename(tmp, path) < 0)
                (void) unlink(tmp);
}

static int fetch(struct manifest_cache *c, const char *url, size_t max, char **ret, size_t *ret_size) {
        if (!c->dir || !(startswith(url, "http://") || startswith(url, "https://")))
                return acquire_fetch_small(url, max, ret, ret_size);
        struct acquire_validators v = {};
        _cleanup_free_ char *kept = NULL;
        size_t kept_size = 0;
        int r = kept_load(c, url, max, &v, &kept, &kept_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                v = (struct acquire_validators) {};
        r = acquire_fetch_small_if_changed(url, max, &v, ret, ret_size);
        if (r > 0) {
                if (!kept)
                        return log_error_errno(EIO, "%s: the server answered 304 Not Modified to an unconditional request", url);
                log_debug("%s: not modified, using the copy from the last run", url);
                *ret = TAKE_PTR(kept);
                *ret_size = kept_size;
                return 0;
        }
        if (r >= 0)
                kept_store(c, url, &v, *ret, *ret_size);
        return r;
}

int manifest_cache_fetch(struct manifest_cache *c, const char *url, size_t max, char **ret, size_t *ret_size) {
        if (!c)
                return acquire_fetch_small(url, max, ret, ret_size);
        for (size_t i = 0; i < c->n; i++) {
                const struct entry *e = &c->entries[i];
                if (!streq(e->url, url))
                        continue;
                if (e->error < 0)
                        return e->error;
                if (e->size > max)
                        return log_error_errno(EFBIG, "%s: larger than %zu bytes, refusing", url, max);
                char *d = malloc(e->size + 1);
                if (!d)
                        return -ENOMEM;
                memcpy(d, e->data, e->size + 1);
                *ret = d;
                *ret_size = e->size;
                return 0;
        }
        char *data = NULL;
        size_t size = 0;
        int r = fetch(c, url, max, &data, &size);
        if (r < 0 && r != -ENOENT)
                return r; /* network failures are not remembered: a later transfer may retry */
        struct entry *l = realloc(c->entries, (c->n + 1) * sizeof(*l));
        char *u = strdup(url), *copy = r >= 0 ? malloc(size + 1) : NULL;
        if (!l || !u || (r >= 0 && !copy)) {
                if (l)
                        c->entries = l;
                free(u);
                free(copy);
                free(data);
                return -ENOMEM;
        }
        c->entries = l;
        if (copy)
                memcpy(copy, data, size + 1);
        c->entries[c->n++] = (struct entry) { .url = u, .data = copy, .size = size, .error = r < 0 ? r : 0 };
        if (r < 0)
                return r;
        *ret = data;
        *ret_size = size;
        return 0;
}

void manifest_cache_forget(struct manifest_cache *c, const char *url) {
        if (!c)
                return;
        _cleanup_free_ char *sig = strprintf("%s.gpg", url);
        for (size_t i = 0; i < c->n;) {
                struct entry *e = &c->entries[i];
                if (!streq(e->url, url) && !streq_ptr(e->url, sig)) {
                        i++;
                        continue;
                }
                free(e->url);
                free(e->data);
                *e = c->entries[--c->n];
        }
        for (const char *u = url; c->dir && u; u = u == url ? sig : NULL) {
                _cleanup_free_ char *path = kept_path(c, u);
                if (path)
                        (void) unlink(path);
        }
}
