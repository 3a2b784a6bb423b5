/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "boot/bless.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *tmpdir_new(void) {
        char *t = strdup("/tmp/test-bless-XXXXXX");
        assert_non_null(t);
        assert_non_null(mkdtemp(t));
        return t;
}

static void tmpdir_remove(char **t) {
        if (!*t)
                return;
        _cleanup_free_ char *cmd = strprintf("rm -rf '%s'", *t);
        assert_int_equal(system(cmd), 0);
        free(*t);
}

static void write_at(const char *dir, const char *rel, const void *data, size_t n, mode_t mode) {
        _cleanup_free_ char *p = path_join(dir, rel);
        _cleanup_free_ char *parent = strndup(p, (size_t) (path_basename(p) - p));
        assert_int_equal(mkdir_all(parent, 0755), 0);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t) n);
        close(fd);
        assert_int_equal(chmod(p, mode), 0);
}

static bool exists(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_join(dir, rel);
        return access(p, F_OK) == 0;
}

static void test_counter_parse(void **state) {
        (void) state;
        struct boot_counter c = {};
        assert_int_equal(boot_counter_parse("appliance_2+3-0.efi", &c), 0);
        assert_string_equal(c.prefix, "appliance_2");
        assert_string_equal(c.suffix, ".efi");
        assert_int_equal(c.left, 3);
        assert_int_equal(c.done, 0);
        _cleanup_free_ char *g = boot_counter_good_name(&c), *b = boot_counter_bad_name(&c);
        assert_string_equal(g, "appliance_2.efi");
        assert_string_equal(b, "appliance_2+0.efi");
        boot_counter_done(&c);

        /* The last '+' counts; suffix case is kept; DONE defaults to 0. */
        assert_int_equal(boot_counter_parse("a+1+12-105.EFI", &c), 0);
        assert_string_equal(c.prefix, "a+1");
        assert_string_equal(c.suffix, ".EFI");
        assert_int_equal(c.left, 12);
        assert_int_equal(c.done, 105);
        _cleanup_free_ char *b2 = boot_counter_bad_name(&c);
        assert_string_equal(b2, "a+1+0-105.EFI");
        boot_counter_done(&c);

        assert_int_equal(boot_counter_parse("entry+2.conf", &c), 0);
        assert_int_equal(c.left, 2);
        assert_int_equal(c.done, 0);
        boot_counter_done(&c);

        static const char *const invalid[] = {
                "appliance_2.efi", "+3-0.efi", "a+3-0.efi.bak", "a+x.efi", "a+3-.efi", "a+-1.efi",
                "a+.efi", "a+3-0-1.efi", "a+3-0", "a+99999999999.efi", "a+1-2147483648.efi", "a+3-0.img",
        };
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
                assert_int_equal(boot_counter_parse(invalid[i], &c), -EINVAL);
        assert_int_equal(boot_counter_parse("a+2147483647-0.efi", &c), 0);
        assert_int_equal(c.left, 2147483647);
        boot_counter_done(&c);
}

/* An efivarfs file: 4 attribute bytes (NV|BS|RT = 7), then the UTF-16LE units. */
static void write_efivar(const char *dir, const char *name, const uint16_t *units, size_t n) {
        uint8_t buf[512] = { 7, 0, 0, 0 };
        assert_true(4 + 2 * n <= sizeof(buf));
        for (size_t i = 0; i < n; i++) {
                buf[4 + 2 * i] = (uint8_t) (units[i] & 0xff);
                buf[5 + 2 * i] = (uint8_t) (units[i] >> 8);
        }
        _cleanup_free_ char *fn = strprintf("%s-%s", name, LOADER_VENDOR_GUID);
        write_at(dir, fn, buf, 4 + 2 * n, 0644);
}

static void write_efivar_ascii(const char *dir, const char *name, const char *s) {
        uint16_t units[200];
        size_t n = strlen(s);
        assert_true(n < ELEMENTSOF(units));
        for (size_t i = 0; i <= n; i++)
                units[i] = (uint8_t) s[i];
        write_efivar(dir, name, units, n + 1);
}

static void test_efivar(void **state) {
        (void) state;
        _cleanup_(tmpdir_remove) char *d = tmpdir_new();
        _cleanup_free_ char *v = NULL;

        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), -ENOENT);

        /* "é€😀" without a terminating NUL: 2-, 3- and 4-byte UTF-8 (a surrogate pair). */
        const uint16_t u[] = { 0xe9, 0x20ac, 0xd83d, 0xde00 };
        write_efivar(d, "LoaderInfo", u, ELEMENTSOF(u));
        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), 0);
        assert_string_equal(v, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
        free(v);
        v = NULL;

        /* Stops at the NUL. */
        const uint16_t nul[] = { 'a', 'b', 0, 'c' };
        write_efivar(d, "LoaderInfo", nul, ELEMENTSOF(nul));
        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), 0);
        assert_string_equal(v, "ab");
        free(v);
        v = NULL;

        const uint16_t lone[] = { 'a', 0xdc00, 0 };
        write_efivar(d, "LoaderInfo", lone, ELEMENTSOF(lone));
        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), -EILSEQ);
        const uint16_t cut[] = { 'a', 0xd83d };
        write_efivar(d, "LoaderInfo", cut, ELEMENTSOF(cut));
        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), -EILSEQ);

        _cleanup_free_ char *fn = strprintf("LoaderInfo-%s", LOADER_VENDOR_GUID);
        write_at(d, fn, "\7\0\0\0a", 5, 0644);
        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), -EBADMSG);
        write_at(d, fn, "\7\0", 2, 0644);
        assert_int_equal(efivar_read_string(d, "LoaderInfo", LOADER_VENDOR_GUID, &v), -EBADMSG);
        assert_null(v);
}

