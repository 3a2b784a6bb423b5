/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image/repart-gpt.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int scratch(uint64_t size, char path[static 64]) {
        snprintf(path, 64, "/tmp/test-repart-gpt-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        return fd;
}

static void test_write_read(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(64 * 1024 * 1024, path);
        uint8_t guid[16];
        struct gpt_table g, r;

        assert_int_equal(uuid_parse("b581fef7-24ed-4f31-990b-099ec86bba03", guid), 0);
        assert_int_equal(repart_gpt_new(512, 131072, guid, &g), 0);
        assert_int_equal(g.first_usable, 2048);
        assert_int_equal(g.last_usable, 131072 - 34);
        assert_int_equal(repart_gpt_free_slot(&g), 0);
        assert_int_equal(uuid_parse("0fc63daf-8483-4772-8e79-3d69d8477de4", g.entries[0].type), 0);
        assert_int_equal(uuid_parse("be6595b1-70b2-4c1e-a455-2693510a426f", g.entries[0].uuid), 0);
        g.entries[0].first_lba = 2048;
        g.entries[0].last_lba = 4095;
        g.entries[0].flags = UINT64_C(1) << 60;
        assert_int_equal(gpt_label_encode("store_1", g.entries[0].name), 0);
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        assert_int_equal(repart_gpt_free_slot(&g), 1);

        /* on-disk details of spec 1.6: protective MBR, mixed-endian GUIDs */
        uint8_t s[512];
        assert_int_equal(pread(fd, s, 512, 0), 512);
        assert_int_equal(s[450], 0xEE);
        assert_int_equal(s[510], 0x55);
        assert_int_equal(s[511], 0xAA);
        assert_int_equal(s[454], 1);
        assert_int_equal(s[458] | s[459] << 8 | s[460] << 16, 131071);
        assert_int_equal(pread(fd, s, 512, 1024), 512);
        static const uint8_t type_le[4] = { 0xaf, 0x3d, 0xc6, 0x0f };
        assert_memory_equal(s, type_le, 4);

        assert_int_equal(repart_gpt_read(fd, path, 512, UINT64_C(131072) * 512, &r), 0);
        assert_memory_equal(r.disk_guid, guid, 16);
        assert_int_equal(r.n_entries, 128);
        assert_memory_equal(&r.entries[0], &g.entries[0], sizeof(g.entries[0]));
        gpt_table_done(&r);

        /* the disk grows: the table is still found, and the usable area follows the new end */
        assert_int_equal(ftruncate(fd, 128 * 1024 * 1024), 0);
        assert_int_equal(repart_gpt_read(fd, path, 512, UINT64_C(262144) * 512, &r), 0);
        assert_int_equal(r.last_usable, 262144 - 34);
        gpt_table_done(&r);

        /* the disk is smaller than its table says (a truncated image): refused */
        assert_int_equal(repart_gpt_read(fd, path, 512, UINT64_C(131064) * 512, &r), -EBADMSG);

        /* a damaged primary header falls back to the backup */
        assert_int_equal(ftruncate(fd, 64 * 1024 * 1024), 0);
        assert_int_equal(pwrite(fd, "X", 1, 512 + 100), 1);
        assert_int_equal(pwrite(fd, "junk", 4, 512 + 16), 4);
        assert_int_equal(repart_gpt_read(fd, path, 512, UINT64_C(131072) * 512, &r), 0);
        assert_memory_equal(&r.entries[0], &g.entries[0], sizeof(g.entries[0]));
        gpt_table_done(&r);

        /* both gone: no GPT */
        uint8_t zero[512] = {};
        assert_int_equal(pwrite(fd, zero, 512, 512), 512);
        assert_int_equal(pwrite(fd, zero, 512, (131072 - 1) * 512), 512);
        assert_int_equal(repart_gpt_read(fd, path, 512, UINT64_C(131072) * 512, &r), -EMEDIUMTYPE);

        gpt_table_done(&g);
        close(fd);
        unlink(path);
}

static void test_corrupt_entries(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(8 * 1024 * 1024, path);
        uint8_t guid[16] = { 1 };
        struct gpt_table g, r;
        assert_int_equal(repart_gpt_new(512, 16384, guid, &g), 0);
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        /* flip a byte in both entry arrays: the CRC catches it */
        assert_int_equal(pwrite(fd, "Z", 1, 2 * 512 + 5), 1);
        assert_int_equal(pwrite(fd, "Z", 1, (16384 - 33) * 512 + 5), 1);
        assert_int_equal(repart_gpt_read(fd, path, 512, UINT64_C(16384) * 512, &r), -EBADMSG);
        gpt_table_done(&g);
        close(fd);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_read),
                cmocka_unit_test(test_corrupt_entries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
