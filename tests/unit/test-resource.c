/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sysupdate/pattern.h"
#include "agent/fs-access.h"
#include "agent/resource.h"
#include "agent/resource-kinds.h"
#include "base/log.h"
#include "sysupdate/transfer.h"
#include "tmpdir.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>


static void touch(const char *rel, mode_t mode) {
        _cleanup_free_ char *p = path_join(tmpdir, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
        assert_int_equal(chmod(p, mode), 0);
}

static void mkdir_rel(const char *rel) {
        _cleanup_free_ char *p = path_join(tmpdir, rel);
        assert_int_equal(mkdir(p, 0755), 0);
}

/* A regular-file -> regular-file transfer over a directory with the given patterns. */
static void transfer_init(struct transfer *t, const char *path, const char *const *patterns) {
        memset(t, 0, sizeof(*t));
        t->id = (char *) "test";
        t->file = (char *) "test.transfer";
        t->no_auto = t->growfs = t->read_only = -1;
        t->source.type = t->target.type = RESOURCE_REGULAR_FILE;
        t->source.path = t->target.path = (char *) path;
        for (size_t i = 0; patterns[i]; i++) {
                const char *reason = NULL;
                t->source.patterns = realloc(t->source.patterns, (i + 1) * sizeof(struct pattern *));
                assert_int_equal(pattern_compile(patterns[i], &t->source.patterns[i], &reason), 0);
                t->source.n_patterns = i + 1;
        }
        t->target.patterns = t->source.patterns;
        t->target.n_patterns = t->source.n_patterns;
}

static void transfer_done(struct transfer *t) {
        for (size_t i = 0; i < t->source.n_patterns; i++)
                pattern_free(t->source.patterns[i]);
        free(t->source.patterns);
}

static void test_directory(void **state) {
        (void) state;
        touch("app_1.efi", 0644);
        touch("app_10.efi", 0444);
        touch("app_2+3-0.efi", 0644);
        touch("app_2.efi", 0644);         /* same version as the boot-counted name */
        touch(".#sysupdateapp_5.efi0123456789abcdef", 0600);
        touch("other.txt", 0644);
        touch("app_3.efi.tmp", 0644);     /* no prefix matches */
        mkdir_rel("app_7.efi");           /* not a regular file */

        struct transfer t;
        transfer_init(&t, tmpdir, (const char *const[]) { "app_@v+@l-@d.efi", "app_@v.efi", NULL });
        struct resource_context ctx = { .verify = -1 };
        struct resource *r = NULL;
        assert_int_equal(resource_load(&t, true, &ctx, &r), 0);
        assert_int_equal(r->n_instances, 3);
        assert_string_equal(r->instances[0]->metadata.version, "10");
        assert_string_equal(r->instances[1]->name, "app_2+3-0.efi"); /* '+' sorts before '.' */
        assert_true(r->instances[1]->metadata.has_tries_left);
        assert_int_equal(r->instances[1]->metadata.tries_left, 3);
        assert_string_equal(r->instances[2]->metadata.version, "1");
        assert_true(r->instances[0]->metadata.has_mode);
        assert_int_equal(r->instances[0]->metadata.mode, 0444);
        assert_true(r->instances[0]->metadata.has_mtime);
        _cleanup_free_ char *p = path_join(tmpdir, "app_10.efi");
        assert_string_equal(r->instances[0]->path, p);

        assert_ptr_equal(resource_find(r, "2"), r->instances[1]);
        assert_ptr_equal(resource_find(r, "1"), r->instances[2]);
        assert_ptr_equal(resource_find(r, "10"), r->instances[0]);
        assert_null(resource_find(r, "3"));
        assert_null(resource_find(r, "11"));

        /* dropping the middle one keeps the order and the search */
        resource_remove_instance(r, 1);
        assert_int_equal(r->n_instances, 2);
        assert_string_equal(r->instances[0]->metadata.version, "10");
        assert_string_equal(r->instances[1]->metadata.version, "1");
        assert_null(resource_find(r, "2"));
        assert_ptr_equal(resource_find(r, "1"), r->instances[1]);
        resource_free(r);

        /* a missing directory has no instances */
        _cleanup_free_ char *missing = path_join(tmpdir, "nope");
        t.target.path = missing;
        assert_int_equal(resource_load(&t, true, &ctx, &r), 0);
        assert_int_equal(r->n_instances, 0);
        resource_free(r);
        transfer_done(&t);
}

static void test_boot_dirs(void **state) {
        (void) state;
        char *p = NULL;
        _cleanup_free_ char *root = path_join(tmpdir, "root");
        assert_int_equal(mkdir(root, 0755), 0);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_ESP, &p), -ENOENT);
        /* each candidate rejected is named with the reason */
        assert_non_null(strstr(log_last_error(), "(/efi: does not exist; /boot: does not exist; /boot/efi: does not exist)"));
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_XBOOTLDR, &p), -ENOENT);
        assert_non_null(strstr(log_last_error(), "no XBOOTLDR partition found under "));
        assert_non_null(strstr(log_last_error(), "(/boot: does not exist)"));

        mkdir_rel("root/boot");
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_BOOT, &p), 0);
        assert_true(endswith(p, "/root/boot"));
        free(p);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_XBOOTLDR, &p), -ENOENT);
        assert_non_null(strstr(log_last_error(), "(/boot: it is the ESP)"));
        mkdir_rel("root/boot/efi");
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_XBOOTLDR, &p), -ENOENT);
        assert_non_null(strstr(log_last_error(), "(/boot: it is the ESP)"));

        mkdir_rel("root/efi");
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_ESP, &p), 0);
        assert_true(endswith(p, "/root/efi"));
        free(p);
        /* with an ESP on /efi, /boot is the XBOOTLDR and "boot" prefers it */
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_BOOT, &p), 0);
        assert_true(endswith(p, "/root/boot"));
        free(p);
}

