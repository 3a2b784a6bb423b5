/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The acquire pipeline against real files, real xz/gzip/zstd streams and a real HTTP server
 * (tests/helpers/httpd.py) that can fail on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/acquire.h"
#include "agent/acquire-stage.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>

struct fixture {
        char dir[64];
        pid_t httpd;
        unsigned port;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        strcpy(f->dir, "/var/tmp/test-acquire-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->httpd = -1;
        /* Small values so stall tests take seconds, not minutes. */
        setenv("ABOTA_STALL_TIMEOUT", "1", 1);
        setenv("ABOTA_CONNECT_TIMEOUT", "2", 1);
        *state = f;
        return 0;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...) {
        va_list ap;
        char *cmd;
        va_start(ap, fmt);
        assert_true(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static void httpd_stop(struct fixture *f) {
        if (f->httpd > 0) {
                kill(f->httpd, SIGTERM);
                waitpid(f->httpd, NULL, 0);
                f->httpd = -1;
        }
}

static int teardown(void **state) {
        struct fixture *f = *state;
        httpd_stop(f);
        run("rm -rf '%s'", f->dir);
        free(f);
        return 0;
}

static char *in_dir(struct fixture *f, const char *name) {
        char *p = path_join(f->dir, name);
        assert_non_null(p);
        return p;
}

/* Deterministic pseudo-random bytes with a run of zeros in the middle (for sparse writing). */
static void make_payload(const char *path, size_t size, unsigned seed) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        uint8_t buf[8192];
        uint32_t x = seed * 2654435761U + 1;
        for (size_t done = 0; done < size;) {
                size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
                for (size_t i = 0; i < n; i++) {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        size_t at = done + i;
                        buf[i] = at >= size / 3 && at < size / 3 + 3 * 65536 ? 0 : (uint8_t) x;
                }
                assert_int_equal(write(fd, buf, n), (ssize_t) n);
                done += n;
        }
}

static void file_sha256(const char *path, uint8_t out[32]) {
        _cleanup_free_ char *data = NULL;
        size_t n;
        assert_int_equal(read_full_file(path, 512 * 1024 * 1024, &data, &n), 0);
        unsigned len;
        assert_int_equal(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL), 1);
}

static void assert_files_equal(const char *a, const char *b) {
        _cleanup_free_ char *x = NULL, *y = NULL;
        size_t nx, ny;
        assert_int_equal(read_full_file(a, 512 * 1024 * 1024, &x, &nx), 0);
        assert_int_equal(read_full_file(b, 512 * 1024 * 1024, &y, &ny), 0);
        assert_int_equal(nx, ny);
        assert_memory_equal(x, y, nx);
}

/* Acquire url into a new file at offset 0; returns acquire_run's result. */
static int acquire_to(const char *url, const uint8_t *sha, const char *target, uint64_t size_max,
                      struct acquire_result *res) {
        _cleanup_close_ int fd = open(target, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        struct acquire_request req = {
                .url = url, .expected_sha256 = sha, .fd = fd, .size_max = size_max, .sync = true,
                .what = "test",
        };
        return acquire_run(&req, res);
}

/* stderr of the code in between goes to a string. */
struct capture {
        int saved;
        char path[PATH_MAX];
};

static void capture_begin(struct fixture *f, struct capture *c) {
        snprintf(c->path, sizeof(c->path), "%s/stderr", f->dir);
        fflush(stderr);
        c->saved = dup(STDERR_FILENO);
        int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0 && c->saved >= 0);
        dup2(fd, STDERR_FILENO);
        close(fd);
}

static char *capture_end(struct capture *c) {
        char *s = NULL;
        fflush(stderr);
        dup2(c->saved, STDERR_FILENO);
        close(c->saved);
        assert_int_equal(read_full_file(c->path, 1 << 20, &s, NULL), 0);
        fputs(s, stderr); /* still visible in the test log */
        return s;
}

static void test_local_path_and_file_url(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "payload with space.raw"), *dst = in_dir(f, "slot");
        struct acquire_result res;
        uint8_t sha[32];
        const size_t size = 3 * 1024 * 1024 + 123;

