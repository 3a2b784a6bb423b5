/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/partition.h"
#include "base/util.h"
#include "loop4k.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LINUX_GENERIC "0fc63daf-8483-4772-8e79-3d69d8477de4"

static char image[] = "/tmp/test-partition-XXXXXX";

static int make_image(void **state) {
        (void) state;
        int fd = mkstemp(image);
        if (fd < 0 || ftruncate(fd, 8 * 1024 * 1024) < 0)
                return -1;
        close(fd);
        _cleanup_free_ char *cmd = strprintf(
                "printf 'label: gpt\\n"
                "size=1MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\\n"
                "size=2MiB, type=" LINUX_GENERIC ", name=store_1, attrs=GUID:60\\n"
                "size=3MiB, type=" LINUX_GENERIC ", name=_empty\\n' | sfdisk -q %s >/dev/null 2>&1",
                image);
        return system(cmd) == 0 ? 0 : -1;
}

static int remove_image(void **state) {
        (void) state;
        unlink(image);
        return 0;
}

static void test_read(void **state) {
        (void) state;
        struct partition_table *t = NULL;
        assert_int_equal(partition_table_read(image, &t), 0);
        assert_false(t->is_block);
        assert_int_equal(t->n_partitions, 3);
        assert_string_equal(t->partitions[0].label, "esp");
        assert_string_equal(t->partitions[1].label, "store_1");
        assert_int_equal(t->partitions[1].partno, 1);
        assert_int_equal(t->partitions[1].size, 2 * 1024 * 1024);
        assert_int_equal(t->partitions[2].start, t->partitions[1].start + 2 * 1024 * 1024);
        assert_true(t->partitions[1].flags & (UINT64_C(1) << 60));
        assert_int_equal(t->partitions[2].flags, 0);
        assert_null(t->partitions[1].node);
        uint8_t lg[16];
        assert_int_equal(uuid_parse(LINUX_GENERIC, lg), 0);
        assert_memory_equal(t->partitions[2].type, lg, 16);
        assert_ptr_equal(partition_table_find(t, 2), &t->partitions[2]);
        assert_null(partition_table_find(t, 7));
        partition_table_free(t);
}

static void test_commit(void **state) {
        (void) state;
        struct partition_table *t = NULL;
        assert_int_equal(partition_table_read(image, &t), 0);

        struct partition_change c = { .label = "store_2", .set_uuid = true, .set_flags = true,
                                      .flags = UINT64_C(1) << 60 };
        assert_int_equal(uuid_parse("11112222-3333-4444-5555-666677778888", c.uuid), 0);
        assert_int_equal(partition_commit(image, &t->partitions[2], &c, true), 0);

        /* A second commit against the stale view must notice that the slot is gone. */
        assert_int_equal(partition_commit(image, &t->partitions[2], &c, true), -EBUSY);

        struct partition_table *u = NULL;
        assert_int_equal(partition_table_read(image, &u), 0);
        assert_string_equal(u->partitions[2].label, "store_2");
        assert_memory_equal(u->partitions[2].uuid, c.uuid, 16);
        assert_int_equal(u->partitions[2].flags, UINT64_C(1) << 60);
        assert_string_equal(u->partitions[1].label, "store_1");
        assert_int_equal(u->partitions[2].start, t->partitions[2].start);

        /* Label only: UUID and flags stay. */
        struct partition_change back = { .label = "_empty" };
        assert_int_equal(partition_commit(image, &u->partitions[2], &back, false), 0);
        partition_table_free(u);
        assert_int_equal(partition_table_read(image, &u), 0);
        assert_string_equal(u->partitions[2].label, "_empty");
        assert_memory_equal(u->partitions[2].uuid, c.uuid, 16);

        struct partition_change bad = { .label = "a_label_that_is_far_too_long_for_gpt_entries" };
        assert_int_equal(partition_commit(image, &u->partitions[2], &bad, false), -EINVAL);
        partition_table_free(u);
        partition_table_free(t);
}

static void test_not_gpt(void **state) {
        (void) state;
        char path[] = "/tmp/test-partition-raw-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1024 * 1024), 0);
        close(fd);
        struct partition_table *t = NULL;
        assert_int_equal(partition_table_read(path, &t), -EMEDIUMTYPE);
        unlink(path);
        assert_int_equal(partition_table_read("/nonexistent/disk.raw", &t), -ENOENT);
        assert_null(t);
}

static void test_label_valid(void **state) {
        (void) state;
        assert_true(partition_label_is_valid("store_2"));
        assert_true(partition_label_is_valid(""));
        assert_true(partition_label_is_valid("123456789012345678901234567890123456"));
        assert_false(partition_label_is_valid("1234567890123456789012345678901234567"));
        assert_true(partition_label_is_valid("gr\xc3\xbc\xc3\x9f"));
        assert_false(partition_label_is_valid("bad\x01"));
        assert_false(partition_label_is_valid("\xc0\xaf"));   /* overlong '/' */
        assert_false(partition_label_is_valid("\xed\xa0\x80")); /* surrogate */
        /* 18 astral characters are 36 UTF-16 units, 19 are 38 */
        char buf[128] = "";
        for (int i = 0; i < 18; i++)
                strcat(buf, "\xf0\x9f\x98\x80");
        assert_true(partition_label_is_valid(buf));
        strcat(buf, "\xf0\x9f\x98\x80");
        assert_false(partition_label_is_valid(buf));
}

