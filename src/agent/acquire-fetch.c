/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Source of the acquire pipeline: local paths and file:// URLs are read directly, http:// and
 * https:// through libcurl with a write callback that pushes into the next stage, so nothing is
 * ever buffered whole. Connection errors, stalls and 5xx answers are retried a bounded number of
 * times with backoff, continuing where the transfer stopped; 404 never is. A server that sends
 * too little (below a minimum rate, as systemd-importd: 30 bytes/s over 60 s) or takes longer
 * than an overall deadline is given up on, so nobody can hold `update` and its lock forever. */
#include "acquire-stage.h"
#include "base/log.h"
#include "netconf.h"
#include "base/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_DEFAULT 30U
#define STALL_TIMEOUT_DEFAULT 60U
#define LOW_SPEED_LIMIT_DEFAULT 30U      /* bytes/s ... */
#define LOW_SPEED_TIME_DEFAULT 60U       /* ... averaged over this many seconds */
#define TRANSFER_TIMEOUT_DEFAULT (6U * 3600) /* one download, all its retries included */

static unsigned uint_from_env(const char *name, unsigned def, const char *unit) {
        const char *e = getenv(name);
        uint64_t v;
        if (isempty(e))
                return def;
        if (parse_uint64(e, 10, &v) < 0 || v == 0 || v > 24 * 3600) {
                log_warning("$%s=%s is not a number of %s (1..86400), using %u", name, e, unit, def);
                return def;
        }
        return (unsigned) v;
}

static unsigned timeout_from_env(const char *name, unsigned def) {
        return uint_from_env(name, def, "seconds");
}

unsigned acquire_connect_timeout(void) {
        return timeout_from_env("ABOTA_CONNECT_TIMEOUT", CONNECT_TIMEOUT_DEFAULT);
}

unsigned acquire_stall_timeout(void) {
        return timeout_from_env("ABOTA_STALL_TIMEOUT", STALL_TIMEOUT_DEFAULT);
}

void acquire_fetch_options_default(struct acquire_fetch_options *o) {
        *o = (struct acquire_fetch_options) {
                .connect_timeout_sec = acquire_connect_timeout(),
                .stall_timeout_sec = acquire_stall_timeout(),
                .low_speed_limit = uint_from_env("ABOTA_LOW_SPEED_LIMIT", LOW_SPEED_LIMIT_DEFAULT, "bytes/s"),
                .low_speed_time_sec = timeout_from_env("ABOTA_LOW_SPEED_TIME", LOW_SPEED_TIME_DEFAULT),
                .transfer_timeout_sec = timeout_from_env("ABOTA_TRANSFER_TIMEOUT", TRANSFER_TIMEOUT_DEFAULT),
                .retries = 3,
                .retry_delay_ms = 500,
        };
}

static int log_not_found(const struct acquire_fetch_options *o, const char *url, const char *why) {
        if (o->quiet_not_found) {
                log_debug("%s: not found (%s)", url, why);
                return -ENOENT;
        }
        return log_error_errno(ENOENT, "%s: not found (%s)", url, why);
}

/* ---- local files ---- */

/* file:///p and file://localhost/p -> /p with %XX decoded. */
static int file_url_path(const char *url, char **ret) {
        const char *p = startswith(url, "file://");
        if (!p)
                return -EINVAL;
        const char *l = startswith(p, "localhost/");
        if (l)
                p = l - 1;
        if (*p != '/')
                return -EINVAL;
        char *s = malloc(strlen(p) + 1), *o = s;
        if (!s)
                return -ENOMEM;
        for (; *p; p++) {
                if (*p == '%') {
                        int a = unhexchar(p[1]), b = a < 0 ? -1 : unhexchar(p[2]);
                        if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                                free(s);
                                return -EINVAL;
                        }
                        *o++ = (char) (a << 4 | b);
                        p += 2;
                } else
                        *o++ = *p;
        }
        *o = 0;
        *ret = s;
        return 0;
}

