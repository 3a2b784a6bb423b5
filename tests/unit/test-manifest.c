/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sysupdate/manifest.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>

#define H1 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define H2 "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Parses s (strlen bytes, or size when given) expecting rejection with a reason that contains
 * want. */
static void expect_reject_n(const char *s, size_t size, const char *want) {
        struct manifest *m = NULL;
        _cleanup_free_ char *reason = NULL;
        assert_int_equal(manifest_parse(s, size, &m, &reason), -EBADMSG);
        assert_null(m);
        assert_non_null(reason);
        if (!strstr(reason, want))
                fail_msg("reason '%s' does not contain '%s'", reason, want);
}

static void expect_reject(const char *s, const char *want) {
        expect_reject_n(s, strlen(s), want);
}

static struct manifest *expect_accept(const char *s) {
        struct manifest *m = NULL;
        _cleanup_free_ char *reason = NULL;
        int r = manifest_parse(s, strlen(s), &m, &reason);
        if (r < 0)
                fail_msg("rejected: %s", reason ? reason : "(no reason)");
        assert_non_null(m);
        return m;
}

static void test_accept_both_separators(void **state) {
        (void) state;
        struct manifest *m = expect_accept(H1 "  appliance_1.efi\n" H2 " *appliance_1.store.raw\n"
                                           H1 "  sub/dir/appliance_2.efi\n" H1 "  caf\xc3\xa9_1.raw\n");
        assert_int_equal(m->n_entries, 4);
        assert_string_equal(m->entries[0].name, "appliance_1.efi");
        assert_string_equal(m->entries[1].name, "appliance_1.store.raw");
        assert_string_equal(m->entries[2].name, "sub/dir/appliance_2.efi");
        assert_string_equal(m->entries[3].name, "caf\xc3\xa9_1.raw");
        assert_int_equal(m->entries[0].sha256[0], 0x58);
        assert_int_equal(m->entries[0].sha256[31], 0x03);
        assert_int_equal(m->entries[1].sha256[0], 0xe3); /* upper-case hex accepted */
        assert_int_equal(m->n_best_before, 0);
        const struct manifest_entry *e = manifest_find(m, "appliance_1.store.raw");
        assert_ptr_equal(e, &m->entries[1]);
        assert_null(manifest_find(m, "appliance_1.store"));
        /* names with spaces are fine: everything after the marker is the name */
        manifest_free(m);
        m = expect_accept(H1 "  a name with spaces\n" H1 "   leading space\n");
        assert_string_equal(m->entries[0].name, "a name with spaces");
        assert_string_equal(m->entries[1].name, " leading space");
        manifest_free(m);
        m = expect_accept("");
        assert_int_equal(m->n_entries, 0);
        manifest_free(m);
}

static void test_reject_hash_and_separator(void **state) {
        (void) state;
        expect_reject("5891b5b522d5df08  a.raw\n", "line 1: hash is not 64 hex digits");
        expect_reject("g891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  a.raw\n",
                      "line 1: hash is not 64 hex digits");
        expect_reject(H1 "0  a.raw\n", "line 1: expected one space after the hash");
        expect_reject(H1 "\ta.raw\n", "line 1: expected one space after the hash");
        expect_reject(H1 "\n", "line 1: expected one space after the hash");
        expect_reject(H1 " a.raw\n", "line 1: expected ' ' or '*'");
        expect_reject(H1 "  \n", "line 1: empty file name");
        expect_reject(H1 " *\n", "line 1: empty file name");
}

static void test_reject_structure(void **state) {
        (void) state;
        expect_reject(H1 "  a.raw", "line 1: missing final newline");
        expect_reject(H1 "  a.raw\n" H1 "  b.raw", "line 2: missing final newline");
        expect_reject(H1 "  a.raw\n\n" H1 "  b.raw\n", "line 2: blank line");
        expect_reject(H1 "  a.raw\r\n", "line 1: contains a carriage return");
        expect_reject("\\" H1 "  a\\nb.raw\n", "line 1: escaped file names");
        expect_reject("# comment\n", "line 1: hash is not 64 hex digits");
        static const char nul[] = H1 "  a\0b.raw\n";
        expect_reject_n(nul, sizeof(nul) - 1, "line 1: contains a NUL byte");
        /* the whole manifest goes, even when only the last line is bad */
        expect_reject(H1 "  a.raw\n" H1 "  b.raw\n" H1 "  /etc/passwd\n", "line 3: absolute file name");
}