        make_payload(src, size, 1);
        file_sha256(src, sha);
        assert_int_equal(acquire_to(src, NULL, dst, UINT64_MAX, &res), 0);
        assert_files_equal(src, dst);
        assert_int_equal(res.downloaded, size);
        assert_int_equal(res.written, size);
        assert_memory_equal(res.sha256, sha, 32);
        /* The 192 KiB zero run became a hole. */
        struct stat st;
        assert_int_equal(stat(dst, &st), 0);
        assert_true((uint64_t) st.st_blocks * 512 <= size - 128 * 1024);

        _cleanup_free_ char *url = strprintf("file://%s/payload%%20with%%20space.raw", f->dir);
        memset(&res, 0, sizeof(res));
        assert_int_equal(acquire_to(url, sha, dst, UINT64_MAX, &res), 0);
        assert_files_equal(src, dst);
        assert_memory_equal(res.sha256, sha, 32);

        _cleanup_free_ char *missing = in_dir(f, "missing.raw");
        assert_int_equal(acquire_to(missing, NULL, dst, UINT64_MAX, &res), -ENOENT);
        assert_int_equal(acquire_to("file://relative/x", NULL, dst, UINT64_MAX, &res), -EINVAL);
        assert_int_equal(acquire_to("ftp://example.com/x", NULL, dst, UINT64_MAX, &res), -EPROTONOSUPPORT);
}

static void test_tiny_payloads(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "tiny"), *dst = in_dir(f, "slot");
        struct acquire_result res;
        /* Shorter than any compression magic: passed through as is. */
        run("printf '\\375' > '%s'", src);
        assert_int_equal(acquire_to(src, NULL, dst, UINT64_MAX, &res), 0);
        assert_files_equal(src, dst);
        assert_int_equal(res.written, 1);
        run(": > '%s'", src);
        assert_int_equal(acquire_to(src, NULL, dst, UINT64_MAX, &res), 0);
        assert_int_equal(res.downloaded, 0);
        assert_int_equal(res.written, 0);
}

static const char *const compressors[][2] = {
        { "xz", "xz -T1 -3 -c" },
        { "gz", "gzip -1 -c" },
        { "zst", "zstd -q -3 -c" },
};

static void test_compressed(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "image.raw"), *dst = in_dir(f, "slot");
        const size_t size = 2 * 1024 * 1024 + 4097;
        make_payload(src, size, 2);
        for (size_t i = 0; i < ELEMENTSOF(compressors); i++) {
                _cleanup_free_ char *z = strprintf("%s.%s", src, compressors[i][0]);
                struct acquire_result res;
                uint8_t sha[32];
                run("%s '%s' > '%s'", compressors[i][1], src, z);
                file_sha256(z, sha);
                assert_int_equal(acquire_to(z, sha, dst, UINT64_MAX, &res), 0);
                assert_files_equal(src, dst);
                assert_int_equal(res.written, size);
                struct stat st;
                assert_int_equal(stat(z, &st), 0);
                assert_int_equal(res.downloaded, (uint64_t) st.st_size);
                assert_memory_equal(res.sha256, sha, 32); /* of the compressed bytes */
        }
        /* Concatenated gzip members decompress to the concatenation. */
        _cleanup_free_ char *two = in_dir(f, "two.gz"), *want = in_dir(f, "want");
        run("printf hello | gzip -c > '%s' && printf world | gzip -c >> '%s' && printf helloworld > '%s'",
            two, two, want);
        struct acquire_result res;
        assert_int_equal(acquire_to(two, NULL, dst, UINT64_MAX, &res), 0);
        assert_files_equal(want, dst);
}