static void test_count_path(void **state) {
        (void) state;
        _cleanup_(tmpdir_remove) char *d = tmpdir_new();
        _cleanup_free_ char *p = NULL;

        assert_int_equal(bless_read_count_path(d, &p), -ENOENT);
        write_efivar_ascii(d, "LoaderBootCountPath", "\\EFI\\Linux\\appliance_1+2-1.efi");
        assert_int_equal(bless_read_count_path(d, &p), 0);
        assert_string_equal(p, "/EFI/Linux/appliance_1+2-1.efi");

        static const char *const bad[] = {
                "EFI\\Linux\\a+2-1.efi",        /* relative */
                "\\EFI\\Linux\\a.efi",          /* no counter */
                "\\EFI\\..\\Linux\\a+2-1.efi",  /* not normalized */
                "\\EFI\\Linux\\\\a+2-1.efi",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *q = NULL;
                write_efivar_ascii(d, "LoaderBootCountPath", bad[i]);
                assert_int_equal(bless_read_count_path(d, &q), -EINVAL);
        }
}

/* Marks, then checks the rename (in EFI/Linux) and that the state reads back as target. */
static void mark_expect(const char *esp, const char *cp, enum bless_state target, int rc, const char *present,
                        const char *absent) {
        enum bless_state s;
        assert_int_equal(bless_mark(esp, cp, target), rc);
        _cleanup_free_ char *p = strprintf("EFI/Linux/%s", present);
        assert_true(exists(esp, p));
        if (absent) {
                _cleanup_free_ char *a = strprintf("EFI/Linux/%s", absent);
                assert_false(exists(esp, a));
        }
        assert_int_equal(bless_get_state(esp, cp, &s), 0);
        assert_int_equal(s, target);
}

static void test_mark_and_state(void **state) {
        (void) state;
        _cleanup_(tmpdir_remove) char *esp = tmpdir_new();
        const char *cp = "/EFI/Linux/appliance_1+2-1.efi";
        enum bless_state s;

        assert_int_equal(bless_get_state(esp, cp, &s), -ENOENT);
        assert_int_equal(bless_mark(esp, cp, BLESS_GOOD), -ENOENT);

        write_at(esp, "EFI/Linux/appliance_1+2-1.efi", "uki", 3, 0444);
        write_at(esp, "EFI/Linux/appliance_2.efi", "other", 5, 0444);
        assert_int_equal(bless_get_state(esp, cp, &s), 0);
        assert_int_equal(s, BLESS_INDETERMINATE);

        mark_expect(esp, cp, BLESS_GOOD, 1, "appliance_1.efi", "appliance_1+2-1.efi");
        assert_true(exists(esp, "EFI/Linux/appliance_2.efi"));
        mark_expect(esp, cp, BLESS_GOOD, 0, "appliance_1.efi", NULL); /* idempotent */
        /* bad falls back to the good name as its source */
        mark_expect(esp, cp, BLESS_BAD, 1, "appliance_1+0-1.efi", "appliance_1.efi");
        mark_expect(esp, cp, BLESS_BAD, 0, "appliance_1+0-1.efi", NULL);
        mark_expect(esp, cp, BLESS_INDETERMINATE, 1, "appliance_1+2-1.efi", "appliance_1+0-1.efi");

        /* good from bad */
        assert_int_equal(bless_mark(esp, cp, BLESS_BAD), 1);
        assert_int_equal(bless_mark(esp, cp, BLESS_GOOD), 1);
        assert_true(exists(esp, "EFI/Linux/appliance_1.efi"));

        /* never replaces: the counted file stays if its good name is taken (systemd#33504) */
        write_at(esp, "EFI/Linux/appliance_1+2-1.efi", "uki2", 4, 0444);
        assert_int_equal(bless_mark(esp, cp, BLESS_GOOD), 0);
        assert_true(exists(esp, "EFI/Linux/appliance_1+2-1.efi"));
        assert_int_equal(bless_mark(esp, cp, BLESS_INDETERMINATE), 0);
        assert_true(exists(esp, "EFI/Linux/appliance_1.efi"));
        _cleanup_free_ char *good = path_join(esp, "EFI/Linux/appliance_1.efi");
        assert_int_equal(unlink(good), 0);
        write_at(esp, "EFI/Linux/appliance_1+0-1.efi", "bad", 3, 0444);
        assert_int_equal(bless_mark(esp, cp, BLESS_BAD), 0);
        assert_true(exists(esp, "EFI/Linux/appliance_1+2-1.efi"));
}

