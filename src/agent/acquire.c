/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The acquire pipeline (spec sysupdate.md 7.2, 9), in process and in one streaming pass:
 *
 *     fetch -> progress -> [checkpoint] -> hash -> decompress -> write
 *
 * with the semantics of `systemd-pull raw --direct --verify=SHA256 --offset --size-max --sync`:
 * the SHA-256 covers the bytes as downloaded, the decompressed image lands at a byte offset of
 * the target bounded by the slot size, and a mismatch fails after the data was written, which is
 * safe because the slot is not committed yet. With req->resume, the checkpoint stage keeps a resume
 * state (and, for a compressed payload, a spool of the bytes as downloaded), and a cut download
 * goes on where it stopped (acquire-resume.c, acquire-spool.c). */
#include "acquire.h"
#include "acquire-stage.h"
#include "resume-state.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

struct pipeline {
        struct acquire_progress *progress;
        struct acquire_hash *hash;
        struct acquire_checkpoint *checkpoint;
        struct acquire_decompress *decompress;
        struct acquire_write *write;
};

static void pipeline_done(struct pipeline *p) {
        acquire_progress_free(p->progress);
        acquire_hash_free(p->hash);
        acquire_checkpoint_free(p->checkpoint);
        acquire_decompress_free(p->decompress);
        acquire_write_free(p->write);
        *p = (struct pipeline) {};
}

/* One pass; fresh: ignore a resume state (the server said the file is shorter than it). */
static int run(const struct acquire_request *req, bool fresh, struct acquire_result *ret) {
        _cleanup_(pipeline_done) struct pipeline p = {};
        const char *what = isempty(req->what) ? req->url : req->what;
        struct acquire_fetch_options o;
        struct acquire_resume_point at = {};
        uint64_t downloaded = 0;
        bool resume = req->resume && req->expected_sha256;
        _cleanup_free_ char *spool = resume ? resume_spool_path(req->resume->state_path) : NULL;
        const struct acquire_resume_target target = {
                .key = req->resume, .spool_path = spool, .expected_sha256 = req->expected_sha256, .fd = req->fd,
                .offset = req->offset, .size_max = req->size_max, .sync = req->sync, .what = what,
        };
        int r;

        if (resume && !spool)
                return -ENOMEM;
        r = acquire_hash_new(req->url, req->expected_sha256, NULL, &p.hash);
        if (r < 0)
                return r;
        if (resume && !fresh) {
                /* The verified prefix of a cut download is not fetched again. */
                r = acquire_resume_begin(&target, p.hash, &at);
                if (r < 0)
                        return r;
        }
        /* Where writing starts: after the prefix in the target, or (spooled) at the start. */
        uint64_t start = at.spooled ? 0 : at.done;
        if (req->own_file && ftruncate(req->fd, (off_t) (req->offset + start)) < 0)
                return log_error_errno(errno, "%s: cannot truncate to %" PRIu64 " bytes: %s", what, req->offset + start,
                                       strerror(errno));
        /* Built back to front: each stage is handed the one it feeds. A download resumed from the
         * target is known to be uncompressed and goes on writing where it stopped. */
        r = acquire_write_new(what, req->fd, req->offset + start,
                              req->size_max == UINT64_MAX ? UINT64_MAX : req->size_max - start, req->sync, &p.write);
        if (r < 0)
                return r;
        struct acquire_stage *next = acquire_write_stage(p.write);
        if (start == 0) {
                r = acquire_decompress_new(req->url, next, &p.decompress);
                if (r < 0)
                        return r;
                next = acquire_decompress_stage(p.decompress);
        }
        acquire_hash_stage(p.hash)->next = next;
        next = acquire_hash_stage(p.hash);
        /* The spooled prefix goes through the hash and the decompressor again; it is not fetched. */
        if (at.spooled && (r = acquire_spool_replay(spool, at.done, next, what)) < 0)
                return r;
        /* Before the hash: a checkpoint falls between two pushes, when the hash has seen exactly
         * the bytes written. */
        if (resume) {
                r = acquire_checkpoint_new(&target, &at, p.hash, p.decompress, p.write, next, &p.checkpoint);
                if (r < 0)
                        return r;
                next = acquire_checkpoint_stage(p.checkpoint);
        }
        r = acquire_progress_new(what, req->progress, req->on_bytes, req->userdata, next, &p.progress);
        if (r < 0)
                return r;

        acquire_fetch_options_default(&o);
        o.resume_from = at.done;
        r = at.complete ? 0 : acquire_fetch(&o, req->url, acquire_progress_stage(p.progress), &downloaded);
        if (r == -ERANGE && at.done > 0 && !fresh) {
                log_warning("%s: %s is shorter than what was downloaded before, downloading it all again", what, req->url);
                pipeline_done(&p);
                return run(req, true, ret);
        }
        if (r == -ERANGE)
                r = log_error_errno(EIO, "%s: the server cannot send the file from byte %" PRIu64, req->url, at.done);
        if (r >= 0)
                r = acquire_stage_finish(acquire_progress_stage(p.progress));
        if (r == -EBADMSG)
                acquire_resume_forget(&target); /* not a prefix to go on from */
        if (r < 0)
                return r;
        log_debug("%s: %s, %llu bytes downloaded, %llu written", what,
                  p.decompress ? acquire_decompress_format(p.decompress) : "plain, resumed",
                  (unsigned long long) downloaded, (unsigned long long) (start + acquire_write_written(p.write)));
        if (ret) {
                ret->downloaded = downloaded;
                ret->written = start + acquire_write_written(p.write);
                memcpy(ret->sha256, acquire_hash_digest(p.hash), sizeof(ret->sha256));
        }
        return 0;
}