static void test_truncated_and_corrupt(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "image.raw"), *dst = in_dir(f, "slot");
        make_payload(src, 1024 * 1024, 3);
        for (size_t i = 0; i < ELEMENTSOF(compressors); i++) {
                _cleanup_free_ char *z = strprintf("%s.%s", src, compressors[i][0]);
                _cleanup_free_ char *cut = strprintf("%s.cut", z), *bad = strprintf("%s.bad", z);
                struct acquire_result res;
                struct stat st;
                run("%s '%s' > '%s'", compressors[i][1], src, z);
                assert_int_equal(stat(z, &st), 0);
                /* The first half, and the whole stream but its last byte. */
                run("head -c %lld '%s' > '%s'", (long long) st.st_size / 2, z, cut);
                assert_int_equal(acquire_to(cut, NULL, dst, UINT64_MAX, &res), -EBADMSG);
                run("head -c %lld '%s' > '%s'", (long long) st.st_size - 1, z, cut);
                assert_int_equal(acquire_to(cut, NULL, dst, UINT64_MAX, &res), -EBADMSG);
                /* A flipped byte inside the compressed data (past the headers). */
                run("cp '%s' '%s' && printf '\\377\\377\\377\\377' | dd of='%s' bs=1 seek=%lld conv=notrunc status=none",
                    z, bad, bad, (long long) st.st_size / 2);
                assert_int_equal(acquire_to(bad, NULL, dst, UINT64_MAX, &res), -EBADMSG);
        }
}

static void test_hash_mismatch(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "image.raw"), *dst = in_dir(f, "slot");
        struct acquire_result res;
        struct capture c;
        uint8_t sha[32];
        make_payload(src, 100000, 4);
        file_sha256(src, sha);
        sha[31] ^= 1;
        capture_begin(f, &c);
        int r = acquire_to(src, sha, dst, UINT64_MAX, &res);
        _cleanup_free_ char *err = capture_end(&c);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err, src));
        assert_non_null(strstr(err, "checksum mismatch"));
        /* Exactly one line. */
        assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
}

/* A 1 MiB target file filled with 0xAA. */
static int make_disk(const char *path) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        uint8_t buf[65536];
        memset(buf, 0xAA, sizeof(buf));
        for (int i = 0; i < 16; i++)
                assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t) sizeof(buf));
        return fd;
}

static void assert_range_is(int fd, uint64_t from, uint64_t to, uint8_t value) {
        uint8_t buf[4096];
        for (uint64_t at = from; at < to;) {
                size_t n = to - at < sizeof(buf) ? to - at : sizeof(buf);
                assert_int_equal(pread(fd, buf, n, (off_t) at), (ssize_t) n);
                for (size_t i = 0; i < n; i++)
                        if (buf[i] != value)
                                fail_msg("byte %llu is 0x%02x, expected 0x%02x", (unsigned long long) (at + i),
                                         buf[i], value);
                at += n;
        }
}

static void test_offset_leaves_neighbours_untouched(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "image.raw"), *disk = in_dir(f, "disk");
        _cleanup_close_ int fd = make_disk(disk);
        /* Zero run inside (punched as a hole) and an unaligned offset. */
        const size_t size = 300000;
        const uint64_t offset = 3 * 4096 + 17, size_max = 400000;
        make_payload(src, size, 5);
        struct acquire_request req = { .url = src, .fd = fd, .offset = offset, .size_max = size_max };
        struct acquire_result res;
        assert_int_equal(acquire_run(&req, &res), 0);
        assert_int_equal(res.written, size);
        assert_range_is(fd, 0, offset, 0xAA);
        assert_range_is(fd, offset + size, 1024 * 1024, 0xAA);
        _cleanup_free_ char *want = NULL, *got = malloc(size);
        assert_int_equal(read_full_file(src, size, &want, NULL), 0);
        assert_int_equal(pread(fd, got, size, (off_t) offset), (ssize_t) size);
        assert_memory_equal(want, got, size);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, 1024 * 1024);
}

static void test_larger_than_slot(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *src = in_dir(f, "image.raw"), *disk = in_dir(f, "disk");
        _cleanup_free_ char *zst = in_dir(f, "image.raw.zst");
        _cleanup_close_ int fd = make_disk(disk);
        const uint64_t offset = 8192, size_max = 200000;
        make_payload(src, 300000, 6);
        run("zstd -q -c '%s' > '%s'", src, zst);
        const char *urls[] = { src, zst };
        for (size_t i = 0; i < ELEMENTSOF(urls); i++) {
                struct acquire_request req = { .url = urls[i], .fd = fd, .offset = offset, .size_max = size_max,
                                               .what = "store_2" };
                struct capture c;
                capture_begin(f, &c);
                int r = acquire_run(&req, NULL);
                _cleanup_free_ char *err = capture_end(&c);
                assert_int_equal(r, -EFBIG);
                assert_non_null(strstr(err, "store_2: payload larger than the slot"));
                assert_range_is(fd, 0, offset, 0xAA);
                assert_range_is(fd, offset + size_max, 1024 * 1024, 0xAA);
        }
        /* Exactly the slot size fits. */
        struct acquire_request req = { .url = src, .fd = fd, .offset = offset, .size_max = 300000 };
        assert_int_equal(acquire_run(&req, NULL), 0);
}

