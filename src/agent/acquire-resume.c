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
#include <sys/stat.h>

/* A checkpoint every 1/32 of the slot or of a compressed download (3 %), within these bounds: a
 * cut loses at most that much, and a 320 MiB slot costs 40 checkpoints of three syncs each. */
#define CHECKPOINT_MIN (1024U * 1024U)
#define CHECKPOINT_MAX (8U * 1024U * 1024U)

static bool state_matches(const struct acquire_resume_target *req, const struct resume_state *s) {
        const struct resume_key *k = req->key;
        return streq(s->transfer, k->transfer) && streq(s->version, k->version) && streq(s->target, k->target) &&
               memcmp(s->payload_sha256, req->expected_sha256, 32) == 0 && s->done > 0 &&
               (s->spool || s->done <= req->size_max);
}

/* Hashes [offset, offset + n) of the target into h: 1, or 0 when the target (a file of its own)
 * is shorter than that. */
static int hash_prefix(const struct acquire_resume_target *req, const char *what, uint64_t n, struct acquire_hash *h) {
        _cleanup_free_ uint8_t *buf = malloc(ACQUIRE_BUFFER_SIZE);
        struct stat st;
        if (!buf)
                return -ENOMEM;
        if (fstat(req->fd, &st) < 0)
                return log_error_errno(errno, "%s: cannot stat: %s", what, strerror(errno));
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size < req->offset + n)
                return 0;
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
        return 1;
}

/* The prefix is in the target: 1 when it hashes to s->prefix_sha256 (and stays hashed into h). */
static int check_target(const struct acquire_resume_target *req, const struct resume_state *s, struct acquire_hash *h) {
        uint8_t got[32];
        int r = hash_prefix(req, req->what, s->done, h);
        if (r > 0 && (r = acquire_hash_peek(h, got)) >= 0 && memcmp(got, s->prefix_sha256, 32) == 0)
                return 1;
        if (r < 0)
                return r;
        char a[16];
        log_warning("%s: the %s written before no longer hash to what was downloaded, downloading it all again",
                    req->what, format_bytes(a, s->done));
        r = acquire_hash_reset(h);
        return r < 0 ? r : 0;
}

int acquire_resume_begin(const struct acquire_resume_target *req, struct acquire_hash *h,
                         struct acquire_resume_point *ret) {
        const char *what = req->what;
        struct resume_state s = {};
        char a[16];
        *ret = (struct acquire_resume_point) {};
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
        log_info("%s: resuming the download of version %s after %s%s, checking what was %s", what, s.version,
                 format_bytes(a, s.done), s.spool ? " (from the spool)" : "", s.spool ? "spooled" : "written");
        r = s.spool ? acquire_spool_check(req->spool_path, s.done, s.prefix_sha256, what) : check_target(req, &s, h);
        if (r == 0)
                (void) resume_state_remove(req->key->state_path);
        else if (r > 0)
                *ret = (struct acquire_resume_point) { .done = s.done, .complete = s.complete, .spooled = s.spool };
        resume_state_done(&s);
        return r < 0 ? r : 0;
}

void acquire_resume_forget(const struct acquire_resume_target *req) {
        if (req->key)
                (void) resume_state_remove(req->key->state_path);
}

enum mode {
        MODE_UNKNOWN, /* not enough bytes yet to tell whether the payload is compressed */
        MODE_PLAIN,   /* the target holds the prefix */
        MODE_SPOOL,   /* compressed: the spool holds the prefix */
        MODE_OFF,     /* no state can be kept (logged once) */
};

#define HEAD_MAX 8 /* more than the decompressor needs to tell the format */

struct acquire_checkpoint {
        struct acquire_stage stage;
        const struct acquire_resume_target *req;
        struct acquire_hash *hash;
        struct acquire_decompress *decompress;
        struct acquire_write *write;
        struct acquire_spool *spool;
        uint64_t pushed, interval, total;
        enum mode mode;
        uint8_t head[HEAD_MAX]; /* the first bytes, while the mode is unknown */
        size_t head_len;
};

/* A checkpoint every 1/32 of the base (the slot, or the download when its size is known), within
 * [CHECKPOINT_MIN, CHECKPOINT_MAX], a multiple of the write stage's buffer. */
static void set_interval(struct acquire_checkpoint *c, uint64_t base) {
        uint64_t i = base == UINT64_MAX ? CHECKPOINT_MAX : base / 32;
        i = i < CHECKPOINT_MIN ? CHECKPOINT_MIN : i > CHECKPOINT_MAX ? CHECKPOINT_MAX : i;
        c->interval = i - i % ACQUIRE_BUFFER_SIZE;
}

