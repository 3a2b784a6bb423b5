/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/util.h"
#include "image/repart-vfat.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Cluster counts of what mkfs.vfat -F 32 makes: 10 MiB is under the FAT32 minimum (what
 * systemd-repart 252 formats), 40 MiB above it. */
static void test_clusters(void **state) {
        (void) state;
        static const struct {
                const char *size;
                bool fat32;
        } cases[] = { { "10M", false }, { "40M", true } };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char path[] = "/tmp/test-repart-vfat-XXXXXX";
                int fd = mkstemp(path);
                assert_true(fd >= 0);
                _cleanup_free_ char *cmd = strprintf("truncate -s %s %s && mkfs.vfat -F 32 %s >/dev/null 2>&1",
                                                     cases[i].size, path, path);
                assert_int_equal(system(cmd), 0);
                uint8_t boot[512];
                assert_int_equal(pread(fd, boot, 512, 0), 512);
                uint64_t n = repart_vfat_clusters(boot);
                assert_true(n > 1000);
                assert_int_equal(n >= REPART_FAT32_MIN_CLUSTERS, cases[i].fat32);
                if (!cases[i].fat32)
                        assert_int_equal(n, 20132); /* fsck.fat -v says the same */
                close(fd);
                unlink(path);
        }
        uint8_t zero[512] = {};
        assert_int_equal(repart_vfat_clusters(zero), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_clusters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
