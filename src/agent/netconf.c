/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netconf.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct server {
        char *url; /* NULL for [Network] */
        struct netconf_settings s;
};

struct parse_state {
        struct server *servers; /* [0] is [Network] */
        size_t n;
};

static int set_path(const char *file, unsigned line, const char *key, const char *value, char **p) {
        if (!path_is_absolute(value) || !path_is_normalized(value))
                return log_error_errno(EINVAL, "%s:%u: %s=%s: expected an absolute path", file, line, key, value);
        if (access(value, R_OK) < 0)
                return log_error_errno(errno, "%s:%u: %s=%s: %s", file, line, key, value, strerror(errno));
        char *c = strdup(value);
        if (!c)
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

static int set_pin(const char *file, unsigned line, const char *value, char **p) {
        if (!startswith(value, "sha256//"))
                return set_path(file, line, "PinnedPublicKey", value, p);
        /* sha256//BASE64 of the DER public key, ';'-separated: libcurl's own syntax */
        for (const char *k = value; *k;) {
                const char *end = strchrnul(k, ';');
                const char *b64 = startswith(k, "sha256//");
                if (!b64 || end - b64 != 44 || b64[43] != '=')
                        return log_error_errno(EINVAL, "%s:%u: PinnedPublicKey=%s: expected sha256//BASE64 (44 characters) "
                                               "hashes separated by ';', or a public key file", file, line, value);
                k = *end ? end + 1 : end;
        }
        char *c = strdup(value);
        if (!c)
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

static int assign(const char *file, unsigned line, const char *section, const char *key, const char *value,
                  void *userdata) {
        struct parse_state *st = userdata;
        struct server *sv;
        if (streq(section, "Network"))
                sv = &st->servers[0];
        else if (streq(section, "Server")) {
                if (streq(key, "URL")) {
                        if (!startswith(value, "https://") && !startswith(value, "http://"))
                                return log_error_errno(EINVAL, "%s:%u: URL=%s: expected an http:// or https:// URL", file,
                                                       line, value);
                        struct server *n = realloc(st->servers, (st->n + 1) * sizeof(*n));
                        if (!n)
                                return -ENOMEM;
                        st->servers = n;
                        st->servers[st->n] = (struct server) { .url = strdup(value) };
                        if (!st->servers[st->n++].url)
                                return -ENOMEM;
                        return 0;
                }
                if (st->n < 2)
                        return log_error_errno(EINVAL, "%s:%u: %s= in [Server] before its URL=", file, line, key);
                sv = &st->servers[st->n - 1];
                /* the parser does not report section headers: a second value means a [Server]
                 * section that lacks its own URL= */
                if ((streq(key, "CAFile") && sv->s.ca_file) || (streq(key, "PinnedPublicKey") && sv->s.pinned_public_key))
                        return log_error_errno(EINVAL, "%s:%u: %s= given twice for URL=%s (each [Server] starts with URL=)",
                                               file, line, key, sv->url);
        } else
                return log_error_errno(EINVAL, "%s:%u: unknown section [%s] (expected [Network] or [Server])", file, line,
                                       section);
        if (streq(key, "CAFile"))
                return set_path(file, line, key, value, &sv->s.ca_file);
        if (streq(key, "PinnedPublicKey"))
                return set_pin(file, line, value, &sv->s.pinned_public_key);
        return log_error_errno(EINVAL, "%s:%u: unknown key %s= in [%s]", file, line, key, section);
}

void netconf_settings_done(struct netconf_settings *s) {
        free(s->ca_file);
        free(s->pinned_public_key);
        *s = (struct netconf_settings) {};
}

static char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

int netconf_for_url(const char *url, struct netconf_settings *ret) {
        const char *path = getenv("ABOTA_CONFIG");
        if (isempty(path))
                path = NETCONF_PATH;
        *ret = (struct netconf_settings) {};
        if (access(path, F_OK) < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "%s: %s", path, strerror(errno));

        struct parse_state st = { .servers = calloc(1, sizeof(struct server)), .n = 1 };
        if (!st.servers)
                return -ENOMEM;
        int r = conf_parse_file(path, assign, &st);
        if (r >= 0) {
                /* the server with the longest matching URL, over the [Network] defaults */
                const struct server *best = NULL;
                for (size_t i = 1; i < st.n; i++)
                        if (startswith(url, st.servers[i].url) &&
                            (!best || strlen(st.servers[i].url) > strlen(best->url)))
                                best = &st.servers[i];
                const struct netconf_settings *d = &st.servers[0].s, *b = best ? &best->s : d;
                ret->ca_file = strdup_or_null(b->ca_file ? b->ca_file : d->ca_file);
                ret->pinned_public_key = strdup_or_null(b->pinned_public_key ? b->pinned_public_key : d->pinned_public_key);
                if ((!ret->ca_file && (b->ca_file || d->ca_file)) ||
                    (!ret->pinned_public_key && (b->pinned_public_key || d->pinned_public_key)))
                        r = -ENOMEM;
        }
        for (size_t i = 0; i < st.n; i++) {
                free(st.servers[i].url);
                netconf_settings_done(&st.servers[i].s);
        }
        free(st.servers);
        if (r < 0)
                netconf_settings_done(ret);
        return r < 0 ? r : 0;
}

int netconf_apply(CURL *curl, const struct netconf_settings *s) {
        if (s->ca_file && curl_easy_setopt(curl, CURLOPT_CAINFO, s->ca_file) != CURLE_OK)
                return log_error_errno(EINVAL, "CAFile=%s: not supported by libcurl", s->ca_file);
        if (s->pinned_public_key && curl_easy_setopt(curl, CURLOPT_PINNEDPUBLICKEY, s->pinned_public_key) != CURLE_OK)
                return log_error_errno(EINVAL, "PinnedPublicKey=%s: not supported by libcurl", s->pinned_public_key);
        return 0;
}
