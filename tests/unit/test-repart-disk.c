/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-disk.h"
#include "image/repart-gpt.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SIZE (UINT64_C(16) * 1024 * 1024)

static int scratch(char path[static 64]) {
        snprintf(path, 64, "/tmp/test-repart-disk-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) SIZE), 0);
        return fd;
}

static void done(int fd, const char *path) {
        close(fd);
        unlink(path);
}

/* A GPT of n linux-generic partitions of 1 MiB each, from 1 MiB on. */
static void write_gpt(int fd, const char *path, uint32_t ss, unsigned n, bool keep_mbr) {
        static const uint8_t guid[16] = { 1, 2, 3 };
        struct gpt_table g;
        assert_int_equal(repart_gpt_new(ss, SIZE / ss, guid, &g), 0);
        for (unsigned i = 0; i < n; i++) {
                assert_int_equal(uuid_parse("0fc63daf-8483-4772-8e79-3d69d8477de4", g.entries[i].type), 0);
                g.entries[i].uuid[0] = (uint8_t) (i + 1);
                g.entries[i].first_lba = (i + 1) * (1048576 / ss);
                g.entries[i].last_lba = (i + 2) * (1048576 / ss) - 1;
        }
        assert_int_equal(repart_gpt_write(fd, path, &g, keep_mbr), 0);
        gpt_table_done(&g);
}

static void put_mbr(int fd, const uint8_t types[4]) {
        uint8_t s[512] = {};
        for (unsigned i = 0; i < 4; i++) {
                s[446 + 16 * i + 4] = types[i];
                s[446 + 16 * i + 8] = types[i] ? 1 : 0;
        }
        s[510] = 0x55;
        s[511] = 0xAA;
        assert_int_equal(pwrite(fd, s, 512, 0), 512);
}

static void zero_sector(int fd, uint64_t lba) {
        uint8_t s[512] = {};
        assert_int_equal(pwrite(fd, s, 512, (off_t) (lba * 512)), 512);
}

static struct repart_disk_probe probe(int fd, const char *path, uint32_t ss) {
        struct repart_disk_probe p;
        assert_int_equal(repart_disk_probe(fd, path, ss, SIZE, &p), 0);
        return p;
}

/* The result of --empty=MODE: 1 = a new GPT, 0 = the existing one, else the refusal. */
static int decide(const struct repart_disk_probe *p, enum repart_empty mode) {
        bool fresh;
        int r = repart_disk_check_empty(p, "disk", mode, &fresh);
        return r < 0 ? r : fresh;
}

static void test_blank(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(path);
        struct repart_disk_probe p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_BLANK);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), -EMEDIUMTYPE);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), 1);
        assert_int_equal(decide(&p, REPART_EMPTY_REQUIRE), 1);
        assert_int_equal(decide(&p, REPART_EMPTY_FORCE), 1);
        done(fd, path);
}

static void test_gpt(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(path);
        write_gpt(fd, path, 512, 2, false);
        struct repart_disk_probe p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_GPT);
        assert_true(p.primary_valid && p.backup_valid);
        assert_false(p.backup_differs || p.hybrid);
        assert_int_equal(p.overlap[0], 0);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), 0);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), 0);
        assert_int_equal(decide(&p, REPART_EMPTY_REQUIRE), -ENOTEMPTY);
        assert_int_equal(decide(&p, REPART_EMPTY_FORCE), 1);

        /* primary gone: the backup counts, behind the protective MBR only */
        zero_sector(fd, 1);
        p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_GPT);
        assert_true(!p.primary_valid && p.backup_valid);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), 0);
        zero_sector(fd, 0);
        p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_GPT_NO_PMBR);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), -EMEDIUMTYPE);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), -EMEDIUMTYPE);
        assert_int_equal(decide(&p, REPART_EMPTY_REQUIRE), -ENOTEMPTY);
        done(fd, path);
}

