/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The acquire pipeline (spec sysupdate.md 7.2, 9), in process and in one streaming pass:
 *
 *     fetch -> progress -> hash -> decompress -> write
 *
 * with the semantics of `systemd-pull raw --direct --verify=SHA256 --offset --size-max --sync`:
 * the SHA-256 covers the bytes as downloaded, the decompressed image lands at a byte offset of
 * the target bounded by the slot size, and a mismatch fails after the data was written, which is
 * safe because the slot is not committed yet. */
#include "acquire.h"
#include "acquire-stage.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>

struct pipeline {
        struct acquire_progress *progress;
        struct acquire_hash *hash;
        struct acquire_decompress *decompress;
        struct acquire_write *write;
};

static void pipeline_done(struct pipeline *p) {
        acquire_progress_free(p->progress);
        acquire_hash_free(p->hash);
        acquire_decompress_free(p->decompress);
        acquire_write_free(p->write);
}

int acquire_run(const struct acquire_request *req, struct acquire_result *ret) {
        _cleanup_(pipeline_done) struct pipeline p = {};
        const char *what = isempty(req->what) ? req->url : req->what;
        struct acquire_fetch_options o;
        uint64_t downloaded = 0;
        int r;

        if (!req->url || req->fd < 0)
                return -EINVAL;
        /* Built back to front: each stage is handed the one it feeds. */
        r = acquire_write_new(what, req->fd, req->offset, req->size_max, req->sync, &p.write);
        if (r < 0)
                return r;
        r = acquire_decompress_new(req->url, acquire_write_stage(p.write), &p.decompress);
        if (r < 0)
                return r;
        r = acquire_hash_new(req->url, req->expected_sha256, acquire_decompress_stage(p.decompress), &p.hash);
        if (r < 0)
                return r;
        r = acquire_progress_new(what, req->progress, req->on_bytes, req->userdata, acquire_hash_stage(p.hash),
                                 &p.progress);
        if (r < 0)
                return r;

        acquire_fetch_options_default(&o);
        r = acquire_fetch(&o, req->url, acquire_progress_stage(p.progress), &downloaded);
        if (r < 0)
                return r;
        r = acquire_stage_finish(acquire_progress_stage(p.progress));
        if (r < 0)
                return r;
        log_debug("%s: %s, %llu bytes downloaded, %llu written", what,
                  acquire_decompress_format(p.decompress), (unsigned long long) downloaded,
                  (unsigned long long) acquire_write_written(p.write));
        if (ret) {
                ret->downloaded = downloaded;
                ret->written = acquire_write_written(p.write);
                memcpy(ret->sha256, acquire_hash_digest(p.hash), sizeof(ret->sha256));
        }
        return 0;
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
