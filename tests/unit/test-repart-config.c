/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/parttype.h"
#include "image/repart-config.h"
#include "base/specifier.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char dir[] = "/tmp/test-repart-config-XXXXXX";

static void put(const char *name, const char *text) {
        _cleanup_free_ char *p = path_join(dir, name);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int load(struct repart_definitions *d) {
        struct specifier_context *spec = NULL;
        char *dirs[] = { dir, NULL };
        assert_int_equal(specifier_context_new(NULL, &spec), 0);
        int r = repart_definitions_load("/srv/root", dirs, spec, d);
        specifier_context_free(spec);
        return r;
}

static void clean(void) {
        _cleanup_free_ char *cmd = strprintf("rm -rf %s/*", dir);
        assert_int_equal(system(cmd), 0);
}

static void test_keys(void **state) {
        (void) state;
        clean();
        put("20-store.conf", "[Partition]\nType=linux-generic\nLabel=store_1\nFormat=squashfs\n"
                             "CopyFiles=/usr:/\nCopyFiles=/etc/os-release\nSizeMinBytes=2G\nSizeMaxBytes=2G\n"
                             "SplitName=store\nMinimize=guess\n");
        put("10-esp.conf", "[Partition]\nType=esp\nCopyFiles=/boot:/\nMakeDirectories=/EFI/Linux /loader\n"
                           "Priority=2\nWeight=10\nPaddingWeight=5\nPaddingMinBytes=1M\nPaddingMaxBytes=2M\n");
        put("30-root.conf", "[Partition]\nType=root\nReadOnly=yes\nNoAuto=1\nUUID=null\nFlags=0x4\n");
        put("40-swap.conf", "[Partition]\nType=swap\nGrowFileSystem=yes\n");
        put("50-var.conf", "[Partition]\nType=var\nFlags=0x0800000000000001\nGrowFileSystem=no\n");
        struct repart_definitions d;
        assert_int_equal(load(&d), 0);
        assert_int_equal(d.n, 5);

        const struct repart_definition *esp = &d.items[0];
        assert_string_equal(esp->file_name, "10-esp.conf");
        assert_int_equal(esp->format, REPART_FORMAT_VFAT); /* implied for the ESP by CopyFiles= */
        assert_int_equal(esp->priority, 2);
        assert_int_equal(esp->weight, 10);
        assert_int_equal(esp->padding_weight, 5);
        assert_int_equal(esp->padding_min, 1024 * 1024);
        assert_int_equal(esp->padding_max, 2 * 1024 * 1024);
        assert_string_equal(esp->copy_files[0].source, "/srv/root/boot");
        assert_string_equal(esp->copy_files[0].target, "/");
        assert_string_equal(esp->make_directories[1], "/loader");
        assert_null(esp->label);
        assert_int_equal(esp->size_min, REPART_SIZE_UNSET);

        const struct repart_definition *store = &d.items[1];
        assert_string_equal(store->label, "store_1");
        assert_int_equal(store->format, REPART_FORMAT_SQUASHFS);
        assert_int_equal(store->minimize, REPART_MINIMIZE_BEST); /* read-only: one exact size */
        assert_int_equal(store->n_copy_files, 2);
        assert_string_equal(store->copy_files[1].source, "/srv/root/etc/os-release");
        assert_string_equal(store->copy_files[1].target, "/etc/os-release");
        assert_int_equal(store->size_min, UINT64_C(2) << 30);
        assert_string_equal(store->split_name, "store");
        assert_int_equal(repart_definition_flags(store), 0);

        const struct repart_definition *root = &d.items[2];
        assert_true(root->has_uuid);
        static const uint8_t zero[16];
        assert_memory_equal(root->uuid, zero, 16);
        /* read-only, no-auto, Flags= bit 2 kept; no grow-fs because read-only */
        assert_int_equal(repart_definition_flags(root), GPT_FLAG_READ_ONLY | GPT_FLAG_NO_AUTO | 4);

        const struct repart_definition *swap = &d.items[3];
        assert_int_equal(swap->format, REPART_FORMAT_SWAP);
        assert_int_equal(repart_definition_flags(swap), 0); /* growfs does not apply to swap */

        assert_int_equal(repart_definition_flags(&d.items[4]), 1);
        repart_definitions_done(&d);
}

static void test_default_growfs(void **state) {
        (void) state;
        clean();
        put("10-root.conf", "[Partition]\nType=root\n");
        struct repart_definitions d;
        assert_int_equal(load(&d), 0);
        assert_int_equal(repart_definition_flags(&d.items[0]), GPT_FLAG_GROWFS);
        uint8_t t[16];
        assert_int_equal(partition_type_from_string("root", t), 0);
        assert_memory_equal(d.items[0].type, t, 16);
        repart_definitions_done(&d);
}

static void test_errors(void **state) {
        (void) state;
        struct repart_definitions d;
        static const char *const bad[] = {
                "[Partition]\nType=nonsense\n",
                "[Partition]\nType=linux-generic\nWeight=1000001\n",
                "[Partition]\nType=linux-generic\nSizeMinBytes=2G\nSizeMaxBytes=1G\n",
                "[Partition]\nType=linux-generic\nFormat=btrfs\n",
                "[Partition]\nType=linux-generic\nFormat=squashfs\n",
                "[Partition]\nType=linux-generic\nCopyBlocks=/x\nFormat=ext4\n",
                "[Partition]\nType=linux-generic\nCopyFiles=relative/path\n",
                "[Partition]\nType=linux-generic\nLabel=1234567890123456789012345678901234567\n",
                "[Partition]\nType=linux-generic\nMinimize=perhaps\n",
                "[Partition]\nType=linux-generic\nUUID=not-a-uuid\n",
                "[Partition]\nType=linux-generic\nReadOnly=maybe\n",
                "[Partition]\nType=linux-generic\nMinimize=best\n",
                "[Partition]\nType=linux-generic\nEncrypt=maybe\n",
                "[Partition]\nType=linux-generic\nEncrypt=tpm3\n",
                "[Partition]\nType=linux-generic\nVerity=maybe\n",
                "[Partition]\nType=linux-generic\nVerity=data\n",
                "[Partition]\nType=usr-verity\nVerity=hash\nVerityMatchKey=u\nFormat=ext4\n",
                "[Partition]\nType=usr-verity\nVerity=hash\nVerityMatchKey=u\nCopyBlocks=/etc/hostname\n",
                "[Partition]\nType=usr\nVerity=data\nVerityMatchKey=u\nEncrypt=key-file\n",
                "[Partition]\nType=usr\nVerity=data\nVerityMatchKey=a/b\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                clean();
                put("10-x.conf", bad[i]);
                assert_int_equal(load(&d), -EINVAL);
        }
        clean();
        put("10-x.conf", "[Partition]\nType=usr-verity-sig\nVerity=signature\nVerityMatchKey=u\n");
        assert_int_equal(load(&d), -EOPNOTSUPP);
        clean();
        put("10-x.conf", "[Partition]\nType=usr\nVerity=data\nVerityMatchKey=usr\nCopyBlocks=/etc/hostname\n");
        put("20-y.conf", "[Partition]\nType=usr-verity\nVerity=hash\nVerityMatchKey=usr\n");
        assert_int_equal(load(&d), 0);
        assert_int_equal(d.items[0].verity, REPART_VERITY_DATA);
        assert_int_equal(d.items[1].verity, REPART_VERITY_HASH);
        assert_string_equal(d.items[1].verity_match_key, "usr");
        /* as systemd-repart 252: a verity hash type is read-only unless ReadOnly=no */
        assert_int_equal(repart_definition_flags(&d.items[0]), GPT_FLAG_GROWFS);
        assert_int_equal(repart_definition_flags(&d.items[1]), GPT_FLAG_READ_ONLY);
        d.items[1].read_only = 0;
        assert_int_equal(repart_definition_flags(&d.items[1]), 0);
        repart_definitions_done(&d);
        clean();
        put("10-x.conf", "[Partition]\nType=linux-generic\nEncrypt=off\nVerity=off\nFactoryReset=no\n");
        assert_int_equal(load(&d), 0);
        assert_int_equal(d.items[0].encrypt, REPART_ENCRYPT_OFF);
        repart_definitions_done(&d);
        static const struct {
                const char *value;
                enum repart_encrypt e;
        } enc[] = {
                { "key-file", REPART_ENCRYPT_KEY_FILE }, { "tpm2", REPART_ENCRYPT_TPM2 },
                { "key-file+tpm2", REPART_ENCRYPT_KEY_FILE_TPM2 }, { "yes", REPART_ENCRYPT_KEY_FILE },
                { "no", REPART_ENCRYPT_OFF },
        };
        for (size_t i = 0; i < ELEMENTSOF(enc); i++) {
                clean();
                char *text = strprintf("[Partition]\nType=home\nEncrypt=%s\n", enc[i].value);
                put("10-x.conf", text);
                free(text);
                assert_int_equal(load(&d), 0);
                assert_int_equal(d.items[0].encrypt, enc[i].e);
                assert_string_equal(repart_encrypt_to_string(enc[i].e),
                                    streq(enc[i].value, "yes") ? "key-file" : streq(enc[i].value, "no") ? "off" : enc[i].value);
                repart_definitions_done(&d);
        }
        clean();
        assert_int_equal(load(&d), -ENOENT);
}

/* As systemd-repart 252: "Type= not defined, refusing." A partition without a type used to
 * become linux-generic silently, and one in a misspelt section lost all its settings. */
static void test_type_required(void **state) {
        (void) state;
        struct repart_definitions d;
        static const char *const bad[] = {
                "[Partition]\nLabel=_empty\nSizeMinBytes=16M\n",
                "[Partiton]\nType=linux-generic\nLabel=_empty\n",
                "[partition]\nType=linux-generic\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                clean();
                put("10-x.conf", bad[i]);
                assert_int_equal(load(&d), -EINVAL);
        }
        /* a drop-in may supply the type */
        clean();
        put("10-x.conf", "[Partition]\nLabel=x\n");
        _cleanup_free_ char *dropins = path_join(dir, "10-x.conf.d");
        assert_int_equal(mkdir(dropins, 0755), 0);
        put("10-x.conf.d/type.conf", "[Partition]\nType=swap\n");
        assert_int_equal(load(&d), 0);
        repart_definitions_done(&d);
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        clean();
        return rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_default_growfs),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_type_required),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
