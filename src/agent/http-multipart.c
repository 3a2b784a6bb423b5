/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http-multipart.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* The preamble, the blank lines between a part and the next boundary, one part's headers and the
 * epilogue may each be this long: servers send a few dozen bytes there. */
#define SECTION_MAX 4096U

enum {
        STATE_PREAMBLE,  /* before the first boundary */
        STATE_HEADERS,   /* a part's header lines */
        STATE_DATA,      /* a part's bytes */
        STATE_DELIMITER, /* after a part: the CRLF and the next boundary */
        STATE_EPILOGUE,  /* after the closing boundary */
        STATE_FAILED,
};

static const char *skip_blanks(const char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        return s;
}

static bool at_end(const char *s) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                s++;
        return *s == '\0';
}

static int parse_u64(const char **s, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = *s;
        if (*p < '0' || *p > '9')
                return -EBADMSG;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
        }
        *s = p;
        *ret = v;
        return 0;
}

int http_content_range_parse(const char *value, struct http_range *ret) {
        struct http_range r = { .complete = UINT64_MAX };
        const char *s = skip_blanks(value);
        if (strncasecmp(s, "bytes", 5) != 0 || (s[5] != ' ' && s[5] != '\t'))
                return -EBADMSG;
        s = skip_blanks(s + 5);
        if (parse_u64(&s, &r.first) < 0 || *s++ != '-' || parse_u64(&s, &r.last) < 0 || *s++ != '/')
                return -EBADMSG;
        if (*s == '*')
                s++;
        else if (parse_u64(&s, &r.complete) < 0 || r.complete == UINT64_MAX)
                return -EBADMSG;
        if (!at_end(s) || r.first > r.last || (r.complete != UINT64_MAX && r.last >= r.complete))
                return -EBADMSG;
        *ret = r;
        return 0;
}

/* A parameter value (token or quoted-string) into buf (cut at size - 1 bytes; *ret_len is the
 * whole length); s is left after it. */