static void test_backing_disk(void **state) {
        (void) state;
        char *d = NULL;
        /* /proc is not on a block device */
        assert_int_equal(partition_find_backing_disk("/proc", &d), -ENOTBLK);
        assert_null(d);
}

static void write_text(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = strprintf("%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void mkdirs(const char *fmt, const char *root) {
        _cleanup_free_ char *p = strprintf(fmt, root);
        assert_int_equal(mkdir_all(p, 0755), 0);
}

/* A dm-verity root (253:0) over two partitions of vda: the disk of its slaves; a device-mapper
 * device over two disks, or over nothing, is refused. A fake sysfs, a block device node for stat. */
static void test_backing_disk_dm(void **state) {
        (void) state;
        char root[] = "/tmp/abota-sysfs-XXXXXX";
        assert_non_null(mkdtemp(root));
        mkdirs("%s/devices/vda/vda2", root);
        mkdirs("%s/devices/vda/vda3", root);
        mkdirs("%s/devices/vdb/vdb1", root);
        mkdirs("%s/devices/dm-0/slaves", root);
        mkdirs("%s/dev/block", root);
        _cleanup_free_ char *vda = strprintf("%s/devices/vda", root), *vdb = strprintf("%s/devices/vdb", root);
        write_text(vda, "uevent", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
        write_text(vdb, "uevent", "MAJOR=254\nMINOR=16\nDEVNAME=vdb\nDEVTYPE=disk\n");
        write_text(vda, "vda2/partition", "2\n");
        write_text(vda, "vda3/partition", "3\n");
        write_text(vdb, "vdb1/partition", "1\n");
        _cleanup_free_ char *l1 = strprintf("%s/devices/dm-0/slaves/vda2", root),
                            *l2 = strprintf("%s/devices/dm-0/slaves/vda3", root),
                            *dm = strprintf("%s/dev/block/253:0", root), *node = strprintf("%s/root", root);
        assert_int_equal(symlink("../../vda/vda2", l1), 0);
        assert_int_equal(symlink("../../vda/vda3", l2), 0);
        assert_int_equal(symlink("../../devices/dm-0", dm), 0);
        assert_int_equal(mknod(node, S_IFBLK | 0600, makedev(253, 0)), 0);

        char *d = NULL;
        assert_int_equal(partition_find_backing_disk_in(root, node, &d), 0);
        assert_string_equal(d, "/dev/vda");
        free(d);
        d = NULL;

        /* one slave on another disk */
        _cleanup_free_ char *l3 = strprintf("%s/devices/dm-0/slaves/vdb1", root);
        assert_int_equal(symlink("../../vdb/vdb1", l3), 0);
        assert_int_equal(partition_find_backing_disk_in(root, node, &d), -ENOTBLK);
        assert_null(d);

        /* no slaves at all (a whole disk, or dm without them) */
        assert_int_equal(unlink(l1), 0);
        assert_int_equal(unlink(l2), 0);
        assert_int_equal(unlink(l3), 0);
        assert_int_equal(partition_find_backing_disk_in(root, node, &d), -ENOTBLK);
        assert_null(d);

        _cleanup_free_ char *cmd = strprintf("rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
}

/* An image file whose GPT was made with 4096-byte sectors (on a loop device): read through the
 * one GPT reader, which finds the sector size, and a slot relabelled through libfdisk told that
 * sector size. libfdisk alone sees only the protective MBR of such a file. */
static void test_4096_image(void **state) {
        (void) state;
        char path[] = "/tmp/test-partition-4k-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 16 * 1024 * 1024), 0);
        close(fd);
        int rc = sfdisk_4k_image(path, "label: gpt\\nsize=2MiB, name=esp, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\\n"
                                       "size=3MiB, type=" LINUX_GENERIC ", name=_empty\\n", NULL, NULL);
        if (rc == -ENODEV) {
                unlink(path);
                skip(); /* no loop devices here (not root?) */
        }
        assert_int_equal(rc, 0);

        struct partition_table *t = NULL;
        assert_int_equal(partition_table_read(path, &t), 0);
        assert_int_equal(t->sector_size, 4096);
        assert_int_equal(t->n_partitions, 2);
        assert_string_equal(t->partitions[1].label, "_empty");
        assert_int_equal(t->partitions[1].start, 3 * 1024 * 1024);
        assert_int_equal(t->partitions[1].size, 3 * 1024 * 1024);
        struct partition_change c = { .label = "store_2" };
        assert_int_equal(partition_commit(path, &t->partitions[1], &c, true), 0);
        partition_table_free(t);
        assert_int_equal(partition_table_read(path, &t), 0);
        assert_string_equal(t->partitions[1].label, "store_2");
        assert_int_equal(t->partitions[1].start, 3 * 1024 * 1024);
        partition_table_free(t);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read),
                cmocka_unit_test(test_commit),
                cmocka_unit_test(test_not_gpt),
                cmocka_unit_test(test_label_valid),
                cmocka_unit_test(test_backing_disk),
                cmocka_unit_test(test_backing_disk_dm),
                cmocka_unit_test(test_4096_image),
        };
        return cmocka_run_group_tests(tests, make_image, remove_image);
}
