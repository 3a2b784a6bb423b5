/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stage: counts the downloaded bytes into a progress line and passes them on unchanged. */
#include "acquire-stage.h"
#include "base/progress.h"

#include <errno.h>
#include <stdlib.h>

struct acquire_progress {
        struct acquire_stage stage;
        struct progress progress;
        void (*on_bytes)(void *userdata, uint64_t downloaded);
        void *userdata;
};

static int progress_push(struct acquire_stage *s, const void *data, size_t n) {
        struct acquire_progress *p = (struct acquire_progress *) s;
        progress_update(&p->progress, p->progress.done + n);
        if (p->on_bytes)
                p->on_bytes(p->userdata, p->progress.done);
        return acquire_stage_push(s->next, data, n);
}

static int progress_finish(struct acquire_stage *s) {
        struct acquire_progress *p = (struct acquire_progress *) s;
        progress_end(&p->progress);
        return acquire_stage_finish(s->next);
}

static void progress_expect(struct acquire_stage *s, uint64_t total) {
        progress_set_total(&((struct acquire_progress *) s)->progress, total);
        acquire_stage_expect(s->next, total); /* the checkpoint stage wants it too */
}

int acquire_progress_new(const char *what, bool want, void (*on_bytes)(void *userdata, uint64_t downloaded),
                         void *userdata, struct acquire_stage *next, struct acquire_progress **ret) {
        struct acquire_progress *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->stage = (struct acquire_stage) {
                .push = progress_push, .finish = progress_finish, .expect = progress_expect, .next = next,
        };
        p->on_bytes = on_bytes;
        p->userdata = userdata;
        progress_start(&p->progress, what, want);
        *ret = p;
        return 0;
}

struct acquire_stage *acquire_progress_stage(struct acquire_progress *p) {
        return &p->stage;
}

void acquire_progress_free(struct acquire_progress *p) {
        if (!p)
                return;
        /* Ended already if the transfer succeeded; otherwise its error line has replaced it. */
        progress_abandon(&p->progress);
        free(p);
}
