/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The multipart/byteranges parser (agent/http-multipart.h) on arbitrary bytes. The input is a
 * Content-Type line, a newline, then the body. Invariants: the boundary, when accepted, has 1 to 70
 * characters; every part's range is ordered and inside its complete length; a part gets exactly
 * its range's bytes before the next part begins or the body is accepted; and the body cut into
 * pieces of 1, 2, 3 ... bytes gives the same parts, bytes and result as at once. Content-Range
 * values are tried on the Content-Type line too. */
#include "fuzz.h"

#include "agent/http-multipart.h"

#include <errno.h>

struct seen {
        uint64_t sum;      /* a running hash of the parts and their bytes */
        uint64_t left;     /* bytes the current part still has to get */
        size_t parts;
};

static void mix(struct seen *s, uint64_t v) {
        s->sum = (s->sum ^ v) * 0x100000001b3ULL;
}

static int on_part(void *userdata, const struct http_range *r) {
        struct seen *s = userdata;
        FUZZ_ASSERT(s->left == 0, "a part began %llu bytes early", (unsigned long long) s->left);
        FUZZ_ASSERT(r->first <= r->last, "range %llu-%llu", (unsigned long long) r->first, (unsigned long long) r->last);
        FUZZ_ASSERT(r->complete == UINT64_MAX || r->last < r->complete, "range beyond the file");
        s->left = r->last - r->first + 1;
        s->parts++;
        mix(s, r->first);
        mix(s, r->last);
        mix(s, r->complete);
        return 0;
}

static int on_data(void *userdata, const uint8_t *p, size_t n) {
        struct seen *s = userdata;
        FUZZ_ASSERT(n > 0 && n <= s->left, "%zu bytes, %llu left", n, (unsigned long long) s->left);
        s->left -= n;
        for (size_t i = 0; i < n; i++)
                mix(s, p[i]);
        return 0;
}

static const struct http_multipart_ops ops = { .part = on_part, .data = on_data };

static int run(const char *boundary, const uint8_t *body, size_t n, size_t step, struct seen *s) {
        struct http_multipart m;
        *s = (struct seen) { 0 };
        http_multipart_init(&m, boundary, &ops, s);
        int r = 0;
        for (size_t pos = 0; pos < n && r >= 0; pos += step)
                r = http_multipart_feed(&m, body + pos, n - pos < step ? n - pos : step);
        if (r >= 0)
                r = http_multipart_end(&m);
        if (r < 0)
                FUZZ_ASSERT(r == -EBADMSG && m.error, "error %d without a reason", r);
        else
                FUZZ_ASSERT(s->left == 0 && s->parts > 0, "accepted with %llu bytes missing", (unsigned long long) s->left);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *content_type = fuzz_take(&data, &size, '\n');
        char boundary[HTTP_BOUNDARY_MAX + 1];
        struct http_range range;
        if (!content_type)
                return 0;
        if (http_content_range_parse(content_type, &range) == 0)
                FUZZ_ASSERT(range.first <= range.last && (range.complete == UINT64_MAX || range.last < range.complete), "range");
        if (http_multipart_boundary(content_type, boundary) == 0) {
                size_t n = strlen(boundary);
                FUZZ_ASSERT(n >= 1 && n <= HTTP_BOUNDARY_MAX, "boundary of %zu bytes", n);
                struct seen whole, cut;
                int r = run(boundary, data, size, size ? size : 1, &whole);
                for (size_t step = 1; step <= 3; step++) {
                        FUZZ_ASSERT(run(boundary, data, size, step, &cut) == r, "result differs in pieces of %zu", step);
                        FUZZ_ASSERT(cut.sum == whole.sum && cut.parts == whole.parts, "parts differ in pieces of %zu", step);
                }
        }
        free(content_type);
        return 0;
}