static void test_dos(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(path);
        /* a GPT disk relabelled dos: the old backup GPT is still at the end */
        write_gpt(fd, path, 512, 2, false);
        zero_sector(fd, 1);
        put_mbr(fd, (const uint8_t[4]) { 0x83, 0x0C });
        struct repart_disk_probe p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_DOS);
        assert_int_equal(p.mbr_partitions, 2);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), -EMEDIUMTYPE);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), -EMEDIUMTYPE);
        assert_int_equal(decide(&p, REPART_EMPTY_REQUIRE), -ENOTEMPTY);
        assert_int_equal(decide(&p, REPART_EMPTY_FORCE), 1);
        assert_int_equal(decide(&p, REPART_EMPTY_CREATE), 1);

        /* an MBR signature without partitions is a dos label too (libfdisk's view) */
        put_mbr(fd, (const uint8_t[4]) { 0 });
        p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_DOS);
        assert_int_equal(p.mbr_partitions, 0);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), -EMEDIUMTYPE);
        done(fd, path);
}

static void test_hybrid_kept(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(path);
        write_gpt(fd, path, 512, 2, false);
        put_mbr(fd, (const uint8_t[4]) { 0xEE, 0x83 });
        struct repart_disk_probe p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_GPT);
        assert_true(p.hybrid);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), 0);

        /* the writer leaves a hybrid MBR as it is, as libfdisk does */
        uint8_t before[512], after[512];
        assert_int_equal(pread(fd, before, 512, 0), 512);
        write_gpt(fd, path, 512, 3, true);
        assert_int_equal(pread(fd, after, 512, 0), 512);
        assert_memory_equal(before, after, 512);
        done(fd, path);
}

static void test_overlap_and_disagreement(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(path);
        /* backup of a one-partition table, primary of a two-partition one: a write cut in between */
        write_gpt(fd, path, 512, 1, false);
        uint8_t tail[33 * 512];
        assert_int_equal(pread(fd, tail, sizeof(tail), (off_t) (SIZE - sizeof(tail))), (ssize_t) sizeof(tail));
        write_gpt(fd, path, 512, 2, false);
        assert_int_equal(pwrite(fd, tail, sizeof(tail), (off_t) (SIZE - sizeof(tail))), (ssize_t) sizeof(tail));
        struct repart_disk_probe p = probe(fd, path, 512);
        assert_true(p.primary_valid && p.backup_valid && p.backup_differs);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), 0);

        struct gpt_table g;
        assert_int_equal(repart_gpt_read(fd, path, 512, SIZE, &g), 0);
        g.entries[0].last_lba += 1; /* into partition 2 */
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        gpt_table_done(&g);
        p = probe(fd, path, 512);
        assert_int_equal(p.overlap[0], 1);
        assert_int_equal(p.overlap[1], 2);
        assert_int_equal(decide(&p, REPART_EMPTY_REFUSE), -EBADMSG);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), -EBADMSG);
        assert_int_equal(decide(&p, REPART_EMPTY_FORCE), 1);
        done(fd, path);
}

static void test_sector_size(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(path);
        write_gpt(fd, path, 4096, 2, false);
        struct repart_disk_probe p = probe(fd, path, 4096);
        assert_int_equal(p.label, REPART_DISK_GPT);
        assert_true(p.primary_valid && p.backup_valid);
        /* read with 512-byte sectors, as an image file is: a protective MBR without a GPT */
        p = probe(fd, path, 512);
        assert_int_equal(p.label, REPART_DISK_PMBR_ONLY);
        assert_true(p.gpt_4k);
        assert_int_equal(decide(&p, REPART_EMPTY_ALLOW), -EMEDIUMTYPE);
        assert_int_equal(decide(&p, REPART_EMPTY_REQUIRE), -ENOTEMPTY);
        done(fd, path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blank),
                cmocka_unit_test(test_gpt),
                cmocka_unit_test(test_dos),
                cmocka_unit_test(test_hybrid_kept),
                cmocka_unit_test(test_overlap_and_disagreement),
                cmocka_unit_test(test_sector_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
