/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/gpg.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

/* Two throwaway keys in a temporary GNUPGHOME: "good" signs, "other" is the wrong key. Their
 * public halves are exported as binary keyrings for gpgv. */
static char home[] = "/tmp/abota-test-gpg-XXXXXX";

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        char cmd[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd);
}

static char *in_home(const char *name) {
        return path_join(home, name);
}

static void write_text(const char *path, const char *s) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(s, f);
        fclose(f);
}

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(home))
                return -1;
        const char *keys[] = { "good", "other" };
        for (size_t i = 0; i < 2; i++)
                if (run("gpg --homedir %s --batch --passphrase '' --quick-gen-key "
                        "'abota %s <%s@abota.invalid>' ed25519 sign never >/dev/null 2>&1 && "
                        "gpg --homedir %s --export %s@abota.invalid > %s/%s.pgp",
                        home, keys[i], keys[i], home, keys[i], home, keys[i]) != 0)
                        return -1;
        return 0;
}

static int teardown(void **state) {
        (void) state;
        run("gpgconf --homedir %s --kill gpg-agent >/dev/null 2>&1; rm -rf %s", home, home);
        return 0;
}

static int read_all(const char *path, char **ret, size_t *ret_size) {
        return read_full_file(path, 1 << 20, ret, ret_size);
}

/* Writes text to home/name, signs it with key into home/name.gpg, loads both. */
static void sign_text(const char *key, const char *name, const char *text, char **d, size_t *dn, char **s,
                      size_t *sn) {
        _cleanup_free_ char *data = in_home(name);
        _cleanup_free_ char *sig = strprintf("%s.gpg", data);
        write_text(data, text);
        assert_int_equal(gpg_sign_detached(home, key, data, sig), 0);
        assert_int_equal(read_all(data, d, dn), 0);
        assert_int_equal(read_all(sig, s, sn), 0);
        assert_true(*sn > 0);
}

static void test_sign_and_verify(void **state) {
        (void) state;
        _cleanup_free_ char *good = in_home("good.pgp"), *other = in_home("other.pgp");
        _cleanup_free_ char *d = NULL, *s = NULL;
        size_t dn, sn;
        sign_text("good@abota.invalid", "SHA256SUMS",
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.raw\n", &d, &dn, &s, &sn);

        /* good */
        assert_int_equal(gpg_verify(good, d, dn, s, sn, "test://good"), 0);
        /* tampered data: one changed byte */
        d[0] = d[0] == 'e' ? 'f' : 'e';
        assert_int_equal(gpg_verify(good, d, dn, s, sn, "test://tampered"), -EBADMSG);
        d[0] = d[0] == 'e' ? 'f' : 'e';
        assert_int_equal(gpg_verify(good, d, dn, s, sn, "test://restored"), 0);
        /* a signature by a key the keyring does not hold */
        assert_int_equal(gpg_verify(other, d, dn, s, sn, "test://wrong-key"), -EBADMSG);
        /* missing and garbage signatures */
        assert_int_equal(gpg_verify(good, d, dn, NULL, 0, "test://missing"), -EBADMSG);
        assert_int_equal(gpg_verify(good, d, dn, "garbage", 7, "test://garbage"), -EBADMSG);
        /* truncated signature */
        assert_int_equal(gpg_verify(good, d, dn, s, sn / 2, "test://truncated"), -EBADMSG);
        /* a keyring that does not exist */
        _cleanup_free_ char *none = in_home("none.pgp");
        assert_int_equal(gpg_verify(none, d, dn, s, sn, "test://no-keyring"), -ENOENT);
}

static void test_sign_other_key(void **state) {
        (void) state;
        _cleanup_free_ char *data = in_home("other-data"), *sig = in_home("other-data.gpg");
        _cleanup_free_ char *good = in_home("good.pgp"), *other = in_home("other.pgp");
        _cleanup_free_ char *d = NULL, *s = NULL;
        size_t dn, sn;
        sign_text("other@abota.invalid", "other-data", "hello\n", &d, &dn, &s, &sn);
        assert_int_equal(gpg_verify(other, d, dn, s, sn, "test://other"), 0);
        assert_int_equal(gpg_verify(good, d, dn, s, sn, "test://other-vs-good"), -EBADMSG);
        /* an unknown key id and a missing input file fail with a logged reason */
        assert_int_equal(gpg_sign_detached(home, "nobody@abota.invalid", data, sig), -EIO);
        _cleanup_free_ char *missing = in_home("missing");
        assert_int_equal(gpg_sign_detached(home, "good@abota.invalid", missing, sig), -EIO);
}

static void test_tools_missing(void **state) {
        (void) state;
        _cleanup_free_ char *good = in_home("good.pgp"), *empty = in_home("emptybin");
        assert_int_equal(mkdir(empty, 0755), 0);
        _cleanup_free_ char *old = strdup(getenv("PATH"));
        setenv("PATH", empty, 1);
        assert_int_equal(gpg_verify(good, "x", 1, "y", 1, "test://no-gpgv"), -ENOENT);
        assert_int_equal(gpg_sign_detached(home, NULL, good, "/nonexistent/sig"), -ENOENT);
        setenv("PATH", old, 1);
}

static void touch_under(const char *root, const char *path) {
        _cleanup_free_ char *p = path_prefix_root(root, path);
        _cleanup_free_ char *cmd = strprintf("mkdir -p \"$(dirname %s)\" && touch %s", p, p);
        assert_int_equal(system(cmd), 0);
}

static void test_find_keyring(void **state) {
        (void) state;
        _cleanup_free_ char *root = in_home("root");
        assert_int_equal(mkdir(root, 0755), 0);
        char *k = NULL;
        assert_int_equal(gpg_find_keyring(root, &k), -ENOENT);

        /* each step adds a file that wins over the ones before */
        static const char *const order[] = {
                "/usr/lib/systemd/import-pubring.gpg",
                "/usr/lib/systemd/import-pubring.pgp",
                "/etc/systemd/import-pubring.gpg",
                "/etc/systemd/import-pubring.pgp",
        };
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                touch_under(root, order[i]);
                assert_int_equal(gpg_find_keyring(root, &k), 0);
                _cleanup_free_ char *want = path_prefix_root(root, order[i]);
                assert_string_equal(k, want);
                free(k);
        }
        /* a directory of that name is not a keyring */
        _cleanup_free_ char *root2 = in_home("root2");
        _cleanup_free_ char *d = strprintf("mkdir -p %s/etc/systemd/import-pubring.pgp", root2);
        assert_int_equal(system(d), 0);
        assert_int_equal(gpg_find_keyring(root2, &k), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sign_and_verify),
                cmocka_unit_test(test_sign_other_key),
                cmocka_unit_test(test_tools_missing),
                cmocka_unit_test(test_find_keyring),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
