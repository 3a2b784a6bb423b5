/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/partition.h"
#include "base/parttype.h"
#include "sysupdate/pattern.h"
#include "agent/resource.h"
#include "agent/resource-kinds.h"
#include "sysupdate/transfer.h"
#include "tmpdir.h"
#include "base/util.h"
#include "agent/vacuum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>


static void touch(const char *name) {
        _cleanup_free_ char *p = path_join(tmpdir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
}

static bool exists(const char *name) {
        _cleanup_free_ char *p = path_join(tmpdir, name);
        return access(p, F_OK) == 0;
}

static void transfer_init(struct transfer *t, enum resource_type type, const char *path, const char *pattern) {
        memset(t, 0, sizeof(*t));
        t->id = (char *) "test";
        t->file = (char *) "test.transfer";
        t->no_auto = t->growfs = t->read_only = -1;
        t->remove_temporary = true;
        t->source.type = RESOURCE_REGULAR_FILE;
        t->target.type = type;
        t->target.path = (char *) path;
        t->target.patterns = calloc(1, sizeof(struct pattern *));
        const char *reason;
        assert_int_equal(pattern_compile(pattern, &t->target.patterns[0], &reason), 0);
        t->target.n_patterns = 1;
        t->instances_max = type == RESOURCE_PARTITION ? UINT64_MAX : 3;
        assert_int_equal(partition_type_from_string("linux-generic", t->partition_type), 0);
}

static void transfer_done(struct transfer *t) {
        pattern_free(t->target.patterns[0]);
        free(t->target.patterns);
}

static void test_files(void **state) {
        (void) state;
        touch("app_1.efi");
        touch("app_2.efi");
        touch("app_3.efi");
        touch("app_4.efi");
        touch(".#sysupdateapp_5.efi0011223344556677");

        struct transfer t;
        transfer_init(&t, RESOURCE_REGULAR_FILE, tmpdir, "app_@v.efi");
        struct resource_context ctx = { .verify = -1 };
        struct resource *r = NULL;
        assert_int_equal(resource_load(&t, true, &ctx, &r), 0);
        assert_int_equal(r->n_instances, 4);

        /* InstancesMax=3, room for one: two stay; 1 is protected, so 2 and 3 go */
        char *protect[] = { (char *) "1", NULL };
        struct vacuum_request q = { .space = 1, .protected = protect, .sync = true };
        size_t removed = 0;
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_int_equal(removed, 2);
        assert_int_equal(r->n_instances, 2);
        assert_true(exists("app_1.efi") && exists("app_4.efi"));
        assert_false(exists("app_2.efi") || exists("app_3.efi"));
        assert_false(exists(".#sysupdateapp_5.efi0011223344556677"));
        assert_string_equal(r->instances[0]->metadata.version, "4");
        assert_string_equal(r->instances[1]->metadata.version, "1");

        /* everything left is protected: nothing more is removed, and that is not an error */
        char *all[] = { (char *) "1", (char *) "4", NULL };
        q = (struct vacuum_request) { .space = 1, .instances_max = 2, .protected = all };
        removed = 0;
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_int_equal(removed, 0);

        /* no room can be made while one instance must remain */
        q = (struct vacuum_request) { .space = 2, .instances_max = 2 };
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), -ENOSPC);

        /* wiping (disabled transfers) removes all that is not protected */
        q = (struct vacuum_request) { .space = VACUUM_WIPE, .protected = protect };
        removed = 0;
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_int_equal(removed, 1);
        assert_true(exists("app_1.efi"));
        assert_false(exists("app_4.efi"));
        resource_free(r);
        transfer_done(&t);
}

/* Removing an instance of a pattern with a directory part also removes the directories that
 * part created, once empty, up to (not including) the target directory. */
