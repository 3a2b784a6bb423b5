/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/gpt.h"
#include "base/util.h"
#include "image/repart-gpt.h"
#include "loop4k.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define MIB (UINT64_C(1024) * 1024)

static void test_label(void **state) {
        (void) state;
        uint16_t n[GPT_LABEL_MAX];
        assert_int_equal(gpt_label_encode("store_1", n), 0);
        assert_int_equal(n[0], 's');
        assert_int_equal(n[7], 0);
        _cleanup_free_ char *s = gpt_label_decode(n);
        assert_string_equal(s, "store_1");

        /* non-ASCII and a character outside the BMP (a surrogate pair) round-trip */
        assert_int_equal(gpt_label_encode("d\xc3\xa4ta-\xf0\x9f\x98\x80", n), 0);
        assert_int_equal(n[1], 0xE4);
        assert_int_equal(n[5], 0xD83D);
        assert_int_equal(n[6], 0xDE00);
        _cleanup_free_ char *t = gpt_label_decode(n);
        assert_string_equal(t, "d\xc3\xa4ta-\xf0\x9f\x98\x80");

        assert_int_equal(gpt_label_encode("123456789012345678901234567890123456", n), 0);
        assert_int_equal(gpt_label_encode("1234567890123456789012345678901234567", n), -EINVAL);
        assert_int_equal(gpt_label_encode("bad\xff", n), -EINVAL);
        assert_int_equal(gpt_label_encode("tab\there", n), -EINVAL);
        assert_int_equal(gpt_label_encode("\xc0\xaf", n), -EINVAL); /* overlong */
}

static int scratch(uint64_t size, char path[static 64]) {
        snprintf(path, 64, "/tmp/test-gpt-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        return fd;
}

/* A table with two partitions, written by the image builder's writer. */
static void make_table(uint32_t ss, uint64_t size, struct gpt_table *g) {
        uint8_t guid[16] = { 0x12, 0x34 };
        assert_int_equal(repart_gpt_new(ss, size / ss, guid, g), 0);
        for (unsigned i = 0; i < 2; i++) {
                struct gpt_entry *e = &g->entries[i];
                assert_int_equal(uuid_parse("0fc63daf-8483-4772-8e79-3d69d8477de4", e->type), 0);
                e->uuid[0] = (uint8_t) (i + 1);
                e->first_lba = g->first_usable + i * (MIB / ss);
                e->last_lba = e->first_lba + MIB / ss - 1;
                assert_int_equal(gpt_label_encode(i ? "two" : "one", e->name), 0);
        }
}

static void assert_same_entries(const struct gpt_table *a, const struct gpt_table *b) {
        assert_int_equal(a->n_entries, b->n_entries);
        assert_memory_equal(a->entries, b->entries, sizeof(struct gpt_entry) * a->n_entries);
        assert_memory_equal(a->disk_guid, b->disk_guid, 16);
}

static void test_read_512_and_4096(void **state) {
        (void) state;
        static const uint32_t sizes[] = { 512, 4096 };
        for (size_t k = 0; k < 2; k++) {
                char path[64];
                int fd = scratch(16 * MIB, path);
                struct gpt_table g, r;
                make_table(sizes[k], 16 * MIB, &g);
                assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
                /* probed, and given */
                assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), 0);
                assert_int_equal(r.sector_size, sizes[k]);
                assert_true(r.primary_valid);
                assert_true(r.backup_valid);
                assert_int_equal(r.alternate_lba, 16 * MIB / sizes[k] - 1);
                assert_same_entries(&g, &r);
                gpt_table_done(&r);
                assert_int_equal(gpt_read(fd, sizes[k], 16 * MIB, &r), 0);
                assert_same_entries(&g, &r);
                gpt_table_done(&r);
                /* the other sector size finds nothing */
                assert_int_equal(gpt_read(fd, sizes[1 - k], 16 * MIB, &r), -EMEDIUMTYPE);
                gpt_table_done(&g);
                close(fd);
                unlink(path);
        }
}

/* The entry array is where the header says, not assumed at LBA 2. */
static void test_entries_elsewhere(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(16 * MIB, path);
        struct gpt_table g, r;
        make_table(512, 16 * MIB, &g);
        g.entries_lba = 100;
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        uint8_t zero[512] = {};
        for (unsigned lba = 2; lba < 34; lba++)
                assert_int_equal(pwrite(fd, zero, 512, lba * 512), 512);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), 0);
        assert_true(r.primary_valid);
        assert_int_equal(r.entries_lba, 100);
        assert_same_entries(&g, &r);
        gpt_table_done(&r);
        gpt_table_done(&g);
        close(fd);
        unlink(path);
}

