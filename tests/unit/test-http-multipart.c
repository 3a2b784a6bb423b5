/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/http-multipart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void test_content_range(void **state) {
        (void) state;
        struct http_range r;
        assert_int_equal(http_content_range_parse(" bytes 0-499/1234\r\n", &r), 0);
        assert_int_equal(r.first, 0);
        assert_int_equal(r.last, 499);
        assert_int_equal(r.complete, 1234);
        assert_int_equal(http_content_range_parse("Bytes  42-42/*", &r), 0);
        assert_int_equal(r.first, 42);
        assert_int_equal(r.last, 42);
        assert_true(r.complete == UINT64_MAX);
        assert_int_equal(http_content_range_parse("bytes 18446744073709551614-18446744073709551614/*", &r), 0);
        assert_true(r.last == UINT64_MAX - 1);
        const char *bad[] = {
                "bytes */1234",                 /* a 416's */
                "bytes 5-4/10",                 /* first after last */
                "bytes 0-10/10",                /* last beyond the file */
                "0-10/100",                     /* no unit */
                "bytes=0-10/100",
                "items 0-10/100",
                "bytes 0-10",
                "bytes -10/100",
                "bytes 0-/100",
                "bytes 0-10/100 x",
                "bytes 0-99999999999999999999/*", /* overflow */
                "bytes 0-10/18446744073709551615",
                "",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(http_content_range_parse(bad[i], &r), -EBADMSG);
}

static void test_boundary(void **state) {
        (void) state;
        char b[HTTP_BOUNDARY_MAX + 1];
        assert_int_equal(http_multipart_boundary(" multipart/byteranges; boundary=3d6b6a416f9b5\r\n", b), 0);
        assert_string_equal(b, "3d6b6a416f9b5");
        assert_int_equal(http_multipart_boundary("Multipart/ByteRanges;charset=x;BOUNDARY=\"a b\\\"c\" ; q=1", b), 0);
        assert_string_equal(b, "a b\"c");
        assert_int_equal(http_multipart_boundary("multipart/byteranges ; boundary = 00000000001", b), 0);
        assert_string_equal(b, "00000000001");
        char long_ok[128], too_long[128];
        snprintf(long_ok, sizeof(long_ok), "multipart/byteranges; boundary=%070d", 7);
        snprintf(too_long, sizeof(too_long), "multipart/byteranges; boundary=%071d", 7);
        assert_int_equal(http_multipart_boundary(long_ok, b), 0);
        assert_int_equal(strlen(b), 70);
        assert_int_equal(http_multipart_boundary(too_long, b), -EBADMSG);
        assert_int_equal(http_multipart_boundary("application/octet-stream", b), -ENOMSG);
        assert_int_equal(http_multipart_boundary("multipart/byterangesx; boundary=a", b), -ENOMSG);
        assert_int_equal(http_multipart_boundary("", b), -ENOMSG);
        assert_int_equal(http_multipart_boundary("multipart/byteranges", b), -EBADMSG);
        assert_int_equal(http_multipart_boundary("multipart/byteranges; boundary=", b), -EBADMSG);
        assert_int_equal(http_multipart_boundary("multipart/byteranges; boundary=\"\"", b), -EBADMSG);
        assert_int_equal(http_multipart_boundary("multipart/byteranges; boundary=a; boundary=b", b), -EBADMSG);
        assert_int_equal(http_multipart_boundary("multipart/byteranges; boundary", b), -EBADMSG);
        assert_int_equal(http_multipart_boundary("multipart/byteranges; boundary=\"a\x01\"", b), -EBADMSG);
}

/* What the parser reported: "[first-last/complete]" per part, then its bytes. */
struct record {
        char out[4096];
        size_t n;
        int fail_at_part; /* the part callback fails on this part (1-based), 0 = never */
        size_t parts;
};

static int on_part(void *userdata, const struct http_range *r) {
        struct record *rec = userdata;
        if (++rec->parts == (size_t) rec->fail_at_part)
                return -ENOSPC;
        rec->n += (size_t) snprintf(rec->out + rec->n, sizeof(rec->out) - rec->n, "[%llu-%llu/%lld]",
                                    (unsigned long long) r->first, (unsigned long long) r->last,
                                    r->complete == UINT64_MAX ? -1LL : (long long) r->complete);
        return 0;
}

static int on_data(void *userdata, const uint8_t *p, size_t n) {
        struct record *rec = userdata;
        assert_true(n > 0);
        assert_true(rec->n + n < sizeof(rec->out));
        memcpy(rec->out + rec->n, p, n);
        rec->n += n;
        rec->out[rec->n] = '\0';
        return 0;
}

static const struct http_multipart_ops ops = { .part = on_part, .data = on_data };

/* Parses body fed in pieces of step bytes (0: at once): the parse's result, the record in rec. */
static int parse(const char *boundary, const char *body, size_t step, struct record *rec, const char **why) {
        struct http_multipart m;
        size_t n = strlen(body);
        memset(rec->out, 0, sizeof(rec->out));
        rec->n = 0;
        rec->parts = 0;
        http_multipart_init(&m, boundary, &ops, rec);
        int r = 0;
        for (size_t pos = 0; pos < n && r >= 0;) {
                size_t k = step == 0 || n - pos < step ? n - pos : step;
                r = http_multipart_feed(&m, body + pos, k);
                pos += k;
        }
        if (r >= 0)
                r = http_multipart_end(&m);
        *why = m.error;
        return r;
}

/* Every way of cutting the body into pieces gives the same parts and bytes. */
static void assert_parses(const char *boundary, const char *body, const char *want) {
        struct record rec = { 0 };
        const char *why = NULL;
        for (size_t step = 0; step <= 9; step++) {
                assert_int_equal(parse(boundary, body, step, &rec, &why), 0);
                assert_string_equal(rec.out, want);
        }
}

static void assert_refused(const char *boundary, const char *body, const char *want_why) {
        struct record rec = { 0 };
        const char *why = NULL;
        for (size_t step = 0; step <= 5; step++) {
                assert_int_equal(parse(boundary, body, step, &rec, &why), -EBADMSG);
                assert_non_null(why);
                assert_string_equal(why, want_why);
        }
}

static void test_parts(void **state) {
        (void) state;
        /* Apache's and nginx's layout: a CRLF before the first boundary, the parts in the order
         * asked (here the reverse order), part bytes that look like a boundary */
        assert_parses("XyZ",
                      "\r\n--XyZ\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 10-14/100\r\n\r\n"
                      "--XyZ\r\n--XyZ\r\nContent-range: bytes 0-2/100\r\n\r\nabc\r\n--XyZ--\r\n",
                      "[10-14/100]--XyZ[0-2/100]abc");
        /* no CRLF first, a preamble, transport padding after the boundaries, blank lines between
         * the parts, an unknown complete length, an epilogue, no CRLF after the close delimiter */
        assert_parses("b",
                      "preamble text\n--b \t\nX-Other: 1\n content-range: continued\ncontent-range:bytes 1-1/*\n\nZ"
                      "\r\n\r\n--b\r\nContent-Range: bytes 3-4/5\r\n\r\n\r\n\r\n--b-- \r\nepilogue\r\n",
                      "[1-1/-1]Z[3-4/5]\r\n");
        assert_parses("b", "--b\r\nContent-Range: bytes 0-0/1\r\n\r\nx\r\n--b--", "[0-0/1]x");
}

static void test_refused(void **state) {
        (void) state;
        assert_refused("b", "", "no parts");
        assert_refused("b", "\r\n--b--\r\n", "no parts");
        assert_refused("b", "--b\r\nContent-Type: text/plain\r\n\r\nxyz\r\n--b--\r\n", "a part without Content-Range");
        assert_refused("b", "--b\r\nContent-Range: bytes 5-1/9\r\n\r\n", "a part with an invalid Content-Range");
        assert_refused("b", "--b\r\nContent-Range: bytes 0-0/9\r\nContent-Range: bytes 0-0/9\r\n\r\nx\r\n--b--",
                       "a part with two Content-Range headers");
        assert_refused("b", "--b\r\nContent-Range: bytes 0-3/9\r\n\r\nab", "the answer ended inside a part");
        assert_refused("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nab", "the answer ended before the closing boundary");
        assert_refused("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nabc\r\n--b--", "a part not followed by the boundary");
        assert_refused("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nab\r\n--c--\r\n", "a part not followed by the boundary");
        assert_refused("b", "--b\r\nContent-Range: bytes 0-1/9\r\n", "the answer ended before the closing boundary");
        assert_refused("b", "--bb\r\n", "no parts");

        /* a Content-Range longer than a line is refused, other long headers are skipped; at most
         * 4 KiB of preamble, headers or epilogue */
        static char body[16384];
        char pad[HTTP_MULTIPART_LINE_MAX + 8];
        memset(pad, '0', sizeof(pad) - 1);
        pad[sizeof(pad) - 1] = '\0';
        snprintf(body, sizeof(body), "--b\r\nContent-Range: bytes %s1-1/9\r\n\r\nx\r\n--b--\r\n", pad);
        assert_refused("b", body, "a part with an invalid Content-Range");
        snprintf(body, sizeof(body), "--b\r\nX-Long: %s\r\nContent-Range: bytes 1-1/9\r\n\r\nx\r\n--b--\r\n", pad);
        assert_parses("b", body, "[1-1/9]x");
        memset(body, 'p', 5000);
        snprintf(body + 5000, sizeof(body) - 5000, "\r\n--b\r\nContent-Range: bytes 1-1/9\r\n\r\nx\r\n--b--\r\n");
        assert_refused("b", body, "no boundary at the start");
        size_t n = (size_t) snprintf(body, sizeof(body), "--b\r\n");
        for (int i = 0; i < 200; i++)
                n += (size_t) snprintf(body + n, sizeof(body) - n, "X-Header-%03d: some value\r\n", i);
        snprintf(body + n, sizeof(body) - n, "Content-Range: bytes 1-1/9\r\n\r\nx\r\n--b--\r\n");
        assert_refused("b", body, "part headers too long");
        n = (size_t) snprintf(body, sizeof(body), "--b\r\nContent-Range: bytes 1-1/9\r\n\r\nx\r\n--b--\r\n");
        memset(body + n, 'e', 5000);
        body[n + 5000] = '\0';
        assert_refused("b", body, "too many bytes after the closing boundary");
}

static void test_callback_error(void **state) {
        (void) state;
        struct record rec = { .fail_at_part = 2 };
        const char *why = NULL;
        const char *body = "--b\r\nContent-Range: bytes 0-0/9\r\n\r\nx\r\n--b\r\nContent-Range: bytes 1-1/9\r\n\r\ny\r\n--b--";
        assert_int_equal(parse("b", body, 0, &rec, &why), -ENOSPC);
        assert_string_equal(rec.out, "[0-0/9]x");
        struct http_multipart m;
        rec = (struct record) { .fail_at_part = 1 };
        http_multipart_init(&m, "b", &ops, &rec);
        assert_int_equal(http_multipart_feed(&m, body, strlen(body)), -ENOSPC);
        assert_int_equal(http_multipart_feed(&m, "x", 1), -EBADMSG); /* stays failed */
        assert_int_equal(http_multipart_end(&m), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_content_range),
                cmocka_unit_test(test_boundary),
                cmocka_unit_test(test_parts),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_callback_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