/* SYSTEMD_ESP_PATH / SYSTEMD_XBOOTLDR_PATH name the directories outright (below --root). */
static void test_boot_dirs_env(void **state) {
        (void) state;
        char *p = NULL;
        _cleanup_free_ char *root = path_join(tmpdir, "envroot");
        assert_int_equal(mkdir(root, 0755), 0);
        mkdir_rel("envroot/efi");
        mkdir_rel("envroot/my-esp");
        mkdir_rel("envroot/my-xbootldr");

        assert_int_equal(setenv("SYSTEMD_ESP_PATH", "/my-esp", 1), 0);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_ESP, &p), 0);
        assert_true(endswith(p, "/envroot/my-esp"));
        free(p);
        /* no XBOOTLDR: "boot" is the ESP */
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_BOOT, &p), 0);
        assert_true(endswith(p, "/envroot/my-esp"));
        free(p);

        assert_int_equal(setenv("SYSTEMD_XBOOTLDR_PATH", "/my-xbootldr", 1), 0);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_BOOT, &p), 0);
        assert_true(endswith(p, "/envroot/my-xbootldr"));
        free(p);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_XBOOTLDR, &p), 0);
        assert_true(endswith(p, "/envroot/my-xbootldr"));
        free(p);

        /* a path that is not a directory, or not absolute, is an error, not a fallback */
        assert_int_equal(setenv("SYSTEMD_ESP_PATH", "/missing", 1), 0);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_ESP, &p), -ENOENT);
        assert_int_equal(setenv("SYSTEMD_ESP_PATH", "efi", 1), 0);
        assert_int_equal(resource_find_boot_dir(root, PATH_RELATIVE_TO_ESP, &p), -EINVAL);
        unsetenv("SYSTEMD_ESP_PATH");
        unsetenv("SYSTEMD_XBOOTLDR_PATH");
}

static void test_resolve(void **state) {
        (void) state;
        struct transfer t;
        transfer_init(&t, "/EFI/Linux", (const char *const[]) { "app_@v.efi", NULL });
        t.target.path_relative_to = PATH_RELATIVE_TO_ESP;
        _cleanup_free_ char *root = path_join(tmpdir, "root");
        struct resource_context ctx = { .root = root, .verify = -1 };
        char *p = NULL;
        assert_int_equal(resource_resolve(&t, true, &ctx, &p), 0);
        _cleanup_free_ char *want = path_join(root, "efi/EFI/Linux");
        assert_string_equal(p, want);
        free(p);

        /* with --image: the path inside the image's ESP, when it has one */
        struct resource_context img = { .image = "/tmp/disk.raw", .verify = -1 };
        assert_int_equal(resource_resolve(&t, true, &img, &p), -ENOENT);
        struct fs_access esp = { .what = (char *) "ESP of /tmp/disk.raw" };
        img.esp = &esp;
        assert_int_equal(resource_resolve(&t, true, &img, &p), 0);
        assert_string_equal(p, "/EFI/Linux");
        assert_ptr_equal(resource_fs(&t.target, &img), &esp);
        free(p);
        /* the image's root file system is not written */
        t.target.path_relative_to = PATH_RELATIVE_TO_ROOT;
        assert_int_equal(resource_resolve(&t, true, &img, &p), -EOPNOTSUPP);
        assert_null(resource_fs(&t.target, &img));
        img.esp = NULL;

        /* partitions: --image is the disk; a directory under --root is refused */
        t.target.type = RESOURCE_PARTITION;
        t.target.path = (char *) "/";
        assert_int_equal(resource_resolve(&t, true, &img, &p), 0);
        assert_string_equal(p, "/tmp/disk.raw");
        free(p);
        assert_int_equal(resource_resolve(&t, true, &ctx, &p), -EPERM);
        t.target.path = (char *) "/missing.raw";
        assert_int_equal(resource_resolve(&t, true, &ctx, &p), -ENOENT);
        t.target.path_auto = true;
        assert_int_equal(resource_resolve(&t, true, &ctx, &p), -EINVAL);

        /* explicit sources need --transfer-source */
        t.source.path_relative_to = PATH_RELATIVE_TO_EXPLICIT;
        t.source.path = (char *) "/v";
        assert_int_equal(resource_resolve(&t, false, &ctx, &p), -EINVAL);
        ctx.transfer_source = "/srv/updates";
        assert_int_equal(resource_resolve(&t, false, &ctx, &p), 0);
        assert_string_equal(p, "/srv/updates/v");
        free(p);
        transfer_done(&t);
}

