/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internal to acquire*.c: the stage interface of the acquire pipeline.
 *
 * A source (acquire_fetch) pushes the downloaded bytes into the first stage; every stage does one
 * job and pushes its output on to `next`. A stage never keeps more than one fixed-size buffer
 * (at most ACQUIRE_BUFFER_SIZE), so memory stays flat whatever the payload size. Stages report
 * their own errors (one log line naming `name`) and return -errno, which aborts the source and
 * travels back unchanged. New stages (resume, block reuse, signature checks) are inserted by
 * linking them into the chain. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACQUIRE_BUFFER_SIZE (256U * 1024U)

struct acquire_stage {
        /* Consumes n bytes (n may be 0). Returns 0 or -errno. */
        int (*push)(struct acquire_stage *s, const void *data, size_t n);
        /* End of stream: flush, verify completeness, pass finish on. */
        int (*finish)(struct acquire_stage *s);
        /* Optional: the source learned the total download size (e.g. Content-Length). */
        void (*expect)(struct acquire_stage *s, uint64_t total);
        struct acquire_stage *next;
};

static inline int acquire_stage_push(struct acquire_stage *s, const void *data, size_t n) {
        return s ? s->push(s, data, n) : 0;
}
static inline int acquire_stage_finish(struct acquire_stage *s) {
        return s ? s->finish(s) : 0;
}
/* Delivered to the first stage in the chain that wants it. */
static inline void acquire_stage_expect(struct acquire_stage *s, uint64_t total) {
        for (; s; s = s->next)
                if (s->expect) {
                        s->expect(s, total);
                        return;
                }
}

/* What identifies a version of a file on an HTTP server (empty strings: unknown). */
struct acquire_validators {
        char etag[128];
        char last_modified[64];
};

/* Source: acquire-fetch.c. Local paths and file:// are read directly, http(s) through libcurl. */
struct acquire_fetch_options {
        unsigned connect_timeout_sec;
        unsigned stall_timeout_sec;
        unsigned low_speed_limit;      /* bytes/s: an attempt slower than this ... */
        unsigned low_speed_time_sec;   /* ... for this long is aborted (and retried) */
        unsigned transfer_timeout_sec; /* the whole download, retries included */
        unsigned retries;          /* extra attempts after a connection error, stall or 5xx */
        unsigned retry_delay_ms;   /* first backoff; doubles on each retry */
        bool quiet_not_found;      /* a missing file/404 is logged at debug level only */
        /* HTTP validators: sent as If-None-Match/If-Modified-Since when set; filled from the
         * ETag/Last-Modified of a 2xx answer. A 304 answer makes acquire_fetch() return 1. */
        struct acquire_validators *validators;
};
void acquire_fetch_options_default(struct acquire_fetch_options *o);
/* Timeouts (seconds) for network stages; overridable with $ABOTA_CONNECT_TIMEOUT and
 * $ABOTA_STALL_TIMEOUT (no byte for that long means the server stalled). */
unsigned acquire_connect_timeout(void);
unsigned acquire_stall_timeout(void);
/* What every request abota makes shares (a download, the probe before an update): the URL, the
 * protocols allowed (an https source is redirected only to https), the CA bundle
 * ($CURL_CA_BUNDLE), the CA file and public-key pin of abota.conf for that server, the user
 * agent. curl is a CURL *. Returns 0 or -errno (logged, naming the URL). */
int acquire_curl_setup(void *curl, const char *url, const char *protocols);
/* The CURLSH * every request of this process shares (connections, DNS), NULL if there is none. */
void *acquire_http_share(void);
/* Pushes every byte of url into sink (does not call finish). An interrupted HTTP transfer is
 * retried from where it stopped (Range, or by skipping what was already delivered). Returns 0 or
 * -errno: -ENOENT (missing, 404), -EACCES (401/403), -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT,
 * -EIO, or whatever a stage returned. *ret_bytes is the number of bytes pushed. */
int acquire_fetch(const struct acquire_fetch_options *o, const char *url, struct acquire_stage *sink,
                  uint64_t *ret_bytes);

/* SHA-256 of everything pushed through (acquire-hash.c). expected may be NULL. A mismatch fails
 * finish with -EBADMSG before later stages are finished. */
struct acquire_hash;
int acquire_hash_new(const char *name, const uint8_t *expected, struct acquire_stage *next,
                     struct acquire_hash **ret);
struct acquire_stage *acquire_hash_stage(struct acquire_hash *h);
const uint8_t *acquire_hash_digest(const struct acquire_hash *h); /* valid after finish */
void acquire_hash_free(struct acquire_hash *h);

/* xz/gzip/zstd detected by magic, anything else passed through (acquire-decompress.c).
 * Corrupt or truncated compressed data fails with -EBADMSG. */
struct acquire_decompress;
int acquire_decompress_new(const char *name, struct acquire_stage *next, struct acquire_decompress **ret);
struct acquire_stage *acquire_decompress_stage(struct acquire_decompress *d);
const char *acquire_decompress_format(const struct acquire_decompress *d); /* "xz", ..., "plain" */
void acquire_decompress_free(struct acquire_decompress *d);

/* Sink: pwrite at offset, bounded by size_max (-EFBIG before writing a byte past it); zero blocks
 * of regular files become holes; fsync on finish if sync (acquire-write.c). */
struct acquire_write;
int acquire_write_new(const char *name, int fd, uint64_t offset, uint64_t size_max, bool sync,
                      struct acquire_write **ret);
struct acquire_stage *acquire_write_stage(struct acquire_write *w);
uint64_t acquire_write_written(const struct acquire_write *w);
void acquire_write_free(struct acquire_write *w);

/* Progress line on stderr while bytes pass through (acquire-progress.c, see progress.h); calls
 * on_bytes (when not NULL) with the bytes so far after each block. */
struct acquire_progress;
int acquire_progress_new(const char *what, bool want, void (*on_bytes)(void *userdata, uint64_t downloaded),
                         void *userdata, struct acquire_stage *next, struct acquire_progress **ret);
struct acquire_stage *acquire_progress_stage(struct acquire_progress *p);
void acquire_progress_free(struct acquire_progress *p);