static int fetch_local(const struct acquire_fetch_options *o, const char *url, const char *path,
                       struct acquire_stage *sink, uint64_t *ret_bytes) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return log_not_found(o, url, "no such file");
                return log_error_errno(errno, "%s: cannot open: %s", url, strerror(errno));
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: cannot stat: %s", url, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return log_error_errno(EISDIR, "%s: is a directory, not a file", url);
        if (S_ISREG(st.st_mode)) {
                if ((uint64_t) st.st_size < o->resume_from)
                        return -ERANGE;
                acquire_stage_expect(sink, (uint64_t) st.st_size - o->resume_from);
                (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        }
        if (o->resume_from > 0 && lseek(fd, (off_t) o->resume_from, SEEK_SET) < 0)
                return log_error_errno(errno, "%s: cannot seek to byte %" PRIu64 ": %s", url, o->resume_from,
                                       strerror(errno));
        _cleanup_free_ uint8_t *buf = malloc(ACQUIRE_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf, ACQUIRE_BUFFER_SIZE);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "%s: read failed after %" PRIu64 " bytes: %s", url,
                                               *ret_bytes, strerror(errno));
                }
                if (k == 0)
                        return 0;
                int r = acquire_stage_push(sink, buf, (size_t) k);
                if (r < 0)
                        return r;
                *ret_bytes += (uint64_t) k;
        }
}

/* ---- HTTP(S) ---- */

struct http {
        const char *url;
        struct acquire_stage *sink;
        uint64_t delivered;   /* bytes pushed into sink, over all attempts, plus resume_from */
        uint64_t resume_from; /* bytes of the file the caller has already (not pushed) */
        uint64_t skip;        /* bytes of this response already delivered (server ignored Range) */
        int64_t range_start;  /* from Content-Range, -1 if none */
        long status;
        bool started, announced, bad_status, stalled, connected;
        bool too_slow;        /* the last attempt fell below the minimum rate */
        bool tls;             /* an https:// URL: redirects may only lead to https:// */
        const char *location; /* where the last attempt was sent (a redirect), or NULL */
        const char *proxy;    /* the proxy libcurl takes from the environment, for messages, or NULL */
        uint64_t deadline_usec; /* monotonic time by which the whole download must be done */
        uint64_t total;       /* announced size of the whole file, if announced */
        struct acquire_validators *validators;
        unsigned stall_sec;
        curl_off_t last_dlnow;
        uint64_t last_data_usec; /* monotonic time the last byte arrived (or the attempt began) */
        int error;            /* a stage failed (already logged) or the response was unusable */
};

/* Keeps an ETag or Last-Modified value (without the surrounding blanks and line end). */
static void header_value(const char *line, const char *value, struct acquire_validators *v) {
        bool etag = strncasecmp(line, "etag:", 5) == 0;
        char *to = etag ? v->etag : v->last_modified;
        size_t max = etag ? sizeof(v->etag) : sizeof(v->last_modified);
        value += strspn(value, " \t");
        size_t n = strcspn(value, "\r\n");
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                n--;
        if (n < max) {
                memcpy(to, value, n);
                to[n] = 0;
        }
}

static size_t http_header(char *data, size_t size, size_t nmemb, void *userdata) {
        struct http *h = userdata;
        size_t n = size * nmemb;
        char line[128];
        if (n >= sizeof(line))
                return n;
        memcpy(line, data, n);
        line[n] = 0;
        if (strncmp(line, "HTTP/", 5) == 0)
                h->range_start = -1; /* a new response (after a redirect): forget the last one */
        else if (h->validators && (strncasecmp(line, "etag:", 5) == 0 || strncasecmp(line, "last-modified:", 14) == 0))
                header_value(line, strchr(line, ':') + 1, h->validators);
        else if (strncasecmp(line, "content-range:", 14) == 0) {
                unsigned long long start;
                if (sscanf(line + 14, " bytes %llu-", &start) == 1)
                        h->range_start = (int64_t) start;
        }
        return n;
}

/* The first body bytes of a response: decide what to do with it. Returns false to abort. */
static bool http_begin(struct http *h, CURL *curl) {
        curl_off_t length = -1;
        h->started = true;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &h->status);
        if (h->status < 200 || h->status >= 300) {
                h->bad_status = true;
                return false;
        }
        if (h->status == 206) {
                if (h->range_start != (int64_t) h->delivered) {
                        h->error = log_error_errno(EIO, "%s: server resumed at byte %" PRIi64 ", asked for %" PRIu64,
                                                   h->url, h->range_start, h->delivered);
                        return false;
                }
                h->skip = 0;
        } else
                h->skip = h->delivered;
        curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (!h->announced && length >= 0) {
                h->total = (uint64_t) length + (h->status == 206 ? h->delivered : 0);
                acquire_stage_expect(h->sink, h->total - h->resume_from);
                h->announced = true;
        }
        return true;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

