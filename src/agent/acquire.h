/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Acquire: one streaming pass fetch -> hash -> decompress -> write (spec sysupdate.md 7.2, 9).
 * Memory stays constant whatever the payload size. Each stage is a small reader/writer with one
 * job (see acquire-*.c), so later stages (resume, block reuse) plug in without rewriting others. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct resume_key; /* resume-state.h */

struct acquire_request {
        const char *url;                 /* http://, https://, file:// or an absolute local path */
        const uint8_t *expected_sha256;  /* SHA-256 of the bytes as downloaded (before
                                          * decompression); NULL = no check (local sources) */
        int fd;                          /* where to write: the disk/image, or a temporary file */
        uint64_t offset;                 /* byte offset in fd (a partition's start) */
        uint64_t size_max;               /* UINT64_MAX = unbounded; more decompressed bytes than
                                          * this fail with -EFBIG ("larger than the slot") */
        bool sync;                       /* fsync fd before returning success */
        const char *what;                /* name for progress and errors, e.g. "store_2" */
        bool progress;                   /* progress line on stderr (only when it is a terminal) */
        void (*on_bytes)(void *userdata, uint64_t downloaded); /* after each block; may be NULL */
        void *userdata;
        /* Resuming a cut download (acquire-resume.c): payloads checked against SHA256SUMS resume,
         * an uncompressed one from the prefix in the target, a compressed one from the spool
         * beside the state (the decompressor's state at the cut is lost with the process). NULL:
         * never resumed, no state kept. */
        const struct resume_key *resume;
        /* fd is a file of its own (a partial regular file): cut to the length resumed from before
         * writing, so nothing of an earlier attempt lingers past the end. */
        bool own_file;
};

struct acquire_result {
        uint64_t downloaded;             /* bytes received */
        uint64_t written;                /* bytes written after decompression */
        uint8_t sha256[32];              /* of the downloaded bytes */
};

/* Runs the pipeline. Every failure logs one line naming the URL (or what) and the reason and
 * returns -errno: -EBADMSG checksum mismatch or corrupt compressed data, -EFBIG payload larger
 * than size_max, network failures after the retries: -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT,
 * -ECONNRESET (interrupted), -EREMOTEIO (HTTP 5xx, 408, 429), and -EIO for other ones; -ENOSPC. */
int acquire_run(const struct acquire_request *r, struct acquire_result *ret);

/* Fetch a small file (SHA256SUMS, its signature) fully into memory, at most max bytes (-EFBIG
 * beyond). -ENOENT for a 404 or a missing local file, so callers can tell "not there"; that
 * case is logged at debug level only, the caller decides whether it is an error. */
int acquire_fetch_small(const char *url, size_t max, char **ret, size_t *ret_size);

/* Asks whether url is there, without downloading it: HEAD (or a one-byte GET where HEAD is refused)
 * for http(s)://, a stat() for local files. *ret_size is the size announced, UINT64_MAX when the
 * server does not say. -ENOENT for a 404 or a missing file; when it cannot be reached (after
 * retries) -EHOSTUNREACH, -EREMOTEIO for a server error, -EIO for a TLS refusal or another
 * answer; logged once, naming the URL. */
int acquire_probe(const char *url, uint64_t *ret_size);

/* HTTP validators (acquire-stage.h). */
struct acquire_validators;
/* acquire_fetch_small() asking the server with v's validators whether the file changed: returns 1
 * (*ret untouched) when it answered 304 Not Modified, 0 with the file and v updated otherwise. */
int acquire_fetch_small_if_changed(const char *url, size_t max, struct acquire_validators *v, char **ret,
                                   size_t *ret_size);