static void test_pattern_directories(void **state) {
        (void) state;
        _cleanup_free_ char *target = path_join(tmpdir, "esp");
        _cleanup_free_ char *d1 = path_join(tmpdir, "esp/uki_1.efi.extra.d/deep");
        _cleanup_free_ char *d2 = path_join(tmpdir, "esp/uki_2.efi.extra.d/deep");
        _cleanup_free_ char *d3 = path_join(tmpdir, "esp/uki_3.efi.extra.d/deep");
        assert_int_equal(mkdir_all(d1, 0755), 0);
        assert_int_equal(mkdir_all(d2, 0755), 0);
        assert_int_equal(mkdir_all(d3, 0755), 0);
        touch("esp/uki_1.efi.extra.d/deep/extra.addon.efi");
        touch("esp/uki_2.efi.extra.d/deep/extra.addon.efi");
        touch("esp/uki_2.efi.extra.d/other.addon.efi"); /* not ours: keeps its directory */
        touch("esp/uki_3.efi.extra.d/deep/extra.addon.efi");

        struct transfer t;
        transfer_init(&t, RESOURCE_REGULAR_FILE, target, "uki_@v.efi.extra.d/deep/extra.addon.efi");
        struct resource_context ctx = { .verify = -1 };
        struct resource *r = NULL;
        assert_int_equal(resource_load(&t, true, &ctx, &r), 0);
        assert_int_equal(r->n_instances, 3);

        struct vacuum_request q = { .space = 1, .instances_max = 2, .sync = true };
        size_t removed = 0;
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_int_equal(removed, 2);
        assert_false(exists("esp/uki_1.efi.extra.d"));
        assert_false(exists("esp/uki_2.efi.extra.d/deep"));
        assert_true(exists("esp/uki_2.efi.extra.d/other.addon.efi"));
        assert_true(exists("esp/uki_3.efi.extra.d/deep/extra.addon.efi"));

        q = (struct vacuum_request) { .space = VACUUM_WIPE };
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_false(exists("esp/uki_3.efi.extra.d"));
        assert_true(exists("esp"));
        resource_free(r);
        transfer_done(&t);
}

static void make_disk(const char *path, const char *labels) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 8 * 1024 * 1024), 0);
        close(fd);
        _cleanup_free_ char *cmd = strprintf("printf 'label: gpt\\n%s' | sfdisk -q %s >/dev/null 2>&1", labels, path);
        assert_int_equal(system(cmd), 0);
}

#define SLOT(name) "size=1MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=" name "\\n"

static void test_partitions(void **state) {
        (void) state;
        _cleanup_free_ char *disk = path_join(tmpdir, "disk.raw");
        make_disk(disk, SLOT("store_1") SLOT("store_2") SLOT("store_3") SLOT("_empty"));

        struct transfer t;
        transfer_init(&t, RESOURCE_PARTITION, disk, "store_@v");
        struct resource_context ctx = { .verify = -1 };
        struct resource *r = NULL;
        assert_int_equal(resource_load(&t, true, &ctx, &r), 0);
        assert_int_equal(r->n_instances, 3);
        assert_int_equal(r->n_empty, 1);

        /* a free slot exists: nothing is relabelled */
        struct vacuum_request q = { .space = 1, .sync = true };
        size_t removed = 0;
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_int_equal(removed, 0);

        /* room for two: the oldest unprotected one is relabelled _empty */
        char *protect[] = { (char *) "1", NULL };
        q = (struct vacuum_request) { .space = 2, .protected = protect, .sync = true };
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), 0);
        assert_int_equal(removed, 1);
        assert_int_equal(r->n_empty, 2);
        struct partition_table *pt = NULL;
        assert_int_equal(partition_table_read(disk, &pt), 0);
        assert_string_equal(pt->partitions[0].label, "store_1");
        assert_string_equal(pt->partitions[1].label, "_empty");
        assert_string_equal(pt->partitions[2].label, "store_3");
        partition_table_free(pt);
        resource_free(r);

        /* fewer than two slots of the type */
        make_disk(disk, SLOT("store_1"));
        assert_int_equal(resource_load(&t, true, &ctx, &r), 0);
        q = (struct vacuum_request) { .space = 1 };
        assert_int_equal(vacuum_transfer(&t, r, &q, &removed), -ENOSPC);
        resource_free(r);
        transfer_done(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_pattern_directories),
                cmocka_unit_test(test_partitions),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