struct http_attempt {
        struct http *h;
        CURL *curl;
};

/* libcurl's LOW_SPEED_* averages over a window of several seconds, so after a burst it notices a
 * silent server only seconds late; this watches the byte count itself. Called at least once a
 * second while the transfer is idle. */
static int http_xferinfo(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow) {
        struct http *h = userdata;
        (void) dltotal, (void) ultotal, (void) ulnow;
        uint64_t now = now_usec();
        /* Until the connection stands, CURLOPT_CONNECTTIMEOUT is in charge. */
        if (!h->connected || dlnow != h->last_dlnow) {
                h->last_dlnow = dlnow;
                h->last_data_usec = now;
                return 0;
        }
        if (now - h->last_data_usec >= (uint64_t) h->stall_sec * 1000000ULL) {
                h->stalled = true;
                return 1; /* aborts with CURLE_ABORTED_BY_CALLBACK */
        }
        return 0;
}

/* A connection was established or reused and the request is about to go out. */
static int http_prereq(void *userdata, char *primary_ip, char *local_ip, int primary_port, int local_port) {
        struct http *h = userdata;
        (void) primary_ip, (void) local_ip, (void) primary_port, (void) local_port;
        h->connected = true;
        h->last_data_usec = now_usec();
        return CURL_PREREQFUNC_OK;
}

static size_t http_write(char *data, size_t size, size_t nmemb, void *userdata) {
        struct http_attempt *a = userdata;
        struct http *h = a->h;
        size_t n = size * nmemb;
        if (n == 0)
                return 0;
        if (!h->started && !http_begin(h, a->curl))
                return 0; /* != n: libcurl aborts the transfer */
        if (h->skip > 0) {
                size_t k = h->skip < n ? (size_t) h->skip : n;
                h->skip -= k;
                data += k;
                n -= k;
        }
        if (n > 0) {
                int r = acquire_stage_push(h->sink, data, n);
                if (r < 0) {
                        h->error = r;
                        return 0;
                }
                h->delivered += n;
        }
        return size * nmemb;
}

/* Classifies a failed attempt: returns -errno, sets *retry, writes the reason into msg. */
static int http_failure(const struct acquire_fetch_options *o, struct http *h, CURLcode c,
                        const char *errbuf, char *msg, size_t size, bool *retry) {
        /* the proxy in use is named: it may be what failed */
        char via[160] = "";
        if (h->proxy)
                snprintf(via, sizeof(via), " via proxy %s", h->proxy);
        *retry = false;
        if (h->bad_status || (c == CURLE_OK && (h->status < 200 || h->status >= 300))) {
                long s = h->status;
                if (s == 404 || s == 410) {
                        snprintf(msg, size, "HTTP %ld", s);
                        return -ENOENT;
                }
                *retry = s >= 500 || s == 408 || s == 429;
                snprintf(msg, size, "%s (HTTP %ld)%s", *retry ? "server error" : "request refused", s, via);
                return *retry ? -EREMOTEIO : s == 401 || s == 403 ? -EACCES : -EIO;
        }
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                *retry = true;
                snprintf(msg, size, "cannot connect%s: %s", via, errbuf);
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                *retry = true;
                snprintf(msg, size, "cannot resolve %s%s: %s", c == CURLE_COULDNT_RESOLVE_PROXY ? "the proxy" : "host",
                         via, errbuf);
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_ABORTED_BY_CALLBACK:
                *retry = true;
                if (now_usec() >= h->deadline_usec) {
                        *retry = false;
                        snprintf(msg, size, "not complete after %u s (%" PRIu64 " bytes received)",
                                 o->transfer_timeout_sec, h->delivered);
                } else if (h->stalled)
                        snprintf(msg, size, "server stalled, no data for %u s", o->stall_timeout_sec);
                else if (!h->connected)
                        snprintf(msg, size, "connection timed out after %u s%s", o->connect_timeout_sec, via);
                else {
                        h->too_slow = true;
                        snprintf(msg, size, "too slow, less than %u bytes/s over %u s", o->low_speed_limit,
                                 o->low_speed_time_sec);
                }
                return -ETIMEDOUT;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                *retry = true;
                snprintf(msg, size, "transfer interrupted after %" PRIu64 " bytes%s: %s", h->delivered, via, errbuf);
                return -ECONNRESET;
        case CURLE_UNSUPPORTED_PROTOCOL:
                if (h->tls && h->location && !startswith(h->location, "https://")) {
                        snprintf(msg, size, "refusing the redirect to %s: an https source may only be redirected to https",
                                 h->location);
                        return -EPERM;
                }
                snprintf(msg, size, "%s", *errbuf ? errbuf : curl_easy_strerror(c));
                return -EPROTONOSUPPORT;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
                snprintf(msg, size, "TLS failure%s: %s", via, errbuf);
                return -EPERM;
        default:
                snprintf(msg, size, "%s%s", *errbuf ? errbuf : curl_easy_strerror(c), via);
                return -EIO;
        }
}

