/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The answer to an HTTP request for several byte ranges (RFC 9110 §14): a 206 whose body is
 * multipart/byteranges (RFC 9110 §14.6, RFC 2046 §5.1.1),
 *
 *     [preamble] --BOUNDARY CRLF  Content-Range: bytes A-B/SIZE CRLF ... CRLF CRLF  <B-A+1 bytes>
 *                CRLF --BOUNDARY CRLF ... CRLF --BOUNDARY-- [epilogue]
 *
 * parsed as it streams in, in constant memory: each part is announced with its Content-Range,
 * then its bytes are passed on as they arrive. The parts may come in any order and a server may
 * coalesce ranges, so the receiver places the bytes by the ranges it is told, not by what it
 * asked for. A part's length comes from its Content-Range: its bytes are never searched for the
 * boundary. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 2046: a boundary has 1 to 70 characters. */
#define HTTP_BOUNDARY_MAX 70U
/* Lines outside the parts' bytes (boundaries, part headers) longer than this are cut (ignored,
 * unless one is a Content-Range: malformed). */
#define HTTP_MULTIPART_LINE_MAX 256U

/* bytes first-last/complete; last inclusive, complete = UINT64_MAX when "*" (unknown). */
struct http_range {
        uint64_t first, last, complete;
};

/* Parses the value of a Content-Range header of a 206 ("bytes 0-499/1234", or with an unknown
 * complete length "bytes 0-499/" followed by a star): 0, or -EBADMSG (also for the unsatisfied
 * form of a 416, and a last beyond the complete length). */
int http_content_range_parse(const char *value, struct http_range *ret);

/* The boundary of a Content-Type "multipart/byteranges; boundary=..." (token or quoted):
 * 0, -ENOMSG when the type is another one, -EBADMSG when the boundary is missing or invalid. */
int http_multipart_boundary(const char *content_type, char ret[HTTP_BOUNDARY_MAX + 1]);

struct http_multipart_ops {
        /* A part begins: its range. A negative return stops the parse with that error. */
        int (*part)(void *userdata, const struct http_range *range);
        /* Bytes of the part begun last, in order; all of them arrive before the next part. */
        int (*data)(void *userdata, const uint8_t *p, size_t n);
};

struct http_multipart {
        const struct http_multipart_ops *ops;
        void *userdata;
        char boundary[HTTP_BOUNDARY_MAX + 1];
        size_t boundary_len;
        int state;
        char line[HTTP_MULTIPART_LINE_MAX];
        size_t line_len;       /* bytes of the current line so far (more than kept when cut) */
        size_t section;        /* bytes of the current preamble, blank lines, headers or epilogue */
        bool has_range;
        struct http_range range;
        uint64_t left;         /* bytes of the current part still to come */
        size_t parts;
        const char *error;     /* why the answer was refused (static), after -EBADMSG */
};

void http_multipart_init(struct http_multipart *m, const char *boundary, const struct http_multipart_ops *ops,
                         void *userdata);
/* The next n bytes of the body: 0, -EBADMSG (m->error says why) or a callback's error. */
int http_multipart_feed(struct http_multipart *m, const void *data, size_t n);
/* The body ended: 0 when it closed properly with at least one part, else -EBADMSG (m->error). */
int http_multipart_end(struct http_multipart *m);
