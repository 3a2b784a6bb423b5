/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/manifest.h"
#include "sysupdate/pattern.h"
#include "release/publish.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

static char base[] = "/tmp/abota-test-publish-XXXXXX";

static int setup(void **state) {
        (void) state;
        return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        _cleanup_free_ char *cmd = strprintf("rm -rf %s", base);
        return system(cmd) == 0 ? 0 : -1;
}

static char *write_payload(const char *dir, const char *name, const char *text) {
        char *path = strprintf("%s/%s", dir, name);
        assert_non_null(path);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return path;
}

/* base/srvN (the update directory) and base/srcN (the build output), created empty. */
static void make_dirs(const char *n, char **ret_dir, char **ret_src) {
        _cleanup_free_ char *d = strprintf("srv%s", n), *sname = strprintf("src%s", n);
        *ret_dir = path_join(base, d);
        *ret_src = path_join(base, sname);
        assert_int_equal(mkdir(*ret_dir, 0755), 0);
        assert_int_equal(mkdir(*ret_src, 0755), 0);
}

static struct manifest *load_manifest(const char *dir) {
        _cleanup_free_ char *path = path_join(dir, "SHA256SUMS"), *data = NULL, *reason = NULL;
        size_t size;
        assert_int_equal(read_full_file(path, MANIFEST_SIZE_MAX, &data, &size), 0);
        struct manifest *m = NULL;
        assert_int_equal(manifest_parse(data, size, &m, &reason), 0);
        return m;
}

/* The manifest written is the one the strict parser accepts, and keep drops whole versions in
 * version order (1.10 is newer than 1.9). */
static void test_publish_keep(void **state) {
        (void) state;
        _cleanup_free_ char *dir = NULL, *src = NULL;
        make_dirs("", &dir, &src);
        struct pattern *p[2];
        const char *reason;
        assert_int_equal(pattern_compile("os_@v.raw", &p[0], &reason), 0);
        assert_int_equal(pattern_compile("os_@v.efi", &p[1], &reason), 0);

        static const char *const versions[] = { "1.9", "1.10", "1.8" };
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *raw_name = strprintf("os_%s.raw", versions[i]);
                _cleanup_free_ char *efi_name = strprintf("os_%s.efi", versions[i]);
                char *files[2] = { write_payload(src, raw_name, "raw"), write_payload(src, efi_name, "efi") };
                struct publish_options o = {
                        .dir = dir, .files = files, .n_files = 2, .patterns = p, .n_patterns = 2, .keep = 1,
                };
                struct publish_result res = {};
                assert_int_equal(publish(&o, &res), 0);
                assert_string_equal(res.version, versions[i]);
                assert_int_equal(strv_length(res.added), 2);
                assert_int_equal(res.n_listed, 2);
                if (i == 0)
                        assert_null(res.removed);
                else {
                        assert_int_equal(strv_length(res.removed), 2);
                        assert_true(strv_contains(res.removed, "os_1.9.raw"));
                        assert_true(strv_contains(res.dropped_versions, "1.9"));
                }
                publish_result_done(&res);
                free(files[0]);
                free(files[1]);
        }
        struct manifest *m = load_manifest(dir);
        assert_int_equal(m->n_entries, 2);
        assert_string_equal(m->entries[0].name, "os_1.10.efi");
        assert_string_equal(m->entries[1].name, "os_1.10.raw");
        manifest_free(m);

        /* an older version would be dropped again at once: refused, nothing written */
        _cleanup_free_ char *old = write_payload(src, "os_1.8.raw", "old");
        char *files[1] = { old };
        struct publish_options o = { .dir = dir, .files = files, .n_files = 1, .patterns = p, .n_patterns = 2, .keep = 1 };
        struct publish_result res = {};
        assert_int_equal(publish(&o, &res), -EINVAL);
        _cleanup_free_ char *stale = path_join(dir, "os_1.8.raw");
        struct stat st;
        assert_int_equal(stat(stale, &st), -1);
        pattern_free(p[0]);
        pattern_free(p[1]);
}