static void turn_off(struct acquire_checkpoint *c) {
        c->mode = MODE_OFF;
        (void) resume_state_remove(c->req->key->state_path);
}

static int start_spool(struct acquire_checkpoint *c, uint64_t keep) {
        int r = acquire_spool_open(c->req->spool_path, keep, c->total == UINT64_MAX ? UINT64_MAX : c->total - keep,
                                   c->req->what, &c->spool);
        if (r < 0)
                return r;
        c->mode = MODE_SPOOL;
        if (!acquire_spool_is_on(c->spool))
                turn_off(c);
        return 0;
}

/* After p[0, n) went on at c->pushed: learns the mode once the decompressor knows the format, and
 * keeps the spool holding every byte pushed. */
static int track(struct acquire_checkpoint *c, const uint8_t *p, size_t n) {
        if (c->mode == MODE_UNKNOWN) {
                if (!c->decompress || acquire_decompress_is_plain(c->decompress)) {
                        c->mode = MODE_PLAIN;
                        return 0;
                }
                if (!acquire_decompress_is_compressed(c->decompress)) {
                        if (n > HEAD_MAX - c->head_len)
                                return -EINVAL; /* cannot be: the decompressor decides sooner */
                        memcpy(c->head + c->head_len, p, n);
                        c->head_len += n;
                        return 0;
                }
                /* The interval goes by the download: it is smaller than the slot. */
                set_interval(c, c->total);
                int r = start_spool(c, 0);
                if (r < 0 || c->mode == MODE_OFF)
                        return r;
                if (!acquire_spool_append(c->spool, c->head, c->head_len)) {
                        turn_off(c);
                        return 0;
                }
        }
        if (c->mode == MODE_SPOOL && !acquire_spool_append(c->spool, p, n))
                turn_off(c);
        return 0;
}

static int checkpoint(struct acquire_checkpoint *c, bool complete) {
        const struct acquire_resume_target *req = c->req;
        struct resume_state s = {
                .transfer = (char *) req->key->transfer, .version = (char *) req->key->version,
                .target = (char *) req->key->target, .done = c->pushed, .complete = complete,
                .spool = c->mode == MODE_SPOOL,
        };
        int r;
        if (c->mode != MODE_PLAIN && c->mode != MODE_SPOOL)
                return 0;
        /* The data first: the state may only count bytes that are on the disk. The spool's are
         * what a resume reads; the target's content is then decompressed anew, not used. */
        if (c->mode == MODE_SPOOL && !acquire_spool_sync(c->spool)) {
                turn_off(c);
                return 0;
        }
        if (c->mode == MODE_PLAIN && (r = acquire_write_sync(c->write, req->sync)) < 0)
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
                turn_off(c);
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
                if (r >= 0 && c->mode != MODE_OFF && c->mode != MODE_PLAIN)
                        r = track(c, p, k);
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

static void checkpoint_expect(struct acquire_stage *s, uint64_t remaining) {
        struct acquire_checkpoint *c = (struct acquire_checkpoint *) s;
        c->total = c->pushed + remaining;
        if (c->mode == MODE_SPOOL || c->req->size_max == UINT64_MAX)
                set_interval(c, c->total); /* a file of its own: the download is the measure */
        if (c->mode == MODE_SPOOL) {
                acquire_spool_expect(c->spool, remaining);
                if (!acquire_spool_is_on(c->spool))
                        turn_off(c);
        }
}

int acquire_checkpoint_new(const struct acquire_resume_target *req, const struct acquire_resume_point *at,
                           struct acquire_hash *h, struct acquire_decompress *d, struct acquire_write *w,
                           struct acquire_stage *next, struct acquire_checkpoint **ret) {
        _cleanup_free_ struct acquire_checkpoint *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->stage = (struct acquire_stage) {
                .push = checkpoint_push, .finish = checkpoint_finish, .expect = checkpoint_expect, .next = next,
        };
        c->req = req;
        c->hash = h;
        c->decompress = d;
        c->write = w;
        c->pushed = at->done;
        c->total = UINT64_MAX;
        c->mode = at->spooled ? MODE_SPOOL : at->done > 0 ? MODE_PLAIN : MODE_UNKNOWN;
        set_interval(c, req->size_max);
        if (at->spooled) {
                /* Goes on after the bytes replayed (before this stage was made). */
                int r = start_spool(c, at->done);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

struct acquire_stage *acquire_checkpoint_stage(struct acquire_checkpoint *c) {
        return &c->stage;
}

void acquire_checkpoint_free(struct acquire_checkpoint *c) {
        if (!c)
                return;
        acquire_spool_free(c->spool);
        free(c);
}