/* ---- constant memory ---- */

struct counting_sink {
        struct acquire_stage stage;
        size_t max_push;
        uint64_t total;
};

static int counting_push(struct acquire_stage *s, const void *data, size_t n) {
        struct counting_sink *c = (struct counting_sink *) s;
        (void) data;
        if (n > c->max_push)
                c->max_push = n;
        c->total += n;
        return 0;
}

static int counting_finish(struct acquire_stage *s) {
        (void) s;
        return 0;
}

/* Peak RSS since the last peak_rss_reset() (VmHWM; writing 5 to clear_refs resets it). */
static void peak_rss_reset(void) {
        _cleanup_close_ int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "5", 1), 1);
}

static long peak_rss_kib(void) {
        _cleanup_free_ char *s = NULL;
        assert_int_equal(read_full_file("/proc/self/status", 1 << 16, &s, NULL), 0);
        const char *p = strstr(s, "\nVmHWM:");
        assert_non_null(p);
        return atol(p + 7);
}

static long current_rss_kib(void) {
        _cleanup_free_ char *s = NULL;
        assert_int_equal(read_full_file("/proc/self/status", 1 << 16, &s, NULL), 0);
        const char *p = strstr(s, "\nVmRSS:");
        assert_non_null(p);
        return atol(p + 7);
}

static void test_constant_memory(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *zst = in_dir(f, "zeros.zst");
        const uint64_t size = 256ULL * 1024 * 1024;
        /* 256 MiB that compress to almost nothing: the decompressor must still hand them on in
         * bounded pieces, and neither it nor the source may buffer the payload. */
        run("head -c %llu /dev/zero | zstd -q -c > '%s'", (unsigned long long) size, zst);
        struct counting_sink sink = { .stage = { .push = counting_push, .finish = counting_finish } };
        struct acquire_decompress *d = NULL;
        struct acquire_fetch_options o;
        uint64_t n;
        peak_rss_reset();
        long before = current_rss_kib();
        acquire_fetch_options_default(&o);
        assert_int_equal(acquire_decompress_new(zst, &sink.stage, &d), 0);
        assert_int_equal(acquire_fetch(&o, zst, acquire_decompress_stage(d), &n), 0);
        assert_int_equal(acquire_stage_finish(acquire_decompress_stage(d)), 0);
        assert_string_equal(acquire_decompress_format(d), "zstd");
        acquire_decompress_free(d);
        assert_int_equal(sink.total, size);
        assert_true(sink.max_push <= ACQUIRE_BUFFER_SIZE);
        long grown = peak_rss_kib() - before;
        print_message("peak RSS grew by %ld KiB while decompressing 256 MiB\n", grown);
        assert_true(grown < 32 * 1024);

        /* The whole pipeline into a sparse file: zeros become holes, memory stays flat. */
        _cleanup_free_ char *dst = in_dir(f, "slot");
        struct acquire_result res;
        peak_rss_reset();
        before = current_rss_kib();
        assert_int_equal(acquire_to(zst, NULL, dst, UINT64_MAX, &res), 0);
        assert_int_equal(res.written, size);
        struct stat st;
        assert_int_equal(stat(dst, &st), 0);
        assert_int_equal(st.st_size, (off_t) size);
        assert_true(st.st_blocks * 512 < 1024 * 1024);
        grown = peak_rss_kib() - before;
        print_message("peak RSS grew by %ld KiB while acquiring 256 MiB\n", grown);
        assert_true(grown < 32 * 1024);
}