static const char *param_value(const char *s, char *buf, size_t size, size_t *ret_len) {
        size_t n = 0;
        bool quoted = *s == '"';
        if (quoted)
                s++;
        for (; *s; s++) {
                if (quoted && *s == '"') {
                        s++;
                        break;
                }
                if (!quoted && (*s == ';' || *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
                        break;
                if (quoted && *s == '\\' && s[1])
                        s++;
                if (n + 1 < size)
                        buf[n] = *s;
                n++;
        }
        buf[n + 1 < size ? n : size - 1] = '\0';
        *ret_len = n;
        return s;
}

int http_multipart_boundary(const char *content_type, char ret[HTTP_BOUNDARY_MAX + 1]) {
        static const char type[] = "multipart/byteranges";
        const char *s = skip_blanks(content_type);
        bool found = false;
        if (strncasecmp(s, type, sizeof(type) - 1) != 0)
                return -ENOMSG;
        s = skip_blanks(s + sizeof(type) - 1);
        if (*s != ';' && !at_end(s))
                return -ENOMSG; /* multipart/byterangesX */
        while (*s == ';') {
                char value[HTTP_BOUNDARY_MAX + 2];
                size_t len = 0;
                const char *name = s = skip_blanks(s + 1);
                while (*s && *s != '=' && *s != ';' && *s != ' ' && *s != '\t')
                        s++;
                size_t name_len = (size_t) (s - name);
                s = skip_blanks(s);
                if (*s != '=')
                        return -EBADMSG;
                s = param_value(skip_blanks(s + 1), value, sizeof(value), &len);
                if (name_len == 8 && strncasecmp(name, "boundary", 8) == 0) {
                        if (found || len == 0 || len > HTTP_BOUNDARY_MAX)
                                return -EBADMSG;
                        for (size_t i = 0; i < len; i++)
                                if ((unsigned char) value[i] < ' ' || value[i] == 0x7f)
                                        return -EBADMSG;
                        memcpy(ret, value, len + 1);
                        found = true;
                }
                s = skip_blanks(s);
        }
        return found && at_end(s) ? 0 : -EBADMSG;
}

void http_multipart_init(struct http_multipart *m, const char *boundary, const struct http_multipart_ops *ops,
                         void *userdata) {
        *m = (struct http_multipart) { .ops = ops, .userdata = userdata, .state = STATE_PREAMBLE };
        m->boundary_len = strnlen(boundary, HTTP_BOUNDARY_MAX);
        memcpy(m->boundary, boundary, m->boundary_len);
}

static int fail(struct http_multipart *m, const char *why) {
        m->state = STATE_FAILED;
        m->error = why;
        return -EBADMSG;
}

/* 1: "--BOUNDARY", 2: "--BOUNDARY--" (either with transport padding), 0: neither. */
static int boundary_kind(const struct http_multipart *m, const char *l, size_t n) {
        size_t k = 2 + m->boundary_len;
        int kind = 1;
        if (n < k || l[0] != '-' || l[1] != '-' || memcmp(l + 2, m->boundary, m->boundary_len) != 0)
                return 0;
        if (n >= k + 2 && l[k] == '-' && l[k + 1] == '-') {
                kind = 2;
                k += 2;
        }
        for (; k < n; k++)
                if (l[k] != ' ' && l[k] != '\t')
                        return 0;
        return kind;
}

static void part_begins(struct http_multipart *m) {
        m->state = STATE_HEADERS;
        m->section = 0;
        m->has_range = false;
}

static int header_line(struct http_multipart *m, const char *l, size_t n, bool cut) {
        static const char name[] = "content-range:";
        if (n == 0) {
                if (!m->has_range)
                        return fail(m, "a part without Content-Range");
                int r = m->ops->part(m->userdata, &m->range);
                if (r < 0) {
                        m->state = STATE_FAILED;
                        return r;
                }
                m->state = STATE_DATA;
                m->left = m->range.last - m->range.first + 1;
                m->parts++;
                return 0;
        }
        if (n < sizeof(name) - 1 || strncasecmp(l, name, sizeof(name) - 1) != 0)
                return 0; /* another header, or a folded line */
        char value[HTTP_MULTIPART_LINE_MAX + 1];
        memcpy(value, l + sizeof(name) - 1, n - (sizeof(name) - 1));
        value[n - (sizeof(name) - 1)] = '\0';
        if (m->has_range)
                return fail(m, "a part with two Content-Range headers");
        if (cut || http_content_range_parse(value, &m->range) < 0)
                return fail(m, "a part with an invalid Content-Range");
        m->has_range = true;
        return 0;
}

static int line_done(struct http_multipart *m) {
        bool cut = m->line_len > sizeof(m->line);
        size_t n = cut ? sizeof(m->line) : m->line_len;
        if (!cut && n > 0 && m->line[n - 1] == '\r')
                n--;
        m->line_len = 0;
        int kind = cut ? 0 : boundary_kind(m, m->line, n);
        switch (m->state) {
        case STATE_PREAMBLE:
                if (kind == 2)
                        return fail(m, "no parts");
                if (kind == 1)
                        part_begins(m);
                return 0;
        case STATE_HEADERS:
                return header_line(m, m->line, n, cut);
        case STATE_DELIMITER:
                if (kind == 1)
                        part_begins(m);
                else if (kind == 2) {
                        m->state = STATE_EPILOGUE;
                        m->section = 0;
                } else if (n > 0 || cut)
                        return fail(m, "a part not followed by the boundary");
                return 0;
        default:
                return 0;
        }
}

static int section_too_long(struct http_multipart *m) {
        switch (m->state) {
        case STATE_PREAMBLE:
                return fail(m, "no boundary at the start");
        case STATE_HEADERS:
                return fail(m, "part headers too long");
        case STATE_DELIMITER:
                return fail(m, "a part not followed by the boundary");
        default:
                return fail(m, "too many bytes after the closing boundary");
        }
}

int http_multipart_feed(struct http_multipart *m, const void *data, size_t n) {
        const uint8_t *p = data;
        while (n > 0) {
                if (m->state == STATE_FAILED)
                        return -EBADMSG;
                if (m->state == STATE_DATA) {
                        size_t k = n < m->left ? n : (size_t) m->left;
                        int r = m->ops->data(m->userdata, p, k);
                        if (r < 0) {
                                m->state = STATE_FAILED;
                                return r;
                        }
                        p += k;
                        n -= k;
                        m->left -= k;
                        if (m->left == 0) {
                                m->state = STATE_DELIMITER;
                                m->section = 0;
                        }
                        continue;
                }
                const uint8_t *lf = memchr(p, '\n', n);
                size_t k = lf ? (size_t) (lf - p) : n;
                if (m->line_len < sizeof(m->line))
                        memcpy(m->line + m->line_len, p, k < sizeof(m->line) - m->line_len ? k : sizeof(m->line) - m->line_len);
                m->line_len += k;
                m->section += k + (lf ? 1 : 0);
                if (m->section > SECTION_MAX)
                        return section_too_long(m);
                p += k + (lf ? 1 : 0);
                n -= k + (lf ? 1 : 0);
                if (lf) {
                        int r = line_done(m);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int http_multipart_end(struct http_multipart *m) {
        if (m->state == STATE_FAILED)
                return -EBADMSG;
        /* the closing boundary may end the body without a CRLF */
        if (m->state == STATE_DELIMITER && m->line_len > 0) {
                int r = line_done(m);
                if (r < 0)
                        return r;
        }
        switch (m->state) {
        case STATE_EPILOGUE:
                return 0;
        case STATE_DATA:
                return fail(m, "the answer ended inside a part");
        case STATE_PREAMBLE:
                return fail(m, "no parts");
        default:
                return fail(m, "the answer ended before the closing boundary");
        }
}