static void test_publish_rejects(void **state) {
        (void) state;
        _cleanup_free_ char *dir = NULL, *src = NULL;
        make_dirs("2", &dir, &src);
        struct pattern *p[1];
        const char *reason;
        assert_int_equal(pattern_compile("os_@v.raw", &p[0], &reason), 0);
        _cleanup_free_ char *a = write_payload(src, "os_1.raw", "a"), *b = write_payload(src, "os_2.raw", "b");
        _cleanup_free_ char *c = write_payload(src, "other.raw", "c");
        struct publish_result res = {};

        char *mixed[2] = { a, b };
        struct publish_options o = { .dir = dir, .files = mixed, .n_files = 2, .patterns = p, .n_patterns = 1 };
        assert_int_equal(publish(&o, &res), -EINVAL);
        char *nomatch[1] = { c };
        o.files = nomatch, o.n_files = 1;
        assert_int_equal(publish(&o, &res), -EINVAL);
        o.n_patterns = 0;
        assert_int_equal(publish(&o, &res), -EINVAL);
        o.n_patterns = 1;
        o.dir = "/nonexistent/abota";
        o.files = mixed;
        assert_int_equal(publish(&o, &res), -ENOENT);

        /* nothing reached the directory */
        _cleanup_free_ char *sums = path_join(dir, "SHA256SUMS");
        struct stat st;
        assert_int_equal(stat(sums, &st), -1);

        /* a published version is immutable unless forced */
        o.dir = dir;
        assert_int_equal(publish(&o, &res), 0);
        publish_result_done(&res);
        assert_int_equal(publish(&o, &res), 0); /* same bits: fine */
        publish_result_done(&res);
        free(write_payload(src, "os_1.raw", "changed"));
        assert_int_equal(publish(&o, &res), -EEXIST);
        o.force = true;
        assert_int_equal(publish(&o, &res), 0);
        publish_result_done(&res);
        struct manifest *m = load_manifest(dir);
        assert_int_equal(m->n_entries, 1);
        assert_int_equal(m->entries[0].sha256[0], 0xd6); /* sha256("changed") = d67e2e94... */
        manifest_free(m);
        pattern_free(p[0]);
}

/* Each transfer of --definitions needs a payload of the version, new or already published. */
static void test_publish_transfers_complete(void **state) {
        (void) state;
        _cleanup_free_ char *dir = NULL, *src = NULL;
        make_dirs("3", &dir, &src);
        struct pattern *p[2];
        const char *reason;
        assert_int_equal(pattern_compile("os_@v.raw", &p[0], &reason), 0);
        assert_int_equal(pattern_compile("os_@v.efi", &p[1], &reason), 0);
        const struct publish_transfer t[2] = {
                { .name = "10-store.transfer", .patterns = &p[0], .n_patterns = 1 },
                { .name = "20-uki.transfer", .patterns = &p[1], .n_patterns = 1 },
        };
        _cleanup_free_ char *raw = write_payload(src, "os_1.raw", "raw"), *efi = write_payload(src, "os_1.efi", "efi");
        struct publish_result res = {};
        char *only_raw[1] = { raw };
        struct publish_options o = { .dir = dir, .files = only_raw, .n_files = 1, .patterns = p, .n_patterns = 2,
                                     .transfers = t, .n_transfers = 2 };
        assert_int_equal(publish(&o, &res), -EINVAL);
        _cleanup_free_ char *sums = path_join(dir, "SHA256SUMS");
        struct stat st;
        assert_int_equal(stat(sums, &st), -1);

        char *both[2] = { raw, efi };
        o.files = both, o.n_files = 2;
        assert_int_equal(publish(&o, &res), 0);
        publish_result_done(&res);
        /* one file again: the other one is there already */
        o.files = only_raw, o.n_files = 1;
        assert_int_equal(publish(&o, &res), 0);
        publish_result_done(&res);
        pattern_free(p[0]);
        pattern_free(p[1]);
}

/* A signed directory stays signed unless unsign says otherwise. */
static void test_publish_signed_dir(void **state) {
        (void) state;
        _cleanup_free_ char *dir = NULL, *src = NULL;
        make_dirs("4", &dir, &src);
        struct pattern *p[1];
        const char *reason;
        assert_int_equal(pattern_compile("os_@v.raw", &p[0], &reason), 0);
        _cleanup_free_ char *a = write_payload(src, "os_1.raw", "a");
        free(write_payload(dir, "SHA256SUMS.gpg", "signature"));
        char *files[1] = { a };
        struct publish_options o = { .dir = dir, .files = files, .n_files = 1, .patterns = p, .n_patterns = 1 };
        struct publish_result res = {};
        assert_int_equal(publish(&o, &res), -EPERM);
        _cleanup_free_ char *sums = path_join(dir, "SHA256SUMS"), *sig = path_join(dir, "SHA256SUMS.gpg");
        struct stat st;
        assert_int_equal(stat(sums, &st), -1);
        assert_int_equal(stat(sig, &st), 0);
        o.unsign = true;
        assert_int_equal(publish(&o, &res), 0);
        publish_result_done(&res);
        assert_int_equal(stat(sig, &st), -1);
        pattern_free(p[0]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_publish_keep),
                cmocka_unit_test(test_publish_rejects),
                cmocka_unit_test(test_publish_transfers_complete),
                cmocka_unit_test(test_publish_signed_dir),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