static int read_loop(int fd, void *userdata) {
        return gpt_read(fd, 4096, 16 * MIB, userdata);
}

/* A table libfdisk made (sfdisk on a loop device with 4096-byte sectors) reads the same from the
 * image file (probed) and from the device. */
static void test_read_sfdisk_4096(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(16 * MIB, path);
        struct gpt_table d = {}, r = {};
        int rc = sfdisk_4k_image(path, "label: gpt\\nsize=2MiB, name=esp, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\\n"
                                       "size=3MiB, name=root\\n", read_loop, &d);
        if (rc == -ENODEV) {
                unlink(path);
                skip(); /* no loop devices here (not root?) */
        }
        assert_int_equal(rc, 0);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), 0);
        assert_int_equal(r.sector_size, 4096);
        assert_true(r.backup_valid);
        assert_same_entries(&d, &r);
        _cleanup_free_ char *l0 = gpt_label_decode(r.entries[0].name), *l1 = gpt_label_decode(r.entries[1].name);
        assert_string_equal(l0, "esp");
        assert_string_equal(l1, "root");
        assert_int_equal((r.entries[1].last_lba - r.entries[1].first_lba + 1) * 4096, 3 * MIB);
        assert_false(gpt_entry_is_used(&r.entries[2]));
        gpt_table_done(&r);
        gpt_table_done(&d);
        close(fd);
        unlink(path);
}

static void test_backup(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(16 * MIB, path);
        struct gpt_table g, r;
        make_table(512, 16 * MIB, &g);
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);

        /* a primary entry array that fails its CRC: the backup is used */
        assert_int_equal(pwrite(fd, "Z", 1, 2 * 512 + 200), 1);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), 0);
        assert_false(r.primary_valid);
        assert_true(r.backup_valid);
        assert_int_equal(r.entries_lba, 2);
        assert_same_entries(&g, &r);
        gpt_table_done(&r);

        /* a valid primary with a backup that disagrees: the primary, and the backup is flagged */
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        struct gpt_table other;
        make_table(512, 16 * MIB, &other);
        other.entries[1].flags = 1;
        _cleanup_free_ uint8_t *primary = malloc(34 * 512);
        assert_int_equal(pread(fd, primary, 34 * 512, 0), 34 * 512);
        assert_int_equal(repart_gpt_write(fd, path, &other, false), 0);
        assert_int_equal(pwrite(fd, primary, 34 * 512, 0), 34 * 512);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), 0);
        assert_true(r.primary_valid);
        assert_false(r.backup_valid);
        assert_int_equal(r.entries[1].flags, 0);
        gpt_table_done(&r);

        /* a damaged header in both places: corrupt, not "no GPT" */
        assert_int_equal(pwrite(fd, "Z", 1, 512 + 60), 1);
        assert_int_equal(pwrite(fd, "Z", 1, 16 * MIB - 512 + 60), 1);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), -EBADMSG);
        gpt_table_done(&other);
        gpt_table_done(&g);
        close(fd);
        unlink(path);
}

static void test_bad_entries(void **state) {
        (void) state;
        char path[64];
        int fd = scratch(16 * MIB, path);
        struct gpt_table g, r;

        /* overlapping partitions */
        make_table(512, 16 * MIB, &g);
        g.entries[1].first_lba = g.entries[0].last_lba;
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), -EBADMSG);
        gpt_table_done(&g);

        /* a partition beyond the usable area */
        make_table(512, 16 * MIB, &g);
        g.entries[1].last_lba = g.last_usable + 1;
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), -EBADMSG);
        gpt_table_done(&g);

        /* out of order in the table is fine */
        make_table(512, 16 * MIB, &g);
        struct gpt_entry t = g.entries[0];
        g.entries[0] = g.entries[1];
        g.entries[1] = t;
        assert_int_equal(repart_gpt_write(fd, path, &g, false), 0);
        assert_int_equal(gpt_read(fd, 0, 16 * MIB, &r), 0);
        assert_same_entries(&g, &r);
        gpt_table_done(&r);
        gpt_table_done(&g);

        /* too small to hold a GPT at all */
        assert_int_equal(gpt_read(fd, 0, 2048, &r), -EMEDIUMTYPE);
        close(fd);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_label),
                cmocka_unit_test(test_read_512_and_4096),
                cmocka_unit_test(test_entries_elsewhere),
                cmocka_unit_test(test_read_sfdisk_4096),
                cmocka_unit_test(test_backup),
                cmocka_unit_test(test_bad_entries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