static void test_reject_names(void **state) {
        (void) state;
        expect_reject(H1 "  /a.raw\n", "absolute file name");
        expect_reject(H1 "  ../a.raw\n", "'.' or '..' component");
        expect_reject(H1 "  a/../b.raw\n", "'.' or '..' component");
        expect_reject(H1 "  ..\n", "'.' or '..' component");
        expect_reject(H1 "  ./a.raw\n", "'.' or '..' component");
        expect_reject(H1 "  a/.\n", "'.' or '..' component");
        expect_reject(H1 "  a//b.raw\n", "'//'");
        expect_reject(H1 "  a/\n", "ends with '/'");
        expect_reject(H1 "  a\tb.raw\n", "control character");
        expect_reject(H1 "  a\x1b[31mb.raw\n", "control character");
        expect_reject(H1 "  a\x7f.raw\n", "control character");
        expect_reject(H1 "  a\xc2\x85.raw\n", "control character"); /* U+0085 NEL */
        expect_reject(H1 "  a\xff.raw\n", "not valid UTF-8");
        expect_reject(H1 "  a\xc3.raw\n", "not valid UTF-8");
        expect_reject(H1 "  a\xc0\xaf.raw\n", "not valid UTF-8");     /* overlong '/' */
        expect_reject(H1 "  a\xed\xa0\x80.raw\n", "not valid UTF-8"); /* surrogate */
        /* names with '..' inside a component are fine */
        struct manifest *m = expect_accept(H1 "  a..b.raw\n" H1 "  .hidden\n");
        manifest_free(m);
}

static void test_reject_sizes(void **state) {
        (void) state;
        /* a line of exactly MANIFEST_LINE_MAX bytes is accepted, one more byte is not */
        size_t name_len = MANIFEST_LINE_MAX - 66;
        _cleanup_free_ char *line = malloc(MANIFEST_LINE_MAX + 3);
        assert_non_null(line);
        memcpy(line, H1 "  ", 66);
        for (size_t i = 0; i < name_len; i++)
                line[66 + i] = (i % 200 == 199) ? '/' : 'x';
        line[66 + name_len] = '\n';
        line[67 + name_len] = 0;
        struct manifest *m = expect_accept(line);
        manifest_free(m);
        line[66 + name_len] = 'y';
        line[67 + name_len] = '\n';
        line[68 + name_len] = 0;
        expect_reject(line, "line 1: longer than 4096 bytes");

        /* one component longer than 255 bytes */
        char longname[66 + 300 + 2];
        memcpy(longname, H1 "  ", 66);
        memset(longname + 66, 'a', 300);
        memcpy(longname + 366, "\n", 2);
        expect_reject(longname, "component longer than 255 bytes");

        /* the size limit applies before anything is parsed */
        size_t big = MANIFEST_SIZE_MAX + 1;
        _cleanup_free_ char *huge = calloc(1, big);
        assert_non_null(huge);
        expect_reject_n(huge, big, "larger than the limit");
}

static void test_duplicates(void **state) {
        (void) state;
        expect_reject(H1 "  a.raw\n" H1 "  b.raw\n" H2 " *a.raw\n", "line 3: duplicate file name 'a.raw' (first on line 1)");
}