static void curl_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}

int acquire_curl_setup(void *curl, const char *url, const char *protocols) {
        /* What TLS protects must not be handed to plain http by a redirect. */
        if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, startswith(url, "https://") ? "https" : "http,https") != CURLE_OK)
                return log_error_errno(EINVAL, "%s: invalid URL", url);
        const char *ca = getenv("CURL_CA_BUNDLE");
        if (!isempty(ca) && curl_easy_setopt(curl, CURLOPT_CAINFO, ca) != CURLE_OK)
                return log_error_errno(EINVAL, "%s: cannot use $CURL_CA_BUNDLE=%s", url, ca);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "abota/" ABOTA_VERSION);
        struct netconf_settings net;
        int r = netconf_for_url(url, &net);
        if (r >= 0)
                r = netconf_apply(curl, &net);
        netconf_settings_done(&net);
        return r;
}

static void curl_slist_freep(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

static int conditions_add(struct curl_slist **l, const char *name, const char *value) {
        _cleanup_free_ char *line = strprintf("%s: %s", name, value);
        struct curl_slist *n = line ? curl_slist_append(*l, line) : NULL;
        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

/* One connection cache (and DNS cache) for the whole process: the manifests, signatures and
 * payloads of one run travel over one kept-alive connection per server. */
static CURLSH *http_share(void) {
        static CURLSH *share;
        if (!share && (share = curl_share_init()) &&
            (curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
             curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)) {
                curl_share_cleanup(share);
                share = NULL;
        }
        return share;
}

void *acquire_http_share(void) {
        return http_share();
}

static int fetch_http(const struct acquire_fetch_options *o, const char *url, struct acquire_stage *sink,
                      uint64_t *ret_bytes) {
        _cleanup_(curl_cleanupp) CURL *curl = curl_easy_init();
        if (!curl)
                return -ENOMEM;
        if (http_share())
                curl_easy_setopt(curl, CURLOPT_SHARE, http_share());
        _cleanup_free_ char *proxy = netconf_proxy_for_url(url);
        struct http h = { .url = url, .sink = sink, .range_start = -1, .stall_sec = o->stall_timeout_sec,
                          .tls = startswith(url, "https://"), .proxy = proxy, .delivered = o->resume_from,
                          .resume_from = o->resume_from };
        /* Conditional request: the validators are sent as asked; the answer's replace them. */
        struct acquire_validators sent = o->validators ? *o->validators : (struct acquire_validators) {};
        _cleanup_(curl_slist_freep) struct curl_slist *conditions = NULL;
        if (o->validators) {
                *o->validators = (struct acquire_validators) {};
                h.validators = o->validators;
                if (sent.etag[0] && conditions_add(&conditions, "If-None-Match", sent.etag) < 0)
                        return -ENOMEM;
                if (sent.last_modified[0] && conditions_add(&conditions, "If-Modified-Since", sent.last_modified) < 0)
                        return -ENOMEM;
        }
        struct http_attempt a = { .h = &h, .curl = curl };
        char errbuf[CURL_ERROR_SIZE] = "", range[32];
        int sr = acquire_curl_setup(curl, url, "http,https");
        if (sr < 0)
                return sr;
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, (long) ACQUIRE_BUFFER_SIZE);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) o->connect_timeout_sec);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long) o->low_speed_limit);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long) o->low_speed_time_sec);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_xferinfo);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &h);
        curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, http_prereq);
        curl_easy_setopt(curl, CURLOPT_PREREQDATA, &h);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
        if (conditions)
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, conditions);
        if (h.delivered > 0) {
                snprintf(range, sizeof(range), "%" PRIu64 "-", h.delivered);
                curl_easy_setopt(curl, CURLOPT_RANGE, range);
        }

        unsigned failures = 0, delay = o->retry_delay_ms;
        h.deadline_usec = now_usec() + (uint64_t) o->transfer_timeout_sec * 1000000ULL;
        for (;;) {
                uint64_t before = h.delivered, now = now_usec();
                char msg[CURL_ERROR_SIZE + 128];
                bool retry;
                if (now >= h.deadline_usec)
                        return log_error_errno(ETIMEDOUT, "%s: not complete after %u s (%" PRIu64 " bytes received), giving up",
                                               url, o->transfer_timeout_sec, h.delivered);
                /* The attempt may only use what is left of the deadline (at least 1 ms: 0 means none). */
                curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) ((h.deadline_usec - now + 999) / 1000));
                errbuf[0] = 0;
                h.started = h.bad_status = h.stalled = h.connected = h.too_slow = false;
                h.status = 0;
                h.last_dlnow = 0;
                h.last_data_usec = now_usec();
                CURLcode c = curl_easy_perform(curl);
                *ret_bytes = h.delivered - h.resume_from;
                if (h.error)
                        return h.error;
                if (c == CURLE_OK && !h.started)
                        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &h.status);
                if (c == CURLE_OK && h.status == 304 && h.validators) {
                        *o->validators = sent; /* not modified: what the caller has is current */
                        return 1;
                }
                if (c == CURLE_OK && h.status >= 200 && h.status < 300)
                        return 0;
                /* Everything had arrived when the connection broke: nothing left to ask for. */
                if (h.status == 416 && h.announced && h.delivered == h.total)
                        return 0;
                /* Resuming, and the file ends before where we are: the caller starts over. */
                if (h.status == 416 && h.resume_from > 0 && h.delivered == h.resume_from)
                        return -ERANGE;
                h.location = NULL;
                if (c == CURLE_UNSUPPORTED_PROTOCOL)
                        curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &h.location);
                int r = http_failure(o, &h, c, errbuf, msg, sizeof(msg), &retry);
                if (r == -ENOENT)
                        return log_not_found(o, url, msg);
                if (h.delivered > before && !h.too_slow) {
                        /* Progress was made: this is a new failure, not the same one again. A
                         * trickle is no progress, else it would be retried for ever. */
                        failures = 0;
                        delay = o->retry_delay_ms;
                }
                if (!retry || failures >= o->retries)
                        return log_error_errno(r, "%s: %s%s", url, msg, retry ? ", giving up" : "");
                failures++;
                log_info("%s: %s, retrying in %u ms (retry %u of %u)", url, msg, delay, failures, o->retries);
                sleep_ms(delay);
                delay *= 2;
                if (h.delivered > 0) {
                        snprintf(range, sizeof(range), "%" PRIu64 "-", h.delivered);
                        curl_easy_setopt(curl, CURLOPT_RANGE, range);
                }
        }
}

int acquire_fetch(const struct acquire_fetch_options *o, const char *url, struct acquire_stage *sink,
                  uint64_t *ret_bytes) {
        *ret_bytes = 0;
        if (path_is_absolute(url))
                return fetch_local(o, url, url, sink, ret_bytes);
        if (startswith(url, "file://")) {
                _cleanup_free_ char *path = NULL;
                int r = file_url_path(url, &path);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return log_error_errno(r, "%s: not a valid file:// URL (file:///absolute/path)", url);
                return fetch_local(o, url, path, sink, ret_bytes);
        }
        if (startswith(url, "http://") || startswith(url, "https://"))
                return fetch_http(o, url, sink, ret_bytes);
        return log_error_errno(EPROTONOSUPPORT, "%s: unsupported URL (http://, https://, file:// or an absolute path)",
                               url);
}