static void test_fetch_small(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *p = in_dir(f, "SHA256SUMS"), *missing = in_dir(f, "SHA256SUMS.gpg");
        _cleanup_free_ char *data = NULL;
        size_t n;
        run("printf 'abc\\n' > '%s'", p);
        assert_int_equal(acquire_fetch_small(p, 4, &data, &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(data, "abc\n");
        assert_int_equal(acquire_fetch_small(p, 3, &data, &n), -EFBIG);
        /* A missing optional file is not worth an error line: the caller decides. */
        struct capture c;
        capture_begin(f, &c);
        int r = acquire_fetch_small(missing, 1024, &data, &n);
        _cleanup_free_ char *err = capture_end(&c);
        assert_int_equal(r, -ENOENT);
        assert_string_equal(err, "");
}

/* ---- HTTP, against tests/helpers/httpd.py ---- */

static char *source_root(void) {
        const char *e = getenv("ABOTA_SOURCE_ROOT");
        if (e)
                return strdup(e);
        char exe[PATH_MAX], buf[PATH_MAX * 2], real[PATH_MAX];
        ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        assert_true(k > 0);
        exe[k] = 0;
        /* __FILE__ is relative to the build root (BUILD/tests/unit/test-acquire) unless absolute. */
        *strrchr(exe, '/') = 0;
        if (__FILE__[0] == '/')
                snprintf(buf, sizeof(buf), "%s", __FILE__);
        else
                snprintf(buf, sizeof(buf), "%s/../../%s", exe, __FILE__);
        *strrchr(buf, '/') = 0;
        strncat(buf, "/../..", sizeof(buf) - strlen(buf) - 1);
        assert_non_null(realpath(buf, real));
        return strdup(real);
}

/* Starts httpd.py serving f->dir/www with the given extra options (NULL-terminated). */
static void httpd_startv(struct fixture *f, const char *const *args) {
        _cleanup_free_ char *root = source_root(), *script = path_join(root, "tests/helpers/httpd.py");
        _cleanup_free_ char *www = in_dir(f, "www"), *portfile = in_dir(f, "port"), *log = in_dir(f, "httpd.log");
        const char *argv[32] = { "python3", script, "--root", www, "--port-file", portfile, "--log", log };
        size_t n = 8;
        for (; *args && n < ELEMENTSOF(argv) - 1; args++)
                argv[n++] = *args;
        httpd_stop(f);
        unlink(portfile);
        unlink(log);
        f->httpd = fork();
        assert_true(f->httpd >= 0);
        if (f->httpd == 0) {
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *s = NULL;
                if (read_full_file(portfile, 64, &s, NULL) == 0) {
                        f->port = (unsigned) atoi(s);
                        return;
                }
                struct timespec ts = { 0, 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        fail_msg("httpd.py did not start");
}

static void httpd_start(struct fixture *f, ...) {
        const char *args[16];
        size_t n = 0;
        va_list ap;
        va_start(ap, f);
        while (n < ELEMENTSOF(args) - 1 && (args[n] = va_arg(ap, const char *)))
                n++;
        va_end(ap);
        args[n] = NULL;
        httpd_startv(f, args);
}

static char *httpd_url(struct fixture *f, const char *name) {
        char *u = strprintf("http://127.0.0.1:%u/%s", f->port, name);
        assert_non_null(u);
        return u;
}

/* The request log of httpd.py: one line per request. */
static char *httpd_log(struct fixture *f) {
        _cleanup_free_ char *log = in_dir(f, "httpd.log");
        char *s = NULL;
        if (read_full_file(log, 1 << 20, &s, NULL) < 0)
                s = strdup("");
        return s;
}

static size_t count_lines(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* www/image.raw (the payload) and www/image.raw.zst; returns the SHA-256 of the .zst. */
static void make_www(struct fixture *f, size_t size, uint8_t zst_sha[32]) {
        _cleanup_free_ char *www = in_dir(f, "www"), *raw = NULL, *zst = NULL;
        raw = path_join(www, "image.raw");
        zst = path_join(www, "image.raw.zst");
        assert_true(mkdir(www, 0755) == 0 || errno == EEXIST);
        make_payload(raw, size, 7);
        run("zstd -q -c '%s' > '%s'", raw, zst);
        file_sha256(zst, zst_sha);
}

/* acquire_fetch() of url into a counting sink with 10 ms retry delays; its stderr into *ret_err. */
static int fetch_counting(struct fixture *f, const char *url, unsigned retries, struct counting_sink *sink,
                          char **ret_err) {
        struct acquire_fetch_options o;
        struct capture c;
        uint64_t n;
        *sink = (struct counting_sink) { .stage = { .push = counting_push, .finish = counting_finish } };
        acquire_fetch_options_default(&o);
        o.retries = retries;
        o.retry_delay_ms = 10;
        capture_begin(f, &c);
        int r = acquire_fetch(&o, url, &sink->stage, &n);
        *ret_err = capture_end(&c);
        assert_int_equal(n, sink->total);
        return r;
}

/* acquire_run() of www/NAME from httpd into a new file, which must then equal www/image.raw;
 * returns the number of requests the server saw. */
static size_t acquire_http_ok(struct fixture *f, const char *name, const uint8_t *sha,
                              struct acquire_result *res) {
        _cleanup_free_ char *url = httpd_url(f, name), *dst = in_dir(f, "slot");
        _cleanup_free_ char *raw = in_dir(f, "www/image.raw"), *log = NULL;
        assert_int_equal(acquire_to(url, sha, dst, UINT64_MAX, res), 0);
        assert_files_equal(raw, dst);
        log = httpd_log(f);
        return count_lines(log);
}

static void test_http_ok(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        make_www(f, 1024 * 1024 + 5, sha);
        httpd_start(f, NULL);
        struct acquire_result res;
        assert_int_equal(acquire_http_ok(f, "image.raw.zst", sha, &res), 1);
        assert_memory_equal(res.sha256, sha, 32);

        _cleanup_free_ char *data = NULL, *small = httpd_url(f, "image.raw");
        size_t n;
        assert_int_equal(acquire_fetch_small(small, 2 * 1024 * 1024, &data, &n), 0);
        assert_int_equal(n, 1024 * 1024 + 5);
        assert_int_equal(acquire_fetch_small(small, 1024 * 1024, &data, &n), -EFBIG);
}

static void test_http_404_not_retried(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        make_www(f, 1000, sha);
        httpd_start(f, NULL);
        _cleanup_free_ char *url = httpd_url(f, "nope.raw"), *dst = in_dir(f, "slot");
        struct acquire_result res;
        struct capture c;
        capture_begin(f, &c);
        int r = acquire_to(url, sha, dst, UINT64_MAX, &res);
        _cleanup_free_ char *err = capture_end(&c);
        assert_int_equal(r, -ENOENT);
        _cleanup_free_ char *want = strprintf("abota: %s: not found (HTTP 404)\n", url);
        assert_string_equal(err, want);
        _cleanup_free_ char *log = httpd_log(f);
        assert_int_equal(count_lines(log), 1);
        _cleanup_free_ char *data = NULL;
        assert_int_equal(acquire_fetch_small(url, 1024, &data, NULL), -ENOENT);
}

/* Failures a retry gets past: the download completes, verified, in the expected requests. */
static const struct recovery {
        const char *what;
        const char *args[8];
        size_t payload, requests;
        const char *log_has, *log_lacks;
        uint64_t min_ms;
} recoveries[] = {
        { "two 500s, then the file", { "--fail-status", "500", "--fail-count", "2" }, 200000, 3, " 500 ", NULL, 0 },
        { "no answer, not even headers (a stall too)", { "--hang", "--fail-count", "1" }, 100000, 2, " hang ", NULL,
          1000 },
        { "stall mid-body, resumed with Range", { "--stall-after", "300000", "--fail-count", "1" }, 1 << 20, 2,
          "206 bytes=300000-", NULL, 1000 },
        { "closed early, Range ignored: what arrived is skipped",
          { "--truncate-after", "250000", "--fail-count", "1", "--no-range" }, 1 << 20, 2, "200 bytes=250000-",
          " 206 ", 0 },
};

static void test_http_recovers(void **state) {
        struct fixture *f = *state;
        for (size_t i = 0; i < ELEMENTSOF(recoveries); i++) {
                const struct recovery *t = &recoveries[i];
                uint8_t sha[32];
                struct acquire_result res;
                struct stat st;
                print_message("%s\n", t->what);
                make_www(f, t->payload, sha);
                httpd_startv(f, t->args);
                uint64_t t0 = mono_ms();
                assert_int_equal(acquire_http_ok(f, "image.raw.zst", sha, &res), t->requests);
                assert_true(mono_ms() - t0 >= t->min_ms);
                assert_memory_equal(res.sha256, sha, 32);
                _cleanup_free_ char *zst = in_dir(f, "www/image.raw.zst"), *log = httpd_log(f);
                assert_int_equal(stat(zst, &st), 0);
                assert_int_equal(res.downloaded, (uint64_t) st.st_size); /* nothing counted twice */
                assert_non_null(strstr(log, t->log_has));
                if (t->log_lacks)
                        assert_null(strstr(log, t->log_lacks));
        }
}

static void test_http_500_gives_up(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        struct counting_sink sink;
        make_www(f, 1000, sha);
        httpd_start(f, "--fail-status", "500", NULL);
        _cleanup_free_ char *url = httpd_url(f, "image.raw"), *err = NULL, *log = NULL;
        assert_int_equal(fetch_counting(f, url, 3, &sink, &err), -EREMOTEIO); /* temporary: try again later */
        assert_non_null(strstr(err, "server error (HTTP 500), giving up"));
        assert_int_equal(sink.total, 0); /* error pages never reach the pipeline */
        log = httpd_log(f);
        assert_int_equal(count_lines(log), 4);
}

static void test_http_stall(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        struct counting_sink sink;
        make_www(f, 300000, sha);
        /* Without Range support every attempt stalls at the same byte: no progress, give up. */
        httpd_start(f, "--stall-after", "70000", "--no-range", NULL);
        assert_int_equal(acquire_stall_timeout(), 1); /* from $ABOTA_STALL_TIMEOUT */
        _cleanup_free_ char *url = httpd_url(f, "image.raw"), *err = NULL, *log = NULL;
        uint64_t t0 = mono_ms();
        assert_int_equal(fetch_counting(f, url, 1, &sink, &err), -ETIMEDOUT);
        uint64_t ms = mono_ms() - t0;
        /* the retry is said (info, shown by default), then one error line */
        _cleanup_free_ char *want = strprintf("abota: %s: server stalled, no data for 1 s, retrying in 10 ms (retry 1 of 1)\n"
                                              "abota: %s: server stalled, no data for 1 s, giving up\n", url, url);
        assert_string_equal(err, want);
        /* Two attempts of about one second each, not the 60 s default. */
        print_message("stalled twice in %llu ms\n", (unsigned long long) ms);
        assert_true(ms >= 1900 && ms < 6000);
        /* The second attempt asked for the rest; what the server sent again was not pushed twice. */
        assert_int_equal(sink.total, 70000);
        log = httpd_log(f);
        assert_non_null(strstr(log, "200 bytes=70000-"));
}

static void test_http_truncated_always(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        struct counting_sink sink;
        make_www(f, 200000, sha);
        httpd_start(f, "--truncate-after", "1000", "--no-range", NULL);
        _cleanup_free_ char *url = httpd_url(f, "image.raw"), *err = NULL, *log = NULL;
        assert_int_equal(fetch_counting(f, url, 2, &sink, &err), -ECONNRESET);
        assert_non_null(strstr(err, "transfer interrupted after 1000 bytes"));
        assert_int_equal(sink.total, 1000);
        log = httpd_log(f);
        assert_int_equal(count_lines(log), 3);
}

static void test_http_slow_is_not_stalled(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        struct acquire_result res;
        make_www(f, 200000, sha);
        /* About 1.3 s at 150 kB/s with a stall timeout of 1 s: slow but steady must pass. */
        httpd_start(f, "--throttle", "150000", NULL);
        uint64_t t0 = mono_ms();
        assert_int_equal(acquire_http_ok(f, "image.raw", NULL, &res), 1);
        assert_true(mono_ms() - t0 >= 1000);
}

static void test_http_connection_refused(void **state) {
        struct fixture *f = *state;
        struct counting_sink sink;
        /* A port that was just free: nothing listens there. */
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        assert_int_equal(bind(s, (struct sockaddr *) &a, sizeof(a)), 0);
        assert_int_equal(getsockname(s, (struct sockaddr *) &a, &len), 0);
        close(s);
        _cleanup_free_ char *url = strprintf("http://127.0.0.1:%u/x", ntohs(a.sin_port)), *err = NULL;
        assert_int_equal(fetch_counting(f, url, 1, &sink, &err), -ECONNREFUSED);
        assert_non_null(strstr(err, "cannot connect"));
        assert_non_null(strstr(err, url));
}

static void test_timeouts_from_env(void **state) {
        (void) state;
        setenv("ABOTA_CONNECT_TIMEOUT", "7", 1);
        assert_int_equal(acquire_connect_timeout(), 7);
        setenv("ABOTA_CONNECT_TIMEOUT", "x", 1);
        assert_int_equal(acquire_connect_timeout(), 30);
        unsetenv("ABOTA_STALL_TIMEOUT");
        assert_int_equal(acquire_stall_timeout(), 60);
        setenv("ABOTA_STALL_TIMEOUT", "1", 1);
        assert_int_equal(acquire_stall_timeout(), 1);

        /* The minimum rate and the deadline default to systemd-importd's 30 bytes/s over 60 s
         * and 6 hours; tests make them small. */
        struct acquire_fetch_options o;
        acquire_fetch_options_default(&o);
        assert_int_equal(o.low_speed_limit, 30);
        assert_int_equal(o.low_speed_time_sec, 60);
        assert_int_equal(o.transfer_timeout_sec, 6 * 3600);
        setenv("ABOTA_LOW_SPEED_LIMIT", "1000", 1);
        setenv("ABOTA_LOW_SPEED_TIME", "2", 1);
        setenv("ABOTA_TRANSFER_TIMEOUT", "0", 1); /* invalid: the default */
        acquire_fetch_options_default(&o);
        assert_int_equal(o.low_speed_limit, 1000);
        assert_int_equal(o.low_speed_time_sec, 2);
        assert_int_equal(o.transfer_timeout_sec, 6 * 3600);
        unsetenv("ABOTA_LOW_SPEED_LIMIT");
        unsetenv("ABOTA_LOW_SPEED_TIME");
        unsetenv("ABOTA_TRANSFER_TIMEOUT");
}

/* acquire_probe(): the size without the bytes, from HEAD, from a one-byte GET where HEAD is
 * refused, or from stat(); "not there" is -ENOENT whichever way it was asked. */
static void test_probe(void **state) {
        struct fixture *f = *state;
        uint8_t sha[32];
        uint64_t size = 0;
        make_www(f, 300000, sha);
        _cleanup_free_ char *www = in_dir(f, "www"), *raw = path_join(www, "image.raw"),
                            *missing = path_join(www, "missing.raw"), *file_url = strprintf("file://%s", raw);
        assert_int_equal(acquire_probe(raw, &size), 0);
        assert_int_equal(size, 300000);
        assert_int_equal(acquire_probe(missing, &size), -ENOENT);
        size = 0;
        assert_int_equal(acquire_probe(file_url, &size), 0);
        assert_int_equal(size, 300000);
        assert_int_equal(acquire_probe("ftp://example.com/x", &size), -EPROTONOSUPPORT);

        for (int head = 1; head >= 0; head--) {
                if (head)
                        httpd_start(f, NULL);
                else
                        httpd_start(f, "--no-head", NULL);
                _cleanup_free_ char *url = httpd_url(f, "image.raw"), *gone = httpd_url(f, "missing.raw");
                size = 0;
                assert_int_equal(acquire_probe(url, &size), 0);
                assert_int_equal(size, 300000);
                assert_int_equal(acquire_probe(gone, &size), -ENOENT);
                _cleanup_free_ char *log = httpd_log(f);
                /* nothing was downloaded: HEAD, or one byte */
                assert_non_null(strstr(log, head ? "HEAD /image.raw 200" : "GET /image.raw 206 bytes=0-0"));
                assert_null(strstr(log, "GET /image.raw 200"));
        }
        httpd_stop(f);
        _cleanup_free_ char *refused = httpd_url(f, "image.raw"); /* nobody listens there now */
        assert_int_equal(acquire_probe(refused, &size), -EHOSTUNREACH);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_path_and_file_url, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tiny_payloads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_and_corrupt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hash_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_offset_leaves_neighbours_untouched, setup, teardown),
                cmocka_unit_test_setup_teardown(test_larger_than_slot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_constant_memory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fetch_small, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_ok, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_404_not_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_recovers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_500_gives_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_stall, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_truncated_always, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_slow_is_not_stalled, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_connection_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeouts_from_env, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