int acquire_run(const struct acquire_request *req, struct acquire_result *ret) {
        if (!req->url || req->fd < 0)
                return -EINVAL;
        return run(req, false, ret);
}

/* Sink for acquire_fetch_small(): a growing buffer bounded by max. */
struct memory_sink {
        struct acquire_stage stage;
        const char *url;
        char *data;
        size_t size, allocated, max;
};

static int memory_push(struct acquire_stage *s, const void *data, size_t n) {
        struct memory_sink *m = (struct memory_sink *) s;
        if (n > m->max - m->size)
                return log_error_errno(EFBIG, "%s: larger than %zu bytes, refusing", m->url, m->max);
        if (m->size + n + 1 > m->allocated) {
                size_t a = m->allocated ? m->allocated : 4096;
                while (a < m->size + n + 1)
                        a *= 2;
                char *d = realloc(m->data, a);
                if (!d)
                        return -ENOMEM;
                m->data = d;
                m->allocated = a;
        }
        memcpy(m->data + m->size, data, n);
        m->size += n;
        return 0;
}

static int memory_finish(struct acquire_stage *s) {
        (void) s;
        return 0;
}

int acquire_fetch_small(const char *url, size_t max, char **ret, size_t *ret_size) {
        return acquire_fetch_small_if_changed(url, max, NULL, ret, ret_size);
}

int acquire_fetch_small_if_changed(const char *url, size_t max, struct acquire_validators *v, char **ret,
                                   size_t *ret_size) {
        struct memory_sink m = {
                .stage = { .push = memory_push, .finish = memory_finish },
                .url = url,
                .max = max,
        };
        struct acquire_fetch_options o;
        uint64_t n;

        acquire_fetch_options_default(&o);
        /* Callers probe for optional files (signatures): "not there" is theirs to report. */
        o.quiet_not_found = true;
        o.validators = v;
        int r = acquire_fetch(&o, url, &m.stage, &n);
        if (r > 0) {
                free(m.data);
                return r; /* not modified */
        }
        if (r >= 0)
                r = memory_push(&m.stage, "", 0); /* make sure there is room for the NUL */
        if (r < 0) {
                free(m.data);
                return r;
        }
        m.data[m.size] = 0;
        *ret = m.data;
        if (ret_size)
                *ret_size = m.size;
        return 0;
}