static void test_dirty(void **state) {
        (void) state;
        _cleanup_(tmpdir_remove) char *esp = tmpdir_new();
        const char *cp = "/EFI/Linux/appliance_3+0-3.efi";
        enum bless_state s;

        write_at(esp, "EFI/Linux/appliance_3+0-3.efi", "uki", 3, 0644);
        assert_int_equal(bless_get_state(esp, cp, &s), 0);
        assert_int_equal(s, BLESS_DIRTY);
        assert_int_equal(bless_mark(esp, cp, BLESS_BAD), 0); /* bad name == current name */
        assert_int_equal(bless_mark(esp, cp, BLESS_GOOD), 1);
        assert_true(exists(esp, "EFI/Linux/appliance_3.efi"));
        assert_string_equal(bless_state_to_string(BLESS_DIRTY), "dirty");
        assert_string_equal(bless_state_to_string(BLESS_CLEAN), "clean");
}

static void test_find_esp(void **state) {
        (void) state;
        _cleanup_(tmpdir_remove) char *root = tmpdir_new();
        const char *cp = "/EFI/Linux/appliance_1+2-1.efi";
        _cleanup_free_ char *esp = NULL, *esp2 = NULL, *esp3 = NULL;

        assert_int_equal(bless_find_esp(root, NULL, cp, &esp), -ENOENT);
        /* /efi exists but holds another entry; /boot/efi holds ours under its good name. */
        write_at(root, "efi/EFI/Linux/other+3-0.efi", "x", 1, 0644);
        write_at(root, "boot/efi/EFI/Linux/appliance_1.efi", "x", 1, 0644);
        assert_int_equal(bless_find_esp(root, NULL, cp, &esp), 0);
        _cleanup_free_ char *want = path_join(root, "boot/efi");
        assert_string_equal(esp, want);

        write_at(root, "efi/EFI/Linux/appliance_1+2-1.efi", "x", 1, 0644);
        assert_int_equal(bless_find_esp(root, NULL, cp, &esp2), 0);
        _cleanup_free_ char *want2 = path_join(root, "efi");
        assert_string_equal(esp2, want2);

        /* --esp= is taken as given, but must hold the entry. */
        assert_int_equal(bless_find_esp(NULL, want, cp, &esp3), 0);
        assert_string_equal(esp3, want);
        _cleanup_free_ char *nope = NULL;
        assert_int_equal(bless_find_esp(NULL, root, cp, &nope), -ENOENT);
}

static void test_health_checks(void **state) {
        (void) state;
        _cleanup_(tmpdir_remove) char *root = tmpdir_new();
        unsigned n = 99;

        assert_int_equal(health_checks_run(root, &n), 0);
        assert_int_equal(n, 0);

        const char *ok = "#!/bin/sh\nexit 0\n", *fail = "#!/bin/sh\nexit 3\n";
        write_at(root, "usr/lib/abota/health.d/10-ok", ok, strlen(ok), 0755);
        write_at(root, "usr/lib/abota/health.d/20-net", fail, strlen(fail), 0755);
        write_at(root, "usr/lib/abota/health.d/README", fail, strlen(fail), 0644);
        assert_int_equal(health_checks_run(root, &n), 1);
        assert_int_equal(n, 2);

        /* Same name in /etc overrides. */
        write_at(root, "etc/abota/health.d/20-net", ok, strlen(ok), 0755);
        assert_int_equal(health_checks_run(root, &n), 0);
        assert_int_equal(n, 2);

        /* Order is by name across both directories: 15 runs between 10 and 20 and sees 10's mark. */
        _cleanup_free_ char *mark = path_join(root, "mark");
        _cleanup_free_ char *first = strprintf("#!/bin/sh\ntouch '%s'\n", mark);
        _cleanup_free_ char *second = strprintf("#!/bin/sh\ntest -e '%s'\n", mark);
        write_at(root, "usr/lib/abota/health.d/05-first", first, strlen(first), 0755);
        write_at(root, "etc/abota/health.d/15-second", second, strlen(second), 0755);
        assert_int_equal(health_checks_run(root, &n), 0);
        assert_int_equal(n, 4);

        /* A symlink to /dev/null masks; a killed check fails. */
        _cleanup_free_ char *mask = path_join(root, "etc/abota/health.d/10-ok");
        assert_int_equal(symlink("/dev/null", mask), 0);
        const char *killed = "#!/bin/sh\nkill -9 $$\n";
        write_at(root, "etc/abota/health.d/30-killed", killed, strlen(killed), 0755);
        assert_int_equal(health_checks_run(root, &n), 1);
        assert_int_equal(n, 4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_counter_parse),  cmocka_unit_test(test_efivar),
                cmocka_unit_test(test_count_path),     cmocka_unit_test(test_mark_and_state),
                cmocka_unit_test(test_dirty),          cmocka_unit_test(test_find_esp),
                cmocka_unit_test(test_health_checks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
