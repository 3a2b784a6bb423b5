/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Resumable full downloads (acquire-stage.h). */
#include "acquire-stage.h"

#include "resume-state.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A checkpoint every 1/32 of the slot (3 %), within these bounds: a cut loses at most that
 * much, and a 320 MiB slot costs 40 checkpoints of three syncs each. */
#define CHECKPOINT_MIN (1024U * 1024U)
#define CHECKPOINT_MAX (8U * 1024U * 1024U)

static bool state_matches(const struct acquire_resume_target *req, const struct resume_state *s) {
        const struct resume_key *k = req->key;
        return streq(s->transfer, k->transfer) && streq(s->version, k->version) && streq(s->target, k->target) &&
               memcmp(s->payload_sha256, req->expected_sha256, 32) == 0 && s->done > 0 && s->done <= req->size_max;
}

/* Hashes [offset, offset + n) of the target into h. */
static int hash_prefix(const struct acquire_resume_target *req, const char *what, uint64_t n, struct acquire_hash *h) {
        _cleanup_free_ uint8_t *buf = malloc(ACQUIRE_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        for (uint64_t at = 0; at < n;) {
                size_t k = n - at < ACQUIRE_BUFFER_SIZE ? (size_t) (n - at) : ACQUIRE_BUFFER_SIZE;
                int r = pread_full(req->fd, buf, k, req->offset + at);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot read back byte %" PRIu64 ": %s", what, at, strerror(-r));
                r = acquire_hash_update(h, buf, k);
                if (r < 0)
                        return r;
                at += k;
        }
        return 0;
}

int acquire_resume_begin(const struct acquire_resume_target *req, struct acquire_hash *h, uint64_t *ret_done,
                         bool *ret_complete) {
        const char *what = req->what;
        struct resume_state s = {};
        uint8_t got[32];
        char a[16];
        *ret_done = 0;
        *ret_complete = false;
        if (!req->key || !req->expected_sha256)
                return 0;
        int r = resume_state_load(req->key->state_path, &s);
        if (r <= 0)
                return r;
        if (!state_matches(req, &s)) {
                log_debug("%s: the resume state %s is for another download, removing it", what, req->key->state_path);
                resume_state_done(&s);
                (void) resume_state_remove(req->key->state_path);
                return 0;
        }
        log_info("%s: resuming the download of version %s after %s, checking what was written", what, s.version,
                 format_bytes(a, s.done));
        r = hash_prefix(req, what, s.done, h);
        if (r >= 0)
                r = acquire_hash_peek(h, got);
        if (r >= 0 && memcmp(got, s.prefix_sha256, 32) != 0) {
                log_warning("%s: the %s written before no longer hash to what was downloaded, downloading it all again",
                            what, format_bytes(a, s.done));
                (void) resume_state_remove(req->key->state_path);
                r = acquire_hash_reset(h);
        } else if (r >= 0) {
                *ret_done = s.done;
                *ret_complete = s.complete;
        }
        resume_state_done(&s);
        return r;
}

void acquire_resume_forget(const struct acquire_resume_target *req) {
        if (req->key)
                (void) resume_state_remove(req->key->state_path);
}

struct acquire_checkpoint {
        struct acquire_stage stage;
        const struct acquire_resume_target *req;
        struct acquire_hash *hash;
        struct acquire_decompress *decompress;
        struct acquire_write *write;
        uint64_t pushed, interval;
        bool off;      /* the state cannot be kept here (logged once) */
};

static int checkpoint(struct acquire_checkpoint *c, bool complete) {
        const struct acquire_resume_target *req = c->req;
        struct resume_state s = {
                .transfer = (char *) req->key->transfer, .version = (char *) req->key->version,
                .target = (char *) req->key->target, .done = c->pushed, .complete = complete,
        };
        if (c->off || (c->decompress && !acquire_decompress_is_plain(c->decompress)))
                return 0;
        /* The data first: the state may only count bytes that are on the disk. */
        int r = acquire_write_sync(c->write, req->sync);
        if (r < 0)
                return r;
        if (complete)
                memcpy(s.prefix_sha256, acquire_hash_digest(c->hash), 32);
        else if ((r = acquire_hash_peek(c->hash, s.prefix_sha256)) < 0)
                return r;
        memcpy(s.payload_sha256, req->expected_sha256, 32);
        r = resume_state_save(req->key->state_path, &s);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning("%s: cannot keep the resume state, a cut download will start over: %s",
                            req->key->state_path, strerror(-r));
                c->off = true;
                return 0;
        }
        return 0;
}

/* Checkpoints fall on multiples of the interval, a multiple of the write stage's buffer: the
 * writes and syncs a download makes are the same whatever pieces the network delivers. */
static int checkpoint_push(struct acquire_stage *s, const void *data, size_t n) {
        struct acquire_checkpoint *c = (struct acquire_checkpoint *) s;
        const uint8_t *p = data;
        do {
                uint64_t next = (c->pushed / c->interval + 1) * c->interval;
                size_t k = next - c->pushed < n ? (size_t) (next - c->pushed) : n;
                int r = acquire_stage_push(s->next, p, k);
                if (r < 0)
                        return r;
                c->pushed += k;
                p += k;
                n -= k;
                if (c->pushed == next && (r = checkpoint(c, false)) < 0)
                        return r;
        } while (n > 0);
        return 0;
}

static int checkpoint_finish(struct acquire_stage *s) {
        struct acquire_checkpoint *c = (struct acquire_checkpoint *) s;
        int r = acquire_stage_finish(s->next);
        /* The hash was checked before this: keep "complete" until the commit removes the state. */
        return r < 0 ? r : checkpoint(c, true);
}

int acquire_checkpoint_new(const struct acquire_resume_target *req, uint64_t done, struct acquire_hash *h,
                           struct acquire_decompress *d, struct acquire_write *w, struct acquire_stage *next,
                           struct acquire_checkpoint **ret) {
        struct acquire_checkpoint *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->stage = (struct acquire_stage) { .push = checkpoint_push, .finish = checkpoint_finish, .next = next };
        c->req = req;
        c->hash = h;
        c->decompress = d;
        c->write = w;
        c->pushed = done;
        uint64_t i = req->size_max == UINT64_MAX ? CHECKPOINT_MAX : req->size_max / 32;
        i = i < CHECKPOINT_MIN ? CHECKPOINT_MIN : i > CHECKPOINT_MAX ? CHECKPOINT_MAX : i;
        c->interval = i - i % ACQUIRE_BUFFER_SIZE;
        *ret = c;
        return 0;
}

struct acquire_stage *acquire_checkpoint_stage(struct acquire_checkpoint *c) {
        return &c->stage;
}

void acquire_checkpoint_free(struct acquire_checkpoint *c) {
        free(c);
}
