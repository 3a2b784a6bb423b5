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
        /* The caller holds the first resume_from bytes of the file already: they are not pushed.
         * HTTP asks for the rest with a Range (what a server that ignores it sends again is
         * skipped), a local file is read from there. -ERANGE, not logged, when the file is
         * shorter than that (HTTP 416). */
        uint64_t resume_from;
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
/* Adds n bytes to the hash without pushing them on (a resumed download's prefix). */
int acquire_hash_update(struct acquire_hash *h, const void *data, size_t n);
/* The SHA-256 of what was hashed so far, the hash going on (before finish). */
int acquire_hash_peek(struct acquire_hash *h, uint8_t ret[32]);
/* Starts the hash again from nothing. */
int acquire_hash_reset(struct acquire_hash *h);
void acquire_hash_free(struct acquire_hash *h);

/* xz/gzip/zstd detected by magic, anything else passed through (acquire-decompress.c).
 * Corrupt or truncated compressed data fails with -EBADMSG. */
struct acquire_decompress;
int acquire_decompress_new(const char *name, struct acquire_stage *next, struct acquire_decompress **ret);
struct acquire_stage *acquire_decompress_stage(struct acquire_decompress *d);
const char *acquire_decompress_format(const struct acquire_decompress *d); /* "xz", ..., "plain" */
/* True once the data is known to be uncompressed (what was pushed is what was written). */
bool acquire_decompress_is_plain(const struct acquire_decompress *d);
/* True once the data is known to be compressed (xz, gzip, zstd). */
bool acquire_decompress_is_compressed(const struct acquire_decompress *d);
void acquire_decompress_free(struct acquire_decompress *d);

/* Sink: pwrite at offset, bounded by size_max (-EFBIG before writing a byte past it); zero blocks
 * of regular files become holes; fsync on finish if sync (acquire-write.c). */
struct acquire_write;
int acquire_write_new(const char *name, int fd, uint64_t offset, uint64_t size_max, bool sync,
                      struct acquire_write **ret);
struct acquire_stage *acquire_write_stage(struct acquire_write *w);
uint64_t acquire_write_written(const struct acquire_write *w);
/* Writes out what is buffered and, with sync, fdatasync()s: every byte pushed so far is on disk. */
int acquire_write_sync(struct acquire_write *w, bool sync);
void acquire_write_free(struct acquire_write *w);

/* Progress line on stderr while bytes pass through (acquire-progress.c, see progress.h); calls
 * on_bytes (when not NULL) with the bytes so far after each block. */
struct acquire_progress;
int acquire_progress_new(const char *what, bool want, void (*on_bytes)(void *userdata, uint64_t downloaded),
                         void *userdata, struct acquire_stage *next, struct acquire_progress **ret);
struct acquire_stage *acquire_progress_stage(struct acquire_progress *p);
void acquire_progress_free(struct acquire_progress *p);

struct resume_key;

/* The download the resume functions work on (from acquire_request). */
struct acquire_resume_target {
        const struct resume_key *key;
        const char *spool_path;          /* beside the state (resume_spool_path()) */
        const uint8_t *expected_sha256;  /* of the payload, from SHA256SUMS */
        int fd;
        uint64_t offset, size_max;
        bool sync;
        const char *what;
};

/* Resuming a full download that a kill or a power loss cut (acquire-resume.c, state format:
 * resume-state.h).
 *
 * While a payload streams into its target, a checkpoint stage (before the hash) makes the bytes
 * durable every few MiB and then records in the resume state how many there are and their
 * SHA-256. An uncompressed payload is its own record: the written bytes of the target are
 * synced. A compressed one is also appended, as downloaded, to a spool file beside the state
 * (acquire-spool.c), which is synced instead: the decompressor's state dies with the process, so
 * the next run decompresses the spool again from the start.
 *
 * The next run for the same transfer, version, payload SHA-256 and target reads that prefix back
 * (from the target, or from the spool) and hashes it: only when it hashes to what was recorded is
 * it kept and the rest fetched with a Range request; otherwise everything is fetched again. Either
 * way the hash stage compares the hash of the whole download with SHA256SUMS before anything is
 * committed, so a state can make a download shorter, never a wrong target look complete. */

/* Where a download goes on from. */
struct acquire_resume_point {
        uint64_t done;  /* bytes of the payload as downloaded that are not fetched again */
        bool complete;  /* that is all of it (only the commit was missing) */
        bool spooled;   /* they are in the spool and are pushed through the pipeline again
                         * (acquire_spool_replay()); else they are in the target, hashed into h */
};

/* Reads t->key's state; when it names this download, verifies the prefix it names: from the
 * target, hashed into h (h untouched when it does not match), or from the spool. *ret is all
 * zero when the download starts from nothing. A state that does not match is removed. 0 or
 * -errno (logged). */
int acquire_resume_begin(const struct acquire_resume_target *t, struct acquire_hash *h,
                         struct acquire_resume_point *ret);

/* The checkpoint stage: passes everything on to next, from where at says. d is the decompressor
 * (its format says whether the payload is plain or needs the spool) or NULL (resumed from the
 * target: known plain). */
struct acquire_checkpoint;
int acquire_checkpoint_new(const struct acquire_resume_target *t, const struct acquire_resume_point *at,
                           struct acquire_hash *h, struct acquire_decompress *d, struct acquire_write *w,
                           struct acquire_stage *next, struct acquire_checkpoint **ret);
struct acquire_stage *acquire_checkpoint_stage(struct acquire_checkpoint *c);
void acquire_checkpoint_free(struct acquire_checkpoint *c);

/* Drops t's resume state and spool (the download is unusable: a checksum mismatch). */
void acquire_resume_forget(const struct acquire_resume_target *t);

/* The spool (acquire-spool.c). Opened keeping its first keep bytes, with room for remaining
 * more (UINT64_MAX: unknown); where it cannot be kept it is "off" (warned once, the file removed)
 * and every call below is a no-op returning false. */
struct acquire_spool;
int acquire_spool_open(const char *path, uint64_t keep, uint64_t remaining, const char *what,
                       struct acquire_spool **ret);
/* remaining bytes are to come: switched off when its file system lacks room for them. */
void acquire_spool_expect(struct acquire_spool *s, uint64_t remaining);
bool acquire_spool_append(struct acquire_spool *s, const void *data, size_t n);
/* fdatasync: true when every byte appended is durable. */
bool acquire_spool_sync(struct acquire_spool *s);
bool acquire_spool_is_on(const struct acquire_spool *s);
void acquire_spool_free(struct acquire_spool *s);
/* 1 when the first n bytes of path hash to sha256; 0 when not or it is shorter (warned); -ENOMEM. */
int acquire_spool_check(const char *path, uint64_t n, const uint8_t sha256[32], const char *what);
/* Pushes the first n bytes of path into to, one buffer at a time. */
int acquire_spool_replay(const char *path, uint64_t n, struct acquire_stage *to, const char *what);
