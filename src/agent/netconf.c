/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netconf.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static const char *getenv_nonempty(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

/* An IPv4 or IPv6 address into 16 bytes; its bit length, or 0 when s is not one. */
static unsigned ip_parse(const char *s, size_t n, uint8_t ret[16]) {
        char buf[INET6_ADDRSTRLEN];
        if (n >= sizeof(buf))
                return 0;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (inet_pton(AF_INET, buf, ret) == 1)
                return 32;
        return inet_pton(AF_INET6, buf, ret) == 1 ? 128 : 0;
}

static bool no_proxy_token_matches(const char *host, size_t hl, unsigned host_bits, const uint8_t addr[16],
                                   const char *t, size_t tl) {
        if (host_bits) {
                /* an address, or a range ADDRESS/BITS */
                const char *slash = memchr(t, '/', tl);
                uint8_t net[16];
                unsigned bits = ip_parse(t, slash ? (size_t) (slash - t) : tl, net), prefix = bits;
                if (bits != host_bits)
                        return false;
                if (slash) {
                        char num[4] = "";
                        size_t nl = tl - (size_t) (slash - t) - 1;
                        uint64_t v;
                        if (nl == 0 || nl >= sizeof(num))
                                return false;
                        memcpy(num, slash + 1, nl);
                        if (parse_uint64(num, 10, &v) < 0 || v > bits)
                                return false;
                        prefix = (unsigned) v;
                }
                for (unsigned i = 0; i < prefix; i++) {
                        unsigned mask = 0x80u >> (i % 8);
                        if ((addr[i / 8] & mask) != (net[i / 8] & mask))
                                return false;
                }
                return true;
        }
        if (tl > 0 && t[0] == '.') {
                t++;
                tl--;
        }
        if (tl == 0 || tl > hl || strncasecmp(host + hl - tl, t, tl) != 0)
                return false;
        return tl == hl || host[hl - tl - 1] == '.';
}

static bool no_proxy_matches(const char *host, const char *list) {
        if (!list)
                return false;
        if (streq(list, "*"))
                return true;
        size_t hl = strlen(host);
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
                host++;
                hl -= 2;
        }
        if (hl > 0 && host[hl - 1] == '.')
                hl--;
        uint8_t addr[16];
        unsigned bits = ip_parse(host, hl, addr);
        for (const char *t = list; *t;) {
                t += strspn(t, ", \t");
                size_t tl = strcspn(t, ", \t");
                if (tl > 0 && no_proxy_token_matches(host, hl, bits, addr, t, tl))
                        return true;
                t += tl;
        }
        return false;
}

char *netconf_proxy_for_url(const char *url) {
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *ret = NULL;
        if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
                goto finish;

        const char *np = getenv_nonempty("no_proxy");
        if (!np)
                np = getenv_nonempty("NO_PROXY");
        if (no_proxy_matches(host, np))
                goto finish;

        char name[32];
        const char *proxy = NULL;
        if (strlen(scheme) < sizeof(name) - strlen("_proxy")) {
                snprintf(name, sizeof(name), "%s_proxy", scheme);
                for (char *c = name; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
                proxy = getenv_nonempty(name);
                if (!proxy && !streq(name, "http_proxy")) {
                        for (char *c = name; *c; c++)
                                *c = (char) toupper((unsigned char) *c);
                        proxy = getenv_nonempty(name);
                }
        }
        if (!proxy)
                proxy = getenv_nonempty("all_proxy");
        if (!proxy)
                proxy = getenv_nonempty("ALL_PROXY");
        if (proxy)
                ret = strstr(proxy, "://") ? strdup(proxy) : strprintf("http://%s", proxy);
finish:
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(u);
        return ret;
}
