/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Before anything is removed to make room, every payload of the new version is asked for once:
 * a HEAD request (or, for servers that refuse HEAD, a GET of its first byte), or a stat() of a
 * local file. Nothing is downloaded; the answer is "there, N bytes" or why not. */
#include "acquire.h"
#include "acquire-stage.h"
#include "netconf.h"

#include "base/log.h"
#include "base/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define PROBE_ATTEMPTS 3

static int probe_local(const char *path, uint64_t *ret_size) {
        struct stat st;
        if (stat(path, &st) < 0)
                return errno == ENOENT ? log_error_errno(ENOENT, "%s: not found", path)
                                       : log_error_errno(errno, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EISDIR, "%s: not a regular file", path);
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

/* Content-Range: bytes 0-0/SIZE of the one-byte GET. */
static size_t probe_header(char *buf, size_t size, size_t n, void *userdata) {
        uint64_t *total = userdata;
        size_t len = size * n;
        if (len > 14 && strncasecmp(buf, "Content-Range:", 14) == 0) {
                const char *slash = memchr(buf, '/', len);
                uint64_t v;
                char num[32] = {};
                if (slash) {
                        size_t l = 0;
                        for (const char *p = slash + 1; p < buf + len && l < sizeof(num) - 1 && *p >= '0' && *p <= '9'; p++)
                                num[l++] = *p;
                        if (parse_uint64(num, 10, &v) >= 0)
                                *total = v;
                }
        }
        return len;
}

static size_t probe_discard(char *buf, size_t size, size_t n, void *userdata) {
        (void) buf, (void) userdata;
        return size * n;
}

/* One request; *ret_status is the HTTP status (0 for file://). */
static CURLcode probe_once(CURL *curl, const char *url, bool head, long *ret_status, uint64_t *ret_size) {
        uint64_t range_total = UINT64_MAX;
        curl_easy_reset(curl);
        if (acquire_curl_setup(curl, url, "http,https,file") < 0)
                return CURLE_UNSUPPORTED_PROTOCOL;
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) acquire_connect_timeout());
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) acquire_stall_timeout());
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, probe_discard);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, probe_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &range_total);
        if (head)
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        else
                curl_easy_setopt(curl, CURLOPT_RANGE, "0-0");
        CURLcode c = curl_easy_perform(curl);
        *ret_status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
        curl_off_t length = -1;
        curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        *ret_size = range_total != UINT64_MAX ? range_total
                  : (*ret_status == 200 || *ret_status == 0) && length >= 0 ? (uint64_t) length : UINT64_MAX;
        return c;
}

int acquire_probe(const char *url, uint64_t *ret_size) {
        if (path_is_absolute(url))
                return probe_local(url, ret_size);
        if (!startswith(url, "http://") && !startswith(url, "https://") && !startswith(url, "file://"))
                return log_error_errno(EPROTONOSUPPORT, "%s: unsupported URL (http://, https://, file:// or an absolute path)", url);

        CURL *curl = curl_easy_init();
        if (!curl)
                return -ENOMEM;
        int r = -EIO;
        for (unsigned attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
                long status = 0;
                uint64_t size = UINT64_MAX;
                CURLcode c = probe_once(curl, url, true, &status, &size);
                /* servers that do not implement HEAD: ask for the first byte instead */
                if (c == CURLE_OK && (status == 405 || status == 501))
                        c = probe_once(curl, url, false, &status, &size);
                if (c == CURLE_OK && (status == 404 || status == 410)) {
                        r = log_error_errno(ENOENT, "%s: not found (HTTP %ld)", url, status);
                        break;
                }
                if (c == CURLE_FILE_COULDNT_READ_FILE) {
                        r = log_error_errno(ENOENT, "%s: not found", url);
                        break;
                }
                if (c == CURLE_OK && (status == 0 || (status >= 200 && status < 300))) {
                        *ret_size = size;
                        r = 0;
                        break;
                }
                bool transient = c != CURLE_OK || status >= 500 || status == 408 || status == 429;
                if (c == CURLE_UNSUPPORTED_PROTOCOL || !transient || attempt == PROBE_ATTEMPTS) {
                        /* a network or server failure is temporary, a TLS refusal is not */
                        bool tls = c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CONNECT_ERROR ||
                                   c == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
                        int e = c == CURLE_UNSUPPORTED_PROTOCOL || tls ? EIO : c != CURLE_OK ? EHOSTUNREACH
                                : transient ? EREMOTEIO : EIO;
                        _cleanup_free_ char *proxy = netconf_proxy_for_url(url);
                        const char *via = proxy ? " via proxy " : "", *p = proxy ? proxy : "";
                        r = c != CURLE_OK ? log_error_errno(e, "%s: cannot be reached%s%s: %s", url, via, p, curl_easy_strerror(c))
                                          : log_error_errno(e, "%s: the server answers HTTP %ld%s%s", url, status, via, p);
                        break;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 500 * 1000 * 1000L }, NULL);
        }
        curl_easy_cleanup(curl);
        return r;
}