static void write_text(const char *rel, const char *text) {
        _cleanup_free_ char *p = path_join(tmpdir, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static void test_url(void **state) {
        (void) state;
        mkdir_rel("srv");
        write_text("srv/SHA256SUMS", H1 "  app_1.raw\n" H2 " *app_2.raw\n" H1 "  app_2.raw.sig\n" H1 "  readme.txt\n");
        _cleanup_free_ char *url = strprintf("file://%s/srv", tmpdir);
        struct transfer t;
        transfer_init(&t, url, (const char *const[]) { "app_@v.raw", NULL });
        t.source.type = RESOURCE_URL_FILE;
        struct resource_context ctx = { .verify = 0 };
        struct resource *r = NULL;
        assert_int_equal(resource_load(&t, false, &ctx, &r), 0);
        assert_int_equal(r->n_instances, 2);
        assert_string_equal(r->instances[0]->metadata.version, "2");
        _cleanup_free_ char *want = strprintf("%s/app_2.raw", url);
        assert_string_equal(r->instances[0]->path, want);
        assert_true(r->instances[0]->metadata.has_sha256);
        assert_int_equal(r->instances[0]->metadata.sha256[0], 0x22);
        assert_int_equal(r->instances[1]->metadata.sha256[31], 0x11);
        resource_free(r);

        /* a hash in the name must agree with the listed one, else the whole manifest goes */
        transfer_done(&t);
        write_text("srv/SHA256SUMS", H1 "  app_1_" H1 ".raw\n" H1 "  app_2_" H2 ".raw\n");
        transfer_init(&t, url, (const char *const[]) { "app_@v_@h.raw", NULL });
        t.source.type = RESOURCE_URL_FILE;
        assert_int_equal(resource_load(&t, false, &ctx, &r), -EBADMSG);

        /* a malformed manifest is refused as a whole */
        write_text("srv/SHA256SUMS", H1 "  app_1.raw\nnot a line\n");
        assert_int_equal(resource_load(&t, false, &ctx, &r), -EBADMSG);

        /* no manifest at all */
        _cleanup_free_ char *gone = strprintf("%s/srv/SHA256SUMS", tmpdir);
        assert_int_equal(unlink(gone), 0);
        assert_int_equal(resource_load(&t, false, &ctx, &r), -ENOENT);
        transfer_done(&t);
}

static void test_kinds(void **state) {
        (void) state;
        static const enum resource_type known[] = { RESOURCE_URL_FILE, RESOURCE_REGULAR_FILE, RESOURCE_PARTITION,
                                                    RESOURCE_DIRECTORY, RESOURCE_SUBVOLUME, RESOURCE_TAR,
                                                    RESOURCE_URL_TAR };
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                const struct resource_kind *k = resource_kind_find(known[i]);
                assert_non_null(k);
                assert_int_equal(k->type, known[i]);
                assert_non_null(k->load);
        }
        /* Targets can be written, named and vacuumed; a url-file is only ever a source. */
        const struct resource_kind *f = resource_kind_find(RESOURCE_REGULAR_FILE);
        assert_true(f->name_is_valid("EFI/Linux/app_1.efi"));
        assert_false(f->name_is_valid("../app_1.efi"));
        assert_false(f->name_is_valid("/app_1.efi"));
        const struct resource_kind *p = resource_kind_find(RESOURCE_PARTITION);
        assert_true(p->acquire && p->remove && p->vacuum_limit && !p->remove_temporary);
        assert_null(resource_kind_find(RESOURCE_URL_FILE)->acquire);
        const struct resource_kind *d = resource_kind_find(RESOURCE_DIRECTORY);
        assert_true(d->acquire && d->remove && d->remove_temporary && !d->vacuum_limit);
        /* archives are only ever sources */
        assert_null(resource_kind_find(RESOURCE_TAR)->acquire);
        assert_null(resource_kind_find(RESOURCE_URL_TAR)->acquire);
        /* every Type= has a kind now */
        for (int type = 0; type < _RESOURCE_TYPE_MAX; type++)
                assert_non_null(resource_kind_find((enum resource_type) type));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_directory),
                cmocka_unit_test(test_boot_dirs),
                cmocka_unit_test(test_boot_dirs_env),
                cmocka_unit_test(test_resolve),
                cmocka_unit_test(test_url),
                cmocka_unit_test(test_kinds),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