static void test_best_before(void **state) {
        (void) state;
        struct manifest *m = expect_accept(EMPTY "  BEST-BEFORE-2030-01-02\n" H1 "  a.raw\n"
                                           EMPTY "  BEST-BEFORE-2031-02-29\n" /* no such day: ignored */
                                           H1 "  BEST-BEFORE-2029-12-31\n" /* wrong hash: warning only */
                                           EMPTY "  BEST-BEFORE-soon\n");
        assert_int_equal(m->n_entries, 1);
        assert_string_equal(m->entries[0].name, "a.raw");
        assert_null(manifest_find(m, "BEST-BEFORE-2030-01-02"));
        assert_int_equal(m->n_best_before, 2);
        assert_int_equal(m->best_before[0], 1893542400); /* 2030-01-02T00:00:00Z */
        assert_int_equal(m->best_before[1], 1893369600); /* 2029-12-31T00:00:00Z */

        unsetenv("SYSTEMD_SYSUPDATE_VERIFY_FRESHNESS");
        assert_int_equal(manifest_check_fresh(m, 1893369600 - 1), 0);
        assert_int_equal(manifest_check_fresh(m, 1893369600 + 1), -ESTALE); /* the earlier marker */
        setenv("SYSTEMD_SYSUPDATE_VERIFY_FRESHNESS", "0", 1);
        assert_int_equal(manifest_check_fresh(m, 1893542400 + 1), 0);
        setenv("SYSTEMD_SYSUPDATE_VERIFY_FRESHNESS", "1", 1);
        assert_int_equal(manifest_check_fresh(m, 1893542400 + 1), -ESTALE);
        unsetenv("SYSTEMD_SYSUPDATE_VERIFY_FRESHNESS");
        manifest_free(m);

        /* the writer's marker entry is what the parser takes as a marker */
        struct manifest_entry marker;
        assert_int_equal(manifest_best_before_entry("2030-01-02", &marker), 0);
        assert_string_equal(marker.name, "BEST-BEFORE-2030-01-02");
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_int_equal(manifest_write(f, &marker, 1), 0);
        fclose(f);
        assert_string_equal(buf, EMPTY "  BEST-BEFORE-2030-01-02\n");
        free(buf);
        free(marker.name);
        assert_int_equal(manifest_best_before_entry("2030-1-2", &marker), -EINVAL);
        assert_int_equal(manifest_best_before_entry("2030-01-02 ", &marker), -EINVAL);
        assert_int_equal(manifest_best_before_entry("2023-02-29", &marker), -EINVAL);
        assert_int_equal(manifest_best_before_entry("2030-13-01", &marker), -EINVAL);
        assert_int_equal(manifest_best_before_entry("2030-04-31", &marker), -EINVAL);
        time_t t;
        assert_int_equal(manifest_parse_date("2000-02-29", &t), 0); /* divisible by 400: leap */
        assert_int_equal(t, 951782400);
        assert_int_equal(manifest_parse_date("1900-02-29", &t), -EINVAL);

        m = expect_accept(EMPTY "  BEST-BEFORE-2024-02-29\n");
        assert_int_equal(m->n_best_before, 1);
        assert_int_equal(m->best_before[0], 1709164800);
        manifest_free(m);
}

static void test_write_roundtrip(void **state) {
        (void) state;
        struct manifest_entry e[3] = {
                { .name = (char *) "appliance_2.efi" },
                { .name = (char *) "appliance_10.efi" },
                { .name = (char *) "SHA-like name" },
        };
        for (int i = 0; i < 3; i++)
                memset(e[i].sha256, 0x11 * (i + 1), 32);
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(manifest_write(f, e, 3), 0);
        fclose(f);
        assert_string_equal(buf, "3333333333333333333333333333333333333333333333333333333333333333  SHA-like name\n"
                                 "2222222222222222222222222222222222222222222222222222222222222222  appliance_10.efi\n"
                                 "1111111111111111111111111111111111111111111111111111111111111111  appliance_2.efi\n");
        struct manifest *m = expect_accept(buf);
        assert_int_equal(m->n_entries, 3);
        assert_memory_equal(manifest_find(m, "appliance_2.efi")->sha256, e[0].sha256, 32);
        manifest_free(m);
        free(buf);

        /* names the parser would refuse are not written */
        struct manifest_entry bad[2] = { { .name = (char *) "ok" }, { .name = (char *) "new\nline" } };
        f = open_memstream(&buf, &size);
        assert_int_equal(manifest_write(f, bad, 2), -EINVAL);
        fclose(f);
        free(buf);
        struct manifest_entry dup[2] = { { .name = (char *) "x" }, { .name = (char *) "x" } };
        f = open_memstream(&buf, &size);
        assert_int_equal(manifest_write(f, dup, 2), -EINVAL);
        fclose(f);
        free(buf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accept_both_separators),
                cmocka_unit_test(test_reject_hash_and_separator),
                cmocka_unit_test(test_reject_structure),
                cmocka_unit_test(test_reject_names),
                cmocka_unit_test(test_reject_sizes),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_best_before),
                cmocka_unit_test(test_write_roundtrip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
